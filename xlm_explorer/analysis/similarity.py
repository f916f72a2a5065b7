"""Representation similarity between the layers of two models: linear CKA (Kornblith et al., 2019).

Each sentence is represented, at every layer, by the mean of its hidden states over its real tokens
(``<s>`` and ``</s>`` left out). Linear CKA of two layers compares the two (n_sentences, width) matrices:
it is 1 for identical representations, invariant to orthogonal transforms and isotropic scaling, and
does not need the widths to match (1280 vs 2048).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserInputError
from .datasets import Dataset, TextItem, load_shipped
from .embeddings import EmbeddingCache

if TYPE_CHECKING:
    from ..models import LoadedModel

MIN_SENTENCES = 5
MAX_SENTENCES = 1000
MAX_TOTAL_CHARS = 200_000

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


def sentence_set(texts: Sequence[str], langs: Sequence[str], name: str = "custom") -> Dataset:
    """Sentences to compare on, each with the language it is tokenized in (for 100-1280)."""
    items = tuple(TextItem(str(i + 1), lang, text) for i, (text, lang) in enumerate(zip(texts, langs)))
    return Dataset(name=name, items=items)


def load_parallel_sentences(langs: Sequence[str] | None = None) -> Dataset:
    """The shipped parallel set (48 sentences x 15 languages), keeping only ``langs`` (default: all).

    The same rows as the embeddings tab's parallel set in those languages, so both share embeddings.
    """
    items = [item for item in load_shipped("sentences").items if langs is None or item.lang in langs]
    if not items:
        raise UserInputError("No sentences of the parallel set are in the chosen languages.")
    name = "parallel_sentences" + (f" ({', '.join(langs)})" if langs is not None else "")
    return Dataset(name=name, items=tuple(items))


def parse_sentences(text: str, lang: str) -> Dataset:
    """User sentences, one per line (blank lines skipped), all in language ``lang``."""
    if len(text or "") > MAX_TOTAL_CHARS:
        raise UserInputError(
            f"The sentences are {len(text):,} characters long in all; the limit is {MAX_TOTAL_CHARS:,}."
        )
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return sentence_set(lines, [lang] * len(lines))


def check_sentence_set(sentences: Dataset) -> Dataset:
    if len(sentences) < MIN_SENTENCES:
        raise UserInputError(
            f"CKA needs at least {MIN_SENTENCES} sentences (it compares how sentences relate to each other); got {len(sentences)}."
        )
    if len(sentences) > MAX_SENTENCES:
        raise UserInputError(f"{len(sentences):,} sentences given; at most {MAX_SENTENCES:,} per run.")
    return sentences


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
    sentences: Dataset,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
) -> LayerSimilarity:
    """CKA heatmap data for two models on one sentence set (layer 0 = embedding output).

    Each sentence is its mean-pooled hidden states (``<s>``/``</s>`` left out), read from the embedding
    cache (the embeddings tab's sets are reused, and a set computed here serves that tab too).
    """
    sentences = check_sentence_set(sentences)
    cache = cache if cache is not None else EmbeddingCache()

    def part(index: int) -> Progress | None:
        return None if progress is None else (lambda fraction, message: progress((index + fraction) / 2, message))

    pooled_a = cache.get(model_a, sentences, part(0)).pooled["mean"]
    pooled_b = cache.get(model_b, sentences, part(1)).pooled["mean"]
    return LayerSimilarity(
        model_a=model_a.key,
        model_b=model_b.key,
        sentence_set=sentences.name,
        n_sentences=len(sentences),
        cka=cka_matrix(pooled_a, pooled_b),
    )
