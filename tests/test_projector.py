"""Projector mode's figures (``views.style.for_projector`` through ``fit_figure``): every text at least 14 px and the
axis labels 20 px, lines thicker, black on white, room made for the larger title; the figure shown on a laptop is
left as it was; a session's switch decides which one the wiring draws."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xlm_explorer.ui.context import AppContext
from xlm_explorer.ui.wiring import reveal
from xlm_explorer.views.compare import rank_ticks
from xlm_explorer.views.style import PROJECTOR_MIN_TEXT_PX, fit_figure, for_projector


def font_sizes(node: Any, found: list[float] | None = None) -> list[float]:
    """Every font size set anywhere in a figure's JSON."""
    found = [] if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict) and "size" in value:
                sizes = value["size"] if isinstance(value["size"], list) else [value["size"]]
                found += [float(s) for s in sizes]
            font_sizes(value, found)
    elif isinstance(node, list):
        for value in node:
            font_sizes(value, found)
    return found


def a_figure() -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=["left panel", "right panel"])
    fig.add_trace(go.Scatter(x=[0, 1], y=[1, 2], mode="lines+markers", marker={"size": 6}, name="a"), row=1, col=1)
    fig.add_trace(go.Bar(x=["x", "y"], y=[3, 4], text=["3", "4"], textfont={"size": 9}, name="b"), row=1, col=2)
    fig.add_annotation(text="a small note", x=0, y=0, font={"size": 8}, showarrow=False)
    fig.update_xaxes(tickfont={"size": 10})
    fig.update_layout(title="A figure with a title long enough to wrap over two lines", height=400,
                      margin={"l": 40, "r": 10, "t": 60, "b": 40})
    return fig


def test_a_projected_figure_has_no_text_under_14_px_and_axis_labels_of_20() -> None:
    shown = fit_figure(a_figure(), projector=True)
    layout = shown.to_plotly_json()["layout"]
    assert min(font_sizes(shown.to_plotly_json())) >= PROJECTOR_MIN_TEXT_PX
    assert layout["font"]["size"] == 20 and layout["font"]["color"] == "#000000"  # ticks and axis titles inherit it
    assert layout["xaxis"]["tickfont"]["size"] >= 16.6  # an explicit 10 px tick font, scaled
    assert layout["title"]["font"]["size"] == 25 and layout["plot_bgcolor"] == "#ffffff"
    assert shown.data[0].line.width == 3.2 and shown.data[0].marker.size == 7.8
    assert layout["margin"]["l"] == 67 and layout["height"] > 500  # room for the larger texts


def test_the_laptop_figure_is_left_as_it_was() -> None:
    fig = a_figure()
    before = fig.to_plotly_json()
    projected = for_projector(fig)
    assert fig.to_plotly_json() == before and projected is not fig
    normal = fit_figure(a_figure())
    assert normal.layout.title.font.size == 15 and normal.layout.font.size is None


def test_the_wiring_draws_for_the_sessions_projector_switch(workspace) -> None:
    ctx = AppContext(ws=workspace)
    ctx.set_projector("room", True)
    assert ctx.in_projector("room") and not ctx.in_projector("laptop")
    projected = reveal([None], [a_figure()], ctx.in_projector("room"))[0]
    plain = reveal([None], [a_figure()], ctx.in_projector("laptop"))[0]
    assert projected.layout.font.size == 20 and plain.layout.font.size is None
    wrapped = reveal([None], [{"value": a_figure(), "visible": True}], True)[0]  # an update dict keeps its keys
    assert wrapped["visible"] is True and wrapped["value"].layout.font.size == 20
    ctx.set_projector("room", False)
    assert not ctx.in_projector("room")


def test_a_rank_axis_marks_whole_ranks_only() -> None:
    assert rank_ticks(1) == [1, 2, 5] and rank_ticks(7) == [1, 2, 5, 10, 20, 50]
    assert rank_ticks(30_145) == [1, 10, 100, 1_000, 10_000, 100_000]  # beyond two decades: powers of ten
