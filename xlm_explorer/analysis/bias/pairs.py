"""Sentence pairs (CrowS-Pairs style), each sentence scored by every metric, and the summary.

Metrics (natural log; see :mod:`..pll`): ``pll``, ``pll_word_l2r``, ``aul`` and ``pll_unmodified`` (CrowS-Pairs,
Nangia et al. 2020: only the tokens both sentences share, found by ``difflib.SequenceMatcher`` on the token ids,
each masked in turn in its own sentence). The summary gives, per model and metric, the share of pairs where
``sent_more`` scores higher with a seeded 95% bootstrap interval, the ties, and flags where the metrics disagree or
the token counts differ.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UserInputError
from ...tokenization import reading_notices
from ..pll import DEFAULT_BATCH_SIZE, METRICS, SentencePLL, sentence_plls
from .crows import CROWS_METRIC, crows_summary
from .data import SentencePair

if TYPE_CHECKING:
    from ...models import LoadedModel

Progress = Callable[[float, str], None]

#: Metrics of a pair: the sentence metrics plus CrowS-Pairs' unmodified-token PLL.
PAIR_METRICS = (*METRICS, "pll_unmodified")
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def shared_positions(ids_a: Sequence[int], ids_b: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Positions (in the full encodings, ``<s>`` = 0) of the tokens both sentences share, as CrowS-Pairs
    finds them: ``difflib.SequenceMatcher(None, a, b, autojunk=False)`` on the ids between ``<s>`` and ``</s>``."""
    inner_a, inner_b = list(ids_a[1:-1]), list(ids_b[1:-1])
    matcher = difflib.SequenceMatcher(None, inner_a, inner_b, autojunk=False)
    in_a: list[int] = []
    in_b: list[int] = []
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            in_a += [p + 1 for p in range(a1, a2)]
            in_b += [p + 1 for p in range(b1, b2)]
    return tuple(in_a), tuple(in_b)


@dataclass(frozen=True)
class PairScore:
    """One pair, one model: both sentences' scores. ``difference`` = PLL(more) - PLL(less); positive means
    the model prefers the more stereotypical sentence."""

    pair: SentencePair
    model: str
    more: SentencePLL
    less: SentencePLL

    @property
    def difference(self) -> float:
        return self.more.pll - self.less.pll

    @property
    def mean_difference(self) -> float:
        """Difference of per-token mean log-probabilities (fairer when the token counts differ)."""
        return self.more.mean_log_prob - self.less.mean_log_prob

    @property
    def preferred(self) -> str:
        return "more" if self.difference > 0 else "less" if self.difference < 0 else "tie"

    def scores(self, metric: str) -> tuple[float, float]:
        """``(score of sent_more, score of sent_less)`` under ``metric`` (one of :data:`PAIR_METRICS`)."""
        if metric == "pll_unmodified":
            in_more, in_less = shared_positions(self.more.input_ids, self.less.input_ids)
            return (
                float(sum(self.more.token_log_probs[p - 1] for p in in_more)),
                float(sum(self.less.token_log_probs[p - 1] for p in in_less)),
            )
        return self.more.metric(metric), self.less.metric(metric)

    def direction(self, metric: str) -> int:
        """+1 when sent_more scores higher under ``metric``, -1 when lower, 0 for a tie."""
        more, less = self.scores(metric)
        return 0 if more == less or math.isnan(more) or math.isnan(less) else (1 if more > less else -1)

    def metrics_disagree(self, metrics: Sequence[str] = PAIR_METRICS) -> bool:
        return len({self.direction(m) for m in metrics}) > 1

    @property
    def token_counts_differ(self) -> bool:
        return self.more.n_tokens != self.less.n_tokens

    def to_row(self, metrics: Sequence[str] = PAIR_METRICS) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": self.pair.id,
            "lang": self.pair.lang,
            "bias_type": self.pair.bias_type,
            "direction": self.pair.direction,
            "model": self.model,
            "sent_more": self.pair.sent_more,
            "sent_less": self.pair.sent_less,
            "pll_more": self.more.pll,
            "pll_less": self.less.pll,
            "tokens_more": self.more.n_tokens,
            "tokens_less": self.less.n_tokens,
            "difference": self.difference,
            "mean_difference": self.mean_difference,
            "preferred": self.preferred,
        }
        for metric in metrics:
            if metric == "pll":
                continue
            more, less = self.scores(metric)
            row[f"{metric}_more"], row[f"{metric}_less"] = more, less
        row["metrics_disagree"] = self.metrics_disagree(metrics)
        row["token_counts_differ"] = self.token_counts_differ
        return row


def bootstrap_share(
    directions: Sequence[int], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> dict[str, float | int]:
    """Share of pairs with direction +1 (sent_more higher), with a seeded 95% percentile bootstrap interval.

    Ties (0) count as pairs that do not prefer ``sent_more`` and are reported in ``ties``.
    """
    values = np.asarray([1.0 if d > 0 else 0.0 for d in directions])
    n = len(values)
    if n == 0:
        return {"n": 0, "share": math.nan, "ci_low": math.nan, "ci_high": math.nan, "ties": 0}
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "n": n,
        "share": float(values.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "ties": int(sum(1 for d in directions if d == 0)),
    }


def row_direction(row: dict[str, Any], metric: str) -> int:
    """+1 / -1 / 0 for one pair row under ``metric`` (from its ``<metric>_more`` / ``<metric>_less``)."""
    more, less = float(row[f"{metric}_more"]), float(row[f"{metric}_less"])
    return 0 if more == less or math.isnan(more) or math.isnan(less) else (1 if more > less else -1)


def summarise_rows(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = PAIR_METRICS, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Per model: ``n_pairs``, ``share_preferring_more`` (PLL), per metric the share with its seeded 95% bootstrap
    interval and ties, and how many pairs the metrics disagree on or differ in token count (from pair rows)."""
    summary: dict[str, Any] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        summary[model] = {
            "n_pairs": len(mine),
            "share_preferring_more": sum(row_direction(r, "pll") > 0 for r in mine) / len(mine),
            "metrics": {m: bootstrap_share([row_direction(r, m) for r in mine], seed=seed) for m in metrics},
            "metrics_disagree": sum(bool(r["metrics_disagree"]) for r in mine),
            "token_counts_differ": sum(bool(r["token_counts_differ"]) for r in mine),
        }
        if CROWS_METRIC in metrics:
            summary[model]["crows"] = crows_summary(mine)
    return summary


def summarise_pairs(scores: Sequence[PairScore], metrics: Sequence[str] = PAIR_METRICS, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """:func:`summarise_rows` of scored pairs."""
    return summarise_rows([s.to_row(metrics) for s in scores], metrics, seed)


@dataclass(frozen=True)
class PairsResult:
    """Every pair's scores per model, and ``summary`` (:func:`summarise_pairs`: the seeded bootstrap), computed
    once when the result is made and carried with it (the payload, the figure and the table read it)."""

    pairs: tuple[SentencePair, ...]
    scores: tuple[PairScore, ...]
    notices: tuple[str, ...] = ()
    metrics: tuple[str, ...] = PAIR_METRICS
    summary: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", summarise_pairs(self.scores, self.metrics))

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.model for s in self.scores))

    def share_preferring_more(self, model: str) -> float:
        rows = [s for s in self.scores if s.model == model]
        return sum(s.difference > 0 for s in rows) / len(rows) if rows else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "metrics": list(self.metrics),
            "summary": self.summary,
            "rows": [s.to_row(self.metrics) for s in self.scores],
            "notices": list(self.notices),
        }


def score_pairs(
    models: Sequence[LoadedModel],
    pairs: Sequence[SentencePair],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    metrics: Sequence[str] = PAIR_METRICS,
) -> PairsResult:
    """Score both sentences of every pair with every model by every metric (one batched run per model)."""
    if not pairs:
        raise UserInputError("No sentence pairs to score.")
    unknown = [m for m in metrics if m not in PAIR_METRICS]
    if unknown:
        raise UserInputError(f"Unknown metric {unknown[0]!r}; choose from {', '.join(PAIR_METRICS)}.")
    sentence_metrics = [m for m in METRICS if m in metrics]
    notices: list[str] = []
    scores: list[PairScore] = []
    for model_index, loaded in enumerate(models):
        langs = [pair.lang for pair in pairs]
        for code in dict.fromkeys(langs):
            loaded.read_language(code)
        notices += reading_notices(loaded, langs, "non-English pairs", "Its scores for them mean little.")

        def model_progress(fraction: float, message: str, _i: int = model_index) -> None:
            if progress is not None:
                progress((_i + fraction) / len(models), message)

        texts = [s for pair in pairs for s in (pair.sent_more, pair.sent_less)]
        plls = sentence_plls(
            loaded, texts, [code for code in langs for _ in (0, 1)], batch_size, model_progress, sentence_metrics
        )
        for i, pair in enumerate(pairs):
            scores.append(PairScore(pair=pair, model=loaded.key, more=plls[2 * i], less=plls[2 * i + 1]))
    return PairsResult(
        pairs=tuple(pairs), scores=tuple(scores), notices=tuple(dict.fromkeys(notices)), metrics=tuple(metrics)
    )
