"""Executors: where the (stage, sample) computations run. The runner is the same for all.

The executors themselves are imported when one is made: loading a config imports this
package for its settings, and the command line's light commands (``review``) need no more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from merr_factory.executors.settings import ExecutorSettings

if TYPE_CHECKING:
    from merr_factory.executors.base import Executor
    from merr_factory.run.store import Store


def make_executor(settings: ExecutorSettings, stages: dict, store: Store) -> Executor:
    """The executor the config asks for."""
    if settings.kind == "ray":
        from merr_factory.executors.ray import RayExecutor  # ray is an optional extra

        return RayExecutor(settings, stages, store)
    from merr_factory.executors.local import LocalExecutor

    return LocalExecutor(settings, stages, store)


__all__ = ["ExecutorSettings", "make_executor"]
