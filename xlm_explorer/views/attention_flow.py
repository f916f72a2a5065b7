"""Views of attention beyond raw weights: how each measure's ranking of the input tokens agrees with integrated
gradients over depth, the mask's rows at one layer beside |IG|, and a table of the agreements."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.attention_flow import MEASURE_LABELS, MEASURES, AttentionFlowResult
from .style import isolate

MEASURE_COLOURS = {"raw": "#848482", "rollout": "#0067A5", "norm": "#BE0032", "ig": "#2B3D26"}
MODEL_DASHES = {"en-2048": "solid", "100-1280": "dot"}


def make_agreement_figure(results: Sequence[AttentionFlowResult]) -> go.Figure:
    """Spearman's rho of each measure's mask row with |IG|, per layer on the relative-depth axis (layer / number of
    layers, so 12 and 16 layers line up), one line per model and measure."""
    fig = go.Figure()
    for r in results:
        rho = r.correlations()
        depth = [(layer + 1) / r.n_layers for layer in range(r.n_layers)]
        for k, name in enumerate(MEASURES):
            fig.add_trace(go.Scatter(
                x=depth, y=[None if np.isnan(v) else float(v) for v in rho[k]], mode="lines+markers",
                name=f"{name} ({r.model})", line=dict(color=MEASURE_COLOURS[name], dash=MODEL_DASHES.get(r.model, "dash"), width=2.5),
                hovertemplate=f"{r.model}, {MEASURE_LABELS[name]}<br>layer %{{customdata}}<br>ρ = %{{y:.2f}}<extra></extra>",
                customdata=list(range(1, r.n_layers + 1)),
            ))
    fig.add_hline(y=0, line=dict(color="#999", width=1))
    fig.update_layout(
        title="Which measure ranks the tokens as integrated gradients does? Spearman's ρ with |IG| at the mask",
        xaxis=dict(title="relative depth (layer / layers)", range=[0, 1.02], tickformat=".2f"),
        yaxis=dict(title="Spearman's ρ with |IG|", range=[-1.05, 1.05]),
        height=460, margin={"l": 10, "r": 10, "t": 60, "b": 50},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def make_rows_figure(results: Sequence[AttentionFlowResult], layer: int | None = None) -> go.Figure:
    """Per model, the mask's row of each measure at ``layer`` (1-based; None: the last) beside |IG| as shares of
    their sums, over the compared tokens."""
    fig = make_subplots(rows=max(1, len(results)), cols=1, vertical_spacing=0.22,
                        subplot_titles=[f"{r.model}: layer {min(layer or r.n_layers, r.n_layers)} of {r.n_layers}" for r in results])
    for row, r in enumerate(results, start=1):
        kept = r.kept
        labels = [f"{i} {isolate(r.attribution.tokens[i])}" for i in kept]
        at = min(layer or r.n_layers, r.n_layers) - 1
        ig = np.abs(np.asarray(r.attribution.integrated_gradients))[kept]
        shares = {"ig": ig / ig.sum() if ig.sum() > 0 else ig, **{name: r.mask_rows()[k, at, kept] for k, name in enumerate(MEASURES)}}
        for name, values in shares.items():
            fig.add_trace(go.Bar(x=labels, y=values, name="|IG|" if name == "ig" else MEASURE_LABELS[name],
                                 marker_color=MEASURE_COLOURS[name], showlegend=row == 1, legendgroup=name,
                                 hovertemplate="%{x}<br>share %{y:.3f}<extra></extra>"), row=row, col=1)
        fig.update_xaxes(tickangle=-45, row=row, col=1)
    fig.update_layout(title="The mask's row: what each measure says the prediction draws on, beside |IG|",
                      barmode="group", height=200 + 300 * max(1, len(results)), margin={"l": 10, "r": 10, "t": 60, "b": 40},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"}, yaxis_title="share")
    return fig


def make_agreement_table(results: Sequence[AttentionFlowResult]) -> pd.DataFrame:
    """One row per model and measure: rho at the last layer, the layer where it agrees most, and that rho."""
    rows = []
    for r in results:
        rho = r.correlations()
        for k, name in enumerate(MEASURES):
            finite = np.where(np.isnan(rho[k]), -np.inf, rho[k])
            best = int(np.argmax(finite))
            rows.append({"model": r.model, "measure": MEASURE_LABELS[name],
                         "ρ at the last layer": None if np.isnan(rho[k, -1]) else round(float(rho[k, -1]), 3),
                         "best layer": best + 1 if np.isfinite(finite[best]) else None,
                         "ρ there": None if not np.isfinite(finite[best]) else round(float(rho[k, best]), 3),
                         "tokens compared": len(r.kept)})
    return pd.DataFrame(rows)
