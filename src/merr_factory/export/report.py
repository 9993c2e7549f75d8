"""``report.html``: a static page to browse the samples, no server needed.

The samples are embedded as JSON and rendered by the page's own script (peak frame, AUs,
tone, transcript, caption, reasoning, label, tier), with filters by label and tier that also
read the URL fragment (``report.html#label=happy&tier=fine``). All text from clips is set as
text, never as HTML, and the embedded JSON cannot close its script element.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..quality.report import QualityReport
from .entry import ExportEntry
from .features import PLACEHOLDER_NOTE
from .media import ExportMedia
from .quality_section import quality_html

REPORT_FILE = "report.html"


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
    """JSON that is safe inside a <script> element: no "<", ">" or "&" appear literally."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_report(
    entries: list[ExportEntry],
    media: ExportMedia,
    title: str,
    quality: QualityReport | None = None,
    plots: bool = False,
) -> str:
    """The page; ``quality``: its "Quality" section (with the PNGs when ``plots``)."""
    template = resources.files(__package__).joinpath("templates/report.html").read_text("utf-8")
    rows = [report_row(entry, media) for entry in sorted(entries, key=lambda e: e.sample_id)]
    page = template.replace("__TITLE__", html.escape(title))
    placeholders = any(entry.placeholder_features for entry in entries)
    notice = f'<p class="notice"><strong>{html.escape(PLACEHOLDER_NOTE)}</strong></p>'
    page = page.replace("__NOTICE__", notice if placeholders else "")
    section = quality_html(quality, plots) if quality is not None else ""
    page = page.replace("__QUALITY__", section)
    return page.replace("__DATA__", embedded_json(rows))


def write_report(
    entries: list[ExportEntry],
    media: ExportMedia,
    folder: Path,
    title: str,
    quality: QualityReport | None = None,
    plots: bool = False,
) -> Path:
    path = folder / REPORT_FILE
    path.write_text(render_report(entries, media, title, quality, plots), "utf-8")
    return path
