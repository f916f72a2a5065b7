"""The shared forward cache: one body pass per input, exact outputs, bounded memory."""

from __future__ import annotations

import pytest
import torch

from xlm_explorer.forward import ForwardCache, lm_head_logits, run_forward
from xlm_explorer.tokenization import encode_text


def test_cached_outputs_equal_the_model_outputs(multi_model) -> None:
    encoding = encode_text(multi_model, "The cat sat on the [MASK].")
    result = ForwardCache().get(multi_model, encoding.input_ids, hidden_states=True, attentions=True)
    with torch.no_grad():
        out = multi_model.model(
            input_ids=torch.tensor([encoding.input_ids]), output_hidden_states=True, output_attentions=True
        )
    n_layers, T = multi_model.n_layers, len(encoding)
    assert result.hidden_states.shape == (n_layers + 1, T, multi_model.hidden_size)
    assert result.attentions.shape == (n_layers, multi_model.n_heads, T, T)
    for layer in range(n_layers + 1):
        torch.testing.assert_close(result.hidden_states[layer], out.hidden_states[layer][0])
    torch.testing.assert_close(result.attentions, torch.stack(out.attentions)[:, 0])
    torch.testing.assert_close(lm_head_logits(multi_model, result.hidden_states[-1]), out.logits[0])


def test_attention_rows_sum_to_one(en_model) -> None:
    result = run_forward(en_model, encode_text(en_model, "One more short sentence.").input_ids)
    torch.testing.assert_close(result.attentions.sum(-1), torch.ones(result.attentions.shape[:-1]))


def test_one_forward_per_input_and_logits_only_where_asked(multi_model) -> None:
    cache = ForwardCache()
    ids = encode_text(multi_model, "A [MASK] and a [MASK].").input_ids
    first = cache.get(multi_model, ids)
    assert cache.get(multi_model, ids) is first
    assert cache.forward_calls == 1 and cache.hits == 1
    logits = cache.logits_at(multi_model, first, [2, 5])
    assert logits.shape == (2, multi_model.vocab_size) and set(first.logits) == {2, 5}
    cache.logits_at(multi_model, first, [5, 2])
    assert cache.head_calls == 1
    other = cache.get(multi_model, ids[:-2] + ids[-1:])
    assert other is not first and cache.forward_calls == 2


def test_language_ids_do_not_split_the_cache_for_models_without_language_embeddings(multi_model) -> None:
    cache = ForwardCache()
    ids = encode_text(multi_model, "Hallo Welt").input_ids
    assert cache.get(multi_model, ids, multi_model.lang2id["de"]) is cache.get(multi_model, ids, multi_model.lang2id["fr"])


def test_cache_is_bounded_in_bytes(en_model) -> None:
    sentences = [f"sentence number {i} is here" for i in range(12)]
    one = run_forward(en_model, encode_text(en_model, sentences[0]).input_ids).nbytes
    cache = ForwardCache(max_bytes=int(one * 3.5))
    for text in sentences:
        cache.get(en_model, encode_text(en_model, text).input_ids)
    assert 1 <= len(cache) <= 4 and cache.nbytes <= cache.max_bytes
    # the most recent input is still cached
    calls = cache.forward_calls
    cache.get(en_model, encode_text(en_model, sentences[-1]).input_ids)
    assert cache.forward_calls == calls


def test_truncation_keeps_the_end_token_and_says_so(en_model) -> None:
    encoding = encode_text(en_model, "word " * 700, allow_masks=False, truncate=True)
    assert len(encoding) == en_model.max_positions
    assert encoding.input_ids[-1] == en_model.tokenizer.sep_token_id
    assert any("cut" in notice for notice in encoding.notices)


def test_pair_encoding(multi_model) -> None:
    encoding = encode_text(multi_model, "The cat sleeps.", text_pair="Le chat dort.", lang_pair="fr")
    sep = multi_model.tokenizer.sep_token_id
    b = encoding.sentence_b_start
    assert encoding.input_ids[0] == multi_model.tokenizer.bos_token_id
    assert encoding.input_ids[b - 1] == sep and encoding.input_ids[-1] == sep
    assert encoding.input_ids == tuple(multi_model.tokenizer("The cat sleeps.", "Le chat dort.")["input_ids"])


# ------------------------------------------------------------------------------------------------ hook points


def test_every_hook_point_holds_what_its_name_says(multi_model) -> None:
    """Each captured point equals the same quantity computed directly from the model's modules."""
    from xlm_explorer.forward import hidden_point, hook_points, run_with_hooks

    ids = encode_text(multi_model, "The cat sat on the [MASK].").input_ids
    names = hook_points(multi_model.n_layers)
    assert len(names) == 1 + 6 * multi_model.n_layers and names[0] == "embed"
    batch = run_with_hooks(multi_model, [ids], cache=names, hidden_states=True, attentions=True)
    acts, body = batch.activations, multi_model.model.transformer
    assert set(acts) == set(names)
    for layer in range(multi_model.n_layers + 1):
        torch.testing.assert_close(acts[hidden_point(layer)], batch.hidden_states[layer], rtol=0, atol=0)
    with torch.no_grad():
        for i in range(multi_model.n_layers):
            block = f"blocks.{i}"
            torch.testing.assert_close(acts[f"{block}.attn.pattern"].float(), batch.attentions[i], rtol=0, atol=0)
            torch.testing.assert_close(body.attentions[i].out_lin(acts[f"{block}.attn.heads"]), acts[f"{block}.attn.out"])
            resid_mid = body.layer_norm1[i](batch.hidden_states[i] + acts[f"{block}.attn.out"])
            torch.testing.assert_close(acts[f"{block}.resid_mid"], resid_mid)
            torch.testing.assert_close(body.ffns[i](resid_mid), acts[f"{block}.ffn.out"])
            torch.testing.assert_close(body.layer_norm2[i](resid_mid + acts[f"{block}.ffn.out"]), acts[f"{block}.out"])


def test_hooks_edit_the_pass_and_are_removed_even_when_they_fail(en_model) -> None:
    from xlm_explorer.forward import run_with_hooks

    ids = encode_text(en_model, "The cat sat on the [MASK].").input_ids
    position = ids.index(en_model.mask_token_id)
    plain = run_with_hooks(en_model, [ids], logits_at=[(0, position)]).logits
    same = run_with_hooks(en_model, [ids], hooks={"blocks.0.ffn.out": lambda t, _n: None}, logits_at=[(0, position)]).logits
    torch.testing.assert_close(same, plain, rtol=0, atol=0)  # a hook that returns None changes nothing
    owned = []

    def zero_heads(tensor: torch.Tensor, name: str) -> torch.Tensor:
        owned.append(en_model.lock._is_owned())  # hooks run only while this thread holds the model
        return torch.zeros_like(tensor)

    edited = run_with_hooks(en_model, [ids], hooks={"blocks.1.attn.heads": zero_heads}, logits_at=[(0, position)]).logits
    assert owned == [True] and not torch.allclose(edited, plain)

    def fail(tensor: torch.Tensor, name: str) -> torch.Tensor:
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        run_with_hooks(en_model, [ids], hooks={"embed": fail, "blocks.0.attn.heads": fail})
    modules = list(en_model.model.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in modules)
    again = run_with_hooks(en_model, [ids], logits_at=[(0, position)]).logits
    torch.testing.assert_close(again, plain, rtol=0, atol=0)


def test_bad_hook_points_are_refused(en_model) -> None:
    from xlm_explorer.forward import run_with_hooks

    ids = encode_text(en_model, "A cat.").input_ids
    with pytest.raises(ValueError, match="unknown hook point"):
        run_with_hooks(en_model, [ids], cache=[f"blocks.{en_model.n_layers}.out"])
    with pytest.raises(ValueError, match="read-only"):
        run_with_hooks(en_model, [ids], hooks={"blocks.0.attn.pattern": lambda t, _n: t})


def test_the_cache_keeps_only_the_parts_asked_for(en_model) -> None:
    cache = ForwardCache()
    ids = encode_text(en_model, "The cat sat on the [MASK].").input_ids
    plain = cache.get(en_model, ids, positions=(6,))
    assert plain.hidden_states is None and plain.attentions is None and plain.last_hidden.shape == (len(ids), en_model.hidden_size)
    full = run_forward(en_model, ids)
    torch.testing.assert_close(plain.last_hidden, full.hidden_states[-1], rtol=0, atol=0)
    assert plain.nbytes == (len(ids) * en_model.hidden_size + en_model.vocab_size) * 4  # last layer + one logit row
    assert plain.nbytes - en_model.vocab_size * 4 < full.nbytes / 4
    with_attention = cache.get(en_model, ids, attentions=True)
    assert cache.forward_calls == 2 and with_attention.hidden_states is None
    torch.testing.assert_close(with_attention.attentions, full.attentions, rtol=0, atol=0)
    both = cache.get(en_model, ids, hidden_states=True)  # keeps what the entry had: attentions too
    assert cache.forward_calls == 3 and both.attentions is not None and 6 in both.logits
    assert cache.get(en_model, ids, attentions=True) is both and cache.get(en_model, ids) is both
    assert cache.forward_calls == 3 and len(cache) == 1
