"""SEAT (analysis.bias.seat) against a direct computation of May et al.'s definitions as sent-bias's weat.py
computes them (effect size with the sample standard deviation, the conservative one-sided permutation test, exact
when the splits are few, sampled with one hallucinated positive otherwise), and the attribute direction."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from xlm_explorer import service
from xlm_explorer.analysis.bias.seat import association, effect_size, parse_group, permutation_p, seat
from xlm_explorer.analysis.projection import onto_direction
from xlm_explorer.errors import UserInputError

GROUPS = {
    "x": ["This is a man.", "He is here.", "That is a boy.", "This is my father."],
    "y": ["This is a woman.", "She is here.", "That is a girl.", "This is my mother."],
    "a": ["This is a career.", "That is a salary.", "This is an office."],
    "b": ["This is a family.", "That is a home.", "This is a wedding."],
}


def direct(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Effect size and exact p from the definitions, one cosine at a time (in float64)."""
    x, y, a, b = (np.asarray(m, dtype=np.float64) for m in (x, y, a, b))
    cos = lambda u, v: float(u @ v / np.sqrt((u @ u) * (v @ v)))  # noqa: E731
    s = lambda w: np.mean([cos(w, ai) for ai in a]) - np.mean([cos(w, bi) for bi in b])  # noqa: E731
    s_all = [s(w) for w in np.concatenate([x, y])]
    d = (np.mean(s_all[: len(x)]) - np.mean(s_all[len(x):])) / np.std(s_all, ddof=1)
    observed = sum(s_all[: len(x)])
    splits = list(combinations(range(len(s_all)), len(x)))
    p = sum(1 for split in splits if sum(s_all[i] for i in split) >= observed) / len(splits)
    return float(d), float(p)


def test_effect_size_and_exact_p_equal_the_definitions() -> None:
    rng = np.random.default_rng(1)
    x, y, a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8)) + 0.3, rng.normal(size=(4, 8)), rng.normal(size=(3, 8))
    s_x, s_y = association(x, a, b), association(y, a, b)
    p, exact = permutation_p(s_x, s_y, n_samples=1000)
    d_direct, p_direct = direct(x, y, a, b)
    assert exact and effect_size(s_x, s_y) == pytest.approx(d_direct, abs=1e-12) and p == pytest.approx(p_direct, abs=1e-12)


def test_a_sampled_p_counts_one_split_in_advance_and_is_close_to_the_exact_one() -> None:
    rng = np.random.default_rng(2)
    s_x, s_y = rng.normal(size=8) + 0.4, rng.normal(size=8)
    exact, is_exact = permutation_p(s_x, s_y, n_samples=20_000)  # C(16, 8) = 12,870 splits: all counted
    sampled, sampled_exact = permutation_p(s_x, s_y, n_samples=5_000)
    assert is_exact and not sampled_exact
    assert sampled >= 1 / 5_000 and abs(sampled - exact) < 0.02
    assert permutation_p(s_x + 100, s_y, n_samples=100)[0] == pytest.approx(1 / 100)  # never 0 from sampling


def test_the_direction_puts_the_group_means_at_plus_and_minus_a_half() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 5)) + 1, rng.normal(size=(4, 5))
    assert onto_direction(a.mean(axis=0, keepdims=True), b, a)[0] == pytest.approx(0.5)
    assert onto_direction(b.mean(axis=0, keepdims=True), b, a)[0] == pytest.approx(-0.5)


def test_seat_on_a_model_equals_the_definitions_at_every_layer(manager) -> None:
    loaded = manager.get("en-2048")
    result = seat(loaded, GROUPS)
    assert len(result.effect_sizes) == loaded.n_layers + 1 and result.exact
    for layer in range(loaded.n_layers + 1):
        d, p = direct(*(result.vectors(g, layer) for g in ("x", "y", "a", "b")))
        assert result.effect_sizes[layer] == pytest.approx(d, abs=1e-9) and result.p_values[layer] == pytest.approx(p, abs=1e-12)


def test_groups_are_checked_with_a_plain_message(workspace) -> None:
    with pytest.raises(UserInputError, match="at least two"):
        parse_group("One sentence.", "a")
    with pytest.raises(UserInputError, match="as many sentences"):
        service.seat(workspace, "A.\nB.\nC.", "D.\nE.", "F.\nG.", "H.\nI.", model="en-2048")


def test_the_endpoint_answers_one_item_per_model(workspace) -> None:
    answer = service.seat(workspace, *("\n".join(GROUPS[g]) for g in ("x", "y", "a", "b")), model="both")
    items = answer.payload["results"]
    assert [i["model"] for i in items] == ["en-2048", "100-1280"]
    for item in items:
        assert len(item["layers"]) == item["n_layers"] + 1
        assert [s["group"] for s in item["sentences"]] == ["x"] * 4 + ["y"] * 4 + ["a"] * 3 + ["b"] * 3
