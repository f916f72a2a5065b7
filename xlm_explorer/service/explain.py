"""The Explain endpoints: attribution, attention vs attribution, patching, one probe across languages, and
contextual token search."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from .. import checks
from ..analysis.across_languages import explain_across_languages
from ..analysis.across_languages import parse_rows as parse_probe_rows
from ..analysis.attention_flow import attention_flow as flow_at_mask
from ..analysis.attribution import attribute
from ..analysis.patching import patch
from ..analysis.token_search import (
    Corpus,
    TokenIndex,
    build_index,
    check_search_layer,
    parse_corpus,
    search_token,
    shipped_corpus,
)
from ..models import LoadedModel
from ..page_setup import probe_rows
from ..uploads import read_upload, upload_path
from ..workspace import Workspace
from .. import answer_types as declared
from .. import explain_types as explained
from ..analysis.token_search import MAX_K
from ..specs import MAX_LAYERS, MAX_POSITIONS
from .answers import Answer, Progress, load_models, make_answer, per_model, report_part
from .endpoint import Between, File, Language, MaskNumber, ModelChoice, OneModel, Text, endpoint

#: the shipped probe's concepts and languages the view and the endpoint open with
DEFAULT_WORDS = ("doctor", "nurse")
DEFAULT_LANGUAGES = ("en", "fr", "de")

@endpoint(answer=(explained.AttributionRequest, explained.AttributionItem, declared.Empty), heavy=True, kept=True)
def attribution(
    ws: Workspace, text: Text, model: ModelChoice = "en-2048", lang: Language = "en", mask_number: MaskNumber = 1,
    target: str = "", foil: str = "", progress: Progress | None = None,
) -> Answer:
    """Token attribution for one mask's prediction (``mask_number`` 1 = the first [MASK]): integrated gradients and
    gradient x input over the input tokens, per chosen model (``target`` a piece or word; empty: the top prediction);
    with a ``foil`` (a piece or word), of log P(target) - log P(foil): what makes the model prefer one over the other."""
    keys = checks.model_keys(ws.manager, model)
    checks.check_text(text)
    models, errors = load_models(ws, keys, progress)
    results = []
    for i, loaded in enumerate(models):
        part = report_part(progress, i / len(models), (i + 1) / len(models))
        results.append(attribute(loaded, ws.forward_cache, text, lang, mask_number, target, part, foil))
    request = {"text": text, "model": model, "lang": lang, "mask_number": results[0].mask_number, "target": target or "",
               "foil": foil or ""}
    return per_model("attribution", request, results, errors)


@endpoint(answer=(explained.FlowRequest, explained.FlowItem, declared.Empty), heavy=True, kept=True)
def attention_flow(
    ws: Workspace, text: Text, model: ModelChoice = "en-2048", lang: Language = "en", mask_number: MaskNumber = 1,
    target: str = "", hide_special: bool = False, progress: Progress | None = None,
) -> Answer:
    """Attention beyond raw weights for one mask's prediction: raw attention, attention rollout and the norm-based
    measure at every layer (the mask's row), each ranked against the integrated-gradients attribution of the same
    prediction (Spearman); ``hide_special`` leaves special tokens and punctuation out of the rows and the ranking."""
    keys = checks.model_keys(ws.manager, model)
    checks.check_text(text)
    models, errors = load_models(ws, keys, progress)
    results = [flow_at_mask(loaded, ws.forward_cache, text, lang, mask_number, target, bool(hide_special),
                            report_part(progress, i / len(models), (i + 1) / len(models)))
               for i, loaded in enumerate(models)]
    request = {"text": text, "model": model, "lang": lang, "mask_number": results[0].attribution.mask_number,
               "target": target or "", "hide_special": bool(hide_special)}
    return per_model("attention_flow", request, results, errors)


@endpoint(answer=(explained.PatchingRequest, explained.PatchingItem, declared.Empty), heavy=True, kept=True)
def patching(
    ws: Workspace, text_a: Text, text_b: Text, model: ModelChoice = "en-2048", lang: Language = "en", target: str = "",
    head_layer: Annotated[int | None, Between(0, MAX_LAYERS)] = 0, foil: str = "", progress: Progress | None = None,
) -> Answer:
    """Activation patching: for every layer and position, log P(target at A's mask) with A's hidden state there
    replaced by B's (sentences of equal token length, one [MASK] at the same place); also per attention head at
    ``head_layer`` (1..n_layers; 0 or None: none); with a ``foil``, of log P(target) - log P(foil) (contrastive)."""
    keys = checks.model_keys(ws.manager, model)
    checks.check_text(text_a, what="sentence A")
    checks.check_text(text_b, what="sentence B")
    models, errors = load_models(ws, keys, progress)
    results = [
        patch(loaded, ws.forward_cache, text_a, text_b, lang, target, head_layer,
              report_part(progress, i / len(models), (i + 1) / len(models)), foil)
        for i, loaded in enumerate(models)
    ]
    request = {"text_a": text_a, "text_b": text_b, "model": model, "lang": lang, "target": target or "",
               "head_layer": int(head_layer or 0), "foil": foil or ""}
    return per_model("patching", request, results, errors)


def search_index(ws: Workspace, loaded: LoadedModel, layer: int, corpus: Corpus | None, progress: Progress | None) -> TokenIndex:
    """The index searched: an uploaded corpus, else the ``--corpus-index`` written for this model and layer, else
    the shipped parallel sentences (built once per model and layer, cached)."""
    if corpus is None and ws.corpus_index is not None and (ws.corpus_index / f"meta-L{layer}.json").is_file():
        index = TokenIndex.load(ws.corpus_index, layer)
        if index.model == loaded.key:
            return index
    corpus = corpus or shipped_corpus()
    key = (loaded.key, loaded.instance_id, layer, corpus.key)
    return ws.token_indexes.get_or_compute(key, lambda: build_index(loaded, corpus, layer, progress))


@endpoint(answer=(declared.SearchRequest, declared.SearchItem, declared.SearchShared), heavy=True)
def token_search(
    ws: Workspace, text: Text, model: OneModel = "100-1280", lang: Language = "en",
    token_index: Annotated[int, Between(0, MAX_POSITIONS - 1)] = 1, layer: Annotated[int | None, Between(0, MAX_LAYERS)] = None,
    top_k: Annotated[int, Between(1, MAX_K)] = 10, corpus_file: File = None, progress: Progress | None = None,
) -> Answer:
    """The ``top_k`` corpus tokens whose hidden state at ``layer`` is most cosine-similar to token ``token_index`` of
    ``text`` (a position in the encoded ids, ``<s>`` = 0; default the first token after it), in the
    ``--corpus-index`` written for this model and layer when there is one, else in the shipped parallel sentences;
    in ``corpus_file`` (an upload: CSV/TSV with a text column, or plain lines) when given. ``layer`` None: the
    model's middle layer."""
    key = model  # one configured model: the declaration (OneModel) refuses both and anything else
    checks.check_text(text)
    corpus = None
    if upload_path(corpus_file):
        name, content = read_upload(corpus_file)
        corpus = parse_corpus(content, lang, ws.manager.languages("100-1280"), name=name)
    models, _errors = load_models(ws, [key], progress)
    loaded = models[0]
    layer = loaded.n_layers // 2 if layer is None else layer
    index = search_index(ws, loaded, check_search_layer(loaded, layer), corpus, progress)
    result = search_token(loaded, ws.forward_cache, text, lang, token_index, layer, top_k, index)
    if corpus is not None:  # the index is kept by content for every caller; the name is this caller's own upload's
        result = dataclasses.replace(result, corpus=corpus.name)
    data = result.to_dict()
    request = {"text": text, "model": key, "lang": lang, "token_index": data["token_index"], "layer": data["layer"],
               "top_k": len(data["matches"])}
    shared = {"corpus": data.pop("corpus"), "n_corpus_tokens": data.pop("corpus_tokens")}
    return make_answer("token_search", request, [data], result, {}, (), shared)


@endpoint(answer=(explained.LanguagesExplainedRequest, explained.LanguagesExplainedItem, declared.Empty), heavy=True, kept=True)
def explain_languages(
    ws: Workspace, rows: str = "", model: ModelChoice = checks.BOTH, progress: Progress | None = None,
) -> Answer:
    """One probe across languages, explained: per row (``lang | template | word A | word B | target | foil``, one
    per line; empty: the shipped occupation probe, doctor vs nurse, in en, fr and de) and per model that reads its
    language, the contrastive attribution of log P(target) - log P(foil) in sentence A, its contrastive patching
    from sentence B, and on relative depth where the word's effect reaches the mask."""
    keys = checks.model_keys(ws.manager, model)
    text = rows if isinstance(rows, str) and rows.strip() else probe_rows(*DEFAULT_WORDS, list(DEFAULT_LANGUAGES))
    parsed = parse_probe_rows(text)
    for row in parsed:
        checks.language(ws.manager, row.lang, what=f"language of the row {row.lang!r}")
        checks.check_text(row.text_a, what=f"sentence A of the {row.lang} row")
        checks.check_text(row.text_b, what=f"sentence B of the {row.lang} row")
    models, errors = load_models(ws, keys, progress)
    result = explain_across_languages({m.key: m for m in models}, ws.forward_cache, parsed, progress)
    items = [{"model": key, "languages": [e.to_dict() for e in result.explanations if e.model == key]}
             for key in result.models]
    return make_answer("explain_languages", {"rows": text, "model": model}, items, result, errors, result.notices)

