"""Real-browser end-to-end tests: Debian's chromium drives the app as a person would.

The tabs are discovered from the page. Per tab the test clicks its first example (when it has one), runs
its main button and asserts what a person would see: plotly charts with traces, tables with rows, the
bertviz drawing with token text, a download. The page may request nothing outside 127.0.0.1.

Every view is also drawn at 390, 1400 and 1920 px and checked for figure texts drawn over each other. Screenshots
of every tab go to ``test-artifacts/`` (git-ignored); with ``XLM_EXPLORER_SCREENSHOTS=1``
``test_every_view_at_phone_desk_and_projector_widths`` refreshes ``docs/screenshots/`` (every view at 1400 px and
at 390 px, shown in README and docs/).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_utils import (
    ENV_SCREENSHOTS,
    SCREENSHOTS_DIR,
    BrowserSession,
    bertviz_tokens,
    browser_session,
    clear_toasts,
    discover_units,
    launched_app,
    observe,
    open_app,
    open_path,
    own_element,
    record_toasts,
    recorded_toasts,
    status_errors,
    require_chromium,
    run_unit,
    safe_name,
    select_tab,
    tab_names,
    text_collisions,
    wait_idle,
)

from xlm_explorer.models import ModelManager

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The tabs the app must show (others that land later are discovered and checked generically).
REQUIRED_TABS = ("Fill mask", "Models")
PLACEHOLDER_TEXT = "This tab is being built."


@pytest.fixture(scope="module")
def browser_manager(tiny_models_env: str) -> ModelManager:
    """A manager of this module alone: nothing is loaded when the browser arrives."""
    from xlm_explorer.models import ENV_MODELS, resolve_sources

    return ModelManager(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")


@pytest.fixture(scope="module")
def browser_app(browser_manager: ModelManager) -> Iterator[str]:
    require_chromium()
    with launched_app(browser_manager) as url:
        yield url


@pytest.fixture()
def session() -> Iterator[BrowserSession]:
    with browser_session() as browser:
        yield browser


# ------------------------------------------------------------------------------------------------ per-tab checks


def check_fill_mask(session: BrowserSession, panel: Any, seen: dict[str, Any]) -> None:
    assert seen["plots"] >= 1 and all(n >= 1 for n in seen["traces"]), f"no bar chart drawn: {seen['traces']}"
    assert seen["tableRows"] and max(seen["tableRows"]) >= 1, "the prediction table stayed empty"
    assert panel.locator("mark.xlm-fill").count() >= 1, "the completed sentence (mark.xlm-fill) is missing"


def check_models(session: BrowserSession, panel: Any, seen: dict[str, Any]) -> None:
    text = seen["text"]
    assert "Status\tloaded" in text or "Status loaded" in text or "\nloaded\n" in text, text[-800:]
    assert "Layers" in text and "Parameters" in text


def check_attention(session: BrowserSession, panel: Any, seen: dict[str, Any]) -> None:
    assert sum(seen["traces"]) >= 1, f"no head grid or heatmap drawn: {seen['traces']}"
    tokens: list[str] = []
    for _ in range(60):  # bertviz draws inside its sandboxed iframe once require.js has loaded d3 and jQuery
        tokens = bertviz_tokens(session)
        if tokens:
            break
        session.page.wait_for_timeout(250)
    assert tokens, "the bertviz view drew no token text (its SVG is empty)"
    assert "</s>" in tokens or "<s>" in tokens, f"bertviz tokens look wrong: {tokens[:20]}"


def check_embeddings(session: BrowserSession, panel: Any, seen: dict[str, Any]) -> None:
    assert seen["plots"] >= 2 and sum(seen["traces"]) >= 2, f"no projection and alignment plots: {seen['traces']}"
    assert seen["tableRows"] and max(seen["tableRows"]) >= 1, "the metrics table stayed empty"


def check_generic(session: BrowserSession, panel: Any, seen: dict[str, Any]) -> None:
    """Any other tab: at least one thing a person can look at was drawn."""
    drawn = {
        "plot traces": sum(seen["traces"]),
        "table rows": sum(seen["tableRows"]),
        "bertviz tokens": len(bertviz_tokens(session)),
        "files": len(seen["files"]),
    }
    assert any(drawn.values()), f"nothing was drawn: {drawn}"


TAB_CHECKS: dict[str, Callable[[BrowserSession, Any, dict[str, Any]], None]] = {
    "Fill mask": check_fill_mask,
    "Models": check_models,
    "Attention": check_attention,
    "Embeddings": check_embeddings,
}


def save_screenshots(session: BrowserSession, tab: str, panel: Any) -> None:
    """A full-page screenshot of the view under test-artifacts/ (git-ignored)."""
    session.screenshot(f"tab-{tab}")


def docs_png(panel: Any, path: Path, width: int, max_height: int) -> None:
    """The view's panel at ``width`` pixels, cut at ``max_height``, palette-reduced (small in git)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(panel.screenshot())).convert("RGB")
    if image.width != width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image = image.crop((0, 0, width, min(image.height, max_height)))
    image.quantize(colors=128).save(path, optimize=True)


def try_download(session: BrowserSession, panel: Any) -> Path | None:
    """Click the panel's first visible download link and return the saved file (None when it has none)."""
    link = own_element(session, panel, ["a[download]"])
    if link is None:
        return None
    with session.page.expect_download(timeout=30_000) as info:
        link.click()
    return Path(info.value.path())


def test_every_tab_runs_its_first_example_and_shows_results(browser_app: str, session: BrowserSession) -> None:
    tabs = open_app(session, browser_app)
    missing = [tab for tab in REQUIRED_TABS if tab not in tabs]
    assert not missing, f"tabs missing from the page: {missing} (found {tabs})"
    record_toasts(session)
    units = discover_units(session)
    failures: dict[str, str] = {}
    placeholders: list[str] = []
    downloads: dict[str, int] = {}
    for path in units:
        name = " / ".join(path)
        panel = open_path(session, path)
        if PLACEHOLDER_TEXT in panel.inner_text():
            placeholders.append(name)
            continue
        clear_toasts(session)
        try:
            seen = run_unit(session, path, panel)
            errors = [t for t in recorded_toasts(session) if " error" in t.split(" :: ")[0]] + status_errors(session)
            assert not errors, f"error toast(s) or refused input: {errors}"
            TAB_CHECKS.get(name, check_generic)(session, seen["panel"], seen)
            download = try_download(session, seen["panel"])
            if download is not None:
                downloads[name] = download.stat().st_size
                assert downloads[name] > 0, "the download is empty"
        except AssertionError as failure:
            failures[name] = str(failure)[:1500]
        finally:
            save_screenshots(session, name, panel)
    assert not failures, f"views that did not show their results: {failures}"
    assert downloads, f"no view offered a download after running (views: {[' / '.join(u) for u in units]})"
    session.assert_all_local()
    assert not session.blocked
    assert not session.dialogs, f"dialogs opened: {session.dialogs}"
    if placeholders:
        pytest.xfail(f"tabs still placeholders (nothing to run yet): {placeholders}")


PROGRESS_RECORDER_JS = """() => {
  window.__xlm_progress = [];
  const grab = () => document.querySelectorAll('.progress-text, .meta-text, .progress-level-inner').forEach((el) => {
    const r = el.getBoundingClientRect();
    if (el.innerText && r.bottom > 0 && r.top < window.innerHeight) window.__xlm_progress.push(el.innerText);
  });
  new MutationObserver(grab).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def test_first_use_shows_a_loading_message(tiny_models_env: str, session: BrowserSession, monkeypatch) -> None:
    """A person who triggers the first load sees which model is loading, in view, where the result will be."""
    import xlm_explorer.models as models
    from xlm_explorer.models import ENV_MODELS, resolve_sources

    real_load = models.load_model

    def slow_load(*args, **kwargs):  # a real checkpoint takes a minute; the tiny one must not finish unseen
        import time

        time.sleep(2.0)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(models, "load_model", slow_load)
    cold = ModelManager(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")
    with launched_app(cold) as url:
        open_app(session, url)
        record_toasts(session)
        panel = select_tab(session, "Models")
        session.page.evaluate(PROGRESS_RECORDER_JS)
        before = session.api_started
        panel.get_by_role("button", name="Load en-2048 and read its config").click()
        wait_idle(session, started_before=before)
        seen = session.page.evaluate("() => window.__xlm_progress")
        toasts = recorded_toasts(session)
    assert any("Loading en-2048" in text for text in seen), seen
    assert not any(" error" in t.split(" :: ")[0] for t in toasts), toasts
    assert not status_errors(session), status_errors(session)
    assert cold.is_loaded("en-2048") and not cold.is_loaded("100-1280")


def test_page_requests_nothing_outside_localhost(browser_app: str, session: BrowserSession) -> None:
    tabs = open_app(session, browser_app)
    for tab in tabs:
        select_tab(session, tab)
        session.page.wait_for_timeout(300)
    session.page.wait_for_timeout(1500)  # Gradio keeps a stream open: "networkidle" never comes
    session.assert_all_local()
    assert not session.blocked, session.blocked
    assert any("/gradio_api/" in url or url.rstrip("/").endswith(browser_app.rstrip("/")) for url in session.requests)


#: (name, viewport, PNG width for docs/screenshots or None, cut height): a phone, a desk, a projector
SCREEN_WIDTHS = (("390", (390, 844), 390, 2600), ("1400", (1400, 1000), 1000, 1800), ("1920", (1920, 1080), None, 0))


@pytest.mark.parametrize("label,viewport,png_width,max_height", SCREEN_WIDTHS, ids=[w[0] for w in SCREEN_WIDTHS])
def test_every_view_at_phone_desk_and_projector_widths(browser_app: str, label: str, viewport: tuple[int, int],
                                                        png_width: int | None, max_height: int) -> None:
    """Every view run with its first example and drawn at ``viewport``: no error, nothing wider than the screen, no
    figure text drawn over another text or under plotly's toolbar (bounding boxes, rotated labels included). With
    ``XLM_EXPLORER_SCREENSHOTS=1`` it also refreshes docs/screenshots/ at 1400 and 390 px."""
    save = os.environ.get(ENV_SCREENSHOTS) == "1" and png_width is not None
    if save:
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    overlaps: dict[str, list[list[str]]] = {}
    with browser_session(viewport=viewport) as session:
        open_app(session, browser_app)
        record_toasts(session)
        for path in discover_units(session):
            panel = open_path(session, path)
            clear_toasts(session)
            run_unit(session, path, panel)
            errors = [t for t in recorded_toasts(session) if " error" in t.split(" :: ")[0]] + status_errors(session)
            assert not errors, f"{path}: error toast(s) or refused input: {errors}"
            page_width = session.page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= viewport[0], f"{path}: the page is {page_width} px wide on a {viewport[0]} px screen"
            session.page.wait_for_timeout(500)  # plotly's second layout pass (automargins) after the first draw
            found = text_collisions(session)
            if found:
                overlaps[" / ".join(path)] = found[:5]
            if save:
                docs_png(panel, SCREENSHOTS_DIR / f"{safe_name(' / '.join(path).lower())}-{label}.png", png_width, max_height)
    assert not overlaps, f"texts drawn over each other at {label} px: {overlaps}"
