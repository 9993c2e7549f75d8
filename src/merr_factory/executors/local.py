"""The local executor: worker processes for CPU-bound stages, threads for I/O-bound ones.

With ``workers: 1`` CPU-bound stages run on a thread of the main process (no extra process,
easy to debug). With more, each of ``workers`` processes builds the stages once and loads each
stage's models the first time it computes a sample of that stage. Either way a worker holds
up to ``clips_per_worker`` samples at once, each on a thread of its own that shares the
worker's stages (``StageHost`` runs a stage that is not thread-safe one sample at a time).
Stages whose ``concurrency()`` is above 1 (LLM calls over HTTP) run on their own thread pool
of that size in the main process, so they overlap with the CPU-bound work instead of waiting
for it.

A worker process that dies (a segfault, SIGKILL, the OOM killer) costs only the samples it
held: a fresh worker takes its place and tries each once more, in a worker of its own. A
death counts against a sample only when it was alone in its worker (otherwise which one was
to blame is unknown); a sample that kills its worker twice so fails with ``WorkerDied``
naming the signal (the runner stores the record).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
from concurrent.futures import Future, ThreadPoolExecutor

from merr_factory.executors.base import Executor, pass_on
from merr_factory.executors.processes import WorkerPool
from merr_factory.executors.settings import ExecutorSettings
from merr_factory.faults import WorkerDied
from merr_factory.logs import PACKAGE_LOGGER
from merr_factory.run.compute import ComputeResult, ComputeTask, StageHost, StageSpec
from merr_factory.run.store import Store
from merr_factory.stages.base import Stage
from merr_factory.threads import set_thread_budget

log = logging.getLogger(__name__)

CPU_LANE = "cpu"
DEATHS_PER_SAMPLE = 2  # a sample whose worker dies this often fails instead of another try


class LocalExecutor(Executor):
    def __init__(self, settings: ExecutorSettings, stages: dict[str, Stage], store: Store) -> None:
        self.stages = stages
        self.store = store
        self.workers = settings.workers
        self.clips_per_worker = settings.clips_per_worker
        self.threads_per_worker = settings.threads_per_worker or max(
            1, (os.cpu_count() or 1) // settings.workers
        )
        self._hosts = {name: StageHost(stage) for name, stage in stages.items()}
        self._io_pools: dict[str, ThreadPoolExecutor] = {}
        self._cpu_thread: ThreadPoolExecutor | None = None
        self._processes: WorkerPool | None = None
        if self.workers == 1:
            set_thread_budget(self.threads_per_worker)
            self._cpu_thread = ThreadPoolExecutor(
                max_workers=self.clips_per_worker, thread_name_prefix="compute"
            )
        else:
            self._processes = self._start_processes()

    def _start_processes(self) -> WorkerPool:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        specs = {
            name: StageSpec.of(stage)
            for name, stage in self.stages.items()
            if self.lane(name) == CPU_LANE
        }
        return WorkerPool(
            context,
            self.workers,
            _init_worker,
            (pickle.dumps(specs), self.store, self.threads_per_worker),
            forward_logs=PACKAGE_LOGGER,
            slots=self.clips_per_worker,
        )

    def lane(self, stage: str) -> str:
        return f"io:{stage}" if self.stages[stage].concurrency() > 1 else CPU_LANE

    def capacity(self, lane: str) -> int:
        if lane == CPU_LANE:
            return self.workers * self.clips_per_worker
        return self.stages[lane.removeprefix("io:")].concurrency()

    def submit(self, task: ComputeTask) -> Future[ComputeResult]:
        lane = self.lane(task.stage)
        if lane == CPU_LANE and self._processes is not None:
            return self._submit_to_processes(task, Future(), deaths=0)
        pool = self._cpu_thread if lane == CPU_LANE else self._io_pool(task.stage)
        assert pool is not None
        return pool.submit(self._compute_here, task)

    def _submit_to_processes(
        self, task: ComputeTask, outcome: Future[ComputeResult], deaths: int, alone: bool = False
    ) -> Future[ComputeResult]:
        """Compute ``task`` on a worker process; ``outcome`` gets its result. A worker that
        dies holding it is replaced and the task tried again in a worker of its own (``alone``),
        until it has killed ``DEATHS_PER_SAMPLE`` workers it had to itself."""
        assert self._processes is not None
        attempt = self._processes.submit(_worker_compute, task, alone=alone)

        def settle(done: Future[ComputeResult]) -> None:
            error = done.exception()
            if isinstance(error, WorkerDied):
                died = deaths + 1 if error.held == 1 else deaths
                if died < DEATHS_PER_SAMPLE:
                    log.warning(
                        "%s: the worker computing %s %s%s; trying it again in a worker of its own",
                        task.source.relpath,
                        task.stage,
                        error.how,
                        "" if error.held == 1 else f" while holding {error.held} samples",
                    )
                    try:
                        self._submit_to_processes(task, outcome, died, alone=True)
                        return
                    except RuntimeError:  # shutting down: no more tries
                        pass
                outcome.set_exception(WorkerDied(f"{error.how} during {task.stage}", died))
            else:
                pass_on(done, outcome)

        attempt.add_done_callback(settle)
        return outcome

    def _io_pool(self, stage: str) -> ThreadPoolExecutor:
        if stage not in self._io_pools:
            size = self.stages[stage].concurrency()
            self._io_pools[stage] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=stage)
        return self._io_pools[stage]

    def _compute_here(self, task: ComputeTask) -> ComputeResult:
        return self._hosts[task.stage].compute(task, self.store)

    def shutdown(self, abort: bool = False) -> None:
        if self._processes is not None:
            self._processes.shutdown(wait=True, abort=abort)
        threads = [self._cpu_thread] if self._cpu_thread is not None else []
        for pool in [*threads, *self._io_pools.values()]:  # a thread cannot be ended: on
            pool.shutdown(wait=not abort, cancel_futures=True)  # abort, its sample is left


# State of a worker process: its own copies of the stages, each set up on first use.
_WORKER: dict[str, StageHost] = {}
_STORE: list[Store] = []


def _init_worker(specs: bytes, store: Store, threads: int) -> None:
    """Set thread limits first, then build the stages (whose imports read those limits)."""
    set_thread_budget(threads)
    stages: dict[str, StageSpec] = pickle.loads(specs)
    _WORKER.update({name: StageHost(spec.build()) for name, spec in stages.items()})
    _STORE.append(store)


def _worker_compute(task: ComputeTask) -> ComputeResult:
    return _WORKER[task.stage].compute(task, _STORE[0])
