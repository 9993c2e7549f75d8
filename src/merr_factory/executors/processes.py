"""A pool of worker processes that knows which task each worker holds.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one worker dies: every task
in flight fails with ``BrokenProcessPool``, the pool cannot be used again, and nothing says
which task the dead worker held. Here each worker has its own pipe and holds up to ``slots``
tasks at a time (each on a thread of its own, sharing the worker's state), so a worker's death
fails only the tasks it held (with ``WorkerDied`` naming the signal and how many it held) and
a fresh worker takes its place; the others never notice. A task submitted ``alone`` waits for
a worker that holds nothing and has it to itself: a death then names the one task to blame.

Workers end with their parent: on Linux the kernel kills them when the parent dies
(``PR_SET_PDEATHSIG``), and everywhere an idle worker leaves when its pipe to the parent
closes. SIGTERM and SIGINT are the parent's business: a job stopped by SLURM or systemd (or
Ctrl-C) gets them in every process, and the parent stops the run, then the workers. A pool
shut down with ``abort`` tells each worker to leave at once: it drops what it holds and runs
multiprocessing's exit clean-up first (named semaphores a library made there, such as
tqdm's lock, are unlinked instead of reported as leaked); a worker that does not leave
within ``QUIT_SECONDS`` is killed.

A worker's log records travel on its own pipe too: a queue shared by all workers would be
left locked by a worker killed while writing to it, and silence the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import logging.handlers
import multiprocessing.util
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import connection
from multiprocessing.context import BaseContext
from typing import Any

from merr_factory.faults import WorkerDied, describe_exit

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STARTS_BEFORE_GIVING_UP = 3  # workers in a row that die before they are ready
JOIN_SECONDS = 10.0
QUIT_SECONDS = 2.0
_QUIT = "quit"  # to a worker: leave now, dropping the jobs in hand


class PoolBroken(RuntimeError):
    """Workers cannot even start (their set-up fails or kills them): tasks fail with this."""


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    alone: bool = False  # only in a worker that holds nothing else
    future: Future[Any] = field(default_factory=Future)
    started: bool = False
    number: int = field(default_factory=lambda: next(_JOB_NUMBERS))


_JOB_NUMBERS = itertools.count()


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process of the pool's context
    conn: connection.Connection
    ready: bool = False
    closed: bool = False  # its pipe is closed: it is dying, its sentinel will say how
    jobs: dict[int, _Job] = field(default_factory=dict)  # by job number

    def takes(self, job: _Job, slots: int) -> bool:
        """Whether ``job`` may go to this worker now."""
        if self.closed or not self.process.is_alive():
            return False
        if any(held.alone for held in self.jobs.values()):
            return False
        return not self.jobs if job.alone else len(self.jobs) < slots


class WorkerPool:
    """``size`` worker processes, each running ``initializer(*initargs)`` once, then up to
    ``slots`` jobs at a time.

    ``submit`` returns a future; the future fails with ``WorkerDied`` when the worker holding
    it dies. One manager thread starts the workers (so the kernel's parent-death signal is
    tied to a thread that lives as long as the pool), hands out jobs and settles futures.
    Records of the logger ``forward_logs`` (and below) in a worker are handled by the
    same-named logger here.
    """

    def __init__(
        self,
        context: BaseContext,
        size: int,
        initializer: Callable[..., None],
        initargs: Sequence[Any] = (),
        forward_logs: str | None = None,
        slots: int = 1,
    ) -> None:
        self._context = context
        self._size = size
        self._slots = slots
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._forward_logs = forward_logs
        # Reentrant: settling a future runs its callbacks, which may submit again.
        self._lock = threading.RLock()
        self._pending: deque[_Job] = deque()
        self._workers: list[_Worker] = []
        self._stopping = False
        self._abort = False
        self._broken: str | None = None
        self._failed_starts = 0
        self._wake_reader, self._wake_writer = context.Pipe(duplex=False)
        self._manager = threading.Thread(target=self._manage, name="worker-pool", daemon=True)
        self._manager.start()

    def submit(self, fn: Callable[..., Any], *args: Any, alone: bool = False) -> Future[Any]:
        """Run ``fn(*args)`` in a worker; ``alone``: in one that holds no other job."""
        job = _Job(fn, args, alone)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the worker pool is shut down")
            if self._broken is not None:
                job.future.set_exception(PoolBroken(self._broken))
                return job.future
            self._pending.append(job)
        self._wake()
        return job.future

    def pids(self) -> list[int]:
        """The worker processes alive now (for tests and diagnostics)."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.is_alive()]

    def shutdown(self, wait: bool = True, abort: bool = False) -> None:
        """Stop taking jobs; with ``abort`` end the workers at once (jobs in flight and
        pending fail), else let them finish what they hold and pending jobs first."""
        with self._lock:
            self._stopping = True
            self._abort = abort
        self._wake()
        if wait:
            self._manager.join()

    # --- the manager thread -----------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_writer.send_bytes(b"")

    def _manage(self) -> None:
        try:
            with self._lock:
                while len(self._workers) < self._size:
                    self._workers.append(self._start_worker())
            while self._step():
                pass
        except BaseException as error:  # never leave futures waiting forever
            self._fail_everything(PoolBroken(f"the worker pool failed: {error!r}"))
            raise
        finally:
            self._stop_workers()

    def _step(self) -> bool:
        """Hand out jobs, wait for anything to happen, handle it; False when done."""
        with self._lock:
            if self._abort:
                self._fail_everything(PoolBroken("the run stopped"))
                return False
            self._dispatch()
            busy = any(worker.jobs for worker in self._workers)
            if self._stopping and not busy and not self._pending:
                return False
            workers = list(self._workers)
        waits: list[Any] = [self._wake_reader]
        waits += [worker.conn for worker in workers if not worker.closed]
        waits += [worker.process.sentinel for worker in workers]
        ready = set(connection.wait(waits))
        if self._wake_reader in ready:
            while self._wake_reader.poll():
                self._wake_reader.recv_bytes()
        for worker in workers:
            if worker.conn in ready:
                self._receive(worker)
        for worker in workers:
            if worker.process.sentinel in ready:
                self._bury(worker)
        return True

    def _dispatch(self) -> None:
        """Pending jobs in order, each to the least busy worker that takes it. A job that
        must be alone and finds no idle worker holds the ones behind it back: the workers
        empty and one soon takes it (otherwise a steady stream could starve it)."""
        while self._pending:
            job = self._pending[0]
            takers = [worker for worker in self._workers if worker.takes(job, self._slots)]
            if not takers:
                return
            self._pending.popleft()
            if not job.started and not job.future.set_running_or_notify_cancel():
                continue  # cancelled while pending
            job.started = True
            worker = min(takers, key=lambda candidate: len(candidate.jobs))
            worker.jobs[job.number] = job
            try:
                worker.conn.send((job.number, job.fn, job.args))
            except OSError:  # the worker is gone: another one takes the job
                del worker.jobs[job.number]
                self._pending.appendleft(job)
                return  # its sentinel fires next; the job waits for a fresh worker
            except Exception as error:  # unpicklable arguments: that job fails alone
                del worker.jobs[job.number]
                job.future.set_exception(error)

    def _receive(self, worker: _Worker) -> bool:
        """Handle one message of ``worker``; False when its pipe is closed."""
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.closed = True
            return False  # the worker is gone: its sentinel says how
        kind = message[0]
        if kind == "log":
            record: logging.LogRecord = message[1]
            logging.getLogger(record.name).handle(record)
        elif kind == "ready":
            worker.ready = True
            self._failed_starts = 0
        elif kind == "setup-failed":
            with self._lock:
                self._break(f"worker processes cannot start: {message[1]}")
        elif kind == "done":
            with self._lock:
                job = worker.jobs.pop(message[1], None)
            if job is not None:
                ok, value = message[2], message[3]
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)
        return True

    def _bury(self, worker: _Worker) -> None:
        """A worker ended: drain what it sent, fail the jobs it held, start a fresh one."""
        while _poll(worker.conn) and self._receive(worker):
            pass
        worker.process.join()
        how = describe_exit(worker.process.exitcode)
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            jobs, worker.jobs = list(worker.jobs.values()), {}
            if not worker.ready:
                self._failed_starts += 1
            if self._failed_starts >= STARTS_BEFORE_GIVING_UP and self._broken is None:
                self._break(f"worker processes die as they start (the last {how})")
            elif not self._stopping and self._broken is None:
                self._workers.append(self._start_worker())
        worker.conn.close()
        if jobs:
            log.debug("worker %s %s while holding %d tasks", worker.process.pid, how, len(jobs))
        for job in jobs:
            job.future.set_exception(WorkerDied(how, held=len(jobs)))

    def _break(self, reason: str) -> None:
        self._broken = reason
        log.error("%s", reason)
        self._fail_everything(PoolBroken(reason))

    def _fail_everything(self, error: Exception) -> None:
        jobs = list(self._pending) + [job for w in self._workers for job in w.jobs.values()]
        self._pending.clear()
        for worker in self._workers:
            worker.jobs = {}
        for job in jobs:
            if not job.future.done():
                with contextlib.suppress(Exception):
                    job.future.set_exception(error)

    def _start_worker(self) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_serve,
            args=(
                theirs,
                os.getpid(),
                self._initializer,
                self._initargs,
                self._forward_logs,
                self._slots,
            ),
            name="merr-worker",
        )
        process.start()
        theirs.close()
        return _Worker(process=process, conn=ours)

    def _stop_workers(self) -> None:
        with self._lock:
            workers = list(self._workers)
            abort = self._abort
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(_QUIT if abort else None)  # None: "no more jobs", it leaves
        for worker in workers:
            worker.process.join(QUIT_SECONDS if abort else JOIN_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._wake_reader.close()
        self._wake_writer.close()


def _poll(conn: connection.Connection) -> bool:
    try:
        return conn.poll()
    except (EOFError, OSError):
        return False


# --- inside a worker process --------------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux), and leave at once if
    the parent died before that was in place. Elsewhere the closed pipe ends idle workers."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


class _Sender:
    """Sends on a worker's pipe from any of its threads (log records come from several)."""

    def __init__(self, conn: connection.Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            self.conn.send(message)

    def put_nowait(self, record: logging.LogRecord) -> None:  # a queue for QueueHandler
        with contextlib.suppress(OSError):
            self.send(("log", record))


def _serve(
    conn: connection.Connection,
    parent_pid: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    forward_logs: str | None,
    slots: int = 1,
) -> None:
    """A worker's life: set up once, then compute up to ``slots`` jobs at a time, each on a
    thread of its own, until told to stop (it finishes what it holds) or the parent is gone."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sender = _Sender(conn)
    if forward_logs is not None:
        logger = logging.getLogger(forward_logs)
        logger.handlers[:] = [logging.handlers.QueueHandler(sender)]  # type: ignore[arg-type]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    try:
        initializer(*initargs)
    except BaseException as error:
        sender.send(("setup-failed", f"{type(error).__name__}: {error}"))
        return
    sender.send(("ready",))
    threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="compute")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(1)  # the parent is gone: no one is left to take the results
        if message is None:
            threads.shutdown(wait=True)
            return
        if message == _QUIT:
            _leave_now()
        threads.submit(_run_job, sender, *message)


def _leave_now() -> None:
    """End this worker without waiting for its jobs, after what a normal exit runs first:
    multiprocessing's finalizers, which unlink the named semaphores made here."""
    multiprocessing.util._exit_function()  # type: ignore[attr-defined]
    os._exit(0)


def _run_job(sender: _Sender, number: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """One job on a worker's thread; its result or exception goes back on the pipe."""
    try:
        reply = ("done", number, True, fn(*args))
    except BaseException as error:
        reply = ("done", number, False, error)
    try:
        sender.send(reply)
    except (EOFError, OSError):
        return
    except Exception as error:  # a result or an error that cannot be pickled
        sender.send(("done", number, False, RuntimeError(f"{type(error).__name__}: {error}")))
