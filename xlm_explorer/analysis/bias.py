"""Bias probing: template probes and sentence pairs, each scored by four metrics side by side.

Metrics (natural log; see :mod:`.pll`): ``pll`` (every token masked in turn), ``pll_word_l2r`` (a token
masked with the later pieces of its word), ``aul`` (mean log-probability in the unmasked sentence) and, for
pairs, ``pll_unmodified`` (CrowS-Pairs, Nangia et al. 2020: only the tokens both sentences share, found by
``difflib.SequenceMatcher`` on the token ids, each masked in turn in its own sentence).

A probe's target is **written into the sentence in full** and the sentence is tokenized as a whole, also
when the mask touches other characters (``[MASK]-like``); the target's tokens are those that differ from the
sentence with the mask (common prefix and suffix removed). Every piece of a multi-piece target is scored
(transformers' fill-mask ``targets=`` keeps only the first). For a single-piece target with spaces around
the mask, ``pll`` is exactly the fill-mask log-probability.

A summary gives, per model and metric, the share of pairs where ``sent_more`` scores higher with a seeded
95% bootstrap interval, the ties, and flags where the metrics disagree or the token counts differ.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserInputError
from ..notices import ENGLISH_ONLY, without
from ..tokenization import MASK_PATTERN, count_masks, display_piece, encode_text, reading_notices
from .bias_data import (  # re-exported: the data the probes and pairs read
    CROSSLINGUAL_FILE,
    MAX_PAIRS,
    PAIRS_FILE,
    PROBES_FILE,
    CrosslingualProbe,
    ProbeSet,
    SentencePair,
    load_crosslingual_probe,
    load_pll_pairs,
    load_probe_sets,
    parse_pairs_table,
    parse_probe_sets,
    split_words,
)
from .pll import (  # re-exported: the scoring engine
    DEFAULT_BATCH_SIZE,
    METRICS,
    MaskedJob,
    SentencePLL,
    l2r_job,
    masked_log_probs,
    sentence_plls,
    unmasked_log_probs,
    word_ends,
)

if TYPE_CHECKING:
    from ..models import LoadedModel

FILLER_SLOT = "{filler}"
MAX_FILLERS = 50
MIN_TARGETS = 2
MAX_TARGETS = 10
MAX_WORD_CHARS = 60
#: Metrics of a pair: the sentence metrics plus CrowS-Pairs' unmodified-token PLL.
PAIR_METRICS = (*METRICS, "pll_unmodified")
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

Progress = Callable[[float, str], None]

__all__ = [
    "CROSSLINGUAL_FILE", "CrosslingualProbe", "CrosslingualProbeResult", "load_crosslingual_probe", "run_crosslingual_probe",
    "DEFAULT_BATCH_SIZE", "MAX_PAIRS", "METRICS", "PAIRS_FILE", "PAIR_METRICS", "PROBES_FILE",
    "MaskedJob", "PairScore", "PairsResult", "ProbeResult", "ProbeRow", "ProbeSet", "SentencePLL", "SentencePair",
    "TargetScore", "bootstrap_share", "check_probe", "load_pll_pairs", "load_probe_sets", "masked_log_probs",
    "parse_pairs_table", "parse_probe_sets", "run_probe", "score_pairs", "sentence_plls", "shared_positions",
    "split_words", "summarise_pairs", "unmasked_log_probs",
]


# --------------------------------------------------------------------------------------------------
# Template probes


def check_probe(
    template: str, targets: Sequence[str], fillers: Sequence[str]
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Validate a probe; returns ``(template, targets, fillers)`` or raises a clear :class:`UserInputError`."""
    if not isinstance(template, str) or not template.strip():
        raise UserInputError("The template is empty: write a sentence with one [MASK] and one {filler}.")
    template = template.strip()
    n_masks = count_masks(template)
    if n_masks == 0:
        raise UserInputError("The template has no [MASK]: put [MASK] where the target words (e.g. he / she) go.")
    if n_masks > 1:
        raise UserInputError(f"The template has {n_masks} masks; a probe needs exactly one [MASK] (the target slot).")
    targets = tuple(t.strip() for t in targets if t.strip())
    fillers = tuple(f.strip() for f in fillers if f.strip())
    if not targets:
        raise UserInputError("The target list is empty: give two words to compare at the mask, e.g. 'he, she'.")
    if len(targets) < MIN_TARGETS:
        raise UserInputError(f"Give at least two target words to compare (got {len(targets)}), e.g. 'he, she'.")
    if len(targets) > MAX_TARGETS:
        raise UserInputError(f"{len(targets)} target words given; at most {MAX_TARGETS} per probe.")
    if len(set(targets)) != len(targets):
        raise UserInputError("Two target words are the same; give different words.")
    for word in (*targets, *fillers):
        if len(word) > MAX_WORD_CHARS:
            raise UserInputError(f"{word[:20]!r}… is longer than {MAX_WORD_CHARS} characters.")
        if MASK_PATTERN.search(word) or FILLER_SLOT in word:
            raise UserInputError(f"{word[:40]!r}: targets and fillers cannot contain a mask or {FILLER_SLOT}.")
    n_slots = template.count(FILLER_SLOT)
    if n_slots > 1:
        raise UserInputError(f"The template has {n_slots} {FILLER_SLOT} slots; use one.")
    if n_slots == 1 and not fillers:
        raise UserInputError(
            f"The filler list is empty: give the words that go into {FILLER_SLOT} (e.g. occupations), one per line."
        )
    if n_slots == 0 and fillers:
        raise UserInputError(f"Fillers were given but the template has no {FILLER_SLOT} slot to put them in.")
    if len(fillers) > MAX_FILLERS:
        raise UserInputError(f"{len(fillers)} fillers given; at most {MAX_FILLERS} per run.")
    return template, targets, fillers




@dataclass(frozen=True)
class TargetScore:
    """One target written in full at the mask: the tokens that cover it and their scores (nats).

    ``piece_log_probs``: PLL terms (one token masked); ``l2r_log_probs``: within-word l2r terms;
    ``unmasked_log_probs``: log P(token | the unmasked sentence) (AUL's terms).
    """

    target: str
    pieces: tuple[str, ...]
    piece_ids: tuple[int, ...]
    piece_log_probs: tuple[float, ...]
    unknown: bool
    l2r_log_probs: tuple[float, ...] = ()
    unmasked_log_probs: tuple[float, ...] = ()

    @property
    def log_prob(self) -> float:
        """The PLL of the target's tokens (the probe's main score)."""
        return float(sum(self.piece_log_probs))

    @property
    def n_pieces(self) -> int:
        return len(self.pieces)

    @property
    def multi_piece(self) -> bool:
        return self.n_pieces > 1

    def metric(self, name: str) -> float:
        if name == "pll":
            return self.log_prob
        if name == "pll_word_l2r":
            return float(sum(self.l2r_log_probs))
        if name == "aul":
            return float(np.mean(self.unmasked_log_probs)) if self.unmasked_log_probs else math.nan
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "log_prob": self.log_prob,
            "pieces": list(self.pieces),
            "piece_log_probs": list(self.piece_log_probs),
            "unknown": self.unknown,
            "multi_piece": self.multi_piece,
            **{name: self.metric(name) for name in METRICS},
        }


@dataclass(frozen=True)
class ProbeRow:
    """One filler, one model: every target's scores; ``log_ratio`` = PLL(first target) - PLL(second)."""

    model: str
    filler: str
    sentence: str
    scores: tuple[TargetScore, ...]

    @property
    def log_ratio(self) -> float:
        return self.scores[0].log_prob - self.scores[1].log_prob

    @property
    def preferred(self) -> str:
        """The target with the highest PLL ("tie" when the best two are equal)."""
        ranked = sorted(self.scores, key=lambda s: s.log_prob, reverse=True)
        return "tie" if ranked[0].log_prob == ranked[1].log_prob else ranked[0].target

    def preferred_by(self, metric: str) -> str:
        ranked = sorted(self.scores, key=lambda s: s.metric(metric), reverse=True)
        return "tie" if ranked[0].metric(metric) == ranked[1].metric(metric) else ranked[0].target

    @property
    def metrics_disagree(self) -> bool:
        """The metrics prefer different targets."""
        return len({self.preferred_by(metric) for metric in METRICS}) > 1


@dataclass(frozen=True)
class ProbeResult:
    template: str
    lang: str
    targets: tuple[str, ...]
    fillers: tuple[str, ...]
    rows: tuple[ProbeRow, ...]
    notices: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.model for r in self.rows))

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "lang": self.lang,
            "targets": list(self.targets),
            "fillers": list(self.fillers),
            "models": list(self.models),
            "metrics": list(METRICS),
            "rows": [
                {
                    "model": r.model,
                    "filler": r.filler,
                    "sentence": r.sentence,
                    "log_ratio": r.log_ratio,
                    "preferred": r.preferred,
                    "preferred_by": {metric: r.preferred_by(metric) for metric in METRICS},
                    "metrics_disagree": r.metrics_disagree,
                    "targets": [s.to_dict() for s in r.scores],
                }
                for r in self.rows
            ],
            "notices": list(self.notices),
        }


def fill_template(template: str, filler: str) -> str:
    return template.replace(FILLER_SLOT, filler)


def target_span(loaded: LoadedModel, sentence: str, target: str, lang: str) -> tuple[tuple[int, ...], int, int]:
    """The sentence with ``target`` written in at its mask, tokenized as a whole: ``(ids, start, end)``,
    where ``ids[start:end]`` are the tokens that cover the target (those that differ from the masked
    sentence's tokens once the common prefix and suffix are removed)."""
    masked = encode_text(loaded, sentence, lang).input_ids
    filled = encode_text(loaded, MASK_PATTERN.sub(lambda _: target, sentence, count=1), lang, allow_masks=False).input_ids
    if len(filled) > loaded.max_positions:
        raise UserInputError(f"The sentence with its target is longer than {loaded.max_positions} positions.")
    prefix = 0
    while prefix < min(len(masked), len(filled)) - 1 and masked[prefix] == filled[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(masked), len(filled)) - prefix - 1 and masked[-1 - suffix] == filled[-1 - suffix]:
        suffix += 1
    end = max(prefix + 1, len(filled) - suffix)
    return filled, prefix, min(end, len(filled) - 1)


def _target_jobs(loaded: LoadedModel, ids: tuple[int, ...], start: int, end: int) -> tuple[list[MaskedJob], list[MaskedJob]]:
    """PLL jobs and within-word l2r jobs for the tokens ``ids[start:end]``."""
    pieces = loaded.tokenizer.convert_ids_to_tokens(list(ids))
    ends = word_ends(pieces, [i in loaded.special_ids for i in ids])
    pll = [MaskedJob(ids, p) for p in range(start, end)]
    l2r = [l2r_job(ids, p, min(ends[p], len(ids) - 2)) for p in range(start, end)]
    return pll, l2r


def run_probe(
    models: Sequence[LoadedModel],
    template: str,
    targets: Sequence[str],
    fillers: Sequence[str],
    lang: str = "en",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> ProbeResult:
    """Score every target at the mask for every filler and model, by every metric (one batched run per model)."""
    template, targets, fillers = check_probe(template, targets, fillers)
    notices: list[str] = []
    rows: list[ProbeRow] = []
    for model_index, loaded in enumerate(models):
        model_lang = loaded.check_language(loaded.reads(lang))
        notices += reading_notices(loaded, [lang], f"{lang} probe", "Its scores mean little.")
        sentences = [(f, fill_template(template, f)) for f in (fillers or ("",))]
        spans: dict[tuple[str, str], tuple[tuple[int, ...], int, int]] = {}
        jobs: list[MaskedJob] = []
        where: dict[tuple[str, str], tuple[int, int, int]] = {}
        for filler, sentence in sentences:
            for target in targets:
                ids, start, end = spans[(filler, target)] = target_span(loaded, sentence, target, model_lang)
                pll_jobs, l2r_jobs = _target_jobs(loaded, ids, start, end)
                where[(filler, target)] = (len(jobs), len(jobs) + len(pll_jobs), len(jobs) + 2 * len(pll_jobs))
                jobs += pll_jobs + l2r_jobs
        lang_id = loaded.lang2id.get(model_lang)

        def model_progress(fraction: float, message: str, _i: int = model_index) -> None:
            if progress is not None:
                progress((_i + fraction) / len(models), message)

        scores = masked_log_probs(loaded, jobs, batch_size, lang_id, model_progress)
        span_keys = list(spans)
        unmasked = unmasked_log_probs(loaded, [spans[k][0] for k in span_keys], [lang_id] * len(span_keys), batch_size)
        unmasked_by_key = dict(zip(span_keys, unmasked))
        unk = loaded.tokenizer.unk_token_id
        split_targets: dict[str, int] = {}
        for filler, sentence in sentences:
            target_scores = []
            for target in targets:
                ids, start, end = spans[(filler, target)]
                a, b, c = where[(filler, target)]
                pieces = loaded.tokenizer.convert_ids_to_tokens(list(ids[start:end]))
                if end - start > 1:
                    split_targets.setdefault(target, end - start)
                target_scores.append(
                    TargetScore(
                        target=target,
                        pieces=tuple(display_piece(p) for p in pieces),
                        piece_ids=tuple(ids[start:end]),
                        piece_log_probs=tuple(float(v) for v in scores[a:b]),
                        unknown=unk in ids[start:end],
                        l2r_log_probs=tuple(float(v) for v in scores[b:c]),
                        unmasked_log_probs=tuple(float(v) for v in unmasked_by_key[(filler, target)][start - 1 : end - 1]),
                    )
                )
            rows.append(ProbeRow(model=loaded.key, filler=filler, sentence=sentence, scores=tuple(target_scores)))
        for target, n in split_targets.items():
            notices.append(
                f"{loaded.key} splits {target!r} into {n} pieces; every piece is scored (PLL sums them, so a "
                "multi-piece word scores lower for that reason alone; pll_word_l2r corrects for part of that)."
            )
        if any(s.unknown for r in rows if r.model == loaded.key for s in r.scores):
            notices.append(f"{loaded.key} does not know some characters of a target (<unk>); those scores are not meaningful.")
    return ProbeResult(
        template=template,
        lang=lang,
        targets=targets,
        fillers=fillers,
        rows=tuple(rows),
        notices=tuple(dict.fromkeys(notices)),
    )


# --------------------------------------------------------------------------------------------------
# Sentence pairs (CrowS-Pairs style)


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
    """Per model: ``pairs``, ``share_preferring_more`` (PLL), per metric the share with its seeded 95% bootstrap
    interval and ties, and how many pairs the metrics disagree on or differ in token count (from pair rows)."""
    summary: dict[str, Any] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        summary[model] = {
            "pairs": len(mine),
            "share_preferring_more": sum(row_direction(r, "pll") > 0 for r in mine) / len(mine),
            "metrics": {m: bootstrap_share([row_direction(r, m) for r in mine], seed=seed) for m in metrics},
            "metrics_disagree": sum(bool(r["metrics_disagree"]) for r in mine),
            "token_counts_differ": sum(bool(r["token_counts_differ"]) for r in mine),
        }
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
            loaded.check_language(loaded.reads(code))
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


# --------------------------------------------------------------------------------------------------
# One probe across languages


@dataclass(frozen=True)
class CrosslingualProbeResult:
    """``log_ratio[c][j]``: PLL(masculine) - PLL(feminine) for concept ``c`` in column ``j``; columns are
    ``(model, lang)`` (100-1280 in every language, en-2048 in English as the reference)."""

    probe_id: str
    concepts: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    fillers: tuple[tuple[str, ...], ...]  # per column, the filler of each concept
    targets: tuple[tuple[str, str], ...]  # per column
    log_ratio: tuple[tuple[float, ...], ...]
    notes: dict[str, str]
    notices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe_id,
            "concepts": list(self.concepts),
            "columns": [{"model": m, "lang": lang, "targets": list(t), "fillers": list(f)}
                        for (m, lang), t, f in zip(self.columns, self.targets, self.fillers)],
            "log_ratio": [list(row) for row in self.log_ratio],
            "notes": dict(self.notes),
            "notices": list(self.notices),
        }


def run_crosslingual_probe(
    multilingual: LoadedModel | None,
    english: LoadedModel | None,
    probe: Any,
    languages: Sequence[str],
    progress: Progress | None = None,
) -> CrosslingualProbeResult:
    """Run one cross-lingual probe: 100-1280 in every language of ``languages``, en-2048 on the English one."""
    jobs: list[tuple[LoadedModel, str]] = []
    if english is not None and "en" in languages:
        jobs.append((english, "en"))
    if multilingual is not None:
        jobs += [(multilingual, lang) for lang in languages]
    columns, fillers, targets, ratios, notices = [], [], [], [], []
    for index, (loaded, lang) in enumerate(jobs):
        probe_set = probe.probes[lang]

        def part(fraction: float, message: str, _i: int = index) -> None:
            if progress is not None:
                progress((_i + fraction) / len(jobs), message)

        result = run_probe([loaded], probe_set.template, probe_set.targets, probe_set.fillers, lang, progress=part)
        columns.append((loaded.key, lang))
        fillers.append(probe_set.fillers)
        targets.append(tuple(probe_set.targets[:2]))
        ratios.append([row.log_ratio for row in result.rows])
        notices += without(result.notices, ENGLISH_ONLY)  # en-2048 reads only the English column
    matrix = tuple(tuple(column[c] for column in ratios) for c in range(len(probe.concepts)))
    return CrosslingualProbeResult(
        probe_id=probe.id, concepts=probe.concepts, columns=tuple(columns), fillers=tuple(fillers), targets=tuple(targets),
        log_ratio=matrix, notes={lang: probe.probes[lang].note for lang in languages}, notices=tuple(dict.fromkeys(notices)),
    )
