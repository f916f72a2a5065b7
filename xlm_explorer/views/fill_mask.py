"""Views of fill-mask results: ranked bar charts, tables, and the completed sentence as HTML."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.fill_mask import FillMaskResult
from ..tokenization import MASK_PATTERN

TABLE_COLUMNS = ["mask", "rank", "token", "piece", "probability"]
MODEL_COLOURS = {"en-2048": "#1f77b4", "100-1280": "#ff7f0e"}


def make_fill_mask_figure(result: FillMaskResult) -> go.Figure:
    """One horizontal ranked bar chart per mask, best candidate on top."""
    n = max(1, len(result.masks))
    fig = make_subplots(
        rows=n,
        cols=1,
        subplot_titles=[f"Mask {m.mask_index + 1} (token position {m.position})" for m in result.masks] or None,
        vertical_spacing=min(0.12, 0.4 / n),
    )
    colour = MODEL_COLOURS.get(result.model, "#1f77b4")
    for row, mask in enumerate(result.masks, start=1):
        preds = list(mask.predictions)[::-1]
        fig.add_trace(
            go.Bar(
                x=[p.probability for p in preds],
                y=[f"{len(preds) - i}. {p.token}" for i, p in enumerate(preds)],
                orientation="h",
                marker_color=colour,
                text=[f"{p.probability:.3f}" for p in preds],
                textposition="auto",
                customdata=[[p.piece, p.token_id] for p in preds],
                hovertemplate="%{y}<br>piece %{customdata[0]} (id %{customdata[1]})<br>p = %{x:.4f}<extra></extra>",
                name=f"mask {mask.mask_index + 1}",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        fig.update_xaxes(title_text="probability", rangemode="tozero", row=row, col=1)
    k = max((len(m.predictions) for m in result.masks), default=1)
    fig.update_layout(
        title=f"{result.model}: top {k} per mask",
        height=min(4000, 120 + n * (60 + 22 * k)),
        margin=dict(l=10, r=10, t=60, b=30),
        bargap=0.15,
    )
    return fig


def make_fill_mask_table(result: FillMaskResult) -> pd.DataFrame:
    """Rows (mask, rank, token, piece, probability), ranked within each mask."""
    rows = [
        (m.mask_index + 1, rank, p.token, p.piece, round(p.probability, 6))
        for m in result.masks
        for rank, p in enumerate(m.predictions, start=1)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def make_completion_html(result: FillMaskResult, alternatives: int = 3) -> str:
    """The sentence with each mask filled by the top prediction (bold) and the runners-up; all escaped."""
    masks = iter(result.masks)

    def fill(_match: object) -> str:
        mask = next(masks, None)
        if mask is None or not mask.predictions:
            return "<b>?</b>"
        best = html.escape(mask.predictions[0].token)
        others = " / ".join(html.escape(p.token) for p in mask.predictions[1:alternatives])
        title = f' title="also: {others}"' if others else ""
        return f'<mark class="xlm-fill"{title}><b>{best}</b></mark>'

    parts = MASK_PATTERN.split(result.text)
    body = "".join(html.escape(part) + (fill(None) if i < len(parts) - 1 else "") for i, part in enumerate(parts))
    lines = [f'<div class="xlm-completion" dir="auto"><span class="xlm-model">{html.escape(result.model)}</span> {body}</div>']
    if result.masks and alternatives > 1:
        items = "".join(
            f"<li>mask {m.mask_index + 1}: "
            + ", ".join(f"{html.escape(p.token)} ({p.probability:.1%})" for p in m.predictions[:alternatives])
            + "</li>"
            for m in result.masks
        )
        lines.append(f'<ul class="xlm-alternatives" dir="auto">{items}</ul>')
    if result.notices:
        lines.append("".join(f'<p class="xlm-notice">{html.escape(n)}</p>' for n in result.notices))
    return "\n".join(lines)
