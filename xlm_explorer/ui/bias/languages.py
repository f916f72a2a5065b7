"""Across languages sub-tab: one occupation probe in seven languages side by side (100-1280, en-2048 as reference)."""

from __future__ import annotations

import gradio as gr

from ... import service
from ...service import Answer
from ...views import bias as views
from ..context import AppContext
from ..messages import notices_html
from ..widgets import intro, language_choices, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "bias-languages"
HELP = """The same ten occupations in each language, with the masculine and the feminine form at the mask (a pronoun,
or in Hindi the verb that agrees with वह): **log P(masculine) − log P(feminine)** per occupation and language, for
100-1280, and for en-2048 on English as the reference. Red: the masculine form is more likely; blue: the feminine.
Grammatical gender pushes towards the masculine wherever the occupation noun or its determiner is masculine (each
language's note says where): **compare occupations within a column**, not columns with each other or with zero."""


def build_bias_languages(ctx: AppContext) -> None:
    intro(HELP)
    available, notes = service.crosslingual_probe_notes()
    languages = gr.CheckboxGroup(language_choices(available), value=available, label="Languages")
    controls = view_controls(VIEW, "Score in every language")
    plot = gr.Plot(label="Per occupation and language", show_label=False, elem_id=f"{VIEW}-results")
    table = gr.Dataframe(visible=False, label="Log ratio per occupation and language (and the word used)", interactive=False, wrap=True)
    with gr.Accordion("Grammatical gender, language by language", open=False):
        gr.HTML(notices_html(notes))
    with gr.Accordion("What this can and cannot show", open=False):
        gr.Markdown(views.PROBE_CAVEATS)

    def draw(answer: Answer) -> Drawn:
        frame = views.make_crosslingual_table(answer.results)
        return Drawn([views.make_crosslingual_figure(answer.results), frame], {"log-ratio": frame})

    wire(ctx, View(VIEW, controls, service.bias_languages, {"languages": languages}, draw, [plot, table], smaller="pick fewer languages",
                   first_result_id=f"{VIEW}-results", share=Share("bias", ["languages"], subtab="bias-languages")))
