"""Representation similarity between the layers of two models: linear CKA (Kornblith et al., 2019).

Each sentence is represented, at every layer, by the mean of its hidden states over its real tokens
(``<s>`` and ``</s>`` left out). Linear CKA of two layers compares the two (n_sentences, width) matrices:
it is 1 for identical representations, invariant to orthogonal transforms and isotropic scaling, and
does not need the widths to match (1280 vs 2048).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UserInputError
from ..tokenization import encode_text
from .datasets import load_shipped

if TYPE_CHECKING:
    from ..models import LoadedModel

MIN_SENTENCES = 5
MAX_SENTENCES = 1000
MAX_TOTAL_CHARS = 200_000
DEFAULT_BATCH_SIZE = 16

Progress = Callable[[float, str], None]


def _centered_gram(x: np.ndarray) -> np.ndarray:
    """(n, d) -> the (n, n) Gram matrix of the column-centred ``x``, in float64."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    return x @ x.T


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations of the same n examples: x (n, d1), y (n, d2) -> [0, 1].

    CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) with column-centred Xc, Yc (computed via Gram
    matrices). A constant representation has no variance: CKA is then defined here as 0.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs two 2-d arrays with the same number of rows, got {x.shape} and {y.shape}")
    gram_x, gram_y = _centered_gram(x), _centered_gram(y)
    denominator = np.linalg.norm(gram_x) * np.linalg.norm(gram_y)
    if denominator == 0.0:
        return 0.0
    return float(np.sum(gram_x * gram_y) / denominator)


def cka_matrix(layers_a: np.ndarray, layers_b: np.ndarray) -> np.ndarray:
    """Linear CKA between every layer of A and every layer of B.

    layers_a: (La, n, d1), layers_b: (Lb, n, d2) -> (La, Lb) float64, entry [i, j] = CKA(A_i, B_j).
    """
    if layers_a.shape[1] != layers_b.shape[1]:
        raise ValueError("both models must represent the same sentences")

    def normalised_grams(layers: np.ndarray) -> np.ndarray:
        grams = np.stack([_centered_gram(layer).ravel() for layer in layers])  # (L, n*n)
        norms = np.linalg.norm(grams, axis=1, keepdims=True)
        return np.divide(grams, norms, out=np.zeros_like(grams), where=norms > 0)

    return np.clip(normalised_grams(layers_a) @ normalised_grams(layers_b).T, 0.0, 1.0)


@dataclass(frozen=True)
class SentenceSet:
    """Sentences to compare on, with the language each is tokenized in (for 100-1280)."""

    texts: tuple[str, ...]
    langs: tuple[str, ...]
    name: str = "custom"

    def __len__(self) -> int:
        return len(self.texts)


def load_parallel_sentences(langs: Sequence[str] | None = None) -> SentenceSet:
    """The shipped parallel set (48 sentences x 15 languages), keeping only ``langs`` (default: all)."""
    items = [item for item in load_shipped("sentences").items if langs is None or item.lang in langs]
    texts = [item.text for item in items]
    codes = [item.lang for item in items]
    if not texts:
        raise UserInputError("No sentences of the parallel set are in the chosen languages.")
    name = "parallel_sentences" + (f" ({', '.join(langs)})" if langs is not None else "")
    return SentenceSet(tuple(texts), tuple(codes), name)


def parse_sentences(text: str, lang: str) -> SentenceSet:
    """User sentences, one per line (blank lines skipped), all in language ``lang``."""
    if len(text or "") > MAX_TOTAL_CHARS:
        raise UserInputError(
            f"The sentences are {len(text):,} characters long in all; the limit is {MAX_TOTAL_CHARS:,}."
        )
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return SentenceSet(tuple(lines), tuple(lang for _ in lines), "custom")


def check_sentence_set(sentences: SentenceSet) -> SentenceSet:
    if len(sentences) < MIN_SENTENCES:
        raise UserInputError(
            f"CKA needs at least {MIN_SENTENCES} sentences (it compares how sentences relate to each other); got {len(sentences)}."
        )
    if len(sentences) > MAX_SENTENCES:
        raise UserInputError(f"{len(sentences):,} sentences given; at most {MAX_SENTENCES:,} per run.")
    return sentences


def pooled_hidden_states(
    loaded: LoadedModel,
    sentences: SentenceSet,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> np.ndarray:
    """Mean-pooled hidden states of every layer for every sentence: (n_layers + 1, n, H) float64.

    Batched forward passes with right padding and explicit lengths, under ``loaded.lock``; the mean is
    taken over each sentence's tokens between ``<s>`` and ``</s>``. Sentences longer than the model's
    positions are cut.
    """
    encoded = [
        list(
            encode_text(
                loaded, text, lang if loaded.spec.multilingual else "en", allow_masks=False, truncate=True
            ).input_ids
        )
        for text, lang in zip(sentences.texts, sentences.langs)
    ]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # similar lengths batch together
    pad_id = int(loaded.tokenizer.pad_token_id)
    pooled = np.zeros((loaded.n_layers + 1, len(encoded), loaded.hidden_size), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        lengths = torch.tensor([len(encoded[i]) for i in rows], device=loaded.device)
        ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long, device=loaded.device)
        for r, i in enumerate(rows):
            ids[r, : len(encoded[i])] = torch.tensor(encoded[i], device=loaded.device)
        positions = torch.arange(ids.shape[1], device=loaded.device)[None, :]
        inner = (positions >= 1) & (positions < lengths[:, None] - 1)  # between <s> and </s>
        keep = torch.where((lengths > 2)[:, None], inner, positions < lengths[:, None])
        with loaded.lock, torch.inference_mode():
            out = loaded.model.transformer(input_ids=ids, lengths=lengths, output_hidden_states=True, return_dict=True)
        hidden = torch.stack(out.hidden_states).float()  # (L+1, B, T, H)
        weights = keep.float() / keep.float().sum(dim=1, keepdim=True)  # (B, T)
        means = torch.einsum("lbth,bt->lbh", hidden, weights).double().cpu().numpy()
        pooled[:, rows, :] = means
        if progress is not None:
            progress(
                min(1.0, (start + len(rows)) / len(order)), f"{loaded.key}: {start + len(rows)}/{len(order)} sentences"
            )
    return pooled


class PooledStatesCache:
    """A small LRU of :func:`pooled_hidden_states` results, kept as float32 (the sentence set rarely
    changes between runs; two entries hold one set for both models)."""

    def __init__(self, max_entries: int = 2) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.computed = 0

    def get(self, loaded: LoadedModel, sentences: SentenceSet, progress: Progress | None = None) -> np.ndarray:
        key = (loaded.key, loaded.instance_id, sentences.texts, sentences.langs)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        pooled = pooled_hidden_states(loaded, sentences, progress=progress).astype(np.float32)
        self.computed += 1
        self._entries[key] = pooled
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return pooled


@dataclass(frozen=True)
class LayerSimilarity:
    """Linear CKA between every layer of ``model_a`` (rows, embeddings first) and of ``model_b`` (columns)."""

    model_a: str
    model_b: str
    sentence_set: str
    n_sentences: int
    cka: np.ndarray  # (La + 1, Lb + 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "sentence_set": self.sentence_set,
            "n_sentences": self.n_sentences,
            "layers_a": list(range(self.cka.shape[0])),
            "layers_b": list(range(self.cka.shape[1])),
            "cka": [[round(float(v), 6) for v in row] for row in self.cka],
        }


def layer_similarity(
    model_a: LoadedModel,
    model_b: LoadedModel,
    sentences: SentenceSet,
    cache: PooledStatesCache | None = None,
    progress: Progress | None = None,
) -> LayerSimilarity:
    """CKA heatmap data for two models on one sentence set (layer 0 = embedding output)."""
    sentences = check_sentence_set(sentences)
    fetch = (
        cache.get if cache is not None else (lambda m, s, progress=None: pooled_hidden_states(m, s, progress=progress))
    )
    pooled_a = fetch(model_a, sentences, progress=progress)
    pooled_b = fetch(model_b, sentences, progress=progress)
    return LayerSimilarity(
        model_a=model_a.key,
        model_b=model_b.key,
        sentence_set=sentences.name,
        n_sentences=len(sentences),
        cka=cka_matrix(pooled_a, pooled_b),
    )
