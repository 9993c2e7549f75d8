"""visual: AU phrases in MERR's style, AU-rule emotion candidates, an optional scene description.

- ``au_phrases``: one phrase per peak AU, drawn from ``knowledge.au.AU_SYNONYMS`` (or the FACS
  name alone with ``phrase_style: names``). The draw is deterministic: it depends only on
  ``phrase_seed``, the sample id and the AU, so a re-run gives the same text.
- ``rule_support`` / ``candidates``: MERR's AU rule table (``rules``, configurable) applied to
  the peak AUs. An emotion's score is the summed intensity of its rule's AUs active at the
  peak over 5 x the number of its rule's AUs the backend can measure (a rule is not
  penalised for AUs the backend cannot see). ``neutral`` (an empty rule) is the candidate,
  with score 1, when no rule AU is active.
- ``reference_label``: the CSV label when it is in the label set, else the best candidate.
  ``AU_list`` = the rule AUs of that label active at the peak, in rule order (as in MERR);
  ``visual_prior_list`` = their phrases, aligned.
- ``visual_objective``: a vision-language model's description of ``peak_frame.jpg`` (off by
  default; backends in ``backends.vision``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from merr_factory.artifacts import PEAK_FRAME
from merr_factory.backends.vision.base import SCENE_PROMPT, SceneDescriber
from merr_factory.knowledge.au import AU_NAMES, MERR_RULES, au_phrases, normalise_au
from merr_factory.stage_data import Candidate, FacesData, IngestData, PeakData, VisualData
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings


class SceneSettings(BaseModel):
    """The optional scene description of the peak frame."""

    model_config = {"extra": "forbid"}

    backend: Literal["none", "openai", "transformers"] = "none"
    model: str | None = Field(default=None, description="model name or local folder")
    base_url: str | None = Field(default=None, description="openai: the endpoint")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="openai: env var of the key")
    timeout_s: float = Field(default=60.0, gt=0)
    device: str = "cpu"
    max_tokens: int = Field(default=96, ge=8)
    prompt: str = SCENE_PROMPT


class VisualSettings(StageSettings):
    """AU phrases, AU rules and the optional scene description."""

    rules: dict[str, list[str]] = Field(
        default_factory=lambda: {label: list(aus) for label, aus in MERR_RULES.items()},
        description="emotion -> the AUs of its rule (MERR's table by default)",
    )
    phrase_style: Literal["synonyms", "names"] = "synonyms"
    phrase_seed: int = 0
    scene: SceneSettings = Field(default_factory=SceneSettings)

    @field_validator("rules")
    @classmethod
    def _normalise_rules(cls, rules: dict[str, list[str]]) -> dict[str, list[str]]:
        return {label: [normalise_au(au) for au in aus] for label, aus in rules.items()}

    def fingerprint_view(self) -> dict[str, Any]:
        view = super().fingerprint_view()
        scene = view["scene"]
        if scene["backend"] == "none":
            view["scene"] = {"backend": "none"}
        else:
            scene.pop("timeout_s", None)  # how long to wait never changes the answer
            scene.pop("device", None)
        return view


def pick_phrase(au: str, sample_id: str, seed: int, style: str) -> str:
    """The phrase for ``au`` in this sample: deterministic given seed, sample and AU."""
    if style == "names":
        return AU_NAMES.get(au, au)
    options = au_phrases(au)
    digest = hashlib.sha256(f"{seed}:{sample_id}:{au}".encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def score_rules(
    rules: dict[str, list[str]],
    intensities: dict[str, float],
    active: list[str],
    measurable: list[str],
    labels: tuple[str, ...],
) -> tuple[dict[str, list[str]], list[Candidate]]:
    """Rule support and scored candidates (best first; ties in label-set order)."""
    active_set = set(active)
    support: dict[str, list[str]] = {}
    candidates: list[Candidate] = []
    for emotion in labels:
        rule = rules.get(emotion)
        if rule is None:
            continue
        support[emotion] = [au for au in rule if au in active_set]
        seen = [au for au in rule if au in measurable]
        if support[emotion] and seen:
            total = sum(min(intensities.get(au, 0.0), 5.0) for au in support[emotion])
            candidates.append(Candidate(emotion=emotion, score=round(total / (5 * len(seen)), 4)))
    any_rule_au = any(support.values())
    if not any_rule_au and any(not rules[label] for label in support):
        neutral = next(label for label in support if not rules[label])
        candidates.append(Candidate(emotion=neutral, score=1.0))
    order = {label: position for position, label in enumerate(labels)}
    candidates.sort(key=lambda c: (-c.score, order[c.emotion]))
    return support, candidates


def make_describer(settings: SceneSettings) -> SceneDescriber | None:
    if settings.backend == "none":
        return None
    if not settings.model:
        raise ValueError(f"stages.visual.scene.model is required for backend {settings.backend}")
    if settings.backend == "openai":
        from merr_factory.backends.vision.openai_chat import OpenAIChatDescriber

        return OpenAIChatDescriber(
            settings.model, settings.base_url, settings.api_key_env, settings.timeout_s,
            settings.prompt, settings.max_tokens,
        )  # fmt: skip
    from merr_factory.backends.vision.transformers_vlm import TransformersDescriber

    return TransformersDescriber(settings.model, settings.device, settings.prompt,
                                 settings.max_tokens)  # fmt: skip


class VisualStage(Stage[VisualSettings]):
    name = "visual"
    summary = "AU phrases, AU-rule emotion candidates and an optional scene description."
    settings_model = VisualSettings
    output_model = VisualData
    requires = ("peak",)
    version = "1"

    def __init__(self, settings: VisualSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self.describer: SceneDescriber | None = None

    def setup(self) -> None:
        self.describer = make_describer(self.settings.scene)
        if self.describer is not None:
            self.describer.setup()

    def concurrency(self) -> int:
        # An HTTP endpoint can serve several descriptions at once; a local model cannot.
        return 4 if self.settings.scene.backend == "openai" else 1

    def process(self, sample: SampleContext) -> StageResult:
        peak = sample.input(PeakData)
        faces = sample.input(FacesData)
        ingest = sample.input(IngestData)
        settings = self.settings
        phrases = {
            au: pick_phrase(au, sample.source.id, settings.phrase_seed, settings.phrase_style)
            for au in peak.peak_AU_list
        }
        support, candidates = score_rules(
            settings.rules, peak.peak_intensities, peak.peak_AU_list, faces.au_names,
            self.facts.label_set,
        )  # fmt: skip
        label, source = self._reference_label(ingest, candidates)
        au_list = list(support.get(label, [])) if label else []
        data = VisualData(
            peak_AU_list=peak.peak_AU_list,
            peak_index=peak.peak_index,
            au_phrases=phrases,
            rule_support=support,
            candidates=candidates,
            reference_label=label,
            AU_list=au_list,
            visual_prior_list=[phrases[au] for au in au_list],
            visual_objective=self._describe(sample, peak),
            label_source=source,
        )
        return StageResult(data=data)

    def _reference_label(
        self, ingest: IngestData, candidates: list[Candidate]
    ) -> tuple[str | None, Literal["csv", "au_rule"] | None]:
        if ingest.label_status == "labelled" and ingest.label in self.facts.label_set:
            return ingest.label, "csv"
        if candidates:
            return candidates[0].emotion, "au_rule"
        return None, None

    def _describe(self, sample: SampleContext, peak: PeakData) -> str | None:
        if self.settings.scene.backend == "none" or peak.peak_index is None:
            return None
        if self.describer is None:
            self.setup()
        assert self.describer is not None
        return self.describer.describe(sample.input_file(PeakData, PEAK_FRAME))
