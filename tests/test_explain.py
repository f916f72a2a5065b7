"""Why this prediction: integrated gradients (completeness), gradient x input against a direct autograd computation,
activation patching (the identities that pin it down), contextual token search (a token finds itself), the index
command (same matches as the app, resumable), and the three endpoints through the API."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client.exceptions import AppError

from xlm_explorer import service
from xlm_explorer.analysis.attribution import attribute
from xlm_explorer.analysis.patching import patch, run_patched
from xlm_explorer.forward import hidden_point, run_from_layer
from xlm_explorer.analysis.token_search import Corpus, CorpusSentence, build_index, nearest, search_token, shipped_corpus
from xlm_explorer.errors import UserInputError
from xlm_explorer.forward import ForwardCache
from xlm_explorer.packing import pack_linear_layers, packing_supported

ROOT = Path(__file__).resolve().parents[1]
TEXT_A, TEXT_B = "The cat said that [MASK] was tired.", "The dog said that [MASK] was tired."


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
@pytest.mark.parametrize("target", ["", "she"])
def test_integrated_gradients_are_complete_within_one_percent(manager, key: str, target: str) -> None:
    result = attribute(manager.get(key), ForwardCache(), "The doctor said that [MASK] was tired.", "en", 1, target)
    difference = result.target_logit - result.baseline_logit
    assert len(result.integrated_gradients) == len(result.input_ids) == len(result.tokens)
    assert abs(sum(result.integrated_gradients) - difference) <= 0.01 * abs(difference)
    assert result.completeness_gap == pytest.approx(abs(sum(result.integrated_gradients) - difference), abs=1e-6)
    assert result.baseline_token_id == manager.get(key).tokenizer.pad_token_id


def test_gradient_x_input_equals_a_direct_autograd_computation(en_model) -> None:
    result = attribute(en_model, ForwardCache(), "The cat sat on the [MASK].", "en", 1, "")
    ids = torch.tensor([result.input_ids])
    embeds = en_model.model.transformer.embeddings(ids).detach().requires_grad_(True)
    logits = en_model.model(inputs_embeds=embeds).logits[0, result.position, result.target_id]
    (grad,) = torch.autograd.grad(logits, embeds)
    np.testing.assert_allclose(result.gradient_x_input, (embeds * grad).sum(-1)[0].detach().numpy(), atol=1e-5)
    assert result.target_logit == pytest.approx(float(logits.detach()), abs=1e-4)


@pytest.mark.skipif(not packing_supported(torch.device("cpu"), torch.float32), reason="no oneDNN here")
def test_attribution_is_the_same_through_onednn_packed_layers(en_model) -> None:
    from xlm_explorer.models import load_model

    model = copy.deepcopy(en_model.model)
    assert pack_linear_layers(model, min_weights=0) > 0
    packed = load_model("en-2048", (model, en_model.tokenizer), en_model.device, en_model.dtype)
    plain = attribute(en_model, ForwardCache(), "The cat sat on the [MASK].", "en", 1, "")
    fast = attribute(packed, ForwardCache(), "The cat sat on the [MASK].", "en", 1, "")
    np.testing.assert_allclose(fast.integrated_gradients, plain.integrated_gradients, atol=1e-4)


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_patching_identities(manager, key: str) -> None:
    loaded = manager.get(key)
    cache = ForwardCache()
    result = patch(loaded, cache, TEXT_A, TEXT_B, "en", "", head_layer=1)
    assert result.effects.shape == (loaded.n_layers + 1, len(result.input_ids_a))
    assert result.head_effects.shape == (loaded.n_heads, len(result.input_ids_a))
    states_b = cache.get(loaded, result.input_ids_b, hidden_states=True).hidden_states
    every = {p: (slice(None), states_b[-1][p]) for p in range(len(result.input_ids_a))}
    all_last, nothing = run_patched(loaded, result.input_ids_a, None, hidden_point(loaded.n_layers),
                                    [every, {}], result.position, result.target_id)
    assert float(all_last) == pytest.approx(result.logprob_b, abs=1e-5)  # every position of the last layer: B
    assert float(nothing) == pytest.approx(result.logprob_a, abs=1e-5)  # nothing patched: A
    assert result.effects[-1, result.position] == pytest.approx(result.logprob_b, abs=1e-5)  # the mask's last state decides
    unchanged = [p for p, (a, b) in enumerate(zip(result.input_ids_a, result.input_ids_b)) if a == b and p < result.position]
    np.testing.assert_allclose(result.effects[0, unchanged], result.logprob_a, atol=1e-5)  # same token, same embedding


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_the_sweep_starting_at_the_patched_layer_equals_a_full_patched_pass_at_every_layer_and_position(manager, key: str) -> None:
    """The layer sweep runs only the blocks above the patch (forward.run_from_layer); a full pass with the hook
    point edited is the reference, for every cell, and the model's blocks are whole again afterwards."""
    loaded = manager.get(key)
    result = patch(loaded, ForwardCache(), TEXT_A, TEXT_B, "en", "")
    states_b = ForwardCache().get(loaded, result.input_ids_b, hidden_states=True).hidden_states
    length = len(result.input_ids_a)
    for layer in range(loaded.n_layers + 1):
        full = run_patched(loaded, result.input_ids_a, None, hidden_point(layer),
                           [{p: (slice(None), states_b[layer][p])} for p in range(length)], result.position, result.target_id)
        np.testing.assert_allclose(result.effects[layer], full.numpy(), atol=1e-5)
    body = loaded.model.transformer
    assert body.n_layers == loaded.n_layers and all(len(getattr(body, n)) == loaded.n_layers
                                                    for n in ("attentions", "layer_norm1", "ffns", "layer_norm2"))
    with pytest.raises(RuntimeError):
        run_from_layer(loaded, torch.zeros(1, 3, loaded.hidden_size + 1), 1)  # a wrong width fails inside the cut model
    assert len(body.attentions) == loaded.n_layers and body.n_layers == loaded.n_layers  # and it is whole again


def test_a_prediction_made_while_a_sweep_runs_sees_the_whole_model(en_model) -> None:
    """The sweep cuts the model's block lists under the model's lock; a request on another thread meanwhile waits and
    then runs every block (its answer equals the one before the sweep)."""
    import threading

    from xlm_explorer.analysis.fill_mask import predict_masks

    before = predict_masks(en_model, ForwardCache(), TEXT_A, "en", 5).masks[0].predictions
    sweep = threading.Thread(target=patch, args=(en_model, ForwardCache(), TEXT_A, TEXT_B, "en", ""))
    sweep.start()
    during = [predict_masks(en_model, ForwardCache(), TEXT_A, "en", 5).masks[0].predictions for _ in range(20)]
    sweep.join()
    assert all(d == before for d in during)


def test_patching_refuses_sentences_of_different_lengths(en_model) -> None:
    with pytest.raises(UserInputError, match="equal token length"):
        patch(en_model, ForwardCache(), "The cat said that [MASK] was tired.", "The hairdresser said that [MASK] was tired.")


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_a_corpus_token_finds_itself_first_with_cosine_one(multi_model) -> None:
    corpus = shipped_corpus()
    index = build_index(multi_model, corpus, layer=multi_model.n_layers)
    counts = np.bincount(np.asarray([hash(t) % 2**20 for t in index.tokens]))
    unique_rows = [r for r, t in enumerate(index.tokens) if counts[hash(t) % 2**20] == 1]
    row = unique_rows[len(unique_rows) // 2]
    sentence = corpus.sentences[int(index.sentence_of[row])]
    result = search_token(multi_model, ForwardCache(), sentence.text, sentence.lang, int(index.position_of[row]),
                          multi_model.n_layers, 5, index)
    first = result.matches[0]
    assert (first.text, first.token_index) == (sentence.text, int(index.position_of[row]))
    assert first.cosine == pytest.approx(1.0, abs=1e-3)
    assert all(m.cosine <= 1.0 + 1e-6 for m in result.matches) and result.matches[1].cosine <= first.cosine


def test_nearest_is_exact_top_k() -> None:
    from xlm_explorer.analysis.token_search import TokenIndex

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(1000, 16)).astype(np.float16)
    index = TokenIndex("m", 0, Corpus("c", (CorpusSentence("x", "en"),)), vectors, np.zeros(1000, np.int32), np.zeros(1000, np.int32), ["t"] * 1000)
    query = rng.normal(size=16)
    cosines = (vectors.astype(np.float32) @ query) / (np.linalg.norm(vectors.astype(np.float32), axis=1) * np.linalg.norm(query))
    got = nearest(index, query, 7)
    assert [r for r, _ in got] == list(np.argsort(-cosines)[:7])


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_the_index_command_gives_the_app_s_matches_and_resumes(tmp_path: Path, tiny_models_env: str, workspace) -> None:
    corpus_file = tmp_path / "corpus.tsv"
    rows = (ROOT / "assets" / "data" / "parallel_sentences.tsv").read_text(encoding="utf-8").splitlines()
    corpus_file.write_text("\n".join(["id\tlang\ttext", *rows[1:301]]) + "\n", encoding="utf-8")  # 300 sentences: 2 chunks
    out = tmp_path / "index"
    env = {"XLM_EXPLORER_MODELS": tiny_models_env, "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "xlm_explorer.index", str(corpus_file), "--model", "100-1280", "--layers", "1,last",
               "--out", str(out), "--device", "cpu"]
    stopped = subprocess.run(command, cwd=ROOT, env=env | {"XLM_EXPLORER_INDEX_STOP_AFTER_CHUNKS": "1"}, capture_output=True,
                             text=True, timeout=600)
    assert stopped.returncode == 3 and (out / "parts").is_dir() and not (out / "meta-L1.json").exists()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (out / "vectors-L1.npy").is_file() and (out / "vectors-L3.npy").is_file() and not (out / "parts").exists()
    from xlm_explorer.workspace import Workspace

    with_index = Workspace(workspace.manager, corpus_index=out)
    in_app = service.token_search(workspace, "Le chat dort.", "100-1280", "fr", 2, 1, 8, str(corpus_file))
    from_file = service.token_search(with_index, "Le chat dort.", "100-1280", "fr", 2, 1, 8)
    assert from_file.payload["results"][0]["matches"] == in_app.payload["results"][0]["matches"]
    assert from_file.payload["shared"]["n_corpus_tokens"] == in_app.payload["shared"]["n_corpus_tokens"]
    # what the page says it searches: the corpus, its size (the app's own count), the model and the layers indexed
    line = service.corpus_index_line(out)
    n_tokens = in_app.payload["shared"]["n_corpus_tokens"]
    assert line == (f"**Searching your index** `corpus.tsv`: 300 sentences, {n_tokens:,} tokens, indexed for 100-1280 "
                    "at layers 1, 3. Other models and layers search the shipped sentences.")
    assert service.corpus_index_line(None) == "" and "holds no index" in service.corpus_index_line(tmp_path / "parts-none")


def test_the_three_endpoints_through_the_api(client) -> None:
    (data,) = client.predict("The capital of France is [MASK].", "en-2048", "en", 1, "", api_name="/attribution")["results"]
    assert {"input_ids", "tokens", "target_id", "methods"} <= set(data) and data["mask_number"] == 1
    ig = data["methods"]["integrated_gradients"]
    assert {"attributions", "target_logit", "baseline_logit", "baseline_token_id", "n_steps", "completeness_gap"} <= set(ig)
    assert len(data["methods"]["gradient_x_input"]["attributions"]) == len(data["tokens"])
    (patched,) = client.predict(TEXT_A, TEXT_B, "en-2048", "en", "", api_name="/patching")["results"]
    assert {"input_ids_a", "input_ids_b", "target_id", "log_prob_a", "log_prob_b", "effects"} <= set(patched)
    assert len(patched["effects"]) == 3 and len(patched["effects"][0]) == len(patched["input_ids_a"])
    (found,) = client.predict("The cat sleeps on the sofa.", "100-1280", "en", 2, 1, 4, api_name="/token_search")["results"]
    assert len(found["matches"]) == 4 and set(found["matches"][0]) == {"text", "lang", "token", "token_index", "cosine"}
    with pytest.raises(AppError, match="equal token length"):
        client.predict(TEXT_A, "The hairdresser said that [MASK] was tired.", "en-2048", "en", "", api_name="/patching")
    with pytest.raises(AppError, match="token index"):
        client.predict("The cat.", "100-1280", "en", 99, 1, 4, api_name="/token_search")


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_contrastive_attribution_is_complete_on_the_difference_and_is_the_difference_of_attributions(manager, key: str) -> None:
    """log P(target) - log P(foil) = logit(target) - logit(foil); IG and gradient x input are linear in the function
    attributed, so with the same steps the contrastive attributions are the target's minus the foil's."""
    loaded = manager.get(key)
    text = "The doctor said that [MASK] was tired."
    both = attribute(loaded, ForwardCache(), text, "en", 1, "she", foil="he")
    she = attribute(loaded, ForwardCache(), text, "en", 1, "she")
    he = attribute(loaded, ForwardCache(), text, "en", 1, "he")
    assert both.foil_id == he.target_id and both.target_id == she.target_id and "log P" in both.attributed
    difference = both.target_logit - both.baseline_logit
    assert abs(sum(both.integrated_gradients) - difference) <= 0.01 * abs(difference)  # completeness on the difference
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([both.input_ids])).logits[0, both.position].double()
    log_probs = torch.log_softmax(logits, -1)
    assert both.target_logit == pytest.approx(float(log_probs[she.target_id] - log_probs[he.target_id]), abs=1e-4)
    np.testing.assert_allclose(both.gradient_x_input, np.subtract(she.gradient_x_input, he.gradient_x_input), atol=1e-4)
    if both.n_steps == she.n_steps == he.n_steps:
        np.testing.assert_allclose(both.integrated_gradients, np.subtract(she.integrated_gradients, he.integrated_gradients),
                                   atol=1e-4)
    with pytest.raises(UserInputError, match="the target itself"):
        attribute(loaded, ForwardCache(), text, "en", 1, "she", foil="she")


def test_contrastive_patching_is_the_target_sweep_minus_the_foil_sweep_and_says_where_it_enters(en_model) -> None:
    text_a, text_b = TEXT_A, TEXT_B  # of equal token length for the tiny vocabulary
    both = patch(en_model, ForwardCache(), text_a, text_b, "en", "she", foil="he")
    she = patch(en_model, ForwardCache(), text_a, text_b, "en", "she")
    he = patch(en_model, ForwardCache(), text_a, text_b, "en", "he")
    np.testing.assert_allclose(both.effects, she.effects - he.effects, atol=1e-4)
    assert both.logprob_a == pytest.approx(she.logprob_a - he.logprob_a, abs=1e-6)
    assert "log P" in both.scored and both.summary.startswith(en_model.key)
    found = both.entry()
    if found is not None:
        layer, position, share = found
        shares = (both.effects - both.logprob_a) / (both.logprob_b - both.logprob_a)
        assert share >= 0.5 and shares[:layer].max(initial=-np.inf) < 0.5 and shares[layer, position] == pytest.approx(share)


@pytest.mark.parametrize("endpoint", ["attribution", "patching", "explain_languages"])
def test_a_target_or_foil_outside_the_vocabulary_is_refused_not_scored_as_unk(workspace, endpoint: str) -> None:
    """foil "€€" on en-2048 was attributed as log P('she') - log P('<unk>'), with a notice about its first piece."""
    from xlm_explorer.errors import UserInputError

    sentence = "The doctor said that [MASK] was tired."
    calls = {
        "attribution": lambda: service.attribution(workspace, sentence, "en-2048", foil="€€"),
        "patching": lambda: service.patching(workspace, sentence, sentence.replace("tired.", "tired!"), "en-2048", foil="€€"),
        "explain_languages": lambda: service.explain_languages(
            workspace, "en | The {filler} said that [MASK] was tired. | doctor | nurse | he | €€", "en-2048"),
    }
    with pytest.raises(UserInputError, match="The foil '€€' is not in en-2048's vocabulary"):
        calls[endpoint]()
    with pytest.raises(UserInputError, match="The target '€€' is not in en-2048's vocabulary"):
        service.attribution(workspace, sentence, "en-2048", target="€€")


def test_two_callers_with_one_corpus_content_each_see_their_own_file_name(workspace, tmp_path: Path) -> None:
    """The token index is kept by content for everyone; a caller's file name is never another caller's."""
    content = "id\tlang\ttext\n1\ten\tThe cat sleeps on the sofa.\n2\ten\tThe dog sleeps in the garden.\n"
    first, second = tmp_path / "a" / "shared-corpus.tsv", tmp_path / "b" / "my-secret-notes.tsv"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(content, encoding="utf-8")
    names = [service.token_search(workspace, "The cat sleeps.", "100-1280", "en", 2, 1, 3, str(path)).payload["shared"]["corpus"]
             for path in (first, second)]
    assert names == ["shared-corpus.tsv", "my-secret-notes.tsv"]


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_running_from_a_layer_equals_the_models_own_pass_to_the_bit_and_never_changes_the_shared_model(manager, key: str) -> None:
    """TransformerLens's start_at_layer: the blocks above hidden state l on that state give the full pass's last
    layer exactly; the shared model's block lists are never swapped (a reader without the lock sees them whole)."""
    from unittest import mock

    from xlm_explorer.forward import run_batch

    loaded = manager.get(key)
    ids = loaded.tokenizer("The doctor said that she was tired .")["input_ids"]
    full = run_batch(loaded, [ids], hidden_states=True, logits_at=[(0, 3)])
    body = loaded.model.transformer
    with mock.patch.object(type(body), "__setattr__", side_effect=AssertionError("the shared model was changed")):
        for layer in range(loaded.n_layers + 1):
            ran = run_from_layer(loaded, full.hidden_states[layer], layer, logits_at=[(0, 3)])
            assert torch.equal(ran.last_hidden, full.last_hidden), layer
            assert torch.equal(ran.logits, full.logits), layer
