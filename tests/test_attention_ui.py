"""The attention tab through its public API (gradio_client against the launched app)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from gradio_client.exceptions import AppError

from xlm_explorer.analysis.attention import STATISTIC_NAMES, analyze_attention
from xlm_explorer.downloads import DownloadStore
from xlm_explorer.views.attention import STATISTICS_COLUMNS, make_statistics_table


def attention(client, text: str, text_pair: str = "", model: str = "en-2048", lang: str = "en",
              lang_pair: str = "en", heads: str = "") -> dict:
    return client.predict(text, text_pair, model, lang, lang_pair, heads, api_name="/attention")


def test_only_the_declared_attention_endpoints_are_public(client) -> None:
    names = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {name for name in names if "attention" in name} == {"/attention", "/attention_average", "/attention_flow"}
    parameters = [p["parameter_name"] for p in names["/attention"]["parameters"]]
    assert parameters == ["text", "text_pair", "model", "lang", "lang_pair", "heads"]


def test_statistics_and_a_head_matrix_equal_a_direct_run(client, en_model) -> None:
    data = attention(client, "The cat sat on the mat.", heads="1:2, 0:0")
    (result,) = data["results"]
    assert result["model"] == "en-2048" and result["sentence_b_start"] is None
    assert set(result["statistics"]) == set(STATISTIC_NAMES) - {"cross_share"}
    assert np.array(result["statistics"]["entropy"]).shape == (en_model.n_layers, en_model.n_heads)
    with torch.inference_mode():
        direct = en_model.model(input_ids=torch.tensor([result["input_ids"]]), output_attentions=True).attentions
    first, second = result["matrices"]
    assert (first["layer"], first["head"], second["layer"], second["head"]) == (1, 2, 0, 0)
    matrix = np.array(first["attention"])
    np.testing.assert_allclose(matrix, direct[1][0, 2].numpy(), atol=1e-6)
    np.testing.assert_allclose(matrix.sum(-1), 1.0, atol=1e-5)
    assert len(result["tokens"]) == len(result["input_ids"]) == matrix.shape[0]


def test_pair_mode_on_both_models(client, multi_model) -> None:
    data = attention(client, "The cat sleeps on the sofa.", "Le chat dort sur le canapé.", "both", "en", "fr")
    assert [r["model"] for r in data["results"]] == ["en-2048", "100-1280"] and data["errors"] == []
    en, multi = data["results"]
    assert (en["n_layers"], multi["n_layers"]) == (2, multi_model.n_layers)
    for result in (en, multi):
        b_start = result["sentence_b_start"]
        assert result["tokens"][b_start - 1] == "</s>" and result["boundary_positions"][-1] == len(result["tokens"]) - 1
        cross = np.array(result["statistics"]["cross_share"])
        assert cross.shape == (result["n_layers"], result["n_heads"]) and ((0 < cross) & (cross < 1)).all()
    assert multi["lang_pair"] == "fr" and en["lang_pair"] == "en"
    assert any("English-only" in notice for notice in en["notices"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("   ",), "empty"),
        (("The cat.", "", "en-2048", "en", "en", "one:two"), "Cannot read head"),
        (("The cat.", "", "en-2048", "en", "en", "5:0"), "no layer 5"),
        (("The cat.", "", "en-2048", "en", "en", "0:9"), "no head 9"),
        # the record's checks answer, not gradio's components: one sentence naming the parameter
        (("The cat.", "", "gpt-2", "en", "en", ""), "Unknown model 'gpt-2'; choose one of: en-2048, 100-1280, both."),
        (("The cat.", "Le chat.", "100-1280", "en", "xx", ""), "Unknown language (lang_pair) 'xx'"),
        (("The cat.", "", "en-2048", "<img src=x>", "en", ""), "Unknown language (lang) '<img src=x>'"),
    ],
)
def test_bad_input_gives_a_clear_message(client, args: tuple, message: str) -> None:
    with pytest.raises(AppError) as caught:
        attention(client, *args)
    assert message in str(caught.value) and "Traceback" not in str(caught.value)


def test_the_server_keeps_serving_after_errors(client) -> None:
    with pytest.raises(AppError):
        attention(client, "")
    assert attention(client, "Still here.")["results"][0]["tokens"][-1] == "</s>"


def test_average_over_the_shipped_parallel_set(client) -> None:
    data = client.predict("100-1280", "shipped", ["en", "fr"], 2, "", "en", api_name="/attention_average")
    assert data["shared"]["n_sentences"] == 4 and data["errors"] == []
    (result,) = data["results"]
    assert [(item["lang"], item["n_sentences"]) for item in result["languages"]] == [("en", 2), ("fr", 2)]
    grid = np.array(result["languages"][1]["statistics"]["same_share"], dtype=float)
    assert grid.shape == (3, 4) and ((0 <= grid) & (grid <= 1)).all()


def test_average_over_pasted_lines_and_refusals(client) -> None:
    data = client.predict("en-2048", "pasted", [], 1, "[fr] Le chat dort.\nThe cat sleeps.", "en", api_name="/attention_average")
    assert [item["lang"] for item in data["results"][0]["languages"]] == ["fr", "en"]
    with pytest.raises(AppError, match="The shipped set has no sentences in: xx."):
        client.predict("100-1280", "shipped", ["xx"], 2, "", "en", api_name="/attention_average")
    with pytest.raises(AppError, match="from 1 to 48, not 99"):  # the service names the range
        client.predict("100-1280", "shipped", ["en"], 99, "", "en", api_name="/attention_average")


def test_statistics_csv_round_trips(en_model, workspace, tmp_path) -> None:
    result = analyze_attention(en_model, workspace.forward_cache, "The cat sat.", "en", text_pair="It slept.")
    path = DownloadStore(tmp_path).write("session", "attention", {"statistics": make_statistics_table([result])}, {})[0]
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == STATISTICS_COLUMNS
    assert len(rows) == en_model.n_layers * en_model.n_heads
    last = rows[-1]
    assert (last["layer"], last["head"]) == (str(en_model.n_layers - 1), str(en_model.n_heads - 1))
    assert float(last["cross_share"]) == pytest.approx(result.statistics.cross_share[-1, -1], abs=1e-6)


def test_the_picture_of_heads_draws_per_model_and_names_a_missing_layer(en_model, workspace) -> None:
    from types import SimpleNamespace

    from xlm_explorer.ui.attention_tab import picture_views

    result = analyze_attention(en_model, workspace.forward_cache, "The cat sat.", "en")
    panels = [SimpleNamespace(key=en_model.key), SimpleNamespace(key="absent")]
    drawn, absent = picture_views([result], 0, 1, ["0", "99"], True, panels)  # head 99 is not the model's
    assert absent is None
    legend = [t.name for t in drawn.data if t.showlegend is not False and t.mode == "lines"]
    assert legend == ["head 0"]  # one chosen head the model has: no legend shown, but its key trace is there
    assert "hidden" in drawn.layout.title.text
    (message,) = picture_views([result], en_model.n_layers + 3, 0, [], False, panels[:1])
    assert "layer" in message.layout.annotations[0].text.lower() and not any(t.mode == "lines" for t in message.data)
