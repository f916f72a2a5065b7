"""Fill-mask: the model's top predictions for every masked position.

Follows transformers' pipeline split: :func:`preprocess` (validate, language-aware encoding),
:func:`forward` (one cached body pass, LM head only at the masks), :func:`postprocess` (softmax over the
whole vocabulary, special tokens removed from the ranking). Every mask is predicted with all masks
present, in one forward pass (independent marginals, not a joint fill).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..checks import whole_number
from ..errors import UserInputError
from ..paths import DATA_DIR
from ..tokenization import MASK_PATTERN, Encoding, display_piece, encode_text, is_word_final

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

MAX_MASKS = 20
MIN_TOP_K, MAX_TOP_K, DEFAULT_TOP_K = 1, 50, 10


@dataclass(frozen=True)
class TokenScore:
    """One candidate for a mask.

    ``piece`` is the raw vocabulary entry (``cat</w>`` ends a word, ``cat`` continues one);
    ``token`` is its display form (``cat`` / ``cat@@``).
    """

    token: str
    piece: str
    token_id: int
    probability: float
    word_final: bool


@dataclass(frozen=True)
class MaskPrediction:
    """Ranked candidates for one mask: ``mask_number`` counts masks from 1, ``position`` indexes the tokens."""

    mask_number: int
    position: int
    predictions: tuple[TokenScore, ...]


@dataclass(frozen=True)
class FillMaskResult:
    model: str
    lang: str
    text: str
    tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    masks: tuple[MaskPrediction, ...]
    completed: str
    notices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, not tuples): what the API returns."""
        return json.loads(json.dumps(asdict(self)))


def check_top_k(top_k: object) -> int:
    """``top_k`` as an int in 1..50, or a clear :class:`UserInputError`."""
    return whole_number(top_k, MIN_TOP_K, MAX_TOP_K, "top-k")


EXAMPLES_FILE = DATA_DIR / "fill_mask_examples.tsv"
FALLBACK_EXAMPLES = (("en", "The capital of France is [MASK]."), ("fr", "La capitale de la France est [MASK]."))


def shipped_examples(path: Path = EXAMPLES_FILE) -> list[tuple[str, str]]:
    """The shipped fill-mask examples ``(lang, text)`` (a fallback pair when the file cannot be read)."""
    rows: list[tuple[str, str]] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row.get("text") and row.get("lang"):
                    rows.append((row["lang"].strip(), row["text"].strip()))
    except OSError:
        rows = []
    return rows or list(FALLBACK_EXAMPLES)


def preprocess(loaded: "LoadedModel", text: str, lang: str = "en") -> Encoding:
    """Validate and encode; the text must hold 1..20 masks."""
    encoding = encode_text(loaded, text, lang)
    n_masks = len(encoding.mask_positions)
    if n_masks == 0:
        raise UserInputError("No mask found: put [MASK] (or <mask>, <special1>) where the word to predict goes.")
    if n_masks > MAX_MASKS:
        raise UserInputError(f"The text has {n_masks} masks; at most {MAX_MASKS} are allowed.")
    return encoding


def forward(loaded: "LoadedModel", cache: "ForwardCache", encoding: Encoding) -> torch.Tensor:
    """Vocabulary logits at the mask positions: (n_masks, V) float32 (body and head batched with concurrent requests)."""
    result = cache.get(loaded, encoding.input_ids, loaded.lang2id.get(encoding.lang), encoding.mask_positions)
    return cache.logits_at(loaded, result, encoding.mask_positions)


def probabilities(loaded: "LoadedModel", logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the whole vocabulary (the model's own), then special tokens set to 0.

    (n, V) -> (n, V); rows sum to 1 minus the mass the model gave to special tokens. Computed as
    exp(logit - logsumexp), the same arithmetic as :func:`top_probabilities`, so both agree to the bit.
    """
    logits = logits.float()
    probs = torch.exp(logits - torch.logsumexp(logits, dim=-1, keepdim=True))
    probs[:, sorted(loaded.special_ids)] = 0.0
    return probs


def top_probabilities(loaded: "LoadedModel", logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most probable non-special tokens: (n, V) logits -> ((n, k) probabilities, (n, k) token ids).

    Same numbers as :func:`probabilities` followed by top-k, without materialising the (n, V) softmax:
    p = exp(logit - logsumexp(logits)), ranked on the logits with special tokens excluded.
    """
    logits = logits.float()
    log_norm = torch.logsumexp(logits, dim=-1, keepdim=True)
    specials = torch.tensor(sorted(loaded.special_ids), dtype=torch.long, device=logits.device)
    values, indices = logits.index_fill(-1, specials, float("-inf")).topk(k, dim=-1)
    return torch.exp(values - log_norm), indices


def postprocess(loaded: "LoadedModel", encoding: Encoding, text: str, logits: torch.Tensor, top_k: int) -> FillMaskResult:
    k = min(top_k, logits.shape[-1] - len(loaded.special_ids))
    values, indices = top_probabilities(loaded, logits, k)
    tokenizer = loaded.tokenizer
    masks = []
    for mask_number, (position, row_values, row_ids) in enumerate(zip(encoding.mask_positions, values, indices), start=1):
        pieces = tokenizer.convert_ids_to_tokens(row_ids.tolist())
        masks.append(
            MaskPrediction(
                mask_number=mask_number,
                position=position,
                predictions=tuple(
                    TokenScore(
                        token=display_piece(piece),
                        piece=piece,
                        token_id=int(token_id),
                        probability=float(p),
                        word_final=is_word_final(piece),
                    )
                    for piece, token_id, p in zip(pieces, row_ids.tolist(), row_values.tolist())
                ),
            )
        )
    return FillMaskResult(
        model=loaded.key,
        lang=encoding.lang,
        text=text,
        tokens=encoding.tokens,
        input_ids=encoding.input_ids,
        masks=tuple(masks),
        completed=complete_text(text, masks),
        notices=encoding.notices,
    )


def complete_text(text: str, masks: list[MaskPrediction] | tuple[MaskPrediction, ...]) -> str:
    """``text`` with each mask replaced by its top prediction (word-internal pieces keep their ``@@``)."""
    replacements = iter([m.predictions[0].token if m.predictions else "?" for m in masks])
    return MASK_PATTERN.sub(lambda _: next(replacements, "?"), text)


def predict_masks(loaded: "LoadedModel", cache: "ForwardCache", text: str, lang: str = "en", top_k: int = DEFAULT_TOP_K) -> FillMaskResult:
    """Top-k predictions for every mask in ``text`` (one forward pass, logits only at the masks)."""
    top_k = int(top_k)  # validated by the service (checks once per request)
    encoding = preprocess(loaded, text, lang)
    logits = forward(loaded, cache, encoding)
    return postprocess(loaded, encoding, text, logits, top_k)
