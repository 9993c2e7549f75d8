"""De-duplication as a whole-set step: computed once over every sample's reasoning, the same
answer for sharded and unsharded runs, and a changed reasoning restales exactly the labels
whose answer it changes. Real runner and real label stage; the cue stages and a scripted
synthesize stage store the real output models (no LLM: the step only compares texts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from merr_factory.config import load_config
from merr_factory.curation.dedup import duplicate_map
from merr_factory.run.workspace import Shard, Workspace, open_workspace
from merr_factory.stage_data import IngestData, LLMInfo, SynthesizeData
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings

from ..conftest import run_pipeline, tally
from .conftest import (
    HAPPY_VISUAL,
    LLM_STAGES,
    SPEECH_AUDIO,
    AsrCueStage,
    AudioCueStage,
    CueTable,
    VisualCueStage,
    asr,
)

SMILE = "She smiles widely and her bright voice says she finally passed the hard exam today."
SMILE_AGAIN = "she smiles widely, and her bright voice says she finally passed the hard exam today"
OTHER = "His brows are lowered and he speaks slowly about the long delay at the airport."


class ScriptedSynthesize(Stage[StageSettings]):
    """Stores the reasoning scripted for each sample (its text is test input, not a reply)."""

    name = "synthesize"
    summary = "test stage: scripted reasoning"
    settings_model = StageSettings
    output_model = SynthesizeData
    requires = ("visual", "asr")

    def __init__(self, reasonings: dict[str, str], facts: RunFacts) -> None:
        super().__init__(StageSettings(), facts)
        self.reasonings = reasonings

    def identity(self) -> dict[str, Any]:  # a new script makes every synthesize record stale
        return {**super().identity(), "reasonings": dict(self.reasonings)}

    def process(self, sample: SampleContext) -> StageResult:
        return StageResult(
            data=SynthesizeData(
                caption="A caption.",
                smp_reason_caption=self.reasonings.get(sample.source.id),
                open_label=sample.input(IngestData).label,
                llm=LLMInfo(backend="scripted", model="none", prompt_version="v"),
            )
        )


def workspace(config: Path, reasonings: dict[str, str]) -> Workspace:
    opened = open_workspace(load_config(config))
    facts = opened.stages["label"].facts
    table = CueTable()
    for sample in opened.samples:  # every clip: a face with a happy expression, and speech
        table.cues[sample.id] = (HAPPY_VISUAL, SPEECH_AUDIO, asr("I passed!"))
    for cls in (VisualCueStage, AudioCueStage, AsrCueStage):
        opened.stages[cls.name] = cls(table, facts)
    opened.stages["synthesize"] = ScriptedSynthesize(reasonings, facts)
    return opened


def labels(output: Path) -> dict[str, dict[str, Any]]:
    folder = output / "stages" / "label"
    return {path.stem: json.loads(path.read_text())["data"] for path in folder.glob("*.json")}


def scripted(samples: list[str], pair: tuple[str, str]) -> dict[str, str]:
    """Distinct reasonings, except that ``pair[1]`` repeats ``pair[0]``'s in other words."""
    texts = {sample: f"{OTHER} Clip number {index} of the set." for index, sample in
             enumerate(samples)}  # fmt: skip
    texts[pair[0]], texts[pair[1]] = SMILE, SMILE_AGAIN
    return texts


@pytest.fixture(autouse=True)
def all_happy(clips: Path) -> None:
    """Every clip labelled happy: with the happy cues each label is fine unless it repeats."""
    rows = (clips / "labels.csv").read_text().splitlines()[1:]
    names = [row.split(",")[0] for row in rows]
    lines = ["name,discrete,valence", *(f"{name},happy,1.0" for name in names)]
    (clips / "labels.csv").write_text("\n".join(lines) + "\n")


def test_the_step_keeps_the_first_of_each_group_by_id() -> None:
    long = (
        "Her mouth corners rise and her cheeks lift while she speaks in a lively voice about "
        "winning the game, so every clue points to a happy person sharing good news today. "
        "The words she chooses are warm and the pace of her speech is quick and excited."
    )
    texts = {"a1": "She smiles,  widely!", "b2": "she smiles widely", "c3": long}
    texts |= {"d4": long.replace("lively", "bright"), "e5": "A calm voice talks about rain."}
    assert duplicate_map(texts, 0.85) == {
        "a1": None, "b2": "a1", "c3": None, "d4": "c3", "e5": None,
    }  # fmt: skip
    assert duplicate_map(dict(reversed(texts.items())), 0.85) == duplicate_map(texts, 0.85)


def test_sharded_runs_end_with_the_unsharded_answer(write_config, tmp_path: Path) -> None:
    """The repeat is in the shard that runs first, the sample it repeats in the other: the
    first shard cannot see the repeat; the second shard's step does, over all samples, and
    the repeat's label is then stale (status says so) until the next run recomputes it,
    and only it."""
    single = write_config("single.yaml", output=str(tmp_path / "single"))
    samples = [sample.id for sample in open_workspace(load_config(single)).samples]
    shards = [Shard(0, 2), Shard(1, 2)]
    first = next(s for s in samples if shards[1].contains(s))
    repeat = next(s for s in samples if shards[0].contains(s) and s > first)
    texts = scripted(samples, (first, repeat))
    run_pipeline(single, LLM_STAGES, workspace(single, texts))

    sharded = write_config("sharded.yaml", output=str(tmp_path / "sharded"))
    run_pipeline(sharded, LLM_STAGES, workspace(sharded, texts), shard=shards[0])
    assert labels(tmp_path / "sharded")[repeat]["duplicate_of"] is None  # not seen yet
    run_pipeline(sharded, LLM_STAGES, workspace(sharded, texts), shard=shards[1])
    entries = json.loads((tmp_path / "sharded" / "dedup" / "entries.json").read_text())
    assert entries[repeat] == first
    again = run_pipeline(sharded, LLM_STAGES, workspace(sharded, texts))
    assert tally(again, "label")["computed"] == 1  # the repeat, nothing else
    assert labels(tmp_path / "sharded") == labels(tmp_path / "single")
    assert labels(tmp_path / "single")[repeat]["duplicate_of"] == first
    assert labels(tmp_path / "single")[repeat]["tier"] == "coarse"
    assert labels(tmp_path / "single")[first]["tier"] == "fine"


def test_a_changed_reasoning_restales_exactly_the_labels_it_affects(write_config) -> None:
    config = write_config()
    samples = [sample.id for sample in open_workspace(load_config(config)).samples]
    first, repeat, bystander = samples[0], samples[1], samples[2]
    texts = scripted(samples, (first, repeat))
    run_pipeline(config, LLM_STAGES, workspace(config, texts))

    texts[bystander] = f"{OTHER} Reworded for this clip alone, nothing like the others."
    rerun = run_pipeline(config, LLM_STAGES, workspace(config, texts))
    assert tally(rerun, "label")["computed"] == 1  # the bystander's own label only

    texts[first] = "A calm voice reads out the weather report for the coming weekend."
    rerun = run_pipeline(config, LLM_STAGES, workspace(config, texts))
    assert tally(rerun, "label")["computed"] == 2  # the first, and the one that repeated it
    assert tally(run_pipeline(config, LLM_STAGES, workspace(config, texts)), "label") == {
        "computed": 0, "skipped": tally(rerun, "label")["skipped"] + 2, "failed": 0,
        "excluded": tally(rerun, "label")["excluded"], "blocked": 0, "waiting": 0,
    }  # fmt: skip


def test_the_step_is_reused_while_the_reasonings_are_the_same(
    write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its entries are kept with a digest of the records it read: a re-run over the same
    reasonings takes them without reading a record; a changed one computes them again."""
    from merr_factory.curation.dedup import Deduplication

    config = write_config()
    samples = [sample.id for sample in open_workspace(load_config(config)).samples]
    texts = scripted(samples, (samples[0], samples[1]))
    run_pipeline(config, LLM_STAGES, workspace(config, texts))
    computed: list[int] = []
    real = Deduplication.compute

    def counting(self: Deduplication, records: Any) -> dict[str, str | None]:
        computed.append(len(records))
        return real(self, records)

    monkeypatch.setattr(Deduplication, "compute", counting)
    again = run_pipeline(config, LLM_STAGES, workspace(config, texts))
    assert computed == [] and tally(again, "label")["computed"] == 0
    texts[samples[2]] = "A calm voice reads out the weather report for the coming weekend."
    changed = run_pipeline(config, LLM_STAGES, workspace(config, texts))
    assert computed == [len(samples)] and tally(changed, "label")["computed"] == 1
