"""Attention beyond raw weights (analysis.attention_flow), each measure checked against a direct computation on the
tiny checkpoints: rollout against Abnar & Zuidema's own ``compute_joint_attention`` (their attention_flow repository,
re-typed below), the norm-based measure's f(x) against the model's attention output, Spearman against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from xlm_explorer import service
from xlm_explorer.analysis.attention_flow import (MEASURES, attention_flow, is_punctuation, norm_contributions,
                                                  rollout, spearman)
from xlm_explorer.forward import run_with_hooks, transformed_values

TEXT = "The doctor said that [MASK] was tired, very tired."


def compute_joint_attention(att_mat: np.ndarray, add_residual: bool = True) -> np.ndarray:
    """samiraabnar/attention_flow, attention_graph_util.py (the reference rollout), as written there."""
    if add_residual:
        residual_att = np.eye(att_mat.shape[1])[None, ...]
        aug_att_mat = att_mat + residual_att
        aug_att_mat = aug_att_mat / aug_att_mat.sum(axis=-1)[..., None]
    else:
        aug_att_mat = att_mat
    joint_attentions = np.zeros(aug_att_mat.shape)
    layers = joint_attentions.shape[0]
    joint_attentions[0] = aug_att_mat[0]
    for i in np.arange(1, layers):
        joint_attentions[i] = aug_att_mat[i].dot(joint_attentions[i - 1])
    return joint_attentions


def test_rollout_equals_the_reference_implementation() -> None:
    rng = np.random.default_rng(0)
    raw = rng.random((5, 7, 7))
    raw /= raw.sum(-1, keepdims=True)
    np.testing.assert_allclose(rollout(raw), compute_joint_attention(raw), rtol=0, atol=1e-12)
    assert np.allclose(rollout(raw).sum(-1), 1.0)


def test_transformed_values_rebuild_the_attention_output(manager) -> None:
    """sum_h sum_j alpha[h, i, j] f[h, j] + the output bias is the block's attention output, at every block."""
    loaded = manager.get("en-2048")
    ids = loaded.tokenizer(TEXT.replace("[MASK]", "she"))["input_ids"]
    out = run_with_hooks(loaded, [ids], hidden_states=True, attentions=True,
                         cache=[f"blocks.{b}.attn.out" for b in range(loaded.n_layers)])
    for block in range(loaded.n_layers):
        values = transformed_values(loaded, block, out.hidden_states[block, 0])
        weights = out.attentions[block, 0]  # (heads, T, T)
        rebuilt = torch.einsum("hij,hjd->id", weights, values) + loaded.model.transformer.attentions[block].out_lin.bias.float()
        torch.testing.assert_close(rebuilt, out.activations[f"blocks.{block}.attn.out"][0].float(), rtol=1e-4, atol=1e-5)
        direct = torch.stack([torch.linalg.vector_norm((weights[:, i, :, None] * values).sum(0), dim=-1)
                              for i in range(weights.shape[1])])  # row by row, no chunks
        np.testing.assert_allclose(norm_contributions(weights, values), direct.numpy(), rtol=1e-5, atol=1e-6)


def test_transformed_values_of_packed_layers_equal_the_plain_ones(fresh_manager) -> None:
    """Full-size models on a CPU run oneDNN-packed linear layers (opaque weights); f(x) reads them the same."""
    from xlm_explorer.packing import pack_linear_layers

    loaded = fresh_manager.get("en-2048")
    ids = loaded.tokenizer("The doctor said that she was tired.")["input_ids"]
    hidden = run_with_hooks(loaded, [ids], hidden_states=True).hidden_states[0, 0]
    plain = transformed_values(loaded, 0, hidden)
    if pack_linear_layers(loaded.model, min_weights=1) == 0:
        pytest.skip("oneDNN packing is not available here")
    assert loaded.model.transformer.attentions[0].out_lin.weight.is_mkldnn
    torch.testing.assert_close(transformed_values(loaded, 0, hidden), plain, rtol=1e-4, atol=1e-5)


def test_spearman_equals_scipy_with_ties() -> None:
    a = np.array([0.1, 0.5, 0.5, 0.2, 0.9, 0.0])
    b = np.array([1.0, 3.0, 2.0, 2.0, 5.0, 0.5])
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert spearman(np.ones(4), b[:4]) is None


def test_punctuation_and_special_tokens_are_hidden_on_request(manager, workspace) -> None:
    loaded = manager.get("en-2048")
    shown = attention_flow(loaded, workspace.forward_cache, TEXT, hide=False)
    hidden = attention_flow(loaded, workspace.forward_cache, TEXT, hide=True)
    tokens = shown.attribution.tokens
    assert hidden.special == (0, len(tokens) - 1)
    assert [tokens[i] for i in hidden.punctuation] and all(is_punctuation(tokens[i]) for i in hidden.punctuation)
    rows = hidden.mask_rows()
    assert np.allclose(rows[..., list(hidden.special) + list(hidden.punctuation)], 0.0)
    assert np.allclose(rows.sum(-1), 1.0) and np.allclose(shown.mask_rows().sum(-1), 1.0)
    assert len(shown.kept) == len(tokens) and len(hidden.kept) == len(tokens) - len(hidden.special) - len(hidden.punctuation)


def test_correlations_are_spearman_of_each_mask_row_with_absolute_ig(manager, workspace) -> None:
    loaded = manager.get("en-2048")
    result = attention_flow(loaded, workspace.forward_cache, TEXT, hide=True)
    ig = np.abs(np.array(result.attribution.integrated_gradients))[result.kept]
    rho = result.correlations()
    assert rho.shape == (len(MEASURES), loaded.n_layers)
    for k in range(len(MEASURES)):
        for layer in range(loaded.n_layers):
            expected = spearmanr(result.mask_rows()[k, layer, result.kept], ig).statistic
            assert rho[k, layer] == pytest.approx(expected, abs=1e-9)
    raw = result.measures[0]
    assert np.allclose(raw.sum(-1), 1.0) and np.allclose(result.measures[2].sum(-1), 1.0)


def test_the_endpoint_answers_one_item_per_model_with_the_documented_shape(workspace) -> None:
    answer = service.attention_flow(workspace, TEXT, model="both", lang="en", hide_special=True)
    payload = answer.payload
    assert [item["model"] for item in payload["results"]] == ["en-2048", "100-1280"] and not payload["errors"]
    for item in payload["results"]:
        assert set(item["measures"]) == set(MEASURES)
        for measure in item["measures"].values():
            assert len(measure["mask_rows"]) == item["n_layers"] == len(measure["spearman_with_ig"])
            assert all(len(row) == len(item["tokens"]) for row in measure["mask_rows"])
        assert item["hidden_positions"][0] == 0 and item["target_token"]
