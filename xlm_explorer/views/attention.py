"""Plotly views of attention results: one head's heatmap, statistic grids, per-language averages, tables.

The bertviz documents are :mod:`.bertviz`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.attention import (
    STATISTIC_LABELS,
    STATISTIC_NAMES,
    STATISTIC_UNITS,
    AttentionResult,
    AveragedStatistics,
    HeadStatistics,
)
from .style import language_colour

#: Heatmaps label every token up to this many; beyond, every k-th (hover always names both tokens).
HEATMAP_ALL_LABELS = 64
MODEL_COLOURSCALE = "Viridis"



def plotly_text(text: str) -> str:
    """A token for plotly labels and hovers: plotly reads a little HTML there, so escape it (it shows as text)."""
    return html.escape(text, quote=False)


def _tick_positions(n_tokens: int) -> list[int]:
    step = max(1, math.ceil(n_tokens / HEATMAP_ALL_LABELS))
    return list(range(0, n_tokens, step))


def make_head_heatmap(result: AttentionResult, layer: int, head: int) -> go.Figure:
    """Heatmap of one head: rows = query tokens (top to bottom), columns = key tokens; readable to 512 tokens.

    Axis categories are ``token ·position`` (unique, so repeated tokens stay apart); beyond 64 tokens only
    every k-th is labelled, and hovering names both tokens.
    """
    matrix = result.head(layer, head)  # (T, T)
    layer, head = int(layer), int(head)
    n = result.n_tokens
    labels = [f"{plotly_text(token)} ·{i}" for i, token in enumerate(result.display_tokens)]
    ticks = [labels[i] for i in _tick_positions(n)]
    fig = go.Figure(
        go.Heatmap(
            z=np.round(matrix.astype(np.float64), 4),
            x=labels,
            y=labels,
            colorscale=MODEL_COLOURSCALE,
            zmin=0.0,
            zmax=float(max(1e-6, matrix.max())),
            colorbar=dict(title=dict(text="attention", side="top"), thickness=12),
            hovertemplate="query %{y}<br>key %{x}<br>attention %{z:.4f}<extra></extra>",
        )
    )
    if result.sentence_b_start is not None:
        edge = result.sentence_b_start - 0.5
        for kwargs in (dict(x0=edge, x1=edge, y0=-0.5, y1=n - 0.5), dict(y0=edge, y1=edge, x0=-0.5, x1=n - 0.5)):
            fig.add_shape(type="line", line=dict(color="white", width=1, dash="dot"), **kwargs)
    size = int(min(1400, max(420, 16 * n + 160)))
    fig.update_layout(
        title=dict(text=f"{result.model}: layer {layer}, head {head} ({n} tokens)", y=0.995, yanchor="top"),
        height=size + 40,
        margin={"l": 10, "r": 10, "t": 130, "b": 10},
        xaxis=dict(title="key (attended to)", type="category", tickmode="array", tickvals=ticks, ticktext=ticks,
                   tickangle=-60, side="top", constrain="domain"),
        yaxis=dict(title="query (attending)", type="category", tickmode="array", tickvals=ticks, ticktext=ticks,
                   autorange="reversed", scaleanchor="x", constrain="domain"),
    )
    return fig


def make_message_figure(message: str) -> go.Figure:
    """An empty figure that says why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=plotly_text(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(height=200, xaxis=dict(visible=False), yaxis=dict(visible=False), margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def _grid_heatmap(grid: np.ndarray, name: str, zmin: float | None, zmax: float | None, showscale: bool) -> go.Heatmap:
    n_layers, n_heads = grid.shape
    return go.Heatmap(
        z=np.where(np.isfinite(grid), np.round(grid, 4), np.nan),
        x=list(range(n_heads)),
        y=list(range(n_layers)),
        colorscale=MODEL_COLOURSCALE,
        zmin=zmin,
        zmax=zmax,
        showscale=showscale,
        colorbar=dict(title=dict(text=STATISTIC_LABELS[name].split(" (")[0][:18], side="top"), thickness=12),
        hovertemplate="layer %{y}, head %{x}<br>" + STATISTIC_LABELS[name] + " %{z:.4f}<extra></extra>",
        xgap=1,
        ygap=1,
    )


def _shared_range(grids: Sequence[np.ndarray], name: str) -> tuple[float | None, float | None]:
    values = np.concatenate([g[np.isfinite(g)].ravel() for g in grids]) if grids else np.array([])
    if values.size == 0:
        return None, None
    if name.endswith("_share"):
        return 0.0, max(1e-6, float(values.max()))
    return float(values.min()), float(values.max())


def make_statistic_figure(results: Sequence[AttentionResult], statistic: str) -> go.Figure:
    """The (layers x heads) grid of one statistic per model, side by side (12 vs 16 layers), shared colour scale."""
    if not results:
        return go.Figure()
    grids = [r.statistics.get(statistic) for r in results]
    zmin, zmax = _shared_range(grids, statistic)
    fig = make_subplots(rows=1, cols=len(results), subplot_titles=[f"{r.model} ({r.n_tokens} tokens)" for r in results],
                        horizontal_spacing=0.08)
    for col, (result, grid) in enumerate(zip(results, grids), start=1):
        fig.add_trace(_grid_heatmap(grid, statistic, zmin, zmax, showscale=col == len(results)), row=1, col=col)
        fig.update_xaxes(title_text="head", dtick=1, row=1, col=col)
        fig.update_yaxes(title_text="layer", dtick=1, autorange="reversed", row=1, col=col)
    max_layers = max(r.n_layers for r in results)
    fig.update_layout(
        title=f"{STATISTIC_LABELS[statistic]} per head ({STATISTIC_UNITS[statistic]})",
        height=int(min(900, 180 + 28 * max_layers)),
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )
    return fig


def make_grid_table(statistics: HeadStatistics, statistic: str) -> pd.DataFrame:
    """One statistic as a (layers x heads) table: column ``layer`` then ``h0``, ``h1``...; click a cell to pick a head."""
    grid = statistics.get(statistic)
    frame = pd.DataFrame(np.round(grid, 3), columns=[f"h{h}" for h in range(grid.shape[1])])
    frame.insert(0, "layer", list(range(grid.shape[0])))
    return frame


STATISTICS_COLUMNS = ["model", "layer", "head", *STATISTIC_NAMES]


def make_statistics_table(results: Sequence[AttentionResult]) -> pd.DataFrame:
    """Long table, one row per (model, layer, head), one column per statistic (``cross_share`` empty outside pairs)."""
    rows = []
    for result in results:
        stats = result.statistics
        for layer in range(result.n_layers):
            for head in range(result.n_heads):
                row: list[object] = [result.model, layer, head]
                for name in STATISTIC_NAMES:
                    grid = getattr(stats, name)
                    row.append(None if grid is None or not np.isfinite(grid[layer, head]) else round(float(grid[layer, head]), 6))
                rows.append(row)
    return pd.DataFrame(rows, columns=STATISTICS_COLUMNS)


AVERAGE_COLUMNS = ["model", "lang", "n_sentences", "layer", "head", *STATISTIC_NAMES[:-1]]


def make_average_table(averages: Sequence[AveragedStatistics]) -> pd.DataFrame:
    """Long table of averaged statistics: one row per (model, language, layer, head)."""
    rows = []
    for averaged in averages:
        for item in averaged.languages:
            n_layers, n_heads = item.statistics.shape
            for layer in range(n_layers):
                for head in range(n_heads):
                    values = [getattr(item.statistics, name)[layer, head] for name in STATISTIC_NAMES[:-1]]
                    rows.append(
                        [averaged.model, item.lang, item.n_sentences, layer, head]
                        + [None if not np.isfinite(v) else round(float(v), 6) for v in values]
                    )
    return pd.DataFrame(rows, columns=AVERAGE_COLUMNS)


def make_language_figure(averaged: AveragedStatistics, statistic: str, columns: int = 4) -> go.Figure:
    """Small multiples: the (layers x heads) grid of one averaged statistic per language, one colour scale."""
    items = averaged.languages
    if not items:
        return go.Figure()
    grids = [item.statistics.get(statistic) for item in items]
    zmin, zmax = _shared_range(grids, statistic)
    cols = min(columns, len(items))
    rows = math.ceil(len(items) / cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=[f"{item.lang} (n={item.n_sentences})" for item in items],
        horizontal_spacing=0.04, vertical_spacing=min(0.12, 0.3 / rows),
    )
    for index, grid in enumerate(grids):
        row, col = divmod(index, cols)
        fig.add_trace(_grid_heatmap(grid, statistic, zmin, zmax, showscale=index == 0), row=row + 1, col=col + 1)
        fig.update_yaxes(autorange="reversed", row=row + 1, col=col + 1)
    n_layers = grids[0].shape[0]
    fig.update_layout(
        title=f"{averaged.model}: {STATISTIC_LABELS[statistic]} averaged per language (rows = layers, columns = heads)",
        height=int(min(2400, 120 + rows * (40 + 16 * n_layers))),
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )
    return fig


def make_language_profile(averages: Sequence[AveragedStatistics], statistic: str) -> go.Figure:
    """Mean over heads of one statistic per layer, one line per (model, language): layers compared across languages."""
    fig = make_subplots(rows=1, cols=max(1, len(averages)), subplot_titles=[a.model for a in averages] or None)
    for col, averaged in enumerate(averages, start=1):
        for item in averaged.languages:
            grid = item.statistics.get(statistic)
            with np.errstate(invalid="ignore"):
                profile = np.nanmean(np.where(np.isfinite(grid), grid, np.nan), axis=1) if np.isfinite(grid).any() else grid[:, 0]
            fig.add_trace(
                go.Scatter(x=list(range(len(profile))), y=np.round(profile, 4), mode="lines+markers",
                           name=f"{averaged.model} {item.lang}", legendgroup=item.lang,
                           line=dict(color=language_colour(item.lang), dash="solid" if col == 1 else "dash")),
                row=1, col=col,
            )
        fig.update_xaxes(title_text="layer", dtick=1, row=1, col=col)
    fig.update_layout(title=f"{STATISTIC_LABELS[statistic]}: mean over heads, per layer and language", height=420,
                      margin={"l": 10, "r": 10, "t": 70, "b": 10})
    return fig
