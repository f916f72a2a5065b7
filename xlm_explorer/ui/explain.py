"""The Explain tab: why this prediction? Token attribution, activation patching and contextual token search.

Clicking a token in any token view (attribution, search results, the Compare tokenization) fills the token
search with that token and runs it (a page-wide click listener, :data:`TOKEN_CLICK_JS`, writes into a hidden box).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import service
from ..checks import BOTH
from ..service import Answer
from ..uploads import TABLE_TYPES
from ..views import across_languages as language_views
from ..views import attention_flow as flow_views
from ..views import explain as views
from .context import AppContext
from .widgets import build_subtabs, examples_that_run, intro, language_choices, language_dropdown, model_radio, slider, view_controls
from .share import one_based
from .wiring import Drawn, Redraw, Share, View, wire

INTRO = """Why does a model predict what it predicts? **Attribution**: which input tokens push the prediction up or
down (integrated gradients and gradient × input). **Patching**: run sentence A with one hidden state taken from
sentence B, and see where the difference between them enters. **Token search**: which tokens of a corpus the model
represents like this one, at a layer. Click any token chip to search for it."""

#: A click on a token chip (``.xlm-token`` inside an element with data-xlm-text) writes "model|lang|position|text"
#: into the hidden pick box; installed once on page load.
TOKEN_CLICK_JS = """() => {
  if (window.__xlmTokenClicks) return; window.__xlmTokenClicks = true;
  document.addEventListener('click', (event) => {
    const chip = event.target.closest && event.target.closest('.xlm-token');
    const holder = chip && chip.closest('[data-xlm-text]');
    const box = document.querySelector('#explain-token-pick textarea, #explain-token-pick input');
    if (!chip || !holder || !box) return;
    box.value = [holder.dataset.xlmModel || '', holder.dataset.xlmLang || 'en', chip.dataset.xlmToken, holder.dataset.xlmText].join('|');
    box.dispatchEvent(new Event('input', {bubbles: true}));
  });
}"""


def build_explain_tab(ctx: AppContext) -> None:
    tabs, (_, _, _, _, search_inputs) = build_subtabs(ctx, "explain", INTRO, [
        ("Attribution", "explain-attribution", _build_attribution),
        ("Patching", "explain-patching", _build_patching),
        ("Attention vs attribution", "explain-flow", _build_flow),
        ("Across languages", "explain-languages", _build_languages),
        ("Token search", "explain-search", _build_search),
    ])
    _wire_token_clicks(ctx, tabs, search_inputs)


def _prediction_inputs(
    ctx: AppContext, value: str, elem_id: str | None, target_label: str, last: Callable[[], Any],
) -> list[Any]:
    """The inputs of a view of one prediction: sentence, model, language, mask number, target, and ``last()`` beside
    the target (the attribution's foil, the flow's hide toggle)."""
    with gr.Row(equal_height=False):
        text = gr.Textbox(label="Sentence with [MASK]", value=value, lines=2, scale=3, elem_id=elem_id)
        with gr.Column(scale=2, min_width=260):
            model = model_radio("en-2048")
            with gr.Row():
                lang = language_dropdown(ctx, min_width=140)
                mask_number = gr.Number(value=1, precision=0, minimum=1, label="Mask number (1 = first [MASK])", min_width=100)
            with gr.Row():
                target = gr.Textbox(label=target_label, value="", min_width=140)
                extra = last()
    return [text, model, lang, mask_number, target, extra]


def _build_attribution(ctx: AppContext) -> None:
    inputs = _prediction_inputs(ctx, "The capital of France is [MASK].", None, "Target (a word or piece; empty = the top prediction)",
                                lambda: gr.Textbox(label="Foil (optional: why the target rather than this)", value="", min_width=140))
    text, model, lang, mask_number, target, foil = inputs
    examples_that_run("attribution", inputs, [
        ["The capital of France is [MASK].", "en-2048", "en", 1, "", ""],
        ["The doctor said that [MASK] was tired.", BOTH, "en", 1, "she", "he"],
        ["La capitale de la France est [MASK].", "100-1280", "fr", 1, "Paris", "Londres"],
    ])
    controls = view_controls("attribution", "Attribute")
    chips = gr.HTML(elem_id="attribution-results")
    plot = gr.Plot(show_label=False)
    table = gr.Dataframe(visible=False, label="Attribution per token", interactive=False, max_height=360)

    def draw(answer: Answer) -> Drawn:
        frame = views.make_attribution_table(answer.results)
        html = views.make_attribution_html(answer.results)
        return Drawn([html, views.make_attribution_figure(answer.results), frame], {"attributions": frame})

    wire(ctx, View(
        "attribution", controls, service.attribution,
        {"text": text, "model": model, "lang": lang, "mask_number": mask_number, "target": target, "foil": foil}, draw,
        [chips, plot, table],
        submit=[text], first_result_id="attribution-results",
        share=Share("explain", ["text", "model", "lang", "mask_number", "target", "foil"], subtab="explain-attribution",
                    legacy={"mask": ("mask_number", one_based)}),  # links before Dec 2026 counted masks from 0
    ))


def _build_flow(ctx: AppContext) -> None:
    intro("Attention weights are not explanations by themselves. For the prediction at a mask: **raw attention**, "
          "**attention rollout** (Abnar & Zuidema, 2020: the residual added and the layers multiplied through) and "
          "the **norm-based** measure (Kobayashi et al., 2020: the size of what each token adds, ||αf(x)||), each ranked "
          "against the **integrated-gradients** attribution of the same prediction (Spearman's ρ per layer). "
          "Hide special tokens and punctuation to see past the attention they soak up.")
    text, model, lang, mask_number, target, hide = _prediction_inputs(
        ctx, "The doctor said that [MASK] was tired.", "flow-text", "Target (empty = the top prediction)",
        lambda: gr.Checkbox(value=True, label="Hide <s>, </s> and punctuation", min_width=140))
    controls = view_controls("flow", "Compare the measures")
    agreement = gr.Plot(show_label=False, elem_id="flow-results")
    layer = gr.Slider(1, 16, value=16, step=1, label="Layer of the rows below (beyond a model's last: its last)")
    rows = gr.Plot(show_label=False)
    table = gr.Dataframe(visible=False, label="Agreement with integrated gradients", interactive=False)

    def draw(answer: Answer) -> Drawn:
        frame = flow_views.make_agreement_table(answer.results)
        return Drawn([flow_views.make_agreement_figure(answer.results), frame], {"agreement": frame})

    wire(ctx, View(
        "flow", controls, service.attention_flow,
        {"text": text, "model": model, "lang": lang, "mask_number": mask_number, "target": target, "hide_special": hide},
        draw, [agreement, table], submit=[text], first_result_id="flow-results",
        redraws=[Redraw(lambda answer, at: [flow_views.make_rows_figure(answer.results, int(at))], [layer], [rows])],
        share=Share("explain", ["text", "model", "lang", "mask_number", "target", "hide_special"], subtab="explain-flow"),
    ))


def _build_languages(ctx: AppContext) -> None:
    intro("One probe in several languages, explained: why the model prefers the **target** over the **foil** at the "
          "mask (contrastive attribution in sentence A) and where the difference between **word A** and **word B** "
          "enters (contrastive patching from sentence B), side by side per language, on **relative depth** (layer / "
          "number of layers, so en-2048's 12 and 100-1280's 16 layers line up). Pick two occupations of the shipped "
          "probe or write your own rows: lang | template with {filler} and [MASK] | word A | word B | target | foil.")
    concepts, (available, _) = service.probe_concepts(), service.crosslingual_probe_notes()
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            with gr.Row():
                word_a = gr.Dropdown(concepts, value=service.DEFAULT_WORDS[0], label="Word A (shipped probe)", min_width=120)
                word_b = gr.Dropdown(concepts, value=service.DEFAULT_WORDS[1], label="Word B", min_width=120)
            languages = gr.CheckboxGroup(language_choices(available), value=list(service.DEFAULT_LANGUAGES), label="Languages")
        with gr.Column(scale=3):
            rows = gr.Textbox(label="Probe rows (one per language; edit them or write your own)", lines=4, max_lines=10,
                              value=service.probe_rows(*service.DEFAULT_WORDS, list(service.DEFAULT_LANGUAGES)),
                              elem_id="explain-languages-rows")
            model = model_radio()
    gr.on([word_a.input, word_b.input, languages.input], service.probe_rows, [word_a, word_b, languages], rows,
          queue=False, api_visibility="private")
    controls = view_controls("explain-languages", "Explain in every language")
    summary = gr.HTML(elem_id="explain-languages-results")
    depth = gr.Plot(show_label=False)
    grids = gr.Plot(show_label=False, visible=False, elem_classes=["xlm-wide-plot"])  # hidden when none was patched
    table = gr.Dataframe(visible=False, label="Per model and language", interactive=False, wrap=True, max_height=360)

    def draw(answer: Answer) -> Drawn:
        frame, patched = language_views.make_table(answer.results), language_views.make_patching_figure(answer.results)
        return Drawn([language_views.make_summary_html(answer.results), language_views.make_depth_figure(answer.results),
                      gr.update(value=patched, visible=patched is not None), frame], {"languages": frame})

    wire(ctx, View(
        "explain-languages", controls, service.explain_languages, {"rows": rows, "model": model}, draw,
        [summary, depth, grids, table], smaller="give fewer rows, or one model", first_result_id="explain-languages-results",
        share=Share("explain", ["rows", "model"], subtab="explain-languages"),
    ))


def _build_patching(ctx: AppContext) -> None:
    intro("Two sentences of **equal token length** that differ in a word, with the **[MASK]** at the same place. "
          "Each cell: log P(target at A's mask) when A's hidden state at that layer and position comes from B, shown as "
          "the share of the way from A's value (0) to B's (1).")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            text_a = gr.Textbox(label="Sentence A", value="The doctor said that [MASK] was tired.")
            text_b = gr.Textbox(label="Sentence B (one word changed)", value="The lawyer said that [MASK] was tired.")
        with gr.Column(scale=2, min_width=260):
            model = model_radio("en-2048")
            with gr.Row():
                lang = language_dropdown(ctx, min_width=140)
                target = gr.Textbox(label="Target (empty = A's top prediction)", value="", min_width=140)
                foil = gr.Textbox(label="Foil (optional: patch log P(target) − log P(foil))", value="", min_width=140)
            head_layer = gr.Number(value=0, precision=0, minimum=0, label="Also per head at block (1 = first; 0 = no)")
    controls = view_controls("patching", "Patch")
    summary = gr.HTML(elem_id="patching-summary")
    plot = gr.Plot(show_label=False, elem_id="patching-results")
    heads = gr.Plot(show_label=False, visible=False)  # shown only when a head sweep was asked for
    table = gr.Dataframe(visible=False, label="log P(target) per layer and position", interactive=False, max_height=360)

    def draw(answer: Answer) -> Drawn:
        frame = views.make_patching_table(answer.results)
        head_figure = views.make_head_patching_figure(answer.results)
        return Drawn([views.make_patching_summary_html(answer.results), views.make_patching_figure(answer.results),
                      gr.update(value=head_figure, visible=head_figure is not None), frame], {"effects": frame})

    inputs = {"text_a": text_a, "text_b": text_b, "model": model, "lang": lang, "target": target, "head_layer": head_layer,
              "foil": foil}
    wire(ctx, View(
        "patching", controls, service.patching, inputs, draw, [summary, plot, heads, table],
        first_result_id="patching-results",
        share=Share("explain", list(inputs), subtab="explain-patching"),
    ))


def _build_search(ctx: AppContext) -> list[Any]:
    with gr.Row(equal_height=False):
        text = gr.Textbox(label="Sentence", value="The cat sleeps on the sofa.", lines=2, scale=3)
        with gr.Column(scale=2, min_width=260):
            model = gr.Radio([("en-2048", "en-2048"), ("100-1280", "100-1280")], value="100-1280", label="Model")
            with gr.Row():
                lang = language_dropdown(ctx, min_width=140)
                token_index = gr.Number(value=2, precision=0, minimum=0, label="Token position (<s> = 0)", min_width=100)
            with gr.Row():
                middle = ctx.manager.shape("100-1280")["n_layers"] // 2
                layer = gr.Number(value=middle, precision=0, minimum=0, label="Layer (0 = embeddings)", min_width=80)
                top_k = slider(service.token_search.param("top_k"), "Matches", min_width=140)
    corpus = gr.File(label="Your own corpus (optional): CSV/TSV with a text column (lang optional) or plain lines; ≤ 5,000 sentences",
                     file_types=list(TABLE_TYPES), type="filepath")
    index_line = service.corpus_index_line(ctx.ws.corpus_index)
    gr.Markdown(index_line, visible=bool(index_line), elem_id="token-search-index")
    controls = view_controls("token-search", "Search")
    matches = gr.HTML(elem_id="token-search-results")
    table = gr.Dataframe(visible=False, label="Matches", interactive=False, wrap=True, max_height=360)

    def draw(answer: Answer) -> Drawn:
        frame = views.make_matches_table(answer.results)
        return Drawn([views.make_matches_html(answer.results), frame], {"matches": frame})

    inputs = {"text": text, "model": model, "lang": lang, "token_index": token_index, "layer": layer, "top_k": top_k,
              "corpus_file": corpus}
    wire(ctx, View(
        "token-search", controls, service.token_search, inputs, draw, [matches, table],
        first_result_id="token-search-results",
        share=Share("explain", ["text", "model", "lang", "token_index", "layer", "top_k"], subtab="explain-search"),
    ))
    return [text, model, lang, token_index]


def _wire_token_clicks(ctx: AppContext, tabs: gr.Tabs, search_inputs: list[Any]) -> None:
    pick = gr.Textbox(elem_id="explain-token-pick", elem_classes=["xlm-hidden"], show_label=False, container=False)
    keys = set(ctx.manager.keys)

    def fill(picked: str) -> list[Any]:
        parts = (picked or "").split("|", 3)
        if len(parts) < 4 or not parts[2].isdigit():
            return [gr.skip()] * 6
        model, lang, position, text = parts
        model = model if model in keys else "100-1280"
        return [gr.Tabs(selected="explain"), gr.Tabs(selected="explain-search"), text, model, lang, int(position)]

    pick.change(fill, inputs=pick, outputs=[ctx.main_tabs, tabs, *search_inputs], queue=False, api_visibility="private").then(
        None, js="() => { setTimeout(() => document.querySelector('#token-search-run')?.click(), 300); }",
        queue=False, api_visibility="private",
    )
