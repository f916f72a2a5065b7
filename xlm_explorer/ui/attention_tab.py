"""Attention tab: head statistic grids, one head's heatmap, bertviz head/model views, per-language averages.

The model runs once per input (the page event); the statistic, the head, the bertviz layers and heads are
redrawn from the session's last answer without a model call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import service
from ..checks import BOTH
from ..errors import UserInputError
from ..service import (
    STATISTIC_LABELS,
    STATISTIC_NAMES,
    Answer,
    AttentionResult,
    check_head,
    parallel_languages,
)
from ..views.attention import (
    make_average_table,
    make_grid_table,
    make_head_heatmap,
    make_language_figure,
    make_language_profile,
    make_message_figure,
    make_statistic_figure,
    make_statistics_table,
)
from ..views.attention_lines import make_head_lines, picture_heads
from ..views.bertviz import BERTVIZ_MAX_TOKENS, bertviz_for_result, bertviz_iframe
from .context import AppContext
from .widgets import intro, examples_that_run, language_choices, language_dropdown, model_radio, slider, view_controls
from .wiring import Drawn, Redraw, Share, View, wire

TAB = "attention"
STATISTIC_CHOICES = [(STATISTIC_LABELS[name], name) for name in STATISTIC_NAMES]
AVERAGE_CHOICES = [(STATISTIC_LABELS[name], name) for name in STATISTIC_NAMES if name != "cross_share"]

INTRO = f"""What do the attention heads look at? Type a sentence, or **two** (sentence-pair mode, encoded
`<s> A </s> B </s>`: a sentence and its translation, or a premise and a hypothesis). **Head statistics**: one grid
(layers × heads) per statistic; click a cell to show that head's **heatmap**. **bertviz** head and model views
are drawn offline (up to {BERTVIZ_MAX_TOKENS} tokens)."""


@dataclass
class ModelPanel:
    """One model's part of the single-input view: its column, statistic grid table and head heatmap."""

    key: str
    column: gr.Column
    table: gr.Dataframe
    heatmap: gr.Plot
    picture: gr.Plot


def _max_index(ctx: AppContext, what: str) -> int:
    """The largest layer or head index over the configured models (from the loaded configs or model cards)."""
    name = "n_layers" if what == "layer" else "n_heads"
    return max(ctx.manager.shape(key)[name] for key in ctx.manager.keys) - 1


def build_attention_tab(ctx: AppContext) -> None:
    """Components and events of the attention tab (inside an open ``gr.Tab``)."""
    intro(INTRO)
    _build_single(ctx)
    with gr.Accordion("Statistics averaged over a set of sentences, per language", open=False):
        _build_average(ctx)


def _single_inputs(ctx: AppContext) -> list[Any]:
    languages = language_choices(ctx.manager.languages("100-1280"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            text = gr.Textbox(label="Sentence (A)", value="The cat sat on the mat because it was tired.", lines=2, max_lines=8)
            text_pair = gr.Textbox(
                label="Second sentence (B, optional: sentence-pair mode)", value="", lines=1, max_lines=6,
                placeholder="e.g. its translation: Le chat s'est assis sur le tapis.",
            )
        with gr.Column(scale=2, min_width=260):
            choice = model_radio("en-2048")
            with gr.Row():
                lang = gr.Dropdown(languages, value="en", label="Language of A", filterable=True, min_width=120)
                lang_pair = gr.Dropdown(languages, value="en", label="Language of B", filterable=True, min_width=120)
            heads = gr.Textbox(
                label="Head matrices to include in the JSON (optional, layer:head, at most 8)", value="", placeholder="0:1, 2:3"
            )
    return [text, text_pair, choice, lang, lang_pair, heads]


def _build_single(ctx: AppContext) -> None:
    inputs = _single_inputs(ctx)
    text, text_pair, choice, lang, lang_pair, _heads = inputs
    examples_that_run(TAB, inputs[:5], [
        ["The cat sat on the mat because it was tired.", "", "en-2048", "en", "en"],
        ["The cat sleeps on the sofa.", "Le chat dort sur le canapé.", "100-1280", "en", "fr"],
        ["A man is playing a guitar.", "A person is making music.", BOTH, "en", "en"],
    ])
    controls = view_controls(TAB, "Show attention")
    with gr.Row(elem_id=f"{TAB}-results"):
        statistic = gr.Dropdown(STATISTIC_CHOICES, value="entropy", label="Statistic", scale=2, min_width=200)
        layer = gr.Slider(0, _max_index(ctx, "layer"), value=0, step=1, label="Layer (heatmap)", scale=2, min_width=160)
        head = gr.Slider(0, _max_index(ctx, "head"), value=0, step=1, label="Head (heatmap)", scale=2, min_width=160)
    grid_plot = gr.Plot(label="Head statistic grid (layers × heads)", show_label=False)
    with gr.Row():
        picture_heads_box = gr.CheckboxGroup([str(i) for i in range(_max_index(ctx, "head") + 1)], value=[], scale=3,
                                             label="Heads drawn as lines, at the heatmap's layer (none = the heatmap's head)")
        hide = gr.Checkbox(value=False, label="Hide lines to and from <s>, </s>", scale=1, min_width=160)
    panels = []
    with gr.Row(equal_height=False):
        for key in ctx.manager.keys:
            with gr.Column(visible=key == "en-2048", min_width=300) as column:
                gr.Markdown(f"### {key}")
                table = gr.Dataframe(visible=False, label=f"{key}: click a cell to show that head", interactive=False, max_height=420)
                heatmap = gr.Plot(label=f"{key}: one head", show_label=False, elem_classes=["xlm-wide-plot"])
                picture = gr.Plot(label=f"{key}: heads as lines", show_label=False, elem_classes=["xlm-head-lines"])
            panels.append(ModelPanel(key, column, table, heatmap, picture))
    bertviz = _bertviz_section(ctx)
    names = ["text", "text_pair", "model", "lang", "lang_pair", "heads"]
    head_controls = HeadControls(statistic, layer, head, picture_heads_box, hide)
    _wire_single(ctx, controls, dict(zip(names, inputs)), head_controls, grid_plot, panels, bertviz)


@dataclass
class HeadControls:
    """The redraw settings of the single-input view: the grid's statistic, the heatmap's layer and head, and the
    heads (and boundary lines) of the picture."""

    statistic: gr.Dropdown
    layer: gr.Slider
    head: gr.Slider
    picture_heads: gr.CheckboxGroup
    hide: gr.Checkbox


@dataclass
class BertvizSection:
    layers: gr.CheckboxGroup
    heads: gr.CheckboxGroup
    outputs: list[tuple[str, str, gr.HTML]]


def _bertviz_section(ctx: AppContext) -> BertvizSection:
    with gr.Accordion("bertviz head view and model view", open=True):
        gr.Markdown(
            f"At most {BERTVIZ_MAX_TOKENS} tokens; with many layers the view keeps the layers that fit (a notice says "
            "which). Pick layers and heads (none = all); the views redraw at once. In pair mode use the *Attention* "
            "filter (Sentence A → Sentence B...)."
        )
        with gr.Row():
            layers = gr.CheckboxGroup([str(i) for i in range(_max_index(ctx, "layer") + 1)], value=[], label="Layers (none = all that fit)")
            heads = gr.CheckboxGroup([str(i) for i in range(_max_index(ctx, "head") + 1)], value=[], label="Heads (none = all)")
        outputs = []
        with gr.Tabs(overflow_behavior="wrap"):
            for kind, label in (("head", "Head view"), ("model", "Model view")):
                with gr.Tab(label):
                    for key in ctx.manager.keys:
                        outputs.append((key, kind, gr.HTML(label=f"{key} {kind} view", padding=False, elem_classes=["xlm-bertviz"])))
    return BertvizSection(layers, heads, outputs)


def statistic_views(results: list[AttentionResult], name: str, panels: list[ModelPanel]) -> list[Any]:
    """The grid plot, then per model its column visibility and grid table."""
    by_key = {r.model: r for r in results}
    if any(name not in r.statistics.available() for r in results):
        values: list[Any] = [make_message_figure("The cross-segment share needs a sentence pair: fill in the second sentence.")]
        return values + [v for p in panels for v in (gr.Column(visible=p.key in by_key), None)]
    values = [make_statistic_figure(results, name) if results else None]
    for panel in panels:
        result = by_key.get(panel.key)
        values += [gr.Column(visible=result is not None), make_grid_table(result.statistics, name) if result else None]
    return values


def _per_model_figures(results: list[AttentionResult], panels: list[ModelPanel],
                       draw: Callable[[AttentionResult], Any]) -> list[Any]:
    """Per panel ``draw(its model's result)``: None where the model did not run, a message figure where ``draw``
    refuses (a layer or head the model does not have)."""
    by_key = {r.model: r for r in results}
    figures: list[Any] = []
    for panel in panels:
        result = by_key.get(panel.key)
        if result is None:
            figures.append(None)
            continue
        try:
            figures.append(draw(result))
        except UserInputError as error:
            figures.append(make_message_figure(str(error)))
    return figures


def head_views(results: list[AttentionResult], layer: float, head: float, panels: list[ModelPanel]) -> list[Any]:
    """Per model its heatmap of one head (a message where the model has no such layer or head)."""
    return _per_model_figures(results, panels, lambda result: make_head_heatmap(result, *check_head(result, layer, head)))


def picture_views(results: list[AttentionResult], layer: float, head: float, chosen: list[str], hide: bool,
                  panels: list[ModelPanel]) -> list[Any]:
    """Per model the chosen heads at the heatmap's layer as lines between tokens."""

    def draw(result: AttentionResult) -> Any:
        at_layer, _head = check_head(result, layer, 0)
        return make_head_lines(result, at_layer, picture_heads(chosen, head, result.n_heads), bool(hide))

    return _per_model_figures(results, panels, draw)


def bertviz_views(results: list[AttentionResult], layers: list[str], heads: list[str], section: BertvizSection) -> list[str]:
    by_key = {r.model: r for r in results}
    return [
        bertviz_iframe(bertviz_for_result(by_key[key], kind, layers, heads), f"{key} bertviz {kind} view") if key in by_key else ""
        for key, kind, _output in section.outputs
    ]


def _wire_single(ctx, controls, inputs, head_controls: HeadControls, grid_plot, panels, bertviz) -> None:  # noqa: ANN001 - components
    statistic, layer, head = head_controls.statistic, head_controls.layer, head_controls.head
    def draw(answer: Answer) -> Drawn:  # the figures are redraws (statistic, head, bertviz settings)
        return Drawn([], {"statistics": make_statistics_table(answer.results)})

    def pick_cell(answer: Answer | None, evt: gr.SelectData) -> list[Any]:
        """A click on a grid cell (row = layer, column h<k> = head k) moves the heatmap there."""
        index = evt.index if isinstance(evt.index, (list, tuple)) else [evt.index, 0]
        row, col = int(index[0]), int(index[1])
        return [gr.Slider(value=row), gr.Slider(value=col - 1) if col >= 1 else gr.Slider()]

    redraws = [
        Redraw(lambda a, name: statistic_views(a.results, name, panels), [statistic],
               [grid_plot] + [c for p in panels for c in (p.column, p.table)]),
        Redraw(lambda a, lay, hd: head_views(a.results, lay, hd, panels), [layer, head], [p.heatmap for p in panels],
               events=("release", "input")),
        Redraw(lambda a, lay, hd, chosen, hide: picture_views(a.results, lay, hd, chosen, hide, panels),
               [layer, head, head_controls.picture_heads, head_controls.hide], [p.picture for p in panels]),
        Redraw(lambda a, lays, hds: bertviz_views(a.results, lays, hds, bertviz), [bertviz.layers, bertviz.heads],
               [output for _key, _kind, output in bertviz.outputs]),
    ]
    share = Share(TAB, ["text", "text_pair", "model", "lang", "lang_pair"])
    state = wire(ctx, View(TAB, controls, service.attention, inputs, draw, submit=[inputs["text"], inputs["text_pair"]], first_result_id=f"{TAB}-results", redraws=redraws,
                           share=share))
    for panel in panels:
        panel.table.select(pick_cell, inputs=[state], outputs=[layer, head], queue=False, api_visibility="private").then(
            redraws[1].handler(ctx.in_projector), inputs=[state, layer, head], outputs=redraws[1].outputs, queue=False, api_visibility="private"
        )


# ------------------------------------------------------------------------------------------------ averages


def _build_average(ctx: AppContext) -> None:
    gr.Markdown(
        "Average every head statistic over many sentences of each language: the shipped parallel set (the same "
        "sentences in 15 languages) or your own lines (one per line; prefix `[fr]` to set a line's language). "
        "One forward pass per sentence, batched; at most 240 sentences per run."
    )
    shipped = list(parallel_languages())
    with gr.Row():
        choice = model_radio("100-1280")
        source = gr.Radio([("Shipped parallel set", "shipped"), ("Pasted lines", "pasted")], value="shipped", label="Sentences")
        per_language = slider(service.attention_average.param("per_language"), "Sentences per language (shipped set)")
    languages = gr.CheckboxGroup(
        language_choices(shipped), value=[c for c in ("en", "fr", "de", "ru", "zh") if c in shipped], label="Languages (shipped set)"
    )
    with gr.Row():
        pasted = gr.Textbox(label="Pasted lines", lines=4, placeholder="[en] The cat sleeps.\n[fr] Le chat dort.", scale=3)
        default_lang = language_dropdown(ctx, label="Language of lines without [xx]", scale=1)
    controls = view_controls(f"{TAB}-average", "Average over the set")
    statistic = gr.Dropdown(AVERAGE_CHOICES, value="entropy", label="Statistic", elem_id=f"{TAB}-average-results")
    profile = gr.Plot(label="Per layer, per language", show_label=False)
    plots = [gr.Plot(label=f"{key}: per head, per language", visible=False, show_label=False) for key in ctx.manager.keys]
    keys = list(ctx.manager.keys)

    def tables(answer: Answer) -> Drawn:  # the figures are a redraw (the statistic)
        return Drawn([], {"averages": make_average_table(answer.results)})

    def draw(answer: Answer, name: str) -> list[Any]:
        by_key = {r.model: r for r in answer.results}
        figures = [gr.Plot(value=make_language_figure(by_key[k], name), visible=True) if k in by_key else gr.Plot(visible=False) for k in keys]
        return [make_language_profile(answer.results, name), *figures]

    inputs = {"model": choice, "source": source, "languages": languages, "per_language": per_language, "pasted": pasted,
              "lang": default_lang}
    wire(ctx, View(f"{TAB}-average", controls, service.attention_average, inputs, tables,
                   first_result_id=f"{TAB}-average-results", redraws=[Redraw(draw, [statistic], [profile, *plots])]))
