"""The Ray executor: the same stages on a Ray cluster, one pool of actors per stage.

Actors keep a stage's models loaded between samples; each stage's actors ask for the
resources given in ``executor.resources.<stage>`` (CPUs, GPUs) and, as their thread count,
that stage's ``concurrency()`` for I/O-bound stages, else ``executor.clips_per_worker``
(samples on threads sharing the actor's models; ``StageHost`` serialises a stage that is not
thread-safe). Actors write to the output themselves, so it must be
a place every node reaches: a shared filesystem path, or an ``output_url`` (s3://, gs://...).

An actor that dies is restarted by Ray, which tries the tasks it held once more; a sample whose
actor dies on both tries fails with ``WorkerDied`` (the runner stores the record). With
``clips_per_worker`` above 1 Ray retries every sample the actor held alike, so a sample that
shared both deaths with the one to blame fails too (the local executor isolates them).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from merr_factory.executors.base import Executor, pass_on
from merr_factory.executors.settings import ExecutorSettings, StageResources
from merr_factory.faults import WorkerDied, first_line
from merr_factory.logs import setup_console_logging
from merr_factory.optional import require
from merr_factory.run.compute import ComputeResult, ComputeTask, StageHost, StageSpec
from merr_factory.run.store import Store
from merr_factory.stages.base import Stage

log = logging.getLogger(__name__)


class StageActor:
    """Holds one stage with its models loaded; computes samples of that stage."""

    def __init__(self, spec: StageSpec, store: Store) -> None:
        setup_console_logging(False)
        self.host = StageHost(spec.build())
        self.store = store

    def compute(self, task: ComputeTask) -> ComputeResult:
        return self.host.compute(task, self.store)


class RayExecutor(Executor):
    def __init__(self, settings: ExecutorSettings, stages: dict[str, Stage], store: Store) -> None:
        self.ray = require("ray", "ray", "executor kind 'ray'")
        self.settings = settings
        self.stages = stages
        self.store = store
        self._started_ray = False
        if not self.ray.is_initialized():
            self.ray.init(address=settings.address, include_dashboard=False, log_to_driver=True)
            self._started_ray = True
        self._actors: dict[str, list[Any]] = {}
        self._turn: dict[str, int] = {}
        self._check_fits()

    def _check_fits(self) -> None:
        """Actors hold their resources for the whole run, and every stage's actors live at once
        (samples flow between stages): more than the cluster has would wait forever."""
        cluster = self.ray.cluster_resources()
        for kind, key in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
            needs = {
                name: self._resources(name).actors * getattr(self._resources(name), key)
                for name in self.stages
            }
            total, available = sum(needs.values()), cluster.get(kind, 0)
            if total > available:
                parts = ", ".join(f"{name} {need:g}" for name, need in needs.items() if need)
                raise ValueError(
                    f"ray: the stages' actors need {total:g} {kind}s ({parts}) but the cluster "
                    f"has {available:g}; lower executor.resources.<stage>.{key} (fractions are "
                    "allowed) or .actors"
                )

    def _resources(self, stage: str) -> StageResources:
        return self.settings.resources.get(stage, StageResources())

    def lane(self, stage: str) -> str:
        return stage

    def capacity(self, lane: str) -> int:
        return self._resources(lane).actors * self._threads(lane)

    def _threads(self, stage: str) -> int:
        """Samples one actor of ``stage`` computes at once."""
        io_bound = self.stages[stage].concurrency()
        return io_bound if io_bound > 1 else self.settings.clips_per_worker

    def submit(self, task: ComputeTask) -> Future[ComputeResult]:
        actors = self._pool(task.stage)
        turn = self._turn.get(task.stage, 0)
        self._turn[task.stage] = turn + 1
        attempt = actors[turn % len(actors)].compute.remote(task).future()
        outcome: Future[ComputeResult] = Future()

        def settle(done: Future[ComputeResult]) -> None:
            error = done.exception()
            if isinstance(error, self.ray.exceptions.RayActorError):
                how = f"died during {task.stage} ({first_line(error)})"
                outcome.set_exception(WorkerDied(how, attempts=2))
            else:
                pass_on(done, outcome)

        attempt.add_done_callback(settle)
        return outcome

    def _pool(self, stage: str) -> list[Any]:
        if stage not in self._actors:
            resources = self._resources(stage)
            actor_class = self.ray.remote(StageActor).options(
                num_cpus=resources.num_cpus,
                num_gpus=resources.num_gpus,
                max_concurrency=self._threads(stage),
                max_restarts=-1,  # a dead actor comes back for the samples after it
                max_task_retries=1,  # and the sample it held is tried once more
            )
            self._actors[stage] = [
                actor_class.remote(StageSpec.of(self.stages[stage]), self.store)
                for _ in range(resources.actors)
            ]
            log.debug("ray: %d actors for stage %s", resources.actors, stage)
        return self._actors[stage]

    def shutdown(self, abort: bool = False) -> None:
        for actors in self._actors.values():
            for actor in actors:
                self.ray.kill(actor)
        if self._started_ray:
            self.ray.shutdown()
