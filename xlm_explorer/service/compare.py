"""The Compare tab's endpoints: words of several pieces, both models side by side, the logit lens, layer similarity (CKA), the cross-lingual grid."""

from __future__ import annotations

from typing import Annotated

from .. import checks
from ..contract import by_model
from ..analysis.bias import data as bias_data
from ..analysis import multi_piece
from ..analysis.compare import compare_models
from ..analysis.fill_mask import DEFAULT_TOP_K
from ..analysis.grid import crosslingual_grid as fill_grid
from ..analysis.grid import parse_grid_templates
from ..analysis.logit_lens import MAX_CANDIDATES, MAX_LENS_TOKENS, depth_alignment
from ..analysis.logit_lens import logit_lens as lens_at_mask
from ..analysis.similarity import layer_similarity as cka_between
from ..analysis.similarity import load_parallel_sentences, parse_sentences
from ..errors import UserInputError
from ..notices import ENGLISH_ONLY, without
from ..workspace import Workspace
from .. import answer_types as declared
from .answers import Answer, Progress, load_models, make_answer, per_model, report_part
from .endpoint import Between, Language, Languages, MaskNumber, ModelChoice, Text, TopK, endpoint


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
    checks.check_text(text)
    models, errors = load_models(ws, keys, progress)
    results = [multi_piece.fill_word(loaded, text, lang, max_pieces, beam_width, top_k, report_part(progress, i / len(models), (i + 1) / len(models)))
               for i, loaded in enumerate(models)]
    request = {"text": text, "lang": lang, "model": model, "max_pieces": max_pieces, "top_k": top_k, "beam_width": beam_width}
    return per_model("fill_word", request, results, errors)


@endpoint(answer=(declared.CompareRequest, declared.CompareItem, declared.CompareShared))
def compare(ws: Workspace, text: Text, lang: Language = "en", top_k: TopK = DEFAULT_TOP_K, progress: Progress | None = None) -> Answer:
    """Both models on one input: tokenization, fill-mask top-k, overlap@k and facts."""
    checks.check_text(text)
    models, errors = load_models(ws, list(ws.manager.keys), progress)
    result = compare_models(models, ws.forward_cache, text, lang, top_k)
    data = result.to_dict()
    items = [{"model": key, "tokenization": data["tokenization"][key], "fill_mask": data["fill_mask"].get(key),
              "facts": data["facts"][key]} for key in data["models"]]
    return make_answer("compare", {"text": text, "lang": lang, "top_k": top_k}, items, result, errors, result.notices,
                   {"overlap": data["overlap"]})


@endpoint(answer=(declared.LogitLensRequest, declared.LogitLensItem, declared.LogitLensShared))
def logit_lens(
    ws: Workspace, text: Text, lang: Language = "en", mask_number: MaskNumber = 1,
    top_k: Annotated[int, Between(1, MAX_LENS_TOKENS)] = 5, candidates: str = "", progress: Progress | None = None,
) -> Answer:
    """Per-layer predictions at one mask for both models (the LM head on every layer's hidden state), with the
    rank of each of ``candidates`` (comma-separated words; empty: the last layer's top-k) at every layer and the
    layer from which it commits to the top-1 / top-5."""
    checks.check_text(text)
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
        sentence_set = parse_sentences(sentences, lang)
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
    models, errors = load_models(ws, list(ws.manager.keys), progress)
    grid = fill_grid(models, ws.forward_cache, parsed, top_k)
    notices = without([n for c in grid.cells for n in c.notices], ENGLISH_ONLY)  # the grid marks those cells
    data = grid.to_dict()
    return make_answer("crosslingual_grid", {"n_templates": len(parsed), "top_k": top_k}, by_model(data["rows"], data["models"]),
                   grid, errors, notices)
