"""The Attention tab's endpoints: one input's attention, and head statistics averaged per language."""

from __future__ import annotations

from typing import Annotated

from ..analysis.attention import (
    MAX_SET_PER_LANGUAGE,
    STATISTIC_LABELS,
    STATISTIC_NAMES,
    analyze_attention,
    average_statistics,
    check_head,
    parallel_languages,
    parse_head_list,
    parse_sentence_lines,
    select_parallel_sentences,
)
from .. import checks
from ..errors import UserInputError
from ..workspace import Workspace
from .. import answer_types as declared
from .answers import Answer, Progress, load_models, per_model, report_part
from .endpoint import Between, Language, LanguageCode, Languages, ModelChoice, OneOf, Text, endpoint


ATTENTION_SOURCES = ("shipped", "pasted")


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
        sentences = parse_sentence_lines(pasted, lang)
    models, errors = load_models(ws, keys, progress)
    results = [
        average_statistics(
            loaded, ws.forward_cache, sentences, source=source, progress=report_part(progress, i / len(models), (i + 1) / len(models))
        )
        for i, loaded in enumerate(models)
    ]
    request = {"model": model, "source": source, "languages": sorted({code for code, _text in sentences}), "per_language": per_language}
    return per_model("attention_average", request, results, errors, {"n_sentences": len(sentences)})
