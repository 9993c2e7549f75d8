"""synthesize: the coarse caption (a template) and the fine reasoning (an LLM).

Two LLM modes, each optional: MERR's (the LLM is told the label and explains which clues
support it) and the open mode (the LLM is not told the label and predicts one of the label
set, with its reasoning). Missing cues (no face, no audio, no speech) are left out of the
caption and said to be absent in the prompt, and listed in ``missing_cues``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from merr_factory.artifacts import PEAK_FRAME
from merr_factory.faults import first_line
from merr_factory.llm import LLMBackend, LLMClient, LLMError, LLMSettings, Message, make_backend
from merr_factory.llm.caption import CaptionTemplate, render_caption
from merr_factory.llm.cues import Cues
from merr_factory.llm.messages import judge_messages, merr_messages, open_messages
from merr_factory.llm.prompts import PromptSet, load_prompts
from merr_factory.llm.schemas import JudgeVerdict, MerrReasoning, open_prediction_model
from merr_factory.stage_data import CallUsage, LLMCost, LLMInfo, PeakData, SynthesizeData, UsageInfo
from merr_factory.stages.base import (
    RunFacts,
    SampleContext,
    Spent,
    Stage,
    StageResult,
    StageSettings,
    note_spent,
)
from merr_factory.text import clean_text

CACHE_FOLDER = ("cache", "llm")
# Backends that compute in this process (on the CPU here) rather than waiting on a server.
IN_PROCESS_BACKENDS = frozenset({"llamacpp", "transformers"})
ModelT = TypeVar("ModelT", bound=BaseModel)
Purpose = Literal["merr_reasoning", "open_prediction", "judge"]


class SynthesizeSettings(StageSettings):
    llm: LLMSettings = Field(default_factory=LLMSettings)
    merr_reasoning: bool = Field(default=True, description="MERR mode: explain the given label")
    open_prediction: bool = Field(default=True, description="predict a label without being told")
    judge: bool = Field(
        default=False, description="ask the LLM whether the MERR reasoning holds (label stage)"
    )
    send_peak_frame: bool = Field(
        default=False,
        description="attach the peak stage's peak_frame.jpg for backends that take images",
    )
    min_cues: int = Field(
        default=1,
        ge=0,
        le=4,
        description="skip the LLM when fewer cues (description, expression, tone, speech) exist",
    )
    caption: CaptionTemplate = Field(default_factory=CaptionTemplate)
    prompts_dir: Path | None = Field(
        default=None, description="a folder with your own <name>.txt prompts (else the shipped)"
    )

    def fingerprint_view(self) -> dict[str, Any]:
        view = super().fingerprint_view()
        view["llm"] = self.llm.fingerprint_view()
        return view


class SynthesizeStage(Stage[SynthesizeSettings]):
    name = "synthesize"
    summary = "Coarse caption (template) and LLM fine reasoning and open label prediction."
    settings_model = SynthesizeSettings
    output_model = SynthesizeData
    requires = ("visual", "asr")
    version = "1"

    def __init__(self, settings: SynthesizeSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self.prompts: PromptSet = load_prompts(settings.prompts_dir)
        self._backend: LLMBackend | None = None
        self._client: LLMClient | None = None
        self._lock = threading.Lock()

    @property
    def uses_llm(self) -> bool:
        return self.settings.merr_reasoning or self.settings.open_prediction

    def backend(self) -> LLMBackend:
        """The configured backend (built lazily: a missing model only fails this stage)."""
        if self._backend is None:
            self._backend = make_backend(self.settings.llm)
        return self._backend

    def model_id(self) -> str:
        try:
            return self.backend().model_id
        except LLMError as error:
            return f"unavailable: {error}"

    def identity(self) -> dict[str, Any]:
        identity = super().identity()
        if self.uses_llm:
            identity["model"] = self.model_id()
            identity["prompts"] = self.prompts.identity()
        return identity

    def concurrency(self) -> int:
        """Requests in flight for a server; 1 for a model in process (llamacpp,
        transformers): it computes one request at a time on the CPU, so it runs in the
        worker processes like the other CPU-bound stages, within their thread budget,
        instead of in the main process competing with them for the cores."""
        if not self.uses_llm or self.settings.llm.backend in IN_PROCESS_BACKENDS:
            return 1
        return self.settings.llm.concurrency

    def setup(self) -> None:
        """Load the model once per worker. One that cannot load raises; the host fails each
        sample with the reason (recorded, retried next run) instead of stopping the run."""
        if not self.uses_llm:
            return
        try:
            self.backend().load()
        except Exception as error:
            raise LLMError(f"cannot load the LLM: {first_line(error)}") from error

    def client(self, output_root: Path) -> LLMClient:
        with self._lock:
            if self._client is None:
                self._client = LLMClient(
                    self.backend(),
                    self.settings.llm,
                    cache_dir=output_root.joinpath(*CACHE_FOLDER),
                    repair_prompt=self.prompts.texts["repair"],
                )
            return self._client

    def _with_image(self, sample: SampleContext, messages: list[Message]) -> list[Message]:
        """The user message with the peak frame attached, when asked for and possible."""
        if not (self.settings.send_peak_frame and self.backend().takes_images):
            return messages
        frame = _peak_frame(sample)
        if frame is None:
            return messages
        *head, user = messages
        return [*head, Message(user.role, user.content, images=(frame,))]

    def process(self, sample: SampleContext) -> StageResult:
        cues = Cues.of(sample)
        label_set = self.facts.label_set
        usage, calls = UsageInfo(), []
        data = SynthesizeData(
            caption=render_caption(self.settings.caption, cues),
            llm=LLMInfo(
                backend=self.settings.llm.backend,
                model=self.model_id() if self.uses_llm else "",
                prompt_version=self.prompts.version,
            ),
            missing_cues=cues.missing(),
        )
        present = 4 - len(data.missing_cues)
        if self.uses_llm and present < self.settings.min_cues:
            data.notes = [f"LLM not asked: {present} cue(s), min_cues is {self.settings.min_cues}"]
            return _result(data, usage, calls)
        client = self.client(sample.store.root)
        if self.settings.merr_reasoning:
            self._explain(sample, cues, client, data, (usage, calls))
        if self.settings.open_prediction:
            schema = open_prediction_model(label_set)
            messages = self._with_image(sample, open_messages(self.prompts, cues, label_set))
            reply = _ask(client, messages, schema, "open_prediction", (usage, calls))
            data.open_label = reply.label
            data.open_reasoning = clean_text(reply.reasoning)
        return _result(data, usage, calls)

    def _explain(
        self,
        sample: SampleContext,
        cues: Cues,
        client: LLMClient,
        data: SynthesizeData,
        spent: tuple[UsageInfo, list[CallUsage]],
    ) -> None:
        """MERR mode: explain the label (the CSV's, else the AU rule's), then maybe judge it."""
        label_set = self.facts.label_set
        label = cues.csv_label(label_set) or cues.au_rule_label(label_set)
        data.reasoning_label = label
        if label is None:
            data.notes.append("no label to explain: no CSV label and no AU-rule candidate")
            return
        messages = self._with_image(sample, merr_messages(self.prompts, cues, label))
        reply = _ask(client, messages, MerrReasoning, "merr_reasoning", spent)
        data.smp_reason_caption = clean_text(reply.reasoning)
        if self.settings.judge and data.smp_reason_caption:
            messages = judge_messages(self.prompts, cues, label, data.smp_reason_caption)
            verdict = _ask(client, messages, JudgeVerdict, "judge", spent)
            data.judge_accepts, data.judge_reason = verdict.accept, clean_text(verdict.why)


def _ask(
    client: LLMClient,
    messages: list[Message],
    schema: type[ModelT],
    purpose: Purpose,
    spent: tuple[UsageInfo, list[CallUsage]],
) -> ModelT:
    """One question, its cost added to the sample's; when it fails, the failure carries
    what the sample spent (every attempt counts in the run's totals and the record)."""
    usage, calls = spent
    try:
        reply, cost = client.ask(messages, schema)
    except LLMError as error:
        if isinstance(error.usage, UsageInfo):
            _count(calls, purpose, error.usage, usage)
        note_spent(error, Spent(metrics=usage_metrics(usage), provenance=_cost(usage, calls)))
        raise
    _count(calls, purpose, cost, usage)
    return reply


def _count(calls: list[CallUsage], purpose: Purpose, cost: UsageInfo, total: UsageInfo) -> None:
    """Add one question's cost to the sample's total and to its per-question list."""
    total.add(cost)
    calls.append(CallUsage(purpose=purpose, **cost.rounded()))


def _result(data: SynthesizeData, usage: UsageInfo, calls: list[CallUsage]) -> StageResult:
    """The data, and what the calls cost beside it (outside its hash: see ``LLMCost``)."""
    return StageResult(data=data, metrics=usage_metrics(usage), provenance=_cost(usage, calls))


def _cost(usage: UsageInfo, calls: list[CallUsage]) -> LLMCost:
    return LLMCost(usage=UsageInfo(**usage.rounded()), calls=calls)


def _peak_frame(sample: SampleContext) -> Path | None:
    """The peak stage's frame image, when that stage ran and found a face."""
    return sample.input_file_or_none(PeakData, PEAK_FRAME)


def usage_metrics(usage: UsageInfo) -> dict[str, float]:
    """The per-sample numbers the runner adds up and prints per stage."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "attempts": usage.attempts,
        "calls": usage.calls,
        "llm_seconds": round(usage.seconds, 4),
        "cache_hits": usage.cache_hits,
        "retries": usage.retries,
    }
