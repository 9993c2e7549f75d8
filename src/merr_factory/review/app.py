"""The review app over one run: its export entries, the cues the page shows beside them,
the clip's playable copy and the peak frame, and the annotator's decisions log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from merr_factory.curation.review_log import REVIEW_DIR, DecisionLog
from merr_factory.dataset.entry import ExportEntry, read_entry
from merr_factory.review.media import playable_copy
from merr_factory.review.server import LOOPBACK, ReviewApp, SampleView, make_server
from merr_factory.run.workspace import Workspace
from merr_factory.stage_data import AudioData, PeakData, UpstreamDataError, read_output

log = logging.getLogger(__name__)

EXPORT_STAGE = "export"
MEDIA_DIR = "media"  # the playable copies, under <output>/review/
# The eGeMAPS functionals the page shows (openSMILE's names), with the prosody's figures.
EGEMAPS_SHOWN = {
    "F0semitoneFrom27.5Hz_sma3nz_amean": "pitch (semitones)",
    "loudness_sma3_amean": "loudness",
    "jitterLocal_sma3nz_amean": "jitter",
    "shimmerLocaldB_sma3nz_amean": "shimmer (dB)",
    "HNRdBACF_sma3nz_amean": "HNR (dB)",
    "VoicedSegmentsPerSec": "voiced segments / s",
}
PROSODY_SHOWN = {
    "pitch_mean_hz": "pitch mean (Hz)",
    "pitch_range_st": "pitch range (st)",
    "energy_mean_db": "energy (dB)",
    "speaking_rate": "speaking rate",
    "pause_ratio": "pause ratio",
}


class ReviewError(RuntimeError):
    """Nothing to review yet; the message says why."""


def export_entries(workspace: Workspace) -> list[ExportEntry]:
    """Every sample's stored export entry, sorted by id."""
    store = workspace.store
    strings: dict[str, str] = {}
    entries = []
    for sample_id in sorted(store.sample_ids(EXPORT_STAGE)):
        record = store.load(EXPORT_STAGE, sample_id)
        if record is not None and record.status == "done":
            entries.append(read_entry(record.data, strings))
    if not entries:
        raise ReviewError(
            f"{store.root}: no exported samples to review; run the pipeline (with the export "
            "stage) first"
        )
    return entries


def open_review(workspace: Workspace, annotator: str) -> ReviewApp:
    store = workspace.store
    review_folder = workspace.config.output / REVIEW_DIR
    cache = review_folder / MEDIA_DIR

    def view(entry: ExportEntry, what: str) -> SampleView:
        shown = SampleView()
        if what == "clip":
            try:
                shown.clip = playable_copy(Path(entry.video_path), cache, entry.sample_id)
            except Exception as error:
                log.warning("review: %s: no playable copy: %s", entry.sample_id, error)
        elif what == "frame" and entry.peak_frame is not None:
            shown.frame = store.root / entry.peak_frame.path
        elif what == "cues":
            _add_cues(workspace, entry.sample_id, shown)
        return shown

    return ReviewApp(
        root=workspace.config.output,
        entries=export_entries(workspace),
        label_set=tuple(workspace.config.label_set),
        log=DecisionLog(review_folder, annotator),
        view=view,
    )


def _add_cues(workspace: Workspace, sample_id: str, shown: SampleView) -> None:
    records = workspace.store.read_records(sample_id, ["peak", "audio"])
    try:
        peak = read_output(records, PeakData)
        audio = read_output(records, AudioData)
    except UpstreamDataError as error:
        log.warning("review: %s", error)
        return
    shown.face_box = peak.face_box if peak else None
    figures: dict[str, Any] = {}
    if audio is not None and audio.prosody is not None:
        values = audio.prosody.model_dump()
        figures |= {
            name: values[key] for key, name in PROSODY_SHOWN.items() if values.get(key) is not None
        }
    if audio is not None and audio.egemaps:
        figures |= {
            name: audio.egemaps[key]
            for key, name in EGEMAPS_SHOWN.items()
            if audio.egemaps.get(key) is not None
        }
    shown.prosody = figures


def run_review(
    workspace: Workspace,
    annotator: str,
    host: str,
    port: int,
    token: str | None,
    echo: Callable[[str], None],
) -> None:
    """Serve the review app until Ctrl+C. Another address than the loopback needs a token."""
    if host not in LOOPBACK and not token:
        raise ReviewError(f"--host {host}: a non-local address needs --token (shared secret)")
    app = open_review(workspace, annotator)
    if token:
        app.token, app.require_token = token, True
    server = make_server(app, host, port)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{server.server_address[1]}/"
    echo(f"reviewing {len(app.entries)} samples as {annotator}; decisions go to {app.log.path}")
    echo(f"open {address}" + (f"?token={token}" if token else "") + "  (Ctrl+C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
