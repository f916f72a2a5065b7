"""Answers of several pieces: whole words of up to N BPE pieces at one mask (N <= :data:`MAX_PIECES`).

One ``[MASK]`` predicts one piece, so a word the vocabulary splits can never be a fill-mask answer. Here the mask
becomes n masks for each n = 1..N and the word is filled in **left to right by beam search**: at step i the beams'
inputs (pieces 1..i-1 filled, the rest still masked) run in one batch, and each beam is extended by the pieces
the model gives most probability at mask i. Pieces 1..n-1 must continue their word (no ``</w>``) and piece n must
end it, so every candidate is one whole word of exactly n pieces. Its **chain score** is
sum_i log P(piece_i | the sentence, pieces < i filled in, the later ones masked): the log-probability of the word
under that masking order, given that it has n pieces.

Chain scores of different lengths answer different questions (the model is told the length by the number of
masks), so the candidates of every length are ranked together by the **completed sentence's score**: PLL-word-l2r
(Kauf & Ivanova, 2023; minicons' ``within_word_l2r``), each piece scored with itself and the later pieces of its
word masked. Plain PLL (Salazar et al., 2020) is returned beside it; it rewards words of many pieces for predicting
their own pieces from each other, which is what the l2r variant corrects. Both are computed on the token ids the
model saw (no re-tokenization of the completed text).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UserInputError
from ..forward import run_batch
from ..tokenization import WORD_END, encode_text, is_word_final
from .pll import MaskedJob, l2r_job, masked_log_probs, word_ends

if TYPE_CHECKING:
    from ..models import LoadedModel

MAX_PIECES = 4
DEFAULT_PIECES = 2
MAX_BEAM, DEFAULT_BEAM = 32, 8
MAX_PER_LENGTH, DEFAULT_PER_LENGTH = 10, 5

#: Called as ``progress(fraction, message)``; may raise to stop the run.
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class WordCandidate:
    """One whole word at the mask: its pieces (raw, ``</w>`` on the last), the chain score of its length, and the
    completed sentence's PLL and PLL-word-l2r (natural log)."""

    word: str
    pieces: tuple[str, ...]
    piece_ids: tuple[int, ...]
    n_pieces: int
    chain_log_prob: float
    pll: float
    pll_word_l2r: float
    #: the tokenizer writes ``word`` with exactly these pieces (else the model sees a split it never met in training)
    canonical: bool = True


@dataclass(frozen=True)
class MultiPieceResult:
    """``candidates`` of every length, best first by PLL-word-l2r (within a length, by chain score, best first)."""

    model: str
    lang: str
    text: str
    max_pieces: int
    beam_width: int
    candidates: tuple[WordCandidate, ...]
    notices: tuple[str, ...] = ()

    def of_length(self, n: int) -> tuple[WordCandidate, ...]:
        return tuple(sorted((c for c in self.candidates if c.n_pieces == n), key=lambda c: -c.chain_log_prob))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON; each candidate with its ``rank`` (1 = best completed sentence)."""
        data = json.loads(json.dumps(asdict(self)))
        for rank, candidate in enumerate(data["candidates"], start=1):
            candidate["rank"] = rank
        return data


def piece_classes(loaded: LoadedModel, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(V,) bool masks of the pieces that continue a word and of those that end one; special tokens are neither."""
    pieces = loaded.tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    final = torch.tensor([is_word_final(p) for p in pieces], dtype=torch.bool)
    usable = torch.ones(vocab_size, dtype=torch.bool)
    usable[[i for i in loaded.special_ids if i < vocab_size]] = False
    return usable & ~final, usable & final


def beam_fill(
    loaded: LoadedModel, ids: tuple[int, ...], mask_at: int, n: int, beam_width: int, keep: int,
    lang_id: int | None = None, classes: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[tuple[tuple[int, ...], float]]:
    """The ``keep`` best whole words of exactly ``n`` pieces at ``ids[mask_at]`` (a mask) by chain score, found by a
    beam of ``beam_width``: [(piece ids, chain log-prob)], best first. ``classes``: :func:`piece_classes`, when the
    caller already has them (one request fills several lengths)."""
    mask_id = loaded.mask_token_id
    beams: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
    continuing, ending = classes if classes is not None else (None, None)
    for step in range(n):
        inputs = [ids[:mask_at] + prefix + (mask_id,) * (n - step) + ids[mask_at + 1:] for prefix, _ in beams]
        batch = run_batch(loaded, inputs, lang_ids=lang_id, logits_at=[(row, mask_at + step) for row in range(len(inputs))])
        log_probs = torch.log_softmax(batch.logits.double(), dim=-1)  # (beams, V)
        if continuing is None:
            continuing, ending = piece_classes(loaded, log_probs.shape[-1])
        allowed = ending if step == n - 1 else continuing
        totals = torch.tensor([score for _, score in beams], dtype=torch.float64)[:, None] + log_probs
        totals[:, ~allowed] = float("-inf")
        width = keep if step == n - 1 else beam_width
        values, flat = totals.flatten().topk(min(width, int(allowed.sum()) * len(beams)))
        vocab = log_probs.shape[-1]
        beams = [(beams[int(i) // vocab][0] + (int(i) % vocab,), float(v))
                 for v, i in zip(values.tolist(), flat.tolist()) if np.isfinite(v)]
        if not beams:
            return []
    return beams


def sentence_scores(loaded: LoadedModel, sentences: list[tuple[tuple[int, ...], tuple[bool, ...]]], lang_id: int | None,
                    progress: Progress | None = None) -> list[tuple[float, float]]:
    """(PLL, PLL-word-l2r) of each sentence given as (token ids ``<s>`` ... ``</s>``, which of them end a word), as
    :func:`~.pll.sentence_plls` scores an encoded text; all masked copies in one batched run."""
    jobs: list[MaskedJob] = []
    spans = []
    for ids, word_final in sentences:
        ends = word_ends(word_final)
        start = len(jobs)
        jobs += [MaskedJob(ids, p) for p in range(1, len(ids) - 1)]
        middle = len(jobs)
        jobs += [l2r_job(ids, p, min(ends[p], len(ids) - 2)) for p in range(1, len(ids) - 1)]
        spans.append((start, middle, len(jobs)))
    scores = masked_log_probs(loaded, jobs, lang_id=lang_id, progress=progress)
    return [(float(scores[a:b].sum()), float(scores[b:c].sum())) for a, b, c in spans]


def is_canonical(loaded: LoadedModel, word: str, piece_ids: tuple[int, ...], lang: str) -> bool:
    """Whether the tokenizer, reading ``word`` alone in ``lang``, writes it with exactly ``piece_ids``."""
    try:
        return tuple(encode_text(loaded, word, lang, allow_masks=False).input_ids[1:-1]) == tuple(piece_ids)
    except UserInputError:
        return False


def fill_word(
    loaded: LoadedModel, text: str, lang: str = "en", max_pieces: int = DEFAULT_PIECES,
    beam_width: int = DEFAULT_BEAM, per_length: int = DEFAULT_PER_LENGTH, progress: Progress | None = None,
) -> MultiPieceResult:
    """Whole-word answers of 1..``max_pieces`` pieces at the one mask of ``text``: ``per_length`` of each length by
    beam search, then all of them ranked by the completed sentence's PLL-word-l2r."""
    encoding = encode_text(loaded, text, lang)
    if len(encoding.mask_positions) != 1:
        raise UserInputError(f"Put exactly one [MASK] where the word goes (this text has {len(encoding.mask_positions)}); "
                             "it is filled with up to the number of pieces you ask for.")
    ids, mask_at = tuple(encoding.input_ids), encoding.mask_positions[0]
    lang_id = loaded.lang2id.get(encoding.lang)
    found: list[tuple[tuple[int, ...], float]] = []
    classes = piece_classes(loaded, loaded.vocab_size)
    for n in range(1, max_pieces + 1):
        if progress is not None:
            progress((n - 1) / (max_pieces + 1), f"{loaded.key}: words of {n} piece{'s' * (n > 1)}, beam of {beam_width}")
        found += beam_fill(loaded, ids, mask_at, n, beam_width, per_length, lang_id, classes)
    finals = tuple(encoding.word_final)
    sentences = [(ids[:mask_at] + pieces + ids[mask_at + 1:],
                  finals[:mask_at] + (False,) * (len(pieces) - 1) + (True,) + finals[mask_at + 1:]) for pieces, _ in found]
    part = None if progress is None else (
        lambda f, message: progress((max_pieces + f) / (max_pieces + 1), f"completed sentences: {message}"))
    scores = sentence_scores(loaded, sentences, lang_id, part)
    candidates = []
    for (pieces, chain), (pll, l2r) in zip(found, scores):
        raw = tuple(loaded.tokenizer.convert_ids_to_tokens(list(pieces)))
        word = "".join(p.replace(WORD_END, "") for p in raw)
        candidates.append(WordCandidate(word=word, pieces=raw, piece_ids=pieces, n_pieces=len(pieces), chain_log_prob=chain,
                                        pll=pll, pll_word_l2r=l2r, canonical=is_canonical(loaded, word, pieces, encoding.lang)))
    candidates.sort(key=lambda c: -c.pll_word_l2r)
    return MultiPieceResult(model=loaded.key, lang=encoding.lang, text=text, max_pieces=max_pieces, beam_width=beam_width,
                            candidates=tuple(candidates), notices=encoding.notices)
