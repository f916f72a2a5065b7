"""Words of several pieces: whole-word answers of up to N BPE pieces at one mask, for both models."""

from __future__ import annotations

import gradio as gr

from ... import service
from ...checks import BOTH
from ...service import Answer
from ...views import fill_word as views
from ..context import AppContext
from ..widgets import examples_that_run, intro, language_dropdown, model_radio, slider, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "fill-word"
HELP = f"""One **[MASK]** predicts one BPE piece, so a word the vocabulary splits (`un@@ believ@@ able`) is never a
fill-mask answer. Here the mask becomes 1, 2 … up to {service.fill_word.param("max_pieces").high} masks, filled **left to right by beam search**
(each piece but the last continues its word, the last ends it), and the whole words of every length are ranked
together by the completed sentence's **PLL-word-l2r** (Kauf & Ivanova 2023), which does not reward a word for
predicting its own pieces from each other. `*`: a split the tokenizer would not write for that word."""


def build_words(ctx: AppContext) -> None:
    intro(HELP)
    with gr.Row(equal_height=False):
        text = gr.Textbox(label="Sentence with one [MASK]", value="The film was [MASK] from start to end.", lines=2,
                          max_lines=8, scale=3, elem_id=f"{VIEW}-text")
        with gr.Column(scale=2, min_width=260):
            model = model_radio(BOTH)
            with gr.Row():
                lang = language_dropdown(ctx, min_width=120)
                max_pieces = slider(service.fill_word.param("max_pieces"), "Pieces at most", min_width=120)
            with gr.Row():
                top_k = slider(service.fill_word.param("top_k"), "Answers per length", min_width=120)
                beam_width = slider(service.fill_word.param("beam_width"), "Beam width", min_width=120)
    inputs = {"text": text, "model": model, "lang": lang, "max_pieces": max_pieces, "top_k": top_k, "beam_width": beam_width}
    examples_that_run(VIEW, list(inputs.values()), [
        ["The film was [MASK] from start to end.", BOTH, "en", 2, 5, 8],
        ["Der Film war [MASK] von Anfang bis Ende.", "100-1280", "de", 3, 5, 8],
        ["La capitale de la France est [MASK].", "100-1280", "fr", 2, 5, 8],
    ])
    controls = view_controls(VIEW, "Fill the word")
    summary = gr.HTML(elem_id=f"{VIEW}-results")
    plot = gr.Plot(show_label=False)
    table = gr.Dataframe(visible=False, label="Whole words, best first", interactive=False, wrap=True, max_height=420)

    def draw(answer: Answer) -> Drawn:
        frame = views.make_fill_word_table(answer.results)
        return Drawn([views.make_fill_word_html(answer.results), views.make_fill_word_figure(answer.results), frame],
                     {"words": frame})

    wire(ctx, View(
        VIEW, controls, service.fill_word, inputs, draw, [summary, plot, table], submit=[text], smaller="ask for fewer pieces, a narrower beam, or one model",
        first_result_id=f"{VIEW}-results", share=Share("compare", list(inputs), subtab="compare-words"),
    ))
