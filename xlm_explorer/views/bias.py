"""Views of bias probes and sentence-pair scores: charts, tables, and what the probes can and cannot show."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from ..analysis.bias.data import direction_of
from ..analysis.bias.pairs import PAIR_METRICS, PairsResult
from ..analysis.bias.probes import ProbeResult
from .style import model_colour

PROBE_CAVEATS = """**What these probes can show, and what they cannot.**
They show which of two words a model finds more likely in a given sentence, that is, associations in
the text it was trained on (Wikipedia for 100-1280). They do **not** measure harm in any application,
do not say anything true about people or occupations, and do not make a model "biased" or "fair".
Results depend on the exact wording of the template, on grammar (gendered nouns and agreement in French,
German, Russian or Spanish push towards one pronoun), and on how a word is split into pieces: a word
split into more pieces sums more log-probabilities and scores lower for that reason alone. A handful of
templates or pairs is a teaching example, never a benchmark; a difference of a few tenths of a nat is
noise. Sentence-pair scores are pseudo-log-likelihoods (Salazar et al., 2020) and three variants; the pairs are
in the CrowS-Pairs style but written for this project.

**The metric matters.** Plain PLL overrates words split into many pieces (Kauf & Ivanova, 2023: `pll_word_l2r`
masks the rest of the word too); CrowS-Pairs scores only the tokens both sentences share (Nangia et al., 2020:
`pll_unmodified`); AUL scores the unmasked sentence (Kaneko & Bollegala, 2022). Where they disagree, no single
number is the answer. Blodgett et al. (2021) show that many published pairs do not contrast what they claim
(wrong groups, changed content, ungrammatical sentences): read the pairs before the percentages. A share near 50%
with an interval that includes 50% says nothing either way; with a few dozen pairs the interval is wide."""

METRIC_LABELS = {
    "pll": "PLL",
    "pll_word_l2r": "PLL, within-word l2r",
    "aul": "AUL (mean log P, unmasked)",
    "aula": "AULA (AUL weighted by attention)",
    "pll_unmodified": "PLL of shared tokens (CrowS-Pairs)",
}


def make_probe_figure(result: ProbeResult) -> go.Figure:
    """Two targets: per filler, PLL(target 1) − PLL(target 2) per model (horizontal bars). More targets: per filler,
    each target's PLL minus the mean over the targets (grouped bars), per model."""
    if len(result.targets) == 2:
        return _two_target_figure(result)
    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e"]
    for model in result.models:
        rows = [r for r in result.rows if r.model == model][::-1]
        for index, target in enumerate(result.targets):
            values = []
            for r in rows:
                mean = sum(s.log_prob for s in r.scores) / len(r.scores)
                values.append(r.scores[index].log_prob - mean)
            fig.add_trace(
                go.Bar(
                    x=values,
                    y=[f"{html.escape(r.filler) or '(template)'} · {html.escape(model)}" for r in rows],
                    orientation="h",
                    name=html.escape(target),
                    legendgroup=target,
                    showlegend=model == result.models[0],
                    marker_color=palette[index % len(palette)],
                    hovertemplate=f"{html.escape(target)}: %{{x:.3f}} nats above the targets' mean<extra>%{{y}}</extra>",
                )
            )
    fig.add_vline(x=0, line_width=1, line_color="#444")
    fig.update_layout(
        barmode="group",
        title="Per filler: each target's PLL minus the mean over the targets (nats)",
        xaxis_title="PLL − mean over targets (nats; > 0: more likely than average)",
        height=max(360, 60 + 18 * len(result.rows) * len(result.targets)),
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def _two_target_figure(result: ProbeResult) -> go.Figure:
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
                marker_color=model_colour(model),
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
        title=f"log P({first}) − log P({second}) per filler: right of 0 prefers {first}",
        xaxis_title=f"log P({first}) − log P({second})  (nats)",
        height=max(360, 60 + 26 * len(result.fillers or ("",)) * max(1, len(result.models))),
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def make_probe_table(result: ProbeResult) -> pd.DataFrame:
    """One row per (model, filler): the numbers first (log ratio, preferred, each target's PLL), then pieces,
    whether the metrics disagree, and the sentence."""
    rows = []
    for r in result.rows:
        row = {"filler": r.filler, "model": r.model, "log ratio": round(r.log_ratio, 2), "preferred": r.preferred}
        for score in r.scores:
            row[f"log P({score.target})"] = round(score.log_prob, 2)
        row["metrics disagree"] = "yes" if r.metrics_disagree else ""
        for score in r.scores:
            row[f"pieces ({score.target})"] = " ".join(score.pieces) + (" (split)" if score.multi_piece else "")
        row["sentence"] = r.sentence
        rows.append(row)
    return pd.DataFrame(rows)


def make_probe_metrics_table(result: ProbeResult) -> pd.DataFrame:
    """Long format for the download: one row per (model, filler, target, metric)."""
    rows = [
        (r.model, r.filler, s.target, metric, round(s.metric(metric), 6), s.n_pieces)
        for r in result.rows
        for s in r.scores
        for metric in ("pll", "pll_word_l2r", "aul")
    ]
    return pd.DataFrame(rows, columns=["model", "filler", "target", "metric", "score", "pieces"])


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
                marker_color=model_colour(model),
                customdata=[
                    [html.escape(s.pair.sent_more), html.escape(s.pair.sent_less), html.escape(s.pair.bias_type)]
                    for s in rows
                ],
                hovertemplate="%{x} (%{customdata[2]})<br>more: %{customdata[0]}<br>less: %{customdata[1]}"
                "<br>PLL difference %{y:.2f}<extra>" + html.escape(model) + "</extra>",
            )
        )
    fig.add_hline(y=0, line_width=1, line_color="#444")
    fig.update_layout(
        barmode="group",
        title=dict(text="Per pair: PLL(more stereotypical) − PLL(less)", y=0.98, yanchor="top"),
        yaxis_title="PLL difference (nats)",
        height=440,
        margin={"l": 10, "r": 10, "t": 90, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def make_pairs_summary_figure(result: PairsResult) -> go.Figure:
    """Per metric and model: the share of pairs where sent_more scores higher, with its 95% bootstrap interval;
    50% (no preference) marked."""
    summary = result.summary
    fig = go.Figure()
    metrics = [m for m in PAIR_METRICS if m in result.metrics]
    labels = [METRIC_LABELS.get(m, m) for m in metrics]
    for model in result.models:
        stats = [summary[model]["metrics"][m] for m in metrics]
        fig.add_trace(
            go.Bar(
                x=[100 * s["share"] for s in stats],
                y=labels,
                orientation="h",
                name=model,
                marker_color=model_colour(model),
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=[100 * (s["ci_high"] - s["share"]) for s in stats],
                    arrayminus=[100 * (s["share"] - s["ci_low"]) for s in stats],
                    thickness=1.5,
                ),
                customdata=[[100 * s["ci_low"], 100 * s["ci_high"], s["ties"], s["n"]] for s in stats],
                hovertemplate="%{y}: %{x:.1f}% (95% CI %{customdata[0]:.1f}–%{customdata[1]:.1f}%), "
                "%{customdata[2]} ties of %{customdata[3]}<extra>" + html.escape(model) + "</extra>",
            )
        )
    fig.add_vline(x=50, line_width=1, line_dash="dash", line_color="#444", annotation_text="50%: no preference",
                  annotation_position="top")
    fig.update_layout(
        barmode="group",
        title="Share of pairs where the more stereotypical sentence scores higher (95% bootstrap interval)",
        xaxis=dict(title="% of pairs", range=[0, 100]),
        yaxis=dict(autorange="reversed", automargin=True),
        height=200 + 60 * len(metrics) * max(1, len(result.models)) // 2,
        margin={"l": 10, "r": 20, "t": 70, "b": 40},
        legend={"orientation": "h", "y": -0.25, "yanchor": "top"},
    )
    return fig


def make_pairs_table(result: PairsResult, disagreeing_first: bool = False) -> pd.DataFrame:
    """One row per (pair, model): the numbers first (difference, preferred, each metric's two scores), then the
    flags, then the sentences. ``disagreeing_first`` puts the pairs whose metrics disagree on top."""
    rows = []
    scores = list(result.scores)
    if disagreeing_first:
        scores.sort(key=lambda s: not s.metrics_disagree(result.metrics))
    for s in scores:
        row = {
            "id": s.pair.id,
            "model": s.model,
            "difference": round(s.difference, 2),
            "preferred": s.preferred,
            "metrics disagree": "yes" if s.metrics_disagree(result.metrics) else "",
            "token counts differ": "yes" if s.token_counts_differ else "",
        }
        for metric in result.metrics:
            more, less = s.scores(metric)
            row[f"{metric} more"] = round(more, 2)
            row[f"{metric} less"] = round(less, 2)
        row.update({
            "PLL more": round(s.more.pll, 2),
            "PLL less": round(s.less.pll, 2),
            "per-token difference": round(s.mean_difference, 3),
            "lang": s.pair.lang,
            "bias type": s.pair.bias_type,
            "sent_more": s.pair.sent_more,
            "sent_less": s.pair.sent_less,
        })
        rows.append(row)
    return pd.DataFrame(rows)


def make_pairs_summary(result: PairsResult) -> pd.DataFrame:
    """One row per (model, metric): pairs, the share preferring the more stereotypical sentence with its 95% CI, ties,
    and how many pairs the metrics disagree on."""
    summary = result.summary
    rows = []
    for model in result.models:
        for metric in result.metrics:
            stats = summary[model]["metrics"][metric]
            rows.append({
                "model": model,
                "metric": METRIC_LABELS.get(metric, metric),
                "share more stereotypical": f"{100 * stats['share']:.1f}%",
                "95% CI": f"{100 * stats['ci_low']:.1f}–{100 * stats['ci_high']:.1f}%",
                "ties": stats["ties"],
                "pairs": stats["n"],
                "metrics disagree on": summary[model]["metrics_disagree"],
            })
    return pd.DataFrame(rows)


def _percent_or_dash(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}%"


def make_crows_table(result: PairsResult) -> pd.DataFrame:
    """CrowS-Pairs' own numbers per model, as its metric.py computes them (scores rounded to 3 decimals, equal
    pairs neutral), then unrounded, then per bias type: metric, stereotype and anti-stereotype scores, neutral."""
    rows = []
    for model in result.models:
        crows = result.summary[model].get("crows")
        if crows is None:
            continue
        parts = [("all (metric.py)", crows["rounded"]), ("all (unrounded)", crows["unrounded"]),
                 *[(name or "(no type)", numbers) for name, numbers in crows["by_bias_type"].items()]]
        for label, numbers in parts:
            rows.append({
                "model": model, "pairs": label, "n": numbers["n_pairs"],
                "metric score": _percent_or_dash(numbers["metric_score"]),
                "stereotype score": _percent_or_dash(numbers["stereotype_score"]),
                "anti-stereotype score": _percent_or_dash(numbers["antistereotype_score"]),
                "neutral": f"{numbers['n_neutral']} ({_percent_or_dash(numbers['neutral_share'])})",
            })
    return pd.DataFrame(rows)


def make_results_table(rows: Sequence[dict], metric: str, links: Sequence[str] = ()) -> pd.DataFrame:
    """Browsed results: one row per (pair, model) with its margin under ``metric`` (sent_more minus sent_less), the
    metrics' agreement, the sentences, and (``links``, markdown) where the pair opens in the Explain views."""
    table = []
    for i, row in enumerate(rows):
        contrast = row.get("contrast")
        table.append({
            "id": row["id"], "explain": links[i] if i < len(links) else "", "model": row["model"],
            "bias type": row.get("bias_type") or "",
            "direction": direction_of(row), f"margin ({METRIC_LABELS.get(metric, metric)})": round(row["margin"], 3),
            "metrics disagree": "yes" if row.get("metrics_disagree") else "",
            "words": f"{contrast[1]} / {contrast[2]}" if contrast else "",
            "sent_more": row["sent_more"], "sent_less": row["sent_less"],
        })
    return pd.DataFrame(table)


def _column_label(model: str, lang: str) -> str:
    return f"{lang} ({model})" if model == "en-2048" else lang


def make_crosslingual_figure(result) -> go.Figure:  # noqa: ANN001 - CrosslingualProbeResult
    """Heatmap: occupations (rows) × languages (columns) of log P(masculine) − log P(feminine), centred on 0."""
    z = [list(row) for row in result.log_ratio]
    limit = max((abs(v) for row in z for v in row), default=1.0) or 1.0
    columns = [_column_label(m, lang) for m, lang in result.columns]
    hover = [
        [f"{html.escape(result.fillers[j][i])}: log P({html.escape(result.targets[j][0])}) − log P({html.escape(result.targets[j][1])})"
         for j in range(len(columns))]
        for i in range(len(result.concepts))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=columns, y=list(result.concepts), zmid=0, zmin=-limit, zmax=limit, colorscale="RdBu_r",
            text=[[f"{v:+.2f}" for v in row] for row in z], texttemplate="%{text}", customdata=hover,
            hovertemplate="%{customdata} = %{z:.2f}<extra>%{x}</extra>",
            colorbar=dict(title=dict(text="masc − fem<br>(nats)", side="top"), thickness=12),
        )
    )
    fig.update_layout(
        title="log P(masculine) − log P(feminine) at the mask, per occupation and language",
        xaxis=dict(side="top", title=None), yaxis=dict(autorange="reversed", title=None),
        height=140 + 34 * len(result.concepts), margin={"l": 10, "r": 10, "t": 90, "b": 10},
    )
    return fig


def make_crosslingual_table(result) -> pd.DataFrame:  # noqa: ANN001 - CrosslingualProbeResult
    """One row per occupation: the log ratio per language column (and the filler written there)."""
    rows = []
    for i, concept in enumerate(result.concepts):
        row = {"occupation": concept}
        for j, (model, lang) in enumerate(result.columns):
            row[_column_label(model, lang)] = round(result.log_ratio[i][j], 3)
        row.update({f"word ({_column_label(m, lang)})": result.fillers[j][i] for j, (m, lang) in enumerate(result.columns)})
        rows.append(row)
    return pd.DataFrame(rows)
