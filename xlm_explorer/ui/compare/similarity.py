"""Layer similarity sub-tab: linear CKA between every layer of the two models."""

from __future__ import annotations

import gradio as gr

from ... import service
from ...service import Answer, shipped_languages
from ...views import compare as views
from ..context import AppContext
from ..widgets import intro, language_choices, language_dropdown, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "similarity"
HELP = """**Linear CKA** (Kornblith et al., 2019) between every layer of en-2048 and every layer of 100-1280, on
mean-pooled hidden states of a sentence set: 1 means two layers arrange the sentences identically (up to rotation
and scale). The shipped parallel set (48 sentences per language; the embeddings tab's sets are reused), or paste
your own sentences, one per line. Small sets inflate CKA: compare patterns, not absolute values."""


def build_similarity(ctx: AppContext) -> None:
    intro(HELP)
    available = [code for code in shipped_languages("sentences") if code in ctx.manager.languages("100-1280")]
    with gr.Row(equal_height=False):
        langs = gr.Dropdown(language_choices(available), value=["en"], multiselect=True,
                            label="Parallel set: languages (48 sentences each)")
        with gr.Column():
            sentences = gr.Textbox(label="…or your own sentences, one per line (used when not empty)", lines=4, max_lines=12)
            sentences_lang = language_dropdown(ctx, label="Language of your sentences")
    controls = view_controls(VIEW, "Compute CKA")
    plot = gr.Plot(label="Linear CKA between layers", show_label=False, elem_id=f"{VIEW}-results")
    table = gr.Dataframe(visible=False, label="CKA matrix", interactive=False)

    def draw(answer: Answer) -> Drawn:
        frame = views.make_cka_table(answer.results)
        return Drawn([views.make_cka_figure(answer.results), frame], {"matrix": frame})

    inputs = {"languages": langs, "sentences": sentences, "lang": sentences_lang}
    share = Share("compare", ["languages", "sentences", "lang"], subtab="compare-similarity")
    wire(ctx, View(VIEW, controls, service.layer_similarity, inputs, draw, [plot, table],
                   first_result_id=f"{VIEW}-results", share=share))
