"""What every stage is: a name, its settings, the stages it reads, and ``process(sample)``.

The runner, the store and the executors know nothing of faces or LLMs; a stage knows nothing
of where files live or whether its output is current. Adding a stage never touches the runner.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from merr_factory.faults import writing_output
from merr_factory.inputs.discovery import SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.run.records import Record
from merr_factory.run.store import Store
from merr_factory.run.whole_set import WholeSetStep
from merr_factory.stage_data import OutputT, Reason, StageOutput, read_output


class StageSettings(BaseModel):
    """Base of every stage's settings: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")

    # Settings that change how fast or where, never what is produced (batch sizes,
    # concurrency): changing them does not make stored outputs stale.
    not_in_fingerprint: ClassVar[frozenset[str]] = frozenset()

    def fingerprint_view(self) -> dict[str, Any]:
        """The settings that decide a stage's output."""
        return self.model_dump(mode="json", exclude=set(self.not_in_fingerprint))


@dataclass(frozen=True)
class RunFacts:
    """Run-wide facts a stage may need besides its own settings."""

    label_set: tuple[str, ...]
    # Where people's review decisions are (``curation/review_log.py``); None: not looked for.
    review_folder: Path | None = None


@dataclass
class SampleContext:
    """Everything a stage gets for one sample."""

    source: SampleSource
    label: LabelRow | None
    upstream: Mapping[str, Record]
    workdir_path: Path  # the sample's private folder, made on the first use of ``workdir``
    store: Store
    # This sample's entries of the whole-set steps the stage reads (``Stage.whole_set_step``).
    whole_set: Mapping[str, Any] = field(default_factory=dict)

    _inputs: dict[str, BaseModel] = field(default_factory=dict, repr=False)
    _workdir_made: bool = field(default=False, repr=False)

    @property
    def workdir(self) -> Path:
        """The folder where the stage writes this sample's files; committed with its record.
        Made when first asked for, so a stage that writes no file costs no folder."""
        if not self._workdir_made:
            with writing_output(self.workdir_path):
                self.workdir_path.mkdir(parents=True, exist_ok=True)
            self._workdir_made = True
        return self.workdir_path

    def input(self, model: type[OutputT]) -> OutputT:
        """The output of an upstream stage as its model, e.g. ``sample.input(PeakData)``
        (a stage this one requires, or theirs); validated once per sample."""
        found = self.input_or_none(model)
        if found is None:
            raise KeyError(f"no {model.stage} output upstream of this sample's stage")
        return found

    def input_or_none(self, model: type[OutputT]) -> OutputT | None:
        """As ``input``, or None when that stage is not upstream (not run, or not required)."""
        if model.stage not in self._inputs:
            found = read_output(self.upstream, model)
            if found is None:
                return None
            self._inputs[model.stage] = found
        cached = self._inputs[model.stage]
        assert isinstance(cached, model)
        return cached

    def input_file(self, model: type[StageOutput], name: str) -> Path:
        """A file that the upstream stage whose output is ``model`` wrote beside its record,
        e.g. ``sample.input_file(FacesData, FRAMES_CSV)``."""
        record = self.upstream.get(model.stage)
        if record is None:
            raise KeyError(f"no {model.stage} output upstream of this sample's stage")
        return self.store.artifact_path(record, name)

    def input_file_or_none(self, model: type[StageOutput], name: str) -> Path | None:
        """As ``input_file``, or None when that stage is not upstream or wrote no such file."""
        record = self.upstream.get(model.stage)
        if record is None or not any(artifact.path == name for artifact in record.artifacts):
            return None
        return self.store.artifact_path(record, name)


@dataclass
class StageResult:
    """What ``process`` returns: data to store, and reasons to stop the sample here, if any.

    ``metrics`` are numbers the runner adds up over the run's samples and prints in the
    summary (tokens used, seconds spent inside a model...).
    """

    data: BaseModel | dict[str, Any]
    halt: list[Reason] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    # How the data was made (what it cost), stored beside it, outside its hash.
    provenance: BaseModel | None = None

    def data_dict(self) -> dict[str, Any]:
        if isinstance(self.data, BaseModel):
            return self.data.model_dump(mode="json")
        return dict(self.data)

    def provenance_dict(self) -> dict[str, Any]:
        return self.provenance.model_dump(mode="json") if self.provenance is not None else {}


@dataclass
class Spent:
    """What a sample cost before it failed (e.g. LLM requests that got no usable reply)."""

    metrics: dict[str, float] = field(default_factory=dict)
    provenance: BaseModel | None = None


_SPENT_ATTRIBUTE = "merr_spent"


def note_spent(error: BaseException, spent: Spent) -> None:
    """Attach to a failure what the sample cost until then: the runner still counts it in
    the run's totals, and the failure record keeps it as its provenance."""
    setattr(error, _SPENT_ATTRIBUTE, spent)


def spent_by(error: BaseException) -> Spent | None:
    found = getattr(error, _SPENT_ATTRIBUTE, None)
    return found if isinstance(found, Spent) else None


SettingsT = TypeVar("SettingsT", bound=StageSettings)


class Stage(ABC, Generic[SettingsT]):
    """One step of the pipeline. Subclasses set the class attributes and ``process``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    settings_model: ClassVar[type[StageSettings]]
    # The model of what ``process`` stores (``stage_data.py``); None only for test stages.
    output_model: ClassVar[type[BaseModel] | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    # Bump when a code change alters what the stage produces: stored outputs become stale.
    version: ClassVar[str] = "1"
    # True for stages that open the input file themselves (not only upstream records):
    # a changed file then makes their output stale even when upstream data is unchanged.
    reads_media: ClassVar[bool] = False

    def __init__(self, settings: SettingsT, facts: RunFacts) -> None:
        self.settings = settings
        self.facts = facts

    def identity(self) -> dict[str, Any]:
        """What, besides the inputs, decides this stage's output."""
        return {
            "stage": self.name,
            "version": self.version,
            "settings": self.settings.fingerprint_view(),
        }

    def source_identity(self, source: SampleSource, label: LabelRow | None) -> Any:
        """The part of the raw input this stage reads directly (None: only upstream records)."""
        return source.identity() if self.reads_media else None

    def whole_set_step(self) -> WholeSetStep | None:
        """A decision over all samples (de-duplication) whose per-sample entry this stage
        reads as ``sample.whole_set[step.name]``; it enters the fingerprint (None: none)."""
        return None

    def waits_for_all(self) -> bool:
        """True when this stage reads a whole-set step (it compares samples with each other):
        its samples start only once no sample is still in an earlier stage of the run."""
        return self.whole_set_step() is not None

    def setup(self) -> None:
        """Load models and other heavy state; called once per worker before any sample."""

    def thread_safe(self) -> bool:
        """True when several samples may be in ``process`` at once in one worker, on threads
        that share this stage's objects and models (``executor.clips_per_worker``). Only a
        stage that has checked its models declares it; the worker runs the others' ``process``
        one sample at a time. A stage whose ``concurrency()`` is above 1 is thread-safe by
        that method's contract."""
        return self.concurrency() > 1

    def concurrency(self) -> int:
        """How many samples may be in ``process`` at once in one worker (threads).

        More than 1 only for stages that wait on I/O (LLM calls over HTTP); ``process``
        must then be safe to call from several threads.
        """
        return 1

    @abstractmethod
    def process(self, sample: SampleContext) -> StageResult:
        """Compute this stage for one sample. Raise on failure: the runner records it."""

    def finalize(self, records: Iterable[Record], target: Path, store: Store) -> None:
        """Optional: build outputs over the whole sample set (an export) into ``target``.

        Called after the per-sample pass with this stage's current, kept records in sample
        order (read one at a time as they are iterated: keep only what is needed of each),
        only when they (or the settings) changed since the last finalize. ``target``
        is a fresh folder that replaces the stage's whole-set output (``<output>/<stage>/``)
        when this returns.
        """

    def final_identity(self) -> dict[str, Any]:
        """What, besides its records, decides the whole-set output (``finalize``): by
        default the stage's identity. A stage whose per-sample output does not depend on
        some settings leaves them out of ``identity`` and puts them here, so changing them
        rewrites the whole-set output without recomputing every sample."""
        return self.identity()

    @classmethod
    def has_finalize(cls) -> bool:
        return cls.finalize is not Stage.finalize
