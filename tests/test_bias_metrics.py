"""The four bias metrics against direct loops that build every masked copy by hand (multi-piece words included),
the within-word masking pattern, the bootstrap interval, targets written in full, more than two targets, and the
batch command end to end (interrupted and resumed with identical results)."""

from __future__ import annotations

import difflib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from xlm_explorer.analysis import pll
from xlm_explorer.analysis.bias import data as bias_data
from xlm_explorer.analysis.bias import pairs as bias_pairs
from xlm_explorer.analysis.bias import probes as bias_probes
from xlm_explorer.analysis.pll import l2r_job, word_ends
from xlm_explorer.tokenization import encode_text

ROOT = Path(__file__).resolve().parents[1]


def log_prob(loaded, masked: list[int], position: int, target: int) -> float:
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([masked])).logits[0, position]
    return float(torch.log_softmax(logits.double(), dim=-1)[target])


def direct_metrics(loaded, text: str, lang: str = "en") -> dict[str, list[float]]:
    """Every metric's per-token terms, one unbatched forward pass per masked copy."""
    code = lang if loaded.spec.multilingual else "en"
    enc = encode_text(loaded, text, code, allow_masks=False)
    ids = list(enc.input_ids)
    # word ends from the BPE pieces before the vocabulary lookup, as minicons reads word ids (an <unk> keeps its word)
    pieces = ["<s>", *loaded.tokenizer.tokenize(text, lang=code), "</s>"]
    assert loaded.tokenizer.convert_tokens_to_ids(pieces[1:-1]) == ids[1:-1]
    mask = loaded.mask_token_id
    pll, l2r = [], []
    for p in range(1, len(ids) - 1):
        one = list(ids)
        one[p] = mask
        pll.append(log_prob(loaded, one, p, ids[p]))
        end = p
        while end < len(ids) - 2 and not pieces[end].endswith("</w>"):
            end += 1
        rest = list(ids)
        for q in range(p, end + 1):
            rest[q] = mask
        l2r.append(log_prob(loaded, rest, p, ids[p]))
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([ids])).logits[0]
    unmasked = [float(torch.log_softmax(logits[p].double(), -1)[ids[p]]) for p in range(1, len(ids) - 1)]
    return {"ids": ids, "pll": pll, "l2r": l2r, "aul": unmasked}


def multi_piece_sentence(loaded) -> str:
    for word in ("hairdresser", "programmer", "receptionist", "firefighter", "unbelievable"):
        enc = encode_text(loaded, f"The {word} laughed.", "en", allow_masks=False)
        if len(enc.input_ids) > 6:  # the word split into pieces
            return f"The {word} laughed."
    raise AssertionError("no multi-piece word")


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_every_sentence_metric_equals_a_direct_loop(manager, key: str) -> None:
    loaded = manager.get(key)
    texts = [multi_piece_sentence(loaded), "My father stayed home."]
    scored = pll.sentence_plls(loaded, texts, "en", batch_size=5, metrics=("pll", "pll_word_l2r", "aul"))
    for result, text in zip(scored, texts):
        direct = direct_metrics(loaded, text)
        np.testing.assert_allclose(result.token_log_probs, direct["pll"], atol=1e-4)
        np.testing.assert_allclose(result.word_l2r_log_probs, direct["l2r"], atol=1e-4)
        np.testing.assert_allclose(result.unmasked_log_probs, direct["aul"], atol=1e-4)
        assert result.aul == pytest.approx(float(np.mean(direct["aul"])), abs=1e-4)
    multi = scored[0]
    assert multi.word_l2r_log_probs != multi.token_log_probs  # a split word: the two metrics differ


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
@pytest.mark.parametrize("text", ["He fiɮed the car.", "He fixɮ the car.", "The ɮɮ cat sat."])
def test_within_word_l2r_around_pieces_outside_the_vocabulary(manager, key: str, text: str) -> None:
    """'ɮ' is outside the tiny vocabularies: inside a word (fi ɮ ed</w>), at a word's end (fi x ɮ</w>), twice.
    The word ends where its pieces say, not where <unk> (which has no </w>) would end it."""
    loaded = manager.get(key)
    encoding = encode_text(loaded, text, "en", allow_masks=False)
    assert loaded.tokenizer.unk_token_id in encoding.input_ids
    pieces = ["<s>", *loaded.tokenizer.tokenize(text, lang="en"), "</s>"]
    assert list(encoding.word_final) == [i in (0, len(pieces) - 1) or p.endswith("</w>") for i, p in enumerate(pieces)]
    (scored,) = pll.sentence_plls(loaded, [text], "en", metrics=("pll", "pll_word_l2r"))
    np.testing.assert_allclose(scored.word_l2r_log_probs, direct_metrics(loaded, text)["l2r"], atol=1e-4)
    probe = bias_probes.run_probe([loaded], "[MASK] sat.", [text.rstrip("."), "cat"], [], "en")
    direct = direct_metrics(loaded, text.rstrip(".") + " sat.")
    first = probe.rows[0].scores[0]
    assert first.metric("pll_word_l2r") == pytest.approx(sum(direct["l2r"][: len(first.pieces)]), abs=1e-3)


def kaneko_aula(loaded, text: str) -> float:
    """Kaneko & Bollegala's evaluate.py calculate_aul(..., attention=True), as written there (one sentence)."""
    token_ids = torch.tensor([encode_text(loaded, text, "en", allow_masks=False).input_ids])
    with torch.no_grad():
        output = loaded.model(token_ids, output_attentions=True)
    log_probs = torch.nn.LogSoftmax(dim=1)(output.logits.squeeze(0).double())
    token_log_probs = log_probs.gather(1, token_ids.view(-1, 1))[1:-1]
    attentions = torch.mean(torch.cat(output.attentions, 0), 0)
    averaged_attentions = torch.mean(attentions, 0)
    averaged_token_attentions = torch.mean(averaged_attentions, 0)
    token_log_probs = token_log_probs.squeeze(1) * averaged_token_attentions[1:-1]
    return float(torch.mean(token_log_probs))


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_aula_equals_kaneko_and_bollegalas_code_in_one_padded_batch(manager, key: str) -> None:
    loaded = manager.get(key)
    texts = ["My father stayed home.", multi_piece_sentence(loaded), "A much longer sentence about the old city hall today."]
    scored = pll.sentence_plls(loaded, texts, "en", batch_size=8, metrics=("pll", "aul", "aula"))  # lengths differ: padding
    for result, text in zip(scored, texts):
        assert result.aula == pytest.approx(kaneko_aula(loaded, text), abs=1e-6)
        assert result.aula != pytest.approx(result.aul)  # the weights matter
    row = bias_pairs.score_pairs([loaded], [bias_data.SentencePair("x", "en", "", texts[0], "My mother stayed home.")])
    assert row.to_dict()["rows"][0]["aula_more"] == pytest.approx(kaneko_aula(loaded, texts[0]), abs=1e-6)


def test_pll_unmodified_sums_the_tokens_both_sentences_share(multi_model) -> None:
    pair = bias_data.SentencePair("x", "en", "gender", "My mother stayed home today.", "My father stayed home today.")
    result = bias_pairs.score_pairs([multi_model], [pair])
    (score,) = result.scores
    more, less = direct_metrics(multi_model, pair.sent_more), direct_metrics(multi_model, pair.sent_less)
    matcher = difflib.SequenceMatcher(None, more["ids"][1:-1], less["ids"][1:-1], autojunk=False)
    shared = [(a, b) for tag, a1, a2, b1, b2 in matcher.get_opcodes() if tag == "equal" for a, b in zip(range(a1, a2), range(b1, b2))]
    assert shared and len(shared) < len(more["ids"]) - 2  # the group word is left out
    expected = (sum(more["pll"][a] for a, _ in shared), sum(less["pll"][b] for _, b in shared))
    assert score.scores("pll_unmodified") == pytest.approx(expected, abs=1e-3)
    row = result.to_dict()["rows"][0]
    for metric in ("pll_word_l2r", "aul", "pll_unmodified"):
        assert row[f"{metric}_more"] == pytest.approx(score.scores(metric)[0]) and f"{metric}_less" in row
    assert row["pll_more"] == pytest.approx(sum(more["pll"]), abs=1e-3)


def test_within_word_masking_pattern_on_a_hand_made_split() -> None:
    word_final = [True, False, False, True, True, True]  # <s> un believ able</w> cat</w> </s>
    assert word_ends(word_final) == [0, 3, 3, 3, 4, 5]
    ids = tuple(range(10, 16))
    assert l2r_job(ids, 1, 3).masked == (2, 3) and l2r_job(ids, 2, 3).masked == (3,) and l2r_job(ids, 3, 3).masked == ()
    assert l2r_job(ids, 1, 3).copy(5) == (10, 5, 5, 5, 14, 15)


def test_bootstrap_interval_is_seeded_and_contains_its_estimate() -> None:
    directions = [1, 1, -1, 1, 0, -1, 1, 1, -1, 1] * 3
    first = bias_pairs.bootstrap_share(directions, seed=7)
    assert first == bias_pairs.bootstrap_share(directions, seed=7)
    values = np.array([d > 0 for d in directions], dtype=float)  # the same resampling written out
    means = values[np.random.default_rng(7).integers(0, 30, size=(1000, 30))].mean(axis=1)
    assert (first["ci_low"], first["ci_high"]) == tuple(np.percentile(means, [2.5, 97.5]))
    assert first["ci_low"] <= first["share"] <= first["ci_high"]
    assert first["share"] == pytest.approx(18 / 30) and first["ties"] == 3 and first["n"] == 30
    assert 0 < first["ci_high"] - first["ci_low"] < 0.5
    empty = bias_pairs.bootstrap_share([])
    assert empty["n"] == 0 and math.isnan(empty["share"])


def test_summary_flags_disagreeing_pairs_and_token_count_differences(manager) -> None:
    pairs = bias_data.load_pll_pairs()[:6]
    result = bias_pairs.score_pairs([manager.get("100-1280")], pairs)
    summary = result.to_dict()["summary"]["100-1280"]
    assert set(summary["metrics"]) == set(bias_pairs.PAIR_METRICS)
    assert summary["metrics_disagree"] == sum(s.metrics_disagree() for s in result.scores)
    assert summary["token_counts_differ"] == sum(s.more.n_tokens != s.less.n_tokens for s in result.scores)
    for stats in summary["metrics"].values():
        assert stats["ci_low"] <= stats["share"] <= stats["ci_high"] and stats["n"] == 6


def test_a_target_is_scored_as_written_in_full(en_model) -> None:
    """When the mask touches other characters (``[MASK]-like``) the sentence with the target is tokenized whole."""
    result = bias_probes.run_probe([en_model], "the {filler} is [MASK]-like .", ["cat", "engineer"], ["dog"], "en")
    score = result.rows[0].scores[0]
    whole = encode_text(en_model, "the dog is cat-like .", "en", allow_masks=False)
    masked = encode_text(en_model, "the dog is [MASK]-like .", "en")
    start = next(i for i, (a, b) in enumerate(zip(whole.input_ids, masked.input_ids)) if a != b)
    covering = list(score.piece_ids)
    assert list(whole.input_ids[start : start + len(covering)]) == covering  # the target's tokens in the whole sentence
    expected = [
        log_prob(en_model, [en_model.mask_token_id if i == p else t for i, t in enumerate(whole.input_ids)], p, whole.input_ids[p])
        for p in range(start, start + len(covering))
    ]
    np.testing.assert_allclose(score.piece_log_probs, expected, atol=1e-4)


def test_probes_take_more_than_two_targets(en_model) -> None:
    result = bias_probes.run_probe([en_model], "The {filler} said that [MASK] was late.", ["he", "she", "they"], ["doctor", "nurse"], "en")
    assert all(len(row.scores) == 3 for row in result.rows)
    assert all(row.preferred in ("he", "she", "they", "tie") for row in result.rows)
    data = result.to_dict()
    assert {t["target"] for t in data["rows"][0]["targets"]} == {"he", "she", "they"}
    assert set(data["rows"][0]["targets"][0]) >= {"pll", "pll_word_l2r", "aul", "multi_piece"}


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_the_batch_command_scores_resumes_and_matches(tmp_path: Path, tiny_models_env: str) -> None:
    pairs = tmp_path / "pairs.tsv"
    rows = bias_data.PAIRS_FILE.read_text(encoding="utf-8").splitlines()[:8]  # header + 7 pairs
    pairs.write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {"XLM_EXPLORER_MODELS": tiny_models_env, "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}

    def score(out: Path, stop_after: int | None = None) -> subprocess.CompletedProcess:
        run_env = dict(env, **({"XLM_EXPLORER_SCORE_STOP_AFTER_CHUNKS": str(stop_after)} if stop_after else {}))
        return subprocess.run(
            [sys.executable, "-m", "xlm_explorer.score", str(pairs), "--model", "both", "--metrics", "all",
             "--out", str(out), "--chunk", "3", "--device", "cpu"],
            cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=600,
        )

    straight = tmp_path / "straight.json"
    assert score(straight).returncode == 0
    resumed = tmp_path / "resumed.json"
    first = score(resumed, stop_after=2)
    assert first.returncode == 3 and not resumed.exists() and "resume" in first.stderr
    assert score(resumed).returncode == 0
    a, b = json.loads(straight.read_text()), json.loads(resumed.read_text())
    assert a == b  # identical, to the last digit
    assert a["n_pairs"] == 7 and len(a["rows"]) == 14 and set(a["summary"]) == {"en-2048", "100-1280"}
    assert {"pll_word_l2r_more", "aul_less", "pll_unmodified_more", "metrics_disagree"} <= set(a["rows"][0])
    bad = subprocess.run([sys.executable, "-m", "xlm_explorer.score", str(pairs), "--model", "gpt2", "--out", str(tmp_path / "x.json")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "choose" in bad.stderr and "Traceback" not in bad.stderr
