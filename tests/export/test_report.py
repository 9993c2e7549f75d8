"""The HTML report, opened in headless Chromium: the page's own script renders the samples
from the embedded JSON, so the rendered count proves the JavaScript ran."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import merr_factory.cli as cli
from merr_factory.export.media import ExportMedia
from merr_factory.export.report import render_report
from merr_factory.workspace import open_workspace

from .conftest import ExportRun, copy_clips, run_export, write_export_config
from .stand_ins import ALL_STAGES, with_stand_ins
from .test_merr import entry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian package 'chromium' is not installed (make setup adds it)"
)


def rendered_dom(page: Path, fragment: str, profile: Path) -> str:
    """The DOM after the page's scripts ran, as headless Chromium serialises it."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def shown(dom: str) -> tuple[int, int]:
    """(the count the page reports, the number of sample cards in the DOM)."""
    match = re.search(r'id="count" data-count="(\d+)"', dom)
    assert match, "the page's script did not run"
    return int(match.group(1)), dom.count('<article class="sample')


@needs_chromium
def test_report_renders_every_sample_and_filters(export_run: ExportRun, tmp_path: Path) -> None:
    page = export_run.export / "report.html"
    dom = rendered_dom(page, "", tmp_path / "profile")
    assert shown(dom) == (6, 6)
    assert "lip corner puller" in dom and "speaks in a joyful voice" in dom
    images = re.findall(r'<img src="([^"]+)"', dom)
    frames = [src for src in images if src.startswith("frames/")]
    assert len(frames) == 5  # samplenew_00000004 has no face
    assert len(images) == 5 + 5  # and the Quality section's plots
    assert all((export_run.export / src).is_file() for src in images)
    assert shown(rendered_dom(page, "#tier=fine", tmp_path / "profile")) == (2, 2)
    assert shown(rendered_dom(page, "#label=happy&tier=coarse", tmp_path / "profile")) == (0, 0)
    assert shown(rendered_dom(page, "#label=happy", tmp_path / "profile")) == (3, 3)


@needs_chromium
def test_text_from_clips_stays_text(tmp_path: Path) -> None:
    hostile = '</script><b id="injected">x</b><script>document.title="owned"</script>'
    page = tmp_path / "report.html"
    entries = [entry("a", transcript=hostile), entry("b", tier="fine", smp_reason_caption="ok")]
    page.write_text(render_report(entries, ExportMedia(), "<i>title</i>"), encoding="utf-8")
    dom = rendered_dom(page, "", tmp_path / "profile")
    assert shown(dom) == (2, 2)
    assert '<b id="injected">' not in dom  # no element was made from the text
    assert "<title>&lt;i&gt;title&lt;/i&gt;</title>" in dom  # the injected script never ran
    assert '&lt;b id="injected"&gt;' in dom  # shown as text in the transcript row


def test_report_command_refreshes_and_prints_the_path(tmp_path: Path, monkeypatch) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    run = run_export(config, stages=ALL_STAGES[:-1])  # everything but the export
    assert not run.export.exists()
    monkeypatch.setattr(
        cli, "open_workspace", lambda loaded: with_stand_ins(open_workspace(loaded))
    )
    result = CliRunner().invoke(cli.app, ["report", "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(run.export / "report.html")
    assert (run.export / "report.html").is_file()


def test_report_command_says_why_when_nothing_is_ready(tmp_path: Path) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    result = CliRunner().invoke(cli.app, ["report", "--config", str(config), "--quiet"])
    assert result.exit_code == 2
    assert "no export yet: 6 samples wait for earlier stages" in result.output
