"""Attention beyond raw weights, for the prediction at one mask, beside the integrated-gradients attribution of
the same prediction: which measure ranks the input tokens as the attribution does?

Three measures per layer, each a (T, T) matrix whose row i says how much token i's new state takes from each j:

- **raw**: the attention weights, averaged over the heads;
- **rollout** (Abnar & Zuidema, 2020): the raw weights with the residual added (0.5 A + 0.5 I, rows summing to 1),
  multiplied through the layers below, so row i at layer l mixes the inputs (not the layer's own input);
- **norm** (Kobayashi et al., 2020): || sum over heads of alpha[h, i, j] f[h, j] ||, the size of what token j
  actually adds to i's attention output (f: j's value vector through the output projection), as a share of the row.

The rank correlation (Spearman) of each measure's mask row with |IG| over the input tokens says which agrees with
the gradient-based account; with ``hide`` the special tokens and punctuation are left out of both (and of the
rows, renormalised), as exBERT's toggle does for attention to [CLS] / [SEP].
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..forward import run_with_hooks, transformed_values
from ..tokenization import display_piece
from .attribution import AttributionResult, attribute

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

MEASURES = ("raw", "rollout", "norm")
MEASURE_LABELS = {"raw": "raw attention (mean of heads)", "rollout": "attention rollout",
                  "norm": "norm-based ||Σ αf(x)||"}
#: rows of the norm measure computed at once: (rows, T, H) floats at a time
NORM_ROWS = 16


def rollout(raw: np.ndarray) -> np.ndarray:
    """Attention rollout: (L, T, T) head-averaged weights -> (L, T, T), layer l = A'_l ... A'_1 with
    A' = (A + I) / 2 (rows of A sum to 1, so rows of A' do too)."""
    eye = np.eye(raw.shape[-1])
    joint = np.empty_like(raw, dtype=np.float64)
    for layer in range(raw.shape[0]):
        augmented = 0.5 * raw[layer] + 0.5 * eye
        joint[layer] = augmented if layer == 0 else augmented @ joint[layer - 1]
    return joint


def norm_contributions(weights: torch.Tensor, values: torch.Tensor) -> np.ndarray:
    """|| sum_h alpha[h, i, j] f[h, j] || for every i, j: (heads, T, T) weights and (heads, T, H) transformed
    values -> (T, T)."""
    heads, n, _ = weights.shape
    out = np.empty((n, n))
    for start in range(0, n, NORM_ROWS):
        rows = weights[:, start:start + NORM_ROWS, :]  # (heads, r, T)
        mixed = torch.einsum("hij,hjd->ijd", rows, values)  # (r, T, H)
        out[start:start + NORM_ROWS] = torch.linalg.vector_norm(mixed, dim=-1).numpy()
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None when either side is constant or too short."""
    if len(a) < 3:
        return None
    ra, rb = _ranks(np.asarray(a, dtype=np.float64)), _ranks(np.asarray(b, dtype=np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # ties: the mean of their ranks
        same = values == value
        ranks[same] = ranks[same].mean()
    return ranks


def is_punctuation(piece: str) -> bool:
    """A piece made only of punctuation (after its word-end / continuation marks are taken off)."""
    text = display_piece(piece).replace("@@", "").strip()
    return bool(text) and all(unicodedata.category(ch).startswith("P") for ch in text)


@dataclass(frozen=True)
class AttentionFlowResult:
    """The three measures of one model on one text, the IG attribution of its prediction at the mask, and which
    positions ``hide`` leaves out."""

    attribution: AttributionResult
    #: (3, L, T, T): raw, rollout, norm (rows of norm as shares of their sum)
    measures: np.ndarray
    special: tuple[int, ...]
    punctuation: tuple[int, ...]
    hide: bool

    @property
    def model(self) -> str:
        return self.attribution.model

    @property
    def notices(self) -> tuple[str, ...]:
        return self.attribution.notices

    @property
    def n_layers(self) -> int:
        return int(self.measures.shape[1])

    @property
    def kept(self) -> np.ndarray:
        """The input positions compared: all, or without special tokens and punctuation when ``hide``."""
        n = self.measures.shape[-1]
        hidden = set(self.special) | set(self.punctuation) if self.hide else set()
        return np.array([i for i in range(n) if i not in hidden], dtype=int)

    def mask_rows(self) -> np.ndarray:
        """(3, L, T) each measure's row at the mask over the kept positions (hidden ones 0), renormalised to 1."""
        rows = self.measures[:, :, self.attribution.position, :].copy()
        keep = np.zeros(rows.shape[-1], dtype=bool)
        keep[self.kept] = True
        rows[..., ~keep] = 0.0
        totals = rows.sum(-1, keepdims=True)
        return np.divide(rows, totals, out=np.zeros_like(rows), where=totals > 0)

    def correlations(self) -> np.ndarray:
        """(3, L) Spearman's rho of each measure's mask row with |IG| over the kept positions (NaN: undefined)."""
        ig = np.abs(np.asarray(self.attribution.integrated_gradients))[self.kept]
        rows = self.mask_rows()[..., self.kept]
        return np.array([[np.nan if (r := spearman(row, ig)) is None else r for row in measure] for measure in rows])

    def to_dict(self) -> dict[str, Any]:
        rows, rho = self.mask_rows(), self.correlations()
        return {
            "model": self.model,
            "text": self.attribution.text,
            "lang": self.attribution.lang,
            "tokens": list(self.attribution.tokens),
            "mask_number": self.attribution.mask_number,
            "position": self.attribution.position,
            "target_token": self.attribution.target_token,
            "n_layers": self.n_layers,
            "hide": self.hide,
            "hidden_positions": sorted(set(self.special) | set(self.punctuation)) if self.hide else [],
            "integrated_gradients": [round(float(v), 6) for v in self.attribution.integrated_gradients],
            "measures": {
                name: {"label": MEASURE_LABELS[name],
                       "mask_rows": np.round(rows[k], 6).tolist(),
                       "spearman_with_ig": [None if np.isnan(v) else round(float(v), 4) for v in rho[k]]}
                for k, name in enumerate(MEASURES)
            },
            "notices": list(self.attribution.notices),
        }


def attention_flow(
    loaded: LoadedModel, cache: ForwardCache, text: str, lang: str = "en", mask_number: object = 1, target: str = "",
    hide: bool = False, progress: Callable[[float, str], None] | None = None,
) -> AttentionFlowResult:
    """Raw attention, rollout and the norm-based measure at every layer, and the IG attribution of the prediction
    at mask ``mask_number`` (``target``: a piece or word; empty: the top prediction)."""
    def ig_progress(fraction: float, words: str) -> None:
        if progress is not None:
            progress(0.85 * fraction, words)

    attributed = attribute(loaded, cache, text, lang, mask_number, target, ig_progress)
    ids = list(attributed.input_ids)
    out = run_with_hooks(loaded, [ids], lang_ids=loaded.lang2id.get(attributed.lang), hidden_states=True,
                         attentions=True)
    weights = out.attentions[:, 0]  # (L, heads, T, T)
    raw = weights.mean(dim=1).double().numpy()
    norms = []
    for block in range(loaded.n_layers):
        if progress is not None:
            progress(0.85 + 0.15 * block / loaded.n_layers, f"{loaded.key}: norm-based measure, block {block + 1} of {loaded.n_layers}")
        values = transformed_values(loaded, block, out.hidden_states[block, 0])
        norm = norm_contributions(weights[block].float(), values)
        norms.append(norm / np.maximum(norm.sum(-1, keepdims=True), 1e-30))
    measures = np.stack([raw, rollout(raw), np.stack(norms)])
    special = tuple(i for i, token_id in enumerate(ids) if token_id in loaded.special_ids and i != attributed.position)
    punctuation = tuple(i for i, token in enumerate(attributed.tokens) if i not in special and is_punctuation(token))
    return AttentionFlowResult(attributed, measures, special, punctuation, bool(hide))
