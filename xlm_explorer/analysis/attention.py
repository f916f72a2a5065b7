"""Attention inspector: what every head attends to, on one input, a sentence pair, or a set of sentences.

All numbers come from the attentions of the shared forward pass (``ws.forward_cache``, asked for with
``attentions=True``):
``(n_layers, heads, T, T)`` float32, row ``i`` = how query token ``i`` spreads its attention over the
key tokens (every row sums to 1). Each head statistic is a per-row quantity averaged over the rows
(query tokens) of the input:

* ``entropy``: ``-sum_j p_ij log2 p_ij`` in bits (0 = all on one token; ``log2 T`` = uniform);
* ``mean_distance``: ``sum_j p_ij |i - j|`` in tokens;
* ``boundary_share``: attention on the boundary tokens ``<s>`` / ``</s>``;
* ``previous_share`` / ``next_share``: ``p_{i,i-1}`` / ``p_{i,i+1}`` (over the rows that have one);
* ``same_share``: ``p_ii``;
* ``cross_share`` (pair mode only): attention that crosses from one segment to the other; segment A is
  ``<s> A </s>``, segment B is ``B </s>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import whole_number
from ..errors import UserInputError
from ..notices import ENGLISH_ONLY, without
from ..tokenization import Encoding, display_piece, encode_text, reading_notices
from .datasets import load_shipped

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel


#: (name, label, unit/description) of every head statistic, in display order.
STATISTICS: tuple[tuple[str, str, str], ...] = (
    ("entropy", "Attention entropy", "bits; 0 = one token, log2(T) = uniform"),
    ("mean_distance", "Mean attention distance", "tokens between query and attended key"),
    ("boundary_share", "Share on <s> / </s>", "attention on the boundary tokens"),
    ("previous_share", "Share on previous token", "attention on token i-1"),
    ("next_share", "Share on next token", "attention on token i+1"),
    ("same_share", "Share on same token", "attention on token i itself"),
    ("cross_share", "Cross-segment share", "pair mode: attention from one sentence to the other"),
)
STATISTIC_NAMES: tuple[str, ...] = tuple(name for name, _label, _unit in STATISTICS)
STATISTIC_LABELS: dict[str, str] = {name: label for name, label, _unit in STATISTICS}
STATISTIC_UNITS: dict[str, str] = {name: unit for name, _label, unit in STATISTICS}

#: Head matrices the API returns on request (each is T x T numbers).
MAX_MATRIX_HEADS = 8
#: Sentence sets: at most this many sentences in one averaged run (each one is a forward pass).
MAX_SET_SENTENCES = 240
MAX_SET_PER_LANGUAGE = 48


@dataclass(frozen=True)
class HeadStatistics:
    """One ``(n_layers, heads)`` float64 array per statistic; ``cross_share`` is None outside pair mode."""

    entropy: np.ndarray
    mean_distance: np.ndarray
    boundary_share: np.ndarray
    previous_share: np.ndarray
    next_share: np.ndarray
    same_share: np.ndarray
    cross_share: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.entropy.shape)  # type: ignore[return-value]

    def available(self) -> tuple[str, ...]:
        """Names of the statistics this result has (``cross_share`` only in pair mode)."""
        return tuple(name for name in STATISTIC_NAMES if getattr(self, name) is not None)

    def get(self, name: str) -> np.ndarray:
        """The ``(n_layers, heads)`` grid of one statistic; a clear error for an unknown or missing one."""
        if name not in STATISTIC_NAMES:
            raise UserInputError(f"Unknown statistic {str(name)[:40]!r}; choose one of: {', '.join(STATISTIC_NAMES)}")
        value = getattr(self, name)
        if value is None:
            raise UserInputError("The cross-segment share needs a sentence pair: fill in the second sentence.")
        return value

    def to_dict(self, decimals: int = 6) -> dict[str, list[list[float | None]]]:
        """``{statistic: [[value per head] per layer]}``; NaN (undefined) becomes None."""
        return {name: _rounded_grid(self.get(name), decimals) for name in self.available()}


def _rounded_grid(grid: np.ndarray, decimals: int) -> list[list[float | None]]:
    return [[None if not np.isfinite(v) else round(float(v), decimals) for v in row] for row in grid]


def head_statistics(
    attentions: np.ndarray, boundary_mask: np.ndarray | Sequence[bool], sentence_b_start: int | None = None
) -> HeadStatistics:
    """Head statistics of one input.

    attentions: (n_layers, heads, T, T), rows sum to 1. boundary_mask: (T,) True at ``<s>``/``</s>``.
    sentence_b_start: first index of segment B in a pair (then ``cross_share`` is computed), else None.
    Returns (n_layers, heads) float64 grids, each the mean over the T query rows; a statistic with no
    row to average (previous/next with T = 1) is NaN. Works layer by layer (memory ~ heads x T^2).
    """
    attentions = np.asarray(attentions)
    if attentions.ndim != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"attentions must be (layers, heads, T, T), not {attentions.shape}")
    n_layers, n_heads, n_tokens, _ = attentions.shape
    boundary = np.asarray(boundary_mask, dtype=bool)
    if boundary.shape != (n_tokens,):
        raise ValueError(f"boundary_mask must have shape ({n_tokens},), not {boundary.shape}")
    pair = sentence_b_start is not None
    if pair and not 0 < int(sentence_b_start) < n_tokens:
        raise ValueError(f"sentence_b_start must be in 1..{n_tokens - 1}, not {sentence_b_start}")
    positions = np.arange(n_tokens)
    distance = np.abs(positions[:, None] - positions[None, :]).astype(np.float64)  # (T, T)
    if pair:
        in_b = positions >= int(sentence_b_start)
        crosses = in_b[:, None] != in_b[None, :]  # (T, T): key in the other segment
    grids: dict[str, np.ndarray] = {name: np.empty((n_layers, n_heads)) for name in STATISTIC_NAMES}
    for layer in range(n_layers):
        p = attentions[layer].astype(np.float64)  # (H, T, T)
        log_p = np.log2(p, out=np.zeros_like(p), where=p > 0)  # 0 log 0 = 0
        grids["entropy"][layer] = -np.einsum("hij,hij->h", p, log_p) / n_tokens
        grids["mean_distance"][layer] = np.einsum("hij,ij->h", p, distance) / n_tokens
        grids["boundary_share"][layer] = p[:, :, boundary].sum(-1).mean(-1)
        diagonal = np.diagonal(p, axis1=-2, axis2=-1)  # (H, T)
        grids["same_share"][layer] = diagonal.mean(-1)
        if n_tokens > 1:
            grids["previous_share"][layer] = np.diagonal(p, offset=-1, axis1=-2, axis2=-1).mean(-1)
            grids["next_share"][layer] = np.diagonal(p, offset=1, axis1=-2, axis2=-1).mean(-1)
        else:
            grids["previous_share"][layer] = np.nan
            grids["next_share"][layer] = np.nan
        if pair:
            grids["cross_share"][layer] = np.einsum("hij,ij->h", p, crosses.astype(np.float64)) / n_tokens
    if not pair:
        grids["cross_share"] = None  # type: ignore[assignment]
    return HeadStatistics(**grids)


def mean_statistics(items: Sequence[HeadStatistics]) -> HeadStatistics:
    """Element-wise mean of several inputs' statistics (NaN-aware); ``cross_share`` only if all have it."""
    if not items:
        raise ValueError("no statistics to average")
    grids: dict[str, Any] = {}
    for name in STATISTIC_NAMES:
        values = [getattr(item, name) for item in items]
        if any(v is None for v in values):
            grids[name] = None
            continue
        stacked = np.stack(values)
        with np.errstate(invalid="ignore"), _quiet_nanmean():
            grids[name] = np.nanmean(stacked, axis=0)
    return HeadStatistics(**grids)


class _quiet_nanmean:
    """Silence numpy's 'mean of empty slice' warning (an all-NaN cell stays NaN, which is right)."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


@dataclass(frozen=True)
class AttentionResult:
    """Attentions and head statistics of one model on one input (a sentence or a sentence pair).

    attentions: (n_layers, heads, T, T) float32 (a view of the shared forward cache; do not modify).
    tokens: raw BPE pieces (T,); display_tokens: the same for people (``cat`` / ``cat@@``).
    """

    model: str
    lang: str
    text: str
    tokens: tuple[str, ...]
    display_tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    attentions: np.ndarray = field(repr=False)
    boundary_positions: tuple[int, ...]
    statistics: HeadStatistics = field(repr=False)
    text_pair: str | None = None
    lang_pair: str | None = None
    sentence_b_start: int | None = None
    notices: tuple[str, ...] = ()

    @property
    def n_layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def n_tokens(self) -> int:
        return int(self.attentions.shape[-1])

    def head(self, layer: int, head: int) -> np.ndarray:
        """The (T, T) attention matrix of one head (row = query token, column = key token)."""
        layer, head = check_head(self, layer, head)
        return self.attentions[layer, head]

    def to_dict(self, matrices: Sequence[tuple[int, int]] = (), decimals: int = 6) -> dict[str, Any]:
        """JSON-ready: tokens, statistics grids and, for the ``matrices`` (layer, head) asked for, the T x T rows."""
        data: dict[str, Any] = {
            "model": self.model,
            "lang": self.lang,
            "text": self.text,
            "text_pair": self.text_pair,
            "lang_pair": self.lang_pair,
            "tokens": list(self.display_tokens),
            "pieces": list(self.tokens),
            "input_ids": list(self.input_ids),
            "sentence_b_start": self.sentence_b_start,
            "boundary_positions": list(self.boundary_positions),
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "statistics": self.statistics.to_dict(decimals),
            "matrices": [
                {"layer": layer, "head": head, "attention": np.round(self.head(layer, head).astype(np.float64), decimals).tolist()}
                for layer, head in matrices
            ],
            "notices": list(self.notices),
        }
        return data


def check_head(result: AttentionResult, layer: object, head: object) -> tuple[int, int]:
    """``(layer, head)`` as ints inside ``result``'s model, or a clear :class:`UserInputError`."""
    layer_i = whole_number(
        layer, 0, result.n_layers - 1, "Layer",
        out_of_range=f"{result.model} has layers 0..{{high}}; there is no layer {{value}}.",
    )
    head_i = whole_number(
        head, 0, result.n_heads - 1, "Head",
        out_of_range=f"{result.model} has heads 0..{{high}}; there is no head {{value}}.",
    )
    return layer_i, head_i


_HEAD_SPEC = re.compile(r"^(?:L)?(\d+)[:/](?:H)?(\d+)$", re.IGNORECASE)


def parse_head_list(spec: object) -> list[tuple[int, int]]:
    """``"0:1, 2:3"`` (or ``L0:H1``) -> ``[(0, 1), (2, 3)]``; empty -> ``[]``; at most 8 heads.

    Only the syntax is checked here; ranges are checked against each model with :func:`check_head`.
    """
    if spec is None:
        return []
    if not isinstance(spec, str):
        raise UserInputError("Heads must be written as text like '0:1, 2:3' (layer:head).")
    compact = re.sub(r"\s*([:/])\s*", r"\1", spec.strip())
    heads: list[tuple[int, int]] = []
    for item in re.split(r"[,;\s]+", compact):
        if not item:
            continue
        match = _HEAD_SPEC.match(item)
        if match is None:
            raise UserInputError(f"Cannot read head {item[:30]!r}: write layer:head pairs like '0:1, 2:3'.")
        pair = (int(match.group(1)), int(match.group(2)))
        if pair not in heads:
            heads.append(pair)
    if len(heads) > MAX_MATRIX_HEADS:
        raise UserInputError(
            f"At most {MAX_MATRIX_HEADS} head matrices per request (each is T x T numbers); {len(heads)} were asked for."
        )
    return heads


def boundary_positions(loaded: LoadedModel, input_ids: Sequence[int]) -> tuple[int, ...]:
    """Positions of the boundary tokens ``<s>`` and ``</s>`` (XLM's bos, eos/sep/cls)."""
    tokenizer = loaded.tokenizer
    ids = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.sep_token_id, tokenizer.cls_token_id}
    ids.discard(None)
    return tuple(i for i, token_id in enumerate(input_ids) if token_id in ids)


def attention_encoding(
    loaded: LoadedModel, text: str, lang: str, text_pair: str | None = None, lang_pair: str | None = None,
    truncate: bool = False,
) -> Encoding:
    """How the attention views encode their input: masks kept as the mask token. Over-long text follows the one
    policy (:data:`xlm_explorer.tokenization.OVER_LONG`): the text a user asks about is refused with the limit,
    the items of a set are cut to the model's positions with a notice."""
    return encode_text(
        loaded,
        text,
        lang,
        text_pair=text_pair,
        lang_pair=(lang_pair or lang) if text_pair is not None else None,
        allow_masks=True,
        truncate=truncate,
    )


def analyze_attention(
    loaded: LoadedModel,
    cache: ForwardCache,
    text: str,
    lang: str = "en",
    *,
    text_pair: str | None = None,
    lang_pair: str | None = None,
    truncate: bool = False,
) -> AttentionResult:
    """Encode (language-aware; a pair when ``text_pair`` is given), run (cached), compute head statistics.

    A text longer than the model's 512 positions is refused (``truncate``: cut, with a notice: a set's items).
    """
    pair = text_pair if isinstance(text_pair, str) and text_pair.strip() else None
    encoding = attention_encoding(loaded, text, lang, pair, lang_pair, truncate)
    notices = list(encoding.notices)  # the English-only notice among them (the encoding says what it read)
    if pair is not None and encoding.sentence_b_start is None:
        notices.append("The second sentence did not fit in the model's positions: the pair was cut to the first sentence.")
    forward = cache.get(loaded, encoding.input_ids, loaded.lang2id.get(encoding.lang), attentions=True)
    attentions = forward.attentions.numpy()  # (L, H, T, T) float32, shared with the cache
    boundaries = boundary_positions(loaded, encoding.input_ids)
    mask = np.zeros(len(encoding.input_ids), dtype=bool)
    mask[list(boundaries)] = True
    statistics = head_statistics(attentions, mask, encoding.sentence_b_start)
    return AttentionResult(
        model=loaded.key,
        lang=encoding.lang,
        text=text,
        tokens=encoding.tokens,
        display_tokens=tuple(display_piece(t) for t in encoding.tokens),
        input_ids=encoding.input_ids,
        attentions=attentions,
        boundary_positions=boundaries,
        statistics=statistics,
        text_pair=pair,
        lang_pair=loaded.reads(lang_pair or lang) if pair is not None else None,
        sentence_b_start=encoding.sentence_b_start,
        notices=tuple(dict.fromkeys(notices)),
    )


# ---------------------------------------------------------------- statistics over a set of sentences


@dataclass(frozen=True)
class LanguageStatistics:
    """Head statistics of one model averaged over ``n_sentences`` sentences of one language."""

    lang: str
    n_sentences: int
    n_tokens: int
    statistics: HeadStatistics = field(repr=False)


@dataclass(frozen=True)
class AveragedStatistics:
    """Per-language averaged head statistics of one model (``languages`` in the order asked for)."""

    model: str
    source: str
    languages: tuple[LanguageStatistics, ...]
    notices: tuple[str, ...] = ()

    def to_dict(self, decimals: int = 6) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "languages": [
                {
                    "lang": item.lang,
                    "n_sentences": item.n_sentences,
                    "n_tokens": item.n_tokens,
                    "statistics": item.statistics.to_dict(decimals),
                }
                for item in self.languages
            ],
            "notices": list(self.notices),
        }


def load_parallel_sentences() -> list[tuple[str, str, str]]:
    """The shipped parallel set as ``(id, lang, text)`` rows (read by :mod:`.datasets`)."""
    return [(item.item_id, item.lang, item.text) for item in load_shipped("sentences").items]


def parallel_languages() -> tuple[str, ...]:
    """Languages of the shipped parallel set, English first."""
    codes = set(load_shipped("sentences").langs)
    return tuple(sorted(codes, key=lambda code: (code != "en", code)))


_LANG_PREFIX = re.compile(r"^\s*\[([A-Za-z]{2,3}(?:-[A-Za-z]+)?)\]\s*(.*)$")


def parse_sentence_lines(text: object, default_lang: str) -> list[tuple[str, str]]:
    """Pasted lines -> ``(lang, sentence)``: one sentence per line, optionally prefixed ``[fr]`` or ``fr<TAB>``."""
    if not isinstance(text, str) or not text.strip():
        raise UserInputError("Paste at least one sentence (one per line, optionally prefixed with [xx] for its language).")
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        lang, sentence = default_lang, line.strip()
        match = _LANG_PREFIX.match(line)
        if match:
            lang, sentence = match.group(1), match.group(2).strip()
        elif "\t" in line:
            head, _, tail = line.partition("\t")
            if re.fullmatch(r"[A-Za-z]{2,3}", head.strip()):
                lang, sentence = head.strip(), tail.strip()
        if sentence:
            pairs.append((lang, sentence))
    if not pairs:
        raise UserInputError("No sentence found in the pasted lines.")
    return pairs


def select_parallel_sentences(languages: Sequence[str], per_language: int) -> list[tuple[str, str]]:
    """The first ``per_language`` sentences of each language from the shipped set (same ids in every language)."""
    if not languages:
        raise UserInputError("Pick at least one language.")
    n = _check_count(per_language)
    rows = load_parallel_sentences()
    known = {lang for _id, lang, _text in rows}
    unknown = [lang for lang in languages if lang not in known]
    if unknown:
        raise UserInputError(f"The shipped set has no sentences in: {', '.join(str(u)[:8] for u in unknown)}.")
    ids = list(dict.fromkeys(sentence_id for sentence_id, _lang, _text in rows))[:n]
    by_key = {(sentence_id, lang): text for sentence_id, lang, text in rows}
    return [(lang, by_key[(sentence_id, lang)]) for lang in languages for sentence_id in ids if (sentence_id, lang) in by_key]


def _check_count(value: object) -> int:
    return whole_number(value, 1, MAX_SET_PER_LANGUAGE, "Sentences per language")


def average_statistics(
    loaded: LoadedModel,
    cache: ForwardCache,
    sentences: Sequence[tuple[str, str]],
    *,
    source: str = "pasted",
    progress: Callable[[float, str], None] | None = None,
) -> AveragedStatistics:
    """Head statistics averaged per language over ``(lang, sentence)`` items, one cached forward pass each.

    At most :data:`MAX_SET_SENTENCES` sentences. For an English-only model every sentence is tokenized as
    English (with a notice); a language the model does not know is refused.
    """
    if not sentences:
        raise UserInputError("No sentences to average over.")
    if len(sentences) > MAX_SET_SENTENCES:
        raise UserInputError(
            f"{len(sentences)} sentences were given; at most {MAX_SET_SENTENCES} per run (each is a forward pass)."
        )
    langs = list(dict.fromkeys(lang for lang, _text in sentences))
    for lang in langs:
        loaded.read_language(lang)
    notices: list[str] = reading_notices(loaded, langs, "sentence of every language")
    per_language: dict[str, list[HeadStatistics]] = {}
    tokens: dict[str, int] = {}
    # every sentence's forward pass first, as padded batches (analyze_attention then reads the cache)
    encodings = [attention_encoding(loaded, sentence, lang, truncate=True) for lang, sentence in sentences]
    cache.get_many(
        loaded,
        [e.input_ids for e in encodings],
        [loaded.lang2id.get(e.lang) for e in encodings],
        None if progress is None else (lambda fraction, message: progress(0.9 * fraction, message)),
        attentions=True,
    )
    for index, (lang, sentence) in enumerate(sentences):
        if progress is not None:
            progress(0.9 + 0.1 * index / len(sentences), f"{loaded.key}: statistics of sentence {index + 1} of {len(sentences)}")
        result = analyze_attention(loaded, cache, sentence, lang, truncate=True)
        notices.extend(n for n in without(result.notices, ENGLISH_ONLY) if n not in notices)  # said once above
        per_language.setdefault(lang, []).append(result.statistics)
        tokens[lang] = tokens.get(lang, 0) + result.n_tokens
    languages = tuple(
        LanguageStatistics(lang=lang, n_sentences=len(items), n_tokens=tokens[lang], statistics=mean_statistics(items))
        for lang, items in per_language.items()
    )
    return AveragedStatistics(model=loaded.key, source=source, languages=languages, notices=tuple(notices))
