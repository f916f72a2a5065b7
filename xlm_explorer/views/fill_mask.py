"""Views of fill-mask results: ranked bar charts, tables, and the completed sentence as HTML."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.fill_mask import FillMaskResult
from ..tokenization import MASK_PATTERN
from .style import bdi, isolate, model_colour, percent, percent_tickformat

TABLE_COLUMNS = ["mask", "rank", "token", "probability", "piece", "token id"]


def make_fill_mask_figure(result: FillMaskResult, x_max: float | None = None) -> go.Figure:
    """One horizontal ranked bar chart per mask, best candidate on top; ``x_max`` shares the probability axis
    between side-by-side panels."""
    n = max(1, len(result.masks))
    fig = make_subplots(
        rows=n,
        cols=1,
        subplot_titles=[f"Mask {m.mask_number} (token position {m.position})" for m in result.masks] or None,
        vertical_spacing=min(0.12, 0.4 / n),
    )
    colour = model_colour(result.model)
    for row, mask in enumerate(result.masks, start=1):
        preds = list(mask.predictions)[::-1]
        fig.add_trace(
            go.Bar(
                x=[p.probability for p in preds],
                y=[f"{len(preds) - i}. {isolate(html.escape(p.token))}" for i, p in enumerate(preds)],
                orientation="h",
                marker_color=colour,
                text=[percent(p.probability) for p in preds],
                textposition="auto",
                customdata=[[html.escape(p.piece), p.token_id, percent(p.probability)] for p in preds],
                hovertemplate="%{y}<br>piece %{customdata[0]} (id %{customdata[1]})<br>p = %{customdata[2]}<extra></extra>",
                name=f"mask {mask.mask_number}",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        largest = x_max or max((p.probability for p in preds), default=0.0)
        fig.update_xaxes(title_text="probability", rangemode="tozero", tickformat=percent_tickformat(largest), row=row, col=1,
                         **({"range": [0, x_max * 1.05]} if x_max else {}))
    k = max((len(m.predictions) for m in result.masks), default=1)
    fig.update_layout(
        title=f"{result.model}: top {k} per mask",
        height=min(4000, 120 + n * (60 + 22 * k)),
        margin=dict(l=10, r=10, t=60, b=30),
        bargap=0.15,
    )
    return fig


def make_fill_mask_table(result: FillMaskResult) -> pd.DataFrame:
    """Rows (mask, rank, token, probability as a percentage, piece, token id), ranked within each mask."""
    rows = [
        (m.mask_number, rank, p.token, percent(p.probability), p.piece, p.token_id)
        for m in result.masks
        for rank, p in enumerate(m.predictions, start=1)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def shared_x_max(results: list[FillMaskResult]) -> float | None:
    """The largest probability over side-by-side results (their panels share the axis up to it)."""
    values = [p.probability for r in results for m in r.masks for p in m.predictions]
    return max(values) if values else None


def make_completion_html(result: FillMaskResult, alternatives: int = 3) -> str:
    """The sentence with each mask filled by the top prediction (bold) and the runners-up; all escaped."""
    masks = iter(result.masks)

    def fill(_match: object) -> str:
        mask = next(masks, None)
        if mask is None or not mask.predictions:
            return "<b>?</b>"
        best = bdi(mask.predictions[0].token)
        others = " / ".join(html.escape(p.token) for p in mask.predictions[1:alternatives])
        title = f' title="also: {others}"' if others else ""
        return f'<mark class="xlm-fill"{title}><b>{best}</b></mark>'

    parts = MASK_PATTERN.split(result.text)
    body = "".join(html.escape(part) + (fill(None) if i < len(parts) - 1 else "") for i, part in enumerate(parts))
    lines = [
        f'<div class="xlm-completion"><span class="xlm-model">{html.escape(result.model)}</span> '
        f'<bdi class="xlm-text" dir="auto">{body}</bdi></div>'
    ]
    if result.masks and alternatives > 1:
        items = "".join(
            f"<li>mask {m.mask_number}: "
            + ", ".join(f"{bdi(p.token)} ({percent(p.probability)})" for p in m.predictions[:alternatives])
            + "</li>"
            for m in result.masks
        )
        lines.append(f'<ul class="xlm-alternatives" dir="auto">{items}</ul>')
    if result.notices:
        lines.append("".join(f'<p class="xlm-notice">{html.escape(n)}</p>' for n in result.notices))
    return "\n".join(lines)
