"""Comparison, logit lens, cross-lingual grid and linear CKA: exact against direct computations,
constructed cases with known answers, and the properties CKA must have."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlm_explorer.analysis.compare import comparable_form, compare_models, overlap_at_k, summarise_tokenization
from xlm_explorer.analysis.embeddings import EmbeddingCache
from xlm_explorer.analysis.fill_mask import predict_masks
from xlm_explorer.analysis.grid import crosslingual_grid, load_grid_templates, parse_grid_templates
from xlm_explorer.analysis.logit_lens import depth_alignment, logit_lens
from xlm_explorer.analysis.similarity import (
    cka_matrix,
    layer_similarity,
    linear_cka,
    load_parallel_sentences,
    parse_sentences,
    sentence_set,
)
from xlm_explorer.errors import UserInputError
from xlm_explorer.forward import ForwardCache, run_forward
from xlm_explorer.tokenization import count_masks, encode_text
from xlm_explorer.views.compare import (
    make_cka_figure,
    make_cka_table,
    make_facts_table,
    make_grid_long_table,
    make_grid_table,
    make_logit_lens_figure,
    make_logit_lens_table,
    make_overlap_table,
    make_side_by_side_table,
    make_tokenization_html,
    make_tokenization_table,
)

# --------------------------------------------------------------------------------------------------
# Logit lens


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
@pytest.mark.parametrize("mask_number", [1, 2])
def test_logit_lens_last_layer_equals_fill_mask_exactly(manager, key: str, mask_number: int) -> None:
    loaded = manager.get(key)
    text = "The [MASK] sat on the [MASK]."
    cache = ForwardCache()
    fill = predict_masks(loaded, cache, text, "en", top_k=7)
    lens = logit_lens(loaded, cache, text, "en", mask_number=mask_number, top_k=7)
    assert lens.layers[-1].predictions == fill.masks[mask_number - 1].predictions  # same ids, same float probabilities
    expected = {p.token_id: p.probability for p in fill.masks[mask_number - 1].predictions}
    for column, probability in zip(lens.columns, lens.probabilities[-1]):
        if column.token_id in expected:
            assert probability == expected[column.token_id]


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_logit_lens_every_layer_equals_the_lm_head_on_transformers_hidden_states(manager, key: str) -> None:
    loaded = manager.get(key)
    text = "Paris is the [MASK] of France."
    lens = logit_lens(loaded, ForwardCache(), text, "en", top_k=5)
    ids = torch.tensor([list(encode_text(loaded, text, "en").input_ids)])
    with torch.no_grad():
        hidden = loaded.model(input_ids=ids, output_hidden_states=True).hidden_states
        direct = torch.softmax(torch.stack([loaded.model.pred_layer.proj(h[0, lens.position]) for h in hidden]), dim=-1)
    assert len(lens.layers) == loaded.n_layers + 1 == direct.shape[0]
    column_ids = [c.token_id for c in lens.columns]
    np.testing.assert_allclose(lens.matrix(), direct[:, column_ids].numpy(), atol=1e-6)
    for layer, row in zip(lens.layers, direct):
        ranked = [i for i in row.argsort(descending=True).tolist() if i not in loaded.special_ids][:5]
        assert [p.token_id for p in layer.predictions] == ranked


def test_logit_lens_columns_hold_last_top_k_then_every_layer_top_1(multi_model) -> None:
    lens = logit_lens(multi_model, ForwardCache(), "Le chat dort sur le [MASK].", "fr", top_k=4)
    column_ids = [c.token_id for c in lens.columns]
    assert column_ids[:4] == [p.token_id for p in lens.layers[-1].predictions]
    assert {layer.predictions[0].token_id for layer in lens.layers} <= set(column_ids)
    assert len(column_ids) == len(set(column_ids))
    assert lens.relative_depths == tuple(layer / multi_model.n_layers for layer in range(multi_model.n_layers + 1))


def test_one_forward_per_model_serves_logit_lens_compare_and_fill_mask(fresh_workspace) -> None:
    cache = fresh_workspace.forward_cache
    models = [fresh_workspace.manager.get(key) for key in fresh_workspace.manager.keys]
    text = "The cat sat on the [MASK]."
    for loaded in models:
        logit_lens(loaded, cache, text, "en", top_k=5)  # keeps every layer's states: the others read them
    compare_models(models, cache, text, "en", top_k=5)
    for loaded in models:
        predict_masks(loaded, cache, text, "en", top_k=5)
    assert cache.forward_calls == len(models)


def test_fill_mask_keeps_only_the_last_layer_and_a_richer_request_runs_once_more(fresh_workspace) -> None:
    cache = fresh_workspace.forward_cache
    loaded = fresh_workspace.manager.get("100-1280")
    text = "The cat sat on the [MASK]."
    first = predict_masks(loaded, cache, text, "en", top_k=5)
    (entry,) = [cache.lru.peek(key) for key in list(cache.lru._entries)]
    assert entry.hidden_states is None and entry.attentions is None and len(entry.logits) == 1  # one mask
    assert entry.nbytes == (len(entry.input_ids) * loaded.hidden_size + len(entry.logits) * loaded.vocab_size) * 4
    logit_lens(loaded, cache, text, "en", top_k=5)
    assert cache.forward_calls == 2 and len(cache) == 1  # run again with every layer, replacing the entry
    again = predict_masks(loaded, cache, text, "en", top_k=5)
    assert cache.forward_calls == 2 and cache.head_calls == 1  # the fill-mask logits were carried over
    assert again.to_dict() == first.to_dict()


def test_depth_alignment_matches_layers_by_relative_depth() -> None:
    alignment = dict(depth_alignment(12, 16))
    assert alignment[0] == 0 and alignment[12] == 16 and alignment[6] == 8 and alignment[3] == 4
    assert len(alignment) == 13
    assert all(abs(a / 12 - b / 16) <= 0.5 / 16 + 1e-12 for a, b in alignment.items())


def test_logit_lens_bad_input_gets_clear_messages(en_model) -> None:
    with pytest.raises(UserInputError, match="from 1 to 2"):
        logit_lens(en_model, ForwardCache(), "The [MASK] sat on the [MASK].", "en", mask_number=3)
    with pytest.raises(UserInputError, match="No mask"):
        logit_lens(en_model, ForwardCache(), "No mask here.", "en")
    with pytest.raises(UserInputError, match="at most 20"):
        logit_lens(en_model, ForwardCache(), "The [MASK].", "en", top_k=30)


# --------------------------------------------------------------------------------------------------
# Tokenization and overlap


def test_overlap_at_k_constructed_cases() -> None:
    a = ["Paris", "london", "x"]
    b = ["paris", "Berlin", "LONDON"]
    assert overlap_at_k(a, b, 1) == (1.0, ("paris",))
    assert overlap_at_k(a, b, 2) == (0.5, ("paris",))
    assert overlap_at_k(a, b, 3) == (pytest.approx(2 / 3), ("paris", "london"))
    assert overlap_at_k(["été"], ["ete"], 1)[0] == 1.0  # en-2048 strips accents, 100-1280 keeps them
    assert overlap_at_k(["cat@@"], ["cat"], 1)[0] == 0.0  # a word-internal piece is not the word
    assert overlap_at_k(["a"], ["a"], 5)[0] == pytest.approx(0.2)  # short lists still divide by k
    assert comparable_form("Élève") == "eleve"


def test_a_model_compared_with_itself_overlaps_fully(multi_model) -> None:
    result = compare_models([multi_model, multi_model], ForwardCache(), "Le [MASK] dort sur le [MASK].", "fr", top_k=10)
    assert {o.k for o in result.overlaps} == {1, 3, 5, 10}
    assert {o.mask_number for o in result.overlaps} == {1, 2}
    assert all(o.overlap == 1.0 for o in result.overlaps)


def test_compare_reports_both_models_in_columns(manager) -> None:
    models = [manager.get(key) for key in manager.keys]
    result = compare_models(models, ForwardCache(), "Le chat dort sur le [MASK].", "fr", top_k=5)
    assert result.models == ("en-2048", "100-1280")
    assert [f["model"] for f in result.facts] == ["en-2048", "100-1280"]
    assert any("English-only" in n for n in result.notices)
    table = make_side_by_side_table(result)
    assert list(table.columns) == [
        "mask",
        "rank",
        "en-2048 token",
        "en-2048 probability",
        "100-1280 token",
        "100-1280 probability",
    ]
    assert len(table) == 5
    assert table["en-2048 token"].tolist() == [p.token for p in result.fill_masks[0].masks[0].predictions]
    assert len(make_overlap_table(result)) == len(result.overlaps)
    facts = make_facts_table(result)
    assert facts.set_index("fact").loc["Layers"].tolist() == ["2", "3"]
    payload = result.to_dict()
    assert set(payload["tokenization"]) == set(payload["fill_mask"]) == {"en-2048", "100-1280"}


def test_tokenization_counts_add_up(manager) -> None:
    loaded = manager.get("en-2048")
    summary = summarise_tokenization(loaded, "Le chat dort sur le [MASK] 😀.", "fr")
    assert summary.lang == "en"  # en-2048 always reads English
    assert summary.n_pieces == len(summary.tokens) - 2  # all but <s> and </s>
    assert summary.n_masks == 1
    assert sum(w.n_pieces for w in summary.words) == summary.n_pieces - summary.n_masks
    assert summary.n_unknown >= 1 and summary.unknown_share == summary.n_unknown / summary.n_pieces
    assert any(w.n_pieces > 1 for w in summary.words)  # French splits into pieces for the English BPE
    table = make_tokenization_table(compare_models([loaded], ForwardCache(), "Le chat dort.", "fr"))
    assert table.loc[0, "pieces"] == summarise_tokenization(loaded, "Le chat dort.", "fr").n_pieces


def test_compare_without_a_mask_compares_tokenization_only(manager) -> None:
    models = [manager.get(key) for key in manager.keys]
    result = compare_models(models, ForwardCache(), "The cat sleeps.", "en")
    assert result.fill_masks == () and result.overlaps == ()
    assert any("no [MASK]" in n for n in result.notices)
    assert len(make_side_by_side_table(result)) == 0


def test_tokenization_html_escapes_user_text(en_model) -> None:
    summary = summarise_tokenization(en_model, "<script>alert(1)</script> [MASK]", "en")
    page = make_tokenization_html(summary)
    assert "<script>" not in page and "&lt;" in page


# --------------------------------------------------------------------------------------------------
# Cross-lingual grid


def test_shipped_templates_have_one_mask_each_and_parse() -> None:
    shipped = load_grid_templates()
    assert set(shipped) >= {"t1", "t2", "t3"}
    for templates in shipped.values():
        assert len({t.lang for t in templates}) == len(templates) >= 4
        assert all(count_masks(t.text) == 1 for t in templates)


def test_grid_cells_equal_fill_mask_per_language(manager) -> None:
    models = [manager.get(key) for key in manager.keys]
    templates = parse_grid_templates(
        "en\tThe capital of France is [MASK].\nfr: La capitale de la France est [MASK].", manager.languages("100-1280")
    )
    grid = crosslingual_grid(models, ForwardCache(), templates, top_k=3)
    assert len(grid.cells) == 4 and grid.models == ("en-2048", "100-1280")
    for cell in grid.cells:
        loaded = manager.get(cell.model)
        expected = predict_masks(loaded, ForwardCache(), cell.text, cell.lang if loaded.spec.multilingual else "en", 3)
        assert cell.predictions == expected.masks[0].predictions
    wide = make_grid_table(grid)
    assert list(wide.columns) == ["lang", "template", "en-2048", "100-1280"] and len(wide) == 2
    assert len(make_grid_long_table(grid)) == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No templates"),
        ("en\tThe capital is Paris.", "0 masks"),
        ("en\tThe [MASK] is [MASK].", "2 masks"),
        ("xx\tThe capital is [MASK].", "unknown language"),
        ("just a sentence with [MASK]", "lang<TAB>sentence"),
        ("# only a comment", "blank or a comment"),
    ],
)
def test_bad_grid_templates_get_clear_messages(manager, text: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_grid_templates(text, manager.languages("100-1280"))


# --------------------------------------------------------------------------------------------------
# Linear CKA


def _feature_space_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA as Kornblith et al. write it: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    return float(np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def test_cka_of_a_representation_with_itself_is_one() -> None:
    rng = np.random.default_rng(0)
    for n, d in [(10, 3), (30, 64), (6, 200)]:
        x = rng.normal(size=(n, d))
        assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_scaling_and_shifts() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 16))
    y = x[:, :8] @ rng.normal(size=(8, 12)) + 0.5 * rng.normal(size=(40, 12))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    base = linear_cka(x, y)
    assert 0.0 < base < 1.0
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x), abs=1e-12)
    assert linear_cka(3.5 * x + 7.0, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x @ q, x) == pytest.approx(1.0, abs=1e-10)
    # a non-orthogonal (anisotropic) stretch does change CKA
    stretch = np.diag(np.linspace(0.1, 10.0, 16))
    assert abs(linear_cka(x @ stretch, y) - base) > 1e-3


def test_cka_equals_the_feature_space_formula_and_matrix_agrees() -> None:
    rng = np.random.default_rng(2)
    layers_a = rng.normal(size=(3, 25, 10))
    layers_b = rng.normal(size=(4, 25, 7))
    layers_b[2] = layers_a[1] @ rng.normal(size=(10, 7))
    matrix = cka_matrix(layers_a, layers_b)
    assert matrix.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert matrix[i, j] == pytest.approx(linear_cka(layers_a[i], layers_b[j]), abs=1e-10)
            assert matrix[i, j] == pytest.approx(_feature_space_cka(layers_a[i], layers_b[j]), abs=1e-10)
    assert matrix[1, 2] > matrix[0, 2]


def test_cka_constant_representation_is_zero_not_nan() -> None:
    x = np.ones((5, 3))
    assert linear_cka(x, np.random.default_rng(3).normal(size=(5, 3))) == 0.0
    with pytest.raises(ValueError):
        linear_cka(np.ones((5, 3)), np.ones((4, 3)))


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_batched_pooling_equals_one_sentence_at_a_time(manager, key: str) -> None:
    loaded = manager.get(key)
    sentences = sentence_set(
        (
            "The cat is sleeping on the sofa.",
            "Hi.",
            "Le chat dort sur le canapé depuis ce matin.",
            "Die Katze schläft.",
        ),
        ("en", "en", "fr", "de"),
    )
    pooled = EmbeddingCache(batch_size=3).get(loaded, sentences).pooled["mean"]  # what CKA reads
    assert pooled.shape == (loaded.n_layers + 1, 4, loaded.hidden_size)
    for i, (text, lang) in enumerate(zip(sentences.texts, sentences.langs)):
        ids = encode_text(loaded, text, lang if loaded.spec.multilingual else "en", allow_masks=False).input_ids
        hidden = run_forward(loaded, ids).hidden_states[:, 1:-1].double().mean(dim=1).numpy()
        np.testing.assert_allclose(pooled[:, i], hidden, atol=1e-5)


def test_layer_similarity_of_a_model_with_itself_has_a_unit_diagonal(multi_model) -> None:
    sentences = load_parallel_sentences(["en", "fr"])
    assert len(sentences) == 96
    result = layer_similarity(multi_model, multi_model, sentence_set(sentences.texts[:20], sentences.langs[:20]))
    np.testing.assert_allclose(np.diag(result.cka), 1.0, atol=1e-9)
    np.testing.assert_allclose(result.cka, result.cka.T, atol=1e-9)
    assert result.cka.shape == (multi_model.n_layers + 1,) * 2


def test_layer_similarity_between_models_and_views(manager) -> None:
    en, multi = manager.get("en-2048"), manager.get("100-1280")
    result = layer_similarity(en, multi, load_parallel_sentences(["en"]))
    assert result.cka.shape == (en.n_layers + 1, multi.n_layers + 1)
    assert ((result.cka >= 0) & (result.cka <= 1)).all()
    assert result.n_sentences == 48
    table = make_cka_table(result)
    assert table.shape == (en.n_layers + 1, multi.n_layers + 2)
    figure = make_cka_figure(result)
    assert np.asarray(figure.data[0].z).shape == result.cka.shape
    with pytest.raises(UserInputError, match="at least 5"):
        layer_similarity(en, multi, sentence_set(("one", "two"), ("en", "en")))
    with pytest.raises(UserInputError, match="at most 1,000"):
        layer_similarity(en, multi, parse_sentences("\n".join(f"Sentence {i}." for i in range(1001)), "en"))
    with pytest.raises(UserInputError, match="the limit is 200,000"):
        parse_sentences("word " * 50_000, "en")


def test_logit_lens_views(manager) -> None:
    results = [
        logit_lens(manager.get(key), ForwardCache(), "The cat sat on the [MASK].", "en", top_k=3)
        for key in manager.keys
    ]
    figure = make_logit_lens_figure(results)
    assert len(figure.data) == 2
    assert list(figure.data[1].y) == list(results[1].relative_depths)
    table = make_logit_lens_table(results)
    assert len(table) == sum(len(r.layers) * 3 for r in results)


def test_commitment_is_the_first_layer_a_candidate_keeps_through_the_last() -> None:
    from xlm_explorer.analysis.logit_lens import commits

    assert commits([9, 1, 3, 1, 1], 1) == 3 and commits([9, 1, 3, 1, 1], 5) == 1
    assert commits([1, 1, 1], 1) == 0 and commits([1, 1, 2], 1) is None and commits([7, 6], 5) is None


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_candidates_over_depth_rank_as_a_direct_sort_of_every_layers_probabilities(manager, key: str) -> None:
    loaded = manager.get(key)
    text = "The capital of France is [MASK]."
    default = logit_lens(loaded, ForwardCache(), text, "en", 1, 5)
    assert [c.token_id for c in default.candidates] == [p.token_id for p in default.layers[-1].predictions]
    assert [c.ranks[-1] for c in default.candidates] == [1, 2, 3, 4, 5]
    chosen = logit_lens(loaded, ForwardCache(), text, "en", 1, 5, ["paris", "the", "cat"])
    ids = encode_text(loaded, text, "en").input_ids
    position = ids.index(loaded.mask_token_id)
    with torch.no_grad():
        hidden = loaded.model.transformer(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
        logits = torch.stack([loaded.model.pred_layer.proj(h[0, position]) for h in hidden]).double()
    probs = torch.softmax(logits, -1)
    probs[:, sorted(loaded.special_ids)] = 0.0
    for candidate in chosen.candidates:
        direct = [int((row > row[candidate.token_id]).sum()) + 1 for row in probs]
        assert list(candidate.ranks) == direct, candidate.token  # (ties in float32 vs float64 would show here)
        np.testing.assert_allclose(candidate.probabilities, probs[:, candidate.token_id].numpy(), rtol=1e-4, atol=1e-9)
