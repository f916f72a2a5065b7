"""Fill-mask tab: type a sentence with masks, see each model's top predictions."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gradio as gr

from ..analysis.fill_mask import DEFAULT_TOP_K, MAX_MASKS, MAX_TOP_K, MIN_TOP_K, FillMaskResult, predict_masks
from ..models import ModelManager
from ..views.fill_mask import make_completion_html, make_fill_mask_figure, make_fill_mask_table
from .common import (
    BOTH,
    COMPUTE,
    MODEL_CHOICES,
    RESULT_STATE_SECONDS,
    check_language_choice,
    language_choices,
    load_models,
    selected_keys,
    show_notices,
    user_errors,
)

EXAMPLES_FILE = Path(__file__).resolve().parents[2] / "assets" / "data" / "fill_mask_examples.tsv"
FALLBACK_EXAMPLES = [
    ("en", "The capital of France is [MASK]."),
    ("en", "The [MASK] sat on the [MASK]."),
    ("fr", "La capitale de la France est [MASK]."),
    ("de", "Die Hauptstadt von Deutschland ist [MASK]."),
    ("en", "The doctor said that [MASK] would be late."),
    ("en", "The nurse said that [MASK] would be late."),
]

INTRO = f"""Type a sentence and put **[MASK]** (or `<mask>`, or XLM's own `<special1>`) where a word is missing.
Up to {MAX_MASKS} masks: every mask is predicted **in one pass with all masks present** (each mask's
prediction does not see the others' answers). Word pieces are shown as the model sees them: `cat` ends a
word, `cat@@` continues into the next piece. en-2048 lowercases and strips accents; 100-1280 keeps them and
tokenizes with the rules of the language you pick."""


def load_examples(path: Path = EXAMPLES_FILE) -> list[list[Any]]:
    """Clickable examples ``[text, model choice, language, top-k]`` from the shipped TSV."""
    rows: list[tuple[str, str]] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row.get("text") and row.get("lang"):
                    rows.append((row["lang"].strip(), row["text"].strip()))
    except OSError:
        rows = []
    rows = rows or FALLBACK_EXAMPLES
    return [[text, BOTH if lang == "en" else "100-1280", lang, DEFAULT_TOP_K] for lang, text in rows]


def run_fill_mask(
    manager: ModelManager, text: str, choice: str, lang: str, top_k: float, progress: Any = None
) -> tuple[dict[str, Any], list[FillMaskResult]]:
    """Predict with every chosen model; a model that fails to load is reported, the other still answers.

    Returns the JSON payload (what the API returns) and the results for the views.
    """
    keys = selected_keys(manager, choice)
    lang = check_language_choice(manager, lang)
    models, errors = load_models(manager, keys, progress)
    results = [
        predict_masks(loaded, manager.forward_cache, text, lang if loaded.spec.multilingual else "en", top_k)
        for loaded in models
    ]
    if lang != "en" and "en-2048" in keys and "en-2048" not in errors:
        results = [
            r if r.model != "en-2048" else _with_notice(r, "en-2048 is English-only: the text was tokenized as English.")
            for r in results
        ]
    payload = {"text": text, "lang": lang, "results": [r.to_dict() for r in results], "errors": errors}
    return payload, results


def _with_notice(result: FillMaskResult, notice: str) -> FillMaskResult:
    from dataclasses import replace

    return replace(result, notices=(notice, *result.notices))


def build_fill_mask_tab(manager: ModelManager) -> None:
    """Components and events of the fill-mask tab (inside an open ``gr.Tab``)."""
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Sentence with [MASK]", value="The capital of France is [MASK].", lines=2, max_lines=8)
        with gr.Column(scale=2):
            choice = gr.Radio(MODEL_CHOICES, value=BOTH, label="Model")
            with gr.Row():
                lang = gr.Dropdown(
                    language_choices(manager.languages("100-1280")),
                    value="en",
                    label="Language (100-1280 tokenization)",
                    filterable=True,
                )
                top_k = gr.Slider(MIN_TOP_K, MAX_TOP_K, value=DEFAULT_TOP_K, step=1, label="Top-k")
    run = gr.Button("Predict", variant="primary")
    gr.Examples(load_examples(), inputs=[text, choice, lang, top_k], label="Examples (click to fill in)", examples_per_page=20)
    columns = []
    with gr.Row(equal_height=False):
        for key in manager.keys:
            with gr.Column(visible=True) as column:
                gr.Markdown(f"### {key}")
                completion = gr.HTML(label=f"{key} completion")
                plot = gr.Plot(label=f"{key} predictions")
                table = gr.Dataframe(label=f"{key} table", interactive=False, wrap=True)
            columns.append((key, column, completion, plot, table))
    with gr.Accordion("Data behind the charts (JSON, as the API returns it)", open=False):
        payload = gr.JSON(label="fill_mask result")
    results_state = gr.State([], time_to_live=RESULT_STATE_SECONDS)

    @user_errors
    def predict(text: str, choice: str, lang: str, top_k: float, progress: gr.Progress = gr.Progress()) -> tuple[dict, list]:
        data, results = run_fill_mask(manager, text, choice, lang, top_k, progress)
        show_notices([n for r in results for n in r.notices] + list(data["errors"].values()))
        return data, results

    def render(results: list[FillMaskResult]) -> list[Any]:
        by_key = {r.model: r for r in results or []}
        updates: list[Any] = []
        for key, _column, _completion, _plot, _table in columns:
            result = by_key.get(key)
            if result is None:
                updates += [gr.Column(visible=False), "", None, None]
            else:
                updates += [
                    gr.Column(visible=True),
                    make_completion_html(result),
                    make_fill_mask_figure(result),
                    make_fill_mask_table(result),
                ]
        return updates

    outputs = [component for _key, *components in columns for component in components]
    event = gr.on(
        triggers=[run.click, text.submit],
        fn=predict,
        inputs=[text, choice, lang, top_k],
        outputs=[payload, results_state],
        api_name="fill_mask",
        api_description="Top-k predictions for every [MASK] in the text, per model (JSON).",
        **COMPUTE,
    )
    event.success(render, inputs=results_state, outputs=outputs, api_visibility="private", queue=False)
