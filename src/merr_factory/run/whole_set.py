"""Whole-set steps: decisions that compare samples with each other (de-duplication), taken
once over every sample's current record of one stage, then read per sample by a later stage.

A step's answer for a sample (an "entry", any JSON value) enters that sample's fingerprint
in the stage that reads it (the step's settings are that stage's settings), so a change
restales exactly the samples whose entry changed. The runner computes a step when the
reading stage is about to start (every selected sample is past the stages before it), over
the records of *all* samples of the input, not only the selected or sharded ones; samples
whose record does not exist yet are left out until a later run, which then restales only
the samples whose entry that changes. The entries are kept with a digest of the step's
identity and of the content hash of every record it read, so a run whose records are those
of the last computation reuses them without reading a record.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from merr_factory.run.records import Record


class WholeSetStep(ABC):
    """One whole-set step: its name, the stage whose records it reads, and the computation."""

    name: ClassVar[str]
    reads: ClassVar[str]
    # Bump when a code change alters the entries: stored entries are then computed again.
    version: ClassVar[str] = "1"

    def identity(self) -> dict[str, Any]:
        """What, besides the records, decides the entries: the step, its version and its
        settings (the instance's attributes, JSON values)."""
        return {"step": self.name, "version": self.version, "settings": vars(self)}

    @abstractmethod
    def compute(self, records: Mapping[str, Record]) -> dict[str, Any]:
        """Each sample's entry, from the current, kept records of ``reads`` by sample id."""
