"""Deciding, per (stage, sample), whether the stored output is current.

A stored record is current when it verifies (see ``Store.load``) and its fingerprint equals
the one expected today: a digest of the stage's identity (code version, settings, backend),
the raw input it reads directly, and the content hashes of all its upstream records (the
stages it requires, and theirs, transitively: a stage may read any of them).
Keying on upstream *content* means a change upstream recomputes what follows only when it
changed what the next stage sees.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from types import MappingProxyType
from typing import Any, NamedTuple

from merr_factory.inputs.discovery import SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.run.atomic import canonical_json
from merr_factory.run.folders import Signature
from merr_factory.run.plan_memo import EXCLUDED, HALTED, KEPT, KEY_BYTES, PlanMemo
from merr_factory.run.records import Head, Record, RecordHead, digest
from merr_factory.run.resume_index import IndexedHead
from merr_factory.run.store import Store
from merr_factory.run.whole_set import WholeSetStep
from merr_factory.stages.base import Stage

log = logging.getLogger(__name__)

NO_ENTRIES: Mapping[str, Any] = MappingProxyType({})


class State(str, Enum):
    DONE = "done"  # stored and current
    FAILED = "failed"  # the last attempt failed with these inputs and settings
    STALE = "stale"  # stored, but made from other settings or inputs
    PENDING = "pending"  # never computed
    BLOCKED = "blocked"  # an upstream stage failed for this sample
    EXCLUDED = "excluded"  # an upstream stage dropped the sample (e.g. the filter)


class Verdict(NamedTuple):
    """The state of one (stage, sample), and what computing it would need (the upstream
    records it would read: ``Planner.upstream``). A named tuple: a run holds one per
    (stage, sample), a million at 100k samples."""

    state: State
    record: Head | None = None
    # The fingerprint expected today (None: an input is not current), or "" when it is the
    # stored record's own (a current record's verdict then holds no string of its own).
    fingerprint: str | None = None
    reason: str = ""
    whole_set: Mapping[str, Any] | None = None  # entries of whole-set steps the stage reads

    @property
    def ready(self) -> bool:
        """True when every input is current, so the stage can be computed now."""
        return self.fingerprint is not None

    @property
    def expected(self) -> str | None:
        """The fingerprint expected today; None when an input is not current."""
        if self.fingerprint == "" and self.record is not None:
            return self.record.fingerprint
        return self.fingerprint


class Planner:
    """Answers ``verdict(stage, sample)`` from the store, caching what it has read."""

    def __init__(
        self,
        stages: Mapping[str, Stage],
        store: Store,
        labels: Mapping[str, LabelRow],
        samples: Sequence[SampleSource] = (),
    ) -> None:
        self.stages = stages
        self.store = store
        store.index.look_again()
        self.labels = labels
        self.samples = samples  # all of the input's samples: whole-set steps read them all
        self._whole_set: dict[str, dict[str, Any]] = {}  # step name -> sample id -> entry
        self.whole_set_recomputed: set[str] = set()  # steps computed (not cached) this pass
        self._identity = {name: digest(stage.identity()) for name, stage in stages.items()}
        self._ancestors = {name: _ancestors(name, stages) for name in stages}
        self._dependents = _dependents(stages)
        # Stages whose raw input is the file's identity (the default): its text is the same
        # for all of them, so it is made once per sample.
        self._file_identity = {
            name: type(stage).source_identity is Stage.source_identity
            for name, stage in stages.items()
        }
        self._file_texts: dict[str, str] = {}
        self._fresh: dict[tuple[str, str], Head] = {}  # records stored during this pass
        self._verdicts: dict[str, dict[str, Verdict]] = {}  # sample id -> stage -> verdict
        self._settled: dict[str, bytes] = {}  # sample id -> its outcomes, from the memo
        self._memo_position: dict[str, int] = {}  # stage -> its place in those outcomes

    def identity(self, stage: str) -> str:
        """The digest of what, besides its inputs, decides a stage's output."""
        return self._identity[stage]

    def record(self, stage: str, sample_id: str) -> Head | None:
        """The head of the stored record of (stage, sample), if there is an intact one."""
        fresh = self._fresh.get((stage, sample_id))
        return fresh if fresh is not None else self.store.index.head(stage, sample_id)

    def remember(self, record: Record, stored_as: Signature | None = None) -> None:
        """Take note of a record just written: its stage's verdict for the sample now
        holds it, and the verdicts of the stages that read it are re-derived."""
        self.store.index.remember(record, stored_as)
        head = self._fresh[(record.stage, record.sample)] = RecordHead.of(record)
        known = self._verdicts.get(record.sample)
        if known:
            before = known.get(record.stage)
            for stage in self._dependents.get(record.stage, (record.stage,)):
                known.pop(stage, None)
            expected = before.expected if before is not None else None
            if before is not None and expected is not None:  # its inputs are as planned
                known[record.stage] = _verdict(head, expected, before.whole_set)

    def verdict(self, stage_name: str, source: SampleSource) -> Verdict:
        known = self._verdicts.get(source.id)
        if known is None:
            known = self._verdicts[source.id] = {}
        found = known.get(stage_name)
        if found is None:
            outcomes = self._settled.get(source.id)
            if outcomes is not None and stage_name in self._memo_position:
                found = self._from_memo(
                    stage_name, source, outcomes[self._memo_position[stage_name]]
                )
            else:
                found = self._evaluate(self.stages[stage_name], source, known)
            known[stage_name] = found
        return found

    def release(self) -> None:
        """Forget every verdict worked out so far (a whole-set output is about to read 100k
        records: the memory is better spent on them). Later questions are worked out anew."""
        self._verdicts, self._settled, self._file_texts, self._fresh = {}, {}, {}, {}
        self._memo_position = {}
        self._whole_set.clear()

    # -- the plan memo (plan_memo.py) --------------------------------------------------------
    def use_memo(self) -> bool:
        """Take the verdicts of the stages the plan memo covers from it, if it holds for
        this pass: then planning them costs one digest per sample. False (and nothing
        taken) when it does not."""
        memo = self.store.plan_memo()
        if memo is None or not set(memo.stages) <= set(self.stages):
            return False
        names, index = memo.stages, self.store.index
        if (
            memo.identities != [self._identity[name] for name in names]
            or [tuple(seal) for seal in memo.seals] != [index.seal(name) for name in names]
            or memo.samples != [source.id for source in self.samples]
        ):
            return False
        makers = [self._text_maker(self.stages[name]) for name in names]
        settled = {}
        for position, source in enumerate(self.samples):
            if _inputs_key(makers, source) != memo.key_of(position):
                return False
            settled[source.id] = memo.outcomes_of(position)
        self._settled = settled
        self._memo_position = {name: position for position, name in enumerate(names)}
        return True

    def memo_covers(self, stage_names: Iterable[str]) -> bool:
        """True when the memo in use gives the verdicts of all these stages."""
        return bool(self._settled) and all(name in self._memo_position for name in stage_names)

    def settled(self, sample_id: str) -> bytes | None:
        """The sample's outcomes (per stage: ``memo_position``) when the memo holds."""
        return self._settled.get(sample_id)

    def memo_position(self, stage: str) -> int:
        return self._memo_position[stage]

    def in_memo(self, stage: str) -> bool:
        return stage in self._memo_position

    def save_memo(self) -> bool:
        """Keep what this pass found (after the store's indexes are flushed), for the stages
        that are sealed and whose every verdict is current or excluded (and whose stages
        above are kept too)."""
        if not self.samples:
            return False
        names = [name for name in self.stages if self._memoizable(name)]
        kept = set(names)
        names = [name for name in names if set(self._ancestors[name]) <= kept]
        if not names:
            return False
        if self._settled and names == list(self._memo_position):
            return True  # the memo this pass used still holds, and covers no fewer stages
        makers = [self._text_maker(self.stages[name]) for name in names]
        keys, outcomes = bytearray(), bytearray()
        for source in self.samples:
            settled = self._settled.get(source.id)
            for name in names:
                place = self._memo_position.get(name)
                if settled is not None and place is not None:
                    outcomes.append(settled[place])
                else:
                    outcomes.append(_outcome(self.verdict(name, source)) or 0)
            keys += _inputs_key(makers, source)
        seals = [self.store.index.seal(name) for name in names]
        memo = PlanMemo(
            stages=names,
            identities=[self._identity[name] for name in names],
            seals=[list(seal) for seal in seals if seal is not None],
            samples=[source.id for source in self.samples],
            keys=bytes(keys),
            outcomes=bytes(outcomes),
        )
        self.store.save_plan_memo(memo)
        return True

    def _memoizable(self, stage: str) -> bool:
        """True when the stage is sealed and this pass found every sample's verdict of it
        current or excluded."""
        if self.store.index.seal(stage) is None:
            return False
        for source in self.samples:
            outcomes = self._settled.get(source.id)
            if outcomes is not None and stage in self._memo_position:
                continue
            known = self._verdicts.get(source.id)
            if known is None or _outcome(known.get(stage)) is None:
                return False
        return True

    def _from_memo(self, stage_name: str, source: SampleSource, code: int) -> Verdict:
        """A verdict as the memo records it (its record from the stage's sealed index)."""
        record = self.store.index.head(stage_name, source.id)
        if code == EXCLUDED:
            return Verdict(State.EXCLUDED, record=record, reason="dropped upstream")
        if record is None:  # cannot be while the seal holds; plan it the usual way
            known = self._verdicts.setdefault(source.id, {})
            return self._evaluate(self.stages[stage_name], source, known)
        return Verdict(State.DONE, record, "")

    def plan(self, stage_names: Sequence[str], sources: Iterable[SampleSource]) -> None:
        """Work out the verdicts of these stages (in pipeline order) for many samples: what
        ``verdict`` gives for each, in one tight loop (a no-op re-run over 100k samples asks
        a million verdicts). The common case, every input current and the record indexed,
        is done here, each sample's upstream lines made once; any other goes the general way.
        """
        sources = list(sources)
        stage_names = [name for name in stage_names if name not in self._memo_position]
        group: list[str] = []
        for name in stage_names:  # a whole-set step reads the verdicts of the stages before
            if group and self.stages[name].whole_set_step() is not None:
                self._plan_group(group, sources)
                group = []
            group.append(name)
        self._plan_group(group, sources)

    def _plan_group(self, stage_names: list[str], sources: list[SampleSource]) -> None:
        plans = [self._stage_plan(name) for name in stage_names]
        with _no_gc_passes():
            self._plan(plans, sources)

    def _plan(self, plans: list[tuple[Any, ...]], sources: Iterable[SampleSource]) -> None:
        verdicts, fresh, done, sha256 = self._verdicts, self._fresh, State.DONE, hashlib.sha256
        in_memo, data_hash = self._memo_position, self.store.index.data_hash
        for source in sources:
            sample_id = source.id
            known = verdicts.get(sample_id)
            if known is None:
                known = verdicts[sample_id] = {}
            outcomes = self._settled.get(sample_id)
            lines: dict[str, str] = {}  # stage -> "stage=data hash" of this sample
            for name, stage, identity, ancestors, text_of, step, entries, find_head in plans:
                if name in known:
                    continue
                for dependency in stage.requires:
                    if outcomes is not None and dependency in in_memo:  # no verdict needed
                        if outcomes[in_memo[dependency]] != KEPT:
                            break
                        continue
                    before = known.get(dependency) or self.verdict(dependency, source)
                    if before.state is not done or before.record.halt:
                        break
                else:
                    parts = [identity, text_of(source)]
                    for above in ancestors:
                        line = lines.get(above)
                        if line is None:
                            if outcomes is not None and above in in_memo:
                                line = f"{above}={data_hash(above, sample_id)}"
                            else:
                                verdict = known.get(above) or self.verdict(above, source)
                                line = f"{above}={verdict.record.data_hash}"
                            lines[above] = line
                        parts.append(line)
                    else:
                        whole_set = None
                        if step is not None:
                            entry = entries.get(sample_id)
                            whole_set = {step.name: entry}
                            parts.append(f"{step.name}:{canonical_json(entry)}")
                        expected = sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]
                        head = fresh.get((name, sample_id)) or find_head(sample_id)
                        known[name] = _verdict(head, expected, whole_set)
                        continue
                known[name] = self._evaluate(stage, source, known)

    def _stage_plan(self, name: str) -> tuple[Any, ...]:
        """What ``plan`` needs of one stage, looked up once."""
        stage = self.stages[name]
        step = stage.whole_set_step()
        entries = self.whole_set(step) if step is not None else None
        finder = self.store.index.head_finder(name)
        text_of = self._text_maker(stage)
        return (
            name,
            stage,
            self._identity[name],
            self._ancestors[name],
            text_of,
            step,
            entries,
            finder,
        )

    def _text_maker(self, stage: Stage) -> Callable[[SampleSource], str]:
        """``_source_text`` for one stage, with the stage's case decided once."""
        if not self._file_identity[stage.name]:
            return lambda source: self._source_text(stage, source)
        if not stage.reads_media:
            return lambda source: ""
        texts = self._file_texts

        def file_text(source: SampleSource) -> str:
            text = texts.get(source.id)
            if text is None:
                text = texts[source.id] = canonical_json(source.identity())
            return text

        return file_text

    def with_ancestors(self, names: Iterable[str]) -> list[str]:
        """These stages and every stage above them, in pipeline order."""
        wanted = {above for name in names for above in (name, *self._ancestors[name])}
        return [name for name in self.stages if name in wanted]

    def upstream(self, stage: str, source: SampleSource) -> dict[str, Head]:
        """The current records a ready stage reads: those of every stage above it, in the
        order its fingerprint lists them."""
        heads = {name: self.verdict(name, source).record for name in self._ancestors[stage]}
        return {name: head for name, head in heads.items() if head is not None}

    def _evaluate(self, stage: Stage, source: SampleSource, known: dict[str, Verdict]) -> Verdict:
        for dependency in stage.requires:
            before = known.get(dependency) or self.verdict(dependency, source)
            head = before.record
            if before.state is not State.DONE or head is None or head.halt:
                return self._not_ready(stage, source, dependency, before)
        # Every dependency is current and kept, so every stage above them is too (and has
        # its verdict here): the fingerprint covers every ancestor, in a fixed order.
        lines = [  # the ancestors' verdicts are known, or in the plan memo
            _line(name, known.get(name) or self.verdict(name, source))
            for name in self._ancestors[stage.name]
        ]
        whole_set = self._whole_set_entries(stage, source)
        expected = self._digest(stage, source, lines, whole_set)
        return _verdict(self.record(stage.name, source.id), expected, whole_set or None)

    def _whole_set_entries(self, stage: Stage, source: SampleSource) -> Mapping[str, Any]:
        step = stage.whole_set_step()
        if step is None:
            return NO_ENTRIES
        return {step.name: self.whole_set(step).get(source.id)}

    def whole_set(self, step: WholeSetStep) -> dict[str, Any]:
        """Every sample's entry of ``step``, from the current, kept records of the stage it
        reads, over all samples (``forget_whole_set`` to redo). Stored with a digest of
        those records' content hashes: while they are the same, the entries are reused
        without reading a record."""
        if step.name not in self._whole_set:
            heads: dict[str, str] = {}
            place = self._memo_position.get(step.reads)
            for source in self.samples:
                outcomes = self._settled.get(source.id)
                if outcomes is not None and place is not None:  # from the memo and the index
                    if outcomes[place] == KEPT:
                        heads[source.id] = self.store.index.data_hash(step.reads, source.id)
                    continue
                verdict = self.verdict(step.reads, source)
                head = verdict.record
                if verdict.state is State.DONE and head is not None and not head.halted:
                    heads[source.id] = head.data_hash
            key = _whole_set_key(step, heads)
            entries = self.store.whole_set_cache(step.name, key)
            if entries is None:
                entries = step.compute(_StoredRecords(self.store, step.reads, heads))
                self.store.save_whole_set_cache(step.name, key, entries)
                self.whole_set_recomputed.add(step.name)
                log.debug("%s: computed over %d %s records", step.name, len(heads), step.reads)
            self._whole_set[step.name] = entries
        return self._whole_set[step.name]

    def forget_whole_set(self) -> None:
        """The records whole-set steps read may have changed: compute them again when asked,
        and re-derive the verdicts that read them."""
        self._whole_set.clear()
        readers = {
            dependent
            for name, stage in self.stages.items()
            if stage.whole_set_step() is not None
            for dependent in self._dependents[name]
        }
        for known in self._verdicts.values():
            for stage in readers:
                known.pop(stage, None)

    def _not_ready(
        self, stage: Stage, source: SampleSource, dependency: str, before: Verdict
    ) -> Verdict:
        """The verdict of a stage whose input ``dependency`` is not a current, kept result."""
        record = self.record(stage.name, source.id)
        if before.state is State.DONE and before.record:  # kept out by the dependency
            reasons = "; ".join(reason.message for reason in before.record.halt)
            return Verdict(
                State.EXCLUDED, record=record, reason=f"dropped by {dependency}: {reasons}"
            )
        if before.state in (State.EXCLUDED, State.BLOCKED):
            return Verdict(before.state, record=record, reason=before.reason)
        if before.state is State.FAILED:
            return Verdict(State.BLOCKED, record=record, reason=f"{dependency} failed")
        state = State.STALE if record else State.PENDING
        return Verdict(
            state, record=record, reason=f"waits for {dependency} ({before.state.value})"
        )

    def _source_text(self, stage: Stage, source: SampleSource) -> str:
        """The canonical text of the raw input a stage reads."""
        if self._file_identity[stage.name]:
            if not stage.reads_media:
                return ""
            text = self._file_texts.get(source.id)
            if text is None:
                text = self._file_texts[source.id] = canonical_json(source.identity())
            return text
        identity = stage.source_identity(source, self.labels.get(source.id))
        return "" if identity is None else canonical_json(identity)

    def fingerprint(
        self,
        stage: Stage,
        source: SampleSource,
        upstream: Mapping[str, Record | Head],
        whole_set: Mapping[str, Any] | None = None,
    ) -> str:
        """The fingerprint of ``stage`` for ``source`` made from these upstream records
        (every ancestor, in the order ``upstream`` gives them)."""
        lines = [f"{name}={record.data_hash}" for name, record in upstream.items()]
        return self._digest(stage, source, lines, whole_set or NO_ENTRIES)

    def _digest(
        self, stage: Stage, source: SampleSource, lines: list[str], whole_set: Mapping[str, Any]
    ) -> str:
        parts = [self._identity[stage.name], self._source_text(stage, source)]
        parts += lines
        if whole_set:
            parts += [f"{name}:{canonical_json(entry)}" for name, entry in whole_set.items()]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]


def _verdict(record: Head | None, expected: str, whole_set: Mapping[str, Any] | None) -> Verdict:
    """The verdict of a stage whose inputs are all current, given its stored record."""
    if record is None:
        return _new_verdict(Verdict, (State.PENDING, None, expected, "", whole_set))
    current = (
        record.matches(expected)
        if isinstance(record, IndexedHead)
        else record.fingerprint == expected
    )
    if not current:
        return _new_verdict(Verdict, (State.STALE, record, expected, "", whole_set))
    state = State.FAILED if record.status == "failed" else State.DONE
    return _new_verdict(Verdict, (state, record, "", "", whole_set))


_new_verdict = tuple.__new__  # a named tuple's own constructor, without its keyword handling


def _inputs_key(makers: list[Callable[[SampleSource], str]], source: SampleSource) -> bytes:
    """A digest of every raw input of the sample the stages read (their source texts)."""
    text = "\x00".join(make(source) for make in makers)
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


def _outcome(verdict: Verdict | None) -> int | None:
    """The memo's code for a verdict; None for one the memo does not keep (not current)."""
    if verdict is None:
        return None
    if verdict.state is State.EXCLUDED:
        return EXCLUDED
    if verdict.state is State.DONE and verdict.record is not None:
        return HALTED if verdict.record.halt else KEPT
    return None


def _line(stage: str, verdict: Verdict) -> str:
    """A current, kept upstream record as its fingerprint lists it."""
    assert verdict.record is not None
    return f"{stage}={verdict.record.data_hash}"


@contextmanager
def _no_gc_passes() -> Iterator[None]:
    """No garbage collection while planning: it makes a million small objects and no
    cycles, and each full pass would walk all of those made before (seconds at 100k)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _ancestors(name: str, stages: Mapping[str, Stage]) -> list[str]:
    """Every stage above ``name``: for each stage it requires, that stage's ancestors, then
    that stage (each once, where first met). The fingerprint lists them in this order."""
    order: dict[str, None] = {}
    for dependency in stages[name].requires:
        order.update(dict.fromkeys(_ancestors(dependency, stages)))
        order[dependency] = None
    return list(order)


def _dependents(stages: Mapping[str, Stage]) -> dict[str, tuple[str, ...]]:
    """For each stage: itself and every stage below it (whose verdicts its records decide)."""
    return {
        name: tuple(other for other in stages if other == name or name in _ancestors(other, stages))
        for name in stages
    }


def _whole_set_key(step: WholeSetStep, heads: Mapping[str, str]) -> str:
    """A digest of everything a step's entries are made from: the step and its settings,
    and the content hash of each record it reads."""
    sha = hashlib.sha256(canonical_json(step.identity()).encode("utf-8"))
    for sample_id, data_hash in heads.items():
        sha.update(f"\n{sample_id}={data_hash}".encode())
    return sha.hexdigest()[:32]


class _StoredRecords(Mapping[str, Record]):
    """The records a whole-set step reads, each read (and verified) when the step gets to
    it, so 100k of them are never in memory at once. One that no longer verifies, or is no
    longer the one planned, is left out."""

    def __init__(self, store: Store, stage: str, heads: Mapping[str, str]) -> None:
        self.store, self.stage, self.heads = store, stage, heads

    def __getitem__(self, sample_id: str) -> Record:
        record = self.store.load(self.stage, sample_id)
        if record is None or record.data_hash != self.heads.get(sample_id):
            raise KeyError(sample_id)
        return record

    def __iter__(self) -> Iterator[str]:
        return iter(self.heads)

    def __len__(self) -> int:
        return len(self.heads)

    def items(self) -> Iterator[tuple[str, Record]]:  # type: ignore[override]
        for sample_id in self.heads:
            try:
                yield sample_id, self[sample_id]
            except KeyError:
                continue
