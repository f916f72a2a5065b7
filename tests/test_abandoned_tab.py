"""A run whose page was closed stops: an abandoned tab does not hold the heavy lane (issue 23, item 5). In a real
browser: a long pairs run starts from the page, the tab is closed, and the app's CPU time drops to nothing while a
visitor's heavy call that comes next is answered at once."""

from __future__ import annotations

import time

import pytest

from browser_utils import browser_session, open_settled
from test_cancel import pairs_table

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def computing_rate(page, timeout_s: float, window_s: float = 1.0) -> float:  # noqa: ANN001 - a playwright Page
    """CPU-seconds per second of this process (the app runs in it) over ``window_s``, once it is computing. It waits
    with the page's own timer: the browser's requests go through this process's routes, which a sleep would stall."""
    deadline, rate = time.monotonic() + timeout_s, 0.0
    while time.monotonic() < deadline:
        began = time.process_time()
        page.wait_for_timeout(window_s * 1000)
        rate = (time.process_time() - began) / window_s
        if rate > 0.5:
            break
    return rate


def test_closing_the_tab_stops_its_heavy_run_and_frees_the_lane(own_app_url: str) -> None:
    from gradio_client import Client

    with browser_session((1400, 900)) as session:
        page = open_settled(session, f"{own_app_url}/?tab=bias&view=bias-pairs")
        page.get_by_label("Sentence pairs (TSV or CSV with a header)").fill(pairs_table(100))
        page.locator("#pairs-run").click()
        running_rate = computing_rate(page, timeout_s=60)
        page.close()  # the student closes the tab mid-run
        time.sleep(2.0)  # the server notices the page went (its unload), the run stops at its next progress step
        # (no page is open: nothing waits on this process's routes while it sleeps)
        cpu_before = time.process_time()
        time.sleep(3.0)
        after_close = time.process_time() - cpu_before
    assert running_rate > 0.5, f"the run hardly computed ({running_rate:.2f} CPU-s/s): nothing to stop"
    assert after_close < 0.25 * 3.0 * running_rate, (
        f"{after_close:.2f} CPU-s in 3 s after the tab closed, against {running_rate:.2f} CPU-s/s while it ran")
    began = time.perf_counter()
    result = Client(own_app_url, verbose=False).predict(
        "The cat sat on the [MASK].", "en-2048", "en", 1, "", api_name="/attribution")
    assert result["results"] and time.perf_counter() - began < 30
