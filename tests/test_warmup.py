"""The start-up warm-up: the page's defaults computed in the background, answered from memory afterwards (through a
real client), giving way to every visitor's computation but not to those waiting for its own, never pausing with a
model's lock held; a failing default is recorded and the next one still runs; Stop ends it."""

from __future__ import annotations

import threading
import time

import pytest

from xlm_explorer.service.warmup import WarmJob, WarmUp, warm_up_wanted
from xlm_explorer.ui.widgets import model_status_markdown


def stepping(steps: int, pause: float, log: list[float]):
    """A stand-in endpoint: ``steps`` progress steps ``pause`` s apart, each time noted in ``log``."""

    def endpoint(ws, progress=None, **_inputs):  # noqa: ANN001, ANN202
        for step in range(steps):
            time.sleep(pause)
            log.append(time.perf_counter())
            progress((step + 1) / steps, f"step {step + 1}")
        return "done"

    return endpoint


@pytest.mark.slow  # over 5 s on 2 cores: out of the quick tier
def test_the_defaults_a_class_opens_are_answered_from_memory_after_the_warm_up(tiny_models_env) -> None:
    from gradio_client import Client

    from browser_utils import launched_app
    from xlm_explorer.models import ENV_MODELS, resolve_sources
    from xlm_explorer.ui.app import build_demo, page_defaults, warm_up_jobs
    from xlm_explorer.workspace import Workspace

    ws = Workspace.from_sources(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")
    ctx = build_demo(ws).xlm_context
    views = ("explain-languages", "bias-languages", "explain-search")
    warm = WarmUp(ws, warm_up_jobs(ctx, views))
    assert [job.name for job in warm.jobs] == ["explain-languages", "bias-languages", "token index (en-2048)",
                                               "token index (100-1280)"]
    warm.run()
    assert warm.failed == {} and warm.finished and warm.status_line() == ""
    indexes, answers = len(ws.token_indexes), ws.answers.stats()
    with launched_app(ws) as url:
        client = Client(url, verbose=False)
        for view, api in (("explain-languages", "/explain_languages"), ("bias-languages", "/bias_languages")):
            payload = client.predict(**page_defaults(ctx, view), api_name=api)
            assert payload["endpoint"] == api[1:] and payload["results"]
        search = client.predict(**{**page_defaults(ctx, "explain-search"), "model": "en-2048"}, api_name="/token_search")
        assert search["results"][0]["matches"]
    after = ws.answers.stats()
    assert after["hits"] == answers["hits"] + 2 and after["misses"] == answers["misses"]  # nothing computed again
    assert len(ws.token_indexes) == indexes == 2  # the click on a chip found its model's index built


def test_it_pauses_while_a_visitor_computes_and_goes_on_after(workspace) -> None:
    log: list[float] = []
    warm = WarmUp(workspace, [WarmJob("steps", stepping(12, 0.05, log), {})], idle_s=0.2)
    thread = threading.Thread(target=warm.run)
    thread.start()
    time.sleep(0.15)
    with workspace.serving():  # a visitor's request computing for 0.6 s
        held = time.perf_counter()
        time.sleep(0.6)
        released = time.perf_counter()
    thread.join(10)
    assert warm.done.keys() == {"steps"} and len(log) == 12
    during = [t for t in log if held + 0.08 < t < released]  # one step already under way may end just after
    assert during == [] and warm.paused_s >= 0.6
    assert min(t for t in log if t > released) >= released + 0.2  # it waited the idle time before going on


def test_a_visitor_waiting_for_the_warm_ups_own_work_does_not_pause_it(workspace) -> None:
    key, got = ("warm-up test", time.time()), []
    warm_progress = []

    def endpoint(ws, progress=None):  # noqa: ANN001, ANN202
        def compute() -> str:
            for step in range(10):
                time.sleep(0.05)
                progress(step / 10, "computing")
                warm_progress.append(step)
            return "the warm-up's answer"

        return ws.answers.get_or_compute(key, compute)

    def visitor() -> None:
        with workspace.serving():
            got.append(workspace.answers.get_or_compute(key, lambda: "the visitor's own", waiting=lambda: None))

    warm = WarmUp(workspace, [WarmJob("shared", endpoint, {})], idle_s=0.2)
    thread = threading.Thread(target=warm.run)
    thread.start()
    time.sleep(0.12)
    waiter = threading.Thread(target=visitor)
    waiter.start()
    thread.join(10), waiter.join(10)
    assert got == ["the warm-up's answer"] and warm_progress == list(range(10))
    assert warm.paused_s < 0.1 and workspace.visitors_computing() == 0


def test_it_never_pauses_holding_a_models_lock(workspace, en_model) -> None:
    locked, visitor_in, steps = threading.Event(), threading.Event(), []

    def endpoint(ws, progress=None):  # noqa: ANN001, ANN202
        with en_model.lock:  # e.g. a progress step inside a batch: a visitor would wait for this lock
            locked.set()
            visitor_in.wait(5)
            for step in range(5):
                progress(step / 5, "under the lock")
                steps.append(time.perf_counter())
        return "done"

    warm = WarmUp(workspace, [WarmJob("locked", endpoint, {})], idle_s=0.2, max_pause_s=5)
    thread = threading.Thread(target=warm.run)
    thread.start()
    assert locked.wait(5)
    with workspace.serving():  # a visitor computes (and would need the lock)
        visitor_in.set()
        thread.join(10)
    assert warm.done.keys() == {"locked"} and len(steps) == 5 and warm.paused_s < 0.1


def test_a_failing_default_is_recorded_and_the_next_one_runs(workspace) -> None:
    def refuses(ws, progress=None):  # noqa: ANN001, ANN202
        raise ValueError("a default the model refuses")

    log: list[float] = []
    warm = WarmUp(workspace, [WarmJob("bad", refuses, {}), WarmJob("good", stepping(2, 0.0, log), {})])
    assert "0 of 2 ready" in warm.status_line()
    warm.run()
    assert warm.failed == {"bad": "a default the model refuses"} and set(warm.done) == {"good"}
    assert warm.status_line() == ("Background preparation ended: 1 of 2 defaults ready; "
                                  "not prepared: bad (a default the model refuses).")  # which failed, and why


def test_a_model_that_does_not_load_stops_it_before_any_default(tmp_path) -> None:
    """Each default would try the load again, and log it again: the warm-up records why and computes nothing."""
    from xlm_explorer.models import ModelManager
    from xlm_explorer.workspace import Workspace

    ws = Workspace(ModelManager({"en-2048": str(tmp_path / "absent"), "100-1280": str(tmp_path / "absent")}, device="cpu"))
    log: list[float] = []
    warm = WarmUp(ws, [WarmJob("one", stepping(2, 0.0, log), {}), WarmJob("two", stepping(2, 0.0, log), {})])
    warm.run()
    assert log == [] and warm.done == {} and warm.finished
    assert warm.failed == {"one": "en-2048, 100-1280 did not load", "two": "en-2048, 100-1280 did not load"}
    assert ws.manager.load_count == {"en-2048": 1, "100-1280": 1}
    assert warm.status_line() == ("Background preparation ended: 0 of 2 defaults ready; not prepared: "
                                  "one (en-2048, 100-1280 did not load); two (en-2048, 100-1280 did not load).")


def test_stop_ends_it_at_the_next_step_and_the_status_line_tells_how_far_it_is(workspace) -> None:
    log: list[float] = []
    warm = WarmUp(workspace, [WarmJob("long", stepping(200, 0.01, log), {}), WarmJob("next", stepping(1, 0, log), {})])
    warm.start()
    try:
        time.sleep(0.1)
        assert "0 of 2 ready (now: long)" in model_status_markdown(workspace)
        warm.stop(timeout=5)
        assert len(log) < 200 and warm.done == {} and not warm._thread.is_alive()  # noqa: SLF001
    finally:
        workspace.warm_up = None
    assert "Preparing" not in model_status_markdown(workspace)


def test_a_long_sets_progress_steps_come_outside_the_models_lock(workspace, en_model) -> None:
    """Between two batches of a long set the lock is free: a visitor's request runs there, and a warm-up pauses there."""
    owned = []
    inputs = [list(range(5, 5 + n)) for n in range(3, 3 + 3 * workspace.forward_cache.batch_size)]
    workspace.forward_cache.get_many(en_model, inputs, progress=lambda f, m: owned.append(en_model.lock._is_owned()))  # noqa: SLF001
    assert len(owned) == 3 and not any(owned)


@pytest.mark.parametrize(("value", "wanted"), [(None, True), ("1", True), ("0", False), ("false", False), ("No", False)])
def test_the_environment_turns_it_off(value: str | None, wanted: bool) -> None:
    assert warm_up_wanted({} if value is None else {"XLM_EXPLORER_WARM_UP": value}) is wanted


def test_an_open_page_reads_the_status_line_again_while_the_warm_up_runs_and_stops_after(workspace) -> None:
    """The line stayed at "0 of 12 ready" for 50 s while defaults finished: a timer ticks while it runs."""
    import gradio as gr

    from xlm_explorer.ui.app import build_demo

    demo = build_demo(workspace)
    ctx = demo.xlm_context
    tick = next(d for d in demo.fns.values() if d.name == "tick" and getattr(d.fn, "__name__", "") == "tick").fn
    gate, log = threading.Event(), []

    def waits(ws, progress=None):  # noqa: ANN001, ANN202
        gate.wait(10)
        return None

    workspace.warm_up = WarmUp(workspace, [WarmJob("first", stepping(1, 0.0, log), {}), WarmJob("second", waits, {})]).start()
    try:
        deadline = time.time() + 10
        while "1 of 2 ready" not in tick()[0] and time.time() < deadline:
            time.sleep(0.05)
        line, *cards, timer = tick()
        assert "1 of 2 ready" in line and "now: second" in line and timer.active  # it advanced, nobody clicked
        assert len(cards) == len(ctx.model_cards)
        gate.set()
        while not workspace.warm_up.finished and time.time() < deadline:
            time.sleep(0.05)
        line, *cards, timer = tick()
        assert "Preparing" not in line and timer.active is False  # ended: the page stops asking
        loaded = [key for key in ctx.model_cards if workspace.manager.is_loaded(key)]
        assert loaded and all("Layers" in cards[list(ctx.model_cards).index(k)] for k in loaded)  # a loaded model's card has its facts
        assert all(isinstance(c, str) or c == gr.skip() for c in cards)
    finally:
        gate.set()
        workspace.warm_up = None


def test_every_run_refreshes_the_status_line_and_the_model_cards(workspace) -> None:
    """A run may load a model: the line's "loads on first use" becomes "ready" and the Models card shows its facts.
    (The refresh was wired before the cards existed and ran nothing.)"""
    from xlm_explorer.ui.app import build_demo

    demo = build_demo(workspace)
    ctx = demo.xlm_context
    cards = {c._id for c in ctx.model_cards.values()}
    refreshes = [d for d in demo.fns.values()
                 if getattr(d.fn, "__name__", "") == "now" and cards <= {o._id for o in d.outputs}]
    assert len(ctx.run_events) > len(demo.xlm_context.api_names) and len(refreshes) == len(ctx.run_events)
    line, *shown = refreshes[0].fn()
    assert line.startswith("Models:") and len(shown) == len(cards)
