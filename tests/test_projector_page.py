"""Projector mode as a projected room sees it, at 1920 x 1080 in Debian chromium (offline): from its link or its
switch, every text of the page at least 20 px, every figure text at least 14 px and the axis labels 20, no figure
text over another, fewer controls (no examples, downloads, API JSON, Copy link); switched off, the page and its
figures are as before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_utils import BrowserSession, browser_session, open_settled, text_collisions, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The smallest text on the page (figures aside) and in figures, and the tick labels' sizes.
SIZES_JS = """() => {
  const seen = (el) => { const r = el.getBoundingClientRect(); const st = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && parseFloat(st.opacity) !== 0; };
  let page = 1e9, small = [];
  const walker = document.createTreeWalker(document.querySelector('.gradio-container'), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement, text = walker.currentNode.textContent.trim();
    if (!text || !el || el.closest('svg, iframe') || !seen(el)) continue;
    const px = parseFloat(getComputedStyle(el).fontSize);
    if (px < page) page = px;
    if (px < 20) small.push(`${px}px ${text.slice(0, 20)}`);
  }
  let figure = 1e9, ticks = 1e9, n = 0;
  for (const t of document.querySelectorAll('.js-plotly-plot svg text')) {
    if (!t.textContent.trim() || !seen(t)) continue;
    const px = parseFloat(getComputedStyle(t).fontSize); n++;
    figure = Math.min(figure, px);
    if (t.closest('.xtick, .ytick')) ticks = Math.min(ticks, px);
  }
  return {page, small: small.slice(0, 8), figure, ticks, n};
}"""
#: Figure titles, subplot titles and axis titles whose box starts above their figure's top edge or left of its left
#: edge: cut off on the page (a wrapped title lost half its first line; the CKA y title read "48 layer").
TITLES_CUT_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap((plot) => {
  const box = (plot.querySelector('.main-svg') ?? plot).getBoundingClientRect();
  return Array.from(plot.querySelectorAll('.gtitle, .annotation-text, .g-ytitle, .g-xtitle'))
    .filter((t) => t.textContent.trim())
    .map((t) => [t.textContent.trim().slice(0, 30), t.getBoundingClientRect()])
    .filter(([, r]) => r.top < box.top - 1 || r.left < box.left - 1)
    .map(([text, r]) => `${text}: ${Math.round(box.top - r.top)} px above, ${Math.round(box.left - r.left)} px left`); })"""
HIDDEN_IN_PROJECTOR = (".xlm-examples", ".xlm-downloads", ".xlm-api-json", "#fill-mask-share")


@pytest.fixture(scope="module")
def room_app(own_app_url: str) -> str:
    return own_app_url


@pytest.fixture()
def room() -> Iterator[BrowserSession]:
    with browser_session(viewport=(1920, 1080)) as browser:
        yield browser


def visible(page: Any, selector: str) -> bool:
    return page.evaluate("(sel) => Array.from(document.querySelectorAll(sel)).some((el) => el.getClientRects().length > 0)",
                         selector)


@pytest.mark.parametrize("query", [
    "?tab=fill-mask&run=1&projector=1",
    "?tab=embeddings&method=pca&run=1&projector=1",
    "?tab=compare&view=compare-logit-lens&run=1&projector=1",
    "?tab=bias&view=bias-probes&run=1&projector=1",
    "?lesson=masks-and-pieces&projector=1",
    "?tab=compare&view=compare-words&run=1&projector=1",
    "?tab=compare&view=compare-similarity&run=1&projector=1",
])
def test_a_projected_view_reads_from_the_back_of_the_room(room_app: str, room: BrowserSession, query: str) -> None:
    page = open_settled(room, room_app + "/" + query)
    assert page.evaluate("() => document.body.classList.contains('xlm-projector')")
    assert page.locator("#xlm-projector-switch input").is_checked()
    sizes = page.evaluate(SIZES_JS)
    assert sizes["n"] > 0, "no figure was drawn"
    assert sizes["page"] >= 20, sizes["small"]
    assert sizes["figure"] >= 14 and sizes["ticks"] >= 20, sizes
    assert text_collisions(room) == []
    assert page.evaluate(TITLES_CUT_JS) == []  # a wrapped title lost half its first line at the top
    room.assert_all_local()


def test_the_switch_turns_it_on_and_off_and_the_figures_follow(room_app: str, room: BrowserSession) -> None:
    page = open_settled(room, room_app + "/?tab=fill-mask&run=1")
    assert not page.evaluate("() => document.body.classList.contains('xlm-projector')")
    assert all(visible(page, selector) for selector in HIDDEN_IN_PROJECTOR)
    assert page.evaluate(SIZES_JS)["ticks"] == 12  # plotly's own size on a laptop

    page.locator("#xlm-projector-switch input").check()
    page.wait_for_timeout(500)
    assert page.evaluate("() => document.body.classList.contains('xlm-projector')")
    assert not any(visible(page, selector) for selector in HIDDEN_IN_PROJECTOR)
    before = room.api_started
    page.locator("#fill-mask-run").click()
    wait_idle(room, started_before=before, timeout_s=60)
    page.wait_for_timeout(800)
    assert page.evaluate(SIZES_JS)["ticks"] >= 20  # drawn for the projector from the next run on

    page.locator("#xlm-projector-switch input").uncheck()
    page.wait_for_timeout(500)
    assert not page.evaluate("() => document.body.classList.contains('xlm-projector')")
    assert "projector=1" not in page.url  # a reload does not turn it back on
    before = room.api_started
    page.locator("#fill-mask-run").click()
    wait_idle(room, started_before=before, timeout_s=60)
    page.wait_for_timeout(800)
    assert page.evaluate(SIZES_JS)["ticks"] == 12
    assert visible(page, "#fill-mask-share")


#: The smallest visible text inside a frame (bertviz draws into a sandboxed frame the page's styles do not reach).
FRAME_TEXT_JS = """() => { let least = 1e9, n = 0;
  for (const el of document.querySelectorAll('h1, p, span, label, select, option, text, div')) {
    if (!el.childNodes.length || ![...el.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) continue;
    const r = el.getBoundingClientRect(); if (!r.width || !r.height) continue;
    least = Math.min(least, parseFloat(getComputedStyle(el).fontSize)); n++; }
  return {least, n}; }"""


def test_the_bertviz_frames_read_from_the_back_of_the_room_too(room_app: str, room: BrowserSession) -> None:
    """Inside the Attention view's bertviz frame the title was 15 px, "Layer:" 16 px and the layer selector 13.3 px."""
    page = open_settled(room, room_app + "/?tab=attention&run=1&projector=1")
    deadline = time.monotonic() + 60
    sizes = []
    while time.monotonic() < deadline:
        sizes = []
        for frame in page.frames[1:]:
            try:
                sizes.append(frame.evaluate(FRAME_TEXT_JS))
            except Exception:  # noqa: BLE001 - a frame being replaced
                continue
        if sizes and all(s["n"] for s in sizes) and all(s["least"] >= 20 for s in sizes):
            break
        page.wait_for_timeout(250)
    assert sizes and all(s["n"] > 3 for s in sizes), sizes
    assert all(s["least"] >= 20 for s in sizes), sizes
