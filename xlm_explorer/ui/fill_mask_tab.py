"""Fill-mask tab: type a sentence with masks, see each model's top predictions."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import service
from ..checks import BOTH
from ..service import MAX_MASKS, Answer
from ..views.fill_mask import make_completion_html, make_fill_mask_figure, make_fill_mask_table, shared_x_max
from .context import AppContext
from .widgets import intro, examples_that_run, language_dropdown, model_radio, slider, view_controls
from .wiring import Drawn, Share, View, wire

TAB = "fill-mask"

INTRO = f"""Put **[MASK]** (or `<mask>`, `<special1>`) where a word is missing; up to {MAX_MASKS} masks, each predicted
in one pass with all masks present. `cat` ends a word, `cat@@` continues into the next piece. en-2048 lowercases
and strips accents; 100-1280 keeps them and tokenizes with the rules of the language you pick. An answer that is one
word of several pieces: **Compare → Words of several pieces**."""


def load_examples() -> list[list[Any]]:
    """Examples ``[text, model choice, language, top-k]`` from the shipped TSV."""
    top_k = service.fill_mask.param("top_k").default
    return [[text, BOTH if lang == "en" else "100-1280", lang, top_k] for lang, text in service.fill_mask_examples()]


def build_fill_mask_tab(ctx: AppContext) -> None:
    """Components and events of the fill-mask tab (inside an open ``gr.Tab``)."""
    intro(INTRO)
    with gr.Row(equal_height=False):
        text = gr.Textbox(label="Sentence with [MASK]", value="The capital of France is [MASK].", lines=2, max_lines=8, scale=3,
                          elem_id=f"{TAB}-text")
        with gr.Column(scale=2, min_width=260):
            choice = model_radio()
            with gr.Row():
                lang = language_dropdown(ctx, min_width=140)
                top_k = slider(service.fill_mask.param("top_k"), "Top-k", min_width=140)
    inputs = [text, choice, lang, top_k]
    examples_that_run(TAB, inputs, load_examples())
    controls = view_controls(TAB, "Predict")
    columns, outputs = [], []
    with gr.Row(equal_height=False, elem_id=f"{TAB}-results"):
        for key in ctx.manager.keys:
            with gr.Column(visible=True, min_width=300) as column:
                completion = gr.HTML(label=f"{key} completion", elem_classes=["xlm-completion-box"])
                plot = gr.Plot(label=f"{key} predictions", show_label=False)
                table = gr.Dataframe(visible=False, label=f"{key}: top predictions", interactive=False, wrap=True, max_height=360)
            columns.append(key)
            outputs += [column, completion, plot, table]
    def draw(answer: Answer) -> Drawn:
        by_key = {r.model: r for r in answer.results}
        x_max = shared_x_max(answer.results)  # side-by-side panels share the probability axis
        values: list[Any] = []
        tables = {}
        for key in columns:
            result = by_key.get(key)
            if result is None:
                values += [gr.Column(visible=False), "", None, None]
                continue
            table = make_fill_mask_table(result)
            tables[key] = table
            values += [gr.Column(visible=True), make_completion_html(result), make_fill_mask_figure(result, x_max), table]
        return Drawn(values, tables)

    wire(ctx, View(
        TAB, controls, service.fill_mask, {"text": text, "model": choice, "lang": lang, "top_k": top_k}, draw, outputs,
        submit=[text],
        first_result_id=f"{TAB}-results", share=Share(TAB, ["text", "model", "lang", "top_k"]),
    ))
