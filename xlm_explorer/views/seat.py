"""Views of SEAT: the effect size over depth per model (significant layers marked), every sentence on the
attribute direction at one layer, and a table of effect sizes and p-values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.bias.seat import GROUP_LABELS, GROUPS, SeatResult
from .style import isolate, model_colour

GROUP_COLOURS = {"x": "#0067A5", "y": "#BE0032", "a": "#008856", "b": "#F38400"}
#: the p-value under which a layer is marked on the effect-size chart
SIGNIFICANT = 0.05


def make_effect_figure(results: Sequence[SeatResult]) -> go.Figure:
    """Effect size d per layer on the relative-depth axis (0: the embedding output), one line per model; filled
    markers where the permutation p-value is under :data:`SIGNIFICANT`."""
    fig = go.Figure()
    for r in results:
        depth = [layer / r.embeddings.n_layers for layer in range(r.embeddings.n_layers + 1)]
        significant = [p < SIGNIFICANT for p in r.p_values]
        fig.add_trace(go.Scatter(
            x=depth, y=[None if np.isnan(d) else d for d in r.effect_sizes], mode="lines+markers", name=r.model,
            line=dict(color=model_colour(r.model), width=2.5),
            marker=dict(size=10, symbol=["circle" if s else "circle-open" for s in significant], line=dict(width=2)),
            customdata=np.array([list(range(len(depth))), list(r.p_values)]).T,
            hovertemplate=f"{r.model} layer %{{customdata[0]}}<br>d = %{{y:.2f}}<br>p = %{{customdata[1]:.3g}}<extra></extra>",
        ))
    fig.add_hline(y=0, line=dict(color="#999", width=1))
    fig.update_layout(
        title=f"SEAT effect size per layer (filled: p < {SIGNIFICANT}; d > 0: X closer to A and Y to B)",
        xaxis=dict(title="relative depth (layer / layers; 0 = embeddings)", range=[-0.02, 1.02], tickformat=".2f"),
        yaxis=dict(title="effect size d", range=[-2.1, 2.1]), height=440,
        margin={"l": 10, "r": 10, "t": 60, "b": 50}, legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def make_direction_figure(results: Sequence[SeatResult], layer: int | None = None) -> go.Figure:
    """Per model, every sentence's position on mean(A) - mean(B) at ``layer`` (None or beyond a model's last: its
    last), one row per group: A's mean sits at +0.5, B's at -0.5."""
    fig = make_subplots(rows=1, cols=max(1, len(results)), shared_yaxes=True,
                        subplot_titles=[f"{r.model}: layer {min(layer if layer is not None else r.embeddings.n_layers, r.embeddings.n_layers)}"
                                        for r in results])
    for col, r in enumerate(results, start=1):
        at = min(layer if layer is not None else r.embeddings.n_layers, r.embeddings.n_layers)
        positions = r.projections(at)
        for group in GROUPS:
            members = [i for i, g in enumerate(r.groups) if g == group]
            fig.add_trace(go.Scatter(
                x=positions[members], y=[GROUP_LABELS[group]] * len(members), mode="markers", name=GROUP_LABELS[group],
                legendgroup=group, showlegend=col == 1, marker=dict(size=11, color=GROUP_COLOURS[group], opacity=0.8),
                text=[isolate(r.embeddings.texts[i]) for i in members], hovertemplate="%{text}<br>%{x:.2f}<extra></extra>",
            ), row=1, col=col)
        fig.update_xaxes(title_text="on mean(A) − mean(B)", row=1, col=col)
    fig.update_layout(title="Every sentence on the direction from the attributes B to A",
                      height=360, margin={"l": 10, "r": 10, "t": 60, "b": 50},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


def make_seat_table(results: Sequence[SeatResult]) -> pd.DataFrame:
    rows = []
    for r in results:
        for layer, (d, p) in enumerate(zip(r.effect_sizes, r.p_values)):
            rows.append({"model": r.model, "layer": layer, "effect size d": None if np.isnan(d) else round(d, 3),
                         "p-value": round(p, 4), "p": "exact" if r.exact else f"{r.n_samples:,} random splits"})
    return pd.DataFrame(rows)
