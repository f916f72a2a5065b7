"""Attention analysis: statistics on hand-made matrices with known answers, and on the tiny models
checked against a direct transformers computation and a naive per-row implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xlm_explorer.analysis.attention import (
    MAX_MATRIX_HEADS,
    MAX_SET_SENTENCES,
    STATISTIC_NAMES,
    analyze_attention,
    average_statistics,
    check_head,
    head_statistics,
    mean_statistics,
    parallel_languages,
    parse_head_list,
    parse_sentence_lines,
    select_parallel_sentences,
)
from xlm_explorer.errors import UserInputError
from xlm_explorer.tokenization import encode_text


def as_model(*heads: np.ndarray) -> np.ndarray:
    """Stack (T, T) matrices into (1 layer, heads, T, T)."""
    return np.stack(heads)[None]


def no_boundary(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


# ---------------------------------------------------------------- hand-made matrices


def test_identity_head_attends_only_to_itself() -> None:
    stats = head_statistics(as_model(np.eye(5)), no_boundary(5))
    assert stats.entropy[0, 0] == 0.0
    assert stats.same_share[0, 0] == 1.0
    assert stats.mean_distance[0, 0] == 0.0
    assert stats.previous_share[0, 0] == 0.0
    assert stats.next_share[0, 0] == 0.0
    assert stats.boundary_share[0, 0] == 0.0
    assert stats.cross_share is None


def test_previous_and_next_token_heads() -> None:
    n = 6
    previous = np.zeros((n, n))
    previous[0, 0] = 1.0  # the first token has no previous token: it keeps to itself
    previous[np.arange(1, n), np.arange(n - 1)] = 1.0
    following = np.zeros((n, n))
    following[np.arange(n - 1), np.arange(1, n)] = 1.0
    following[n - 1, n - 1] = 1.0
    stats = head_statistics(as_model(previous, following), no_boundary(n))
    # previous share averages over the n-1 rows that have a previous token
    assert stats.previous_share[0].tolist() == [1.0, 0.0]
    assert stats.next_share[0].tolist() == [0.0, 1.0]
    assert stats.same_share[0].tolist() == pytest.approx([1 / n, 1 / n])
    assert stats.mean_distance[0].tolist() == pytest.approx([(n - 1) / n, (n - 1) / n])
    assert stats.entropy[0].tolist() == [0.0, 0.0]


def test_uniform_head_known_values() -> None:
    n = 4
    uniform = np.full((n, n), 1 / n)
    boundary = np.array([True, False, False, True])
    stats = head_statistics(as_model(uniform), boundary, sentence_b_start=2)
    assert stats.entropy[0, 0] == pytest.approx(2.0)  # log2(4) bits
    # mean |i - j| over j for rows 0..3: 1.5, 1, 1, 1.5
    assert stats.mean_distance[0, 0] == pytest.approx(1.25)
    assert stats.boundary_share[0, 0] == pytest.approx(0.5)
    assert stats.previous_share[0, 0] == pytest.approx(0.25)
    assert stats.next_share[0, 0] == pytest.approx(0.25)
    assert stats.same_share[0, 0] == pytest.approx(0.25)
    assert stats.cross_share[0, 0] == pytest.approx(0.5)


def test_cross_share_is_zero_within_segments_and_one_across() -> None:
    n, b = 5, 2
    within = np.zeros((n, n))
    within[:b, :b] = 1 / b
    within[b:, b:] = 1 / (n - b)
    across = np.zeros((n, n))
    across[:b, b:] = 1 / (n - b)
    across[b:, :b] = 1 / b
    stats = head_statistics(as_model(within, across), no_boundary(n), sentence_b_start=b)
    assert stats.cross_share[0].tolist() == pytest.approx([0.0, 1.0])


def test_statistics_are_per_layer_and_head() -> None:
    n = 3
    attentions = np.stack([as_model(np.eye(n), np.full((n, n), 1 / n))[0], as_model(np.full((n, n), 1 / n), np.eye(n))[0]])
    stats = head_statistics(attentions, no_boundary(n))
    assert stats.shape == (2, 2)
    np.testing.assert_allclose(stats.entropy, [[0.0, math.log2(3)], [math.log2(3), 0.0]], atol=1e-12)


def test_single_token_has_no_previous_or_next() -> None:
    stats = head_statistics(np.ones((1, 1, 1, 1)), np.array([True]))
    assert math.isnan(stats.previous_share[0, 0]) and math.isnan(stats.next_share[0, 0])
    assert stats.same_share[0, 0] == 1.0 and stats.boundary_share[0, 0] == 1.0
    assert stats.to_dict()["previous_share"] == [[None]]


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        head_statistics(np.ones((2, 3, 3)), no_boundary(3))
    with pytest.raises(ValueError):
        head_statistics(np.ones((1, 1, 3, 3)) / 3, no_boundary(4))
    with pytest.raises(ValueError):
        head_statistics(np.ones((1, 1, 3, 3)) / 3, no_boundary(3), sentence_b_start=3)


def test_mean_statistics_averages_and_ignores_undefined() -> None:
    n = 4
    a = head_statistics(as_model(np.eye(n)), no_boundary(n), sentence_b_start=2)
    b = head_statistics(as_model(np.full((n, n), 1 / n)), no_boundary(n), sentence_b_start=2)
    single = head_statistics(np.ones((1, 1, 1, 1)), np.array([False]))
    mean = mean_statistics([a, b])
    assert mean.entropy[0, 0] == pytest.approx(1.0)
    assert mean.same_share[0, 0] == pytest.approx((1 + 0.25) / 2)
    assert mean.cross_share[0, 0] == pytest.approx(0.25)
    # NaN (no previous token in a 1-token input) does not pull the mean
    mixed = mean_statistics([single, head_statistics(as_model(np.eye(1)), np.array([False]))])
    assert math.isnan(mixed.previous_share[0, 0])
    # cross_share survives only when every input is a pair
    assert mean_statistics([a, head_statistics(as_model(np.eye(n)), no_boundary(n))]).cross_share is None


# ---------------------------------------------------------------- the tiny models


def naive_statistics(attention: np.ndarray, boundary: set[int], b_start: int | None) -> dict[str, float]:
    """Straight per-row loops for one (T, T) head: an independent check of the vectorised code."""
    n = attention.shape[0]
    rows = [list(map(float, attention[i])) for i in range(n)]
    entropy = sum(-sum(p * math.log2(p) for p in row if p > 0) for row in rows) / n
    distance = sum(sum(p * abs(i - j) for j, p in enumerate(row)) for i, row in enumerate(rows)) / n
    on_boundary = sum(sum(row[j] for j in boundary) for row in rows) / n
    previous = sum(rows[i][i - 1] for i in range(1, n)) / (n - 1)
    following = sum(rows[i][i + 1] for i in range(n - 1)) / (n - 1)
    same = sum(rows[i][i] for i in range(n)) / n
    result = dict(entropy=entropy, mean_distance=distance, boundary_share=on_boundary, previous_share=previous,
                  next_share=following, same_share=same)
    if b_start is not None:
        result["cross_share"] = sum(
            sum(p for j, p in enumerate(row) if (j >= b_start) != (i >= b_start)) for i, row in enumerate(rows)
        ) / n
    return result


def test_attentions_equal_a_direct_transformers_run(en_model, workspace) -> None:
    result = analyze_attention(en_model, workspace.forward_cache, "The cat sat on the mat.", "en")
    ids = torch.tensor([list(result.input_ids)])
    with torch.inference_mode():
        direct = en_model.model(input_ids=ids, output_attentions=True, return_dict=True).attentions
    expected = torch.stack([layer[0] for layer in direct]).float().numpy()
    assert result.attentions.shape == (en_model.n_layers, en_model.n_heads, len(result.input_ids), len(result.input_ids))
    np.testing.assert_allclose(result.attentions, expected, rtol=0, atol=1e-7)


def test_attention_rows_sum_to_one(multi_model, workspace) -> None:
    result = analyze_attention(multi_model, workspace.forward_cache, "Le chat dort sur le canapé.", "fr",
                               text_pair="The cat sleeps on the sofa.", lang_pair="en")
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-5)
    assert (result.attentions >= 0).all()


def test_statistics_match_a_naive_computation(multi_model, workspace) -> None:
    result = analyze_attention(multi_model, workspace.forward_cache, "The cat sleeps.", "en",
                               text_pair="Le chat dort.", lang_pair="fr")
    assert result.sentence_b_start is not None
    for layer in range(result.n_layers):
        for head in range(result.n_heads):
            expected = naive_statistics(result.head(layer, head), set(result.boundary_positions), result.sentence_b_start)
            for name, value in expected.items():
                assert result.statistics.get(name)[layer, head] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_pair_mode_segments_and_boundaries(multi_model, workspace) -> None:
    encoding = encode_text(multi_model, "The cat sleeps.", "en", text_pair="Le chat dort.", lang_pair="fr")
    result = analyze_attention(multi_model, workspace.forward_cache, "The cat sleeps.", "en", text_pair="Le chat dort.", lang_pair="fr")
    assert result.sentence_b_start == encoding.sentence_b_start
    assert result.boundary_positions == (0, encoding.sentence_b_start - 1, len(encoding.input_ids) - 1)
    assert result.tokens[result.sentence_b_start - 1] == "</s>" and result.tokens[-1] == "</s>"
    assert set(result.statistics.available()) == set(STATISTIC_NAMES)
    single = analyze_attention(multi_model, workspace.forward_cache, "The cat sleeps.", "en", text_pair="   ")
    assert single.sentence_b_start is None and "cross_share" not in single.statistics.available()
    with pytest.raises(UserInputError, match="sentence pair"):
        single.statistics.get("cross_share")


def test_one_forward_pass_per_input(fresh_workspace) -> None:
    loaded = fresh_workspace.manager.get("en-2048")
    cache = fresh_workspace.forward_cache
    first = analyze_attention(loaded, cache, "The dog sleeps in the house.")
    second = analyze_attention(loaded, cache, "The dog sleeps in the house.")
    assert cache.forward_calls == 1 and cache.hits == 1
    assert np.shares_memory(first.attentions, second.attentions)


def test_english_only_model_notice_and_long_input_refused_or_cut_as_a_set_item(en_model, workspace) -> None:
    result = analyze_attention(en_model, workspace.forward_cache, "Le chat dort.", "fr")
    assert result.lang == "en" and any("English-only" in n for n in result.notices)
    long_text = " ".join(["cat"] * 700)
    with pytest.raises(UserInputError, match="accepts at most 512 positions"):  # the text asked about: refused
        analyze_attention(en_model, workspace.forward_cache, long_text, "en")
    cut = analyze_attention(en_model, workspace.forward_cache, long_text, "en", truncate=True)  # a set's item: cut
    assert cut.n_tokens == en_model.max_positions
    assert any("cut" in n for n in cut.notices)


def test_to_dict_statistics_and_requested_matrices(en_model, workspace) -> None:
    result = analyze_attention(en_model, workspace.forward_cache, "The cat sat.", "en")
    data = result.to_dict(matrices=[(1, 2)])
    assert len(data["statistics"]["entropy"]) == en_model.n_layers
    assert all(len(row) == en_model.n_heads for row in data["statistics"]["entropy"])
    assert "cross_share" not in data["statistics"]
    (matrix,) = data["matrices"]
    assert (matrix["layer"], matrix["head"]) == (1, 2)
    np.testing.assert_allclose(np.array(matrix["attention"]), result.attentions[1, 2], atol=5e-7)
    assert data["tokens"][0] == "<s>" and data["pieces"][-1] == "</s>"


def test_check_head_ranges(en_model, workspace) -> None:
    result = analyze_attention(en_model, workspace.forward_cache, "The cat sat.", "en")
    assert check_head(result, 1.0, 3) == (1, 3)
    for layer, head in [(en_model.n_layers, 0), (0, en_model.n_heads), (-1, 0), (0.5, 0), ("x", 0)]:
        with pytest.raises(UserInputError):
            check_head(result, layer, head)


def test_parse_head_list() -> None:
    assert parse_head_list("0:1, 2:3") == [(0, 1), (2, 3)]
    assert parse_head_list("L0:H1; l2 : h3 4/5 0:1") == [(0, 1), (2, 3), (4, 5)]
    assert parse_head_list("") == [] and parse_head_list(None) == []
    with pytest.raises(UserInputError):
        parse_head_list("zero:one")
    with pytest.raises(UserInputError):
        parse_head_list(", ".join(f"0:{h}" for h in range(MAX_MATRIX_HEADS + 1)))


# ---------------------------------------------------------------- sets of sentences


def test_parse_sentence_lines() -> None:
    assert parse_sentence_lines("[fr] Le chat.\nThe cat.\n\nde\tDie Katze.", "en") == [
        ("fr", "Le chat."), ("en", "The cat."), ("de", "Die Katze."),
    ]
    with pytest.raises(UserInputError):
        parse_sentence_lines("  \n ", "en")


def test_select_parallel_sentences_takes_the_same_ids_per_language() -> None:
    assert parallel_languages()[0] == "en" and len(parallel_languages()) == 15
    chosen = select_parallel_sentences(["en", "fr"], 3)
    assert [lang for lang, _ in chosen] == ["en"] * 3 + ["fr"] * 3
    assert chosen[0][1] == "The cat is sleeping on the sofa." and chosen[3][1] == "Le chat dort sur le canapé."
    for bad in (0, 49, 2.5, "x"):
        with pytest.raises(UserInputError):
            select_parallel_sentences(["en"], bad)
    with pytest.raises(UserInputError):
        select_parallel_sentences(["xx"], 2)


def test_average_statistics_is_the_per_language_mean(multi_model, workspace) -> None:
    sentences = [("en", "The cat sleeps."), ("fr", "Le chat dort."), ("en", "The dog runs fast.")]
    averaged = average_statistics(multi_model, workspace.forward_cache, sentences, source="pasted")
    assert [item.lang for item in averaged.languages] == ["en", "fr"]
    assert [item.n_sentences for item in averaged.languages] == [2, 1]
    singles = [analyze_attention(multi_model, workspace.forward_cache, text, lang).statistics for lang, text in sentences]
    np.testing.assert_allclose(averaged.languages[0].statistics.entropy, (singles[0].entropy + singles[2].entropy) / 2)
    np.testing.assert_allclose(averaged.languages[1].statistics.same_share, singles[1].same_share)
    data = averaged.to_dict()
    assert data["languages"][0]["statistics"]["entropy"][0][0] == pytest.approx(averaged.languages[0].statistics.entropy[0, 0], abs=1e-6)


def test_average_statistics_limits(multi_model, en_model, workspace) -> None:
    with pytest.raises(UserInputError, match="Unknown language"):
        average_statistics(multi_model, workspace.forward_cache, [("xx", "text")])
    with pytest.raises(UserInputError, match="at most"):
        average_statistics(multi_model, workspace.forward_cache, [("en", "a")] * (MAX_SET_SENTENCES + 1))
    english_only = average_statistics(en_model, workspace.forward_cache, [("fr", "Le chat dort.")])
    assert any("English-only" in n for n in english_only.notices)
