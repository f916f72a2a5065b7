"""Views of one probe across languages, explained: per language the attribution as coloured tokens, the patching
grids and where the word's effect reaches the mask, on a relative-depth axis (layer / number of layers)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.across_languages import AcrossLanguagesResult, LanguageExplanation
from .explain import token_chips
from .style import isolate, language_colour, log_prob

WORD_DASH, MASK_DASH = "solid", "dot"


def _label(e: LanguageExplanation) -> str:
    return f"{e.model} · {e.row.lang}"


def make_summary_html(result: AcrossLanguagesResult) -> str:
    """Per model and language: what is attributed, sentence A's tokens shaded by integrated gradients (red supports
    the target over the foil, blue the foil; the mask outlined), the word's share, and the one-line summary."""
    parts = []
    for e in result.explanations:
        a = e.attribution
        data = {"xlm-text": a.text, "xlm-lang": a.lang, "xlm-model": a.model}
        why = (f"why <b>{isolate(html.escape(a.target_token))}</b> rather than <b>{isolate(html.escape(a.foil_token))}</b> "
               f"(log P difference {log_prob(a.target_logit)})")
        word = (f"the word {isolate(html.escape(e.row.word_a))}: {100 * e.word_attribution_share():.0f}% of |IG|, "
                f"{e.word_attribution():+.2f}")
        parts.append(
            f'<div class="xlm-attribution" style="border-left:4px solid {language_colour(e.row.lang)};padding-left:6px">'
            f'<div class="xlm-model">{html.escape(_label(e))}: {why}; {word}.</div>'
            f"{token_chips(a.tokens, a.integrated_gradients, a.position, data)}"
            f'<p class="xlm-summary">{html.escape(e.summary())}</p></div>'
        )
    return "".join(parts)


def make_depth_figure(result: AcrossLanguagesResult) -> go.Figure:
    """Per model and language, over relative depth: the share of the A→B change that patching the word (solid) and
    the mask (dotted) moves; where the dotted line meets the solid one the word's effect has reached the mask."""
    fig = go.Figure()
    for e in result.explanations:
        word, mask = e.word_share(), e.mask_share()
        if word is None or mask is None:
            continue
        colour = language_colour(e.row.lang)
        symbol = "circle" if e.model == "100-1280" else "square"
        for name, values, dash in (("word", word, WORD_DASH), ("mask", mask, MASK_DASH)):
            fig.add_trace(go.Scatter(
                x=e.relative_depth, y=np.round(values, 4).tolist(), mode="lines+markers", name=f"{_label(e)}: {name}",
                legendgroup=_label(e), line={"color": colour, "dash": dash, "width": 2},
                marker={"symbol": symbol, "size": 6},
                customdata=list(range(e.n_layers + 1)),
                hovertemplate=f"{html.escape(_label(e))}, {name}<br>layer %{{customdata}} of {e.n_layers}"
                              "<br>share of the A→B change %{y:.2f}<extra></extra>"))
    fig.update_xaxes(title_text="relative depth (layer / number of layers)", range=[-0.02, 1.02])
    fig.update_yaxes(title_text="share of the A→B change", zeroline=True)
    fig.update_layout(title="Where the word's effect reaches the mask: patching the word (solid) or the mask (dotted)",
                      height=460, margin={"l": 10, "r": 10, "t": 90, "b": 10},
                      legend={"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0})
    return fig


def make_patching_figure(result: AcrossLanguagesResult) -> go.Figure | None:
    """One grid per model and language (rows: relative depth, columns: sentence A's tokens): the share of the A→B
    change patching there moves, on one colour scale from -1 to 1 (the hover has every value); None when no language could be patched (or A and B score the same)."""
    shown = [e for e in result.explanations if e.word_share() is not None]
    if not shown:
        return None
    grids = [e.patching.shares() for e in shown]
    height = 120 + 260 * len(shown)
    fig = make_subplots(rows=len(shown), cols=1, subplot_titles=[_label(e) for e in shown],
                        vertical_spacing=min(0.3, 110 / height))  # room for the rotated tokens above the next title
    for row, (e, z) in enumerate(zip(shown, grids), start=1):
        labels = [f"{i} {isolate(html.escape(t))}" for i, t in enumerate(e.patching.tokens_a)]
        fig.add_trace(go.Heatmap(
            z=np.round(z, 4), x=labels, y=np.round(e.relative_depth, 3).tolist(), zmin=-1, zmax=1,  # one scale for every language: 0 = A, 1 = B (beyond: saturated)
            colorscale="RdBu_r", showscale=row == 1,
            colorbar=dict(title=dict(text="share of<br>A→B change"), thickness=12, tickvals=[-1, 0, 1],
                          lenmode="pixels", len=150, y=1, yanchor="top"),
            hovertemplate="relative depth %{y}, position %{x}<br>share of the A→B change %{z:.2f}<extra></extra>",
        ), row=row, col=1)
        fig.update_xaxes(tickangle=-90, row=row, col=1)  # upright: a font height per token, 26 fit a phone's 600 px
        fig.update_yaxes(autorange="reversed", title_text="depth", row=row, col=1)
    fig.update_layout(title="Patching per language: B's hidden state into A at one depth and position",
                      height=height, margin={"l": 10, "r": 10, "t": 90, "b": 10})
    return fig


def make_table(result: AcrossLanguagesResult) -> pd.DataFrame:
    """One row per model and language: the sentences, the scores, the word's attribution and the handover."""
    rows = []
    for e in result.explanations:
        p = e.patching
        layer = e.handover_layer()
        rows.append((
            e.model, e.row.lang, e.row.text_a, e.row.word_b, e.attribution.target_token, e.attribution.foil_token,
            round(e.attribution.target_logit, 3), None if p is None else round(p.logprob_b, 3),
            round(e.word_attribution(), 3), round(e.word_attribution_share(), 3),
            None if layer is None else f"{layer} of {e.n_layers} ({layer / e.n_layers:.2f})",
            round(e.attribution.completeness_gap, 5), e.patching_note))
    return pd.DataFrame(rows, columns=[
        "model", "lang", "sentence A", "word B", "target", "foil", "score A", "score B", "IG of the word",
        "word's share of |IG|", "mask carries it from layer", "completeness gap", "not patched because"])
