"""Side-by-side comparison of the two models on one input: tokenization, fill-mask overlap@k, facts.

Reuses :func:`encode_text` for language-aware tokenization and :func:`predict_masks` with the shared forward
cache, so one body pass per (model, input) serves the comparison, the logit lens and the fill-mask tab.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError
from ..tokenization import count_masks, display_piece, encode_text, is_word_final
from .fill_mask import DEFAULT_TOP_K, FillMaskResult, predict_masks

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

#: k values reported for overlap@k (those not above the requested top-k).
OVERLAP_KS = (1, 3, 5, 10, 20, 50)


# --------------------------------------------------------------------------------------------------
# Tokenization


@dataclass(frozen=True)
class WordPieces:
    """One word as the tokenizer split it: display pieces (``bon@@``, ``jour``)."""

    pieces: tuple[str, ...]

    @property
    def n_pieces(self) -> int:
        return len(self.pieces)


@dataclass(frozen=True)
class TokenizationSummary:
    """How one model's tokenizer reads one text.

    ``tokens`` are display pieces including ``<s>``/``</s>``; counts exclude special tokens (masks count
    as pieces, not as words); ``unknown_share`` is the fraction of pieces that are ``<unk>``.
    """

    model: str
    lang: str
    tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    n_pieces: int
    n_words: int
    n_unknown: int
    n_masks: int
    words: tuple[WordPieces, ...]
    notices: tuple[str, ...] = ()

    @property
    def unknown_share(self) -> float:
        return self.n_unknown / self.n_pieces if self.n_pieces else 0.0

    @property
    def pieces_per_word(self) -> float:
        return (self.n_pieces - self.n_masks) / self.n_words if self.n_words else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "lang": self.lang,
            "tokens": list(self.tokens),
            "input_ids": list(self.input_ids),
            "n_pieces": self.n_pieces,
            "n_words": self.n_words,
            "pieces_per_word": round(self.pieces_per_word, 4),
            "n_masks": self.n_masks,
            "n_unknown": self.n_unknown,
            "unknown_share": round(self.unknown_share, 4),
            "split_words": [list(w.pieces) for w in self.words if w.n_pieces > 1],
            "notices": list(self.notices),
        }


def summarise_tokenization(loaded: LoadedModel, text: str, lang: str = "en") -> TokenizationSummary:
    """Tokenize ``text`` as ``loaded`` does (language-aware; en-2048 always reads English)."""
    encoding = encode_text(loaded, text, lang)  # its notices say when the model read another language
    lang = encoding.lang
    unk = loaded.tokenizer.unk_token_id
    special = loaded.special_ids - {loaded.mask_token_id, unk}
    words: list[WordPieces] = []
    current: list[str] = []
    n_pieces = n_unknown = 0
    for token_id, piece in zip(encoding.input_ids, encoding.tokens):
        if token_id in special:
            continue
        n_pieces += 1
        n_unknown += token_id == unk
        if token_id == loaded.mask_token_id:
            continue
        current.append(display_piece(piece))
        if is_word_final(piece) or piece == loaded.tokenizer.unk_token:
            words.append(WordPieces(tuple(current)))
            current = []
    if current:
        words.append(WordPieces(tuple(current)))
    return TokenizationSummary(
        model=loaded.key,
        lang=encoding.lang,
        tokens=tuple(display_piece(t) for t in encoding.tokens),
        input_ids=encoding.input_ids,
        n_pieces=n_pieces,
        n_words=len(words),
        n_unknown=int(n_unknown),
        n_masks=len(encoding.mask_positions),
        words=tuple(words),
        notices=encoding.notices,
    )


# --------------------------------------------------------------------------------------------------
# Fill-mask overlap


def comparable_form(token: str) -> str:
    """A prediction's form for matching across vocabularies: casefolded, accents removed.

    en-2048 lowercases and strips accents while 100-1280 keeps both, so ``Paris`` and ``paris`` (or
    ``été`` and ``ete``) count as the same answer. Continuation pieces keep their ``@@``.
    """
    decomposed = unicodedata.normalize("NFD", token.casefold())
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))


@dataclass(frozen=True)
class Overlap:
    """overlap@k of one mask: |top-k(A) ∩ top-k(B)| / k on :func:`comparable_form`s."""

    mask_number: int
    k: int
    overlap: float
    shared: tuple[str, ...]


def overlap_at_k(tokens_a: Sequence[str], tokens_b: Sequence[str], k: int) -> tuple[float, tuple[str, ...]]:
    """Share of the first ``k`` of ``tokens_a`` found among the first ``k`` of ``tokens_b`` (0..1).

    Returns ``(overlap, shared forms in A's order)``. Lists shorter than ``k`` still divide by ``k``.
    """
    if k < 1:
        raise UserInputError("k must be at least 1.")
    top_a = list(dict.fromkeys(comparable_form(t) for t in tokens_a[:k]))
    top_b = {comparable_form(t) for t in tokens_b[:k]}
    shared = tuple(t for t in top_a if t in top_b)
    return len(shared) / k, shared


def overlaps(result_a: FillMaskResult, result_b: FillMaskResult, top_k: int) -> tuple[Overlap, ...]:
    """overlap@k for every mask and every k in :data:`OVERLAP_KS` up to ``top_k`` (and ``top_k`` itself)."""
    ks = sorted({k for k in OVERLAP_KS if k <= top_k} | {top_k})
    rows = []
    for mask_a, mask_b in zip(result_a.masks, result_b.masks):
        tokens_a = [p.token for p in mask_a.predictions]
        tokens_b = [p.token for p in mask_b.predictions]
        for k in ks:
            value, shared = overlap_at_k(tokens_a, tokens_b, k)
            rows.append(Overlap(mask_number=mask_a.mask_number, k=k, overlap=value, shared=shared))
    return tuple(rows)


@dataclass(frozen=True)
class CompareResult:
    """One input read by several models: tokenization per model, fill-mask per model (empty when the
    text has no mask), overlap@k between the first two models, and each model's facts."""

    text: str
    lang: str
    top_k: int
    tokenizations: tuple[TokenizationSummary, ...]
    fill_masks: tuple[FillMaskResult, ...]
    overlaps: tuple[Overlap, ...]
    facts: tuple[dict[str, Any], ...]
    notices: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(t.model for t in self.tokenizations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lang": self.lang,
            "top_k": self.top_k,
            "models": list(self.models),
            "tokenization": {t.model: t.to_dict() for t in self.tokenizations},
            "fill_mask": {r.model: r.to_dict() for r in self.fill_masks},
            "overlap": [asdict(o) | {"shared": list(o.shared)} for o in self.overlaps],
            "facts": {f["model"]: f for f in self.facts},
            "notices": list(self.notices),
        }


def compare_models(
    models: Sequence[LoadedModel], cache: ForwardCache, text: str, lang: str = "en", top_k: int = DEFAULT_TOP_K
) -> CompareResult:
    """Tokenization, fill-mask (when ``text`` has masks) and facts of every model, plus overlap@k."""
    top_k = int(top_k)  # validated by the service (checks once per request)
    tokenizations = tuple(summarise_tokenization(m, text, lang) for m in models)
    notices: list[str] = []
    fill_masks: tuple[FillMaskResult, ...] = ()
    if count_masks(text):
        fill_masks = tuple(predict_masks(m, cache, text, lang, top_k) for m in models)
    else:
        notices.append("The text has no [MASK]: only the tokenization is compared. Add [MASK] to compare predictions.")
    for loaded in models:
        notices.extend(n for t in tokenizations if t.model == loaded.key for n in t.notices)
    pair_overlaps = overlaps(fill_masks[0], fill_masks[1], top_k) if len(fill_masks) >= 2 else ()
    return CompareResult(
        text=text,
        lang=lang,
        top_k=top_k,
        tokenizations=tokenizations,
        fill_masks=fill_masks,
        overlaps=pair_overlaps,
        facts=tuple(m.facts() for m in models),
        notices=tuple(dict.fromkeys(notices)),
    )


__all__ = [
    "CompareResult",
    "Overlap",
    "TokenizationSummary",
    "comparable_form",
    "compare_models",
    "overlap_at_k",
    "overlaps",
    "summarise_tokenization",
]
