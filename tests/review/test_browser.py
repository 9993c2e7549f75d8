"""The review page in a real browser: Playwright drives Debian's Chromium (no download).

Reviews the sample clips by keyboard alone, checks the saved decisions and the next export's
files, that the clip plays for the mp4 and for the AVI sample, and that a transcript holding
markup shows as text and runs nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from merr_factory.curation.review_log import fold, read_log

from .conftest import Served, serve
from .test_apply import run_with_real_label

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
VIDEO = "const v = document.getElementById('video');"
INJECTED = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, exported: Path) -> Iterator[tuple[object, Served]]:
    for served in serve(exported):
        # Playwright's waiting predicates are evaluated strings, which the page's policy
        # forbids; without the policy the escaping alone must keep the injected markup inert.
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        yield page, served
        context.close()


def open_queue(page, served: Served) -> None:
    """The page, its queue ordered by id (none decided yet: it opens at the first id)."""
    page.goto(served.url + "/")
    page.wait_for_function("document.body.dataset.sample")
    page.select_option("#f-order", "id")
    first = json.dumps(served.app.entries[0].sample_id)
    page.wait_for_function(f"document.body.dataset.sample === {first}")


def shown(page) -> str:
    return page.evaluate("document.body.dataset.sample")


def next_sample(page, before: str) -> str:
    page.wait_for_function(
        f"document.body.dataset.sample && document.body.dataset.sample !== {json.dumps(before)}"
    )
    return shown(page)


def test_the_clip_plays_for_the_mp4_and_the_avi(page) -> None:
    page, served = page
    open_queue(page, served)
    played = {}
    for _ in range(len(served.app.entries)):
        entry = served.app.entries[served.app.index[shown(page)]]
        if entry.kind == "video":
            page.wait_for_function(
                "document.getElementById('video').readyState >= 2", timeout=30_000
            )
            page.evaluate(f"(() => {{ {VIDEO} v.muted = true; return v.play(); }})()")
            page.wait_for_timeout(1200)
            time, error = page.evaluate(
                f"(() => {{ {VIDEO} return [v.currentTime, v.error && v.error.message]; }})()"
            )
            played[Path(entry.video_path).suffix] = (time, error)
        before = shown(page)
        page.keyboard.press("j")
        if before == served.app.entries[-1].sample_id:
            break
        next_sample(page, before)
    assert set(played) == {".mp4", ".avi"}
    for suffix, (time, error) in played.items():
        assert error is None and time > 0.3, (suffix, time, error)


def test_markup_in_a_transcript_shows_as_text_and_runs_nothing(page) -> None:
    page, served = page
    first = served.app.entries[0]
    served.app.entries[0] = type(first).model_validate(
        first.model_dump() | {"transcript": INJECTED}
    )
    try:
        open_queue(page, served)
        assert shown(page) == first.sample_id
        assert page.text_content("#transcript") == INJECTED
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert page.query_selector("#transcript img") is None
    finally:
        served.app.entries[0] = first


def test_a_review_by_keyboard_is_saved_and_exported(page) -> None:
    page, served = page
    open_queue(page, served)
    ids = [entry.sample_id for entry in served.app.entries]
    assert shown(page) == ids[0]
    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    page.keyboard.press("x")  # reject the first
    assert next_sample(page, ids[0]) == ids[1]
    labels = served.app.label_set
    page.keyboard.press(str(labels.index("worried") + 1))  # relabel the second
    assert next_sample(page, ids[1]) == ids[2]
    page.keyboard.press("e")
    page.fill("#editor", "A person wrote this reasoning.")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "document.getElementById('reasoning').textContent.startsWith('A person')"
    )
    page.keyboard.press("a")  # accept the third
    assert next_sample(page, ids[2]) == ids[3]
    page.keyboard.press("a")  # accept the fourth, then take it back
    next_sample(page, ids[3])
    page.keyboard.press("u")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('undone')")

    reviews = fold(read_log(served.app.log.path))
    assert reviews[ids[0]].verdict == "reject"
    assert (reviews[ids[1]].verdict, reviews[ids[1]].label) == ("accept", "worried")
    assert reviews[ids[2]].reasoning == "A person wrote this reasoning."
    assert reviews[ids[2]].verdict == "accept" and ids[3] not in reviews

    export = run_with_real_label(served.config)
    coarse = json.loads((export / "MERR_coarse_grained.json").read_text("utf-8"))
    assert ids[0] not in coarse and coarse[ids[1]]["pseu_emotion"] == "worried"
    checked = json.loads((export / "human_checked" / "MERR_coarse_grained.json").read_text("utf-8"))
    assert set(checked) == {ids[1], ids[2]}
    fine = json.loads((export / "MERR_fine_grained.json").read_text("utf-8"))
    assert fine[ids[2]]["smp_reason_caption"] == "A person wrote this reasoning."
