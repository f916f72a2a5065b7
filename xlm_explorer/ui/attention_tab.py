"""Attention tab: bertviz head/model views, one head's heatmap, head statistic grids, per-language averages."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from typing import Any

import gradio as gr
import pandas as pd

from ..analysis.attention import (
    MAX_SET_PER_LANGUAGE,
    STATISTIC_LABELS,
    STATISTIC_NAMES,
    AttentionResult,
    AveragedStatistics,
    analyze_attention,
    average_statistics,
    check_head,
    parallel_languages,
    parse_head_list,
    parse_sentence_lines,
    select_parallel_sentences,
)
from ..errors import UserInputError
from ..models import ModelManager
from ..views.attention import (
    BERTVIZ_MAX_TOKENS,
    bertviz_for_result,
    bertviz_iframe,
    make_average_table,
    make_grid_table,
    make_head_heatmap,
    make_language_figure,
    make_language_profile,
    make_message_figure,
    make_statistic_figure,
    make_statistics_table,
)
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

SHIPPED, PASTED = "shipped", "pasted"
MAX_INDEX = 15  # 100-1280 has 16 layers and both models 16 heads

INTRO = f"""What do the attention heads look at? Type a sentence, or **two** (sentence-pair mode: an English
sentence and its translation, or a premise and a hypothesis; encoded `<s> A </s> B </s>`).
- **Head statistics**: one grid (layers × heads) per statistic; click a cell in the table under it to show that head.
- **Heatmap** of one head (rows: query tokens, columns: attended tokens), up to 512 tokens.
- **bertviz** head view and model view (drawn offline), capped at {BERTVIZ_MAX_TOKENS} tokens.
Every statistic is averaged over the query tokens of the input. Download the statistics as CSV below."""

STATISTIC_CHOICES = [(STATISTIC_LABELS[name], name) for name in STATISTIC_NAMES]
AVERAGE_CHOICES = [(STATISTIC_LABELS[name], name) for name in STATISTIC_NAMES if name != "cross_share"]


def run_attention(
    manager: ModelManager,
    text: str,
    text_pair: str | None,
    choice: str,
    lang: str,
    lang_pair: str | None,
    heads: str | None = "",
    progress: Any = None,
) -> tuple[dict[str, Any], list[AttentionResult]]:
    """Attention of every chosen model on the input; returns the API payload and the results for the views.

    ``heads`` ("0:1, 2:3") asks for those heads' T x T matrices in the payload.
    """
    keys = selected_keys(manager, choice)
    lang = check_language_choice(manager, lang)
    pair = text_pair if isinstance(text_pair, str) and text_pair.strip() else None
    lang_b = check_language_choice(manager, lang_pair or lang, "second language") if pair is not None else None
    matrices = parse_head_list(heads)
    models, errors = load_models(manager, keys, progress)
    results = [
        analyze_attention(loaded, manager.forward_cache, text, lang, text_pair=pair, lang_pair=lang_b)
        for loaded in models
    ]
    for result in results:
        for layer, head in matrices:
            check_head(result, layer, head)
    payload = {
        "text": text,
        "text_pair": pair,
        "lang": lang,
        "lang_pair": lang_b,
        "statistics_help": {name: STATISTIC_LABELS[name] for name in STATISTIC_NAMES},
        "results": [r.to_dict(matrices) for r in results],
        "errors": errors,
    }
    return payload, results


def run_average(
    manager: ModelManager,
    choice: str,
    source: str,
    languages: Sequence[str] | None,
    per_language: float,
    pasted: str | None,
    default_lang: str,
    progress: Any = None,
) -> tuple[dict[str, Any], list[AveragedStatistics]]:
    """Head statistics averaged per language over the shipped parallel set or pasted lines, per chosen model."""
    keys = selected_keys(manager, choice)
    if source == SHIPPED:
        shipped = parallel_languages()
        wanted = [lang for lang in (languages or []) if isinstance(lang, str)]
        unknown = [lang for lang in wanted if lang not in shipped]
        if unknown:
            raise UserInputError(f"The shipped set has no sentences in: {', '.join(u[:8] for u in unknown)}.")
        sentences = select_parallel_sentences(wanted, per_language)
    elif source == PASTED:
        sentences = parse_sentence_lines(pasted, check_language_choice(manager, default_lang))
    else:
        raise UserInputError("Choose the sentence source: 'shipped' (the parallel set) or 'pasted'.")
    models, errors = load_models(manager, keys, progress)
    results: list[AveragedStatistics] = []
    for index, loaded in enumerate(models):

        def report(fraction: float, message: str, index: int = index) -> None:
            if progress is not None:
                progress((index + fraction) / len(models), desc=message)

        results.append(average_statistics(loaded, manager.forward_cache, sentences, source=source, progress=report))
    payload = {"source": source, "n_sentences": len(sentences), "results": [r.to_dict() for r in results], "errors": errors}
    return payload, results


def write_csv(frame: pd.DataFrame, prefix: str) -> str:
    """The table as a CSV file in the temp folder (what the download button serves)."""
    with tempfile.NamedTemporaryFile("w", suffix=".csv", prefix=prefix, delete=False, encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, quoting=csv.QUOTE_MINIMAL)
        return handle.name


def build_attention_tab(manager: ModelManager) -> None:
    """Components and events of the attention tab (inside an open ``gr.Tab``)."""
    gr.Markdown(INTRO)
    languages = language_choices(manager.languages("100-1280"))
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Sentence (A)", value="The cat sat on the mat because it was tired.", lines=2, max_lines=8)
            text_pair = gr.Textbox(
                label="Second sentence (B, optional: sentence-pair mode)", value="", lines=1, max_lines=6,
                placeholder="e.g. its translation: Le chat s'est assis sur le tapis.",
            )
        with gr.Column(scale=2):
            choice = gr.Radio(MODEL_CHOICES, value="en-2048", label="Model")
            with gr.Row():
                lang = gr.Dropdown(languages, value="en", label="Language of A", filterable=True)
                lang_pair = gr.Dropdown(languages, value="en", label="Language of B", filterable=True)
            heads_json = gr.Textbox(
                label="Head matrices to include in the JSON (optional, layer:head, at most 8)", value="",
                placeholder="0:1, 2:3",
            )
    run = gr.Button("Show attention", variant="primary")
    gr.Examples(
        [
            ["The cat sat on the mat because it was tired.", "", "en-2048", "en", "en"],
            ["The cat sleeps on the sofa.", "Le chat dort sur le canapé.", "100-1280", "en", "fr"],
            ["A man is playing a guitar.", "A person is making music.", BOTH, "en", "en"],
        ],
        inputs=[text, text_pair, choice, lang, lang_pair],
        label="Examples (click to fill in)",
    )
    with gr.Row():
        statistic = gr.Dropdown(STATISTIC_CHOICES, value="entropy", label="Statistic", scale=2)
        layer = gr.Slider(0, MAX_INDEX, value=0, step=1, label="Layer (heatmap)", scale=2)
        head = gr.Slider(0, MAX_INDEX, value=0, step=1, label="Head (heatmap)", scale=2)
    grid_plot = gr.Plot(label="Head statistic grid (layers × heads)")
    columns = []
    with gr.Row(equal_height=False):
        for key in manager.keys:
            with gr.Column(visible=key == "en-2048") as column:
                gr.Markdown(f"### {key}")
                grid_table = gr.Dataframe(label=f"{key}: click a cell to show that head", interactive=False, max_height=420)
                heatmap = gr.Plot(label=f"{key}: one head")
            columns.append((key, column, grid_table, heatmap))
    with gr.Accordion("bertviz head view and model view", open=True):
        gr.Markdown(
            f"Drawn offline from the vendored require.js, d3 and jQuery. At most {BERTVIZ_MAX_TOKENS} tokens; "
            "with many layers the view keeps the layers that fit (a notice says which). Pick layers and heads "
            "(none = all) and press Redraw. In pair mode use the *Attention* filter (Sentence A → Sentence B...)."
        )
        with gr.Row():
            bv_layers = gr.CheckboxGroup([str(i) for i in range(MAX_INDEX + 1)], value=[], label="Layers (none = all that fit)")
            bv_heads = gr.CheckboxGroup([str(i) for i in range(MAX_INDEX + 1)], value=[], label="Heads (none = all)")
        redraw = gr.Button("Redraw bertviz views", size="sm")
        bertviz_outputs = []
        with gr.Tabs():
            for kind, label in (("head", "Head view"), ("model", "Model view")):
                with gr.Tab(label):
                    for key in manager.keys:
                        bertviz_outputs.append((key, kind, gr.HTML(label=f"{key} {kind} view", padding=False)))
    with gr.Accordion("Export: statistics CSV and the JSON the API returns", open=False):
        stats_csv = gr.File(label="Head statistics (CSV)", interactive=False)
        payload = gr.JSON(label="attention result")
    results_state = gr.State([], time_to_live=RESULT_STATE_SECONDS)

    with gr.Accordion("Statistics averaged over a set of sentences, per language", open=False):
        gr.Markdown(
            "Average every head statistic over many sentences of each language: the shipped parallel set "
            "(the same sentences in 15 languages) or your own lines (one per line; prefix `[fr]` to set a line's "
            "language). One forward pass per sentence; at most 240 sentences per run."
        )
        with gr.Row():
            avg_choice = gr.Radio(MODEL_CHOICES, value="100-1280", label="Model")
            avg_source = gr.Radio([("Shipped parallel set", SHIPPED), ("Pasted lines", PASTED)], value=SHIPPED, label="Sentences")
            avg_per_language = gr.Slider(1, MAX_SET_PER_LANGUAGE, value=8, step=1, label="Sentences per language (shipped set)")
        shipped_languages = list(parallel_languages())
        avg_languages = gr.CheckboxGroup(
            language_choices(shipped_languages), value=[c for c in ("en", "fr", "de", "ru", "zh") if c in shipped_languages],
            label="Languages (shipped set)",
        )
        with gr.Row():
            avg_pasted = gr.Textbox(label="Pasted lines", lines=4, placeholder="[en] The cat sleeps.\n[fr] Le chat dort.", scale=3)
            avg_default_lang = gr.Dropdown(languages, value="en", label="Language of lines without [xx]", scale=1)
        avg_run = gr.Button("Average over the set", variant="primary")
        avg_statistic = gr.Dropdown(AVERAGE_CHOICES, value="entropy", label="Statistic")
        avg_profile = gr.Plot(label="Per layer, per language")
        avg_plots = [(key, gr.Plot(label=f"{key}: per head, per language", visible=False)) for key in manager.keys]
        avg_csv = gr.File(label="Averaged statistics (CSV)", interactive=False)
        avg_payload = gr.JSON(label="attention_average result")
        avg_state = gr.State([], time_to_live=RESULT_STATE_SECONDS)

    # ------------------------------------------------------------ handlers (model runs: API events)

    @user_errors
    def analyze(
        text: str, text_pair: str, choice: str, lang: str, lang_pair: str, heads: str, progress: gr.Progress = gr.Progress()
    ) -> tuple[dict, list]:
        data, results = run_attention(manager, text, text_pair, choice, lang, lang_pair, heads, progress)
        show_notices([n for r in results for n in r.notices] + list(data["errors"].values()))
        return data, results

    @user_errors
    def average(
        choice: str, source: str, languages: list[str], per_language: float, pasted: str, default_lang: str,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[dict, list]:
        data, results = run_average(manager, choice, source, languages, per_language, pasted, default_lang, progress)
        show_notices([n for r in results for n in r.notices] + list(data["errors"].values()))
        return data, results

    # ------------------------------------------------------------ renderers (no model: results from the state)

    @user_errors
    def render_statistics(results: list[AttentionResult], name: str) -> list[Any]:
        results = results or []
        missing = [r.model for r in results if name not in r.statistics.available()]
        by_key = {r.model: r for r in results}
        if missing:
            figure = make_message_figure("The cross-segment share needs a sentence pair: fill in the second sentence.")
        else:
            figure = make_statistic_figure(results, name) if results else None
        updates: list[Any] = [figure]
        for key, _column, _table, _heatmap in columns:
            result = by_key.get(key)
            table = make_grid_table(result.statistics, name) if result is not None and not missing else None
            updates += [gr.Column(visible=result is not None), table]
        max_layer = max((r.n_layers for r in results), default=MAX_INDEX + 1) - 1
        max_head = max((r.n_heads for r in results), default=MAX_INDEX + 1) - 1
        return updates + [gr.Slider(maximum=max_layer), gr.Slider(maximum=max_head)]

    @user_errors
    def export_statistics(results: list[AttentionResult]) -> str | None:
        return write_csv(make_statistics_table(results), "attention-statistics-") if results else None

    @user_errors
    def render_heads(results: list[AttentionResult], layer: float, head: float) -> list[Any]:
        by_key = {r.model: r for r in results or []}
        figures: list[Any] = []
        for key, _column, _table, _heatmap in columns:
            result = by_key.get(key)
            if result is None:
                figures.append(None)
                continue
            try:
                figures.append(make_head_heatmap(result, *check_head(result, layer, head)))
            except UserInputError as error:
                figures.append(make_message_figure(str(error)))
        return figures

    @user_errors
    def render_bertviz(results: list[AttentionResult], layers: list[str], heads: list[str]) -> list[str]:
        by_key = {r.model: r for r in results or []}
        htmls: list[str] = []
        for key, kind, _output in bertviz_outputs:
            result = by_key.get(key)
            if result is None:
                htmls.append("")
                continue
            document = bertviz_for_result(result, kind, layers, heads)
            htmls.append(bertviz_iframe(document, f"{key} bertviz {kind} view"))
        return htmls

    def pick_cell(results: list[AttentionResult], evt: gr.SelectData) -> tuple[Any, Any]:
        """A click on a grid cell (row = layer, column h<k> = head k) moves the heatmap there."""
        index = evt.index if isinstance(evt.index, (list, tuple)) else [evt.index, 0]
        row, col = int(index[0]), int(index[1])
        if col < 1:
            return gr.Slider(value=row), gr.Slider()
        return gr.Slider(value=row), gr.Slider(value=col - 1)

    @user_errors
    def render_average(results: list[AveragedStatistics], name: str) -> list[Any]:
        results = results or []
        by_key = {r.model: r for r in results}
        updates: list[Any] = [make_language_profile(results, name) if results else None]
        for key, _plot in avg_plots:
            averaged = by_key.get(key)
            updates.append(gr.Plot(value=make_language_figure(averaged, name), visible=True) if averaged else gr.Plot(visible=False))
        updates.append(write_csv(make_average_table(results), "attention-averages-") if results else None)
        return updates

    # ------------------------------------------------------------ wiring

    stat_outputs = [grid_plot] + [c for _key, column, table, _heatmap in columns for c in (column, table)]
    stat_outputs += [layer, head]
    heat_outputs = [heatmap for _key, _column, _table, heatmap in columns]
    bertviz_html = [output for _key, _kind, output in bertviz_outputs]

    event = gr.on(
        triggers=[run.click, text.submit, text_pair.submit],
        fn=analyze,
        inputs=[text, text_pair, choice, lang, lang_pair, heads_json],
        outputs=[payload, results_state],
        api_name="attention",
        api_description=(
            "Attention head statistics (layers x heads grids) per model for a sentence or a sentence pair; "
            "optionally the T x T matrices of chosen heads ('layer:head, ...')."
        ),
        **COMPUTE,
    )
    shown = event.success(render_statistics, inputs=[results_state, statistic], outputs=stat_outputs, api_visibility="private", queue=False)
    shown.then(render_heads, inputs=[results_state, layer, head], outputs=heat_outputs, api_visibility="private", queue=False)
    event.success(export_statistics, inputs=results_state, outputs=stats_csv, api_visibility="private", queue=False)
    event.success(render_bertviz, inputs=[results_state, bv_layers, bv_heads], outputs=bertviz_html, api_visibility="private")
    statistic.input(render_statistics, inputs=[results_state, statistic], outputs=stat_outputs, api_visibility="private", queue=False)
    gr.on(
        triggers=[layer.release, head.release],
        fn=render_heads,
        inputs=[results_state, layer, head],
        outputs=heat_outputs,
        api_visibility="private",
        queue=False,
    )
    for _key, _column, table, _heatmap in columns:
        table.select(pick_cell, inputs=[results_state], outputs=[layer, head], api_visibility="private", queue=False).then(
            render_heads, inputs=[results_state, layer, head], outputs=heat_outputs, api_visibility="private", queue=False
        )
    redraw.click(render_bertviz, inputs=[results_state, bv_layers, bv_heads], outputs=bertviz_html, api_visibility="private")

    avg_event = avg_run.click(
        average,
        inputs=[avg_choice, avg_source, avg_languages, avg_per_language, avg_pasted, avg_default_lang],
        outputs=[avg_payload, avg_state],
        api_name="attention_average",
        api_description="Attention head statistics averaged per language over the shipped parallel set or pasted lines.",
        **COMPUTE,
    )
    avg_outputs = [avg_profile] + [plot for _key, plot in avg_plots] + [avg_csv]
    avg_event.success(render_average, inputs=[avg_state, avg_statistic], outputs=avg_outputs, api_visibility="private", queue=False)
    avg_statistic.input(render_average, inputs=[avg_state, avg_statistic], outputs=avg_outputs, api_visibility="private", queue=False)
