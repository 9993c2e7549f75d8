"""The HTML report, opened in headless Chromium: the page's own script loads the chunk files
beside it and renders the samples, so the rendered count proves the JavaScript ran."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import merr_factory.cli as cli
from merr_factory.export.media import ExportMedia
from merr_factory.export.report import chunk_file, write_report
from merr_factory.run.workspace import open_workspace

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


def loaded_chunks(dom: str) -> list[str]:
    """The chunk files the page loaded (each by a script element)."""
    return re.findall(r'<script src="(report/rows-\d+\.js)"', dom)


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
    entries = [entry("a", transcript=hostile), entry("b", tier="fine", smp_reason_caption="ok")]
    page = write_report(entries, ExportMedia(), tmp_path, "<i>title</i>")
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


@needs_chromium
def test_a_large_report_shows_its_first_rows_and_filters_into_later_chunks(
    tmp_path: Path,
) -> None:
    """1,200 samples in chunks of 100: the page shows the first 200 without loading every
    chunk, and a filter whose only samples are in the last chunk finds them there."""
    labels = ["happy", "sad", "angry"]
    entries = [
        entry(f"s{index:05d}", label=labels[index % 3], tier="coarse") for index in range(1150)
    ]
    entries += [entry(f"s{index:05d}", label="worried", tier="fine") for index in range(1150, 1200)]
    page = write_report(entries, ExportMedia(), tmp_path, "big", chunk_rows=100)
    assert (tmp_path / chunk_file(11)).is_file() and not (tmp_path / chunk_file(12)).exists()
    assert len(page.read_text()) < 20_000  # the page holds the summary, not the samples

    dom = rendered_dom(page, "", tmp_path / "profile")
    assert shown(dom) == (1200, 200)
    assert 'data-id="s00000"' in dom and 'data-id="s00199"' in dom
    assert 'data-id="s00200"' not in dom
    assert loaded_chunks(dom) == [chunk_file(0), chunk_file(1)]  # not the ten others

    dom = rendered_dom(page, "#label=worried", tmp_path / "profile")
    assert shown(dom) == (50, 50)
    assert 'data-id="s01150"' in dom and 'data-id="s01199"' in dom
    assert loaded_chunks(dom) == [chunk_file(11)]  # the chunks without one are skipped

    dom = rendered_dom(page, "#label=sad&tier=coarse", tmp_path / "profile")
    assert shown(dom) == (383, 200)  # 1150 coarse samples, every third is sad
    assert re.search(r'data-first-rows-ms="\d+"', dom)


def test_a_missing_chunk_is_reported_on_the_page(tmp_path: Path) -> None:
    page = write_report([entry("a")], ExportMedia(), tmp_path, "t")
    (tmp_path / chunk_file(0)).unlink()
    if CHROMIUM is None:
        pytest.skip("Debian package 'chromium' is not installed (make setup adds it)")
    dom = rendered_dom(page, "", tmp_path / "profile")
    assert "cannot load report/rows-0000.js" in dom
    assert shown(dom) == (1, 0)
