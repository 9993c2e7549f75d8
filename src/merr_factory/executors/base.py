"""The executor interface: submit a compute task, get a future of its result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future

from merr_factory.run.compute import ComputeResult, ComputeTask


class Executor(ABC):
    """Runs compute tasks. ``lane`` and ``capacity`` tell the runner how much to keep in flight."""

    @abstractmethod
    def submit(self, task: ComputeTask) -> Future[ComputeResult]:
        """Start computing ``task``; the future's result is the stored record."""

    @abstractmethod
    def lane(self, stage: str) -> str:
        """Stages on one lane share its capacity (e.g. all CPU-bound stages share the workers)."""

    @abstractmethod
    def capacity(self, lane: str) -> int:
        """How many tasks of ``lane`` may be in flight at once."""

    def shutdown(self, abort: bool = False) -> None:  # noqa: B027 - may hold nothing
        """Release workers (called once at the end of a run). ``abort``: the run is stopping
        on an error; end work in flight rather than wait for it (it is redone next run)."""


def pass_on(done: Future[ComputeResult], outcome: Future[ComputeResult]) -> None:
    """Give ``outcome`` what ``done`` ended with: its error, or its result."""
    error = done.exception()
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(done.result())
