"""The shared forward cache: one body pass per input, exact outputs, bounded memory."""

from __future__ import annotations

import torch

from xlm_explorer.forward import ForwardCache, lm_head_logits, run_forward
from xlm_explorer.tokenization import encode_text


def test_cached_outputs_equal_the_model_outputs(multi_model) -> None:
    encoding = encode_text(multi_model, "The cat sat on the [MASK].")
    result = ForwardCache().get(multi_model, encoding.input_ids)
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
