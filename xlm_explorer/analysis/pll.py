"""Pseudo-log-likelihood scoring of sentences: the engine behind bias probes, sentence pairs and the
``python -m xlm_explorer.score`` batch command.

Metrics of a sentence (natural log, over the tokens between ``<s>`` and ``</s>``, each text tokenized with
its own language's rules):

- ``pll`` (Salazar et al. 2020): each token masked in turn, the sum of log P(token).
- ``pll_word_l2r`` (Kauf & Ivanova 2023; minicons' ``within_word_l2r``): as ``pll``, but a token is scored
  with itself *and the later pieces of the same word* masked (a word ends at a piece ending in ``</w>``), so
  a word split into many pieces is not rewarded for predicting its own pieces from each other.
- ``aul`` (Kaneko & Bollegala 2022): the mean over tokens of log P(token | the unmasked sentence), one pass.
- ``aula`` (Kaneko & Bollegala 2022, "AULA"): as ``aul``, each term weighted by the attention its token
  receives (averaged over layers, heads and every query position, ``<s>`` and ``</s>`` included), as their
  ``evaluate.py`` computes it: ``mean_i(a_i * log P(token_i | sentence))``.

Masked copies of any length are batched together (right padding, masked out), the LM head runs only at
the scored position of each copy, identical copies run once, and only the log-probabilities asked for are
kept (never a whole vocabulary row per copy).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..forward import run_batch
from ..tokenization import display_piece, encode_text

if TYPE_CHECKING:
    from ..models import LoadedModel

METRICS = ("pll", "pll_word_l2r", "aul", "aula")
DEFAULT_BATCH_SIZE = 32

#: Called as ``progress(fraction, message)``; may raise to stop the run (the page's Stop button does).
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class MaskedJob:
    """Score ``ids[position]`` given ``ids`` with every position in ``masked`` replaced by ``<mask>``."""

    ids: tuple[int, ...]
    position: int
    masked: tuple[int, ...] = ()

    def copy(self, mask_id: int) -> tuple[int, ...]:
        """The masked input the model sees."""
        hidden = set(self.masked) | {self.position}
        return tuple(mask_id if i in hidden else token for i, token in enumerate(self.ids))

    @property
    def target(self) -> int:
        return self.ids[self.position]


def _as_job(job: MaskedJob | tuple[Sequence[int], int]) -> MaskedJob:
    if isinstance(job, MaskedJob):
        return job
    ids, position = job
    return MaskedJob(tuple(int(i) for i in ids), int(position))


def eta_message(done: int, total: int, started: float, what: str) -> str:
    """ "what 1,200 of 4,000, about 40 s left" (no estimate before the first batch is done)."""
    text = f"{what} {done:,} of {total:,}"
    elapsed = time.perf_counter() - started
    if 0 < done < total and elapsed > 0.5:
        left = elapsed / done * (total - done)
        text += f", about {left:.0f} s left" if left < 120 else f", about {left / 60:.0f} min left"
    return text


def masked_log_probs(
    loaded: LoadedModel,
    jobs: Sequence[MaskedJob | tuple[Sequence[int], int]],
    batch_size: int = DEFAULT_BATCH_SIZE,
    lang_id: int | Sequence[int | None] | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """log P(target | masked copy) for each job: (len(jobs),) float64, natural log.

    A job is a :class:`MaskedJob` or ``(ids, position)`` (only that position masked). Identical masked
    copies run once (two targets at the same masked slot share a pass); copies are sorted by length and
    run ``batch_size`` at a time, padded. ``lang_id`` is one id or one per job.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    jobs = [_as_job(job) for job in jobs]
    per_job_lang = list(lang_id) if isinstance(lang_id, Sequence) else [lang_id] * len(jobs)
    mask_id = loaded.mask_token_id
    copies: dict[tuple, dict[int, float]] = {}  # (copy, position, lang) -> {target id: log prob}
    for job, lang in zip(jobs, per_job_lang):
        copies.setdefault((job.copy(mask_id), job.position, lang), {})[job.target] = np.nan
    order = sorted(copies, key=lambda key: len(key[0]))
    started = time.perf_counter()
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = run_batch(
            loaded,
            [copy for copy, _, _ in chunk],
            lang_ids=[lang for _, _, lang in chunk],
            logits_at=[(row, position) for row, (_, position, _) in enumerate(chunk)],
        )
        log_probs = torch.log_softmax(batch.logits.double(), dim=-1)
        for row, key in enumerate(chunk):
            targets = copies[key]
            values = log_probs[row, list(targets)].tolist()
            for target, value in zip(list(targets), values):
                targets[target] = value
        if progress is not None:
            done = min(start + batch_size, len(order))
            progress(done / len(order), eta_message(done, len(order), started, f"{loaded.key}: masked copy"))
    out = np.empty(len(jobs), dtype=np.float64)
    for j, (job, lang) in enumerate(zip(jobs, per_job_lang)):
        out[j] = copies[(job.copy(mask_id), job.position, lang)][job.target]
    return out


def unmasked_log_probs(
    loaded: LoadedModel,
    sentences: Sequence[Sequence[int]],
    lang_ids: Sequence[int | None] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    received: list[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """log P(token | the whole unmasked sentence) at positions 1..T-2 of each sentence (AUL's input).

    One forward pass per batch; returns one (T - 2,) float64 array per sentence. ``received`` (a list, filled in
    place): the attention each of those tokens receives, averaged over layers, heads and the sentence's T query
    positions (AULA's weights; padding excluded).
    """
    lang_ids = list(lang_ids) if lang_ids is not None else [None] * len(sentences)
    out: list[np.ndarray] = [np.empty(0)] * len(sentences)
    if received is not None:
        received[:] = [np.empty(0)] * len(sentences)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    for start in range(0, len(order), batch_size):
        rows = [i for i in order[start : start + batch_size] if len(sentences[i]) > 2]
        if not rows:
            continue
        pairs = [(r, p) for r, i in enumerate(rows) for p in range(1, len(sentences[i]) - 1)]
        batch = run_batch(loaded, [sentences[i] for i in rows], lang_ids=[lang_ids[i] for i in rows], logits_at=pairs,
                          attentions=received is not None)
        if received is not None:
            for r, i in enumerate(rows):
                n = len(sentences[i])  # (layers, heads, queries, keys) of this row, without padding -> per key
                received[i] = batch.attentions[:, r, :, :n, :n].double().mean(dim=(0, 1, 2))[1:-1].numpy()
        log_probs = torch.log_softmax(batch.logits.double(), dim=-1)
        targets = torch.tensor([sentences[rows[r]][p] for r, p in pairs])
        values = log_probs[torch.arange(len(pairs)), targets].numpy()
        offset = 0
        for i in rows:
            n = len(sentences[i]) - 2
            out[i] = values[offset : offset + n].copy()
            offset += n
    return out


def word_ends(word_final: Sequence[bool]) -> list[int]:
    """For each token, the index of the last token of its word, from ``word_final`` (``Encoding.word_final``:
    read from the pieces before the vocabulary lookup, so an ``<unk>`` inside a word does not end it; the last
    token ends the last word)."""
    ends = [0] * len(word_final)
    end = len(word_final) - 1
    for i in range(len(word_final) - 1, -1, -1):
        if word_final[i]:
            end = i
        ends[i] = end
    return ends


def l2r_job(ids: Sequence[int], position: int, last: int) -> MaskedJob:
    """Score ``ids[position]`` with it and the later pieces of its word (up to ``last``) masked."""
    return MaskedJob(tuple(ids), position, tuple(range(position + 1, last + 1)))


def aula_of(log_probs: Sequence[float], received: Sequence[float]) -> float:
    """AULA: the mean over tokens of (attention received) x log P(token | the unmasked sentence); NaN if absent."""
    if not len(log_probs) or len(received) != len(log_probs):
        return float("nan")
    return float(np.mean(np.asarray(received, dtype=np.float64) * np.asarray(log_probs, dtype=np.float64)))


@dataclass(frozen=True)
class SentencePLL:
    """Scores of one sentence: per token between ``<s>`` and ``</s>`` (``tokens`` are display pieces).

    ``token_log_probs`` are PLL terms (one token masked); ``word_l2r_log_probs`` the within-word l2r terms;
    ``unmasked_log_probs`` the AUL terms; ``received_attention`` AULA's weights. A metric not computed has an
    empty tuple.
    """

    model: str
    text: str
    lang: str
    tokens: tuple[str, ...]
    token_log_probs: tuple[float, ...]
    input_ids: tuple[int, ...] = ()
    word_l2r_log_probs: tuple[float, ...] = ()
    unmasked_log_probs: tuple[float, ...] = ()
    pieces: tuple[str, ...] = field(default=(), repr=False)
    received_attention: tuple[float, ...] = ()

    @property
    def pll(self) -> float:
        return float(sum(self.token_log_probs))

    @property
    def pll_word_l2r(self) -> float:
        return float(sum(self.word_l2r_log_probs))

    @property
    def aul(self) -> float:
        return float(np.mean(self.unmasked_log_probs)) if self.unmasked_log_probs else float("nan")

    @property
    def aula(self) -> float:
        return aula_of(self.unmasked_log_probs, self.received_attention)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def mean_log_prob(self) -> float:
        return self.pll / self.n_tokens if self.n_tokens else 0.0

    def metric(self, name: str) -> float:
        return {"pll": self.pll, "pll_word_l2r": self.pll_word_l2r, "aul": self.aul, "aula": self.aula}[name]


def sentence_plls(
    loaded: LoadedModel,
    texts: Sequence[str],
    lang: str | Sequence[str] = "en",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    metrics: Sequence[str] = ("pll",),
) -> tuple[SentencePLL, ...]:
    """Scores of each text (mask markers in the text are read as plain text); all copies batched together.

    ``metrics`` chooses among :data:`METRICS` (``pll`` is always computed).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {METRICS}")
    langs = [lang] * len(texts) if isinstance(lang, str) else list(lang)
    encodings = [encode_text(loaded, text, code, allow_masks=False) for text, code in zip(texts, langs)]
    lang_ids = [loaded.lang2id.get(encoding.lang) for encoding in encodings]
    jobs: list[MaskedJob] = []
    job_langs: list[int | None] = []
    pll_spans, l2r_spans = [], []
    for encoding, lang_id in zip(encodings, lang_ids):
        ids = encoding.input_ids
        start = len(jobs)
        jobs += [MaskedJob(ids, p) for p in range(1, len(ids) - 1)]
        pll_spans.append((start, len(jobs)))
        start = len(jobs)
        if "pll_word_l2r" in metrics:
            ends = word_ends(encoding.word_final)
            jobs += [l2r_job(ids, p, min(ends[p], len(ids) - 2)) for p in range(1, len(ids) - 1)]
        l2r_spans.append((start, len(jobs)))
        job_langs += [lang_id] * (len(jobs) - pll_spans[-1][0])
    scores = masked_log_probs(loaded, jobs, batch_size, job_langs, progress)
    received: list[np.ndarray] | None = [] if "aula" in metrics else None
    unmasked = (
        unmasked_log_probs(loaded, [e.input_ids for e in encodings], lang_ids, batch_size, received)
        if {"aul", "aula"} & set(metrics)
        else [np.empty(0)] * len(encodings)
    )
    weights = received if received is not None else [np.empty(0)] * len(encodings)
    return tuple(
        SentencePLL(
            model=loaded.key,
            text=text,
            lang=code,
            tokens=tuple(display_piece(t) for t in encoding.tokens[1:-1]),
            token_log_probs=tuple(float(v) for v in scores[a:b]),
            input_ids=encoding.input_ids,
            word_l2r_log_probs=tuple(float(v) for v in scores[c:d]),
            unmasked_log_probs=tuple(float(v) for v in aul),
            pieces=tuple(encoding.tokens[1:-1]),
            received_attention=tuple(float(v) for v in weight),
        )
        for text, code, encoding, (a, b), (c, d), aul, weight in zip(
            texts, langs, encodings, pll_spans, l2r_spans, unmasked, weights)
    )
