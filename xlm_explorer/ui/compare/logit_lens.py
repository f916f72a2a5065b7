"""Logit lens sub-tab: the LM head on every layer's hidden state at one mask, both models by relative depth."""

from __future__ import annotations

import gradio as gr

from ... import service
from ...service import Answer
from ...views import compare as views
from ..context import AppContext
from ..widgets import intro, language_dropdown, number_box, slider, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "logit-lens"
HELP = """**Per-layer predictions ("logit lens" for masked LMs):** the LM head applied to every layer's hidden state
at the chosen mask. Rows are layers at their **relative depth** (layer / number of layers), so en-2048's 12 layers
and 100-1280's 16 line up; `emb` is the embedding output. The last row is exactly the fill-mask prediction.
Intermediate layers were never trained to feed the LM head, so early rows are often noise. **Candidates over depth:**
the rank of chosen words (default: the final top-k) at every layer, and the layer from which each *commits*
(stays top-1, or in the top 5, through the last layer)."""


def build_logit_lens(ctx: AppContext) -> None:
    intro(HELP)
    with gr.Row(equal_height=False):
        text = gr.Textbox(label="Sentence with [MASK]", value="The capital of France is [MASK].", lines=2, max_lines=8, scale=3,
                          elem_id=f"{VIEW}-text")
        with gr.Column(scale=2, min_width=240):
            lang = language_dropdown(ctx)
            with gr.Row():
                mask_number = number_box(service.logit_lens.param("mask_number"), "Mask number (1 = first [MASK])", min_width=120)
                top_k = slider(service.logit_lens.param("top_k"), "Top-k per layer", min_width=120)
            candidates = gr.Textbox(label="Candidates to follow (comma-separated; empty = the final top-k)", value="")
    controls = view_controls(VIEW, "Show per-layer predictions")
    plot = gr.Plot(label="Per-layer predictions", show_label=False, elem_id=f"{VIEW}-results")
    depth_plot = gr.Plot(label="Candidates over depth", show_label=False)
    depth_table = gr.Dataframe(visible=False, label="Where each candidate commits", interactive=False)
    table = gr.Dataframe(visible=False, label="Top tokens per layer", interactive=False, max_height=420)

    def draw(answer: Answer) -> Drawn:
        frame, commits = views.make_logit_lens_table(answer.results), views.make_candidates_table(answer.results)
        return Drawn([views.make_logit_lens_figure(answer.results), views.make_candidates_figure(answer.results), commits,
                      frame], {"layers": frame, "candidates": commits})

    inputs = {"text": text, "lang": lang, "mask_number": mask_number, "top_k": top_k, "candidates": candidates}
    share = Share("compare", list(inputs), subtab="compare-logit-lens")
    wire(ctx, View(VIEW, controls, service.logit_lens, inputs, draw, [plot, depth_plot, depth_table, table], submit=[text],
                   first_result_id=f"{VIEW}-results", share=share))
