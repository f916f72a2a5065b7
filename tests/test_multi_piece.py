"""Answers of several pieces: whole words of up to N pieces at one mask, by beam search, checked against an exhaustive
enumeration of every two-piece word (N = 2) and against the sentence scores computed one masked copy at a time."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xlm_explorer import service
from xlm_explorer.analysis.fill_mask import predict_masks
from xlm_explorer.analysis.multi_piece import beam_fill, fill_word, piece_classes
from xlm_explorer.errors import UserInputError
from xlm_explorer.forward import ForwardCache, run_batch
from xlm_explorer.tokenization import encode_text, is_word_final

TEXT = "The cat sat on the [MASK] ."


def encoded(loaded, text: str = TEXT, lang: str = "en") -> tuple[tuple[int, ...], int]:
    encoding = encode_text(loaded, text, lang)
    return tuple(encoding.input_ids), encoding.mask_positions[0]


def log_probs_at(loaded, inputs: list[tuple[int, ...]], position: int) -> torch.Tensor:
    """(len(inputs), V) natural-log probabilities at ``position``, 256 inputs at a time."""
    rows = []
    for start in range(0, len(inputs), 256):
        chunk = inputs[start:start + 256]
        out = run_batch(loaded, chunk, logits_at=[(r, position) for r in range(len(chunk))])
        rows.append(torch.log_softmax(out.logits.double(), dim=-1))
    return torch.cat(rows)


def exhaustive_two_pieces(loaded, ids: tuple[int, ...], mask_at: int) -> dict[tuple[int, int], float]:
    """Every (continuing piece, ending piece) word: log P(p1 | two masks) + log P(p2 | p1, mask)."""
    mask = loaded.mask_token_id
    first = log_probs_at(loaded, [ids[:mask_at] + (mask, mask) + ids[mask_at + 1:]], mask_at)[0]
    continuing, ending = piece_classes(loaded, first.shape[-1])
    starts = torch.nonzero(continuing).flatten().tolist()
    second = log_probs_at(loaded, [ids[:mask_at] + (p1, mask) + ids[mask_at + 1:] for p1 in starts], mask_at + 1)
    ends = torch.nonzero(ending).flatten().tolist()
    return {(p1, p2): float(first[p1] + second[row, p2]) for row, p1 in enumerate(starts) for p2 in ends}


@pytest.mark.slow  # over 5 s on 2 cores: out of the quick tier
@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_a_beam_as_wide_as_the_vocabulary_finds_exactly_the_exhaustive_best_two_piece_words(manager, key: str) -> None:
    loaded = manager.get(key)
    ids, mask_at = encoded(loaded)
    every = exhaustive_two_pieces(loaded, ids, mask_at)
    best = sorted(every.items(), key=lambda item: -item[1])[:10]
    n_continuing = int(piece_classes(loaded, len(loaded.tokenizer))[0].sum())
    found = beam_fill(loaded, ids, mask_at, 2, beam_width=n_continuing, keep=10)
    assert [pieces for pieces, _ in found] == [pieces for pieces, _ in best]
    np.testing.assert_allclose([s for _, s in found], [s for _, s in best], rtol=0, atol=1e-9)
    narrow = beam_fill(loaded, ids, mask_at, 2, beam_width=8, keep=10)  # the default beam: each score is exact
    for pieces, score in narrow:
        assert score == pytest.approx(every[pieces], abs=1e-9)
    assert [s for _, s in narrow] == sorted((s for _, s in narrow), reverse=True)


def test_every_candidate_is_one_whole_word_of_its_length_and_one_piece_is_fill_mask(manager) -> None:
    loaded = manager.get("100-1280")
    result = fill_word(loaded, TEXT, "en", max_pieces=3, beam_width=4, per_length=5)
    assert {c.n_pieces for c in result.candidates} == {1, 2, 3}
    for candidate in result.candidates:
        assert [is_word_final(p) for p in candidate.pieces] == [False] * (candidate.n_pieces - 1) + [True]
        assert not set(candidate.piece_ids) & loaded.special_ids
        assert candidate.word == "".join(candidate.pieces).replace("</w>", "")
    predicted = predict_masks(loaded, ForwardCache(), TEXT, "en", top_k=50).masks[0].predictions
    whole = [p for p in predicted if p.word_final][:5]
    singles = result.of_length(1)
    assert [c.piece_ids[0] for c in singles] == [p.token_id for p in whole]
    np.testing.assert_allclose([c.chain_log_prob for c in singles], np.log([p.probability for p in whole]), atol=1e-6)
    assert [c.pll_word_l2r for c in result.candidates] == sorted((c.pll_word_l2r for c in result.candidates), reverse=True)


def test_the_sentence_scores_equal_one_masked_copy_at_a_time(manager) -> None:
    loaded = manager.get("en-2048")
    result = fill_word(loaded, TEXT, "en", max_pieces=2, beam_width=4, per_length=3)
    encoding = encode_text(loaded, TEXT, "en")
    ids, mask_at = tuple(encoding.input_ids), encoding.mask_positions[0]
    for candidate in [c for c in result.candidates if c.n_pieces == 2][:2] + list(result.of_length(1)[:1]):
        sentence = ids[:mask_at] + candidate.piece_ids + ids[mask_at + 1:]
        ends_word = (list(encoding.word_final[:mask_at]) + [False] * (candidate.n_pieces - 1) + [True]
                     + list(encoding.word_final[mask_at + 1:]))
        pll = l2r = 0.0
        for position in range(1, len(sentence) - 1):
            last = next(i for i in range(position, len(sentence)) if ends_word[i] or i == len(sentence) - 2)
            for masked, total in (({position}, "pll"), (set(range(position, last + 1)), "l2r")):
                copy = tuple(loaded.mask_token_id if i in masked else t for i, t in enumerate(sentence))
                value = float(log_probs_at(loaded, [copy], position)[0, sentence[position]])
                if total == "pll":
                    pll += value
                else:
                    l2r += value
        assert (candidate.pll, candidate.pll_word_l2r) == pytest.approx((pll, l2r), abs=1e-5)  # float32 batches vs one


def test_one_mask_and_at_most_four_pieces_are_asked_for_in_plain_words(workspace) -> None:
    with pytest.raises(UserInputError, match="exactly one \\[MASK\\]"):
        service.fill_word(workspace, "The [MASK] sat on the [MASK].")
    with pytest.raises(UserInputError, match="exactly one \\[MASK\\]"):
        service.fill_word(workspace, "No mask here.")
    with pytest.raises(UserInputError, match="max_pieces must be a whole number from 1 to 4, not 5"):
        service.fill_word(workspace, TEXT, max_pieces=5)


def test_the_endpoint_answers_both_models_with_words_of_each_length(workspace) -> None:
    answer = service.fill_word(workspace, TEXT, model="both", max_pieces=2, top_k=3)
    payload = json.loads(json.dumps(answer.payload))
    assert [item["model"] for item in payload["results"]] == ["en-2048", "100-1280"]
    for item in payload["results"]:
        lengths = [c["n_pieces"] for c in item["candidates"]]
        assert sorted(lengths) == [1, 1, 1, 2, 2, 2]
        assert item["candidates"][0]["rank"] == 1
    assert payload["request"] == {"text": TEXT, "lang": "en", "model": "both", "max_pieces": 2, "top_k": 3, "beam_width": 8}
