"""Language-aware encoding for XLM models.

The tokenizer's ``lang`` argument is silently dropped on the usual ``tok(text)`` / ``tok.tokenize(text)``
path (see shared notes): only ``_tokenize(text, lang=...)`` applies the language's Moses rules. So the
explorer encodes text itself: it splits on mask markers, runs ``_tokenize`` with the chosen language on
each piece of plain text, and adds the special tokens the way ``build_inputs_with_special_tokens`` does.
For English (and the en-2048 model) the result equals ``tokenizer(text)["input_ids"]``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import UserInputError
from .notices import UNKNOWN_PIECES, Notice, english_only

if TYPE_CHECKING:
    from .models import LoadedModel

#: What users may type for a mask: ``[MASK]`` (BERT), ``<mask>`` (RoBERTa) or XLM's own ``<special1>``.
MASK_PATTERN = re.compile(r"\[mask\]|<mask>|<special1>", re.IGNORECASE)
MASK_ALIASES = ("[MASK]", "<mask>", "<special1>")
WORD_END = "</w>"
#: How a word-internal BPE piece is shown (XLM's original fastBPE convention).
CONTINUATION = "@@"

_SEGMENTER_MODULES = {"zh": "rjieba", "th": "pythainlp", "ja": "Mykytea"}
#: Languages written without spaces between words (they need a segmenter; a word is found anywhere in their text).
UNSPACED_LANGUAGES = frozenset(_SEGMENTER_MODULES)


@dataclass(frozen=True)
class Encoding:
    """One encoded input: ``<s> A </s>`` or ``<s> A </s> B </s>``.

    ``input_ids`` and ``tokens`` have length T; ``mask_positions`` index into them;
    ``sentence_b_start`` is the index of B's first token in a pair, else None. ``word_final[i]``: token ``i`` ends
    its word, read from the BPE pieces *before* the vocabulary lookup (a piece outside the vocabulary becomes
    ``<unk>`` and loses its ``</w>``; its word still ends where the piece did). Special tokens end their own word.
    """

    input_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    mask_positions: tuple[int, ...]
    lang: str
    notices: tuple[str, ...] = ()
    sentence_b_start: int | None = None
    word_final: tuple[bool, ...] = ()

    def __len__(self) -> int:
        return len(self.input_ids)


def display_piece(piece: str) -> str:
    """A BPE piece for people: ``cat</w>`` (word end) -> ``cat``; ``cat`` (inside a word) -> ``cat@@``.

    The pipeline's ``token_str`` prints both as ``cat``; here they stay distinguishable.
    """
    if piece.endswith(WORD_END):
        return piece[: -len(WORD_END)]
    if piece.startswith("<") and piece.endswith(">"):
        return piece
    return piece + CONTINUATION


def is_word_final(piece: str) -> bool:
    return piece.endswith(WORD_END)


def differing_span(ids_a: Sequence[int], ids_b: Sequence[int]) -> tuple[int, int]:
    """``[start, end)`` of A's tokens that differ from B's once their common prefix and suffix are removed (at least
    one token): the one rule for "which tokens a word change touches" (probe targets, the probe's words)."""
    prefix = 0
    while prefix < min(len(ids_a), len(ids_b)) - 1 and ids_a[prefix] == ids_b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(ids_a), len(ids_b)) - prefix - 1 and ids_a[-1 - suffix] == ids_b[-1 - suffix]:
        suffix += 1
    return prefix, max(prefix + 1, len(ids_a) - suffix)


def count_masks(text: str) -> int:
    return len(MASK_PATTERN.findall(text))


def segmenter_available(lang: str) -> bool:
    """Whether the extra word segmenter that ``lang`` needs (zh/th/ja) is installed."""
    module = _SEGMENTER_MODULES.get(lang)
    return module is None or importlib.util.find_spec(module) is not None


def tokenize_words(loaded: "LoadedModel", text: str, lang: str) -> tuple[list[str], list[str]]:
    """BPE pieces of plain text (no special tokens) with the language's own pre-tokenization.

    Returns ``(pieces, notices)``. For zh/th/ja without their segmenter installed, falls back to Moses
    rules with a notice instead of failing.
    """
    tokenizer = loaded.tokenizer
    lang = loaded.reads(lang)
    if not text.strip():
        return [], []
    if segmenter_available(lang):
        return list(tokenizer._tokenize(text, lang=lang)), []
    # Fallback: the Moses pipeline with the language's rules, then BPE (what _tokenize does, minus the
    # missing segmenter). bypass_tokenizer=True only applies BPE to the whitespace-split words.
    from transformers.models.xlm.tokenization_xlm import lowercase_and_remove_accent

    words = tokenizer.moses_tokenize(tokenizer.moses_pipeline(text, lang=lang), lang=lang)
    if tokenizer.do_lowercase_and_remove_accent:
        words = lowercase_and_remove_accent(words)
    pieces = list(tokenizer._tokenize(" ".join(words), bypass_tokenizer=True))
    notice = (
        f"The word segmenter for '{lang}' ({_SEGMENTER_MODULES[lang]}) is not installed; the text was split "
        "with Moses rules only, so words may be segmented differently from the model's training data."
    )
    return pieces, [notice]


def reading_notices(loaded: "LoadedModel", langs: Iterable[str | None], what: str = "text", consequence: str = "") -> list[str]:
    """The English-only notice when ``loaded`` reads any of ``langs`` in another language (the rule is
    :meth:`LoadedModel.reads <xlm_explorer.models.LoadedModel.reads>`); else nothing."""
    if any(code is not None and loaded.reads(code) != code for code in langs):
        return [english_only(loaded.key, what, consequence)]
    return []


def _pieces_with_masks(loaded: "LoadedModel", text: str, lang: str) -> tuple[list[str], list[str]]:
    """Pieces of ``text`` with every mask alias replaced by the model's mask token."""
    pieces: list[str] = []
    notices: list[str] = []
    mask_token = loaded.tokenizer.mask_token
    for index, chunk in enumerate(MASK_PATTERN.split(text)):
        if index:
            pieces.append(mask_token)
        chunk_pieces, chunk_notices = tokenize_words(loaded, chunk, lang)
        pieces.extend(chunk_pieces)
        notices.extend(n for n in chunk_notices if n not in notices)
    return pieces, notices


def _unknown_notice(loaded: "LoadedModel", ids: list[int]) -> list[str]:
    unk = loaded.tokenizer.unk_token_id
    n_unknown = sum(1 for i in ids if i == unk)
    if not n_unknown:
        return []
    return [Notice(
        f"{n_unknown} of {len(ids)} pieces are unknown to {loaded.key} (<unk>): characters such as emoji or "
        "scripts outside its vocabulary carry no meaning for the model.", UNKNOWN_PIECES,
    )]


#: The one policy for text longer than a model's positions (512): the text a user asks about (fill mask, attention,
#: compare, logit lens, explain, probes, a search query) is refused with its length and the limit, so no answer is
#: about a text the user did not write; the items of a set (embedding rows, corpus sentences, averaged sentences)
#: are cut to the positions with a notice, so one long row does not stop a run of thousands.
OVER_LONG = "refuse a text, cut a set's items"


def _word_final(loaded: "LoadedModel", pieces: Sequence[str]) -> list[bool]:
    """Per BPE piece: does it end its word (``</w>``, or a special token such as the mask)?"""
    special = set(loaded.tokenizer.all_special_tokens)
    return [piece in special or is_word_final(piece) for piece in pieces]


def encode_text(
    loaded: "LoadedModel",
    text: str,
    lang: str = "en",
    *,
    text_pair: str | None = None,
    lang_pair: str | None = None,
    allow_masks: bool = True,
    truncate: bool = False,
) -> Encoding:
    """Encode ``text`` (and optionally ``text_pair``) for ``loaded``, language-aware.

    Mask aliases become the mask token when ``allow_masks``; otherwise they are tokenized as text.
    Raises :class:`UserInputError` when the result exceeds the model's positions, unless ``truncate``
    (then the input is cut to fit, keeping ``</s>``, with a notice).
    """
    asked = (lang, lang_pair or lang) if text_pair is not None else (lang,)
    lang = loaded.read_language(lang)
    tokenizer = loaded.tokenizer
    if allow_masks:
        pieces_a, notices = _pieces_with_masks(loaded, text, lang)
    else:
        pieces_a, notices = tokenize_words(loaded, text, lang)
    ids_a = tokenizer.convert_tokens_to_ids(pieces_a)
    if text_pair is not None:
        lang_b = loaded.read_language(lang_pair or lang)
        if allow_masks:
            pieces_b, notices_b = _pieces_with_masks(loaded, text_pair, lang_b)
        else:
            pieces_b, notices_b = tokenize_words(loaded, text_pair, lang_b)
        notices += [n for n in notices_b if n not in notices]
        ids_b = tokenizer.convert_tokens_to_ids(pieces_b)
        input_ids = tokenizer.build_inputs_with_special_tokens(ids_a, ids_b)
        b_start = len(ids_a) + 2
        word_final = [True, *_word_final(loaded, pieces_a), True, *_word_final(loaded, pieces_b), True]
    else:
        input_ids = tokenizer.build_inputs_with_special_tokens(ids_a)
        b_start = None
        word_final = [True, *_word_final(loaded, pieces_a), True]
    limit = loaded.max_positions
    if len(input_ids) > limit:
        if not truncate:
            raise UserInputError(
                f"The input is {len(input_ids):,} tokens long; {loaded.key} accepts at most {limit} positions. "
                "Shorten the text."
            )
        notices.append(f"The input was {len(input_ids):,} tokens long and was cut to the model's {limit} positions.")
        input_ids = input_ids[: limit - 1] + [tokenizer.sep_token_id]
        word_final = word_final[: limit - 1] + [True]
        if b_start is not None and b_start >= limit - 1:
            b_start = None
    notices = [*reading_notices(loaded, asked), *notices, *_unknown_notice(loaded, input_ids)]
    tokens = tuple(tokenizer.convert_ids_to_tokens(input_ids))
    mask_positions = tuple(i for i, token_id in enumerate(input_ids) if token_id == loaded.mask_token_id)
    return Encoding(
        input_ids=tuple(int(i) for i in input_ids),
        tokens=tokens,
        mask_positions=mask_positions if allow_masks else (),
        lang=lang,
        notices=tuple(notices),
        sentence_b_start=b_start,
        word_final=tuple(word_final),
    )
