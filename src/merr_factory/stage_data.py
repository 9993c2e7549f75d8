"""What each stage stores for one sample: one pydantic model per stage output.

Every consumer reads these models (``SampleContext.input``), never a restated copy or a
string key, so a renamed field fails loudly where it is read. This module imports nothing
else from the project: every layer may import it. Field by field: docs/stage-data.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class StageOutput(BaseModel):
    """Base of every stage's output model. ``stage`` names the stage that stores it; a key
    the model does not know is an error, so data written under a renamed field never reads
    back as a silent default."""

    model_config = ConfigDict(extra="forbid")

    stage: ClassVar[str]


class UpstreamDataError(ValueError):
    """A stored stage output does not match its model (docs/stage-data.md)."""


class HoldsData(Protocol):
    """What ``read_output`` needs of a record: its stored data."""

    data: dict[str, Any]


OutputT = TypeVar("OutputT", bound=StageOutput)


def read_output(records: Mapping[str, HoldsData], model: type[OutputT]) -> OutputT | None:
    """The output of ``model.stage`` among ``records``, as ``model``; None when absent.

    A record that does not validate raises ``UpstreamDataError`` naming the stage and field.
    """
    record = records.get(model.stage)
    if record is None:
        return None
    try:
        return model.model_validate(record.data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise UpstreamDataError(
            f"{model.stage} record does not match {model.__name__}: {where}: {first['msg']}"
        ) from None


# Facts shared by several stages.

SampleKind = Literal["video", "image"]


class Reason(BaseModel):
    """Why a sample stops at a stage: a stable code to group by and a sentence for people."""

    code: str
    message: str


class AudioInfo(BaseModel):
    """The first audio stream of a file."""

    codec: str | None
    sample_rate: int | None
    channels: int | None
    duration: float | None


class MediaProbe(BaseModel):
    """What a file holds, read from its headers and its first frame.

    ``error`` is set (and ``readable`` false) when the file cannot be used at all; that is
    a fact about the input, recorded like any other, and the filter turns it into a drop.
    """

    readable: bool
    error: str | None = None
    format: str | None = None
    duration: float | None = None
    fps: float | None = None
    frames: int | None = None
    frames_source: Literal["header", "estimate", "image"] | None = None
    width: int | None = None  # as stored (coded); ``upright_size`` is as shown
    height: int | None = None
    rotation: int = 0  # the display matrix's counter-clockwise turn, degrees 0-359
    video_codec: str | None = None
    audio: AudioInfo | None = None

    @property
    def upright_size(self) -> tuple[int | None, int | None]:
        """``width``, ``height`` as the picture is shown: swapped when ``rotation`` is a quarter
        turn (a phone's portrait clip, stored landscape), as the frame reader turns frames."""
        if round(self.rotation / 90) % 2:
            return self.height, self.width
        return self.width, self.height


DecodeMode = Literal["none", "first_frame", "packets", "full"]


class DecodeCheck(BaseModel):
    """The outcome of reading a video stream.

    ``frames_read`` counts the video packets demuxed (``packets``) or frames decoded
    (``full``); None when the mode reads no further than the first frame.
    """

    mode: DecodeMode
    ok: bool
    frames_read: int | None = None
    error: str | None = None


# ingest

LabelStatus = Literal["labelled", "unlabelled", "outside_label_set"]


class SegmentData(BaseModel):
    """A sample that is a time range of its file (seconds), optionally a crop of its frame
    (x, y, width, height as fractions of the frame)."""

    model_config = ConfigDict(extra="forbid")

    start: float
    end: float | None
    crop: list[float] | None = None


class IngestData(StageOutput):
    """What ingest stores for one sample."""

    stage: ClassVar[str] = "ingest"

    source: str
    name: str
    kind: SampleKind
    size_bytes: int
    probe: MediaProbe
    label: str | None
    valence: float | None
    label_status: LabelStatus
    # What a dataset adapter gives besides (inputs/datasets/); absent for a folder + CSV.
    native_label: str | None = None  # the dataset's own word, before the label map
    excluded: str | None = None  # why that word maps to no label of the run
    arousal: float | None = None
    scale: str | None = None  # the native scale of valence and arousal
    speaker: str | None = None
    transcript: str | None = None  # the words the dataset gives
    language: str | None = None
    split: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)  # open-set labels, sentiment...
    segment: SegmentData | None = None


# filter


class FilterData(StageOutput):
    """The verdict for one sample."""

    stage: ClassVar[str] = "filter"

    keep: bool
    reasons: list[Reason]
    decode: DecodeCheck | None = None


# faces


class FacesData(StageOutput):
    """What the faces stage stores for one sample (see docs/stage-data.md)."""

    stage: ClassVar[str] = "faces"

    backend: str
    model: str | None
    sample_fps: float | None
    frames_total: int
    frames_analysed: int
    frames_with_face: int
    face_ratio: float
    au_names: list[str]
    main_face: str
    faces_max: int = 0  # the most faces seen in one frame
    width: int | None = None
    height: int | None = None
    expression_model: str | None = None  # the model of ``expression``; None: none ran
    # Class -> probability, averaged over the frames whose face was classified; None: none.
    expression: dict[str, float] | None = None


# peak


class PeakData(StageOutput):
    """What the peak stage stores for one sample (see docs/stage-data.md)."""

    stage: ClassVar[str] = "peak"

    peak_index: int | None
    peak_time: float | None
    peak_intensities: dict[str, float]
    peak_AU_list: list[str]  # MERR field name
    au_sum: float | None
    face_box: list[float | None] | None = None  # x, y, w, h in clip pixels
    summed_aus: list[str] = Field(default_factory=list)


# audio


class Prosody(BaseModel):
    """The numbers the tone rules read. The first eight are the stage contract."""

    pitch_mean_hz: float | None
    pitch_range_hz: float | None
    pitch_std_hz: float | None
    energy_mean_db: float
    energy_std_db: float
    speaking_rate: float
    pause_ratio: float
    voiced_ratio: float
    pitch_range_st: float | None = None
    pitch_cv: float | None = None
    pitch_end_z: float | None = None
    speech_seconds: float = 0.0


ToneSource = Literal["prosody", "audio_llm"]


class AudioData(StageOutput):
    """What the audio stage stores for one sample (see docs/stage-data.md)."""

    stage: ClassVar[str] = "audio"

    has_audio: bool
    silent: bool
    duration: float
    prosody: Prosody | None
    speech_segments: list[tuple[float, float]]
    tone: str | None
    tone_phrase: str | None
    tone_source: ToneSource
    # Additions to the contract: why the tone is what it is.
    tone_cues: list[str] = Field(default_factory=list)
    tone_rule: int | None = None
    peak_db: float | None = None
    rms_db: float | None = None
    tone_llm_answer: str | None = None
    # openSMILE's eGeMAPSv02 functionals over the speech span, by openSMILE's feature names;
    # None when disabled or there is no speech (see prosody/egemaps.py).
    egemaps: dict[str, float | None] | None = None


# asr


class AsrSegmentData(BaseModel):
    """One transcribed stretch of speech, in seconds from the clip's start."""

    start: float
    end: float
    text: str


class AsrData(StageOutput):
    """What the asr stage stores for one sample (see docs/stage-data.md)."""

    stage: ClassVar[str] = "asr"

    backend: str
    model: str
    text: str
    language: str | None
    segments: list[AsrSegmentData]
    text_en: str | None
    confidence: float | None
    # Additions to the contract.
    language_probability: float | None = None
    dropped_segments: int = 0
    unreliable: list[Reason] = Field(
        default_factory=list,
        description="why the transcript is not trusted (curation/gates.py); when any, it is "
        "kept out of the LLM's prompt and MERR's text",
    )


# features

FeaturesBackend = Literal["none", "transformers"]


class FeaturesData(StageOutput):
    """What the features stage stores for one sample (see docs/stage-data.md).

    Feature names are Emotion-LLaMA's folder names: ``HL-UTT`` (HuBERT, audio),
    ``mae_340_UTT`` (MAE, face crops), ``maeV_399_UTT`` (VideoMAE, face-crop clips); each is
    a file ``<name>.npy`` beside the record.
    """

    stage: ClassVar[str] = "features"

    backend: FeaturesBackend
    features: list[str] = Field(
        default_factory=list, description="utterance-level files written (zero-filled included)"
    )
    zero_filled: list[str] = Field(
        default_factory=list, description="written as zero vectors (zero_when_missing)"
    )
    frame_level: list[str] = Field(
        default_factory=list, description="per-frame files written, e.g. HL-FRA"
    )
    missing: dict[str, Reason] = Field(
        default_factory=dict, description="feature -> why it has no computed vector"
    )
    models: dict[str, str] = Field(default_factory=dict, description="feature -> model id")
    placeholders: list[str] = Field(
        default_factory=list,
        description="made by random-weight placeholder models: not for training",
    )
    dims: dict[str, int] = Field(default_factory=dict, description="feature -> vector size")
    device: str | None = None
    audio_seconds: float | None = None
    mae_frames: list[int] = Field(
        default_factory=list, description="clip frame indices of the face crops MAE saw"
    )
    videomae_frames: list[list[int]] = Field(
        default_factory=list, description="per 16-frame clip, the clip frame indices"
    )


# visual


class Candidate(BaseModel):
    """An emotion the AU rules support, with the share of its rule's AUs present."""

    emotion: str
    score: float


class VisualData(StageOutput):
    """What the visual stage stores for one sample (see docs/stage-data.md)."""

    stage: ClassVar[str] = "visual"

    peak_AU_list: list[str]  # MERR field name
    peak_index: int | None
    au_phrases: dict[str, str]
    rule_support: dict[str, list[str]]
    candidates: list[Candidate]
    reference_label: str | None
    AU_list: list[str]  # MERR field name
    visual_prior_list: list[str]
    visual_objective: str | None
    label_source: Literal["csv", "au_rule"] | None = None


# synthesize


class LLMInfo(BaseModel):
    """Which model answered, with which prompts."""

    backend: str
    model: str
    prompt_version: str


class UsageInfo(BaseModel):
    """What the LLM calls cost: tokens, requests, seconds, cache hits, retries, repairs.

    ``attempts`` counts every request sent (failed ones too); ``calls`` those answered."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    calls: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    retries: int = 0
    repairs: int = 0

    def add(self, other: UsageInfo) -> None:
        """Add another cost to this one (a question's to its sample's)."""
        for name in UsageInfo.model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def rounded(self) -> dict[str, Any]:
        """The counts as stored: seconds to 0.1 ms."""
        return {
            **self.model_dump(include=set(UsageInfo.model_fields)),
            "seconds": round(self.seconds, 4),
        }


class CallUsage(UsageInfo):
    """One question to the LLM (its repair included) and what it cost."""

    purpose: Literal["merr_reasoning", "open_prediction", "judge"]


class SynthesizeData(StageOutput):
    """What the synthesize stage stores for one sample (see docs/stage-data.md)."""

    stage: ClassVar[str] = "synthesize"

    caption: str
    smp_reason_caption: str | None = None
    open_label: str | None = None
    open_reasoning: str | None = None
    llm: LLMInfo
    judge_accepts: bool | None = None
    judge_reason: str | None = None
    reasoning_label: str | None = Field(
        default=None, description="the label MERR mode explained (CSV label, else AU rule)"
    )
    missing_cues: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class LLMCost(BaseModel):
    """What the synthesize stage's LLM calls cost for one sample: stored beside the data as
    the record's ``provenance``, outside ``data_hash``, so a re-run answered from the reply
    cache (other seconds, no tokens) changes nothing downstream."""

    usage: UsageInfo
    calls: list[CallUsage] = Field(default_factory=list, description="usage per question")


# label

LabelSource = Literal["csv", "au_rule", "llm", "face_expression", "agreement", "curation", "human"]
Tier = Literal["coarse", "fine", "rejected"]


class AnnotatorVerdict(BaseModel):
    """One annotator's verdict on a sample (``curation/review_log.py``)."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["accept", "reject"] | None = None
    label: str | None = None  # the label they accepted or gave; None: rejected
    audit: str | None = None  # the random audit it was part of ("tier=fine"), if any


class HumanReview(BaseModel):
    """People's decisions on a sample over all annotators: the latest verdict and edits win."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["accept", "reject"] | None = None
    label: str | None = None
    reasoning: str | None = None  # an edited text replaces the machine's; None: not edited
    transcript: str | None = None
    machine_label: str | None = None  # the label before the review (set by the label stage)
    annotators: dict[str, AnnotatorVerdict] = Field(default_factory=dict)


class LabelData(StageOutput):
    """What the label stage stores for one sample (see docs/stage-data.md)."""

    stage: ClassVar[str] = "label"

    label: str | None
    label_source: LabelSource | None
    valence: float | None
    tier: Tier
    reasons: list[Reason] = Field(default_factory=list)
    au_rule_agrees: bool
    llm_agrees: bool | None
    votes: dict[str, str | None] = Field(default_factory=dict)
    duplicate_of: str | None = None
    human: HumanReview | None = None  # people's review decisions, applied (review_log.py)
