"""The head view as a picture: lines between the tokens for one layer and chosen heads (bertviz's head view drawn
as a plotly figure, so it saves as PNG and SVG with every other figure; bertviz #13).

Plain arrays in, a figure out: the query tokens (attending) stand in a column on the left, the key tokens (attended
to) on the right, and one line joins query i to key j per head, its opacity the weight ``attention[h, i, j]`` (as
bertviz draws it) and its colour the head's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..analysis.attention import AttentionResult
from .attention import plotly_text
from .style import PALETTE

#: Weights below this are not drawn (each row sums to 1, so a row has at most 1 / LINE_MIN_WEIGHT lines per head).
LINE_MIN_WEIGHT = 0.02
#: Opacity steps: the lines of one head are drawn as this many traces, each at its step's opacity.
OPACITY_STEPS = 10
#: Vertical space per token, and the picture's width.
ROW_PX, PICTURE_WIDTH_PX = 24, 620


@dataclass(frozen=True)
class HeadLines:
    """The segments of one head at one opacity step: ``x`` / ``y`` with ``None`` between segments."""

    head: int
    opacity: float
    x: list[float | None]
    y: list[float | None]
    count: int


def head_lines(
    attention: np.ndarray, heads: Sequence[int], hidden: Sequence[int] = (), min_weight: float = LINE_MIN_WEIGHT
) -> list[HeadLines]:
    """Segments per head and opacity step. attention: (heads, T, T) of one layer; ``hidden``: positions whose lines
    (to or from them) are left out. A weight w >= ``min_weight`` falls in step ceil(w * OPACITY_STEPS), drawn at
    that step's upper opacity, so every line is as dark as its weight or at most one step darker."""
    n = attention.shape[-1]
    keep = np.ones((n, n), dtype=bool)
    keep[list(hidden), :] = False
    keep[:, list(hidden)] = False
    groups: list[HeadLines] = []
    for head in heads:
        weights = attention[head]
        steps = np.ceil(np.clip(weights, 0.0, 1.0) * OPACITY_STEPS).astype(int)
        drawn = keep & (weights >= min_weight)
        for step in range(1, OPACITY_STEPS + 1):
            queries, keys = np.nonzero(drawn & (steps == step))
            if not len(queries):
                continue
            x: list[float | None] = [v for _ in queries for v in (0.0, 1.0, None)]
            y: list[float | None] = [v for q, k in zip(queries.tolist(), keys.tolist()) for v in (q, k, None)]
            groups.append(HeadLines(int(head), step / OPACITY_STEPS, x, y, len(queries)))
    return groups


def head_colour(head: int) -> str:
    """One colour per head (the same head, the same colour, in every picture)."""
    return PALETTE[head % len(PALETTE)]


def make_head_lines(result: AttentionResult, layer: int, heads: Sequence[int], hide_boundaries: bool = False) -> go.Figure:
    """The picture of ``heads`` at ``layer`` (sorted, each once), with the tokens on both sides; ``hide_boundaries``
    leaves out the lines to and from ``<s>`` and ``</s>`` (they soak up most weight in many heads)."""
    heads = sorted(set(int(h) for h in heads))
    hidden = result.boundary_positions if hide_boundaries else ()
    groups = head_lines(result.attentions[int(layer)], heads, hidden)
    fig = go.Figure()
    for head in heads:  # the legend's keys, at full opacity (the lines' traces are as faint as their weights)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=head_colour(head), width=3),
                                 name=f"head {head}", legendgroup=str(head)))
    for group in groups:
        fig.add_trace(go.Scatter(
            x=group.x, y=group.y, mode="lines", opacity=group.opacity, hoverinfo="skip",
            line=dict(color=head_colour(group.head), width=2), name=f"head {group.head}",
            legendgroup=str(group.head), showlegend=False,
        ))
    tokens = [plotly_text(t) for t in result.display_tokens]
    n = len(tokens)
    for x, side in ((0.0, "middle left"), (1.0, "middle right")):
        fig.add_trace(go.Scatter(
            x=[x] * n, y=list(range(n)), mode="text", text=tokens, textposition=side, showlegend=False, cliponaxis=False,
            hovertemplate="%{text} ·%{y}<extra></extra>",
        ))
    longest = max([len(t) for t in result.display_tokens] + [len("attended to")])
    side_px = min(220, 16 + 8 * longest)
    hidden_words = " (lines to and from <s>, </s> hidden)" if hide_boundaries else ""
    heads_words = f"head {heads[0]}" if len(heads) == 1 else f"heads {', '.join(map(str, heads))}"
    fig.update_layout(
        title=dict(text=plotly_text(f"{result.model}: layer {int(layer)}, {heads_words}{hidden_words}"), y=0.995, yanchor="top"),
        height=int(ROW_PX * max(n, 4) + 140), width=None,
        margin={"l": side_px, "r": side_px, "t": 100, "b": 30 + (24 * (1 + len(heads) // 9) if len(heads) > 1 else 0)},
        xaxis=dict(visible=False, range=[-0.02, 1.02], fixedrange=True),
        yaxis=dict(visible=False, range=[n - 0.5, -0.5], fixedrange=True),
        legend=dict(orientation="h", x=0.5, xanchor="center", y=0.0, yanchor="top"),
        showlegend=len(heads) > 1, plot_bgcolor="#ffffff",
        annotations=[
            dict(text="attending", x=0.0, y=1.0, xref="paper", yref="paper", xanchor="right", yanchor="bottom", showarrow=False),
            dict(text="attended to", x=1.0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False),
        ],
    )
    return fig


def picture_heads(chosen: Sequence[str], head: float, n_heads: int) -> list[int]:
    """The heads a picture draws: the chosen ones that the model has, or the heatmap's ``head`` when none is."""
    heads = [int(h) for h in chosen if str(h).isdigit() and int(h) < n_heads]
    return heads or [min(int(head), n_heads - 1)]


__all__ = ["HeadLines", "head_lines", "make_head_lines", "picture_heads", "head_colour", "LINE_MIN_WEIGHT"]
