"""The direction projection of the Embeddings view: every text on the axis mean(A) -> mean(B) at a layer, the rest
by PCA; groups named by a language (``lang:fr``) or by words; checked against the definitions computed directly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xlm_explorer import service
from xlm_explorer.analysis.projection import direction_projection, onto_direction, pca, project
from xlm_explorer.analysis.row_groups import parse_query, select_groups
from xlm_explorer.errors import UserInputError

PASTED = "\n".join([
    "en\tHe is a doctor.\td", "fr\tIl est médecin.\td", "en\tShe is a nurse.\tn", "fr\tElle est infirmière.\tn",
    "en\tThe cat sleeps.\tc", "fr\tLe chat dort.\tc", "en\tHe likes tea.\tt", "fr\tIl aime le thé.\tt",
    "zh\t他是医生。\td",
])


def test_x_is_the_position_on_the_axis_between_the_means_and_the_rest_is_pca_of_what_it_leaves() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(30, 12))
    in_a, in_b = np.arange(30) < 10, np.arange(30) >= 22
    projection = direction_projection(points, in_a, in_b, dims=3)
    mean_a, mean_b = points[in_a].mean(axis=0), points[in_b].mean(axis=0)
    axis = mean_b - mean_a
    direct_x = np.array([(p - (mean_a + mean_b) / 2) @ axis / (axis @ axis) for p in points])
    np.testing.assert_allclose(projection.coords[:, 0], direct_x, rtol=1e-5, atol=1e-6)
    unit = axis / np.linalg.norm(axis)
    rest = np.array([p - (p @ unit) * unit for p in points])
    np.testing.assert_allclose(projection.coords[:, 1:], pca(rest, 2), rtol=1e-4, atol=1e-5)
    assert onto_direction(mean_a[None], points[in_a], points[in_b])[0] == pytest.approx(-0.5)
    assert onto_direction(mean_b[None], points[in_a], points[in_b])[0] == pytest.approx(0.5)
    assert projection.groups == (10, 8) and projection.axis_length == pytest.approx(np.linalg.norm(axis))
    hits = 0
    for i in np.flatnonzero(in_a | in_b):  # leave-one-out: the axis refitted without row i, then row i's side
        keep = np.arange(30) != i
        a_mean, b_mean = points[in_a & keep].mean(axis=0), points[in_b & keep].mean(axis=0)
        side = (points[i] - (a_mean + b_mean) / 2) @ (b_mean - a_mean)
        hits += bool(side < 0) if in_a[i] else bool(side > 0)
    assert projection.own_side == pytest.approx(hits / 18)


def test_held_out_two_groups_of_random_vectors_split_half_and_half_where_in_sample_they_split_perfectly() -> None:
    shares, in_sample = [], []
    for seed in range(20):
        points = np.random.default_rng(seed).normal(size=(32, 1280))
        in_a = np.arange(32) < 16
        projection = direction_projection(points, in_a, ~in_a, dims=2)
        shares.append(projection.own_side)
        in_sample.append(np.mean(np.where(in_a, projection.coords[:, 0] < 0, projection.coords[:, 0] > 0)))
    assert min(in_sample) == 1.0 and 0.35 < np.mean(shares) < 0.65
    assert direction_projection(np.ones((3, 4)) * np.arange(3)[:, None], np.array([1, 0, 0], bool),
                                np.array([0, 1, 1], bool), 2).own_side is None  # one row in A: nothing to hold out


def test_moving_a_point_along_the_axis_moves_only_its_x() -> None:
    rng = np.random.default_rng(1)
    points = rng.normal(size=(20, 8))
    in_a, in_b = np.arange(20) < 5, np.arange(20) >= 15
    before = direction_projection(points, in_a, in_b, dims=2).coords
    axis = points[in_b].mean(axis=0) - points[in_a].mean(axis=0)
    moved = points.copy()
    moved[7] += 0.3 * axis  # a point outside both groups: the axis itself stays where it was
    after = direction_projection(moved, in_a, in_b, dims=2).coords
    assert after[7, 0] == pytest.approx(before[7, 0] + 0.3, abs=1e-5)
    np.testing.assert_allclose(np.abs(after[:, 1]), np.abs(before[:, 1]), atol=1e-4)  # PCA's sign is its own rule


def test_groups_are_a_language_or_whole_words_ignoring_case() -> None:
    texts = ["He is here.", "the hello", "Elle est là.", "她在这里", "Him, again"]
    langs = ["en", "en", "fr", "zh", "en"]
    assert parse_query("lang:fr, zh", "A").select(texts, langs).tolist() == [False, False, True, True, False]
    assert parse_query("he, him", "A").select(texts, langs).tolist() == [True, False, False, False, True]
    assert parse_query("在", "B").select(texts, langs).tolist() == [False, False, False, True, False]  # no spaces in zh
    with pytest.raises(UserInputError, match="Group A of the direction is empty"):
        parse_query("  ", "A")
    with pytest.raises(UserInputError, match="Group B .* matches no row"):
        select_groups(["he", "lang:de"], texts, langs)
    with pytest.raises(UserInputError, match="name the same rows"):
        select_groups(["lang:en", "he, the, him"], texts, langs)
    with pytest.raises(UserInputError, match="needs two groups"):
        project(np.ones((4, 3)), "direction")


def test_the_endpoint_puts_each_text_on_the_direction_at_each_layer_from_the_models_own_vectors(workspace) -> None:
    answer = service.embeddings(workspace, "paste", pasted=PASTED, model="both", layers=["0", "last"], method="direction",
                                group_a="lang:en", group_b="lang:fr")
    payload = json.loads(json.dumps(answer.payload))
    assert payload["request"]["group_a"] == "lang:en" and payload["request"]["group_b"] == "lang:fr"
    for exploration, item in zip(answer.results, payload["results"]):
        langs = np.array(exploration.embeddings.langs)
        for panel in item["panels"]:
            vectors = exploration.embeddings.vectors(panel["layer"]).astype(np.float64)
            a, b = vectors[langs == "en"], vectors[langs == "fr"]
            axis = b.mean(axis=0) - a.mean(axis=0)
            direct = (vectors - (a.mean(axis=0) + b.mean(axis=0)) / 2) @ axis / (axis @ axis)
            np.testing.assert_allclose([p["x"] for p in panel["points"]], direct, atol=2e-5)
            assert panel["method"] == "direction" and panel["direction"]["n_a"] == 4 and panel["direction"]["n_b"] == 4
            assert panel["direction"]["axis_length"] == pytest.approx(np.linalg.norm(axis), rel=1e-5)
    words = service.reproject(workspace, answer, ["last"], "mean", False, "direction", 2, 0, "he", "she")
    assert [p["direction"]["n_a"] for p in (i["panels"][0] for i in words.payload["results"])] == [2, 2]
    plain = service.reproject(workspace, answer, ["last"], "mean", False, "pca", 2, 0, "he", "she")
    assert "group_a" not in plain.payload["request"] and "direction" not in plain.payload["results"][0]["panels"][0]


def test_language_groups_under_per_language_centring_are_refused_with_the_reason(workspace) -> None:
    with pytest.raises(UserInputError, match="Centring per language"):
        service.embeddings(workspace, "paste", pasted=PASTED, model="100-1280", method="direction", center=True)
    centred_words = service.embeddings(workspace, "paste", pasted=PASTED, model="100-1280", method="direction", center=True,
                                       group_a="she, elle", group_b="he, il")
    assert centred_words.payload["results"][0]["panels"][0]["direction"]["n_b"] == 4  # He ×2, Il ×2


def test_items_per_language_left_blank_means_all_and_a_word_is_refused_plainly(workspace) -> None:
    every = service.embeddings(workspace, "words", ["en", "fr"], " ", method="pca").payload["shared"]["dataset"]
    assert every["n_rows"] == service.embeddings(workspace, "words", ["en", "fr"], None, method="pca").payload["shared"]["dataset"]["n_rows"]
    with pytest.raises(UserInputError, match="max_items must be a whole number from 0 to 2000, not 'many'"):
        service.embeddings(workspace, "words", ["en", "fr"], "many", method="pca")
