"""Views of the embedding explorer: projection scatter plots, alignment-by-layer charts, tables, exports."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.alignment import AlignmentMetrics, Neighbour
from ..analysis.embeddings import EmbeddingSet, ModelExploration, PointNeighbours
from .style import language_colours

MODEL_SYMBOLS = {"en-2048": "circle", "100-1280": "diamond"}
MODEL_SYMBOLS_FALLBACK = ("square", "cross", "x")
HOVER_TEXT_CHARS = 120
POINT_COLUMNS = ["model", "layer", "method", "index", "id", "lang", "text", "x", "y", "z"]
METRIC_COLUMNS = ["model", "pooling", "centered", "layer", "metric", "lang", "value"]
NEIGHBOUR_COLUMNS = ["rank", "cosine", "id", "lang", "text"]


def _hover_label(text: str) -> str:
    """User text made safe for plotly's hover (which renders a subset of HTML): cut, then escaped."""
    short = text if len(text) <= HOVER_TEXT_CHARS else text[: HOVER_TEXT_CHARS - 1] + "…"
    return html.escape(short)


def _model_symbol(model: str, index: int) -> str:
    return MODEL_SYMBOLS.get(model, MODEL_SYMBOLS_FALLBACK[index % len(MODEL_SYMBOLS_FALLBACK)])


def make_projection_figure(explorations: Sequence[ModelExploration], join_translations: bool = False) -> go.Figure:
    """One scatter panel per (model, layer): rows are models, columns layers.

    Colour = language, marker symbol = model; hover shows text, language, id. With ``join_translations``
    a thin grey line joins the rows sharing an item id. Each model's panels have their own axes: two
    models' coordinates come from different projections and are not comparable.
    """
    explorations = [e for e in explorations if e.panels]
    if not explorations:
        return go.Figure()
    dims = explorations[0].panels[0].projection.dims
    n_cols = max(len(e.panels) for e in explorations)
    titles = _panel_titles(explorations, n_cols)
    cell = {"type": "scene"} if dims == 3 else {"type": "xy"}
    fig = make_subplots(
        rows=len(explorations),
        cols=n_cols,
        subplot_titles=titles,
        specs=[[dict(cell) for _ in range(n_cols)] for _ in explorations],
        horizontal_spacing=0.04 if dims == 2 else 0.01,
        vertical_spacing=0.08,
    )
    all_langs = [lang for e in explorations for lang in e.embeddings.langs]
    colours = language_colours(all_langs)
    shown_legend: set[str] = set()
    for row, exploration in enumerate(explorations, start=1):
        emb = exploration.embeddings
        symbol = _model_symbol(exploration.model, row - 1)
        hover = [_hover_label(t) for t in emb.texts]
        for col, panel in enumerate(exploration.panels, start=1):
            coords = panel.projection.coords
            if join_translations:
                fig.add_trace(_translation_lines(emb, coords, dims), row=row, col=col)
            for lang in dict.fromkeys(emb.langs):
                rows = [i for i, code in enumerate(emb.langs) if code == lang]
                # model and layer ride along so that a click names the point (see ui/embeddings_tab.CLICK_JS)
                customdata = [[hover[i], emb.langs[i], html.escape(emb.item_ids[i]), i, exploration.model, panel.layer] for i in rows]
                common = dict(
                    name=lang,
                    legendgroup=lang,
                    showlegend=lang not in shown_legend,
                    customdata=customdata,
                    hovertemplate=(
                        "%{customdata[0]}<br>lang %{customdata[1]} · id %{customdata[2]} · #%{customdata[3]}"
                        f"<extra>{html.escape(exploration.model)} L{panel.layer}</extra>"
                    ),
                    mode="markers",
                )
                marker = dict(color=colours[lang], symbol=symbol, size=7 if dims == 2 else 4, opacity=0.85)
                if dims == 3:
                    trace = go.Scatter3d(x=coords[rows, 0], y=coords[rows, 1], z=coords[rows, 2], marker=marker, **common)
                else:
                    trace = go.Scattergl(x=coords[rows, 0], y=coords[rows, 1], marker=marker, **common)
                fig.add_trace(trace, row=row, col=col)
                shown_legend.add(lang)
    if len(explorations) > 1:
        models = ", ".join(f"{e.model} = {_model_symbol(e.model, i)}" for i, e in enumerate(explorations))
        title = f"Colour = language, symbol = model ({models})"
    else:
        title = f"{explorations[0].model}: colour = language"
    if any(p.projection.method == "direction" for e in explorations for p in e.panels):
        title += "; x: from mean(A) at −½ to mean(B) at +½, y: PCA of the rest"
    fig.update_layout(
        title=title,
        height=min(2400, 140 + 420 * len(explorations)),
        margin=dict(l=10, r=10, t=80, b=10),
        legend_title_text="language",
        hoverlabel=dict(align="left"),
    )
    if dims == 2:
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
        for row, exploration in enumerate(explorations, start=1):
            for col, panel in enumerate(exploration.panels, start=1):
                if panel.projection.method == "direction":
                    _mark_group_means(fig, exploration.groups, row, col)
    return fig


def _panel_titles(explorations: Sequence[ModelExploration], n_cols: int) -> list[str]:
    """One title per grid cell, row by row ("" where a model has fewer panels)."""
    titles = []
    for exploration in explorations:
        for col in range(n_cols):
            if col < len(exploration.panels):
                panel = exploration.panels[col]
                method = "A → B" if panel.projection.method == "direction" else panel.projection.method.upper()
                titles.append(f"{exploration.model} · layer {panel.layer} · {method}")
            else:
                titles.append("")
    return titles


def _mark_group_means(fig: go.Figure, groups: Sequence[str], row: int, col: int) -> None:
    """A direction panel's x axis: its ticks, and dashed lines at the group means (A at -1/2, B at +1/2) named inside
    the panel's foot (above the panel they would sit on its title)."""
    for x, name, query, anchor in ((-0.5, "A", groups[0], "right"), (0.5, "B", groups[1], "left")):
        label = html.escape(query if len(query) <= 24 else query[:23] + "…")
        fig.add_vline(x=x, line=dict(color="rgba(60,60,60,0.55)", dash="dash", width=1), row=row, col=col)
        fig.add_annotation(x=x, y=0.01, yref="y domain", text=f"{name}: {label}", showarrow=False, xanchor=anchor,
                           yanchor="bottom", font=dict(size=11, color="#333"), bgcolor="rgba(255,255,255,0.7)",
                           row=row, col=col)
    fig.update_xaxes(showticklabels=True, row=row, col=col)


def _translation_lines(emb: EmbeddingSet, coords, dims: int) -> go.BaseTraceType:
    """One trace of line segments joining each item's rows (None breaks the line between items)."""
    groups: dict[str, list[int]] = {}
    for i, item_id in enumerate(emb.item_ids):
        groups.setdefault(item_id, []).append(i)
    xs: list[float | None] = []
    ys: list[float | None] = []
    zs: list[float | None] = []
    for rows in groups.values():
        if len(rows) < 2:
            continue
        for i in rows:
            xs.append(float(coords[i, 0]))
            ys.append(float(coords[i, 1]))
            zs.append(float(coords[i, 2]) if dims == 3 else None)
        xs.append(None)
        ys.append(None)
        zs.append(None)
    line = dict(color="rgba(110,110,110,0.45)", width=1 if dims == 2 else 2)
    if dims == 3:
        return go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=line, hoverinfo="skip", showlegend=False, name="translations")
    return go.Scattergl(x=xs, y=ys, mode="lines", line=line, hoverinfo="skip", showlegend=False, name="translations")


def make_alignment_figure(metrics: Sequence[AlignmentMetrics]) -> go.Figure:
    """Per model, a line chart over layers: the summary lines first (mean P@1 → reference, mean over all pairs,
    language separability and the chance levels), then P@1 of each language → reference (thin, the language's
    colour). After per-language centring a note says why separability can fall below chance."""
    metrics = list(metrics)
    if not metrics:
        return go.Figure()
    fig = make_subplots(
        rows=1,
        cols=len(metrics),
        subplot_titles=[f"{m.model}: {m.pooling} pooling{', centred' if m.centered else ''}" for m in metrics],
        shared_yaxes=True,
        horizontal_spacing=0.06,
    )
    colours = language_colours([lang for m in metrics for lang in m.p_at_1])
    shown: set[str] = set()

    def add(trace: go.Scatter, group: str, col: int) -> None:
        trace.update(legendgroup=group, showlegend=group not in shown)
        fig.add_trace(trace, row=1, col=col)
        shown.add(group)

    for col, m in enumerate(metrics, start=1):
        layers = list(m.layers)
        summary = [
            ("mean_vs_reference", f"mean P@1 → {m.reference}", m.mean_vs_reference, dict(color="black", width=4)),
            ("mean_all_pairs", "mean P@1, all pairs", m.mean_all_pairs, dict(color="black", width=2, dash="dash")),
            ("separability", "language separability", m.separability, dict(color="#BE0032", width=3, dash="dot")),
        ]
        for group, name, values, line in summary:
            add(go.Scatter(x=layers, y=list(values), mode="lines+markers", name=name, line=line,
                           hovertemplate=f"{name}, layer %{{x}}: %{{y:.3f}}<extra>{m.model}</extra>"), group, col)
        for name, level, colour in (("chance P@1", m.chance_retrieval, "grey"), ("chance separability", m.chance_separability, "#BE0032")):
            if level is not None:
                add(go.Scatter(x=[layers[0], layers[-1]], y=[level, level], mode="lines", name=name, opacity=0.6,
                               line=dict(color=colour, width=1, dash="dot"), hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>"),
                    name, col)
        for lang, values in m.p_at_1.items():
            add(go.Scatter(x=layers, y=list(values), mode="lines", name=f"{lang} → {m.reference}", opacity=0.7,
                           line=dict(color=colours[lang], width=1),
                           hovertemplate=f"{lang} → {m.reference}, layer %{{x}}: P@1 %{{y:.3f}}<extra>{m.model}</extra>"),
                lang, col)
        fig.update_xaxes(title_text="layer (0 = embeddings)", dtick=1, row=1, col=col)
    fig.update_yaxes(title_text="P@1 / accuracy", range=[-0.02, 1.02], row=1, col=1)
    if any(m.centered for m in metrics):
        fig.add_annotation(
            text="Centred per language: the nearest-centroid classifier loses exactly the language means it relies on, "
            "so separability can fall below chance.",
            xref="paper", yref="paper", x=0, y=-0.22, showarrow=False, align="left", font=dict(size=12, color="#7a4f00"),
        )
    fig.update_layout(
        title="Where do languages align? Translation retrieval P@1 and language separability by layer",
        height=500 if any(m.centered for m in metrics) else 460,
        margin=dict(l=10, r=10, t=90, b=90 if any(m.centered for m in metrics) else 10),
        legend=dict(traceorder="normal", groupclick="togglegroup"),
    )
    return fig


def make_points_table(explorations: Sequence[ModelExploration]) -> pd.DataFrame:
    """One row per (model, layer, point): coordinates with id, language and text (z empty in 2D)."""
    rows = []
    for exploration in explorations:
        emb = exploration.embeddings
        for panel in exploration.panels:
            coords = panel.projection.coords
            for i in range(len(emb)):
                z = float(coords[i, 2]) if panel.projection.dims == 3 else None
                rows.append(
                    (exploration.model, panel.layer, panel.projection.method, i, emb.item_ids[i], emb.langs[i],
                     emb.texts[i], float(coords[i, 0]), float(coords[i, 1]), z)
                )
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def make_metrics_table(metrics: Sequence[AlignmentMetrics]) -> pd.DataFrame:
    """Long format: (model, pooling, centered, layer, metric, lang, value); lang is empty for summary metrics."""
    rows = []
    for m in metrics:
        for index, layer in enumerate(m.layers):
            for lang, values in m.p_at_1.items():
                rows.append((m.model, m.pooling, m.centered, layer, f"p_at_1_to_{m.reference}", lang, values[index]))
            rows.append((m.model, m.pooling, m.centered, layer, f"mean_p_at_1_to_{m.reference}", "", m.mean_vs_reference[index]))
            rows.append((m.model, m.pooling, m.centered, layer, "mean_p_at_1_all_pairs", "", m.mean_all_pairs[index]))
            rows.append((m.model, m.pooling, m.centered, layer, "language_separability", "", m.separability[index]))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def make_metrics_summary(metrics: Sequence[AlignmentMetrics]) -> pd.DataFrame:
    """Wide, for reading: one row per (model, layer) with the summary metrics rounded to 3 digits."""
    rows = []
    for m in metrics:
        for index, layer in enumerate(m.layers):
            rows.append(
                {
                    "model": m.model,
                    "layer": layer,
                    f"P@1 → {m.reference} (mean)": _round(m.mean_vs_reference[index]),
                    "P@1 all pairs (mean)": _round(m.mean_all_pairs[index]),
                    "language separability": _round(m.separability[index]),
                }
            )
    return pd.DataFrame(rows)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def make_neighbours_title(embeddings: EmbeddingSet, found: PointNeighbours) -> str:
    """Markdown naming the clicked point (user text escaped for Markdown/HTML)."""
    row = found.row
    text = html.escape(embeddings.texts[row][:120])
    return f"**Nearest neighbours** of #{row} ({embeddings.langs[row]}, {found.model}, layer {found.layer}): {text}"


def make_neighbours_table(embeddings: EmbeddingSet, neighbours: Sequence[Neighbour]) -> pd.DataFrame:
    """Nearest neighbours, best first: rank, cosine, id, language, text."""
    rows = [
        (rank, round(n.cosine, 4), embeddings.item_ids[n.index], embeddings.langs[n.index], embeddings.texts[n.index])
        for rank, n in enumerate(neighbours, start=1)
    ]
    return pd.DataFrame(rows, columns=NEIGHBOUR_COLUMNS)


def make_summary_html(explorations: Sequence[ModelExploration], dataset_name: str) -> str:
    """A short, escaped sentence per model: rows, tokens, best layer."""
    parts = []
    for e in explorations:
        best = e.metrics.best_layer()
        best_text = ""
        if best is not None:
            value = e.metrics.mean_vs_reference[best]
            best_text = f"; best translation retrieval at layer {best} (mean P@1 → {html.escape(e.metrics.reference)} {value:.2f})"
        parts.append(
            f"<li><b>{html.escape(e.model)}</b>: {len(e.embeddings)} texts, {e.embeddings.total_tokens:,} tokens, "
            f"{e.embeddings.n_layers} layers{best_text}{_direction_text(e)}</li>"
        )
    return f'<div class="xlm-embeddings-summary"><p>Data: {html.escape(dataset_name)}</p><ul>{"".join(parts)}</ul></div>'


def _direction_text(exploration: ModelExploration) -> str:
    """For direction panels: how well the axis from A to B separates the two groups at each layer shown."""
    shown = [p for p in exploration.panels if p.projection.method == "direction"]
    if not shown:
        return ""
    first = shown[0].projection
    a, b = (html.escape(q) for q in exploration.groups)
    if first.own_side is None:
        sides = "a group of one row has nothing to hold out"
    else:
        sides = "held out, rows on their own group's side (chance 50%): " + ", ".join(
            f"layer {p.layer} {100 * (p.projection.own_side or 0):.0f}%" for p in shown)
    n_a, n_b = first.groups or (0, 0)
    return (f". Direction A = <code>{a}</code> ({n_a} row{'s' * (n_a != 1)}) → B = <code>{b}</code> "
            f"({n_b} row{'s' * (n_b != 1)}); {sides}")


def payload_json(payload: dict) -> str:
    """The API payload as pretty JSON text (for the download)."""
    return json.dumps(payload, ensure_ascii=False, indent=1)
