"""One probe across languages, explained (analysis.across_languages, /explain_languages): each language's
attribution and patching are exactly the single-language views' numbers, the relative-depth curves are the patching
grid read at the word and the mask (checked against a direct loop), and patching obeys what a forward pass must:
at the embeddings the mask carries none of the difference, at the last layer all of it and the word none."""

from __future__ import annotations

import numpy as np
import pytest

from xlm_explorer import service
from xlm_explorer.analysis.across_languages import MAX_ROWS, ProbeRow, explain_across_languages, parse_rows, shipped_rows
from xlm_explorer.analysis.attribution import attribute
from xlm_explorer.analysis.bias.data import load_crosslingual_probe
from xlm_explorer.analysis.patching import patch
from xlm_explorer.errors import UserInputError

EN = "en | The {filler} said that [MASK] was tired. | cat | dog | he | she"
FR = "fr\tLe {filler} a dit que [MASK] était fatigué.\tchat\tchien\til\telle"  # a tab between fields works too
ROWS = f"# a comment line\n{EN}\n\n{FR}"


@pytest.fixture(scope="module")
def explained(workspace):
    models = {key: workspace.manager.get(key) for key in workspace.manager.keys}
    return explain_across_languages(models, workspace.forward_cache, parse_rows(ROWS))


def test_rows_are_read_with_pipes_or_tabs_and_refused_with_the_reason() -> None:
    rows = parse_rows(ROWS)
    assert rows == (ProbeRow("en", "The {filler} said that [MASK] was tired.", "cat", "dog", "he", "she"),
                    ProbeRow("fr", "Le {filler} a dit que [MASK] était fatigué.", "chat", "chien", "il", "elle"))
    assert rows[0].text_a == "The cat said that [MASK] was tired." and rows[0].text_b == "The dog said that [MASK] was tired."
    for text, words in [
        ("en | The {filler} said [MASK]. | cat | dog | he", "5 of the 6 fields"),
        ("en | The cat said [MASK]. | cat | dog | he | she", "one {filler} and one [MASK]"),
        ("en | The {filler} said it. | cat | dog | he | she", "one {filler} and one [MASK]"),
        ("en | The {filler} said [MASK]. | cat | cat | he | she", "words A and B are the same"),
        ("en | The {filler} said [MASK]. | cat | dog | he | he", "the target and the foil are the same"),
        ("\n".join([EN] * (MAX_ROWS + 1)), f"at most {MAX_ROWS}"),
        ("# only a comment", "No probe row"),
        ("", "one probe row per language"),
    ]:
        with pytest.raises(UserInputError, match=words.replace("[", r"\[").replace("{", r"\{")):
            parse_rows(text)


def test_the_shipped_rows_are_the_probe_in_each_language() -> None:
    probe = load_crosslingual_probe()
    rows = parse_rows(shipped_rows(probe, "doctor", "nurse", probe.languages))
    assert [r.lang for r in rows] == list(probe.languages)
    for row in rows:
        item = probe.probes[row.lang]
        assert row.template == item.template and (row.target, row.foil) == item.targets[:2]
        assert (row.word_a, row.word_b) == (item.fillers[0], item.fillers[1])  # doctor, nurse


@pytest.mark.slow  # the explained fixture: 8.5 s on 2 cores
def test_each_language_is_the_attribution_and_patching_views_numbers_exactly(workspace, explained) -> None:
    assert [(e.model, e.row.lang) for e in explained.explanations] == [("en-2048", "en"), ("100-1280", "en"), ("100-1280", "fr")]
    for e in explained.explanations:
        loaded = workspace.manager.get(e.model)
        alone = attribute(loaded, workspace.forward_cache, e.row.text_a, e.row.lang, 1, e.row.target, None, e.row.foil)
        assert alone.integrated_gradients == e.attribution.integrated_gradients and alone.foil_id == e.attribution.foil_id
        completeness = abs(sum(alone.integrated_gradients) - (alone.target_logit - alone.baseline_logit))
        assert completeness <= 0.01 * abs(alone.target_logit - alone.baseline_logit)
        if e.patching is not None:
            swept = patch(loaded, workspace.forward_cache, e.row.text_a, e.row.text_b, e.row.lang, e.row.target, None, None, e.row.foil)
            np.testing.assert_array_equal(swept.effects, e.patching.effects)
            assert abs(swept.logprob_a - e.attribution.target_logit) < 1e-3  # one score: log P(target) - log P(foil) in A


@pytest.mark.slow  # the explained fixture: 8.5 s on 2 cores
def test_the_depth_curves_are_the_grid_at_the_word_and_the_mask(explained) -> None:
    patched = [e for e in explained.explanations if e.patching is not None]
    assert {e.model for e in patched} == {"en-2048", "100-1280"}
    for e in patched:
        p = e.patching
        ids_a, ids_b = p.input_ids_a, p.input_ids_b
        differing = [i for i, (a, b) in enumerate(zip(ids_a, ids_b)) if a != b]
        assert set(differing) <= set(range(*e.span))  # the word: its pieces, those B shares too
        assert "".join(p.tokens_a[slice(*e.span)]).replace("@@", "") == e.row.word_a
        span = p.logprob_b - p.logprob_a
        for layer in range(e.n_layers + 1):
            shares = [(float(p.effects[layer, q]) - p.logprob_a) / span for q in range(len(ids_a))]
            assert e.word_share()[layer] == pytest.approx(max(shares[q] for q in differing), abs=1e-9)
            assert e.mask_share()[layer] == pytest.approx(shares[p.position], abs=1e-9)
        first = next((l for l in range(e.n_layers + 1) if e.mask_share()[l] >= e.word_share()[l]), None)
        assert e.handover_layer() == first
        # what a forward pass must give: the mask's own embedding is the same in A and B; the last layer's state at
        # the mask is all the prediction reads, and at the word none of it
        assert e.mask_share()[0] == pytest.approx(0, abs=1e-3)
        assert e.mask_share()[-1] == pytest.approx(1, abs=1e-3)
        assert e.word_share()[-1] == pytest.approx(0, abs=1e-3)
        assert e.relative_depth == [l / e.n_layers for l in range(e.n_layers + 1)]
        assert e.relative_depth[0] == 0 and e.relative_depth[-1] == 1


@pytest.mark.slow  # the explained fixture: 8.5 s on 2 cores
def test_sentences_of_different_lengths_are_attributed_and_say_why_they_are_not_patched(explained) -> None:
    french = explained.explanations[-1]
    assert french.patching is None and "equal token length" in french.patching_note
    assert "not patched" in french.summary() and french.word_share() is None and french.handover_layer() is None
    magnitudes = np.abs(french.attribution.integrated_gradients)
    assert french.word_attribution_share() == pytest.approx(magnitudes[slice(*french.span)].sum() / magnitudes.sum())
    tokens = french.attribution.tokens[slice(*french.span)]
    assert "".join(tokens).replace("@@", "") == "chat"  # all its pieces, also the 'ch' that 'chien' shares


def test_the_endpoint_answers_per_model_with_english_only_rows_for_en_2048(workspace) -> None:
    answer = service.explain_languages(workspace, ROWS, model="both")
    by_model = {item["model"]: item["languages"] for item in answer.payload["results"]}
    assert [row["lang"] for row in by_model["en-2048"]] == ["en"]
    assert [row["lang"] for row in by_model["100-1280"]] == ["en", "fr"]
    assert by_model["100-1280"][1]["patching"] is None and by_model["100-1280"][0]["patching"]["effects"]
    assert answer.payload["request"] == {"rows": ROWS, "model": "both"}
    only_english = service.explain_languages(workspace, ROWS, model="en-2048")
    assert any("fr row is left out" in n for n in only_english.payload["notices"])
    with pytest.raises(UserInputError, match="en-2048 reads English only"):
        service.explain_languages(workspace, FR, model="en-2048")
    with pytest.raises(UserInputError, match="Unknown language"):
        service.explain_languages(workspace, EN.replace("en |", "xx |"), model="both")


def test_no_rows_runs_the_shipped_probe_doctor_vs_nurse(workspace) -> None:
    answer = service.explain_languages(workspace, "", model="100-1280")
    probe = load_crosslingual_probe()
    assert answer.payload["request"]["rows"] == shipped_rows(probe, *service.DEFAULT_WORDS, service.DEFAULT_LANGUAGES)
    assert service.probe_rows("doctor", "nurse", ["en", "fr", "de"]) == answer.payload["request"]["rows"]
    assert [r["lang"] for r in answer.payload["results"][0]["languages"]] == list(service.DEFAULT_LANGUAGES)
