"""Cross-lingual alignment metrics by layer: translation retrieval P@1 and language separability.

* Retrieval P@1 (source -> target): for each source-language row whose item id also occurs in the target
  language, the target-language row with the highest cosine similarity is its translation (same id).
  Chance is 1 / (number of target-language rows).
* Language separability: leave-one-out nearest-centroid language classifier (cosine to each language's
  mean unit vector, the row itself left out of its own language's mean). Chance is 1 / (languages).

High P@1 with low separability is what "languages aligned" looks like; per-language mean-centering
removes the language-identity component and usually lowers separability and raises P@1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UserInputError

REFERENCE_LANGUAGE = "en"


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """(N, H) -> (N, H) float64 rows of length 1 (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """(N, H) -> (N, N) float32 cosine similarities."""
    unit = unit_rows(vectors).astype(np.float32)
    return unit @ unit.T


def _p_at_1(similarities: np.ndarray, ids: np.ndarray, source_rows: np.ndarray, target_rows: np.ndarray) -> float | None:
    """Share of ``source_rows`` whose most similar row among ``target_rows`` has the same id."""
    if source_rows.size == 0 or target_rows.size == 0:
        return None
    best = target_rows[np.argmax(similarities[np.ix_(source_rows, target_rows)], axis=1)]
    return float(np.mean(ids[best] == ids[source_rows]))


def _queries(ids: np.ndarray, source_rows: np.ndarray, target_rows: np.ndarray) -> np.ndarray:
    """The source rows whose id also occurs among the target rows."""
    return source_rows[np.isin(ids[source_rows], ids[target_rows])]


def retrieval_p_at_1(
    similarities: np.ndarray, item_ids: Sequence[str], langs: Sequence[str], source: str, target: str
) -> tuple[float | None, int]:
    """P@1 of retrieving each ``source`` row's translation among all ``target`` rows.

    ``similarities`` is the (N, N) cosine matrix. Returns ``(precision, n_queries)``; precision is None
    when no source row has a translation in ``target``.
    """
    ids = np.asarray(item_ids)
    langs_array = np.asarray(langs)
    target_rows = np.flatnonzero(langs_array == target)
    source_rows = _queries(ids, np.flatnonzero(langs_array == source), target_rows)
    return _p_at_1(similarities, ids, source_rows, target_rows), int(source_rows.size)


def language_separability(vectors: np.ndarray, langs: Sequence[str]) -> float | None:
    """Leave-one-out nearest-centroid language accuracy on unit vectors; None with fewer than 2 languages.

    Rows of a language with a single row cannot be left out of it and are not scored.
    """
    languages = list(dict.fromkeys(langs))
    if len(languages) < 2:
        return None
    unit = unit_rows(vectors)
    langs_array = np.asarray(langs)
    lang_index = np.array([languages.index(lang) for lang in langs])
    counts = np.array([np.sum(langs_array == lang) for lang in languages], dtype=np.float64)
    sums = np.stack([unit[langs_array == lang].sum(axis=0) for lang in languages])  # (L, H)
    centroid_norms = np.linalg.norm(sums, axis=1)
    dots = unit @ sums.T  # (N, L): x . S_l
    scores = np.divide(dots, centroid_norms, out=np.full_like(dots, -np.inf), where=centroid_norms > 0)
    # own language: centroid without the row itself, (S_l - x) / (n_l - 1); the scale does not change the cosine
    rows = np.arange(len(langs))
    own_sum_dot = dots[rows, lang_index] - np.sum(unit * unit, axis=1)
    own_norm_sq = centroid_norms[lang_index] ** 2 - 2 * dots[rows, lang_index] + np.sum(unit * unit, axis=1)
    own_norm = np.sqrt(np.clip(own_norm_sq, 0.0, None))
    scores[rows, lang_index] = np.divide(own_sum_dot, own_norm, out=np.full_like(own_sum_dot, -np.inf), where=own_norm > 1e-12)
    scored = counts[lang_index] >= 2
    if not scored.any():
        return None
    predicted = np.argmax(scores, axis=1)
    return float(np.mean(predicted[scored] == lang_index[scored]))


@dataclass(frozen=True)
class AlignmentMetrics:
    """Metrics of one model for every layer 0..n_layers (tuples have n_layers + 1 entries; None = not defined).

    ``p_at_1[lang]``: retrieval ``lang -> reference``; ``mean_vs_reference``: their mean;
    ``mean_all_pairs``: mean P@1 over every ordered pair of languages sharing ids;
    ``separability``: nearest-centroid language accuracy.
    """

    model: str
    pooling: str
    centered: bool
    reference: str
    layers: tuple[int, ...]
    p_at_1: dict[str, tuple[float | None, ...]]
    mean_vs_reference: tuple[float | None, ...]
    mean_all_pairs: tuple[float | None, ...]
    separability: tuple[float | None, ...]
    chance_retrieval: float | None
    chance_separability: float | None
    notices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "pooling": self.pooling,
            "centered": self.centered,
            "reference": self.reference,
            "layers": list(self.layers),
            "p_at_1": {lang: _rounded(values) for lang, values in self.p_at_1.items()},
            "mean_p_at_1_vs_reference": _rounded(self.mean_vs_reference),
            "mean_p_at_1_all_pairs": _rounded(self.mean_all_pairs),
            "language_separability": _rounded(self.separability),
            "chance_retrieval": None if self.chance_retrieval is None else round(self.chance_retrieval, 6),
            "chance_separability": None if self.chance_separability is None else round(self.chance_separability, 6),
            "notices": list(self.notices),
        }

    def best_layer(self) -> int | None:
        """The layer with the highest mean P@1 against the reference (first one on ties)."""
        values = [(v, layer) for layer, v in zip(self.layers, self.mean_vs_reference) if v is not None]
        return max(values, key=lambda pair: (pair[0], -pair[1]))[1] if values else None


def _rounded(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else round(float(v), 6) for v in values]


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def alignment_metrics(
    layer_vectors: np.ndarray,
    item_ids: Sequence[str],
    langs: Sequence[str],
    *,
    model: str = "",
    pooling: str = "mean",
    centered: bool = False,
    reference: str = REFERENCE_LANGUAGE,
) -> AlignmentMetrics:
    """Metrics for every layer of ``layer_vectors`` (n_layers + 1, N, H).

    ``reference`` is the retrieval target (English); when the data has no such rows, the first language
    is used with a notice.
    """
    layer_vectors = np.asarray(layer_vectors)
    if layer_vectors.ndim != 3 or layer_vectors.shape[1] != len(item_ids) or len(item_ids) != len(langs):
        raise ValueError("layer_vectors must be (layers, N, H) with N = len(item_ids) = len(langs)")
    if len(langs) == 0:
        raise UserInputError("There are no rows to measure.")
    languages = list(dict.fromkeys(langs))
    notices: list[str] = []
    if reference not in languages:
        notices.append(f"The data has no '{reference}' rows: retrieval is measured against '{languages[0]}' instead.")
        reference = languages[0]
    others = [lang for lang in languages if lang != reference]
    ids = np.asarray(item_ids)
    langs_array = np.asarray(langs)
    pairs = [(a, b) for a in languages for b in languages if a != b]
    if not others or not any(set(ids[langs_array == a]) & set(ids[langs_array == b]) for a, b in pairs):
        notices.append("No item id occurs in two languages, so translation retrieval cannot be measured.")
    rows_of = {lang: np.flatnonzero(langs_array == lang) for lang in languages}
    queries = {(a, b): (_queries(ids, rows_of[a], rows_of[b]), rows_of[b]) for a, b in pairs}  # the same at every layer
    per_lang: dict[str, list[float | None]] = {lang: [] for lang in others}
    mean_ref: list[float | None] = []
    mean_pairs: list[float | None] = []
    separability: list[float | None] = []
    for vectors in layer_vectors:
        sims = cosine_matrix(vectors)
        scores = {pair: _p_at_1(sims, ids, *queries[pair]) for pair in pairs}
        for lang in others:
            per_lang[lang].append(scores[(lang, reference)])
        mean_ref.append(_mean([per_lang[lang][-1] for lang in others]))
        mean_pairs.append(_mean(list(scores.values())))
        separability.append(language_separability(vectors, langs))
    n_reference = int(np.sum(langs_array == reference))
    return AlignmentMetrics(
        model=model,
        pooling=pooling,
        centered=centered,
        reference=reference,
        layers=tuple(range(layer_vectors.shape[0])),
        p_at_1={lang: tuple(values) for lang, values in per_lang.items()},
        mean_vs_reference=tuple(mean_ref),
        mean_all_pairs=tuple(mean_pairs),
        separability=tuple(separability),
        chance_retrieval=(1.0 / n_reference) if others and n_reference else None,
        chance_separability=(1.0 / len(languages)) if len(languages) > 1 else None,
        notices=tuple(notices),
    )


@dataclass(frozen=True)
class Neighbour:
    """A nearest neighbour: ``index`` into the data set's rows, ``cosine`` similarity to the query."""

    index: int
    cosine: float


def nearest_neighbours(vectors: np.ndarray, query: int, k: int = 10) -> tuple[Neighbour, ...]:
    """The ``k`` rows most cosine-similar to row ``query`` (itself excluded), best first; ties by index."""
    n = len(vectors)
    if not 0 <= int(query) < n:
        raise UserInputError(f"Point {query} does not exist; pick one of the {n} points.")
    unit = unit_rows(vectors)
    sims = unit @ unit[int(query)]
    order = [int(i) for i in np.lexsort((np.arange(n), -sims)) if int(i) != int(query)]
    return tuple(Neighbour(index=i, cosine=float(sims[i])) for i in order[: max(0, int(k))])
