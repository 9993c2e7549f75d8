"""The review app over one run: its export entries, the cues the page shows beside them,
the clip's playable copy and the peak frame, and the annotator's decisions log."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, overload

from merr_factory.config import Config
from merr_factory.curation.review_log import REVIEW_DIR, DecisionLog
from merr_factory.dataset.entry import ExportEntry, read_entry
from merr_factory.inputs.segment import segment_of
from merr_factory.review.queue import (
    QUEUE_CACHE,
    QueueRow,
    queue_row,
    read_row_cache,
    write_row_cache,
)
from merr_factory.review.server import LOOPBACK, ReviewApp, SampleView, make_server
from merr_factory.run import resume_index
from merr_factory.run.store import Store
from merr_factory.run.workspace import open_store
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


class Workspace(NamedTuple):
    """What the review reads: the config and the output store. Not the run's workspace:
    discovering 100,000 input clips alone takes seconds, and the review needs none of it."""

    config: Config
    store: Store


def review_workspace(config: Config) -> Workspace:
    return Workspace(config, open_store(config))


class SampleEntries(Sequence[ExportEntry]):
    """The export entries of the queue's samples, read from their records when asked for
    (the latest few kept); an entry set by index replaces the record's (tests)."""

    KEEP = 64

    def __init__(self, store: Store, ids: list[str]) -> None:
        self.store, self.ids = store, ids
        self.kept: OrderedDict[int, ExportEntry] = OrderedDict()
        self.given: dict[int, ExportEntry] = {}
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> ExportEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[ExportEntry]: ...
    def __getitem__(self, index: int | slice) -> ExportEntry | list[ExportEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]  # IndexError past the end, as a list
        with self.lock:
            if index in self.given:
                return self.given[index]
            if index in self.kept:
                self.kept.move_to_end(index)
                return self.kept[index]
        entry = self._read(self.ids[index])
        with self.lock:
            self.kept[index] = entry
            while len(self.kept) > self.KEEP:
                self.kept.popitem(last=False)
        return entry

    def __setitem__(self, index: int, entry: ExportEntry) -> None:
        with self.lock:
            self.given[range(len(self))[index]] = entry

    def _read(self, sample_id: str) -> ExportEntry:
        record = self.store.load(EXPORT_STAGE, sample_id)
        if record is None or record.status != "done":
            raise ReviewError(f"{sample_id}: its export record is gone; restart the review")
        return read_entry(record.data, {})


def queue_rows(workspace: Workspace) -> list[QueueRow]:
    """A queue row per exported sample, sorted by id.

    From the queue's cache as it is while the export records folder's stamp is the one the
    cache was checked at (``queue.py``); else row by row: a cached row while its record's
    content hash (the store's index says it, without reading the record) is the one the
    row was made from, else the record is read; then the cache is written again, stamped
    when the folder was settled and did not change while it was checked."""
    store = workspace.store
    cache = workspace.config.output / REVIEW_DIR / QUEUE_CACHE
    cached = read_row_cache(cache)
    folder = store.stage_key(EXPORT_STAGE)
    stamp = store.files.stamp(folder)
    if cached is not None and stamp is not None and cached.stamp == stamp:
        return cached.rows
    settled = stamp is not None and time.time_ns() - stamp[1] >= resume_index.SEAL_AFTER_NS
    known = cached.by_id() if cached is not None else {}
    find = store.index.head_finder(EXPORT_STAGE)
    rows: list[QueueRow] = []
    hashes: list[str] = []
    strings: dict[str, str] = {}
    read = 0
    for sample_id in sorted(store.sample_ids(EXPORT_STAGE)):
        head = find(sample_id)
        if head is None or head.status != "done":
            continue
        digest = head.data_hash
        hit = known.get(sample_id)
        if hit is not None and hit[0] == digest:
            rows.append(hit[1])
        else:
            record = store.load(EXPORT_STAGE, sample_id)
            if record is None or record.status != "done":
                continue
            rows.append(queue_row(read_entry(record.data, strings)))
            digest, read = record.data_hash, read + 1
        hashes.append(digest)
    if not rows:
        raise ReviewError(
            f"{store.root}: no exported samples to review; run the pipeline (with the export "
            "stage) first"
        )
    whole = stamp if settled and store.files.stamp(folder) == stamp else None
    if cached is None or read or len(known) != len(rows) or cached.stamp != whole:
        write_row_cache(cache, rows, hashes, whole)
    return rows


def export_entries(workspace: Workspace) -> list[ExportEntry]:
    """Every sample's stored export entry, sorted by id."""
    rows = queue_rows(workspace)
    return list(SampleEntries(workspace.store, [row.sample_id for row in rows]))


def open_review(workspace: Workspace, annotator: str) -> ReviewApp:
    store = workspace.store
    review_folder = workspace.config.output / REVIEW_DIR
    cache = review_folder / MEDIA_DIR

    def view(entry: ExportEntry, what: str) -> SampleView:
        shown = SampleView()
        if what == "clip":
            from merr_factory.review.media import playable_copy  # asked for after the page

            try:
                shown.clip = playable_copy(
                    Path(entry.video_path), cache, entry.sample_id, segment_of(entry.segment)
                )
            except Exception as error:
                log.warning("review: %s: no playable copy: %s", entry.sample_id, error)
        elif what == "frame" and entry.peak_frame is not None:
            shown.frame = store.root / entry.peak_frame.path
        elif what == "cues":
            _add_cues(workspace, entry.sample_id, shown)
        return shown

    rows = queue_rows(workspace)
    return ReviewApp(
        root=workspace.config.output,
        entries=SampleEntries(store, [row.sample_id for row in rows]),
        rows=rows,
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


def exchange_review(
    workspace: Workspace,
    to: str | None,
    source: str | None,
    path: Path | None,
    media_url: str | None,
    echo: Callable[[str], None],
) -> None:
    """``--to label-studio DIR`` (tasks for Label Studio) or ``--from label-studio EXPORT``
    (its export read into the decisions logs)."""
    from merr_factory.review import label_studio  # the browser's review needs none of it

    if to is not None and source is not None:
        raise ReviewError("--to and --from: give one of them")
    if (to or source) != label_studio.FORMAT:
        raise ReviewError(f"--to / --from: the one format known is {label_studio.FORMAT}")
    if path is None:
        raise ReviewError("--to needs the folder to write, --from the export file to read")
    entries = export_entries(workspace)
    if to is not None:
        label_set = tuple(workspace.config.label_set)
        cache = workspace.config.output / REVIEW_DIR / MEDIA_DIR
        tasks = label_studio.write_tasks(
            workspace.store, label_set, entries, path, cache, media_url
        )
        echo(
            f"wrote {len(entries)} tasks to {tasks} and the labeling config "
            f"{path / label_studio.CONFIG_FILE}"
        )
        return
    folder = workspace.config.output / REVIEW_DIR
    shown = {entry.sample_id: entry for entry in entries}
    done = label_studio.read_export(path, folder, shown, tuple(workspace.config.label_set))
    for problem in done.problems:
        echo(f"warning: {problem}")
    written = ", ".join(f"{name} {count}" for name, count in sorted(done.written.items()))
    echo(
        f"read {done.annotations} annotations from {path}; decisions written to {folder}: "
        + (written or "none new")
    )


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
