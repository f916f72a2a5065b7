"""Embeddings, alignment metrics and projections: exact against transformers, constructed cases with known
answers, caching (the model runs once per batch, never again when only the layer or pooling changes)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from xlm_explorer.analysis.alignment import (
    alignment_metrics,
    cosine_matrix,
    language_separability,
    nearest_neighbours,
    retrieval_p_at_1,
)
from xlm_explorer.analysis.datasets import Dataset, TextItem, load_shipped
from xlm_explorer.analysis.embeddings import (
    POOLINGS,
    DerivedCache,
    EmbeddingCache,
    center_by_language,
    embed_sentences,
    explore,
    pool_hidden_states,
    resolve_layers,
)
from xlm_explorer.analysis.projection import pca, project, start_umap_warmup
from xlm_explorer.errors import UserInputError
from xlm_explorer.models import LoadedModel
from xlm_explorer.tokenization import encode_text

TEXTS = [
    ("en", "The cat is sleeping on the sofa."),
    ("fr", "Le chat dort."),
    ("de", "Die Katze schläft auf dem Sofa und träumt von einem großen Fisch."),
    ("ru", "Кошка спит."),
    ("el", "Η γάτα κοιμάται στον καναπέ."),
    ("hi", "बिल्ली सोफे पर सो रही है।"),
    ("en", "Hi"),
]


class ForwardCounter:
    """Counts calls of the transformer body (the model's real forward passes)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.calls = 0
        self._handle = loaded.model.transformer.register_forward_hook(self._hook)

    def _hook(self, *_args: object) -> None:
        self.calls += 1

    def remove(self) -> None:
        self._handle.remove()


@pytest.fixture()
def count_forwards() -> Iterator:
    counters: list[ForwardCounter] = []

    def attach(loaded: LoadedModel) -> ForwardCounter:
        counters.append(ForwardCounter(loaded))
        return counters[-1]

    yield attach
    for counter in counters:
        counter.remove()


def _direct_hidden(loaded: LoadedModel, text: str, lang: str) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(L+1, T, H) hidden states of one unpadded input, straight from transformers."""
    encoding = encode_text(loaded, text, lang if loaded.spec.multilingual else "en", allow_masks=False)
    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([encoding.input_ids]), output_hidden_states=True)
    return torch.stack(out.hidden_states)[:, 0].float(), encoding.input_ids


@pytest.mark.parametrize("model_fixture", ["en_model", "multi_model"])
def test_batched_padded_embeddings_equal_direct_transformers(model_fixture: str, request: pytest.FixtureRequest) -> None:
    """Length-sorted, padded batches of 3 give, per text and in input order, exactly what one unpadded
    forward pass gives: mean and max over the text's tokens (without <s> and </s>) and the first token."""
    loaded: LoadedModel = request.getfixturevalue(model_fixture)
    langs, texts = zip(*TEXTS)
    result = embed_sentences(loaded, texts, langs, batch_size=3)
    assert result.batches == 3 and len(result) == len(TEXTS)
    for pooling in POOLINGS:
        assert result.pooled[pooling].shape == (loaded.n_layers + 1, len(TEXTS), loaded.hidden_size)
        assert result.pooled[pooling].dtype == np.float32
    for i, (lang, text) in enumerate(TEXTS):
        hidden, ids = _direct_hidden(loaded, text, lang)
        assert result.n_tokens[i] == len(ids)
        content = hidden[:, 1:-1]  # <s> ... </s>
        np.testing.assert_allclose(result.pooled["first"][:, i], hidden[:, 0].numpy(), atol=1e-5)
        np.testing.assert_allclose(result.pooled["mean"][:, i], content.mean(dim=1).numpy(), atol=1e-5)
        np.testing.assert_allclose(result.pooled["max"][:, i], content.max(dim=1).values.numpy(), atol=1e-5)
    one_by_one = embed_sentences(loaded, texts, langs, batch_size=1)
    np.testing.assert_allclose(one_by_one.pooled["mean"], result.pooled["mean"], atol=1e-5)


def test_pooling_on_a_constructed_batch() -> None:
    hidden = torch.arange(2 * 2 * 4 * 3, dtype=torch.float32).reshape(2, 2, 4, 3)  # (L+1=2, B=2, T=4, H=3)
    hidden[:, 1, 2] = 1000.0  # a padding position of text 1 must not win the max
    content = torch.tensor([[False, True, True, False], [False, True, False, False]])
    pooled = pool_hidden_states(hidden, content)
    torch.testing.assert_close(pooled["mean"][:, 0], hidden[:, 0, 1:3].mean(dim=1))
    torch.testing.assert_close(pooled["mean"][:, 1], hidden[:, 1, 1])
    torch.testing.assert_close(pooled["max"][:, 1], hidden[:, 1, 1])
    torch.testing.assert_close(pooled["first"], hidden[:, :, 0])


def test_cache_runs_the_model_once_per_batch_and_never_again(fresh_manager, count_forwards) -> None:
    loaded = fresh_manager.get("100-1280")
    counter = count_forwards(loaded)
    dataset = load_shipped("sentences", ["en", "fr", "de"], max_items=6)  # 18 rows
    cache = EmbeddingCache(batch_size=8)
    derived = DerivedCache()
    progress: list[float] = []
    first = cache.get(loaded, dataset, lambda fraction, _message: progress.append(fraction))
    assert counter.calls == first.batches == 3
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    for layers, pooling, center in [(["last"], "mean", False), (["0", "1"], "max", True), (["middle"], "first", False)]:
        again = cache.get(loaded, Dataset("same rows, other name", dataset.items))
        assert again is first
        exploration = explore(again, layers, pooling, center, "pca", 2, 0, derived)
        assert [p.layer for p in exploration.panels] == list(resolve_layers(layers, loaded.n_layers))
    assert counter.calls == 3 and cache.computed == 1 and cache.hits == 3
    explore(first, ["last"], "mean", False, "pca", 2, 0, derived)
    assert derived.hits >= 2  # same projection and metrics again: reused
    cache.get(loaded, load_shipped("sentences", ["en"], max_items=2))
    assert counter.calls == 4 and cache.computed == 2  # other content: embedded


def test_resolve_layers() -> None:
    assert resolve_layers(["middle", "last"], 16) == (8, 16)
    assert resolve_layers(["last", "16", 0, "3.0"], 16) == (16, 0, 3)
    assert resolve_layers("last", 12) == (12,)
    with pytest.raises(UserInputError, match="layers 0 \\(embeddings\\) to 12; layer 14"):
        resolve_layers(["14"], 12, "en-2048")
    with pytest.raises(UserInputError, match="whole number"):
        resolve_layers(["top"], 12)
    with pytest.raises(UserInputError, match="at most 4"):
        resolve_layers(["0", "1", "2", "3", "4"], 12)
    with pytest.raises(UserInputError, match="at least one"):
        resolve_layers([], 12)


def test_center_by_language_zeroes_each_language_mean() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(9, 5)).astype(np.float32) + 3.0
    langs = ["en", "fr", "en", "de", "fr", "en", "de", "de", "fr"]
    centered = center_by_language(vectors, langs)
    for lang in set(langs):
        rows = [i for i, code in enumerate(langs) if code == lang]
        np.testing.assert_allclose(centered[rows].mean(axis=0), 0.0, atol=1e-6)
        np.testing.assert_allclose(centered[rows] - vectors[rows], np.broadcast_to(centered[rows[0]] - vectors[rows[0]], (3, 5)), atol=1e-6)


# ---- alignment metrics on constructed cases ----------------------------------------------------------


def _parallel(n_items: int, langs: list[str], item_vectors: np.ndarray, lang_vectors: dict[str, np.ndarray] | None = None):
    ids, codes, rows = [], [], []
    for lang in langs:
        for i in range(n_items):
            ids.append(f"i{i}")
            codes.append(lang)
            rows.append(item_vectors[i] + (lang_vectors[lang] if lang_vectors else 0.0))
    return np.stack(rows), ids, codes


def test_retrieval_on_a_hand_made_case() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.2, 0.8], [0.1, 0.9]])
    ids = ["a", "b", "a", "b", "c"]
    langs = ["en", "en", "fr", "fr", "fr"]
    sims = cosine_matrix(vectors)
    assert retrieval_p_at_1(sims, ids, langs, "fr", "en") == (1.0, 2)  # c has no English: not a query
    assert retrieval_p_at_1(sims, ["a", "b", "b", "a", "c"], langs, "fr", "en") == (0.0, 2)
    # en -> fr: a finds a (0.9, 0.1); b's nearest French row is c (0.1, 0.9), not b: P@1 = 1/2
    assert retrieval_p_at_1(sims, ids, langs, "en", "fr") == (0.5, 2)
    assert retrieval_p_at_1(sims, ids, langs, "en", "de") == (None, 0)


def test_identical_translations_give_p_at_1_of_one_at_every_layer() -> None:
    rng = np.random.default_rng(0)
    vectors, ids, langs = _parallel(30, ["en", "fr", "de"], rng.normal(size=(30, 16)))
    metrics = alignment_metrics(np.stack([vectors, 2.0 * vectors]), ids, langs, model="constructed")
    assert metrics.layers == (0, 1)
    assert metrics.p_at_1 == {"fr": (1.0, 1.0), "de": (1.0, 1.0)}
    assert metrics.mean_vs_reference == (1.0, 1.0) and metrics.mean_all_pairs == (1.0, 1.0)
    assert metrics.chance_retrieval == pytest.approx(1 / 30) and metrics.chance_separability == pytest.approx(1 / 3)
    assert metrics.best_layer() == 0


def test_random_vectors_score_about_chance() -> None:
    rng = np.random.default_rng(0)
    n = 200
    vectors = rng.normal(size=(2 * n, 64))
    ids = [f"i{i}" for i in range(n)] * 2
    langs = ["en"] * n + ["fr"] * n
    metrics = alignment_metrics(vectors[None], ids, langs)
    assert metrics.p_at_1["fr"][0] < 0.03  # chance is 1/200
    assert 0.35 < metrics.separability[0] < 0.65  # chance is 1/2


def test_language_offset_is_separable_and_centering_removes_it() -> None:
    rng = np.random.default_rng(2)
    langs_used = ["en", "fr", "ru", "zh"]
    offsets = {lang: 4.0 * rng.normal(size=32) for lang in langs_used}
    vectors, ids, langs = _parallel(25, langs_used, rng.normal(size=(25, 32)), offsets)
    raw = alignment_metrics(vectors[None], ids, langs)
    assert raw.separability == (1.0,)  # the language offset dominates
    centered = alignment_metrics(center_by_language(vectors, langs)[None], ids, langs, centered=True)
    assert centered.mean_vs_reference == (1.0,) and centered.mean_all_pairs == (1.0,)
    assert centered.separability[0] <= centered.chance_separability


def test_separability_is_leave_one_out() -> None:
    """Two points per language, each language's pair far apart: a centroid that kept the point itself
    would call every point right; left out, each point sits nearer the other language."""
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.98, 0.2], [0.2, 0.98]])
    assert language_separability(vectors, ["en", "en", "fr", "fr"]) == 0.0
    assert language_separability(vectors, ["en", "fr", "en", "fr"]) == 1.0
    assert language_separability(vectors, ["en"] * 4) is None


def test_metrics_without_english_or_shared_ids_say_so() -> None:
    vectors = np.eye(4)[None]
    metrics = alignment_metrics(vectors, ["a", "b", "a", "b"], ["fr", "fr", "de", "de"])
    assert metrics.reference == "fr" and "no 'en' rows" in metrics.notices[0]
    lonely = alignment_metrics(vectors, ["a", "b", "c", "d"], ["en", "en", "fr", "fr"])
    assert lonely.mean_vs_reference == (None,) and any("No item id" in n for n in lonely.notices)
    assert lonely.to_dict()["mean_p_at_1_vs_reference"] == [None]


def test_nearest_neighbours_by_cosine() -> None:
    vectors = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 0.5]])
    found = nearest_neighbours(vectors, 0, k=3)
    assert [n.index for n in found] == [1, 4, 2]  # scale does not matter; the query itself is left out
    assert found[0].cosine == pytest.approx(10 / np.sqrt(101))
    assert len(nearest_neighbours(vectors, 0, k=99)) == 4
    with pytest.raises(UserInputError):
        nearest_neighbours(vectors, 5)


# ---- projections -------------------------------------------------------------------------------------


def test_pca_shapes_signs_and_small_sets() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(50, 20)) * np.linspace(5, 0.1, 20)
    for dims in (2, 3):
        coords = pca(points, dims)
        assert coords.shape == (50, dims)
        np.testing.assert_array_equal(coords, pca(points, dims))
        assert np.var(coords[:, 0]) >= np.var(coords[:, 1])  # components in order of variance
    np.testing.assert_array_equal(pca(points[:1], 2), np.zeros((1, 2)))
    two = pca(points[:2], 3)
    assert two.shape == (2, 3) and np.all(two[:, 1:] == 0) and two[0, 0] == -two[1, 0]


def test_projection_small_n_paths_without_umap() -> None:
    rng = np.random.default_rng(4)
    for n in (1, 2, 3):
        result = project(rng.normal(size=(n, 8)), "umap", 2, 0)
        assert result.method == "pca" and result.coords.shape == (n, 2)
        assert "at least 4 points" in result.notices[0]
    with pytest.raises(UserInputError, match="no points"):
        project(np.zeros((0, 8)), "pca")
    with pytest.raises(UserInputError, match="NaN"):
        project(np.full((5, 3), np.nan), "pca")
    for bad in [dict(method="tsne"), dict(dims=4), dict(seed=-1), dict(seed="x")]:
        with pytest.raises(UserInputError):
            project(np.ones((5, 3)), **{"method": "pca", **bad})


@pytest.mark.slow  # numba/umap compile or checkpoint building: > 10 s
def test_umap_is_seeded_and_handles_few_points() -> None:
    """The only test that fits UMAP (numba compiles here, 10-15 s)."""
    rng = np.random.default_rng(5)
    points = rng.normal(size=(40, 16)).astype(np.float32)
    first = project(points, "umap", 2, seed=7)
    assert first.method == "umap" and first.coords.shape == (40, 2) and first.n_neighbors == 15
    np.testing.assert_array_equal(first.coords, project(points, "umap", 2, seed=7).coords)
    assert not np.array_equal(first.coords, project(points, "umap", 2, seed=8).coords)
    few = project(points[:5], "umap", 3, seed=0)  # n_neighbors must drop below n; spectral init cannot work
    assert few.method == "umap" and few.coords.shape == (5, 3) and few.n_neighbors == 4
    assert np.isfinite(few.coords).all() and "4 neighbours" in few.notices[0]


def test_warmup_is_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XLM_EXPLORER_WARMUP", "0")
    assert start_umap_warmup() is None


def test_warmup_runs_once_in_a_daemon_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()
    calls: list[int] = []

    def fake_warm_up() -> float:
        calls.append(1)
        release.wait(10)
        return 0.0

    monkeypatch.setenv("XLM_EXPLORER_WARMUP", "1")
    monkeypatch.setattr("xlm_explorer.analysis.projection.warm_up_umap", fake_warm_up)
    thread = start_umap_warmup()
    assert thread is not None and thread.daemon
    assert start_umap_warmup() is thread  # a second tab build while it runs starts nothing new
    release.set()
    thread.join(10)
    assert calls == [1] and not thread.is_alive()


def test_embedding_set_checks_its_arguments(en_model: LoadedModel) -> None:
    result = embed_sentences(en_model, ["a cat", "a dog"], ["en", "en"])
    with pytest.raises(UserInputError, match="layer"):
        result.vectors(en_model.n_layers + 1)
    with pytest.raises(UserInputError, match="pooling"):
        result.vectors(0, "median")
    with pytest.raises(UserInputError, match="nothing to embed"):
        embed_sentences(en_model, [], [])
    item = TextItem("1", "en", "x")
    assert Dataset("d", (item,)).texts == ("x",)


def test_cache_is_bounded_in_bytes(en_model: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = EmbeddingCache(max_bytes=1)  # room for nothing: only the latest entry stays
    one = Dataset("one", (TextItem("1", "en", "a cat"),))
    two = Dataset("two", (TextItem("1", "en", "a dog"),))
    cache.get(en_model, one)
    cache.get(en_model, two)
    assert len(cache) == 1 and cache.computed == 2
    cache.get(en_model, one)
    assert cache.computed == 3  # evicted, so embedded again
    monkeypatch.setenv("XLM_EXPLORER_EMBED_CACHE_MB", "3")
    assert EmbeddingCache().max_bytes == 3 * 2**20


def test_umap_failure_falls_back_to_pca(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def fit_transform(self, points: np.ndarray) -> np.ndarray:
            raise ValueError("spectral layout failed")

    monkeypatch.setattr("xlm_explorer.analysis.projection._umap_model", lambda *args, **kwargs: Broken())
    result = project(np.random.default_rng(0).normal(size=(20, 4)), "umap", 2, 0)
    assert result.method == "pca" and result.n_neighbors is None and "PCA instead" in result.notices[-1]


@pytest.mark.parametrize("shape", [(40, 12), (12, 40), (300, 280), (280, 300)])
def test_pca_equals_svd(shape: tuple[int, int]) -> None:
    """The dense and the truncated (ARPACK) routes give the full SVD's coordinates up to each sign."""
    rng = np.random.default_rng(6)
    points = rng.normal(size=shape) * np.linspace(3, 0.5, shape[1])
    centered = points - points.mean(axis=0)
    u, s, _ = np.linalg.svd(centered, full_matrices=False)
    coords = pca(points, 3)
    for c in range(3):
        expected = u[:, c] * s[c]
        assert np.allclose(coords[:, c], expected, atol=1e-4) or np.allclose(coords[:, c], -expected, atol=1e-4)
