"""Executors: where the (stage, sample) computations run. The runner is the same for all."""

from __future__ import annotations

from merr_factory.executors.base import Executor
from merr_factory.executors.local import LocalExecutor
from merr_factory.executors.settings import ExecutorSettings
from merr_factory.run.store import Store


def make_executor(settings: ExecutorSettings, stages: dict, store: Store) -> Executor:
    """The executor the config asks for."""
    if settings.kind == "ray":
        from merr_factory.executors.ray import RayExecutor  # ray is an optional extra

        return RayExecutor(settings, stages, store)
    return LocalExecutor(settings, stages, store)


__all__ = ["Executor", "ExecutorSettings", "make_executor"]
