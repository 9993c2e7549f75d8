"""The local executor: worker processes for CPU-bound stages, threads for I/O-bound ones.

With ``workers: 1`` CPU-bound stages run one at a time on a thread of the main process (no
extra process, easy to debug). With more, each of ``workers`` processes builds the stages once
and loads each stage's models the first time it computes a sample of that stage. Stages whose
``concurrency()`` is above 1 (LLM calls over HTTP) run on their own thread pool of that size in
the main process, so they overlap with the CPU-bound work instead of waiting for it.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import pickle
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

from ..compute import ComputeResult, ComputeTask, StageHost, StageSpec
from ..logs import PACKAGE_LOGGER
from ..stages.base import Stage
from ..store import Store
from ..threads import set_thread_budget
from .base import Executor
from .settings import ExecutorSettings

CPU_LANE = "cpu"


class LocalExecutor(Executor):
    def __init__(self, settings: ExecutorSettings, stages: dict[str, Stage], store: Store) -> None:
        self.stages = stages
        self.store = store
        self.workers = settings.workers
        self.threads_per_worker = settings.threads_per_worker or max(
            1, (os.cpu_count() or 1) // settings.workers
        )
        self._hosts = {name: StageHost(stage) for name, stage in stages.items()}
        self._io_pools: dict[str, ThreadPoolExecutor] = {}
        self._log_listener: logging.handlers.QueueListener | None = None
        self._cpu_pool = self._make_cpu_pool()

    def _make_cpu_pool(self) -> FuturesExecutor:
        if self.workers == 1:
            set_thread_budget(self.threads_per_worker)
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="compute")
        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        queue = context.Queue()
        self._log_listener = logging.handlers.QueueListener(queue, _Forward())
        self._log_listener.start()
        specs = {
            name: StageSpec.of(stage)
            for name, stage in self.stages.items()
            if self.lane(name) == CPU_LANE
        }
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(pickle.dumps(specs), self.store, queue, self.threads_per_worker),
        )

    def lane(self, stage: str) -> str:
        return f"io:{stage}" if self.stages[stage].concurrency() > 1 else CPU_LANE

    def capacity(self, lane: str) -> int:
        if lane == CPU_LANE:
            return self.workers
        return self.stages[lane.removeprefix("io:")].concurrency()

    def submit(self, task: ComputeTask) -> Future[ComputeResult]:
        lane = self.lane(task.stage)
        if lane == CPU_LANE and self.workers > 1:
            return self._cpu_pool.submit(_worker_compute, task)
        pool = self._cpu_pool if lane == CPU_LANE else self._io_pool(task.stage)
        return pool.submit(self._compute_here, task)

    def _io_pool(self, stage: str) -> ThreadPoolExecutor:
        if stage not in self._io_pools:
            size = self.stages[stage].concurrency()
            self._io_pools[stage] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=stage)
        return self._io_pools[stage]

    def _compute_here(self, task: ComputeTask) -> ComputeResult:
        return self._hosts[task.stage].compute(task, self.store)

    def shutdown(self) -> None:
        for pool in [self._cpu_pool, *self._io_pools.values()]:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._log_listener is not None:
            self._log_listener.stop()


class _Forward(logging.Handler):
    """Hands a worker's log record to the same-named logger of the main process."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


# State of a worker process: its own copies of the stages, each set up on first use.
_WORKER: dict[str, StageHost] = {}
_STORE: list[Store] = []


def _init_worker(specs: bytes, store: Store, queue: multiprocessing.Queue, threads: int) -> None:
    """Set thread limits first, then build the stages (whose imports read those limits)."""
    set_thread_budget(threads)
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.handlers[:] = [logging.handlers.QueueHandler(queue)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    stages: dict[str, StageSpec] = pickle.loads(specs)
    _WORKER.update({name: StageHost(spec.build()) for name, spec in stages.items()})
    _STORE.append(store)


def _worker_compute(task: ComputeTask) -> ComputeResult:
    return _WORKER[task.stage].compute(task, _STORE[0])
