"""Heavy answers kept across sessions (``service.answers.remembered``): the same request again is answered from
memory by the very same answer, a different one computes; requests arriving together compute once and the ones
waiting say so and can still stop; a failed or stopped run is not kept, nor an answer with a model's load error;
an upload counts by its content, not its temporary path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from xlm_explorer import service
from xlm_explorer.cache import BoundedLRU
from xlm_explorer.service.answers import WAITING_MESSAGE, Answer, remembered, request_key


class Stop(Exception):
    pass


def counting(delay: float = 0.0, errors: dict | None = None):
    calls: list[tuple] = []

    @remembered
    def heavy(ws, text: str, top_k: float = 5, upload=None, progress=None) -> Answer:
        calls.append((text, top_k))
        if progress is not None:
            progress(0.5, "computing")
        time.sleep(delay)
        return Answer({"endpoint": "heavy", "errors": errors or {}, "text": text}, [text])

    return heavy, calls


def workspace_stub() -> SimpleNamespace:
    return SimpleNamespace(answers=BoundedLRU(2**20, name="heavy answers"))


def test_the_same_request_again_is_the_same_answer_and_another_computes() -> None:
    heavy, calls = counting()
    ws = workspace_stub()
    first = heavy(ws, "a [MASK]", 5)
    assert heavy(ws, "a [MASK]", top_k=5.0) is first  # 5 and 5.0, positional or named: one request
    assert heavy(ws, "a [MASK]") is first  # the default spelled out or not
    assert heavy(ws, "b [MASK]", 5) is not first
    assert calls == [("a [MASK]", 5), ("b [MASK]", 5)]
    assert ws.answers.hits == 2


def test_requests_arriving_together_compute_once_and_the_waiting_one_says_so() -> None:
    heavy, calls = counting(delay=1.5)
    ws = workspace_stub()
    seen: list[str] = []
    results: list[Answer] = []
    first = threading.Thread(target=lambda: results.append(heavy(ws, "x", progress=lambda f, m: None)))
    first.start()
    time.sleep(0.3)
    results.append(heavy(ws, "x", progress=lambda f, m: seen.append(m)))
    first.join()
    assert len(calls) == 1 and results[0] is results[1]
    assert WAITING_MESSAGE in seen and "computing" not in seen


def test_a_waiting_request_can_stop_and_the_run_it_waited_for_goes_on() -> None:
    heavy, calls = counting(delay=2.0)
    ws = workspace_stub()
    done: list[Answer] = []
    first = threading.Thread(target=lambda: done.append(heavy(ws, "x", progress=lambda f, m: None)))
    first.start()
    time.sleep(0.3)

    def stop(_fraction: float, _message: str) -> None:
        raise Stop()

    began = time.perf_counter()
    with pytest.raises(Stop):
        heavy(ws, "x", progress=stop)
    assert time.perf_counter() - began < 1.0  # it stopped waiting at once, not when the run ended
    first.join()
    assert len(calls) == 1 and done and heavy(ws, "x") is done[0]


def test_a_stopped_run_is_not_kept_and_the_next_request_computes() -> None:
    heavy, calls = counting()
    ws = workspace_stub()

    def stop(_fraction: float, _message: str) -> None:
        raise Stop()

    with pytest.raises(Stop):
        heavy(ws, "x", progress=stop)
    assert len(ws.answers) == 0
    heavy(ws, "x")
    assert len(calls) == 2 and len(ws.answers) == 1


def test_an_answer_with_a_models_load_error_is_not_kept() -> None:
    heavy, calls = counting(errors={"100-1280": "could not be loaded"})
    ws = workspace_stub()
    heavy(ws, "x")
    heavy(ws, "x")
    assert len(calls) == 2 and len(ws.answers) == 0


def test_an_upload_counts_by_its_content(tmp_path: Path) -> None:
    one, two, other = tmp_path / "1.csv", tmp_path / "2.csv", tmp_path / "3.csv"
    one.write_text("id,lang,text\n1,en,a\n")
    two.write_text("id,lang,text\n1,en,a\n")
    other.write_text("id,lang,text\n1,en,b\n")
    assert request_key("upload", str(one)) == request_key("upload", {"path": str(two)})
    assert request_key("upload", str(one)) != request_key("upload", str(other))
    assert request_key("languages", ["en", "fr"]) == ("en", "fr") and request_key("x", b"ab") == request_key("x", b"ab")


def test_a_heavy_endpoint_answers_the_same_request_from_memory(workspace) -> None:
    workspace.answers.clear()
    args = ("This is a man.\nHe is here.", "This is a woman.\nShe is here.", "This is a career.\nThat is a salary.",
            "This is a family.\nThat is a home.", "en-2048", "en")
    first = service.seat(workspace, *args)
    began = time.perf_counter()
    again = service.seat(workspace, *args)
    assert again is first and time.perf_counter() - began < 0.05
    assert service.seat.__name__ == "seat" and "targets_x" in str(__import__("inspect").signature(service.seat))
    assert next(s for s in workspace.cache_stats() if s["name"] == "heavy answers")["entries"] == 1


def test_a_view_whose_last_run_took_over_a_minute_says_so_unless_its_answer_is_kept() -> None:
    from xlm_explorer.ui.context import AppContext
    from xlm_explorer.ui.wiring import long_run_warning, stoppable

    heavy, _calls = counting()
    ctx = AppContext(ws=workspace_stub())
    assert long_run_warning(ctx, heavy, ["x", 5, None], "pick fewer languages") == ""  # never run here: no guess
    ctx.durations["heavy"] = 125.0
    assert long_run_warning(ctx, heavy, ["x", 5, None], "pick fewer languages") == (
        "Long run: about 2 min here last time; for a shorter one, pick fewer languages")
    ctx.durations["heavy"] = 75.0
    assert long_run_warning(ctx, heavy, ["x", 5, None], "") == "Long run: about 75 s here last time"
    heavy(ctx.ws, "x", 5)
    assert long_run_warning(ctx, heavy, ["x", 5, None], "pick fewer languages") == ""  # it comes from memory
    ctx.durations["heavy"] = 30.0
    assert long_run_warning(ctx, heavy, ["y", 5, None], "") == ""  # under a minute: nothing to say

    shown: list[str] = []
    report = stoppable(lambda fraction, desc: shown.append(desc), None, "Long run: about 2 min here last time")
    report(0.1, "layer 3 of 12")
    assert shown == ["Long run: about 2 min here last time · layer 3 of 12"]
