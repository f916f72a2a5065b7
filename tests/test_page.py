"""The page as a teacher and a student see it (Debian chromium, offline): the result in view after a run, progress
in view within a second, no stray toasts, live redraws without the model, nothing wider than a phone, every tab in
reach, right-to-left tokens isolated, share links, and clicks that explore (a plot point, a token)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from browser_utils import (
    BrowserSession,
    browser_session,
    discover_units,
    error_toasts,
    launched_app,
    main_button,
    open_path,
    TOAST_RECORDER_JS,
    record_toasts,
    recorded_toasts,
    require_chromium,
    wait_idle,
)

from xlm_explorer.models import ENV_MODELS, resolve_sources
from xlm_explorer.workspace import Workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def page_workspace(tiny_models_env: str) -> Workspace:
    return Workspace.from_sources(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")


@pytest.fixture(scope="module")
def page_app(page_workspace: Workspace) -> Iterator[str]:
    require_chromium()
    with launched_app(page_workspace) as url:
        yield url


def open_page(session: BrowserSession, url: str) -> Any:
    page = session.page
    page.goto(url, wait_until="load")
    page.wait_for_selector("button[role=tab]", timeout=60_000)
    page.wait_for_timeout(800)
    return page


def tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).first.click()
    page.wait_for_timeout(400)


def run_view(session: BrowserSession, view: str, timeout_s: float = 120) -> None:
    before = session.api_started
    session.page.locator(f"#{view}-run").click()
    wait_idle(session, started_before=before, timeout_s=timeout_s)
    session.page.wait_for_timeout(600)


def in_viewport(page: Any, selector: str) -> bool:
    return page.evaluate(
        """(sel) => { const el = document.querySelector(sel); if (!el) return false;
            const r = el.getBoundingClientRect(); return r.height > 0 && r.top < window.innerHeight && r.bottom > 0; }""",
        selector,
    )


@pytest.fixture()
def session() -> Iterator[BrowserSession]:
    with browser_session(viewport=(1400, 900)) as browser:
        yield browser


@pytest.fixture()
def phone() -> Iterator[BrowserSession]:
    with browser_session(viewport=(390, 844)) as browser:
        yield browser


def test_after_predict_the_first_result_is_in_view(page_app: str, phone: BrowserSession) -> None:
    page = open_page(phone, page_app)
    run_view(phone, "fill-mask")
    page.wait_for_timeout(1200)  # the smooth scroll
    assert in_viewport(page, "#fill-mask-results .xlm-completion"), "the completed sentence is not in view after Predict"


def test_progress_shows_in_view_within_a_second(page_app: str, session: BrowserSession, monkeypatch) -> None:
    import importlib

    service = importlib.import_module("xlm_explorer.service.fill_mask")  # the module whose endpoint calls predict_masks

    real = service.predict_masks
    looked = threading.Event()

    def slow(*args, **kwargs):  # a real model takes seconds; the tiny one waits until the test has looked
        looked.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "predict_masks", slow)
    page = open_page(session, page_app)
    page.locator("#fill-mask-run").click()
    page.wait_for_timeout(1000)
    shown = page.evaluate(
        """() => Array.from(document.querySelectorAll('.progress-text, .eta-bar, .wrap.pending, .wrap.generating'))
            .some((el) => { const r = el.getBoundingClientRect();
                            return r.height > 0 && r.top < window.innerHeight && r.bottom > 0; })"""
    )
    drawn = page.evaluate(  # one progress display, not one per output (they overlapped, each with its own timer)
        """() => Array.from(document.querySelectorAll('.progress-text'))
            .filter((el) => { const r = el.getBoundingClientRect(); return r.height > 0 && r.width > 0; }).length"""
    )
    disabled = page.locator("#fill-mask-run").is_disabled()
    stop_visible = page.locator("#fill-mask-stop").is_visible()
    looked.set()
    wait_idle(session, timeout_s=60)
    assert shown, "no progress element in view one second into a run"
    assert drawn == 1, f"the run's progress is drawn {drawn} times"
    assert disabled and stop_visible, "the button stays active (or Stop is hidden) while the run is going"
    assert not page.locator("#fill-mask-run").is_disabled()


def test_a_settings_change_redraws_without_a_model_call(page_app: str, session: BrowserSession, page_workspace: Workspace) -> None:
    page = open_page(session, page_app)
    tab(page, "Embeddings")
    page.get_by_label("PCA").check()
    run_view(session, "embeddings")
    first = page.evaluate("() => document.querySelector('#embeddings-scatter .js-plotly-plot')?.layout?.title?.text")
    calls = page_workspace.forward_cache.forward_calls, page_workspace.embeddings.computed
    before = session.api_started
    page.get_by_label("max of tokens").check()  # pooling: a redraw, from the cached embedding set
    wait_idle(session, started_before=before)
    page.get_by_label("3", exact=True).check()  # dimensions
    wait_idle(session, started_before=session.api_started - 1)
    page.wait_for_timeout(1000)
    titles = page.evaluate("() => Array.from(document.querySelectorAll('#embeddings-scatter .gtitle')).map(e => e.textContent)")
    metrics = page.evaluate("() => document.querySelector('.js-plotly-plot .gtitle') && document.body.innerText.includes('max pooling')")
    assert (page_workspace.forward_cache.forward_calls, page_workspace.embeddings.computed) == calls, "the model ran again"
    assert metrics, "the alignment chart did not redraw for max pooling"
    assert first is not None and page.evaluate("() => !!document.querySelector('#embeddings-scatter .scene, #embeddings-scatter [id^=scene]')"), titles


def test_every_view_default_action_raises_no_toast(page_app: str, session: BrowserSession) -> None:
    page = open_page(session, page_app)
    record_toasts(session)
    for name, view, sub in [("Fill mask", "fill-mask", None), ("Compare", "compare", "Compare"), ("Bias", "probes", "Probes"),
                            ("Explain", "attribution", "Attribution")]:
        tab(page, name)
        if sub:
            tab(page, sub)
        run_view(session, view)
    assert recorded_toasts(session) == []


def test_a_phone_shows_every_tab_and_nothing_wider_than_the_screen(page_app: str, phone: BrowserSession) -> None:
    page = open_page(phone, page_app)
    for name in ("Fill mask", "Embeddings", "Attention", "Compare", "Bias", "Explain", "Models"):
        button = page.get_by_role("tab", name=name, exact=True).first
        assert button.is_visible(), f"the {name} tab is not one tap away"
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
    for name, subs in (("Compare", ("Logit lens", "Layer similarity", "Cross-lingual grid")), ("Bias", ("Sentence pairs", "Across languages")),
                       ("Explain", ("Patching", "Token search"))):
        tab(page, name)
        for sub in subs:
            assert page.get_by_role("tab", name=sub, exact=True).first.is_visible(), f"{name} / {sub} is not two taps away"
    tab(page, "Fill mask")
    run_view(phone, "fill-mask")
    width = page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


#: A phone's screen with the browser's bars (the issue measured a 664 px tall viewport at 390 px)
PHONE_SCREEN = (390, 664)

FIRST_SCREEN_JS = """(runId) => {
  const button = document.querySelector('#' + runId), panel = button.closest('[role=tabpanel]');
  const shown = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const field = Array.from(panel.querySelectorAll('textarea, input:not([type=hidden]):not([type=range]), select'))
    .find((el) => shown(el) && !el.closest('.xlm-run-bar'));
  const bar = button.closest('.xlm-run-bar').getBoundingClientRect();
  const tabs = document.querySelector('.xlm-main-tabs [role=tablist]').getBoundingClientRect();
  const b = button.getBoundingClientRect(), f = field && field.getBoundingClientRect();
  return {button: [b.top, b.bottom], field: f ? [f.top, f.bottom] : null, bar: bar.top, tabs: tabs.bottom,
          height: window.innerHeight};
}"""


@pytest.fixture()
def small_phone() -> Iterator[BrowserSession]:
    with browser_session(viewport=PHONE_SCREEN) as browser:
        yield browser


def test_on_a_phone_each_view_opens_with_its_input_and_run_button_in_view(page_app: str, small_phone: BrowserSession) -> None:
    """At 390 x 664 px, for every view: below the tab bar, the view's first input is on the first screen and not
    under the run bar, and the run button is on screen (the bar sticks to the bottom, whatever the scroll)."""
    page = open_page(small_phone, page_app)
    misplaced = {}
    for path in discover_units(small_phone):
        panel = open_path(small_phone, path)
        button = main_button(small_phone, panel)
        if button is None or path == ("Lessons",):
            continue  # the Models tab: nothing to run; the Lessons tab: its buttons write files, no model runs
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(200)
        where = page.evaluate(FIRST_SCREEN_JS, button.get_attribute("id"))
        top, bottom = where["button"]
        if not (where["tabs"] <= top and bottom <= where["height"]):
            misplaced[" / ".join(path)] = f"run button at {top:.0f}-{bottom:.0f} px"
        elif where["field"] is None or not (where["tabs"] <= where["field"][0] and where["field"][1] <= where["bar"]):
            misplaced[" / ".join(path)] = f"first input at {where['field']}, run bar from {where['bar']:.0f} px"
    assert not misplaced, misplaced


def test_on_a_phone_a_run_keeps_the_input_one_tap_away(page_app: str, small_phone: BrowserSession) -> None:
    """After Predict the page shows the result; the run bar stays on screen and its button brings the sentence
    back into view, above the bar."""
    page = open_page(small_phone, page_app)
    assert not page.locator("#fill-mask-to-inputs").is_visible()  # at the top the inputs are in view: no way back shown
    run_view(small_phone, "fill-mask")
    page.wait_for_timeout(1200)  # the smooth scroll to the result
    assert in_viewport(page, "#fill-mask-results .xlm-completion"), "the result is not in view after Predict"
    assert not in_viewport(page, "#fill-mask-text textarea"), "nothing scrolled: this test would pass without the bar"
    first, stuck = page.evaluate("""() => {  // the first result line and the run bar's box, where the bar stuck
        const bar = document.querySelector('#fill-mask-run').closest('.xlm-run-bar').getBoundingClientRect();
        const line = document.querySelector('#fill-mask-results .xlm-completion').getBoundingClientRect();
        return [[line.top, line.bottom], [bar.top, bar.bottom]]; }""")
    assert first[1] <= stuck[0] or first[0] >= stuck[1], (first, stuck)  # the bar never covers the first result line
    back = page.locator("#fill-mask-to-inputs")
    assert back.is_visible() and in_viewport(page, "#fill-mask-to-inputs")
    back.click()
    page.wait_for_timeout(1200)
    box = page.locator("#fill-mask-text textarea").bounding_box()
    bar = page.locator("#fill-mask-run").bounding_box()
    assert box and bar and 0 <= box["y"] and box["y"] + box["height"] <= bar["y"], (box, bar)


def test_right_to_left_tokens_are_isolated(page_app: str, session: BrowserSession) -> None:
    page = open_page(session, page_app)
    page.locator("#fill-mask textarea, textarea").first.fill("القطة تجلس على [MASK] الآن.")
    page.get_by_label("100-1280 (100 languages)").check()
    run_view(session, "fill-mask")
    isolation = page.evaluate(
        """() => Array.from(document.querySelectorAll('.xlm-completion bdi')).map((el) => getComputedStyle(el).unicodeBidi)"""
    )
    assert isolation and all(v in ("isolate", "isolate-override", "plaintext") for v in isolation), isolation


def test_a_share_link_restores_the_inputs_and_the_result(page_app: str, session: BrowserSession) -> None:
    query = urlencode({"tab": "compare", "view": "compare-logit-lens", "text": "Le chat dort sur le [MASK].", "lang": "fr",
                       "k": 3, "run": 1})
    page = open_page(session, page_app + "?" + query)
    wait_idle(session, timeout_s=60)
    page.wait_for_timeout(1500)
    assert page.get_by_role("tab", name="Logit lens", exact=True).first.get_attribute("aria-selected") == "true"
    assert page.locator("#logit-lens-text textarea").input_value() == "Le chat dort sur le [MASK]."  # this view's own box
    page.locator("#logit-lens-results .js-plotly-plot").first.wait_for(state="visible", timeout=30_000)
    assert in_viewport(page, "#logit-lens-results .js-plotly-plot"), "the restored result is not in view"
    # the copy button makes such a link from what is on screen
    tab(page, "Fill mask")
    page.locator("#fill-mask-share").click()
    page.wait_for_timeout(1000)
    link = page.locator("#fill-mask-link textarea, #fill-mask-link input").first.input_value()
    assert link.startswith("http") and "tab=fill-mask" in link and "run=1" in link


def test_clicking_a_plot_point_shows_its_neighbours(page_app: str, session: BrowserSession) -> None:
    page = open_page(session, page_app)
    tab(page, "Embeddings")
    page.get_by_label("PCA").check()
    run_view(session, "embeddings")
    point = page.evaluate(
        """() => { const plot = document.querySelector('#embeddings-scatter .js-plotly-plot');
            const trace = plot._fullData.find((t) => t.mode === 'markers');
            const xa = plot._fullLayout[trace.xaxis.replace('x', 'xaxis')], ya = plot._fullLayout[trace.yaxis.replace('y', 'yaxis')];
            const box = plot.getBoundingClientRect();
            return {x: box.left + xa._offset + xa.l2p(trace.x[0]), y: box.top + ya._offset + ya.l2p(trace.y[0])}; }"""
    )
    before = session.api_started
    page.mouse.click(point["x"], point["y"])
    wait_idle(session, started_before=before, timeout_s=30)
    page.wait_for_timeout(800)
    assert "Nearest neighbours** of" not in page.content()
    assert page.get_by_text("Nearest neighbours of #").first.is_visible()
    assert page.locator(".table-wrap").filter(has_text="cosine").first.is_visible()


def test_clicking_a_token_starts_a_search(page_app: str, session: BrowserSession) -> None:
    page = open_page(session, page_app)
    tab(page, "Explain")
    run_view(session, "attribution")
    before = session.api_started
    page.locator("#attribution-results .xlm-token").nth(2).click()
    wait_idle(session, started_before=before, timeout_s=60)
    page.wait_for_timeout(800)
    assert page.get_by_role("tab", name="Token search", exact=True).first.get_attribute("aria-selected") == "true"
    assert page.locator("#token-search-results .xlm-matches li").count() >= 1


def test_after_a_refused_input_the_view_is_usable_at_once(page_app: str, session: BrowserSession) -> None:
    """An empty sentence is refused with a message; the button comes back, Stop goes, and the corrected input runs."""
    page = open_page(session, page_app)
    box = page.locator("#fill-mask-text textarea")
    box.fill("")
    page.locator("#fill-mask-run").click()
    page.wait_for_selector('[data-testid="toast-body"]', timeout=10_000)
    assert "empty" in page.locator('[data-testid="toast-body"]').first.inner_text()
    page.wait_for_function("() => !document.querySelector('#fill-mask-run').disabled", timeout=3_000)
    assert not page.locator("#fill-mask-stop").is_visible(), "Stop stays shown after a refused input"
    box.fill("The cat sat on the [MASK].")
    run_view(session, "fill-mask")
    completion = page.locator("#fill-mask-results .xlm-completion").first.inner_text()
    assert "cat sat on the" in completion, completion


def test_a_new_refusal_is_not_grouped_with_a_stale_one(page_app: str, session: BrowserSession) -> None:
    """A second refused run showed "Warning (2)": its message grouped with the first run's toast."""
    page = open_page(session, page_app)
    box = page.locator("#fill-mask-text textarea")
    for text, word in (("", "empty"), ("No mask here.", "mask")):
        box.fill(text)
        page.locator("#fill-mask-run").click()
        page.wait_for_function("(word) => [...document.querySelectorAll('[data-testid=\"toast-body\"]')]"
                               ".some((t) => t.innerText.toLowerCase().includes(word))", arg=word, timeout=10_000)
        page.wait_for_function("() => !document.querySelector('#fill-mask-run').disabled", timeout=5_000)
    toasts = page.locator('[data-testid="toast-body"]')
    texts = [toasts.nth(i).inner_text() for i in range(toasts.count())]
    assert len(texts) == 1 and "empty" not in texts[0].lower() and "(2)" not in texts[0], texts


def test_an_embeddings_share_link_restores_every_control_and_runs(page_app: str, session: BrowserSession) -> None:
    query = urlencode({"tab": "embeddings", "source": "words", "langs": '["en", "fr"]', "model": "100-1280",
                       "method": "pca", "dims": "3", "seed": "7", "run": "1"})
    session.page.add_init_script(f"document.addEventListener('DOMContentLoaded', () => ({TOAST_RECORDER_JS})())")
    page = open_page(session, page_app + "?" + query)
    wait_idle(session, timeout_s=120)
    page.locator("#embeddings-scatter .js-plotly-plot").first.wait_for(state="attached", timeout=60_000)
    assert recorded_toasts(session) == [], recorded_toasts(session)  # was: "Value: '2' (type: ..." twice
    checked = page.locator("#embeddings-dims label:has(input:checked)")
    assert checked.count() == 1 and checked.first.inner_text().strip() == "3"
    assert page.locator("#embeddings-run").is_enabled()


def test_every_figure_saves_as_png_and_svg_at_projector_size_without_a_network(page_app: str, session: BrowserSession, tmp_path) -> None:
    import struct

    page = open_page(session, page_app)
    run_view(session, "fill-mask")
    bars = page.locator(".xlm-picture-bar")
    bars.first.wait_for(state="attached", timeout=10_000)
    assert bars.count() == page.locator(".js-plotly-plot").count() >= 1
    saved = {}
    for format in ("png", "svg"):
        with page.expect_download(timeout=30_000) as download:
            page.locator(f".xlm-picture[data-format='{format}']").first.click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        saved[format] = path.read_bytes()
    assert saved["png"][:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", saved["png"][16:24]) == (1920, 1080)
    svg = saved["svg"].decode("utf-8")
    assert svg.lstrip().startswith("<svg") and 'width="1920"' in svg and 'height="1080"' in svg
    assert session.outside_requests() == []


def test_a_direction_link_shows_its_groups_and_draws_the_axis_between_their_means(page_app: str, session: BrowserSession) -> None:
    query = urlencode({"tab": "embeddings", "source": "sentences", "languages": '["en", "fr"]', "max_items": "8",
                       "model": "100-1280", "layers": '["last"]', "method": "direction", "group_a": "lang:fr",
                       "group_b": "he, she", "run": "1"})
    page = open_page(session, page_app + "?" + query)
    wait_idle(session, timeout_s=120)
    page.locator("#embeddings-scatter .js-plotly-plot").first.wait_for(state="attached", timeout=60_000)
    boxes = page.locator("#embeddings-group-a textarea, #embeddings-group-b textarea")
    assert [boxes.nth(i).input_value() for i in range(2)] == ["lang:fr", "he, she"] and boxes.first.is_visible()
    labels = page.locator("#embeddings-scatter .annotation-text").evaluate_all("els => els.map(e => e.textContent)")
    assert "A: lang:fr" in labels and "B: he, she" in labels, labels
    summary = page.locator("#embeddings-results").inner_text()
    assert "Direction A = lang:fr (8 rows) → B = he, she" in summary, summary
    page.locator("#embeddings-method label:has-text('PCA')").first.click()
    page.wait_for_function("() => !document.querySelector('#embeddings-group-a textarea')?.checkVisibility()", timeout=5_000)


def test_a_results_file_opens_in_the_bias_tab_and_a_pair_opens_in_explain(
    page_app: str, session: BrowserSession, page_workspace: Workspace, tmp_path
) -> None:
    import json

    from xlm_explorer import service

    table = "sent_more\tsent_less\tbias_type\nHe fixed the car.\tShe fixed the car.\tgender\nThe old man forgot.\tThe young man forgot.\tage"
    results = tmp_path / "results.json"
    results.write_text(json.dumps(service.pll_pairs(page_workspace, table, "en-2048").payload), encoding="utf-8")
    page = open_page(session, page_app + "?tab=bias&view=bias-pairs")
    page.get_by_text("Browse a results file from the command").click()
    page.locator("#pairs-browse-upload input[type=file]").set_input_files(str(results))
    table = page.locator("#pairs-browse-results")
    table.get_by_text("He fixed the car.").first.wait_for(state="attached", timeout=60_000)
    assert "The old man forgot." in table.inner_text() and "gender" in table.inner_text()
    link = page.locator("#pairs-browse-results a", has_text="attribute").first
    assert "tab=explain" in (link.get_attribute("href") or "")
    page.goto(page_app.rstrip("/") + "/" + link.get_attribute("href").lstrip("/"))
    page.locator("#attribution-results .xlm-chip").first.wait_for(timeout=120_000)  # the attribution ran
    texts = page.evaluate("() => Array.from(document.querySelectorAll('textarea')).map((t) => t.value)")
    assert "The [MASK] man forgot." in texts  # the pair's sent_more with its group word masked


def test_a_run_started_at_the_screens_bottom_edge_brings_its_progress_words_into_view(page_app: str, session: BrowserSession) -> None:
    page = open_page(session, page_app + "?tab=embeddings&method=pca")
    page.evaluate("""() => { const bar = document.querySelector('#embeddings-run').closest('.xlm-run-bar');
        const r = bar.getBoundingClientRect(); window.scrollBy(0, r.top - window.innerHeight + r.height + 2); }""")
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.querySelector('#embeddings-run').getBoundingClientRect().bottom") > 0.8 * 900
    page.locator("#embeddings-run").click()
    page.wait_for_timeout(1200)  # the smooth scroll
    top = page.evaluate("() => document.querySelector('#embeddings-status').getBoundingClientRect().bottom")
    wait_idle(session, timeout_s=120)
    assert top < 0.85 * 900, f"the status line (progress words) ended {top:.0f} px down a 900 px screen"


def test_a_link_with_a_value_no_control_holds_says_why_and_leaves_the_view_usable(page_app: str, session: BrowserSession) -> None:
    """?top_k=9999 reached gradio's slider check before: a bare "Error", Run disabled, Stop showing for minutes."""
    page = open_page(session, page_app + "?tab=fill-mask&top_k=9999&run=1")
    notice = page.locator("#xlm-link-notice")
    notice.get_by_text("top_k must be a whole number from 1 to 50, not 9999", exact=False).wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # a run the link would have pressed starts 400 ms after the values are in
    assert page.locator("#fill-mask-run").is_enabled() and not page.locator("#fill-mask-stop").is_visible()
    assert error_toasts(session) == []
    page.locator("#fill-mask-run").click()  # the slider holds a value it can: the view runs
    page.locator("#fill-mask-results .js-plotly-plot").first.wait_for(state="visible", timeout=60_000)
    assert error_toasts(session) == [] and page.locator("#fill-mask-run").is_enabled()
