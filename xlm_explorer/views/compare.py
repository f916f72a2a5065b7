"""Views of the comparison results: tokenization chips, side-by-side tables, logit-lens and CKA heatmaps.

Every user-supplied string that reaches HTML is escaped; figures and tables carry text as data.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.compare import CompareResult, TokenizationSummary
from ..analysis.grid import CrosslingualGrid
from ..analysis.logit_lens import LogitLensResult
from ..analysis.similarity import LayerSimilarity
from .style import isolate, percent

CHIP_STYLE = "display:inline-block;margin:2px;padding:0 5px;border:1px solid #ccc;border-radius:4px;background:#f4f6fa;"

FACT_ROWS = (
    ("n_layers", "Layers"),
    ("hidden_size", "Hidden size"),
    ("n_heads", "Attention heads"),
    ("vocab_size", "Vocabulary"),
    ("n_parameters", "Parameters"),
    ("n_languages", "Languages"),
    ("lowercases", "Lowercases / strips accents"),
    ("language_embeddings", "Language embeddings used"),
    ("max_positions", "Max positions"),
)


def make_tokenization_html(summary: TokenizationSummary) -> str:
    """Tokens as chips (words split into several pieces are highlighted), with the counts above."""
    split_pieces = {piece for word in summary.words if word.n_pieces > 1 for piece in word.pieces}
    chips = []
    for token, token_id in zip(summary.tokens, summary.input_ids):
        style = CHIP_STYLE
        kind = "xlm-chip"
        if token.startswith("<") and token.endswith(">"):
            style, kind = style + "color:#777;", "xlm-chip xlm-chip-special"
        elif token in split_pieces:
            style, kind = style + "background:#ffe8cc;border-color:#f0a050;", "xlm-chip xlm-chip-split"
        chips.append(f'<bdi class="{kind}" style="{style}" title="id {int(token_id)}">{html.escape(token)}</bdi>')
    stats = (
        f"<b>{summary.n_pieces}</b> pieces for <b>{summary.n_words}</b> words "
        f"({summary.pieces_per_word:.2f} pieces per word); unknown: <b>{summary.n_unknown}</b> ({summary.unknown_share:.0%}); "
        "words split into several pieces are shaded"
    )
    notices = "".join(f'<p class="xlm-notice">{html.escape(n)}</p>' for n in summary.notices)
    return (
        f'<div class="xlm-tokenization"><div class="xlm-model">{html.escape(summary.model)} '
        f"(tokenized as {html.escape(summary.lang)})</div><div>{stats}</div>"
        f'<div class="xlm-chips" dir="auto" style="line-height:1.9">{"".join(chips)}</div>{notices}</div>'
    )


def make_tokenization_table(result: CompareResult) -> pd.DataFrame:
    """One row per model: piece and word counts, pieces per word, unknown pieces."""
    rows = [
        (
            t.model,
            t.lang,
            t.n_pieces,
            t.n_words,
            round(t.pieces_per_word, 3),
            t.n_unknown,
            round(t.unknown_share, 4),
            len([w for w in t.words if w.n_pieces > 1]),
        )
        for t in result.tokenizations
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "model",
            "tokenized as",
            "pieces",
            "words",
            "pieces per word",
            "unknown",
            "unknown share",
            "words split",
        ],
    )


def make_side_by_side_table(result: CompareResult) -> pd.DataFrame:
    """Fill-mask predictions in columns per model: mask, rank, <model> token, <model> probability, ..."""
    if not result.fill_masks:
        return pd.DataFrame(columns=["mask", "rank"])
    data: dict[str, list] = {"mask": [], "rank": []}
    first = result.fill_masks[0]
    for mask in first.masks:
        for rank in range(1, result.top_k + 1):
            data["mask"].append(mask.mask_number)
            data["rank"].append(rank)
    for fill in result.fill_masks:
        tokens, probs = [], []
        for mask in fill.masks:
            preds = list(mask.predictions) + [None] * (result.top_k - len(mask.predictions))
            tokens += [p.token if p else "" for p in preds[: result.top_k]]
            probs += [percent(p.probability) if p else "" for p in preds[: result.top_k]]
        data[f"{fill.model} token"] = tokens
        data[f"{fill.model} probability"] = probs
    return pd.DataFrame(data)


def make_overlap_table(result: CompareResult) -> pd.DataFrame:
    rows = [(o.mask_number, o.k, round(o.overlap, 4), ", ".join(o.shared)) for o in result.overlaps]
    return pd.DataFrame(rows, columns=["mask", "k", "overlap@k", "shared predictions"])


def make_facts_table(result: CompareResult) -> pd.DataFrame:
    """Model facts read from each loaded config, one column per model."""
    data: dict[str, list] = {"fact": [label for _, label in FACT_ROWS]}
    for facts in result.facts:
        values = []
        for key, _label in FACT_ROWS:
            value = facts.get(key)
            values.append(
                ("yes" if value else "no")
                if isinstance(value, bool)
                else f"{value:,}"
                if isinstance(value, int)
                else str(value)
            )
        data[str(facts["model"])] = values
    return pd.DataFrame(data)


def make_logit_lens_figure(results: Sequence[LogitLensResult]) -> go.Figure:
    """One heatmap per model: rows are layers placed at their relative depth (so 12 and 16 layers
    line up), columns the tokens, colour the probability."""
    n = max(1, len(results))
    fig = make_subplots(
        rows=1,
        cols=n,
        subplot_titles=[f"{r.model}: mask {r.mask_number}" for r in results] or None,
        horizontal_spacing=0.12,
    )
    zmax = max(
        [1e-9] + [float(r.matrix().max()) for r in results if r.probabilities]
    )  # one colour scale for all panels
    for col, result in enumerate(results, start=1):
        matrix = result.matrix()
        labels = [isolate(html.escape(c.token)) for c in result.columns]  # plotly reads tags in text
        layer_names = ["emb" if layer.layer == 0 else f"L{layer.layer}" for layer in result.layers]
        fig.add_trace(
            go.Heatmap(
                z=matrix,
                x=list(range(len(labels))),
                y=list(result.relative_depths),
                text=[[percent(v) for v in row] for row in matrix],
                texttemplate="%{text}" if matrix.size <= 400 else None,
                customdata=[[[name, label, percent(v)] for label, v in zip(labels, row)] for name, row in zip(layer_names, matrix)],
                hovertemplate="%{customdata[0]} (depth %{y:.2f})<br>%{customdata[1]}: p = %{customdata[2]}<extra></extra>",
                colorscale="Blues",
                zmin=0.0,
                zmax=zmax,
                showscale=col == n,
                colorbar={"title": {"text": "p", "side": "top"}, "thickness": 12},
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(tickvals=list(range(len(labels))), ticktext=labels, tickangle=-45, row=1, col=col)
        fig.update_yaxes(
            tickvals=list(result.relative_depths),
            # the layer's name only (its depth is where the row sits, and in the hover): "L12 (0.75)" ran into the
            # other panel on a phone
            ticktext=layer_names,
            row=1,
            col=col,
        )
    pad = 0.5 / max(1, min((r.n_layers for r in results), default=1))
    fig.update_yaxes(range=[-pad, 1 + pad])  # same depth scale in every panel: 12 and 16 layers line up
    fig.update_yaxes(title_text="layer, at its relative depth", row=1, col=1)
    fig.update_layout(
        title="Per-layer predictions (logit lens): the LM head applied to each layer's hidden state",
        height=max(420, 30 * max((len(r.layers) for r in results), default=10) + 160),
        margin={"l": 10, "r": 10, "t": 90, "b": 80},
    )
    fig.update_annotations(yshift=8)  # subplot titles clear of the tick labels
    return fig


def make_logit_lens_table(results: Sequence[LogitLensResult]) -> pd.DataFrame:
    """Long form: model, layer, relative depth, rank, token, piece, probability."""
    rows = [
        (r.model, layer.layer, rank, p.token, percent(p.probability), round(layer.relative_depth, 4), p.piece)
        for r in results
        for layer in r.layers
        for rank, p in enumerate(layer.predictions, start=1)
    ]
    return pd.DataFrame(rows, columns=["model", "layer", "rank", "token", "probability", "relative depth", "piece"])


def rank_ticks(worst: int) -> list[int]:
    """Ranks to mark on a log rank axis: 1, 2, 5, 10, 20, 50 up to the worst rank drawn, or only the powers of ten
    beyond two decades (whole ranks only: an automatic log axis writes 1.5 and 2.5, which no rank is, and crowds
    its ticks at projector size)."""
    steps = (1, 2, 5) if worst <= 100 else (1,)
    ticks, base = [], 1
    while not ticks or ticks[-1] < worst:
        ticks += [base * step for step in steps]
        base *= 10
    return ticks


def make_candidates_figure(results: Sequence[LogitLensResult]) -> go.Figure:
    """Rank of each candidate at every layer, both models on the relative-depth axis (log scale, 1 at the top); a
    marker where a candidate commits to the top-1."""
    fig = go.Figure()
    dashes = {"en-2048": "solid", "100-1280": "dot"}
    for r in results:
        depths = list(r.relative_depths)
        for c in r.candidates:
            name = f"{html.escape(c.token)} ({r.model})"
            fig.add_trace(go.Scatter(
                x=depths, y=list(c.ranks), mode="lines+markers", name=name, line={"dash": dashes.get(r.model, "dash")},
                customdata=[[percent(p), layer] for p, layer in zip(c.probabilities, range(len(depths)))],
                hovertemplate=f"{name}<br>layer %{{customdata[1]}} (depth %{{x:.2f}}): rank %{{y}}, p = %{{customdata[0]}}<extra></extra>",
            ))
            if c.commits_top1 is not None:
                fig.add_trace(go.Scatter(x=[depths[c.commits_top1]], y=[1], mode="markers", showlegend=False,
                                         marker={"symbol": "star", "size": 13, "line": {"width": 1}},
                                         hovertemplate=f"{name} commits to top-1 at layer {c.commits_top1}<extra></extra>"))
    worst = max((rank for r in results for c in r.candidates for rank in c.ranks), default=1)
    fig.update_yaxes(type="log", autorange="reversed", title_text="rank (1 = top)", tickvals=rank_ticks(worst))
    fig.update_xaxes(title_text="relative depth (layer / layers)", range=[-0.02, 1.02])
    fig.update_layout(title="Candidates over depth", height=460, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.18, "yanchor": "top"})
    return fig


def make_candidates_table(results: Sequence[LogitLensResult]) -> pd.DataFrame:
    """Per model and candidate: the layer it commits to top-1 / top-5 (and at what depth), its final rank and p."""
    rows = [(r.model, c.token, c.ranks[-1], percent(c.probabilities[-1]),
             "" if c.commits_top1 is None else f"{c.commits_top1} ({c.commits_top1 / r.n_layers:.2f})",
             "" if c.commits_top5 is None else f"{c.commits_top5} ({c.commits_top5 / r.n_layers:.2f})")
            for r in results for c in r.candidates]
    return pd.DataFrame(rows, columns=["model", "candidate", "final rank", "final probability",
                                       "commits to top-1 at layer (depth)", "commits to top-5 at layer (depth)"])


def make_cka_figure(similarity: LayerSimilarity) -> go.Figure:
    """Heatmap of linear CKA: rows are the layers of model A, columns of model B (0 = embeddings)."""
    cka = similarity.cka
    fig = go.Figure(
        go.Heatmap(
            z=cka,
            x=[f"{j}" for j in range(cka.shape[1])],
            y=[f"{i}" for i in range(cka.shape[0])],
            colorscale="Viridis",
            zmin=0.0,
            zmax=1.0,
            text=[[f"{v:.2f}" for v in row] for row in cka],
            texttemplate="%{text}" if cka.size <= 400 else None,
            hovertemplate=f"{html.escape(similarity.model_a)} layer %{{y}}<br>{html.escape(similarity.model_b)} layer %{{x}}<br>CKA = %{{z:.3f}}<extra></extra>",
            colorbar={"title": {"text": "CKA", "side": "top"}, "thickness": 12},
        )
    )
    fig.update_layout(
        title=f"Linear CKA between layers ({similarity.n_sentences} sentences; layer 0 = embeddings)",
        xaxis_title=f"{similarity.model_b} layer",
        yaxis_title=f"{similarity.model_a} layer",
        height=520,
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
    )
    return fig


def make_cka_table(similarity: LayerSimilarity) -> pd.DataFrame:
    """The CKA matrix with layer labels (rows: model A, columns: model B)."""
    frame = pd.DataFrame(
        similarity.cka.round(6),
        columns=[f"{similarity.model_b} L{j}" for j in range(similarity.cka.shape[1])],
    )
    frame.insert(0, f"{similarity.model_a} layer", list(range(similarity.cka.shape[0])))
    return frame


def make_grid_table(grid: CrosslingualGrid, shown: int = 3) -> pd.DataFrame:
    """One row per language: the template, then each model's top predictions ``token (p%)``."""
    by_row: dict[tuple[str, str, str], dict[str, str]] = {}
    for cell in grid.cells:
        row = by_row.setdefault((cell.template_id, cell.lang, cell.text), {})
        row[cell.model] = ", ".join(f"{isolate(p.token)} ({percent(p.probability)})" for p in cell.predictions[:shown])
    records = [
        {"lang": lang, "template": text, **{m: preds.get(m, "") for m in grid.models}}
        for (_tid, lang, text), preds in by_row.items()
    ]
    return pd.DataFrame(records, columns=["lang", "template", *grid.models])


def make_grid_long_table(grid: CrosslingualGrid) -> pd.DataFrame:
    rows = [
        (c.lang, c.text, c.model, rank, p.token, p.piece, percent(p.probability))
        for c in grid.cells
        for rank, p in enumerate(c.predictions, start=1)
    ]
    return pd.DataFrame(rows, columns=["lang", "template", "model", "rank", "token", "piece", "probability"])
