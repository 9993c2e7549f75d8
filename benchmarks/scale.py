"""The bookkeeping at scale (``python -m benchmarks --scale-samples N``): N synthetic done samples
through the real stages, then the export, the no-op re-run, ``status`` and the report.

Set-up. N hard links of one bundled clip are the input, with a MER2023-style label CSV. Every
per-sample stage of the real pipeline (ingest ... label: the sample config's settings, the
features stage off as by default) gets one done record per sample, shaped as its output model
says (``stage_data.py``), with the fingerprint the real planner expects and its files (hard
links of one real peak frame and face, wav and frames CSV). Records are written where and as
``Store.save`` writes them, less the fsync (a million fsyncs take most of an hour on a small
VM), by two processes, each a share of the samples; their heads go into the store's resume
index as a run would leave it. That is about ten times quicker than running a million light
records through the runner (a work folder, a process hop and an fsync each), which is not
what is measured.

Measured, each in a fresh ``merr-build`` process (its own peak memory, ``VmHWM``): see
``measure_scale``; the report is opened in headless Chromium until its first sample cards
are on the page.

The review's opening alone, over a set-up kept for the next measurement (``measure_review``)::

    python -m benchmarks.scale /dev/shm/review-bench --samples 100000 --runs 3
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
import wave
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import yaml

from benchmarks.common import CHILD_REPORTING_PEAK, CLIPS, SAMPLE_CONFIG
from merr_factory.config import load_config
from merr_factory.curation.review_log import REVIEW_DIR
from merr_factory.media.probe import probe_media
from merr_factory.review.queue import QUEUE_CACHE
from merr_factory.run.planning import Planner
from merr_factory.run.records import Artifact, Record, digest
from merr_factory.run.resume_index import RECHECK_SHARE
from merr_factory.run.workspace import Workspace, open_workspace
from merr_factory.stage_data import (
    AsrData,
    AsrSegmentData,
    AudioData,
    Candidate,
    DecodeCheck,
    FacesData,
    FeaturesData,
    FilterData,
    IngestData,
    LabelData,
    LLMInfo,
    PeakData,
    Prosody,
    StageOutput,
    SynthesizeData,
    VisualData,
)

log = logging.getLogger(__name__)

CLIP = CLIPS / "sample_00000001.mp4"

LABELS = ("happy", "sad", "angry", "worried", "surprise", "neutral", "fear", "doubt", "contempt")
TIERS = ("coarse", "fine", "fine", "coarse", "rejected")
RULE_AUS = {
    "happy": ["AU06", "AU12"],
    "sad": ["AU01", "AU04", "AU15"],
    "angry": ["AU04", "AU05", "AU07", "AU23"],
    "worried": ["AU01", "AU04", "AU20"],
    "surprise": ["AU01", "AU02", "AU05", "AU26"],
    "neutral": [],
    "fear": ["AU01", "AU02", "AU04", "AU05", "AU20"],
    "doubt": ["AU04", "AU14"],
    "contempt": ["AU14"],
}
PHRASES = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU12": "lip corner puller", "AU14": "dimpler", "AU15": "lip corner depressor",
    "AU20": "lip stretcher", "AU23": "lip tightener", "AU25": "lips part", "AU26": "jaw drop",
}  # fmt: skip
TONES = ("joyful", "sad", "angry", "worried", "surprised", "calm", "fearful", "doubtful")
SENTENCE = (
    "the speaker glances aside before answering and her voice rises at the end of the "
    "sentence while the brows draw together and the lips press into a thin line as she "
    "recalls what happened at the station that morning with her brother and the tickets"
)
WORDS = tuple(SENTENCE.split())
VOCABULARY = tuple(
    f"{word}{suffix}" for word in WORDS for suffix in ("", "s", "ed", "ly", "ing", "er")
)
PER_SAMPLE_STAGES = (
    "ingest", "filter", "faces", "peak", "audio", "asr", "features", "visual", "synthesize",
    "label",
)  # fmt: skip


@dataclass(frozen=True)
class Media:
    """One real file per artifact kind, hard-linked for every sample."""

    files: dict[str, Path]  # artifact name -> file
    described: dict[str, Artifact]  # artifact name -> its size and hash


def make_media(folder: Path) -> Media:
    """A peak frame and face cut from the clip, a 16 kHz wav and a frames CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / name for name in ARTIFACTS_OF_ALL}
    with av.open(str(CLIP)) as container:
        image = next(container.decode(video=0)).to_image()
    image.save(files["peak_frame.jpg"], format="JPEG", quality=90)
    image.crop((160, 40, 320, 200)).save(files["peak_face.jpg"], format="JPEG", quality=90)
    with wave.open(str(files["audio.wav"]), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.sin(np.arange(16000 * 4) / 9.0) * 3000).astype("<i2").tobytes())
    rows = ["frame,time,face,AU12_r"] + [f"{i},{i / 5:.1f},1,1.5" for i in range(23)]
    files["frames.csv"].write_text("\n".join(rows) + "\n")
    return describe_media(folder)


def describe_media(folder: Path) -> Media:
    """The files ``make_media`` wrote, with their sizes and hashes."""
    files = {name: folder / name for name in ARTIFACTS_OF_ALL}
    described = {
        name: Artifact(
            path=name,
            size=path.stat().st_size,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for name, path in files.items()
    }
    return Media(files=files, described=described)


ARTIFACTS = {
    "faces": ("frames.csv",),
    "peak": ("peak_face.jpg", "peak_frame.jpg"),
    "audio": ("audio.wav",),
}
ARTIFACTS_OF_ALL = tuple(name for names in ARTIFACTS.values() for name in names)


def link_clips(folder: Path, samples: int) -> Path:
    """``samples`` hard links of the bundled clip: ``clip_000000.mp4``, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    original = folder.parent / CLIP.name  # on this disk: links cannot cross file systems
    if not original.exists():
        shutil.copyfile(CLIP, original)
    for index in range(samples):
        link = folder / f"clip_{index:06d}.mp4"
        if not link.exists():
            os.link(original, link)
    return folder


def write_labels(path: Path, samples: int) -> Path:
    """A MER2023-style label CSV for the linked clips."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "discrete", "valence"])
    for index in range(samples):
        label = LABELS[index % len(LABELS)]
        writer.writerow([f"clip_{index:06d}", label, round((index % 11) / 2 - 2.5, 1)])
    path.write_text(buffer.getvalue())
    return path


def write_config(root: Path, clips: Path, labels: Path) -> Path:
    """The sample config on the linked clips (every stage's settings as the demo's)."""
    raw = yaml.safe_load(SAMPLE_CONFIG.read_text())
    raw.update(
        input=str(clips),
        labels=str(labels),
        output=str(root / "out"),
        executor={"kind": "local", "workers": 2, "threads_per_worker": 1},
    )
    raw["stages"]["features"] = {"backend": "none"}  # the default: no feature files
    path = root / "scale.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


class DoneSet:
    """Writes a done record of each per-sample stage for every sample of a workspace (or
    every ``step``-th sample from ``first``: set-up runs in several processes)."""

    def __init__(self, workspace: Workspace, media: Media) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.media = media
        self.planner = Planner(
            workspace.stages, workspace.store, workspace.labels, workspace.samples
        )
        self.templates = stage_templates(probe_media(CLIP, "video"))

    def write(self, stages: tuple[str, ...], first: int = 0, step: int = 1) -> None:
        for stage in stages:
            os.makedirs(f"{self.store.root}/stages/{stage}", exist_ok=True)
            artifacts = [self.media.described[name] for name in ARTIFACTS.get(stage, ())]
            listed = [artifact.model_dump() for artifact in artifacts]
            indexes = range(first, len(self.workspace.samples), step)
            self.planner.plan([stage], [self.workspace.samples[index] for index in indexes])
            for index in indexes:
                source = self.workspace.samples[index]
                verdict = self.planner.verdict(stage, source)
                fingerprint = verdict.expected
                assert fingerprint is not None, f"{stage}/{source.id}: {verdict.reason}"
                data = sample_data(stage, index, source.id, source.relpath, self.templates[stage])
                document = {
                    "format": 1, "stage": stage, "sample": source.id, "status": "done",
                    "fingerprint": fingerprint, "data": data,
                    "data_hash": digest({"data": data, "halt": [], "artifacts": listed}),
                    "provenance": {}, "halt": [], "artifacts": listed, "error": None,
                    "created_at": "2026-01-01T00:00:00+00:00", "seconds": 0.01,
                    "cpu_seconds": 0.01,
                }  # fmt: skip
                self._link_artifacts(stage, source.id)
                signature = self._save(stage, source.id, document)
                record = Record.model_construct(**{**document, "artifacts": artifacts})
                if index == first:
                    _check(stage, source.id, self.workspace)
                self.planner.remember(record, signature)
            self.store.index.flush()

    def _link_artifacts(self, stage: str, sample_id: str) -> None:
        names = ARTIFACTS.get(stage, ())
        if not names:
            return
        folder = f"{self.store.root}/stages/{stage}/{sample_id}"
        os.mkdir(folder)
        for name in names:
            os.link(self.media.files[name], f"{folder}/{name}")

    def _save(self, stage: str, sample_id: str, document: dict[str, Any]) -> tuple[int, int]:
        """Where ``Store.save`` writes a record, without the fsync (and compact JSON)."""
        path = f"{self.store.root}/{self.store.record_key(stage, sample_id)}"
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(handle, json.dumps(document, ensure_ascii=False).encode())
        finally:
            os.close(handle)
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns


def _check(stage: str, sample_id: str, workspace: Workspace) -> None:
    """A stage's first record, read back as the store reads records: it must load, verify,
    and hold its stage's output model."""
    record = workspace.store.load(stage, sample_id)
    assert record is not None, f"{stage}/{sample_id}: the synthetic record does not verify"
    model = workspace.stages[stage].output_model
    assert model is not None
    model.model_validate(record.data)


def stage_templates(probe: Any) -> dict[str, dict[str, Any]]:
    """Each stage's data for a typical sample, checked against its output model once."""
    models: dict[str, StageOutput] = {
        "ingest": IngestData(
            source="clip.mp4", name="clip", kind="video", size_bytes=1, probe=probe,
            label="happy", valence=1.0, label_status="labelled",
        ),
        "filter": FilterData(
            keep=True, reasons=[], decode=DecodeCheck(mode="packets", ok=True, frames_read=110)
        ),
        "faces": FacesData(
            backend="dlib", model="hog+68-landmarks", sample_fps=5.0, frames_total=110,
            frames_analysed=23, frames_with_face=23, face_ratio=1.0,
            au_names=sorted(PHRASES), main_face="persistent", faces_max=1, width=480, height=270,
        ),
        "peak": PeakData(
            peak_index=48, peak_time=2.0, peak_intensities={au: 1.5 for au in PHRASES},
            peak_AU_list=["AU06", "AU12"], au_sum=19.5, face_box=[160.0, 40.0, 160.0, 160.0],
            summed_aus=sorted(PHRASES),
        ),
        "audio": AudioData(
            has_audio=True, silent=False, duration=4.6,
            prosody=Prosody(
                pitch_mean_hz=182.5, pitch_range_hz=96.1, pitch_std_hz=22.4,
                energy_mean_db=-24.1, energy_std_db=6.3, speaking_rate=3.9, pause_ratio=0.18,
                voiced_ratio=0.61, pitch_range_st=8.4, pitch_cv=0.12, pitch_end_z=0.8,
                speech_seconds=3.7,
            ),
            speech_segments=[(0.25, 2.1), (2.4, 4.2)], tone="joyful",
            tone_phrase="speaks in a bright, lively voice", tone_source="prosody",
            tone_cues=["high pitch", "wide pitch range"], tone_rule=2, peak_db=-3.1,
            rms_db=-24.1, egemaps={f"F0semitoneFrom27.5Hz_sma3nz_{i}": 0.5 + i for i in range(88)},
        ),
        "asr": AsrData(
            backend="faster-whisper", model="tiny.en", text="I cannot believe it.",
            language="en", segments=[AsrSegmentData(start=0.25, end=4.2, text="I cannot.")],
            text_en="I cannot believe it.", confidence=0.82, language_probability=0.97,
        ),
        "features": FeaturesData(backend="none"),
        "visual": VisualData(
            peak_AU_list=["AU06", "AU12"], peak_index=48,
            au_phrases={"AU06": "cheek raiser", "AU12": "lip corner puller"},
            rule_support={"happy": ["AU06", "AU12"]},
            candidates=[Candidate(emotion="happy", score=1.0)], reference_label="happy",
            AU_list=["AU06", "AU12"], visual_prior_list=["cheek raiser", "lip corner puller"],
            visual_objective=None, label_source="csv",
        ),
        "synthesize": SynthesizeData(
            caption="x", smp_reason_caption="y", open_label="happy", open_reasoning="z",
            llm=LLMInfo(backend="llamacpp", model="smollm2-135m", prompt_version="3"),
            reasoning_label="happy",
        ),
        "label": LabelData(
            label="happy", label_source="csv", valence=1.0, tier="fine", reasons=[],
            au_rule_agrees=True, llm_agrees=None, votes={"csv": "happy", "au_rule": "happy"},
        ),
    }  # fmt: skip
    return {stage: model.model_dump(mode="json") for stage, model in models.items()}


def _reasoning(index: int) -> str:
    """A text of its own per sample (every 50th repeats the one before, as LLMs do)."""
    seed = index - 1 if index % 50 == 7 else index
    picks = np.random.default_rng(seed).integers(0, len(VOCABULARY), size=40)
    return " ".join(VOCABULARY[pick] for pick in picks) + "."


def sample_data(
    stage: str, index: int, sample_id: str, relpath: str, template: dict[str, Any]
) -> dict[str, Any]:
    """The template with the fields that differ between samples filled in."""
    data = dict(template)
    label = LABELS[index % len(LABELS)]
    aus = sorted({*RULE_AUS[label], "AU25"})
    if stage == "ingest":
        data.update(source=relpath, name=sample_id, label=label,
                    valence=round((index % 11) / 2 - 2.5, 1))  # fmt: skip
    elif stage == "peak":
        data.update(peak_index=index % 100, peak_AU_list=aus)
    elif stage == "audio":
        data.update(tone=TONES[index % len(TONES)],
                    tone_phrase=f"speaks in a {TONES[index % len(TONES)]} voice")  # fmt: skip
    elif stage == "asr":
        text = f"Clip {index}: I cannot believe we finally won the game, this is wonderful."
        data.update(text=text, text_en=text,
                    segments=[{"start": 0.25, "end": 4.2, "text": text}])  # fmt: skip
    elif stage == "visual":
        rule = RULE_AUS[label]
        data.update(
            peak_AU_list=aus, peak_index=index % 100,
            au_phrases={au: PHRASES[au] for au in aus}, rule_support={label: rule},
            candidates=[{"emotion": label, "score": 1.0}], reference_label=label,
            AU_list=rule, visual_prior_list=[PHRASES[au] for au in rule],
        )  # fmt: skip
    elif stage == "synthesize":
        data.update(
            caption=f"In clip {index} the person shows {label} cues and speaks clearly.",
            smp_reason_caption=_reasoning(index), open_label=label, reasoning_label=label,
        )  # fmt: skip
    elif stage == "label":
        tier = TIERS[index % len(TIERS)]
        reasons = [] if tier == "fine" else [{"code": "au_rule_disagrees", "message": "no"}]
        data.update(label=label, tier=tier, reasons=reasons,
                    au_rule_agrees=tier != "rejected",
                    votes={"csv": label, "au_rule": label})  # fmt: skip
    return data


def _write_share(config_path: Path, media_folder: Path, share: int, shares: int) -> None:
    """One process's share of the samples, for every stage before the whole-set one; its
    index entries go to files of its own (merged by the next run, as shards' are)."""
    workspace = open_workspace(load_config(config_path))
    workspace.store.index.write_as(f"setup-{share}-of-{shares}")
    DoneSet(workspace, describe_media(media_folder)).write(PER_SAMPLE_STAGES[:-1], share, shares)


def build_done_set(root: Path, samples: int, processes: int = 2) -> Path:
    """Input, labels, config and every per-sample stage's done records; returns the config.

    The stages before label are written by ``processes`` processes, each a share of the
    samples; label (whose de-duplication reads every sample's reasoning) by this one."""
    start = time.perf_counter()
    clips = link_clips(root / "clips", samples)
    labels = write_labels(root / "labels.csv", samples)
    config_path = write_config(root, clips, labels)
    make_media(root / "media")
    log.info("set-up: %d clips linked in %.1f s", samples, time.perf_counter() - start)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        shares = [
            pool.submit(_write_share, config_path, root / "media", share, processes)
            for share in range(processes)
        ]
        for share in shares:
            share.result()
    log.info("set-up: records up to synthesize after %.1f s", time.perf_counter() - start)
    workspace = open_workspace(load_config(config_path))
    DoneSet(workspace, describe_media(root / "media")).write(PER_SAMPLE_STAGES[-1:])
    log.info("set-up: done after %.1f s", time.perf_counter() - start)
    return config_path


# -- measuring ---------------------------------------------------------------------------

GOALS = {  # figure -> (goal, unit): every figure must stay below its goal
    "noop_rerun_s": (10.0, "s"),
    "status_s": (10.0, "s"),
    "verify_s": (180.0, "s"),
    "main_peak_mb": (1024.0, "MB"),
    "export_s": (60.0, "s"),
    "report_open_s": (5.0, "s"),
    "review_open_s": (2.0, "s"),
    "review_next_ms": (150.0, "ms"),
}


@dataclass(frozen=True)
class Command:
    """One ``merr-build`` run in a fresh process: its wall time, peak memory and output."""

    seconds: float
    peak_mb: float | None
    output: str


def merr_build(*arguments: str) -> Command:
    """Run ``merr-build ARGUMENTS`` in a child process; raises if it fails."""
    command = [sys.executable, "-c", CHILD_REPORTING_PEAK, *arguments]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"merr-build {' '.join(arguments)} exited {done.returncode}: "
                           f"{done.stderr.strip()[-2000:]}")  # fmt: skip
    found = re.search(r"VmHWM_kB=(\d+)", done.stderr)
    peak = round(int(found.group(1)) / 1024, 1) if found else None
    return Command(seconds=seconds, peak_mb=peak, output=done.stdout)


def with_setting(config_path: Path, name: str, **export: Any) -> Path:
    """A copy of the config with some export settings changed."""
    raw = yaml.safe_load(config_path.read_text())
    raw["stages"]["export"].update(export)
    path = config_path.with_name(name)
    path.write_text(yaml.safe_dump(raw))
    return path


CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--dump-dom",
)  # fmt: skip


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_report(page: Path, profile: Path) -> dict[str, Any]:
    """Open the report in headless Chromium until its first rows are on the page: the wall
    time of the browser (a fresh browser process and profile, so an upper bound), the page's
    own time from opening to its first rows, and how many sample cards it shows.

    The browser first opens a blank page once: its own cold start (reading a 200 MB program
    from disk, 6-11 s here after the 100k set-up pushed it out of the page cache) is not the
    report's cost; that first start is reported beside (``browser_cold_start_s``)."""
    browser = chromium()
    if browser is None:
        return {"report_open_s": None, "note": "no chromium: the report was not opened"}
    blank = profile.parent / "blank.html"
    blank.write_text("<!doctype html><title>blank</title>\n")
    cold = _browse(browser, profile.parent / "blank-profile", blank)
    done = _browse(browser, profile, page)
    seconds = done.seconds
    first = re.search(r'data-first-rows-ms="(\d+)"', done.stdout)
    return {
        "browser_cold_start_s": round(cold.seconds, 2),
        "report_open_s": round(seconds, 2),
        "report_first_rows_ms": int(first.group(1)) if first else None,
        "report_cards_shown": done.stdout.count('<article class="sample'),
    }


@dataclass
class _Browsed:
    stdout: str
    seconds: float


def _browse(browser: str, profile: Path, page: Path) -> _Browsed:
    """Chromium's DOM of ``page`` once its scripts ran, and the wall seconds it took."""
    command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", page.as_uri()]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    return _Browsed(done.stdout, time.perf_counter() - start)


def open_review(config: Path, presses: int = 5, runs: int = 1) -> dict[str, Any]:
    """``merr-build review`` over the run, in headless Chromium (Playwright, Debian's
    browser), twice per run: the first start reads every export record once into the
    queue's cache (removed before each run); the second is the queue's opening time (the
    goal): from starting the command to the first sample on the page. Then ``j`` is pressed
    ``presses`` times: the slowest time from the key to the next sample on the page is the
    goal's figure (the median beside). Over several runs the goals' figures are the slowest
    run's, and every run's figures are listed beside."""
    browser = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser = None
    if browser is None:
        return {"review_open_s": None, "review_note": "no chromium or playwright"}
    cache = load_config(config).output / REVIEW_DIR / QUEUE_CACHE
    firsts, opens, slowest, medians = [], [], [], []
    with sync_playwright() as driver:
        chrome = driver.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        try:
            for _ in range(runs):
                cache.unlink(missing_ok=True)
                first, _ = _review_page(chrome, config, 0)
                second, steps = _review_page(chrome, config, presses)
                firsts.append(round(first, 2))
                opens.append(round(second, 2))
                slowest.append(round(max(steps)))
                medians.append(round(sorted(steps)[len(steps) // 2]))
        finally:
            chrome.close()
    results: dict[str, Any] = {
        "review_first_open_s": max(firsts),
        "review_open_s": max(opens),
        "review_next_ms": max(slowest),
        "review_next_median_ms": max(medians),
    }
    if runs > 1:
        results["review_runs"] = {
            "first_open_s": firsts,
            "open_s": opens,
            "next_ms": slowest,
            "next_median_ms": medians,
        }
    return results


def _review_page(chrome: Any, config: Path, presses: int) -> tuple[float, list[float]]:
    """Seconds from starting ``merr-build review`` to its first sample shown, and the
    milliseconds of each ``j`` to the next sample shown."""
    command = [sys.executable, "-m", "merr_factory", "review", "--config", str(config)]
    command += ["--annotator", "bench", "--port", "0"]
    start = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        address = ""
        while not address and server.stdout is not None:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError("merr-build review ended before serving")
            found = re.search(r"open (http://\S+)", line)
            address = found.group(1) if found else ""
        context = chrome.new_context(bypass_csp=True)  # Playwright's waits evaluate strings
        page = context.new_page()
        page.goto(address)
        page.wait_for_function("document.body.dataset.sample", timeout=120_000)
        opened = time.perf_counter() - start
        steps = []
        for _ in range(presses):
            before = page.evaluate("document.body.dataset.sample")
            page.wait_for_timeout(300)  # as a person does: the prefetch of the next one ran
            pressed = time.perf_counter()
            page.keyboard.press("j")
            page.wait_for_function(f"document.body.dataset.sample !== {json.dumps(before)}")
            steps.append((time.perf_counter() - pressed) * 1000)
        context.close()
        return opened, steps
    finally:
        server.terminate()
        server.wait(timeout=30)


RAM_DISK = Path("/dev/shm")
BYTES_PER_SAMPLE = 50_000  # what the set-up and the exports take, with room to spare
INODES_PER_SAMPLE = 25


def default_scale_dir(samples: int) -> Path | None:
    """A RAM disk when it has room for ``samples`` (creating two million files on a busy
    small VM's disk can take half an hour), else None: the system's temporary folder."""
    try:
        space = os.statvfs(RAM_DISK)
    except OSError:
        return None
    enough = space.f_bavail * space.f_frsize >= samples * BYTES_PER_SAMPLE
    return RAM_DISK if enough and space.f_favail >= samples * INODES_PER_SAMPLE else None


def measure_scale(root: Path, samples: int) -> dict[str, Any]:
    """Build the done set, then time the export, the no-op re-runs, status and the report.

    In order: the first export (every entry gathered, then every file written); the first
    re-run after it (it checks each record the export wrote, seals that stage and writes
    the plan memo); an export after an export setting changed (the entries are current:
    every file is written anew); the no-op re-run (with its random re-check of sealed
    records); ``status``; ``verify`` (every record and file read again); the report."""
    start = time.perf_counter()
    config = build_done_set(root, samples)
    results: dict[str, Any] = {"samples": samples, "setup_s": round(time.perf_counter() - start, 1)}
    first = merr_build("export", "--config", str(config), "--quiet")
    first_rerun = merr_build("run", "--config", str(config), "--quiet")
    renamed = with_setting(config, "scale-renamed.yaml", pretty_name="merr-factory at scale")
    export = merr_build("export", "--config", str(renamed), "--quiet")
    noop = merr_build("run", "--config", str(renamed), "--quiet")
    status = merr_build("status", "--config", str(renamed))
    verify = merr_build("verify", "--config", str(renamed))
    counts = _run_counts(noop.output)
    results.update(
        export_with_entries_s=round(first.seconds, 1),
        first_rerun_s=round(first_rerun.seconds, 1),
        export_s=round(export.seconds, 1),
        noop_rerun_s=round(noop.seconds, 2),
        noop_stages=len(counts),
        noop_all_skipped=bool(counts) and all(skipped == samples for skipped in counts.values()),
        status_s=round(status.seconds, 2),
        status_done=_status_done(status.output),
        verify_s=round(verify.seconds, 1),
        verify_checked=_verify_checked(verify.output),
        recheck_share=RECHECK_SHARE,
        peaks_mb={
            "export_with_entries": first.peak_mb,
            "first_rerun": first_rerun.peak_mb,
            "export": export.peak_mb,
            "noop_rerun": noop.peak_mb,
            "status": status.peak_mb,
            "verify": verify.peak_mb,
        },
    )
    results["main_peak_mb"] = max(peak or 0.0 for peak in results["peaks_mb"].values())
    results.update(open_report(root / "out" / "export" / "report.html", root / "chromium"))
    results.update(open_review(renamed))
    return results


def _status_done(table: str) -> dict[str, int]:
    """Each stage's ``done`` count, from the table ``merr-build status`` prints."""
    return {
        cells[0]: int(cells[1])
        for cells in (line.split() for line in table.splitlines())
        if len(cells) >= 7 and cells[1].isdigit()
    }


def _verify_checked(table: str) -> int:
    """The records ``merr-build verify`` checked, from the line that ends its report."""
    found = re.search(r"(\d+) records checked: no damage", table)
    return int(found.group(1)) if found else 0


def _run_counts(summary: str) -> dict[str, int]:
    """Each stage's ``skipped`` count, from the summary table ``merr-build run`` prints."""
    counts = {}
    for line in summary.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[1].isdigit() and cells[2].isdigit():
            counts[cells[0]] = int(cells[2])
    return counts


def render_scale(results: dict[str, Any]) -> str:
    """What the goals table (``goals.py``) does not show: where it was built, the set-up,
    the first export and re-run, each run's peak memory and the page's own timing."""
    lines = [f"bookkeeping at {results['samples']:,} samples"]
    lines += [
        "",
        f"- built in {results.get('where', 'the temporary folder')}; set-up (not a goal): "
        f"{results['setup_s']} s; the first export, which gathers every entry too: "
        f"{results['export_with_entries_s']} s; the first re-run after it, which checks every "
        f"record the export wrote: {results['first_rerun_s']} s",
        f"- each run re-reads {results.get('recheck_share', 0):.1%} of the sealed records at "
        f"random; `verify` read {results.get('verify_checked', 0):,} records and their files",
        "- peak memory per run (MB): "
        + ", ".join(f"{name} {peak}" for name, peak in results["peaks_mb"].items()),
        f"- the page's own time to its first rows: {results.get('report_first_rows_ms')} ms "
        f"({results.get('report_cards_shown')} cards shown); the browser's own cold start "
        f"before it, on a blank page: {results.get('browser_cold_start_s')} s",
        f"- the review queue's first start, which reads every export record into its cache: "
        f"{results.get('review_first_open_s')} s; the next sample's median time: "
        f"{results.get('review_next_median_ms')} ms",
    ]
    return "\n".join(lines)


def measure_review(root: Path, samples: int, runs: int = 3) -> dict[str, Any]:
    """The review's opening alone (``open_review``, ``runs`` times) over the done set and one
    export at ``root``: built when ``root`` holds none yet, else reused (the set-up takes a
    minute and a half at 100,000 samples on a RAM disk). Remove ``root`` when done."""
    config = root / "scale.yaml"
    exported = root / "exported"  # written once the export finished
    if not exported.exists():
        start = time.perf_counter()
        build_done_set(root, samples)
        merr_build("export", "--config", str(config), "--quiet")
        exported.write_text(f"{samples}\n")
        log.info("set-up and export: %.1f s", time.perf_counter() - start)
    built = int(exported.read_text())
    if built != samples:
        raise RuntimeError(f"{root} holds {built} samples, not {samples}: use another folder")
    return {"samples": samples, "runs": runs, **open_review(config, runs=runs)}


def main() -> None:
    """``python -m benchmarks.scale ROOT [--samples N] [--runs R]``: ``measure_review``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=main.__doc__)
    parser.add_argument("root", type=Path, help="where the done set is (built if missing)")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arguments.root.mkdir(parents=True, exist_ok=True)
    results = measure_review(arguments.root, arguments.samples, arguments.runs)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
