"""Per-layer predictions at a mask ("logit lens" for masked LMs): the LM head on every layer's hidden state.

Reads the shared forward cache: the last layer's logits are the very ones fill-mask uses, so its row equals
fill-mask's probabilities exactly. :func:`depth_alignment` lines up en-2048's 12 layers with 100-1280's 16.

**Candidates over depth** (ecco's ``rankings_watch``, the NDIF Workbench's "commitment" lens, for masked LMs):
for chosen candidates (default: the last layer's top-k), their rank and probability at every layer, and the
layer from which each *commits*: is top-1 (or in the top 5) at that layer and every later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks import check_mask_number
from ..errors import UserInputError
from ..forward import lm_head_logits
from ..tokenization import display_piece, is_word_final
from .attribution import resolve_target
from .fill_mask import TokenScore, preprocess, probabilities

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

MAX_LENS_TOKENS = 20
MAX_CANDIDATES = 10


@dataclass(frozen=True)
class CandidateDepth:
    """One candidate at every layer: ``ranks[l]`` (1 = the top non-special token) and ``probabilities[l]``;
    ``commits_top1`` / ``commits_top5``: the first layer from which it stays top-1 / in the top 5 through the last
    layer (None: it does not end there)."""

    token: str
    piece: str
    token_id: int
    ranks: tuple[int, ...]
    probabilities: tuple[float, ...]
    commits_top1: int | None
    commits_top5: int | None

    def to_dict(self, n_layers: int) -> dict[str, Any]:
        depth = lambda layer: None if layer is None else layer / n_layers  # noqa: E731
        return {"token": self.token, "piece": self.piece, "token_id": self.token_id, "ranks": list(self.ranks),
                "probabilities": list(self.probabilities), "commits_top1": self.commits_top1,
                "commits_top5": self.commits_top5, "commits_top1_depth": depth(self.commits_top1),
                "commits_top5_depth": depth(self.commits_top5)}


def commits(ranks: Sequence[int], k: int) -> int | None:
    """The first layer from which ``rank <= k`` holds at every later layer (None when the last layer fails it)."""
    layer = None
    for index in range(len(ranks) - 1, -1, -1):
        if ranks[index] > k:
            break
        layer = index
    return layer


def candidate_depths(loaded: LoadedModel, probs: torch.Tensor, token_ids: Sequence[int]) -> tuple[CandidateDepth, ...]:
    """(n_layers + 1, V) probabilities (specials at 0) -> each candidate's rank and probability per layer."""
    chosen = probs[:, list(token_ids)]  # (L + 1, C)
    ranks = 1 + (probs[:, None, :] > chosen[:, :, None]).sum(dim=-1)  # (L + 1, C): tokens strictly more likely, + 1
    pieces = loaded.tokenizer.convert_ids_to_tokens(list(token_ids))
    out = []
    for c, (token_id, piece) in enumerate(zip(token_ids, pieces)):
        column = [int(r) for r in ranks[:, c]]
        out.append(CandidateDepth(display_piece(piece), piece, int(token_id), tuple(column),
                                  tuple(float(p) for p in chosen[:, c]), commits(column, 1), commits(column, 5)))
    return tuple(out)




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
    candidates: tuple[CandidateDepth, ...] = ()

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
            "candidates": [c.to_dict(self.n_layers) for c in self.candidates],
            "notices": list(self.notices),
        }


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
    loaded: LoadedModel, cache: ForwardCache, text: str, lang: str = "en", mask_number: int = 1, top_k: int = 5,
    candidates: Sequence[str] = (),
) -> LogitLensResult:
    """Per-layer predictions at one mask: softmax(LM head(hidden state of layer l)) for every layer; with each
    candidate's rank over depth (``candidates``: words or pieces, each its first piece; none: the last layer's
    top-k).

    Uses the cached body pass; the last layer's logits are the very ones fill-mask uses, so its row
    equals fill-mask's probabilities exactly.
    """
    top_k = int(top_k)  # validated by the service (checks once per request)
    if top_k > MAX_LENS_TOKENS:
        raise UserInputError(
            f"The logit lens shows at most {MAX_LENS_TOKENS} tokens per layer; choose a smaller top-k."
        )
    encoding = preprocess(loaded, text, lang)
    mask_number = check_mask_number(mask_number, len(encoding.mask_positions))
    position = encoding.mask_positions[mask_number - 1]
    result = cache.get(loaded, encoding.input_ids, loaded.lang2id.get(encoding.lang), hidden_states=True)
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
    notices = list(encoding.notices)
    chosen_ids = [p.token_id for p in layer_tops[-1].predictions]
    if candidates:
        chosen_ids = []
        for word in candidates:
            token_id, found = resolve_target(loaded, word, encoding.lang, probs[-1], what="candidate")
            chosen_ids.append(token_id)
            notices += found
        chosen_ids = list(dict.fromkeys(chosen_ids))
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
        notices=tuple(dict.fromkeys(notices)),
        candidates=candidate_depths(loaded, probs, chosen_ids),
    )


def depth_alignment(n_layers_a: int, n_layers_b: int) -> tuple[tuple[int, int], ...]:
    """For each layer of A (0..n_a), the layer of B (0..n_b) at the nearest relative depth.

    >>> depth_alignment(12, 16)[3]
    (3, 4)
    """
    return tuple((layer, int(np.floor(layer / n_layers_a * n_layers_b + 0.5))) for layer in range(n_layers_a + 1))
