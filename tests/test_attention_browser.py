"""Real browser (Debian chromium through Playwright, no network): the offline bertviz views draw, and a
hostile token shows as text and runs nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from xlm_explorer.views.bertviz import bertviz_iframe, make_bertviz_document

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium (Debian's chromium) is missing"),
]

PROBE = "document.title='XSS';document.body.setAttribute('data-xss','1');alert('xss')"
HOSTILE = [
    "<s>",
    f'<img src=x onerror="{PROBE}">',
    f"</script><script>{PROBE}</script>",
    "<!--<script>",
    "cat",
    "</s>",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Watched:
    """A page whose dialogs and non-local requests are recorded (and refused)."""

    def __init__(self, browser) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 1000})
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


def wait_for_svg_text(page, minimum: int = 1, timeout: float = 60.0, skip: int = 0) -> tuple[object, list[str]]:
    """The first frame (after ``skip`` matches) whose SVG holds at least ``minimum`` text elements."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = 0
        for frame in page.frames:
            if frame == page.main_frame:
                continue
            try:
                texts = frame.eval_on_selector_all("svg text", "nodes => nodes.map(n => n.textContent)")
            except Exception:  # a frame being replaced
                continue
            if len(texts) >= minimum:
                if found == skip:
                    return frame, texts
                found += 1
        page.wait_for_timeout(250)
    raise AssertionError("no bertviz SVG with token text appeared")


def random_attentions(layers: int, heads: int, tokens: int) -> np.ndarray:
    values = np.random.default_rng(0).random((layers, heads, tokens, tokens))
    return values / values.sum(-1, keepdims=True)


@pytest.mark.parametrize("kind", ["head", "model"])
def test_offline_document_draws_and_hostile_tokens_stay_text(browser, kind: str) -> None:
    view = make_bertviz_document(HOSTILE, random_attentions(2, 3, len(HOSTILE)), kind=kind, sentence_b_start=4)
    watched = Watched(browser)
    try:
        watched.page.set_content(f"<!DOCTYPE html><html><head><title>host</title></head><body>{bertviz_iframe(view)}</body></html>")
        if kind == "head":
            frame, texts = wait_for_svg_text(watched.page, minimum=2 * len(HOSTILE))
            assert texts[: len(HOSTILE)] == HOSTILE  # drawn as text, exactly
        else:
            frame, texts = wait_for_svg_text(watched.page, minimum=3)
            assert "Heads" in texts and "Layers" in texts
            # the detail pane shows the tokens when a thumbnail is clicked
            frame.locator("svg rect").first.dispatch_event("click")
        watched.page.wait_for_timeout(500)
        assert frame.eval_on_selector_all("img", "nodes => nodes.length") == 0
        assert frame.evaluate("document.body.getAttribute('data-xss')") is None
        assert frame.evaluate("document.title") != "XSS" and watched.page.title() == "host"
        assert frame.evaluate("document.scripts.length") == 5  # d3, jQuery, require.js, the view, the projector listener
        assert watched.dialogs == [] and watched.outside == []
    finally:
        watched.page.close()


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_attention_tab_draws_bertviz_offline(browser, app_url: str) -> None:
    watched = Watched(browser)
    page = watched.page
    try:
        page.goto(app_url, wait_until="load", timeout=60_000)
        page.get_by_role("tab", name="Attention").click()
        page.get_by_label("Sentence (A)").fill("The cat sleeps on the sofa.")
        page.get_by_label("Second sentence (B, optional: sentence-pair mode)").fill("Le chat dort sur le canapé.")
        page.get_by_label("Head matrices to include in the JSON (optional, layer:head, at most 8)").fill("")
        page.get_by_role("button", name="Show attention").click()
        frame, texts = wait_for_svg_text(page, minimum=4)
        assert "the" in texts and "sofa" in texts and "</s>" in texts
        # bertviz's sentence filter is there in pair mode
        options = frame.eval_on_selector_all("#filter option", "nodes => nodes.map(n => n.textContent)")
        assert "Sentence A -> Sentence B" in options
        frame.select_option("#filter", label="Sentence B -> Sentence B")
        page.wait_for_timeout(500)
        filtered = frame.eval_on_selector_all("svg text", "nodes => nodes.map(n => n.textContent)")
        assert "sofa" not in filtered and "</s>" in filtered
        # picking a cell of the statistic grid (row = layer, column h<k> = head k) shows that head
        grid = page.get_by_role("grid", name="en-2048: click a cell to show that head")
        cells = [cell for cell in grid.get_by_role("gridcell").all() if cell.is_visible()]
        assert [cell.text_content().strip() for cell in cells[::5]] == ["0", "1"]  # layer column, 2 layers x (1 + 4)
        cells[7].click()  # layer 1, h1
        page.locator(".gtitle", has_text="en-2048: layer 1, head 1").wait_for(timeout=30_000)
        # the statistics CSV is offered for download
        link = page.locator('a[data-testid="download-link"][download^="attention-statistics"]').first
        link.wait_for(timeout=30_000)
        csv_text = page.request.get(link.get_attribute("href")).text()
        assert csv_text.splitlines()[0] == "model,layer,head,entropy,mean_distance,boundary_share,previous_share,next_share,same_share,cross_share"
        assert len(csv_text.splitlines()) == 1 + 2 * 4  # tiny en-2048: 2 layers x 4 heads
        page.get_by_role("tab", name="Model view").click()
        _frame, model_texts = wait_for_svg_text(page, minimum=3, skip=1)
        assert "Heads" in model_texts
        assert watched.dialogs == [] and watched.outside == []
    finally:
        page.close()


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_hostile_text_in_the_tab_runs_nothing(browser, app_url: str) -> None:
    watched = Watched(browser)
    page = watched.page
    try:
        page.goto(app_url, wait_until="load", timeout=60_000)
        page.get_by_role("tab", name="Attention").click()
        page.get_by_label("Sentence (A)").fill(f'The <img src=x onerror="{PROBE}"> cat </script><script>{PROBE}</script>')
        page.get_by_role("button", name="Show attention").click()
        wait_for_svg_text(page, minimum=4)
        # a bad head list echoes the user's text in an error message
        page.get_by_label("Head matrices to include in the JSON (optional, layer:head, at most 8)").fill(
            f'<img src=x onerror="{PROBE}">'
        )
        page.get_by_role("button", name="Show attention").click()
        page.get_by_text("Cannot read head").first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        assert page.title() != "XSS" and page.evaluate("document.body.getAttribute('data-xss')") is None
        for frame in page.frames:
            assert frame.evaluate("document.body ? document.body.getAttribute('data-xss') : null") is None
        assert watched.dialogs == [] and watched.outside == []
    finally:
        page.close()
