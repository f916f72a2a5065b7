"""Template probes: target words at a [MASK], fillers in a ``{filler}`` slot, every target scored by every metric.

A probe's target is **written into the sentence in full** and the sentence is tokenized as a whole, also
when the mask touches other characters (``[MASK]-like``); the target's tokens are those that differ from the
sentence with the mask (common prefix and suffix removed). Every piece of a multi-piece target is scored
(transformers' fill-mask ``targets=`` keeps only the first). For a single-piece target with spaces around
the mask, ``pll`` is exactly the fill-mask log-probability. Metrics: :mod:`..pll`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UserInputError
from ...tokenization import MASK_PATTERN, Encoding, count_masks, differing_span, display_piece, encode_text, reading_notices
from ..pll import DEFAULT_BATCH_SIZE, METRICS, MaskedJob, aula_of, l2r_job, masked_log_probs, unmasked_log_probs, word_ends

if TYPE_CHECKING:
    from ...models import LoadedModel

Progress = Callable[[float, str], None]

FILLER_SLOT = "{filler}"
MAX_FILLERS = 50
MIN_TARGETS = 2
MAX_TARGETS = 10
MAX_WORD_CHARS = 60


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
    ``unmasked_log_probs``: log P(token | the unmasked sentence) (AUL's terms); ``received_attention``: the
    attention those tokens receive in the filled sentence (AULA's weights).
    """

    target: str
    pieces: tuple[str, ...]
    piece_ids: tuple[int, ...]
    piece_log_probs: tuple[float, ...]
    unknown: bool
    l2r_log_probs: tuple[float, ...] = ()
    unmasked_log_probs: tuple[float, ...] = ()
    received_attention: tuple[float, ...] = ()

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
        if name == "aula":
            return aula_of(self.unmasked_log_probs, self.received_attention)
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


def target_span(loaded: LoadedModel, sentence: str, target: str, lang: str) -> tuple[Encoding, int, int]:
    """The sentence with ``target`` written in at its mask, tokenized as a whole: ``(encoding, start, end)``,
    where ``encoding.input_ids[start:end]`` are the tokens that cover the target (those that differ from the
    masked sentence's tokens once the common prefix and suffix are removed)."""
    masked = encode_text(loaded, sentence, lang).input_ids
    encoding = encode_text(loaded, MASK_PATTERN.sub(lambda _: target, sentence, count=1), lang, allow_masks=False)
    filled = encoding.input_ids
    if len(filled) > loaded.max_positions:
        raise UserInputError(f"The sentence with its target is longer than {loaded.max_positions} positions.")
    prefix, end = differing_span(filled, masked)
    return encoding, prefix, min(end, len(filled) - 1)


def _target_jobs(encoding: Encoding, start: int, end: int) -> tuple[list[MaskedJob], list[MaskedJob]]:
    """PLL jobs and within-word l2r jobs for the tokens ``encoding.input_ids[start:end]``."""
    ids = encoding.input_ids
    ends = word_ends(encoding.word_final)
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
        model_lang = loaded.read_language(lang)
        notices += reading_notices(loaded, [lang], f"{lang} probe", "Its scores mean little.")
        sentences = [(f, fill_template(template, f)) for f in (fillers or ("",))]
        spans: dict[tuple[str, str], tuple[tuple[int, ...], int, int]] = {}
        jobs: list[MaskedJob] = []
        where: dict[tuple[str, str], tuple[int, int, int]] = {}
        for filler, sentence in sentences:
            for target in targets:
                encoding, start, end = target_span(loaded, sentence, target, model_lang)
                spans[(filler, target)] = (encoding.input_ids, start, end)
                pll_jobs, l2r_jobs = _target_jobs(encoding, start, end)
                where[(filler, target)] = (len(jobs), len(jobs) + len(pll_jobs), len(jobs) + 2 * len(pll_jobs))
                jobs += pll_jobs + l2r_jobs
        lang_id = loaded.lang2id.get(model_lang)

        def model_progress(fraction: float, message: str, _i: int = model_index) -> None:
            if progress is not None:
                progress((_i + fraction) / len(models), message)

        scores = masked_log_probs(loaded, jobs, batch_size, lang_id, model_progress)
        span_keys = list(spans)
        received: list[np.ndarray] = []
        unmasked = unmasked_log_probs(loaded, [spans[k][0] for k in span_keys], [lang_id] * len(span_keys), batch_size, received)
        unmasked_by_key = dict(zip(span_keys, unmasked))
        received_by_key = dict(zip(span_keys, received))
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
                        received_attention=tuple(float(v) for v in received_by_key[(filler, target)][start - 1 : end - 1]),
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
