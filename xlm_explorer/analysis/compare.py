"""Side-by-side comparison of the two models: tokenization, fill-mask overlap, logit lens, cross-lingual grid.

Everything here reuses the foundation: :func:`encode_text` for language-aware tokenization,
:func:`predict_masks` for fill-mask, and the shared forward cache, so one body pass per (model, input)
serves the comparison, the logit lens and the fill-mask tab alike.
"""

from __future__ import annotations

import csv
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UserInputError
from ..forward import lm_head_logits
from ..tokenization import count_masks, display_piece, encode_text, is_word_final
from .fill_mask import DEFAULT_TOP_K, FillMaskResult, TokenScore, check_top_k, predict_masks, probabilities

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

DATA_DIR = Path(__file__).resolve().parents[2] / "assets" / "data"
TEMPLATES_FILE = DATA_DIR / "crosslingual_templates.tsv"

#: k values reported for overlap@k (those not above the requested top-k).
OVERLAP_KS = (1, 3, 5, 10, 20, 50)
MAX_LENS_TOKENS = 20
MAX_GRID_ROWS = 30


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
    lang = lang if loaded.spec.multilingual else "en"
    encoding = encode_text(loaded, text, lang)
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

    mask_index: int
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
            rows.append(Overlap(mask_index=mask_a.mask_index, k=k, overlap=value, shared=shared))
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
            "facts": {f["key"]: f for f in self.facts},
            "notices": list(self.notices),
        }


def compare_models(
    models: Sequence[LoadedModel], cache: ForwardCache, text: str, lang: str = "en", top_k: int = DEFAULT_TOP_K
) -> CompareResult:
    """Tokenization, fill-mask (when ``text`` has masks) and facts of every model, plus overlap@k."""
    top_k = check_top_k(top_k)
    tokenizations = tuple(summarise_tokenization(m, text, lang) for m in models)
    notices: list[str] = []
    fill_masks: tuple[FillMaskResult, ...] = ()
    if count_masks(text):
        fill_masks = tuple(predict_masks(m, cache, text, lang if m.spec.multilingual else "en", top_k) for m in models)
    else:
        notices.append("The text has no [MASK]: only the tokenization is compared. Add [MASK] to compare predictions.")
    for loaded in models:
        if not loaded.spec.multilingual and lang != "en":
            notices.append(f"{loaded.key} is English-only: the text was tokenized as English.")
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


# --------------------------------------------------------------------------------------------------
# Logit lens


@dataclass(frozen=True)
class LayerTop:
    """Top candidates at one layer: ``layer`` 0 is the embedding output, ``n_layers`` the last layer."""

    layer: int
    relative_depth: float
    predictions: tuple[TokenScore, ...]


@dataclass(frozen=True)
class LogitLensResult:
    """The LM head applied to every layer's hidden state at one mask.

    ``probabilities[l][j]`` is the probability of ``columns[j]`` at layer ``l`` (rows: n_layers + 1,
    embeddings first). Columns are the last layer's top-k, then any other layer's top-1.
    """

    model: str
    lang: str
    text: str
    mask_number: int
    position: int
    n_layers: int
    columns: tuple[TokenScore, ...]
    probabilities: tuple[tuple[float, ...], ...]
    layers: tuple[LayerTop, ...]
    notices: tuple[str, ...] = ()

    @property
    def relative_depths(self) -> tuple[float, ...]:
        return tuple(layer.relative_depth for layer in self.layers)

    def matrix(self) -> np.ndarray:
        """(n_layers + 1, n_columns) float64."""
        return np.asarray(self.probabilities, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "lang": self.lang,
            "text": self.text,
            "mask_number": self.mask_number,
            "position": self.position,
            "n_layers": self.n_layers,
            "columns": [c.token for c in self.columns],
            "column_pieces": [c.piece for c in self.columns],
            "probabilities": [list(row) for row in self.probabilities],
            "layers": [
                {
                    "layer": layer.layer,
                    "relative_depth": layer.relative_depth,
                    "top": [
                        {"token": p.token, "piece": p.piece, "probability": p.probability} for p in layer.predictions
                    ],
                }
                for layer in self.layers
            ],
            "notices": list(self.notices),
        }


def check_mask_number(mask_number: object, n_masks: int) -> int:
    """A 1-based mask number within 1..n_masks, or a clear :class:`UserInputError`."""
    try:
        value = float(mask_number)
    except (TypeError, ValueError):
        raise UserInputError("The mask number must be a whole number (1 for the first [MASK]).") from None
    if not math.isfinite(value) or not value.is_integer() or not 1 <= value <= n_masks:
        raise UserInputError(
            f"The mask number must be from 1 to {n_masks} (the text has {n_masks} masks), not {str(mask_number)[:20]}."
        )
    return int(value)


def _scores(loaded: LoadedModel, probs: torch.Tensor, ids: Sequence[int]) -> tuple[TokenScore, ...]:
    pieces = loaded.tokenizer.convert_ids_to_tokens(list(ids))
    return tuple(
        TokenScore(
            token=display_piece(piece),
            piece=piece,
            token_id=int(i),
            probability=float(probs[i]),
            word_final=is_word_final(piece),
        )
        for piece, i in zip(pieces, ids)
    )


def logit_lens(
    loaded: LoadedModel, cache: ForwardCache, text: str, lang: str = "en", mask_number: int = 1, top_k: int = 5
) -> LogitLensResult:
    """Per-layer predictions at one mask: softmax(LM head(hidden state of layer l)) for every layer.

    Uses the cached body pass; the last layer's logits are the very ones fill-mask uses, so its row
    equals fill-mask's probabilities exactly.
    """
    from .fill_mask import preprocess

    top_k = check_top_k(top_k)
    if top_k > MAX_LENS_TOKENS:
        raise UserInputError(
            f"The logit lens shows at most {MAX_LENS_TOKENS} tokens per layer; choose a smaller top-k."
        )
    lang = lang if loaded.spec.multilingual else "en"
    encoding = preprocess(loaded, text, lang)
    mask_number = check_mask_number(mask_number, len(encoding.mask_positions))
    position = encoding.mask_positions[mask_number - 1]
    result = cache.get(loaded, encoding.input_ids, loaded.lang2id.get(encoding.lang))
    n_layers = result.hidden_states.shape[0] - 1
    lower = lm_head_logits(loaded, result.hidden_states[:-1, position]).cpu()  # (n_layers, V)
    last = cache.logits_at(loaded, result, [position])  # (1, V): the logits fill-mask uses
    probs = probabilities(loaded, torch.cat([lower, last]))  # (n_layers + 1, V)
    layer_tops = []
    for layer in range(n_layers + 1):
        ids = probs[layer].topk(top_k).indices.tolist()
        layer_tops.append(
            LayerTop(layer=layer, relative_depth=layer / n_layers, predictions=_scores(loaded, probs[layer], ids))
        )
    column_ids = list(
        dict.fromkeys(
            [p.token_id for p in layer_tops[-1].predictions] + [t.predictions[0].token_id for t in layer_tops]
        )
    )
    columns = _scores(loaded, probs[-1], column_ids)
    matrix = probs[:, column_ids]
    return LogitLensResult(
        model=loaded.key,
        lang=encoding.lang,
        text=text,
        mask_number=mask_number,
        position=position,
        n_layers=n_layers,
        columns=columns,
        probabilities=tuple(tuple(float(v) for v in row) for row in matrix.tolist()),
        layers=tuple(layer_tops),
        notices=encoding.notices,
    )


def depth_alignment(n_layers_a: int, n_layers_b: int) -> tuple[tuple[int, int], ...]:
    """For each layer of A (0..n_a), the layer of B (0..n_b) at the nearest relative depth.

    >>> depth_alignment(12, 16)[3]
    (3, 4)
    """
    return tuple((layer, int(np.floor(layer / n_layers_a * n_layers_b + 0.5))) for layer in range(n_layers_a + 1))


# --------------------------------------------------------------------------------------------------
# Cross-lingual fill-mask grid


@dataclass(frozen=True)
class GridTemplate:
    lang: str
    text: str
    template_id: str = ""


@dataclass(frozen=True)
class GridCell:
    """One model's top predictions for one language's template."""

    template_id: str
    lang: str
    text: str
    model: str
    predictions: tuple[TokenScore, ...]
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrosslingualGrid:
    top_k: int
    templates: tuple[GridTemplate, ...]
    cells: tuple[GridCell, ...]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.model for c in self.cells))

    def to_dict(self) -> dict[str, Any]:
        return {
            "top_k": self.top_k,
            "models": list(self.models),
            "rows": [
                {
                    "template_id": c.template_id,
                    "lang": c.lang,
                    "text": c.text,
                    "model": c.model,
                    "predictions": [
                        {"token": p.token, "piece": p.piece, "probability": p.probability} for p in c.predictions
                    ],
                    "notices": list(c.notices),
                }
                for c in self.cells
            ],
        }


def load_grid_templates(path: Path = TEMPLATES_FILE) -> dict[str, tuple[GridTemplate, ...]]:
    """Shipped cross-lingual templates: template id -> one template per language (file order)."""
    groups: dict[str, list[GridTemplate]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            groups.setdefault(row["id"], []).append(
                GridTemplate(lang=row["lang"].strip(), text=row["text"].strip(), template_id=row["id"])
            )
    return {key: tuple(value) for key, value in groups.items()}


def format_grid_templates(templates: Sequence[GridTemplate]) -> str:
    """Templates as editable lines ``lang<TAB>text``."""
    return "\n".join(f"{t.lang}\t{t.text}" for t in templates)


def parse_grid_templates(text: str, languages: Sequence[str]) -> tuple[GridTemplate, ...]:
    """Lines ``lang<TAB>text`` or ``lang: text`` -> templates, each with exactly one [MASK].

    Blank lines and lines starting with ``#`` are skipped. ``languages`` are the codes allowed.
    """
    if not isinstance(text, str) or not text.strip():
        raise UserInputError(
            "No templates: write one per line as 'lang<TAB>sentence with [MASK]', e.g. 'fr\tLa capitale de la France est [MASK].'"
        )
    templates = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        separator = "\t" if "\t" in line else ":"
        lang, found, sentence = line.partition(separator)
        lang, sentence = lang.strip(), sentence.strip()
        if not found or not lang or not sentence:
            raise UserInputError(
                f"Line {number}: write 'lang<TAB>sentence' or 'lang: sentence' (e.g. 'de: Die Hauptstadt ist [MASK].')."
            )
        if lang not in languages:
            raise UserInputError(f"Line {number}: unknown language code {lang[:20]!r}.")
        n_masks = count_masks(sentence)
        if n_masks != 1:
            raise UserInputError(f"Line {number} ({lang}) has {n_masks} masks; each template needs exactly one [MASK].")
        templates.append(GridTemplate(lang=lang, text=sentence, template_id=f"line{number}"))
    if not templates:
        raise UserInputError("No templates: every line was blank or a comment.")
    if len(templates) > MAX_GRID_ROWS:
        raise UserInputError(f"{len(templates)} templates given; at most {MAX_GRID_ROWS} per run.")
    return tuple(templates)


def crosslingual_grid(
    models: Sequence[LoadedModel], cache: ForwardCache, templates: Sequence[GridTemplate], top_k: int = 5
) -> CrosslingualGrid:
    """Top-k predictions of every model for every language's template (one cached pass each)."""
    top_k = check_top_k(top_k)
    cells = []
    for template in templates:
        for loaded in models:
            lang = template.lang if loaded.spec.multilingual else "en"
            result = predict_masks(loaded, cache, template.text, lang, top_k)
            notices = list(result.notices)
            if lang != template.lang:
                notices.insert(0, f"{loaded.key} is English-only: read as English.")
            cells.append(
                GridCell(
                    template_id=template.template_id,
                    lang=template.lang,
                    text=template.text,
                    model=loaded.key,
                    predictions=result.masks[0].predictions,
                    notices=tuple(notices),
                )
            )
    return CrosslingualGrid(top_k=top_k, templates=tuple(templates), cells=tuple(cells))


__all__ = [
    "CompareResult",
    "CrosslingualGrid",
    "GridCell",
    "GridTemplate",
    "LayerTop",
    "LogitLensResult",
    "Overlap",
    "TokenizationSummary",
    "comparable_form",
    "compare_models",
    "crosslingual_grid",
    "depth_alignment",
    "format_grid_templates",
    "load_grid_templates",
    "logit_lens",
    "overlap_at_k",
    "overlaps",
    "parse_grid_templates",
    "summarise_tokenization",
]
