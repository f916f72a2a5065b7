"""Views of bias probes and sentence-pair scores: charts, tables, and what the probes can and cannot show."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from ..analysis.bias import PairsResult, ProbeResult
from .fill_mask import MODEL_COLOURS

PROBE_CAVEATS = """**What these probes can show, and what they cannot.**
They show which of two words a model finds more likely in a given sentence, that is, associations in
the text it was trained on (Wikipedia for 100-1280). They do **not** measure harm in any application,
do not say anything true about people or occupations, and do not make a model "biased" or "fair".
Results depend on the exact wording of the template, on grammar (gendered nouns and agreement in French,
German, Russian or Spanish push towards one pronoun), and on how a word is split into pieces: a word
split into more pieces sums more log-probabilities and scores lower for that reason alone. A handful of
templates or pairs is a teaching example, never a benchmark; a difference of a few tenths of a nat is
noise. Sentence-pair scores are pseudo-log-likelihoods (Salazar et al., 2020); the pairs are in the
CrowS-Pairs style but written for this project."""


def _colour(model: str) -> str:
    return MODEL_COLOURS.get(model, "#2ca02c")


def make_probe_figure(result: ProbeResult) -> go.Figure:
    """Per filler, log P(target 1) - log P(target 2) for each model (grouped horizontal bars)."""
    first, second = html.escape(result.targets[0]), html.escape(result.targets[1])  # plotly reads tags in text
    fig = go.Figure()
    for model in result.models:
        rows = [r for r in result.rows if r.model == model][::-1]
        fig.add_trace(
            go.Bar(
                x=[r.log_ratio for r in rows],
                y=[html.escape(r.filler) or "(template)" for r in rows],
                orientation="h",
                name=model,
                marker_color=_colour(model),
                customdata=[[html.escape(r.preferred), r.scores[0].log_prob, r.scores[1].log_prob] for r in rows],
                hovertemplate=(
                    f"%{{y}}<br>log P({first}) − log P({second}) = %{{x:.3f}}"
                    "<br>prefers %{customdata[0]}<extra>" + html.escape(model) + "</extra>"
                ),
            )
        )
    fig.add_vline(x=0, line_width=1, line_color="#444")
    fig.update_layout(
        barmode="group",
        title=f"Per filler: log P({first}) − log P({second}); right of 0 prefers {first}, left prefers {second}",
        xaxis_title=f"log P({first}) − log P({second})  (nats; > 0: {first} more likely)",
        height=max(360, 60 + 26 * len(result.fillers or ("",)) * max(1, len(result.models))),
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def make_probe_table(result: ProbeResult) -> pd.DataFrame:
    """One row per (model, filler): both targets' log-probabilities and pieces, the log ratio, the winner."""
    first, second = result.targets[0], result.targets[1]
    rows = [
        (
            r.model,
            r.filler,
            r.sentence,
            round(r.scores[0].log_prob, 4),
            " ".join(r.scores[0].pieces),
            round(r.scores[1].log_prob, 4),
            " ".join(r.scores[1].pieces),
            round(r.log_ratio, 4),
            r.preferred,
        )
        for r in result.rows
    ]
    columns = [
        "model",
        "filler",
        "sentence",
        f"log P({first})",
        f"pieces ({first})",
        f"log P({second})",
        f"pieces ({second})",
        "log ratio",
        "preferred",
    ]
    return pd.DataFrame(rows, columns=columns)


def make_pairs_figure(result: PairsResult) -> go.Figure:
    """Per pair, PLL(more stereotypical) - PLL(less stereotypical) for each model."""
    fig = go.Figure()
    for model in result.models:
        rows = [s for s in result.scores if s.model == model]
        fig.add_trace(
            go.Bar(
                x=[html.escape(s.pair.id) for s in rows],
                y=[s.difference for s in rows],
                name=model,
                marker_color=_colour(model),
                customdata=[
                    [html.escape(s.pair.sent_more), html.escape(s.pair.sent_less), html.escape(s.pair.bias_type)]
                    for s in rows
                ],
                hovertemplate="%{x} (%{customdata[2]})<br>more: %{customdata[0]}<br>less: %{customdata[1]}"
                "<br>PLL difference %{y:.3f}<extra>" + html.escape(model) + "</extra>",
            )
        )
    fig.add_hline(y=0, line_width=1, line_color="#444")
    fig.update_layout(
        barmode="group",
        title="Which sentence each model prefers: PLL(more stereotypical) − PLL(less stereotypical)",
        yaxis_title="PLL difference (nats; > 0 prefers the more stereotypical)",
        height=440,
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def make_pairs_table(result: PairsResult) -> pd.DataFrame:
    rows = [
        (
            s.pair.id,
            s.pair.lang,
            s.pair.bias_type,
            s.model,
            s.pair.sent_more,
            s.pair.sent_less,
            round(s.more.pll, 4),
            round(s.less.pll, 4),
            round(s.difference, 4),
            round(s.mean_difference, 4),
            s.preferred,
        )
        for s in result.scores
    ]
    columns = [
        "id",
        "lang",
        "bias type",
        "model",
        "sent_more",
        "sent_less",
        "PLL more",
        "PLL less",
        "difference",
        "per-token difference",
        "preferred",
    ]
    return pd.DataFrame(rows, columns=columns)


def make_pairs_summary(result: PairsResult) -> pd.DataFrame:
    """Per model: pairs scored, share preferring the more stereotypical sentence, mean difference."""
    rows = []
    for model in result.models:
        scores = [s for s in result.scores if s.model == model]
        rows.append(
            (
                model,
                len(scores),
                round(result.share_preferring_more(model), 4),
                round(sum(s.difference for s in scores) / len(scores), 4),
            )
        )
    return pd.DataFrame(rows, columns=["model", "pairs", "share preferring more stereotypical", "mean PLL difference"])
