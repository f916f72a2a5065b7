"""The service layer: one function per public endpoint, named after its ``api_name``.

Each takes the :class:`~xlm_explorer.workspace.Workspace` and the endpoint's plain arguments (the API's
parameter names), validates them with the shared :mod:`~xlm_explorer.checks`, loads the models it needs,
computes, and returns an :class:`Answer`: the JSON payload the API returns, the result objects the page's
views draw, and the notices to show beside them. No gradio here: Python callers, ``gradio_client`` and the
page all go through these functions and get the same answers and the same messages.

Endpoints that read several models degrade the same way: a model that cannot be loaded is reported in the
payload's ``errors`` and the others still answer; when none can, the load error is raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from .. import checks
from ..contract import by_model, errors_of
from ..analysis.bias import crosslingual as bias_crosslingual
from ..analysis.bias import browse as bias_browse
from ..analysis.bias import data as bias_data
from ..analysis.bias import pairs as bias_pairs
from ..analysis.bias import probes as bias_probes
from ..analysis.bias import seat as bias_seat
from ..analysis.attention import (  # the limits and choices the page shows come from here too
    MAX_SET_PER_LANGUAGE,
    STATISTIC_LABELS,
    STATISTIC_NAMES,
    AttentionResult,
    analyze_attention,
    average_statistics,
    check_head,
    parallel_languages,
    parse_head_list,
    parse_sentence_lines,
    select_parallel_sentences,
)
from ..analysis import multi_piece
from ..analysis.compare import compare_models
from ..analysis.datasets import MAX_ROWS, SHIPPED_DATASETS, Dataset, load_shipped, parse_pasted, read_uploaded, shipped_languages
from ..analysis.embeddings import LAYER_ALIASES, MAX_PANEL_LAYERS, POOLINGS, EmbeddingSet, check_layer, explore
from ..analysis.fill_mask import DEFAULT_TOP_K, MAX_MASKS, MAX_TOP_K, MIN_TOP_K, check_top_k, predict_masks
from ..analysis.grid import crosslingual_grid as fill_grid
from ..analysis.grid import parse_grid_templates
from ..analysis.logit_lens import MAX_CANDIDATES, MAX_LENS_TOKENS, depth_alignment
from ..analysis.logit_lens import logit_lens as lens_at_mask
from ..analysis.projection import DIMS, METHODS, check_dims, check_method, check_seed, start_umap_warmup
from ..analysis.similarity import layer_similarity as cka_between
from ..analysis.similarity import load_parallel_sentences, parse_sentences
from ..errors import UserInputError
from ..notices import ENGLISH_ONLY, without
from ..page_setup import (  # re-exported: the page reads them here (PAGE_SETUP)
    corpus_index_line,
    crosslingual_probe_notes,
    fill_mask_examples,
    probe_concepts,
    probe_rows,
    read_pairs_upload,
    read_probe_upload,
    read_results_upload,
    result_choices,
    select_result_rows,
    shipped_grid_templates,
    shipped_pairs_text,
    shipped_probe_sets,
)
from ..workspace import Workspace
from .. import answer_types as declared
from .answers import Answer, Progress, load_models, make_answer, per_model, report_part
from .endpoint import Between, Endpoint, File, Param, Language, LanguageCode, LayerList, Languages, ModelChoice, OneModel, OneOf, Text, Words, endpoint
from .explain import DEFAULT_LANGUAGES, DEFAULT_WORDS, MASK_NUMBER, attention_flow, attribution, explain_languages, patching, token_search

ATTENTION_SOURCES = ("shipped", "pasted")
EMBEDDING_SOURCES = (*SHIPPED_DATASETS, "paste", "upload")
#: Groups A and B of the direction projection when none are given: English to French.
DIRECTION_GROUPS = ("lang:en", "lang:fr")
#: How many predictions a fill-mask view lists.
TopK = Annotated[int, Between(MIN_TOP_K, MAX_TOP_K)]

# ------------------------------------------------------------------------------------------------ fill mask


@endpoint(answer=(declared.FillMaskRequest, declared.FillMaskItem, declared.Empty))
def fill_mask(
    ws: Workspace, text: Text, model: ModelChoice = checks.BOTH, lang: Language = "en", top_k: TopK = DEFAULT_TOP_K,
    progress: Progress | None = None,
) -> Answer:
    """Top-k predictions for every [MASK] in ``text``, per chosen model (``en-2048``, ``100-1280`` or ``both``)."""
    keys = checks.model_keys(ws.manager, model)
    lang = checks.language(ws.manager, lang)
    checks.check_text(text)
    top_k = check_top_k(top_k)
    models, errors = load_models(ws, keys, progress)
    results = [predict_masks(loaded, ws.forward_cache, text, lang, top_k) for loaded in models]
    request = {"text": text, "model": model, "lang": lang, "top_k": top_k}
    return per_model("fill_mask", request, results, errors)


@endpoint(answer=(declared.FillWordRequest, declared.FillWordItem, declared.Empty), heavy=True, kept=True)
def fill_word(
    ws: Workspace, text: Text, model: ModelChoice = checks.BOTH, lang: Language = "en",
    max_pieces: Annotated[int, Between(1, multi_piece.MAX_PIECES)] = multi_piece.DEFAULT_PIECES,
    top_k: Annotated[int, Between(1, multi_piece.MAX_PER_LENGTH)] = multi_piece.DEFAULT_PER_LENGTH,
    beam_width: Annotated[int, Between(1, multi_piece.MAX_BEAM)] = multi_piece.DEFAULT_BEAM,
    progress: Progress | None = None,
) -> Answer:
    """Whole-word answers of 1..``max_pieces`` BPE pieces at the one [MASK] of ``text``: ``top_k`` of each length by
    beam search over the pieces (left to right), all ranked by the completed sentence's PLL-word-l2r."""
    keys = checks.model_keys(ws.manager, model)
    lang = checks.language(ws.manager, lang)
    checks.check_text(text)
    n, k, beam = multi_piece.check_pieces(max_pieces), multi_piece.check_per_length(top_k), multi_piece.check_beam(beam_width)
    models, errors = load_models(ws, keys, progress)
    results = [multi_piece.fill_word(loaded, text, lang, n, beam, k, report_part(progress, i / len(models), (i + 1) / len(models)))
               for i, loaded in enumerate(models)]
    request = {"text": text, "lang": lang, "model": model, "max_pieces": n, "top_k": k, "beam_width": beam}
    return per_model("fill_word", request, results, errors)


# ------------------------------------------------------------------------------------------------ attention


@endpoint(answer=(declared.AttentionRequest, declared.AttentionItem, declared.AttentionShared))
def attention(
    ws: Workspace,
    text: Text,
    text_pair: str | None = None,
    model: ModelChoice = checks.BOTH,
    lang: Language = "en",
    lang_pair: Annotated[str | None, LanguageCode()] = None,
    heads: str | None = "",
    progress: Progress | None = None,
) -> Answer:
    """Attention of every chosen model on one input or a sentence pair; ``heads`` ("0:1, 2:3") adds those
    heads' T x T matrices to the payload."""
    keys = checks.model_keys(ws.manager, model)
    lang = checks.language(ws.manager, lang)
    checks.check_text(text)
    pair = checks.check_text(text_pair, what="second sentence") if isinstance(text_pair, str) and text_pair.strip() else None
    lang_b = checks.language(ws.manager, lang_pair or lang, "second language") if pair is not None else None
    matrices = parse_head_list(heads)
    models, errors = load_models(ws, keys, progress)
    results = [
        analyze_attention(loaded, ws.forward_cache, text, lang, text_pair=pair, lang_pair=lang_b) for loaded in models
    ]
    for result in results:
        for layer, head in matrices:
            check_head(result, layer, head)
    request = {"text": text, "text_pair": pair, "model": model, "lang": lang, "lang_pair": lang_b,
               "heads": [list(m) for m in matrices]}
    shared = {"statistics_help": {name: STATISTIC_LABELS[name] for name in STATISTIC_NAMES}}
    return per_model("attention", request, results, errors, shared, lambda r: r.to_dict(matrices))


@endpoint(answer=(declared.AverageRequest, declared.AverageItem, declared.AverageShared), heavy=True, kept=True)
def attention_average(
    ws: Workspace,
    model: ModelChoice = "100-1280",
    source: Annotated[str, OneOf(ATTENTION_SOURCES)] = "shipped",
    languages: Languages = ("en", "fr", "de", "ru", "zh"),
    per_language: Annotated[int, Between(1, MAX_SET_PER_LANGUAGE)] = 8,
    pasted: str | None = None,
    lang: Language = "en",
    progress: Progress | None = None,
) -> Answer:
    """Head statistics averaged per language over the shipped parallel set or pasted lines (``lang`` for lines
    without a language of their own), per chosen model."""
    keys = checks.model_keys(ws.manager, model)
    source = checks.one_of(source, ATTENTION_SOURCES, "sentence source")
    if source == "shipped":
        shipped = parallel_languages()
        wanted = [code for code in (languages or []) if isinstance(code, str)]
        unknown = [code for code in wanted if code not in shipped]
        if unknown:
            raise UserInputError(f"The shipped set has no sentences in: {', '.join(u[:8] for u in unknown)}.")
        sentences = select_parallel_sentences(wanted, per_language)
    else:
        sentences = parse_sentence_lines(pasted, checks.language(ws.manager, lang))
    models, errors = load_models(ws, keys, progress)
    results = [
        average_statistics(
            loaded, ws.forward_cache, sentences, source=source, progress=report_part(progress, i / len(models), (i + 1) / len(models))
        )
        for i, loaded in enumerate(models)
    ]
    request = {"model": model, "source": source, "languages": sorted({code for code, _text in sentences}), "per_language": per_language}
    return per_model("attention_average", request, results, errors, {"n_sentences": len(sentences)})


# ------------------------------------------------------------------------------------------------ embeddings


def items_per_language(max_items: object) -> int | None:
    """The shipped data's first N items per language; empty (None, "", blanks) or 0 means all of them."""
    if max_items is None or (isinstance(max_items, str) and not max_items.strip()):
        return None
    return checks.whole_number(max_items, 0, MAX_ROWS, "Items per language") or None  # 0: all, as before


def embedding_dataset(
    ws: Workspace, source: str, languages: Sequence[str] | None, max_items: float | None, pasted: str | None, upload: Any
) -> Dataset:
    """The data set an embeddings request asks for; user data is checked against 100-1280's language codes."""
    source = checks.one_of(source, EMBEDDING_SOURCES, "data source")
    known = ws.manager.languages("100-1280")
    if source in SHIPPED_DATASETS:
        if not languages:
            raise UserInputError("Pick at least one language.")
        return load_shipped(source, list(languages), max_items=items_per_language(max_items))
    if source == "paste":
        return parse_pasted(pasted, known)
    return read_uploaded(upload, known)


@endpoint(answer=(declared.EmbeddingsRequest, declared.EmbeddingsItem, declared.EmbeddingsShared), heavy=True)
def embeddings(
    ws: Workspace,
    source: Annotated[str, OneOf(EMBEDDING_SOURCES)] = "sentences",
    languages: Languages = ("en", "fr", "de"),
    max_items: Annotated[int | None, Between(0, MAX_ROWS)] = None,
    pasted: str | None = None,
    upload: File = None,
    model: ModelChoice = "100-1280",
    layers: LayerList = ("middle", "last"),
    pooling: Annotated[str, OneOf(POOLINGS)] = "mean",
    center: bool = False,
    method: Annotated[str, OneOf(METHODS)] = "pca",
    dims: Annotated[int, Between(min(DIMS), max(DIMS))] = 2,
    seed: Annotated[int, Between(0, 2**31 - 1)] = 0,
    group_a: str = DIRECTION_GROUPS[0],
    group_b: str = DIRECTION_GROUPS[1],
    progress: Progress | None = None,
) -> Answer:
    """Embed a data set with the chosen models (cached), project the chosen layers, measure alignment.

    ``group_a`` / ``group_b``: the rows whose means make the direction projection's axis (``lang:fr`` or words)."""
    keys = checks.model_keys(ws.manager, model)
    check_method(method), check_dims(dims), check_seed(seed)
    dataset = embedding_dataset(ws, source, languages, max_items, pasted, upload)
    models, errors = load_models(ws, keys, progress)
    embedded = [
        ws.embeddings.get(loaded, dataset, report_part(progress, i / len(models), (i + 1) / len(models)))
        for i, loaded in enumerate(models)
    ]
    info = {"source": source, "name": dataset.name, "n_rows": len(dataset), "n_items": len(set(dataset.item_ids)), "languages": list(dataset.languages)}
    return explore_embeddings(ws, embedded, info, errors, layers, pooling, center, method, dims, seed, model, (group_a, group_b))


def explore_embeddings(
    ws: Workspace,
    embedded: Sequence[EmbeddingSet],
    dataset: dict[str, Any],
    errors: dict[str, str],
    layers: Sequence[str] | str,
    pooling: str,
    center: bool,
    method: str,
    dims: float,
    seed: float,
    model: str,
    groups: tuple[str, str],
) -> Answer:
    """Project and measure embedding sets already computed (no model runs): the embeddings answer."""
    method, dims_value, seed_value = check_method(method), check_dims(dims), check_seed(seed)
    groups = (str(groups[0] or "").strip(), str(groups[1] or "").strip())
    explorations = [explore(e, layers, pooling, center, method, dims_value, seed_value, ws.derived, groups) for e in embedded]
    request = {
        "source": dataset["source"], "model": model, "layers": list(layers) if isinstance(layers, (list, tuple)) else [layers],
        "pooling": pooling, "center": bool(center), "method": method, "dims": dims_value, "seed": seed_value,
        **({"group_a": groups[0], "group_b": groups[1]} if method == "direction" else {}),
    }
    return per_model("embeddings", request, explorations, errors, {"dataset": dict(dataset)})


def reproject(
    ws: Workspace, previous: Answer, layers: Sequence[str] | str, pooling: str, center: bool, method: str, dims: float, seed: float,
    group_a: str = DIRECTION_GROUPS[0], group_b: str = DIRECTION_GROUPS[1],
) -> Answer:
    """An embeddings answer under other layers, pooling, centring or projection: the same embedding sets, no model run."""
    return explore_embeddings(
        ws, [e.embeddings for e in previous.results], previous.payload["shared"]["dataset"], errors_of(previous.payload),
        layers, pooling, center, method, dims, seed, previous.payload["request"]["model"], (group_a, group_b),
    )


def neighbours(previous: Answer, picked: str, count: float) -> Answer:
    """The nearest neighbours of a clicked point (``model|layer|index``) of an embeddings answer, in that model's
    own space; no model runs."""
    parts = str(picked or "").split("|")
    if len(parts) < 3:
        raise UserInputError("Click a point of the projection to see its neighbours.")
    model, layer, index = parts[:3]
    exploration = next((e for e in previous.results if e.model == model), None)
    if exploration is None:
        raise UserInputError("That model is not in the current results; run the projection again.")
    layer_value = check_layer(layer, exploration.embeddings.n_layers, model)
    row = checks.whole_number(index, 0, len(exploration.embeddings.texts) - 1, "The point")
    k = checks.whole_number(count, 1, 100, "The number of neighbours")
    result = exploration.neighbours_of(layer_value, row, k)
    return Answer({"model": model, "layer": layer_value, "row": row,
                   "neighbours": [{"index": n.index, "cosine": n.cosine} for n in result.neighbours]}, (exploration, result))


# ------------------------------------------------------------------------------------------------ compare


@endpoint(answer=(declared.CompareRequest, declared.CompareItem, declared.CompareShared))
def compare(ws: Workspace, text: Text, lang: Language = "en", top_k: TopK = DEFAULT_TOP_K, progress: Progress | None = None) -> Answer:
    """Both models on one input: tokenization, fill-mask top-k, overlap@k and facts."""
    lang = checks.language(ws.manager, lang)
    checks.check_text(text)
    top_k = check_top_k(top_k)
    models, errors = load_models(ws, list(ws.manager.keys), progress)
    result = compare_models(models, ws.forward_cache, text, lang, top_k)
    data = result.to_dict()
    items = [{"model": key, "tokenization": data["tokenization"][key], "fill_mask": data["fill_mask"].get(key),
              "facts": data["facts"][key]} for key in data["models"]]
    return make_answer("compare", {"text": text, "lang": lang, "top_k": top_k}, items, result, errors, result.notices,
                   {"overlap": data["overlap"]})


@endpoint(answer=(declared.LogitLensRequest, declared.LogitLensItem, declared.LogitLensShared))
def logit_lens(
    ws: Workspace, text: Text, lang: Language = "en", mask_number: MASK_NUMBER = 1,
    top_k: Annotated[int, Between(1, MAX_LENS_TOKENS)] = 5, candidates: str = "", progress: Progress | None = None,
) -> Answer:
    """Per-layer predictions at one mask for both models (the LM head on every layer's hidden state), with the
    rank of each of ``candidates`` (comma-separated words; empty: the last layer's top-k) at every layer and the
    layer from which it commits to the top-1 / top-5."""
    lang = checks.language(ws.manager, lang)
    checks.check_text(text)
    top_k = check_top_k(top_k)
    words = bias_data.split_words(candidates or "", r"[,\n;]")
    if len(words) > MAX_CANDIDATES:
        raise UserInputError(f"{len(words)} candidates given; at most {MAX_CANDIDATES}.")
    models, errors = load_models(ws, list(ws.manager.keys), progress)
    results = [lens_at_mask(m, ws.forward_cache, text, lang, mask_number, top_k, words) for m in models]
    alignment = depth_alignment(results[0].n_layers, results[-1].n_layers) if len(results) > 1 else ()
    request = {"text": text, "lang": lang, "mask_number": results[0].mask_number, "top_k": top_k, "candidates": list(words)}
    return per_model("logit_lens", request, results, errors, {"depth_alignment": [list(pair) for pair in alignment]})


@endpoint(answer=(declared.SimilarityRequest, declared.SimilarityItem, declared.SimilarityShared), heavy=True, kept=True)
def layer_similarity(
    ws: Workspace,
    languages: Languages = ("en",),
    sentences: str | None = None,
    lang: Language = "en",
    progress: Progress | None = None,
) -> Answer:
    """Linear CKA between every layer of en-2048 and of 100-1280 on the shipped parallel set (``languages``) or
    on pasted sentences (one per line, in ``lang``)."""
    if sentences and sentences.strip():
        sentence_set = parse_sentences(sentences, checks.language(ws.manager, lang))
    else:
        codes = checks.languages(ws.manager, languages)
        if not codes:
            raise UserInputError("Choose at least one language of the parallel set, or paste your own sentences.")
        sentence_set = load_parallel_sentences(codes)
    models, errors = load_models(ws, list(ws.manager.keys), progress)
    if len(models) < 2:
        raise UserInputError(f"Layer similarity compares two models, and {', '.join(errors)} could not be loaded: {next(iter(errors.values()))}")
    result = cka_between(models[0], models[1], sentence_set, ws.embeddings, progress)
    data = result.to_dict()
    items = [{"model": data["model_a"], "layers": data["layers_a"]}, {"model": data["model_b"], "layers": data["layers_b"]}]
    request = {"languages": sorted(set(sentence_set.languages)), "sentence_set": data["sentence_set"]}
    shared = {"n_sentences": data["n_sentences"], "cka": data["cka"]}
    return make_answer("layer_similarity", request, items, result, errors, (), shared)


@endpoint(answer=(declared.GridRequest, declared.GridItem, declared.Empty))
def crosslingual_grid(ws: Workspace, templates: Text, top_k: TopK = DEFAULT_TOP_K, progress: Progress | None = None) -> Answer:
    """Top predictions of both models for one template written in several languages."""
    parsed = parse_grid_templates(templates, ws.manager.languages("100-1280"))
    top_k = check_top_k(top_k)
    models, errors = load_models(ws, list(ws.manager.keys), progress)
    grid = fill_grid(models, ws.forward_cache, parsed, top_k)
    notices = without([n for c in grid.cells for n in c.notices], ENGLISH_ONLY)  # the grid marks those cells
    data = grid.to_dict()
    return make_answer("crosslingual_grid", {"n_templates": len(parsed), "top_k": top_k}, by_model(data["rows"], data["models"]),
                   grid, errors, notices)


# ------------------------------------------------------------------------------------------------ bias


@endpoint(answer=(declared.ProbeRequest, declared.ProbeItem, declared.MetricsShared), heavy=True, kept=True)
def bias_probe(
    ws: Workspace,
    template: Text,
    targets: Words,
    fillers: Words,
    lang: Language = "en",
    model: ModelChoice = checks.BOTH,
    progress: Progress | None = None,
) -> Answer:
    """Template bias probe: every target's score at the mask per filler and model, by every metric."""
    keys = checks.model_keys(ws.manager, model)
    lang = checks.language(ws.manager, lang)
    target_words = bias_data.split_words(targets, r"[,/\n;]")
    filler_words = bias_data.split_words(fillers, r"[,\n]")
    bias_probes.check_probe(template, target_words, filler_words)  # clear messages before any model loads
    models, errors = load_models(ws, keys, progress)
    result = bias_probes.run_probe(models, template, target_words, filler_words, lang, progress=progress)
    data = result.to_dict()
    request = {"template": template, "targets": data["targets"], "fillers": data["fillers"], "lang": lang, "model": model}
    return make_answer("bias_probe", request, by_model(data["rows"], data["models"]), result, errors, result.notices,
                   {"metrics": data["metrics"]})


@endpoint(answer=(declared.PairsRequest, declared.PairsItem, declared.MetricsShared), heavy=True, kept=True)
def pll_pairs(ws: Workspace, table: Text, model: ModelChoice = checks.BOTH, progress: Progress | None = None) -> Answer:
    """CrowS-Pairs-style sentence pairs scored by every metric per model, with a summary per model and metric."""
    keys = checks.model_keys(ws.manager, model)
    pairs = bias_data.parse_pairs_table(table)
    models, errors = load_models(ws, keys, progress)
    result = bias_pairs.score_pairs(models, pairs, progress=progress)
    data = result.to_dict()
    items = [item | {"summary": data["summary"][item["model"]]} for item in by_model(data["rows"], data["models"])]
    return make_answer("pll_pairs", {"n_pairs": len(pairs), "model": model}, items, result, errors, result.notices,
                   {"metrics": data["metrics"]})


@endpoint(answer=(declared.LanguagesRequest, declared.LanguagesItem, declared.LanguagesShared), heavy=True, kept=True)
def bias_languages(
    ws: Workspace, languages: Languages = ("en", "fr", "de", "es", "ru", "ar", "hi"), progress: Progress | None = None,
) -> Answer:
    """The shipped occupation probe in several languages: log P(masculine) - log P(feminine) per occupation and
    language for 100-1280, with en-2048 on English as the reference."""
    probe = bias_data.load_crosslingual_probe()
    codes = [languages] if isinstance(languages, str) else list(languages or [])
    unknown = [str(c)[:12] for c in codes if c not in probe.languages]
    if unknown or not codes:
        raise UserInputError(f"Pick languages of the probe ({', '.join(probe.languages)}); not available: {', '.join(unknown) or 'none picked'}.")
    keys = [key for key in ws.manager.keys if any(ws.manager.spec(key).reads(code) == code for code in codes)]
    models, errors = load_models(ws, keys, progress)
    by_key = {m.key: m for m in models}
    result = bias_crosslingual.run_crosslingual_probe(by_key.get("100-1280"), by_key.get("en-2048"), probe, codes, progress)
    data = result.to_dict()
    items = []
    for key in dict.fromkeys(c["model"] for c in data["columns"]):
        picked = [i for i, c in enumerate(data["columns"]) if c["model"] == key]
        items.append({"model": key, "columns": [{k: v for k, v in data["columns"][i].items() if k != "model"} for i in picked],
                      "log_ratio": [[row[i] for i in picked] for row in data["log_ratio"]]})
    shared = {"probe": data["probe"], "concepts": data["concepts"], "notes": data["notes"]}
    return make_answer("bias_languages", {"languages": codes}, items, result, errors, result.notices, shared)


@endpoint(answer=(declared.SeatRequest, declared.SeatItem, declared.Empty), heavy=True, kept=True)
def seat(
    ws: Workspace, targets_x: Text, targets_y: Text, attributes_a: Text, attributes_b: Text, model: ModelChoice = checks.BOTH,
    lang: Language = "en", progress: Progress | None = None,
) -> Answer:
    """SEAT (May et al., 2019) at every layer: the effect size and permutation p-value of targets X and Y (as many
    sentences each) against attributes A and B (one sentence per line each), and every sentence's position on the
    direction mean(A) - mean(B) at the last layer."""
    keys = checks.model_keys(ws.manager, model)
    lang = checks.language(ws.manager, lang)
    groups = {g: bias_seat.parse_group(text, g) for g, text in zip(bias_seat.GROUPS, (targets_x, targets_y, attributes_a, attributes_b))}
    models, errors = load_models(ws, keys, progress)
    results = [bias_seat.seat(loaded, groups, lang, progress=report_part(progress, i / len(models), (i + 1) / len(models)))
               for i, loaded in enumerate(models)]
    request = {"targets_x": targets_x, "targets_y": targets_y, "attributes_a": attributes_a, "attributes_b": attributes_b,
               "model": model, "lang": lang}
    return per_model("seat", request, results, errors)


# ------------------------------------------------------------------------------------------------ models


@endpoint(answer=(declared.ModelRequest, declared.ModelFacts, declared.Empty))
def model_info(ws: Workspace, model: OneModel, progress: Progress | None = None) -> Answer:
    """Facts of one model read from its loaded config (loading it if needed)."""
    key = ws.manager.check_key(model)
    models, _errors = load_models(ws, [key], progress)
    facts = models[0].facts()
    return make_answer("model_info", {"model": key}, [facts], facts, {})


# ------------------------------------------------------------------------------------------------ page setup
# What the page builds its controls from (limits, choices, shipped data): the UI reads these here, never analysis.


#: api_name -> its declaration: what the UI registers, what every client calls and what docs/api.md lists.
ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (fill_mask, fill_word, attention, attention_average, embeddings, compare, logit_lens, layer_similarity,
              crosslingual_grid, bias_probe, pll_pairs, bias_languages, seat, attribution, patching, attention_flow,
              explain_languages, token_search, model_info)
}

#: What the UI may read besides the endpoints: limits, choices, shipped data, helpers of the page's own events.
PAGE_SETUP = [
    "AttentionResult", "DIRECTION_GROUPS", "DEFAULT_LANGUAGES", "DEFAULT_TOP_K", "DEFAULT_WORDS", "LAYER_ALIASES", "MAX_MASKS", "MAX_PAIRS", "MAX_PANEL_LAYERS", "MAX_PIECES", "MAX_BEAM", "MAX_PER_LENGTH", "MAX_ROWS",
    "MAX_SET_PER_LANGUAGE", "MAX_TOP_K", "MIN_TOP_K", "SHIPPED_DATASETS", "STATISTIC_LABELS", "STATISTIC_NAMES",
    "RESULT_ORDERS", "check_head", "corpus_index_line", "crosslingual_probe_notes", "fill_mask_examples", "neighbours", "parallel_languages", "probe_concepts", "probe_rows", "read_pairs_upload",
    "read_probe_upload", "read_results_upload", "reproject", "result_choices", "select_result_rows", "shipped_grid_templates", "shipped_languages", "shipped_pairs_text",
    "shipped_probe_sets", "start_umap_warmup",
]
MAX_PAIRS = bias_data.MAX_PAIRS
MAX_PIECES, MAX_BEAM, MAX_PER_LENGTH = multi_piece.MAX_PIECES, multi_piece.MAX_BEAM, multi_piece.MAX_PER_LENGTH
RESULT_ORDERS = bias_browse.ORDERS

__all__ = ["ENDPOINTS", "Answer", "Endpoint", "Param", "Progress", "load_models", *ENDPOINTS, *PAGE_SETUP]
