"""Compare sub-tab: both models on one input (tokenization, fill-mask, overlap@k, facts)."""

from __future__ import annotations

import gradio as gr

from ... import service
from ...service import Answer
from ...views import compare as views
from ..context import AppContext
from ..widgets import intro, examples_that_run, language_dropdown, slider, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "compare"
HELP = """Type a sentence (with or without **[MASK]**): each model's tokenization, its fill-mask top-k, **overlap@k**
(the share of one model's top-k also in the other's, compared case- and accent-insensitively, since en-2048
lowercases) and the models' facts. en-2048 learned its 30k pieces from English only: French or German words split
into many pieces, and many scripts have no pieces at all (`<unk>`)."""


def build_side_by_side(ctx: AppContext) -> None:
    intro(HELP)
    with gr.Row(equal_height=False):
        text = gr.Textbox(label="Sentence", value="Le chat dort sur le [MASK].", lines=2, max_lines=8, scale=3)
        with gr.Column(scale=2, min_width=240):
            lang = language_dropdown(ctx, value="fr")
            top_k = slider(service.compare.param("top_k"), "Top-k")
    inputs = [text, lang, top_k]
    examples_that_run(VIEW, inputs, [
        ["Le chat dort sur le [MASK].", "fr", 10],
        ["The capital of France is [MASK].", "en", 10],
        ["Die Katze schläft auf dem [MASK].", "de", 10],
        ["Кошка спит на диване.", "ru", 10],
    ])
    controls = view_controls(VIEW, "Compare")
    with gr.Row(equal_height=False, elem_id=f"{VIEW}-results"):
        token_html = [gr.HTML(label=f"{key} tokenization", min_height=40) for key in ctx.manager.keys]
    predictions = gr.Dataframe(visible=False, label="Fill-mask, side by side", interactive=False, wrap=True)
    with gr.Row(equal_height=False):
        overlap = gr.Dataframe(visible=False, label="overlap@k between the models", interactive=False, wrap=True)
        facts = gr.Dataframe(visible=False, label="Model facts (from the loaded configs)", interactive=False)
    token_table = gr.Dataframe(visible=False, label="Tokenization", interactive=False)
    keys = list(ctx.manager.keys)

    def draw(answer: Answer) -> Drawn:
        result = answer.results
        by_model = {t.model: t for t in result.tokenizations}
        tables = {
            "fill-mask": views.make_side_by_side_table(result),
            "overlap": views.make_overlap_table(result),
            "facts": views.make_facts_table(result),
            "tokenization": views.make_tokenization_table(result),
        }
        chips = [views.make_tokenization_html(by_model[key]) if key in by_model else "" for key in keys]
        return Drawn([*chips, *tables.values()], tables)

    wire(ctx, View(
        VIEW, controls, service.compare, {"text": text, "lang": lang, "top_k": top_k}, draw,
        [*token_html, predictions, overlap, facts, token_table], submit=[text],
        first_result_id=f"{VIEW}-results",
        share=Share("compare", ["text", "lang", "top_k"], subtab="compare-side-by-side"),
    ))
