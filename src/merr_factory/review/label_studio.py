"""Label Studio for teams: ``merr-build review --to label-studio DIR`` writes a labeling
config and tasks; ``--from label-studio EXPORT.json`` reads Label Studio's JSON export into
the same decisions as the review page (``curation/review_log.py``).

Label Studio is never imported: it pins Django, ``openai<2`` and ``pyarrow`` 24, so it runs
in a virtual environment of its own and the two meet only through these files.

``DIR`` gets:

- ``label_config.xml``: the project's labeling config. The clip and the peak frame, the
  cues as text (AUs with MERR's phrases, tone, votes, tier and why), the transcript and the
  reasoning; the controls are ``label`` (one of ``label_set``), ``verdict`` (``accept`` or
  ``reject``) and two text areas, ``reasoning`` and ``transcript``, for corrected texts;
- ``tasks.json``: one task per exported sample, the machine's label, reasoning and
  transcript pre-filled as a prediction (``model_version: merr-factory``);
- ``media/``: the clip's browser-playable H.264/AAC copy and the peak frame, named by a
  hash; the tasks point at them under ``media_url`` (Label Studio's local-files address by
  default).

Each annotation of the export becomes decisions of the annotator ``label-studio-<user id>``:
``reject`` when the verdict is reject; else ``accept`` when the label chosen is the one
shown (or none was chosen), ``relabel`` when it differs; and an ``edit`` for a text that
differs from the machine's. A decision that would not change that annotator's standing is
not written again, so importing the same export twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from merr_factory.curation.review_log import DecisionLog, SampleReview
from merr_factory.dataset.entry import ExportEntry
from merr_factory.inputs.segment import segment_of
from merr_factory.review.media import playable_copy
from merr_factory.run.atomic import write_text_atomic
from merr_factory.run.store import Store

log = logging.getLogger(__name__)

FORMAT = "label-studio"
CONFIG_FILE = "label_config.xml"
TASKS_FILE = "tasks.json"
MEDIA_DIR = "media"
MODEL_VERSION = "merr-factory"
LOCAL_FILES = "/data/local-files/?d="  # Label Studio's own address for files on its disk
CUES_NAME = "cues"  # the object every control points at (toName)
ANNOTATOR_PREFIX = "label-studio-"


class LabelStudioError(ValueError):
    """An export that cannot be read at all; the message says why."""


# -- writing tasks ----------------------------------------------------------------------------
def label_config(label_set: tuple[str, ...]) -> str:
    """The labeling config: media and cues to look at, the label, the verdict, the texts."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in label_set)
    return f"""<View>
  <Header value="$sample_id"/>
  <Video name="video" value="$video" frameRate="$fps"/>
  <Image name="peak_frame" value="$peak_frame" maxWidth="480px"/>
  <Text name="{CUES_NAME}" value="$cues"/>
  <Header value="Label"/>
  <Choices name="label" toName="{CUES_NAME}" choice="single" showInline="true">
{choices}
  </Choices>
  <Header value="Verdict"/>
  <Choices name="verdict" toName="{CUES_NAME}" choice="single" showInline="true">
    <Choice value="accept"/>
    <Choice value="reject"/>
  </Choices>
  <Header value="Reasoning (edit to correct)"/>
  <TextArea name="reasoning" toName="{CUES_NAME}" editable="true" maxSubmissions="1" rows="4"/>
  <Header value="Transcript (edit to correct)"/>
  <TextArea name="transcript" toName="{CUES_NAME}" editable="true" maxSubmissions="1" rows="2"/>
</View>
"""


def cues_text(entry: ExportEntry) -> str:
    """What the review page shows beside the clip, as plain text (Label Studio escapes it)."""
    aus = ", ".join(
        f"{au} ({phrase})"
        for au, phrase in zip(entry.AU_list, entry.visual_prior_list, strict=False)
    )
    votes = ", ".join(f"{source}={vote or '-'}" for source, vote in entry.votes.items())
    why = "; ".join(reason.message or reason.code for reason in entry.reasons)
    lines = [
        f"label: {entry.label or '-'} (from {entry.label_source or '-'}); votes: {votes or '-'}",
        f"tier: {entry.tier}" + (f" ({why})" if why else ""),
        f"peak: {entry.peak_time if entry.peak_time is not None else '-'} s; "
        f"AUs at the peak: {', '.join(entry.peak_AU_list) or '-'}",
        f"AUs: {aus or '-'}",
        f"tone: {entry.tone or '-'}" + (f" ({entry.tone_phrase})" if entry.tone_phrase else ""),
        f"transcript ({entry.language or '?'}): {entry.transcript or '-'}",
        f"caption: {entry.caption or '-'}",
        f"reasoning: {entry.smp_reason_caption or '-'}",
    ]
    return "\n".join(lines)


def task(entry: ExportEntry, video: str | None, frame: str | None) -> dict[str, Any]:
    """One task: the sample's data and the machine's answers as a prediction."""
    reasoning = entry.smp_reason_caption or ""
    result: list[dict[str, Any]] = []
    if entry.label:
        result.append(_result("label", "choices", {"choices": [entry.label]}))
    result += [
        _result(name, "textarea", {"text": [text]})
        for name, text in (("reasoning", reasoning), ("transcript", entry.transcript))
        if text
    ]
    return {
        "data": {
            "sample_id": entry.sample_id,
            "video": video or "",
            "peak_frame": frame or "",
            "fps": entry.fps or 25,
            "cues": cues_text(entry),
            "label": entry.label,
            "reasoning": reasoning,
            "transcript": entry.transcript,
        },
        "predictions": [{"model_version": MODEL_VERSION, "result": result}],
    }


def _result(name: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"from_name": name, "to_name": CUES_NAME, "type": kind, "value": value}


def write_tasks(
    store: Store,
    label_set: tuple[str, ...],
    entries: list[ExportEntry],
    folder: Path,
    cache: Path,
    media_url: str | None = None,
    with_media: bool = True,
) -> Path:
    """The labeling config, the tasks and their media in ``folder``; returns the tasks file.
    ``cache`` holds the clips' playable copies (the review page's, made when missing).

    ``media_url``: where Label Studio finds ``folder``'s ``media/`` (default: its local-files
    address, ``/data/local-files/?d=media/``, for ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``
    set to ``folder``)."""
    base = media_url if media_url is not None else f"{LOCAL_FILES}{MEDIA_DIR}/"
    media = folder / MEDIA_DIR
    media.mkdir(parents=True, exist_ok=True)
    tasks = []
    for entry in entries:
        video = frame = None
        if with_media:
            try:
                copy = playable_copy(
                    Path(entry.video_path), cache, entry.sample_id, segment_of(entry.segment)
                )
                video = base + _place(copy, media, copy.name)
            except Exception as error:
                log.warning("label studio: %s: no playable copy: %s", entry.sample_id, error)
            if entry.peak_frame is not None:
                stored = store.root / entry.peak_frame.path
                if stored.is_file():
                    name = hashlib.sha256(entry.sample_id.encode()).hexdigest()[:24] + ".jpg"
                    frame = base + _place(stored, media, name)
        tasks.append(task(entry, video, frame))
    write_text_atomic(folder / CONFIG_FILE, label_config(label_set))
    path = folder / TASKS_FILE
    write_text_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    return path


def _place(source: Path, media: Path, name: str) -> str:
    """``source`` in ``media`` as ``name`` (a hard link, else a copy); returns ``name``."""
    target = media / name
    if not target.is_file():
        try:
            os.link(source, target)
        except OSError:
            target.write_bytes(source.read_bytes())
    return name


# -- reading an export ------------------------------------------------------------------------
@dataclass
class Imported:
    """What ``read_export`` did: decisions written per annotator, and what it skipped."""

    written: dict[str, int] = field(default_factory=dict)  # annotator -> decisions
    annotations: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """One Label Studio annotation of one sample, as decisions want it."""

    annotator: str
    sample_id: str
    verdict: str | None  # "accept" / "reject" / None (not given)
    label: str | None  # the label chosen; None: none chosen
    reasoning: str | None  # the text in the area; None: left empty
    transcript: str | None
    at: str  # when it was last updated (orders several annotations)


def read_export(
    path: Path,
    review_folder: Path,
    shown: dict[str, ExportEntry],
    label_set: tuple[str, ...],
) -> Imported:
    """Append the decisions of Label Studio's JSON export at ``path`` to the annotators' logs
    in ``review_folder``; ``shown`` is the export entries by sample id (the machine's
    label and texts, to tell an accept from a relabel and an edit from none)."""
    done = Imported()
    answers = list(export_answers(path, done.problems))
    done.annotations = len(answers)
    logs: dict[str, DecisionLog] = {}
    for answer in sorted(answers, key=lambda answer: answer.at):
        entry = shown.get(answer.sample_id)
        if entry is None:
            done.problems.append(f"{answer.sample_id}: not an exported sample; skipped")
            continue
        if answer.label is not None and answer.label not in label_set:
            done.problems.append(
                f"{answer.sample_id}: label {answer.label!r} is not in label_set; skipped"
            )
            continue
        if answer.annotator not in logs:
            logs[answer.annotator] = DecisionLog(review_folder, answer.annotator)
        written = _apply(logs[answer.annotator], answer, entry)
        if written:
            done.written[answer.annotator] = done.written.get(answer.annotator, 0) + written
    return done


def export_answers(path: Path, problems: list[str]) -> list[Answer]:
    """Every annotation of the export that was not cancelled, one ``Answer`` each."""
    try:
        tasks = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LabelStudioError(f"{path}: not a Label Studio JSON export ({error})") from None
    if not isinstance(tasks, list):
        raise LabelStudioError(f"{path}: a Label Studio JSON export is a list of tasks")
    answers = []
    for number, item in enumerate(tasks, 1):
        data = item.get("data") if isinstance(item, dict) else None
        sample_id = data.get("sample_id") if isinstance(data, dict) else None
        if not isinstance(sample_id, str):
            problems.append(f"{path}: task {number} has no data.sample_id; skipped")
            continue
        for annotation in item.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            values = _values(annotation.get("result") or [])
            answers.append(
                Answer(
                    annotator=annotator_name(annotation.get("completed_by")),
                    sample_id=sample_id,
                    verdict=_first(values.get("verdict", {}).get("choices")),
                    label=_first(values.get("label", {}).get("choices")),
                    reasoning=_text(values.get("reasoning", {}).get("text")),
                    transcript=_text(values.get("transcript", {}).get("text")),
                    at=str(annotation.get("updated_at") or annotation.get("created_at") or ""),
                )
            )
    return answers


def annotator_name(completed_by: Any) -> str:
    """``label-studio-<user id>`` (or the user's e-mail name, when the export gives it)."""
    if isinstance(completed_by, dict):
        email = str(completed_by.get("email") or "").split("@")[0]
        cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", email).strip(".-")
        completed_by = cleaned or completed_by.get("id")
    return f"{ANNOTATOR_PREFIX}{completed_by}"[:64]


def _values(result: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        str(item.get("from_name")): item.get("value") or {}
        for item in result
        if isinstance(item, dict)
    }


def _first(values: Any) -> str | None:
    return str(values[0]) if isinstance(values, list) and values else None


def _text(values: Any) -> str | None:
    if not isinstance(values, list) or not values:
        return None
    text = "\n".join(str(value) for value in values).strip()
    return text or None


def _apply(log: DecisionLog, answer: Answer, entry: ExportEntry) -> int:
    """The answer's decisions that change the annotator's standing; returns how many."""
    standing = log.reviews().get(answer.sample_id, SampleReview())
    written = 0
    if answer.verdict == "reject":
        if standing.verdict != "reject":
            log.append(answer.sample_id, "reject")
            written += 1
    elif answer.verdict == "accept" or answer.label is not None:
        label = answer.label or entry.label
        action = "accept" if label == entry.label else "relabel"
        if label is not None and (standing.verdict, standing.label) != ("accept", label):
            log.append(answer.sample_id, action, label=label)
            written += 1
    machine = {"reasoning": entry.smp_reason_caption or "", "transcript": entry.transcript}
    for name, text in (("reasoning", answer.reasoning), ("transcript", answer.transcript)):
        if text is None or text == machine[name].strip():
            continue
        if getattr(standing, name) != text:
            log.append(answer.sample_id, "edit", **{name: text})
            written += 1
    return written
