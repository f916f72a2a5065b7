"""SEAT (May et al., 2019, "On Measuring Social Biases in Sentence Encoders") at every layer, and the direction
its two attribute groups define in the embedding space.

Targets X and Y (two lists of sentences of equal length, e.g. sentences about men and about women) and attributes
A and B (e.g. career and family sentences) are embedded (mean of a sentence's token states, ``<s>``/``</s>`` left
out) at every layer. Per layer, as sent-bias's ``weat.py`` computes it:

- s(w, A, B) = mean over a of cos(w, a) - mean over b of cos(w, b);
- effect size d = (mean over X of s - mean over Y of s) / sample standard deviation (ddof 1) of s over X and Y;
- p-value: the share of equal-size splits (X', Y') of X and Y whose sum of s over X' is at least that over X (ties
  count, the conservative test): every split when there are at most ``n_samples`` of them, else ``n_samples``
  random ones with one counted in advance (so p is never 0 from sampling alone).

The **direction** is mean(A) - mean(B) at a layer: every sentence's projection onto it (from the midpoint of the
two means, divided by the axis length, so A's mean is at +1/2 and B's at -1/2 units) says on which side it sits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UserInputError
from ..embeddings import EmbeddingSet, embed_sentences
from ..projection import onto_direction

if TYPE_CHECKING:
    from ...models import LoadedModel

GROUPS = ("x", "y", "a", "b")
GROUP_LABELS = {"x": "targets X", "y": "targets Y", "a": "attributes A", "b": "attributes B"}
#: random splits drawn for the p-value when there are more splits than this (sent-bias's default is 100,000)
N_SAMPLES = 10_000
MAX_PER_GROUP = 64
SEED = 0


def parse_group(text: object, name: str) -> list[str]:
    """One sentence per line (blank lines skipped), at least two and at most :data:`MAX_PER_GROUP`."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    if len(lines) < 2:
        raise UserInputError(f"{GROUP_LABELS[name].capitalize()} needs at least two sentences, one per line.")
    if len(lines) > MAX_PER_GROUP:
        raise UserInputError(f"{GROUP_LABELS[name].capitalize()} has {len(lines)} sentences; at most {MAX_PER_GROUP}.")
    return lines


def association(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """s(w, A, B) for every row of ``w``: (N, H), (Na, H), (Nb, H) -> (N,)."""
    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-30)

    w, a, b = unit(w.astype(np.float64)), unit(a.astype(np.float64)), unit(b.astype(np.float64))
    return (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)


def effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """Cohen's d of s over X against Y (NaN when s is the same for every target)."""
    spread = float(np.std(np.concatenate([s_x, s_y]), ddof=1))
    return float((s_x.mean() - s_y.mean()) / spread) if spread > 0 else float("nan")


def permutation_p(s_x: np.ndarray, s_y: np.ndarray, n_samples: int = N_SAMPLES, seed: int = SEED) -> tuple[float, bool]:
    """The one-sided permutation p-value and whether it is exact (every split counted)."""
    s = np.concatenate([s_x, s_y])
    size, observed = len(s_x), float(s_x.sum())
    n_splits = comb(len(s), size)
    if n_splits <= n_samples:
        from itertools import combinations

        sums = np.fromiter((s[list(split)].sum() for split in combinations(range(len(s)), size)), dtype=np.float64)
        return float(np.mean(sums >= observed)), True
    rng = np.random.default_rng(seed)
    splits = np.argsort(rng.random((n_samples - 1, len(s))), axis=1)[:, :size]
    sums = s[splits].sum(axis=1)
    return float((1 + np.count_nonzero(sums >= observed)) / n_samples), False


@dataclass(frozen=True)
class SeatResult:
    """SEAT and the attribute direction of one model, at every layer (0: the embedding output)."""

    embeddings: EmbeddingSet
    groups: tuple[str, ...]  # the group of each embedded sentence (x, y, a or b)
    effect_sizes: tuple[float, ...]
    p_values: tuple[float, ...]
    exact: bool
    n_samples: int

    @property
    def model(self) -> str:
        return self.embeddings.model

    @property
    def notices(self) -> tuple[str, ...]:
        return self.embeddings.notices

    def vectors(self, group: str, layer: int) -> np.ndarray:
        members = [i for i, g in enumerate(self.groups) if g == group]
        return self.embeddings.vectors(layer)[members]

    def projections(self, layer: int) -> np.ndarray:
        """(N,) every sentence on the attribute direction at ``layer``."""
        return onto_direction(self.embeddings.vectors(layer), self.vectors("b", layer), self.vectors("a", layer))

    def to_dict(self) -> dict[str, Any]:
        last = self.embeddings.n_layers
        return {
            "model": self.model,
            "n_layers": last,
            "layers": [{"layer": layer, "effect_size": None if np.isnan(d) else round(d, 6), "p_value": round(p, 6)}
                       for layer, (d, p) in enumerate(zip(self.effect_sizes, self.p_values))],
            "p_exact": self.exact,
            "n_samples": self.n_samples,
            "sentences": [{"group": g, "text": t, "projection_last_layer": round(float(v), 6)}
                          for g, t, v in zip(self.groups, self.embeddings.texts, self.projections(last))],
            "notices": list(self.notices),
        }


def seat(
    loaded: LoadedModel, groups: dict[str, Sequence[str]], lang: str = "en", n_samples: int = N_SAMPLES,
    progress: Callable[[float, str], None] | None = None,
) -> SeatResult:
    """SEAT effect sizes and permutation p-values at every layer for ``groups`` {x, y, a, b: sentences}."""
    if len(groups["x"]) != len(groups["y"]):
        raise UserInputError(f"Targets X and Y need as many sentences each (the permutation test splits them in two "
                             f"equal halves): X has {len(groups['x'])}, Y {len(groups['y'])}.")
    texts = [t for g in GROUPS for t in groups[g]]
    labels = tuple(g for g in GROUPS for _ in groups[g])
    embedded = embed_sentences(loaded, texts, [lang] * len(texts), progress=progress)
    sizes, p_values, exact = [], [], True
    for layer in range(embedded.n_layers + 1):
        vectors = embedded.vectors(layer)
        pick = {g: vectors[[i for i, label in enumerate(labels) if label == g]] for g in GROUPS}
        s_x, s_y = association(pick["x"], pick["a"], pick["b"]), association(pick["y"], pick["a"], pick["b"])
        sizes.append(effect_size(s_x, s_y))
        p, exact = permutation_p(s_x, s_y, n_samples)
        p_values.append(p)
    return SeatResult(embedded, labels, tuple(sizes), tuple(p_values), exact, n_samples)
