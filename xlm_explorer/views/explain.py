"""Views of the Explain tab: attributions as coloured tokens and bars, patching heatmaps, token-search matches."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.attribution import AttributionResult
from ..analysis.patching import PatchingResult
from ..analysis.token_search import TokenSearchResult
from .style import isolate, language_colour, log_prob, model_colour


def _shade(value: float, limit: float) -> str:
    """Red for positive, blue for negative attribution, transparent near 0."""
    strength = min(1.0, abs(value) / limit) if limit > 0 else 0.0
    rgb = "190,0,50" if value > 0 else "0,103,165"
    return f"rgba({rgb},{0.08 + 0.6 * strength:.2f})" if strength > 0.02 else "transparent"


def token_chips(tokens: Sequence[str], values: Sequence[float] | None = None, highlight: int | None = None,
                data: dict[str, str] | None = None) -> str:
    """Tokens as isolated chips (``<bdi>``), shaded by ``values``; ``data`` attributes make them clickable for token
    search (``data-xlm-token`` = position)."""
    limit = max((abs(v) for v in values), default=0.0) if values is not None else 0.0
    attrs = "".join(f' data-{html.escape(k)}="{html.escape(v, quote=True)}"' for k, v in (data or {}).items())
    chips = []
    for i, token in enumerate(tokens):
        style = f"background:{_shade(values[i], limit)};" if values is not None else ""
        if highlight == i:
            style += "outline:2px solid #BE0032;font-weight:bold;"
        title = f"position {i}" + (f", attribution {values[i]:+.4f}" if values is not None else "")
        chips.append(f'<bdi class="xlm-chip xlm-token" data-xlm-token="{i}" style="{style}" title="{title}">{html.escape(token)}</bdi>')
    return f'<div class="xlm-chips" dir="auto"{attrs}>{"".join(chips)}</div>'


def make_attribution_html(results: Sequence[AttributionResult]) -> str:
    """Per model, the input tokens shaded by integrated gradients (red supports the target, blue opposes it; with a
    foil, red supports the target over the foil)."""
    parts = []
    for r in results:
        data = {"xlm-text": r.text, "xlm-lang": r.lang, "xlm-model": r.model}
        target = f"<b>{isolate(html.escape(r.target_token))}</b>"
        why = (f"why {target} rather than <b>{isolate(html.escape(r.foil_token))}</b>" if r.foil_id is not None
               else f"why {target}")
        score = "log P(target) − log P(foil)" if r.foil_id is not None else "logit"
        parts.append(
            f'<div class="xlm-attribution"><div class="xlm-model">{html.escape(r.model)}: {why} '
            f"at mask {r.mask_number} ({score} {log_prob(r.target_logit)}; baseline {log_prob(r.baseline_logit)}; {r.n_steps} steps, "
            f"completeness gap {r.completeness_gap:.1e}). Click a token to search for it.</div>"
            f"{token_chips(r.tokens, r.integrated_gradients, r.position, data)}</div>"
        )
    return "".join(parts)


def make_attribution_figure(results: Sequence[AttributionResult]) -> go.Figure:
    """Per model, a bar per input token: integrated gradients and gradient × input side by side."""
    titles = [f"{r.model}: {html.escape(r.target_token)}" + (f" vs {html.escape(r.foil_token)}" if r.foil_id is not None else "")
              for r in results]
    fig = make_subplots(rows=len(results) or 1, cols=1, subplot_titles=titles)
    for row, r in enumerate(results, start=1):
        labels = [f"{i} {isolate(html.escape(t))}" for i, t in enumerate(r.tokens)]
        for name, values, colour in (("integrated gradients", r.integrated_gradients, model_colour(r.model)),
                                     ("gradient × input", r.gradient_x_input, "#848482")):
            fig.add_trace(go.Bar(x=labels, y=list(values), name=name, marker_color=colour, showlegend=row == 1, legendgroup=name,
                                 hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>"), row=row, col=1)
        fig.update_xaxes(tickangle=-45, row=row, col=1)
    fig.update_yaxes(title_text="attribution")
    height = 160 + 300 * max(1, len(results))
    fig.update_layout(barmode="group", title="Attribution per input token",  # short: it must fit a phone
                      height=height, margin={"l": 10, "r": 10, "t": 110, "b": 10},
                      title_y=1.0, title_yanchor="top", title_pad={"t": 8},
                      # the legend on its own line under the title, above the first panel's title
                      legend={"orientation": "h", "x": 0, "y": 1 - 42 / height, "yanchor": "top", "yref": "container"})
    return fig


def make_attribution_table(results: Sequence[AttributionResult]) -> pd.DataFrame:
    rows = [(r.model, i, t, round(ig, 4), round(gx, 4)) for r in results
            for i, (t, ig, gx) in enumerate(zip(r.tokens, r.integrated_gradients, r.gradient_x_input))]
    return pd.DataFrame(rows, columns=["model", "position", "token", "integrated gradients", "gradient × input"])


def make_patching_figure(results: Sequence[PatchingResult]) -> go.Figure:
    """Per model, layers × positions: how much patching B in there moves log P(target) from A towards B."""
    titles = [r.model + (f": {html.escape(r.target_token)} vs {html.escape(r.foil_token)}" if r.foil_id is not None else "")
              for r in results]
    fig = make_subplots(rows=1, cols=max(1, len(results)), subplot_titles=titles, horizontal_spacing=0.12)
    for col, r in enumerate(results, start=1):
        shares = r.shares()
        z = shares if shares is not None else r.effects.astype(np.float64) - r.logprob_a
        labels = [f"{i} {isolate(html.escape(a))}" + ("" if a == b else f"→{isolate(html.escape(b))}")
                  for i, (a, b) in enumerate(zip(r.tokens_a, r.tokens_b))]
        fig.add_trace(go.Heatmap(
            z=np.round(z.astype(np.float64), 4), x=labels, y=[("emb" if l == 0 else f"L{l}") for l in range(z.shape[0])],
            zmid=0, colorscale="RdBu_r", customdata=np.round(r.effects.astype(np.float64), 4),
            hovertemplate="layer %{y}, position %{x}<br>" + html.escape(r.scored) + " = %{customdata:.2f}"
                          "<br>share of the A→B change %{z:.2f}<extra></extra>",
            # three labels, on a bar at least 150 px long: with few layers five labels overlapped
            colorbar=dict(title=dict(text="share of<br>A→B change", side="top"), thickness=12, tickvals=[-1, 0, 1],
                          lenmode="pixels", len=150), showscale=col == len(results),
        ), row=1, col=col)
        fig.update_xaxes(tickangle=-45, row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    title = "Where does the difference enter? Patching B's hidden state into A at one layer and position"
    rows = max((r.effects.shape[0] for r in results), default=10)
    fig.update_layout(title=title, height=max(420, 200 + 26 * rows),  # room for the colour bar even with few layers
                      margin={"l": 10, "r": 10, "t": 90, "b": 10})
    return fig


def make_patching_summary_html(results: Sequence[PatchingResult]) -> str:
    """One line per model: where the difference enters (escaped)."""
    return "".join(f'<p class="xlm-summary">{html.escape(r.summary)}</p>' for r in results)


def make_head_patching_figure(results: Sequence[PatchingResult]) -> go.Figure | None:
    shown = [r for r in results if r.head_effects is not None]
    if not shown:
        return None
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=[f"{r.model}: heads of block {r.head_layer}" for r in shown])
    for col, r in enumerate(shown, start=1):
        shares = r.shares(r.head_effects)
        z = shares if shares is not None else r.head_effects.astype(np.float64) - r.logprob_a
        fig.add_trace(go.Heatmap(z=np.round(z.astype(np.float64), 4), x=[f"{i} {isolate(html.escape(t))}" for i, t in enumerate(r.tokens_a)],
                                 y=[f"h{h}" for h in range(z.shape[0])], zmid=0, colorscale="RdBu_r", showscale=col == len(shown),
                                 colorbar=dict(title=dict(text="share", side="top"), thickness=12)), row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_layout(title="Per attention head: one head's output at one position patched from B", height=200 + 22 * shown[0].head_effects.shape[0],
                      margin={"l": 10, "r": 10, "t": 90, "b": 10})
    return fig


def make_patching_table(results: Sequence[PatchingResult]) -> pd.DataFrame:
    rows = [(r.model, layer, p, r.tokens_a[p], r.tokens_b[p], round(float(r.effects[layer, p]), 2))
            for r in results for layer in range(r.effects.shape[0]) for p in range(r.effects.shape[1])]
    score = "log P(target) − log P(foil)" if any(r.foil_id is not None for r in results) else "log P(target)"
    return pd.DataFrame(rows, columns=["model", "layer", "position", "token A", "token B", score])


def make_matches_html(result: TokenSearchResult) -> str:
    """Each match in its sentence with the token highlighted, a left border in its language's colour."""
    items = []
    for m in result.matches:
        chips = token_chips(m.context, highlight=m.token_index, data={"xlm-text": m.text, "xlm-lang": m.lang, "xlm-model": result.model})
        items.append(f'<li style="border-left:4px solid {language_colour(m.lang)};padding-left:6px;margin:4px 0">'
                     f"<b>{m.cosine:.3f}</b> · {html.escape(m.lang)} · {chips}</li>")
    head = (f"<p>{html.escape(result.model)}, layer {result.layer}: the {len(result.matches)} tokens of {html.escape(result.corpus)} "
            f"({result.corpus_tokens:,} tokens) nearest to <b>{isolate(html.escape(result.tokens[result.token_index]))}</b> "
            f"(position {result.token_index}). Click a token to search for it instead.</p>")
    query = token_chips(result.tokens, highlight=result.token_index, data={"xlm-text": result.text, "xlm-lang": result.lang, "xlm-model": result.model})
    return f'<div class="xlm-matches">{head}{query}<ol style="list-style:none;padding:0">{"".join(items)}</ol></div>'


def make_matches_table(result: TokenSearchResult) -> pd.DataFrame:
    rows = [(rank, round(m.cosine, 4), m.token, m.lang, m.token_index, m.text) for rank, m in enumerate(result.matches, start=1)]
    return pd.DataFrame(rows, columns=["rank", "cosine", "token", "lang", "position", "sentence"])
