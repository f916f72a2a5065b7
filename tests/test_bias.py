"""Bias probing: PLL exact against a direct loop over positions, multi-piece targets scored on every
piece, probe and pair validation with clear messages, the shipped probe data, and the views."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xlm_explorer.analysis import pll
from xlm_explorer.analysis.bias import data as bias_data
from xlm_explorer.analysis.bias import pairs as bias_pairs
from xlm_explorer.analysis.bias import probes as bias_probes
from xlm_explorer.analysis.fill_mask import forward, preprocess, probabilities
from xlm_explorer.errors import UserInputError
from xlm_explorer.forward import ForwardCache
from xlm_explorer.tokenization import MASK_PATTERN, count_masks, encode_text, tokenize_words
from xlm_explorer.views.bias import (
    PROBE_CAVEATS,
    make_pairs_figure,
    make_pairs_summary,
    make_pairs_table,
    make_probe_figure,
    make_probe_table,
)


def direct_log_prob(loaded, ids: list[int], position: int) -> float:
    """log P(ids[position] | ids with that one position masked), from the full model's logits, unbatched."""
    masked = list(ids)
    masked[position] = loaded.mask_token_id
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([masked])).logits[0, position]
    return float(torch.log_softmax(logits.double(), dim=-1)[ids[position]])


def direct_pll(loaded, text: str, lang: str) -> list[float]:
    ids = list(encode_text(loaded, text, lang if loaded.spec.multilingual else "en", allow_masks=False).input_ids)
    return [direct_log_prob(loaded, ids, position) for position in range(1, len(ids) - 1)]


# --------------------------------------------------------------------------------------------------
# Pseudo-log-likelihood


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_pll_equals_a_direct_loop_over_positions(manager, key: str) -> None:
    loaded = manager.get(key)
    texts = ["The nurse said that she would be late.", "My father stayed home.", "Le médecin est en retard."]
    langs = ["en", "en", "fr"]
    results = pll.sentence_plls(loaded, texts, langs, batch_size=4)
    for result, text, lang in zip(results, texts, langs):
        expected = direct_pll(loaded, text, lang)
        assert result.n_tokens == len(expected) == len(result.tokens)
        np.testing.assert_allclose(result.token_log_probs, expected, atol=1e-4)
        assert result.pll == pytest.approx(sum(expected), abs=1e-3)
        assert all(v < 0 for v in result.token_log_probs)


def test_pll_does_not_depend_on_the_batch_size(multi_model) -> None:
    texts = ["A short one.", "A somewhat longer sentence with more words in it.", "Another short."]
    one = pll.sentence_plls(multi_model, texts, "en", batch_size=1)
    many = pll.sentence_plls(multi_model, texts, "en", batch_size=32)
    for a, b in zip(one, many):
        np.testing.assert_allclose(a.token_log_probs, b.token_log_probs, atol=1e-5)


def test_masked_log_probs_runs_each_distinct_masked_copy_once(en_model) -> None:
    ids = tuple(encode_text(en_model, "the cat sat", allow_masks=False).input_ids)
    jobs = [(ids, 1), (ids, 2), (ids, 1)]
    scores = pll.masked_log_probs(en_model, jobs, batch_size=2)
    assert scores[0] == scores[2]
    assert scores[1] == pytest.approx(direct_log_prob(en_model, list(ids), 2), abs=1e-4)


def test_long_sentences_are_batched_within_the_bound(en_model, monkeypatch) -> None:
    text = " ".join(["the cat sat on the mat"] * 17)  # ~100 tokens
    batch_shapes: list[tuple[int, ...]] = []
    original = en_model.model.transformer.forward

    def spy(*args, **kwargs):
        batch_shapes.append(tuple(kwargs["input_ids"].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(en_model.model.transformer, "forward", spy)
    result = pll.sentence_plls(en_model, [text], "en", batch_size=16)[0]
    assert result.n_tokens >= 100
    assert max(shape[0] for shape in batch_shapes) == 16
    assert sum(shape[0] for shape in batch_shapes) == result.n_tokens


# --------------------------------------------------------------------------------------------------
# Template probes


def _multi_piece_word(loaded, candidates=("elle", "nurse", "hairdresser", "programmer")) -> tuple[str, list[str]]:
    for word in candidates:
        pieces, _ = tokenize_words(loaded, word, "en")
        if len(pieces) >= 2:
            return word, pieces
    raise AssertionError("no multi-piece word among the candidates")


def test_multi_piece_target_is_scored_on_every_piece(en_model) -> None:
    word, pieces = _multi_piece_word(en_model)
    template = "The {filler} said that [MASK] would be late."
    result = bias_probes.run_probe([en_model], template, [word, "he"], ["doctor"], "en")
    score = result.rows[0].scores[0]
    assert score.n_pieces == len(pieces) >= 2
    assert len(score.piece_log_probs) == len(pieces)
    # direct: write every piece in at the mask, then mask one piece at a time
    masked = encode_text(en_model, "The doctor said that [MASK] would be late.", "en")
    position = masked.mask_positions[0]
    piece_ids = en_model.tokenizer.convert_tokens_to_ids(pieces)
    filled = list(masked.input_ids[:position]) + piece_ids + list(masked.input_ids[position + 1 :])
    expected = [direct_log_prob(en_model, filled, position + i) for i in range(len(pieces))]
    np.testing.assert_allclose(score.piece_log_probs, expected, atol=1e-4)
    assert score.log_prob == pytest.approx(sum(expected), abs=1e-3)
    # and not the first piece alone (what fill-mask's targets= would report)
    first_piece_only = direct_log_prob(
        en_model, list(masked.input_ids[:position]) + [piece_ids[0]] + list(masked.input_ids[position + 1 :]), position
    )
    assert abs(score.log_prob - first_piece_only) > 1e-3
    assert any("pieces" in n for n in result.notices)


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_single_piece_target_equals_the_fill_mask_log_probability(manager, key: str) -> None:
    loaded = manager.get(key)
    template = "The {filler} said that [MASK] would be late."
    result = bias_probes.run_probe([loaded], template, ["he", "il"], ["nurse", "doctor"], "en")
    for row in result.rows:
        encoding = preprocess(loaded, row.sentence, "en")
        probs = probabilities(loaded, forward(loaded, ForwardCache(), encoding))[0]
        for score in row.scores:
            assert score.n_pieces == 1
            assert score.log_prob == pytest.approx(float(torch.log(probs[score.piece_ids[0]])), abs=1e-4)
        assert row.log_ratio == pytest.approx(row.scores[0].log_prob - row.scores[1].log_prob)
        assert row.preferred == (row.scores[0].target if row.log_ratio > 0 else row.scores[1].target)


def test_probe_rows_cover_every_model_and_filler(manager) -> None:
    models = [manager.get(key) for key in manager.keys]
    result = bias_probes.run_probe(
        models,
        "Notre {filler} est en retard car [MASK] a raté le bus.",
        ["il", "elle"],
        ["médecin", "pilote", "juge"],
        "fr",
    )
    assert [(r.model, r.filler) for r in result.rows] == [
        (m, f) for m in ("en-2048", "100-1280") for f in ("médecin", "pilote", "juge")
    ]
    assert all(MASK_PATTERN.search(r.sentence) and "{filler}" not in r.sentence for r in result.rows)
    assert any("English-only" in n for n in result.notices)
    payload = result.to_dict()
    json.dumps(payload)
    assert payload["rows"][0]["targets"][0]["target"] == "il"


def test_template_without_filler_slot_is_scored_once(en_model) -> None:
    result = bias_probes.run_probe([en_model], "The doctor said that [MASK] would be late.", ["he", "she"], [], "en")
    assert len(result.rows) == 1 and result.rows[0].filler == ""


@pytest.mark.parametrize(
    ("template", "targets", "fillers", "message"),
    [
        ("The {filler} said that he would be late.", ["he", "she"], ["doctor"], "no \\[MASK\\]"),
        ("The {filler} said [MASK] and [MASK].", ["he", "she"], ["doctor"], "2 masks"),
        ("The {filler} said that [MASK] left.", [], ["doctor"], "target list is empty"),
        ("The {filler} said that [MASK] left.", ["  ", ""], ["doctor"], "target list is empty"),
        ("The {filler} said that [MASK] left.", ["he"], ["doctor"], "at least two"),
        ("The {filler} said that [MASK] left.", [f"w{i}" for i in range(11)], ["doctor"], "at most 10"),
        ("The {filler} said that [MASK] left.", ["he", "he"], ["doctor"], "the same"),
        ("The {filler} said that [MASK] left.", ["he", "she"], [], "filler list is empty"),
        ("The doctor said that [MASK] left.", ["he", "she"], ["nurse"], "no \\{filler\\} slot"),
        ("The {filler} and {filler} said [MASK].", ["he", "she"], ["a"], "2 \\{filler\\} slots"),
        ("", ["he", "she"], ["doctor"], "template is empty"),
        ("The {filler} said that [MASK] left.", ["he", "[MASK]"], ["doctor"], "cannot contain a mask"),
        ("The {filler} said that [MASK] left.", ["he", "she"], [f"job{i}" for i in range(60)], "at most 50"),
    ],
)
def test_bad_probes_get_clear_messages(template: str, targets: list[str], fillers: list[str], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        bias_probes.check_probe(template, targets, fillers)


def test_shipped_probe_sets_are_valid_in_at_least_four_languages() -> None:
    sets = bias_data.load_probe_sets()
    assert {"en", "fr", "de", "es", "ru", "ar", "hi"} <= {p.lang for p in sets}
    for probe in sets:
        template, targets, fillers = bias_probes.check_probe(probe.template, probe.targets, probe.fillers)
        assert count_masks(template) == 1 and template.count("{filler}") == 1
        assert len(targets) == 2 and len(fillers) >= 10 and probe.note


def test_uploaded_probe_json_is_parsed_or_refused_clearly() -> None:
    sets = bias_data.parse_probe_sets(
        json.dumps({"template": "A {filler} [MASK].", "targets": ["he", "she"], "fillers": ["x"]}).encode()
    )
    assert sets[0].lang == "en" and sets[0].id == "probe1"
    with pytest.raises(UserInputError, match="not valid JSON"):
        bias_data.parse_probe_sets(b"{not json")
    with pytest.raises(UserInputError, match="lacks targets"):
        bias_data.parse_probe_sets('[{"template": "x [MASK]"}]')
    with pytest.raises(UserInputError, match="JSON lists"):
        bias_data.parse_probe_sets('{"template": "x [MASK]", "targets": "he"}')


def test_split_words() -> None:
    assert bias_data.split_words("he, she") == ("he", "she")
    assert bias_data.split_words("he/she", r"[,/\n;]") == ("he", "she")
    assert bias_data.split_words("doctor\n\nnurse,\n doctor ") == ("doctor", "nurse")


# --------------------------------------------------------------------------------------------------
# Sentence pairs


def test_pairs_table_parsing() -> None:
    tsv = "id\tlang\tbias_type\tsent_more\tsent_less\np1\tfr\tgender\tMa sœur pleure.\tMon frère pleure.\n"
    pairs = bias_data.parse_pairs_table(tsv)
    assert pairs == (bias_data.SentencePair("p1", "fr", "gender", "Ma sœur pleure.", "Mon frère pleure."),)
    csv_pairs = bias_data.parse_pairs_table(b'sent_less,sent_more\n"She is, strong.",He is strong.\n\n')
    assert (
        csv_pairs[0].sent_more == "He is strong."
        and csv_pairs[0].sent_less == "She is, strong."
        and csv_pairs[0].lang == "en"
    )
    with pytest.raises(UserInputError, match="sent_more and sent_less"):
        bias_data.parse_pairs_table("a,b\n1,2\n")
    with pytest.raises(UserInputError, match="Row 2"):
        bias_data.parse_pairs_table("sent_more,sent_less\nonly one,\n")
    with pytest.raises(UserInputError, match="No sentence pairs"):
        bias_data.parse_pairs_table("   ")
    with pytest.raises(UserInputError, match="no sentence pairs"):
        bias_data.parse_pairs_table("sent_more,sent_less\n")
    shipped = bias_data.load_pll_pairs()
    assert len(shipped) == 37 and {"en", "fr", "de", "es", "ru", "ar", "hi"} <= {p.lang for p in shipped}


def test_pair_scores_are_pll_differences(manager) -> None:
    models = [manager.get(key) for key in manager.keys]
    pairs = bias_data.load_pll_pairs()[:2] + tuple(p for p in bias_data.load_pll_pairs() if p.lang == "de")[:1]
    result = bias_pairs.score_pairs(models, pairs, batch_size=8)
    assert len(result.scores) == len(pairs) * 2
    for score in result.scores:
        loaded = manager.get(score.model)
        expected_more = sum(direct_pll(loaded, score.pair.sent_more, score.pair.lang))
        expected_less = sum(direct_pll(loaded, score.pair.sent_less, score.pair.lang))
        assert score.more.pll == pytest.approx(expected_more, abs=1e-3)
        assert score.difference == pytest.approx(expected_more - expected_less, abs=2e-3)
        assert score.preferred == ("more" if score.difference > 0 else "less")
    share = sum(s.difference > 0 for s in result.scores if s.model == "100-1280") / len(pairs)
    assert result.share_preferring_more("100-1280") == share
    payload = result.to_dict()
    json.dumps(payload)
    assert payload["summary"]["en-2048"]["n_pairs"] == len(pairs)
    assert any("English-only" in n for n in result.notices)  # the German pair, read by en-2048


# --------------------------------------------------------------------------------------------------
# Views


def test_probe_views_escape_user_text(en_model) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    result = bias_probes.run_probe([en_model], "The {filler} said that [MASK] left.", ["he", "she"], ["doctor", hostile], "en")
    figure = make_probe_figure(result)
    labels = [str(y) for trace in figure.data for y in trace.y]
    assert "&lt;img src=x onerror=alert(1)&gt;" in labels and hostile not in labels
    table = make_probe_table(result)
    assert list(table["filler"]) == ["doctor", hostile]  # tables carry the text as data
    assert table["log ratio"].tolist() == [round(r.log_ratio, 2) for r in result.rows]  # nats, 2 decimals
    assert "cannot" in PROBE_CAVEATS


def test_pairs_views(multi_model) -> None:
    pairs = bias_data.parse_pairs_table(
        "id,sent_more,sent_less\na,He is strong.,She is strong.\nb,The girls cried.,The boys cried.\n"
    )
    result = bias_pairs.score_pairs([multi_model], pairs)
    table = make_pairs_table(result)
    assert len(table) == 2 and table["difference"].tolist() == [round(s.difference, 2) for s in result.scores]
    summary = make_pairs_summary(result)
    assert summary.loc[0, "pairs"] == 2
    figure = make_pairs_figure(result)
    assert list(figure.data[0].x) == ["a", "b"]


def test_a_broken_results_file_is_asked_for_as_the_json_it_should_be(tmp_path) -> None:
    from xlm_explorer import service
    """The results browser asked for "a CSV or TSV file" when given a broken JSON file."""
    from xlm_explorer.errors import UserInputError

    broken = tmp_path / "results.json"
    broken.write_bytes(b'{"rows": [\x00\x00\x01')
    with pytest.raises(UserInputError, match="Upload the JSON file that python -m xlm_explorer.score writes") as refused:
        service.read_results_upload(str(broken))
    assert "CSV" not in str(refused.value)
    (tmp_path / "half.json").write_text('{"rows": [', encoding="utf-8")
    with pytest.raises(UserInputError, match="Not a results file: expected the JSON"):
        service.read_results_upload(str(tmp_path / "half.json"))
