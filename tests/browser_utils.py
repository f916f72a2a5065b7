"""Playwright helpers for the real-browser tests: Debian's chromium, offline, every request recorded.

Never downloads a browser (no ``playwright install``): the tests drive ``/usr/bin/chromium`` and skip
with a clear reason when it is missing. The page may talk to 127.0.0.1 only; anything else is recorded
(and aborted) so a test can assert that the app loads nothing from outside.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the tests skip (require_chromium) when playwright is missing
    PlaywrightError = RuntimeError  # type: ignore[assignment,misc]

CHROMIUM = Path(os.environ.get("XLM_EXPLORER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
SCREENSHOTS_DIR = REPO_ROOT / "docs" / "screenshots"
ENV_SCREENSHOTS = "XLM_EXPLORER_SCREENSHOTS"
LOCAL_HOSTS = frozenset({"127.0.0.1"})
#: Schemes that never leave the machine (inline documents, blobs, data URLs).
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "javascript"})

#: A page-side probe for injected markup: set by every XSS payload the tests use.
XSS_FLAG = "__xlm_xss"


def require_chromium() -> Path:
    """The chromium binary, or skip the calling test with the reason."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"{CHROMIUM} is missing (Debian's chromium; tests/run.sh installs it as root); browser tests skipped"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -r requirements-dev.txt)")
    return CHROMIUM


def free_port(start: int = 7874, stop: int = 7880) -> int:
    """A free port on 127.0.0.1, preferring this suite's range, else any the OS gives."""
    for port in list(range(start, stop)) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


def is_local(url: str) -> bool:
    """True when ``url`` stays on this machine (127.0.0.1, or an inline scheme)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.hostname in LOCAL_HOSTS


@dataclass
class BrowserSession:
    """One headless chromium context: the page, every request URL, dialogs, console errors."""

    page: Any
    context: Any
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    #: Gradio API requests in flight (the heartbeat stream excluded) and how many ever started
    inflight: set[Any] = field(default_factory=set)
    api_started: int = 0

    def _on_request(self, request: Any) -> None:
        self.requests.append(request.url)
        if "/gradio_api/" in request.url and "/heartbeat" not in request.url:
            self.inflight.add(request)
            self.api_started += 1

    def _on_done(self, request: Any) -> None:
        self.inflight.discard(request)

    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if not is_local(url)]

    def assert_all_local(self) -> None:
        outside = self.outside_requests()
        assert not outside, f"the page requested {len(outside)} URL(s) outside 127.0.0.1: {outside[:10]}"
        assert self.requests, "no request was recorded at all (recording broken?)"

    def screenshot(self, name: str) -> Path:
        """A screenshot under test-artifacts/ (git-ignored)."""
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS_DIR / f"{safe_name(name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"


@contextmanager
def browser_session(viewport: tuple[int, int] = (1280, 900)) -> Iterator[BrowserSession]:
    """Headless Debian chromium in a new temporary profile; requests outside 127.0.0.1 are recorded and aborted."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="xlm-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(executable),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": viewport[0], "height": viewport[1]},
                accept_downloads=True,
                service_workers="block",
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                session = BrowserSession(page=page, context=context)

                def route(route: Any) -> None:
                    url = route.request.url
                    if is_local(url):
                        route.continue_()
                    else:
                        session.blocked.append(url)
                        route.abort()

                context.on("request", session._on_request)
                context.on("requestfinished", session._on_done)
                context.on("requestfailed", session._on_done)
                context.route("**/*", route)
                page.on("dialog", lambda dialog: (session.dialogs.append(dialog.message), dialog.dismiss()))
                page.on("console", lambda msg: session.console_errors.append(msg.text) if msg.type == "error" else None)
                yield session
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------------------------- the Gradio page

#: JavaScript: what a person would see in an element (plots with traces, filled tables, bertviz, files).
OBSERVE_JS = """
(root) => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const plots = Array.from(root.querySelectorAll('.js-plotly-plot')).filter(visible);
  const traces = plots.map((p) => (p.data || []).length);
  const tableRows = Array.from(root.querySelectorAll('.table-container')).filter(visible).map((t) => {
    const rows = new Set(Array.from(t.querySelectorAll('[data-testid^="cell-"]'))
      .map((c) => c.getAttribute('data-testid').split('-')[1]));
    return rows.size;
  });
  const iframes = Array.from(root.querySelectorAll('iframe')).filter(visible).length;
  const files = Array.from(root.querySelectorAll('a[download], a[href*="gradio_api/file="]')).filter(visible)
    .map((a) => a.getAttribute('href'));
  const errors = Array.from(document.querySelectorAll('.toast-body.error, [data-testid="toast-body"].error'))
    .map((e) => e.innerText);
  return {plots: plots.length, traces, tableRows, iframes, files, errors,
          text: root.innerText.slice(0, 4000)};
}
"""

#: JavaScript, run inside a frame: the SVG text of a bertviz drawing.
BERTVIZ_TEXT_JS = """
() => Array.from(document.querySelectorAll('svg text')).map((t) => t.textContent).filter((s) => s && s.trim())
"""


def open_settled(session: BrowserSession, url: str, selector: str = "button[role=tab]", timeout_s: float = 120) -> Any:
    """Load ``url``, wait for ``selector``, then for the runs the link started to end and their figures to draw."""
    page = session.page
    page.goto(url, wait_until="load")
    page.wait_for_selector(selector, timeout=60_000)
    page.wait_for_timeout(1500)
    wait_idle(session, timeout_s=timeout_s)
    page.wait_for_timeout(800)
    return page


def open_app(session: BrowserSession, url: str, timeout_ms: int = 60_000) -> list[str]:
    """Load the app and return its top-level tab names (discovered from the page)."""
    session.page.goto(url, wait_until="domcontentloaded")
    session.page.wait_for_selector("button[role=tab]", timeout=timeout_ms)
    return tab_names(session)


_counter = iter(range(1, 10**9))


def _tag(session: BrowserSession, handle_js: str, arg: Any = None) -> Any | None:
    """Run ``handle_js`` (returns an element or null), mark the element, and return a locator for it."""
    mark = f"x{next(_counter)}"
    found = session.page.evaluate(
        f"([arg, mark]) => {{ const el = ({handle_js})(arg); if (!el) return false;"
        " el.setAttribute('data-xlm-mark', mark); return true; }",
        [arg, mark],
    )
    return session.page.locator(f'[data-xlm-mark="{mark}"]') if found else None


def tab_names(session: BrowserSession, panel: Any | None = None) -> list[str]:
    """Names of the tabs at the top level of the page, or of the first tab set inside ``panel``."""
    root = panel if panel is not None else session.page
    tabs = root.locator(".tabs").first
    if not tabs.count():
        return []
    buttons = tabs.locator("[role=tablist]").first.locator("button[role=tab]")
    return [buttons.nth(i).inner_text().strip() for i in range(buttons.count())]


def select_tab(session: BrowserSession, name: str, panel: Any | None = None) -> Any:
    """Click the tab ``name`` (top level, or in the first tab set inside ``panel``); return its panel."""
    root = panel if panel is not None else session.page
    tabs = root.locator(".tabs").first
    tabs.locator("[role=tablist]").first.get_by_role("tab", name=name, exact=True).click()
    tabs_mark = f"t{next(_counter)}"
    tabs.evaluate("(el, mark) => el.setAttribute('data-xlm-tabs', mark)", tabs_mark)
    js = """(mark) => {
        const tabs = document.querySelector(`[data-xlm-tabs="${mark}"]`);
        const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
        return Array.from(tabs.querySelectorAll('[role=tabpanel]'))
          .find((p) => p.parentElement.closest('.tabs') === tabs && visible(p)) || null; }"""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        located = _tag(session, js, tabs_mark)
        if located is not None:
            return located
        session.page.wait_for_timeout(200)
    raise AssertionError(f"the panel of tab {name!r} did not show")


_OWN = "(el) => el.closest('[role=tabpanel]') === panel"


def own_element(session: BrowserSession, panel: Any, selectors: list[str]) -> Any | None:
    """The first visible element matching one of ``selectors`` that belongs to ``panel`` itself (not to a
    tab nested in it)."""
    mark = panel.get_attribute("data-xlm-mark")
    js = f"""([mark, selectors]) => {{
        const panel = document.querySelector(`[data-xlm-mark="${{mark}}"]`);
        const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
        for (const selector of selectors) {{
          const el = Array.from(panel.querySelectorAll(selector))
            .find((e) => ({_OWN})(e) && visible(e) && !e.disabled && e.getAttribute('role') !== 'tab');
          if (el) return el;
        }}
        return null; }}"""
    return _tag(session, js, [mark, selectors])


def first_example(session: BrowserSession, panel: Any) -> Any | None:
    """The first clickable example (``gr.Examples``) of the panel itself, or None."""
    return own_element(session, panel, ['[data-testid="dataset-cell-0-0"]', "button.gallery-item", ".gallery-item"])


def main_button(session: BrowserSession, panel: Any) -> Any | None:
    """The panel's own main button: its first visible primary button, else None."""
    return own_element(session, panel, ["button.primary"])


def any_button(session: BrowserSession, panel: Any) -> Any | None:
    return own_element(session, panel, ["button.primary", "button.secondary", "button.lg"])


def observe(panel: Any) -> dict[str, Any]:
    return panel.evaluate(OBSERVE_JS)


def open_path(session: BrowserSession, path: tuple[str, ...]) -> Any:
    """Select a tab (and its sub-tab) and return the innermost panel."""
    panel = None
    for name in path:
        panel = select_tab(session, name, panel)
    return panel


def discover_units(session: BrowserSession) -> list[tuple[str, ...]]:
    """Every runnable view: a tab with its own main button, else each of its sub-tabs."""
    units: list[tuple[str, ...]] = []
    for tab in tab_names(session):
        panel = select_tab(session, tab)
        if main_button(session, panel) is not None or first_example(session, panel) is not None:
            units.append((tab,))
            continue
        subtabs = tab_names(session, panel)
        if subtabs:
            units += [(tab, sub) for sub in subtabs]
        else:
            units.append((tab,))
    return units


def run_unit(session: BrowserSession, path: tuple[str, ...], panel: Any) -> dict[str, Any]:
    """In an open view (``panel``): run its first example and its main button, wait, report what is on screen."""
    example = first_example(session, panel)
    if example is not None:
        before = session.api_started
        example.click()
        wait_idle(session, started_before=before)
    button = main_button(session, panel) or any_button(session, panel)
    assert button is not None or example is not None, f"{path} has neither an example nor a button"
    if button is not None:
        before = session.api_started
        button.click()
        wait_idle(session, started_before=before, timeout_s=180)
    session.page.wait_for_timeout(500)  # plotly and bertviz draw after the value arrives
    seen = observe(panel)
    seen["panel"] = panel
    return seen


#: Every drawn text of every visible plotly figure, as the quadrilateral it covers on screen (rotated tick labels
#: too), and the figure's toolbar (shown on hover, on a phone after a tap): ``[[text a, text b, holder id], ...]``
#: for each pair that overlaps by more than 1.5 px (a separating-axis test).
TEXT_COLLISIONS_JS = """() => {
  // Every drawn text of every visible plotly figure (as the quadrilateral it covers on screen: rotated tick labels
  // included) and the figure's toolbar (shown on hover, on a phone after a tap); pairs that overlap by over 1.5 px.
  const out = [];
  const corners = (el) => {
    const b = el.getBBox(), m = el.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
      .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const box = (r) => [[r.left, r.top], [r.right, r.top], [r.right, r.bottom], [r.left, r.bottom]];
  const separated = (p, q) => {  // separating-axis test for two convex quadrilaterals, with a 1.5 px tolerance
    for (const poly of [p, q]) for (let i = 0; i < 4; i++) {
      const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % 4];
      const len = Math.hypot(x2 - x1, y2 - y1) || 1, nx = (y1 - y2) / len, ny = (x2 - x1) / len;
      const proj = (poly2) => poly2.map(([x, y]) => x * nx + y * ny);
      const a = proj(p), b = proj(q);
      if (Math.min(Math.max(...a), Math.max(...b)) - Math.max(Math.min(...a), Math.min(...b)) < 1.5) return true;
    }
    return false;
  };
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const pr = plot.getBoundingClientRect();
    if (pr.width < 1 || pr.height < 1) continue;
    const items = [];
    for (const t of plot.querySelectorAll('svg text')) {
      const s = (t.textContent || '').trim();
      if (!s) continue;
      const st = getComputedStyle(t);
      if (st.display === 'none' || st.visibility === 'hidden' || st.opacity === '0' || t.closest('[style*="opacity: 0"]')) continue;
      const b = t.getBBox();
      if (b.width < 0.5 || b.height < 0.5) continue;
      const kind = t.closest('.legend') ? 'legend' : t.closest('.colorbar') ? 'colorbar' : t.closest('.infolayer') ? 'title' : 'axis';
      items.push({s, q: corners(t), kind, el: t});
    }
    const groups = Array.from(plot.querySelectorAll('.modebar-group'));
    if (groups.length) {
      const rs = groups.map((g) => g.getBoundingClientRect()).filter((r) => r.width > 0);
      if (rs.length) items.push({s: '[toolbar]', kind: 'toolbar', el: groups[0].parentElement,
        q: box({left: Math.min(...rs.map((r) => r.left)), right: Math.max(...rs.map((r) => r.right)),
                top: Math.min(...rs.map((r) => r.top)), bottom: Math.max(...rs.map((r) => r.bottom))})});
    }
    for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      if (!separated(a.q, b.q)) out.push([a.kind + ': ' + a.s.slice(0, 48), b.kind + ': ' + b.s.slice(0, 48), plot.closest('[id]')?.id || '']);
    }
  }
  return out;
}"""


def text_collisions(session: BrowserSession) -> list[list[str]]:
    """The pairs of figure texts (and toolbars) drawn over each other on the page now (:data:`TEXT_COLLISIONS_JS`)."""
    return session.page.evaluate(TEXT_COLLISIONS_JS)


def wait_idle(session: BrowserSession, started_before: int | None = None, timeout_s: float = 60.0) -> None:
    """Wait until the app's API calls are over: one started after ``started_before`` (when given; at most
    5 s are given for it to start), none is in flight, no progress bar shows, and that for a second."""
    page = session.page
    begin = time.monotonic()
    deadline = begin + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        page.wait_for_timeout(150)
        started = started_before is None or session.api_started > started_before or time.monotonic() - begin > 5
        busy = bool(session.inflight) or page.evaluate(
            "() => !!document.querySelector('.progress-text, .eta-bar, .wrap.pending, .wrap.generating')"
        )
        if busy or not started:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
    raise AssertionError(f"the page was still busy after {timeout_s:.0f} s: {[r.url for r in session.inflight][:5]}")


def error_toasts(session: BrowserSession) -> list[str]:
    return session.page.evaluate(
        "() => Array.from(document.querySelectorAll('.toast-body.error, [data-testid=\"toast-body\"].error'))"
        ".map((e) => e.innerText)"
    )


def status_errors(session: BrowserSession) -> list[str]:
    """Refused-input messages on the views' status lines (the page shows them there and in a warning toast)."""
    return session.page.evaluate("() => Array.from(document.querySelectorAll('.xlm-status li.xlm-error')).map((e) => e.innerText)")


def all_toasts(session: BrowserSession) -> list[str]:
    return session.page.evaluate(
        "() => Array.from(document.querySelectorAll('.toast-body, [data-testid=\"toast-body\"]')).map((e) => e.innerText)"
    )


def bertviz_tokens(session: BrowserSession) -> list[str]:
    """SVG token text drawn by bertviz inside any (sandboxed) iframe of the page."""
    texts: list[str] = []
    for frame in session.page.frames:
        if frame is session.page.main_frame:
            continue
        try:
            texts += frame.evaluate(BERTVIZ_TEXT_JS)
        except PlaywrightError:  # a frame that went away while we looked
            continue
    return texts


def xss_fired(session: BrowserSession) -> list[str]:
    """Frames where an XSS payload ran (it sets ``window.__xlm_xss``), plus any dialog that opened."""
    fired = [f"dialog: {message}" for message in session.dialogs]
    for frame in session.page.frames:
        try:
            if frame.evaluate(f"() => typeof window.{XSS_FLAG} !== 'undefined'"):
                fired.append(f"frame {frame.url[:80]}")
        except PlaywrightError:  # a frame that went away while we looked
            continue
    return fired


def injected_elements(session: BrowserSession, marker: str = "xlmxss") -> list[str]:
    """Elements (in any frame) whose id starts with ``marker``: only parsed payload markup can create them."""
    found: list[str] = []
    for frame in session.page.frames:
        try:
            found += frame.evaluate(
                """(marker) => Array.from(document.querySelectorAll(`[id^="${marker}"]`)).map((el) => {
                    const where = el.closest('[data-testid], .block, .toast-body');
                    const label = where ? (where.getAttribute('data-testid') || where.className.toString()).slice(0, 60) : '';
                    const text = where ? where.innerText.slice(0, 80).replace(/\\s+/g, ' ') : '';
                    return `${el.outerHTML.slice(0, 120)} in [${label}] "${text}"`; })""",
                marker,
            )
        except PlaywrightError:  # a frame that went away while we looked
            continue
    return found


TOAST_RECORDER_JS = """
() => {
  if (window.__xlm_toasts) return;
  window.__xlm_toasts = [];
  const seen = new WeakSet();
  const grab = () => document.querySelectorAll('[data-testid="toast-body"], .toast-body').forEach((el) => {
    if (!seen.has(el)) { seen.add(el); window.__xlm_toasts.push(el.className + ' :: ' + el.innerText); }
  });
  new MutationObserver(grab).observe(document.body, {childList: true, subtree: true});
  grab();
}
"""


def record_toasts(session: BrowserSession) -> None:
    """Keep every toast (info, warning, error) that appears from now on in ``window.__xlm_toasts``."""
    session.page.evaluate(TOAST_RECORDER_JS)


def recorded_toasts(session: BrowserSession) -> list[str]:
    return session.page.evaluate("() => window.__xlm_toasts || []")


def clear_toasts(session: BrowserSession) -> None:
    """Close the visible toasts and forget the recorded ones."""
    session.page.evaluate(
        "() => { document.querySelectorAll('[data-testid=\"toast-close\"], .toast-close').forEach((b) => b.click());"
        " window.__xlm_toasts = []; }"
    )
    session.page.wait_for_timeout(300)


@contextmanager
def launched_app(manager: Any, port: int | None = None) -> Iterator[str]:
    """The whole app on 127.0.0.1 (a port in this suite's range when one is free) around ``manager``."""
    from xlm_explorer.ui.app import build_demo, launch_kwargs

    demo = build_demo(manager)
    kwargs = launch_kwargs(host="127.0.0.1", port=port or free_port())
    kwargs.update(prevent_thread_lock=True, quiet=True)
    demo.launch(**kwargs)
    try:
        yield demo.local_url
    finally:
        demo.close()
