"""Views of whole-word answers of several pieces: the completed sentence, a ranked chart and a table per model."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.multi_piece import MultiPieceResult, WordCandidate
from ..tokenization import MASK_PATTERN, display_piece
from .style import bdi, isolate

TABLE_COLUMNS = ["model", "rank", "word", "pieces", "n pieces", "PLL-word-l2r", "PLL", "chain log-prob", "tokenizer's split"]
#: one colour per number of pieces (1..4), the same in every model's panel
PIECE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
SHOWN = 10


def pieces_text(candidate: WordCandidate) -> str:
    """``un@@ believ@@ able``: the pieces as the page shows them (``@@``: the word goes on); `` *`` marks a split the
    tokenizer would not write."""
    return " ".join(display_piece(p) for p in candidate.pieces) + ("" if candidate.canonical else " *")


def make_fill_word_html(results: Sequence[MultiPieceResult]) -> str:
    """Per model: the sentence completed with the best word, and the best word of each length; all escaped."""
    blocks = []
    for result in results:
        if not result.candidates:
            continue
        best = result.candidates[0]
        parts = MASK_PATTERN.split(result.text, maxsplit=1)
        filled = f'<mark class="xlm-fill"><b>{bdi(best.word)}</b></mark>'
        body = html.escape(parts[0]) + filled + (html.escape(parts[1]) if len(parts) > 1 else "")
        lengths = "".join(
            f"<li>{n} piece{'s' * (n > 1)}: {bdi(ranked[0].word)} <small>({html.escape(pieces_text(ranked[0]))}; "
            f"rank {result.candidates.index(ranked[0]) + 1})</small></li>"
            for n in range(1, result.max_pieces + 1) if (ranked := result.of_length(n))
        )
        notices = "".join(f'<p class="xlm-notice">{html.escape(n)}</p>' for n in result.notices)
        blocks.append(f'<div class="xlm-completion"><span class="xlm-model">{html.escape(result.model)}</span> '
                      f'<bdi class="xlm-text" dir="auto">{body}</bdi></div>'
                      f'<ul class="xlm-alternatives" dir="auto">{lengths}</ul>{notices}')
    return "\n".join(blocks)


def make_fill_word_figure(results: Sequence[MultiPieceResult]) -> go.Figure:
    """One ranked bar chart per model: the best :data:`SHOWN` words by the completed sentence's PLL-word-l2r,
    measured from the best (0 = the best, -1 = e times less likely), coloured by the number of pieces."""
    results = [r for r in results if r.candidates]
    if not results:
        return go.Figure()
    fig = make_subplots(rows=1, cols=len(results), subplot_titles=[r.model for r in results], horizontal_spacing=0.18)
    shown: set[int] = set()
    for col, result in enumerate(results, start=1):
        top = result.candidates[0].pll_word_l2r
        ranked = list(result.candidates[:SHOWN])[::-1]
        for n in sorted({c.n_pieces for c in ranked}):
            rows = [(len(ranked) - i, c) for i, c in enumerate(ranked) if c.n_pieces == n]
            fig.add_trace(go.Bar(
                x=[c.pll_word_l2r - top for _, c in rows],
                y=[f"{rank}. {isolate(html.escape(c.word))}" for rank, c in rows],
                orientation="h", marker_color=PIECE_COLOURS[(n - 1) % len(PIECE_COLOURS)],
                name=f"{n} piece{'s' * (n > 1)}", legendgroup=str(n), showlegend=n not in shown,
                customdata=[[html.escape(pieces_text(c)), round(c.pll, 3), round(c.chain_log_prob, 3)] for _, c in rows],
                hovertemplate="%{y}: %{customdata[0]}<br>PLL-word-l2r vs the best %{x:.3f}<br>PLL %{customdata[1]}"
                              "<br>chain log-prob %{customdata[2]}<extra></extra>",
            ), row=1, col=col)
            shown.add(n)
        fig.update_yaxes(categoryorder="array", categoryarray=[f"{len(ranked) - i}. {isolate(html.escape(c.word))}"
                                                                 for i, c in enumerate(ranked)], row=1, col=col)
        fig.update_xaxes(title_text="log score vs the best", row=1, col=col)
    fig.update_layout(title="Whole words at the mask, ranked by the completed sentence's PLL-word-l2r",
                      height=120 + 26 * min(SHOWN, max(len(r.candidates) for r in results)) + 80,
                      margin=dict(l=10, r=10, t=80, b=40), barmode="overlay", bargap=0.2,
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, title_text="answer of"))
    return fig


def make_fill_word_table(results: Sequence[MultiPieceResult]) -> pd.DataFrame:
    """Every candidate of every model, best first: rank, word, pieces, and its three scores (natural log)."""
    rows = [(r.model, rank, c.word, pieces_text(c), c.n_pieces, round(c.pll_word_l2r, 4), round(c.pll, 4),
             round(c.chain_log_prob, 4), "yes" if c.canonical else "no")
            for r in results for rank, c in enumerate(r.candidates, start=1)]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
