"""Compare & bias tab: both models side by side, per-layer predictions, layer similarity, a cross-lingual
fill-mask grid, template bias probes and sentence-pair scoring.

Each sub-tab follows the fill-mask pattern: an API event returns a JSON-ready dict plus the result
objects in a ``gr.State``; a private ``.success`` step draws the views and writes the CSV/JSON downloads.
"""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ..analysis import bias as bias_analysis
from ..analysis.compare import (
    CompareResult,
    CrosslingualGrid,
    LogitLensResult,
    compare_models,
    crosslingual_grid,
    depth_alignment,
    format_grid_templates,
    load_grid_templates,
    logit_lens,
    parse_grid_templates,
)
from ..analysis.fill_mask import DEFAULT_TOP_K, MAX_TOP_K, MIN_TOP_K
from ..analysis.similarity import (
    LayerSimilarity,
    PooledStatesCache,
    layer_similarity,
    load_parallel_sentences,
    parse_sentences,
)
from ..errors import UserInputError
from ..models import LoadedModel, ModelManager
from ..views import bias as bias_views
from ..views import compare as compare_views
from .common import (
    BOTH,
    COMPUTE,
    MODEL_CHOICES,
    RESULT_STATE_SECONDS,
    get_model,
    language_choices,
    selected_keys,
    show_notices,
    user_errors,
)

INTRO = """Both models on the same input, side by side, and the tools to look at what they learned.
Every sub-tab is also an API endpoint (see "Use via API" at the bottom of the page). One forward pass
per model and input is shared by the comparison, the logit lens and the fill-mask tab."""

COMPARE_HELP = """Type a sentence (with or without **[MASK]**). You get each model's tokenization, its
fill-mask top-k, **overlap@k** (the share of one model's top-k also in the other's, compared
case- and accent-insensitively, since en-2048 lowercases and strips accents) and the models' facts.
en-2048 learned its 30k BPE pieces from English only: French or German words are rare to it, so it
splits them into many pieces (and it has no pieces at all for many scripts: `<unk>`)."""

LENS_HELP = """**Per-layer predictions ("logit lens" for masked LMs):** the LM head applied to the hidden
state of every layer at the chosen mask. Rows are layers placed at their **relative depth** (layer / number
of layers), so en-2048's 12 layers and 100-1280's 16 line up; `emb` is the embedding output. The last
row is exactly the fill-mask prediction. Columns: the last layer's top-k plus any other layer's top-1.
Intermediate layers were never trained to feed the LM head, so early rows are often noise."""

CKA_HELP = """**Linear CKA** (Kornblith et al., 2019) between every layer of en-2048 and every layer of
100-1280, on mean-pooled hidden states of a sentence set: 1 means the two layers arrange the sentences
identically (up to rotation and scale). By default the shipped parallel set (48 sentences per language);
or paste your own sentences, one per line. Small sets inflate CKA; compare patterns, not absolute values."""

GRID_HELP = """One template written in several languages, one per line as `lang<TAB>sentence` or
`lang: sentence`, each with exactly one **[MASK]**. Both models fill every line (en-2048 reads every
language as English, which is the point of the comparison)."""

PROBE_HELP = """A **template** with one **[MASK]** and one `{filler}`, two **target** words compared at the
mask, and **fillers** (one per line) put into `{filler}`. For each filler and model: log P(target 1) −
log P(target 2). A target split into several pieces is written in full and scored by pseudo-log-likelihood
over **all** its pieces (never by its first piece alone). Pick a shipped probe set (English, French,
German, Spanish, Russian), edit it, or upload your own JSON (same format as `assets/data/bias_probes.json`)."""

PAIRS_HELP = """Pairs of sentences that differ in a group word (CrowS-Pairs style): `sent_more` the more
stereotypical, `sent_less` the less. Each sentence is scored by **pseudo-log-likelihood** (every token masked
in turn; copies batched). The table is tab- or comma-separated with a header naming `sent_more` and
`sent_less` (`id`, `lang`, `bias_type` optional); upload a CSV/TSV or edit the shipped set."""

Progress = Callable[[float, str], None]


def note_html(note: str) -> str:
    """A probe set's note (user-uploadable) as escaped HTML."""
    return f'<p class="xlm-notice">{html.escape(note)}</p>' if note else ""


def _progress(progress: Any) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(fraction, desc=message)


def _check_lang(manager: ModelManager, lang: object) -> str:
    if not isinstance(lang, str) or lang not in manager.languages("100-1280"):
        raise UserInputError(f"Unknown language {str(lang)[:40]!r}; pick one from the language list (e.g. en, fr, de).")
    return lang


def _models(manager: ModelManager, keys: list[str], progress: Any) -> list[LoadedModel]:
    return [get_model(manager, key, progress) for key in keys]


def write_downloads(prefix: str, tables: dict[str, pd.DataFrame], payload: dict[str, Any]) -> list[str]:
    """Write each table as CSV and the payload as JSON into a fresh temp folder; returns the paths."""
    folder = Path(tempfile.mkdtemp(prefix=f"xlm-{prefix}-"))
    paths = []
    for name, frame in tables.items():
        path = folder / f"{prefix}-{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(str(path))
    path = folder / f"{prefix}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    paths.append(str(path))
    return paths


# --------------------------------------------------------------------------------------------------
# Handlers (plain functions: the API events wrap them; tests may call them directly)


def run_compare(
    manager: ModelManager, text: str, lang: str, top_k: float, progress: Any = None
) -> tuple[dict[str, Any], CompareResult]:
    lang = _check_lang(manager, lang)
    result = compare_models(_models(manager, list(manager.keys), progress), manager.forward_cache, text, lang, top_k)
    return result.to_dict(), result


def run_logit_lens(
    manager: ModelManager, text: str, lang: str, mask_number: float, top_k: float, progress: Any = None
) -> tuple[dict[str, Any], list[LogitLensResult]]:
    lang = _check_lang(manager, lang)
    models = _models(manager, list(manager.keys), progress)
    results = [logit_lens(m, manager.forward_cache, text, lang, mask_number, top_k) for m in models]
    alignment = depth_alignment(results[0].n_layers, results[-1].n_layers) if len(results) > 1 else ()
    payload = {
        "text": text,
        "lang": lang,
        "mask_number": results[0].mask_number,
        "results": {r.model: r.to_dict() for r in results},
        "depth_alignment": [list(pair) for pair in alignment],
    }
    return payload, results


def run_layer_similarity(
    manager: ModelManager,
    langs: list[str] | None,
    sentences: str,
    sentences_lang: str,
    pooled: PooledStatesCache,
    progress: Any = None,
) -> tuple[dict[str, Any], LayerSimilarity]:
    if sentences and sentences.strip():
        sentence_set = parse_sentences(sentences, _check_lang(manager, sentences_lang))
    else:
        langs = [langs] if isinstance(langs, str) else list(langs or [])
        if not langs:
            raise UserInputError("Choose at least one language of the parallel set, or paste your own sentences.")
        sentence_set = load_parallel_sentences([_check_lang(manager, code) for code in langs])
    model_a, model_b = _models(manager, list(manager.keys), progress)
    result = layer_similarity(model_a, model_b, sentence_set, pooled, _progress(progress))
    return result.to_dict(), result


def run_grid(
    manager: ModelManager, templates: str, top_k: float, progress: Any = None
) -> tuple[dict[str, Any], CrosslingualGrid]:
    parsed = parse_grid_templates(templates, manager.languages("100-1280"))
    grid = crosslingual_grid(_models(manager, list(manager.keys), progress), manager.forward_cache, parsed, top_k)
    return grid.to_dict(), grid


def run_bias_probe(
    manager: ModelManager, template: str, targets: str, fillers: str, lang: str, choice: str, progress: Any = None
) -> tuple[dict[str, Any], bias_analysis.ProbeResult]:
    lang = _check_lang(manager, lang)
    target_words = bias_analysis.split_words(targets, r"[,/\n;]")
    filler_words = bias_analysis.split_words(fillers, r"[,\n]")
    bias_analysis.check_probe(template, target_words, filler_words)  # clear messages before any model loads
    models = _models(manager, selected_keys(manager, choice), progress)
    result = bias_analysis.run_probe(models, template, target_words, filler_words, lang, progress=_progress(progress))
    return result.to_dict(), result


def run_pll_pairs(
    manager: ModelManager, table: str, choice: str, progress: Any = None
) -> tuple[dict[str, Any], bias_analysis.PairsResult]:
    pairs = bias_analysis.parse_pairs_table(table)
    models = _models(manager, selected_keys(manager, choice), progress)
    result = bias_analysis.score_pairs(models, pairs, progress=_progress(progress))
    return result.to_dict(), result


def _read_upload(upload: Any) -> bytes:
    path = upload if isinstance(upload, str) else getattr(upload, "name", None) or getattr(upload, "path", None)
    if not path:
        raise UserInputError("No file was uploaded.")
    data = Path(path).read_bytes()
    if len(data) > bias_analysis.MAX_UPLOAD_BYTES:
        raise UserInputError("The file is larger than 1 MB.")
    return data


# --------------------------------------------------------------------------------------------------
# Renderers (results -> component values; run after the API event, never exposed as API)


def render_compare(result: CompareResult | None, keys: tuple[str, ...] | list[str]) -> list[Any]:
    """Tokenization HTML per model, then the tokenization, fill-mask, overlap and facts tables, then downloads."""
    if result is None:
        return [""] * len(keys) + [None] * 5
    by_model = {t.model: t for t in result.tokenizations}
    tables = {
        "tokenization": compare_views.make_tokenization_table(result),
        "fill-mask": compare_views.make_side_by_side_table(result),
        "overlap": compare_views.make_overlap_table(result),
        "facts": compare_views.make_facts_table(result),
    }
    html_parts = [compare_views.make_tokenization_html(by_model[key]) if key in by_model else "" for key in keys]
    return html_parts + list(tables.values()) + [write_downloads("compare", tables, result.to_dict())]


def render_logit_lens(results: list[LogitLensResult] | None) -> list[Any]:
    """Heatmaps, the long table, downloads."""
    if not results:
        return [None, None, None]
    frame = compare_views.make_logit_lens_table(results)
    payload = {r.model: r.to_dict() for r in results}
    return [
        compare_views.make_logit_lens_figure(results),
        frame,
        write_downloads("logit-lens", {"layers": frame}, payload),
    ]


def render_similarity(result: LayerSimilarity | None) -> list[Any]:
    if result is None:
        return [None, None, None]
    frame = compare_views.make_cka_table(result)
    return [compare_views.make_cka_figure(result), frame, write_downloads("cka", {"matrix": frame}, result.to_dict())]


def render_grid(grid: CrosslingualGrid | None) -> list[Any]:
    if grid is None:
        return [None, None]
    wide = compare_views.make_grid_table(grid, shown=grid.top_k)
    long = compare_views.make_grid_long_table(grid)
    return [wide, write_downloads("grid", {"grid": wide, "predictions": long}, grid.to_dict())]


def render_probe(result: bias_analysis.ProbeResult | None) -> list[Any]:
    if result is None:
        return [None, None, None]
    frame = bias_views.make_probe_table(result)
    return [
        bias_views.make_probe_figure(result),
        frame,
        write_downloads("bias-probe", {"scores": frame}, result.to_dict()),
    ]


def render_pairs(result: bias_analysis.PairsResult | None) -> list[Any]:
    if result is None:
        return [None, None, None, None]
    summary = bias_views.make_pairs_summary(result)
    frame = bias_views.make_pairs_table(result)
    files = write_downloads("pll-pairs", {"summary": summary, "pairs": frame}, result.to_dict())
    return [summary, bias_views.make_pairs_figure(result), frame, files]


# --------------------------------------------------------------------------------------------------
# Sub-tabs


def _model_radio() -> gr.Radio:
    return gr.Radio(MODEL_CHOICES, value=BOTH, label="Model")


def _language_dropdown(
    manager: ModelManager, label: str = "Language (100-1280 tokenization)", value: str = "en"
) -> gr.Dropdown:
    return gr.Dropdown(language_choices(manager.languages("100-1280")), value=value, label=label, filterable=True)


def _build_compare(manager: ModelManager) -> None:
    gr.Markdown(COMPARE_HELP)
    with gr.Row():
        text = gr.Textbox(label="Sentence", value="Le chat dort sur le [MASK].", lines=2, max_lines=8, scale=3)
        with gr.Column(scale=2):
            lang = _language_dropdown(manager, value="fr")
            top_k = gr.Slider(MIN_TOP_K, MAX_TOP_K, value=DEFAULT_TOP_K, step=1, label="Top-k")
    run = gr.Button("Compare", variant="primary")
    gr.Examples(
        [
            ["Le chat dort sur le [MASK].", "fr", 10],
            ["The capital of France is [MASK].", "en", 10],
            ["Die Katze schläft auf dem [MASK].", "de", 10],
            ["Кошка спит на диване.", "ru", 10],
        ],
        inputs=[text, lang, top_k],
        label="Examples",
    )
    with gr.Row(equal_height=False):
        token_html = [gr.HTML(label=f"{key} tokenization") for key in manager.keys]
    token_table = gr.Dataframe(label="Tokenization", interactive=False)
    predictions = gr.Dataframe(label="Fill-mask, side by side", interactive=False, wrap=True)
    with gr.Row(equal_height=False):
        overlap = gr.Dataframe(label="overlap@k between the models", interactive=False, wrap=True)
        facts = gr.Dataframe(label="Model facts (from the loaded configs)", interactive=False)
    downloads = gr.File(label="Downloads (CSV / JSON)", file_count="multiple", interactive=False)
    with gr.Accordion("JSON (as the API returns it)", open=False):
        payload = gr.JSON(label="compare result")
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    @user_errors
    def compare(
        text: str, lang: str, top_k: float, progress: gr.Progress = gr.Progress()
    ) -> tuple[dict, CompareResult]:
        data, result = run_compare(manager, text, lang, top_k, progress)
        show_notices(result.notices)
        return data, result

    def render(result: CompareResult | None) -> list[Any]:
        return render_compare(result, manager.keys)

    event = gr.on(
        triggers=[run.click, text.submit],
        fn=compare,
        inputs=[text, lang, top_k],
        outputs=[payload, state],
        api_name="compare",
        api_description="Both models on one input: tokenization, fill-mask top-k, overlap@k, model facts (JSON).",
        **COMPUTE,
    )
    event.success(
        render,
        inputs=state,
        outputs=[*token_html, token_table, predictions, overlap, facts, downloads],
        api_visibility="private",
        queue=False,
    )


def _build_logit_lens(manager: ModelManager) -> None:
    gr.Markdown(LENS_HELP)
    with gr.Row():
        text = gr.Textbox(
            label="Sentence with [MASK]", value="The capital of France is [MASK].", lines=2, max_lines=8, scale=3
        )
        with gr.Column(scale=2):
            lang = _language_dropdown(manager)
            with gr.Row():
                mask_number = gr.Number(value=1, precision=0, minimum=1, label="Mask number (1 = first [MASK])")
                top_k = gr.Slider(1, 20, value=5, step=1, label="Top-k per layer")
    run = gr.Button("Show per-layer predictions", variant="primary")
    plot = gr.Plot(label="Per-layer predictions")
    table = gr.Dataframe(label="Top tokens per layer", interactive=False)
    downloads = gr.File(label="Downloads (CSV / JSON)", file_count="multiple", interactive=False)
    with gr.Accordion("JSON (as the API returns it)", open=False):
        payload = gr.JSON(label="logit_lens result")
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    @user_errors
    def lens(
        text: str, lang: str, mask_number: float, top_k: float, progress: gr.Progress = gr.Progress()
    ) -> tuple[dict, list]:
        data, results = run_logit_lens(manager, text, lang, mask_number, top_k, progress)
        show_notices([n for r in results for n in r.notices])
        return data, results

    event = gr.on(
        triggers=[run.click, text.submit],
        fn=lens,
        inputs=[text, lang, mask_number, top_k],
        outputs=[payload, state],
        api_name="logit_lens",
        api_description="Per-layer predictions at one mask for both models (LM head on every layer's hidden state).",
        **COMPUTE,
    )
    event.success(
        render_logit_lens, inputs=state, outputs=[plot, table, downloads], api_visibility="private", queue=False
    )


def _build_similarity(manager: ModelManager, pooled: PooledStatesCache) -> None:
    gr.Markdown(CKA_HELP)
    parallel_langs = ["en", "fr", "de", "es", "it", "pt", "ru", "el", "ar", "he", "hi", "zh", "ja", "ko", "tr"]
    available = [code for code in parallel_langs if code in manager.languages("100-1280")]
    with gr.Row():
        langs = gr.Dropdown(
            language_choices(available),
            value=["en"],
            multiselect=True,
            label="Parallel set: languages (48 sentences each)",
        )
        with gr.Column():
            sentences = gr.Textbox(
                label="…or your own sentences, one per line (used when not empty)", lines=4, max_lines=12
            )
            sentences_lang = _language_dropdown(manager, label="Language of your sentences")
    run = gr.Button("Compute CKA", variant="primary")
    plot = gr.Plot(label="Linear CKA between layers")
    table = gr.Dataframe(label="CKA matrix", interactive=False)
    downloads = gr.File(label="Downloads (CSV / JSON)", file_count="multiple", interactive=False)
    with gr.Accordion("JSON (as the API returns it)", open=False):
        payload = gr.JSON(label="layer_similarity result")
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    @user_errors
    def similarity(
        langs: list[str], sentences: str, sentences_lang: str, progress: gr.Progress = gr.Progress()
    ) -> tuple[dict, LayerSimilarity]:
        return run_layer_similarity(manager, langs, sentences, sentences_lang, pooled, progress)

    event = run.click(
        similarity,
        inputs=[langs, sentences, sentences_lang],
        outputs=[payload, state],
        api_name="layer_similarity",
        api_description="Linear CKA between every layer of en-2048 and of 100-1280 on a sentence set.",
        **COMPUTE,
    )
    event.success(
        render_similarity, inputs=state, outputs=[plot, table, downloads], api_visibility="private", queue=False
    )


def _build_grid(manager: ModelManager) -> None:
    gr.Markdown(GRID_HELP)
    try:
        shipped = load_grid_templates()
    except OSError:
        shipped = {}
    names = {"t1": "capital of France", "t2": "a cup of … every morning", "t3": "favourite colour"}
    with gr.Row():
        template_set = gr.Dropdown(
            [(f"{key}: {names.get(key, key)}", key) for key in shipped],
            value=next(iter(shipped), None),
            label="Shipped template",
            scale=1,
        )
        top_k = gr.Slider(1, 10, value=3, step=1, label="Predictions per cell", scale=1)
    templates = gr.Textbox(
        label="Templates (one per line: lang<TAB>sentence with [MASK])",
        value=format_grid_templates(next(iter(shipped.values()), ())),
        lines=8,
        max_lines=30,
    )
    run = gr.Button("Fill the grid", variant="primary")
    table = gr.Dataframe(label="Top predictions per language and model", interactive=False, wrap=True)
    downloads = gr.File(label="Downloads (CSV / JSON)", file_count="multiple", interactive=False)
    with gr.Accordion("JSON (as the API returns it)", open=False):
        payload = gr.JSON(label="crosslingual_grid result")
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    def pick(key: str) -> str:
        return format_grid_templates(shipped.get(key, ()))

    template_set.change(pick, inputs=template_set, outputs=templates, api_visibility="private", queue=False)

    @user_errors
    def fill(templates: str, top_k: float, progress: gr.Progress = gr.Progress()) -> tuple[dict, CrosslingualGrid]:
        data, grid = run_grid(manager, templates, top_k, progress)
        show_notices([n for c in grid.cells for n in c.notices if "English-only" not in n])
        return data, grid

    event = run.click(
        fill,
        inputs=[templates, top_k],
        outputs=[payload, state],
        api_name="crosslingual_grid",
        api_description="Top predictions of both models for one template written in several languages.",
        **COMPUTE,
    )
    event.success(render_grid, inputs=state, outputs=[table, downloads], api_visibility="private", queue=False)


def _build_probes(manager: ModelManager) -> None:
    gr.Markdown(PROBE_HELP)
    try:
        shipped = {p.id: p for p in bias_analysis.load_probe_sets()}
    except (OSError, UserInputError):
        shipped = {}
    first = next(iter(shipped.values()), None)
    sets_state = gr.State({key: p.to_dict() for key, p in shipped.items()})
    with gr.Row():
        probe_set = gr.Dropdown(
            list(shipped), value=first.id if first else None, label="Probe set", allow_custom_value=True, scale=2
        )
        upload = gr.File(label="Upload probe sets (JSON)", file_types=[".json"], type="filepath", scale=1)
    with gr.Row():
        with gr.Column(scale=3):
            template = gr.Textbox(
                label="Template (one [MASK], one {filler})", value=first.template if first else "", lines=2
            )
            targets = gr.Textbox(
                label="Two target words (comma-separated)", value=", ".join(first.targets) if first else ""
            )
        with gr.Column(scale=2):
            lang = _language_dropdown(manager, value=first.lang if first else "en")
            choice = _model_radio()
    fillers = gr.Textbox(
        label="Fillers (one per line)", value="\n".join(first.fillers) if first else "", lines=6, max_lines=20
    )
    note = gr.HTML(note_html(first.note) if first else "")
    run = gr.Button("Run the probe", variant="primary")
    gr.Markdown(bias_views.PROBE_CAVEATS)
    plot = gr.Plot(label="Log ratio per filler")
    table = gr.Dataframe(label="Scores per filler and model", interactive=False, wrap=True)
    downloads = gr.File(label="Downloads (CSV / JSON)", file_count="multiple", interactive=False)
    with gr.Accordion("JSON (as the API returns it)", open=False):
        payload = gr.JSON(label="bias_probe result")
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    def pick(key: str, sets: dict[str, dict]) -> list[Any]:
        item = (sets or {}).get(key)
        if item is None:
            return [gr.update()] * 5
        return [
            item["template"],
            ", ".join(item["targets"]),
            "\n".join(item["fillers"]),
            item["lang"],
            note_html(item.get("note", "")),
        ]

    probe_set.change(
        pick,
        inputs=[probe_set, sets_state],
        outputs=[template, targets, fillers, lang, note],
        api_visibility="private",
        queue=False,
    )

    @user_errors
    def load_upload(upload: Any, sets: dict[str, dict]) -> list[Any]:
        if upload is None:
            return [gr.update(), sets]
        loaded_sets = bias_analysis.parse_probe_sets(_read_upload(upload))
        sets = {**(sets or {}), **{p.id: p.to_dict() for p in loaded_sets}}
        names = html.escape(", ".join(p.id for p in loaded_sets)[:200], quote=False)
        gr.Info(f"Loaded {len(loaded_sets)} probe set(s): {names}")
        return [gr.Dropdown(choices=list(sets), value=loaded_sets[0].id), sets]

    upload.upload(load_upload, inputs=[upload, sets_state], outputs=[probe_set, sets_state], api_visibility="private")

    @user_errors
    def probe(
        template: str, targets: str, fillers: str, lang: str, choice: str, progress: gr.Progress = gr.Progress()
    ) -> tuple[dict, Any]:
        data, result = run_bias_probe(manager, template, targets, fillers, lang, choice, progress)
        show_notices(result.notices)
        return data, result

    event = run.click(
        probe,
        inputs=[template, targets, fillers, lang, choice],
        outputs=[payload, state],
        api_name="bias_probe",
        api_description="Template bias probe: log P(target 1) - log P(target 2) per filler and model (multi-piece targets by PLL).",
        **COMPUTE,
    )
    event.success(render_probe, inputs=state, outputs=[plot, table, downloads], api_visibility="private", queue=False)


def _build_pairs(manager: ModelManager) -> None:
    gr.Markdown(PAIRS_HELP)
    try:
        shipped = bias_analysis.PAIRS_FILE.read_text(encoding="utf-8")
    except OSError:
        shipped = "sent_more\tsent_less\n"
    with gr.Row():
        upload = gr.File(
            label="Upload pairs (CSV or TSV)", file_types=[".csv", ".tsv", ".txt"], type="filepath", scale=1
        )
        choice = _model_radio()
    table_text = gr.Textbox(label="Sentence pairs (TSV or CSV with a header)", value=shipped, lines=10, max_lines=30)
    run = gr.Button("Score the pairs", variant="primary")
    gr.Markdown(bias_views.PROBE_CAVEATS)
    summary = gr.Dataframe(label="Summary per model", interactive=False)
    plot = gr.Plot(label="PLL difference per pair")
    table = gr.Dataframe(label="Scores per pair and model", interactive=False, wrap=True)
    downloads = gr.File(label="Downloads (CSV / JSON)", file_count="multiple", interactive=False)
    with gr.Accordion("JSON (as the API returns it)", open=False):
        payload = gr.JSON(label="pll_pairs result")
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    @user_errors
    def load_upload(upload: Any) -> Any:
        if upload is None:
            return gr.update()
        data = _read_upload(upload)
        pairs = bias_analysis.parse_pairs_table(data)  # validate now: a clear message instead of a bad table
        gr.Info(f"Loaded {len(pairs)} pairs.")
        return data.decode("utf-8-sig")

    upload.upload(load_upload, inputs=upload, outputs=table_text, api_visibility="private")

    @user_errors
    def score(table: str, choice: str, progress: gr.Progress = gr.Progress()) -> tuple[dict, Any]:
        data, result = run_pll_pairs(manager, table, choice, progress)
        show_notices(result.notices)
        return data, result

    event = run.click(
        score,
        inputs=[table_text, choice],
        outputs=[payload, state],
        api_name="pll_pairs",
        api_description="Pseudo-log-likelihood of CrowS-Pairs-style sentence pairs per model, and which each prefers.",
        **COMPUTE,
    )
    event.success(
        render_pairs, inputs=state, outputs=[summary, plot, table, downloads], api_visibility="private", queue=False
    )


def build_compare_tab(manager: ModelManager) -> None:
    """Components and events of the Compare & bias tab (inside an open ``gr.Tab``)."""
    pooled = PooledStatesCache()
    gr.Markdown(INTRO)
    with gr.Tabs():
        with gr.Tab("Compare"):
            _build_compare(manager)
        with gr.Tab("Logit lens"):
            _build_logit_lens(manager)
        with gr.Tab("Layer similarity"):
            _build_similarity(manager, pooled)
        with gr.Tab("Cross-lingual grid"):
            _build_grid(manager)
        with gr.Tab("Bias probes"):
            _build_probes(manager)
        with gr.Tab("Sentence pairs"):
            _build_pairs(manager)


__all__ = [
    "build_compare_tab",
    "render_compare",
    "render_grid",
    "render_logit_lens",
    "render_pairs",
    "render_probe",
    "render_similarity",
    "run_bias_probe",
    "run_compare",
    "run_grid",
    "run_layer_similarity",
    "run_logit_lens",
    "run_pll_pairs",
    "write_downloads",
]
