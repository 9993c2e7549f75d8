"""``report.html``: a static page to browse the samples, no server needed.

The page holds the summary (how many samples of each label and tier, overall and in each
chunk); the samples themselves are in chunk files beside it, ``report/rows-NNNN.js``, each
a script that hands its rows to the page. The page loads a chunk by adding a ``<script>``
element (a ``fetch`` of a local file is refused on ``file://``, a script is not), only when
it needs its rows: the first ones at once, more as the user scrolls or asks for more, and
for a filter only the chunks that hold matching samples (the summary says which). So a
report of 100k samples opens as quickly as one of a thousand.

Rows are rendered by the page's own script (peak frame, AUs, tone, transcript, caption,
reasoning, label, tier), with filters by label and tier that also read the URL fragment
(``report.html#label=happy&tier=fine``). All text from clips is set as text, never as
HTML, and no JSON the page or a chunk holds can close a script element.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from merr_factory.dataset.entry import ExportEntry
from merr_factory.export.features import PLACEHOLDER_NOTE
from merr_factory.export.media import ExportMedia
from merr_factory.export.quality_section import quality_html
from merr_factory.quality.report import QualityReport

REPORT_FILE = "report.html"
ROWS_DIR = "report"  # the chunk files, beside the page
CHUNK_ROWS = 500
COUNT_KEY_SEPARATOR = "|"  # "label|tier" keys of the summary's counts (no label holds "|")


def report_row(entry: ExportEntry, media: ExportMedia) -> dict[str, Any]:
    reasons = "; ".join(reason.message or reason.code for reason in entry.reasons)
    return {
        "sample_id": entry.sample_id,
        "name": entry.name,
        "label": entry.label,
        "tier": entry.tier,
        "reasons": reasons,
        "peak_frame": media.frame(entry),
        "peak_aus": " ".join(entry.peak_AU_list),
        "aus": " ".join(
            f"{au} ({phrase})"
            for au, phrase in zip(entry.AU_list, entry.visual_prior_list, strict=False)
        ),
        "tone": entry.audio_prior or entry.tone,
        "transcript": entry.transcript,
        "caption": entry.caption,
        "reasoning": entry.smp_reason_caption,
    }


def embedded_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no "<", ">" or "&" appear literally
    (nor the two line separators old JavaScript engines refuse inside a string)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def count_key(label: str | None, tier: str) -> str:
    return f"{label or ''}{COUNT_KEY_SEPARATOR}{tier}"


def chunk_file(index: int) -> str:
    return f"{ROWS_DIR}/rows-{index:04d}.js"


def report_chunks(
    entries: list[ExportEntry], media: ExportMedia, chunk_rows: int = CHUNK_ROWS
) -> Iterator[tuple[dict[str, Any], str]]:
    """Each chunk's entry in the page's summary and the text of its file (rows in sample
    order), one chunk at a time."""
    ordered = sorted(entries, key=lambda entry: entry.sample_id)
    for index, start in enumerate(range(0, len(ordered), chunk_rows)):
        part = ordered[start : start + chunk_rows]
        counts = Counter(count_key(entry.label, entry.tier) for entry in part)
        rows = embedded_json([report_row(entry, media) for entry in part])
        chunk = {"file": chunk_file(index), "counts": dict(sorted(counts.items()))}
        yield chunk, f"window.__merrReport.add({index},{rows});\n"


def render_page(
    entries: list[ExportEntry],
    chunks: list[dict[str, Any]],
    title: str,
    quality: QualityReport | None = None,
    plots: bool = False,
) -> str:
    """The page's HTML, with the summary of its ``chunks``; ``quality``: its "Quality"
    section (with the PNGs when ``plots``)."""
    template = resources.files(__package__).joinpath("templates/report.html").read_text("utf-8")
    labels = sorted({entry.label for entry in entries if entry.label})
    summary = {"total": len(entries), "labels": labels, "chunks": chunks}
    page = template.replace("__TITLE__", html.escape(title))
    placeholders = any(entry.placeholder_features for entry in entries)
    notice = f'<p class="notice"><strong>{html.escape(PLACEHOLDER_NOTE)}</strong></p>'
    page = page.replace("__NOTICE__", notice if placeholders else "")
    section = quality_html(quality, plots) if quality is not None else ""
    page = page.replace("__QUALITY__", section)
    return page.replace("__DATA__", embedded_json(summary))


def write_report(
    entries: list[ExportEntry],
    media: ExportMedia,
    folder: Path,
    title: str,
    quality: QualityReport | None = None,
    plots: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> Path:
    """Write ``report.html`` and its chunk files into ``folder``; returns the page's path."""
    (folder / ROWS_DIR).mkdir(exist_ok=True)
    chunks = []
    for chunk, text in report_chunks(entries, media, chunk_rows):
        (folder / chunk["file"]).write_text(text, "utf-8")
        chunks.append(chunk)
    path = folder / REPORT_FILE
    path.write_text(render_page(entries, chunks, title, quality, plots), "utf-8")
    return path
