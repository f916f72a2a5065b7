"""The page's machinery without a browser: share links, redraws, Stop, a session's release, the declared views."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs

import gradio as gr
import pandas as pd
import pytest

from typing import Annotated

from xlm_explorer import answer_types
from xlm_explorer.service import Answer
from xlm_explorer.service.endpoint import Between, endpoint

#: a test endpoint's answer types (the shape is not what these tests check)
ANY_ANSWER = (answer_types.Empty, answer_types.Empty, answer_types.Empty)
from xlm_explorer.ui.context import AppContext
from xlm_explorer.ui.share import decode_value, encode_value, share_query
from xlm_explorer.ui.wiring import page_handler, redraw_handler


@pytest.mark.parametrize(
    ("component", "value"),
    [
        (gr.Textbox(), "Le chat dort sur le [MASK]. & ?=#"),
        (gr.Checkbox(), True),
        (gr.Checkbox(), False),
        (gr.Slider(1, 50), 7.0),
        (gr.Number(), 3.0),
        (gr.Number(), 2.5),
        (gr.CheckboxGroup(["en", "fr", "de"]), ["fr", "de"]),
        (gr.Dropdown(["middle", "last", "0"], multiselect=True), ["middle", "0"]),
        (gr.Radio(["2", "3"]), "3"),
        (gr.Radio([2, 3]), 3),  # the embeddings' Dimensions: a number comes back a number (it came back "3")
        (gr.Radio([("Both, side by side", "both"), ("en-2048", "en-2048")]), "both"),
    ],
)
def test_share_values_survive_the_round_trip_through_a_url(component, value) -> None:
    query = share_query("tab", "sub", ["x"], [value])
    params = {k: v[0] for k, v in parse_qs(query[1:], keep_blank_values=True).items()}
    assert params["tab"] == "tab" and params["view"] == "sub" and params["run"] == "1"
    assert decode_value(component, params["x"]) == value


def test_a_number_that_does_not_parse_falls_back_to_the_components_value() -> None:
    assert decode_value(gr.Number(value=4), "four") == 4
    assert encode_value(None) == "" and encode_value(3.0) == "3" and encode_value([1, "a"]) == '[1, "a"]'


def _request(session: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=session)


def _progress(*_args, **_kwargs) -> None:
    return None


def test_a_redraw_without_an_answer_leaves_the_outputs_and_with_one_draws() -> None:
    handler = redraw_handler(lambda answer, k: [answer.payload["n"] * k], n_outputs=1, n_controls=1)
    assert handler(None, 3, _request("s")) == gr.skip()  # one output: its value, not a list (gradio would take the
    assert handler(Answer({"n": 2}, None), 3, _request("s")) == 6  # list for the value: a plot refused it)
    two = redraw_handler(lambda answer, k: [k, 2 * k], n_outputs=2, n_controls=1)
    assert two(None, 3, _request("s")) == [gr.skip()] * 2 and two(Answer({}, None), 3, _request("s")) == [3, 6]
    failing = redraw_handler(lambda answer, k: [1 / 0], n_outputs=1, n_controls=1)
    with pytest.raises(gr.Error, match="Something went wrong"):
        failing(Answer({}, None), 1, _request("s"))


def test_stop_ends_a_run_at_its_next_progress_step(workspace) -> None:
    ctx = AppContext(ws=workspace)
    started, steps = threading.Event(), []

    @endpoint(answer=ANY_ANSWER)
    def long_run(ws, n: Annotated[int, Between(0, 1000)], progress=None):  # noqa: ANN001, ANN202 - a service function's shape
        started.set()
        for i in range(int(n)):
            progress(i / n, f"step {i}")
            steps.append(i)
            if i == 2:
                ctx.runs.stop("me")  # the Stop button, from another event
        return Answer({}, None)

    handler = page_handler(ctx, long_run, lambda answer, session: [None], outputs=[gr.Plot()])
    state, status, plot = handler(100, _progress, _request("me"))  # a neutral state, not an error toast
    assert state == gr.skip() and plot == gr.skip() and "Stopped" in status and "xlm-stopped" in status
    assert started.is_set() and steps == [0, 1, 2]  # stopped at the step after Stop, not at the end
    assert handler(1, _progress, _request("me"))[0].payload == {}  # the next run starts with the flag cleared


def test_a_closed_session_stops_its_run_and_leaves_nothing_behind(workspace, tmp_path: Path) -> None:
    from xlm_explorer.downloads import DownloadStore
    from xlm_explorer.ui.app import release_session

    ctx = AppContext(ws=workspace, downloads=DownloadStore(tmp_path))
    flag = ctx.runs.begin("gone")
    files = ctx.downloads.write("gone", "view", {"table": pd.DataFrame({"a": [1]})}, {"x": 1})
    kept = ctx.downloads.write("other", "view", {}, {"x": 2})
    holder = SimpleNamespace(lock=threading.Lock(), session_data={"gone": 1, "other": 2}, time_last_used={"gone": 0, "other": 0})
    release_session(ctx, SimpleNamespace(blocks={}, state_holder=holder), _request("gone"))
    assert flag.is_set()  # the running job stops at its next progress step
    assert not any(Path(f).exists() for f in files) and all(Path(f).exists() for f in kept)
    assert "gone" not in holder.session_data and "other" in holder.session_data
    assert "gone" not in ctx.runs._flags


def test_a_view_must_name_a_component_for_every_parameter_of_its_endpoint(workspace) -> None:
    from xlm_explorer import service
    from xlm_explorer.ui.widgets import view_controls
    from xlm_explorer.ui.wiring import Drawn, View, wire

    ctx = AppContext(ws=workspace)
    with gr.Blocks():
        text = gr.Textbox()
        view = View("x", view_controls("x", "Run"), service.fill_mask, {"text": text}, lambda a: Drawn([]))
        with pytest.raises(ValueError, match=r"parameters \['model', 'lang', 'top_k'\]"):
            wire(ctx, view)


def test_refused_input_is_a_message_on_the_status_line_and_the_event_succeeds(workspace) -> None:
    """A refused input must not fail the page event (a failed event left the button disabled, issue 24)."""
    from xlm_explorer.errors import UserInputError

    ctx = AppContext(ws=workspace)

    @endpoint(answer=ANY_ANSWER)
    def refuse(ws, text: str, progress=None):  # noqa: ANN001, ANN202 - a service function's shape
        raise UserInputError("The text is empty: type a sentence first. <b>")

    handler = page_handler(ctx, refuse, lambda answer, session: [None], outputs=[gr.Plot()])
    with pytest.warns(UserWarning):  # gr.Warning outside an event warns: on the page it is a toast
        state, status, plot = handler("", _progress, _request("me"))
    assert state == gr.skip() and plot == gr.skip()
    assert "xlm-error" in status and "The text is empty" in status and "&lt;b&gt;" in status and "<b>" not in status


def test_many_notices_fold_into_one_line_with_their_count_that_opens() -> None:
    """A phone's run bar held 10-16 notices, two screens tall: more than two fold into one line."""
    from xlm_explorer.ui.messages import FOLD_AFTER, notices_html

    two = notices_html(["a <b>", "b"])
    assert "<details" not in two and two.count("<li") == 2 and "&lt;b&gt;" in two
    many = notices_html([f"notice {i} <i>" for i in range(16)] + ["notice 0 <i>"])  # one repeated
    assert many.startswith('<details class="xlm-notices-fold') and "<summary>16 notices: <bdi>notice 0 &lt;i&gt;</bdi></summary>" in many
    assert many.count("<li") == 16 and "<i>" not in many and FOLD_AFTER == 2
