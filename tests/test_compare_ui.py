"""The Compare & bias tab through its API (gradio_client against the launched app), the handlers behind
it, and the downloads."""

from __future__ import annotations

import csv
import json

import pytest
from gradio_client.exceptions import AppError

from xlm_explorer.analysis.similarity import PooledStatesCache
from xlm_explorer.ui.compare_tab import run_layer_similarity, write_downloads

ENDPOINTS = {
    "/compare": ["text", "lang", "top_k"],
    "/logit_lens": ["text", "lang", "mask_number", "top_k"],
    "/layer_similarity": ["langs", "sentences", "sentences_lang"],
    "/crosslingual_grid": ["templates", "top_k"],
    "/bias_probe": ["template", "targets", "fillers", "lang", "choice"],
    "/pll_pairs": ["table", "choice"],
}


def test_endpoints_are_named_and_documented(client) -> None:
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name, parameters in ENDPOINTS.items():
        assert [p["parameter_name"] for p in api[name]["parameters"]] == parameters
        assert len(api[name]["returns"]) == 1  # the JSON; the state stays on the server


def test_api_compare(client) -> None:
    data = client.predict("Le chat dort sur le [MASK].", "fr", 5, api_name="/compare")
    assert data["models"] == ["en-2048", "100-1280"]
    assert data["tokenization"]["en-2048"]["lang"] == "en" and data["tokenization"]["100-1280"]["lang"] == "fr"
    for key in data["models"]:
        assert len(data["fill_mask"][key]["masks"][0]["predictions"]) == 5
        assert data["facts"][key]["key"] == key
    assert {row["k"] for row in data["overlap"]} == {1, 3, 5}
    assert all(0.0 <= row["overlap"] <= 1.0 for row in data["overlap"])


def test_api_logit_lens_last_layer_equals_api_fill_mask(client) -> None:
    text = "The [MASK] sat on the [MASK]."
    lens = client.predict(text, "en", 2, 5, api_name="/logit_lens")
    fill = client.predict(text, "both", "en", 5, api_name="/fill_mask")
    for result in fill["results"]:
        layers = lens["results"][result["model"]]["layers"]
        assert len(layers) == lens["results"][result["model"]]["n_layers"] + 1
        assert layers[-1]["relative_depth"] == 1.0
        last = [(p["piece"], p["probability"]) for p in layers[-1]["top"]]
        assert last == [(p["piece"], p["probability"]) for p in result["masks"][1]["predictions"]]
    assert lens["depth_alignment"][0] == [0, 0] and lens["depth_alignment"][-1] == [2, 3]


def test_api_layer_similarity(client) -> None:
    data = client.predict(["en"], "", "en", api_name="/layer_similarity")
    assert data["n_sentences"] == 48
    assert len(data["cka"]) == 3 and all(len(row) == 4 for row in data["cka"])
    assert all(0.0 <= v <= 1.0 for row in data["cka"] for v in row)
    custom = client.predict(
        [], "One cat.\nTwo dogs.\nThree birds.\nA house.\nThe sun is hot.", "en", api_name="/layer_similarity"
    )
    assert custom["n_sentences"] == 5 and custom["sentence_set"] == "custom"


def test_layer_similarity_reuses_pooled_states(manager) -> None:
    pooled = PooledStatesCache()
    first, _ = run_layer_similarity(manager, ["en"], "", "en", pooled)
    again, _ = run_layer_similarity(manager, ["en"], "", "en", pooled)
    assert pooled.computed == 2 and first == again  # one pooling per model, reused for the second run


def test_api_crosslingual_grid(client) -> None:
    data = client.predict(
        "en\tThe capital of France is [MASK].\nde: Die Hauptstadt von Frankreich ist [MASK].",
        3,
        api_name="/crosslingual_grid",
    )
    assert [(row["lang"], row["model"]) for row in data["rows"]] == [
        ("en", "en-2048"),
        ("en", "100-1280"),
        ("de", "en-2048"),
        ("de", "100-1280"),
    ]
    assert all(len(row["predictions"]) == 3 for row in data["rows"])


def test_api_bias_probe(client) -> None:
    data = client.predict(
        "The {filler} said that [MASK] would be late.",
        "he, she",
        "doctor\nnurse\nhairdresser",
        "en",
        "both",
        api_name="/bias_probe",
    )
    assert data["targets"] == ["he", "she"] and data["models"] == ["en-2048", "100-1280"]
    assert [(r["model"], r["filler"]) for r in data["rows"]] == [
        (m, f) for m in data["models"] for f in ("doctor", "nurse", "hairdresser")
    ]
    for row in data["rows"]:
        first, second = row["targets"]
        assert row["log_ratio"] == pytest.approx(first["log_prob"] - second["log_prob"])
        assert first["log_prob"] == pytest.approx(sum(first["piece_log_probs"]))
    only_multi = client.predict(
        "The {filler} said that [MASK] left.", "he/she", "doctor", "en", "100-1280", api_name="/bias_probe"
    )
    assert only_multi["models"] == ["100-1280"]


@pytest.mark.parametrize(
    ("template", "targets", "fillers", "message"),
    [
        ("The {filler} said that he would be late.", "he, she", "doctor", "no [MASK]"),
        ("The {filler} said [MASK] and [MASK].", "he, she", "doctor", "2 masks"),
        ("The {filler} said that [MASK] left.", "", "doctor", "target list is empty"),
        ("The {filler} said that [MASK] left.", "he, she", "", "filler list is empty"),
    ],
)
def test_api_bad_probes_get_clear_messages(client, template: str, targets: str, fillers: str, message: str) -> None:
    with pytest.raises(AppError) as error:
        client.predict(template, targets, fillers, "en", "both", api_name="/bias_probe")
    assert message in str(error.value) and "Traceback" not in str(error.value)


def test_api_pll_pairs(client) -> None:
    table = "id\tlang\tbias_type\tsent_more\tsent_less\np1\ten\tgender\tHe fixed the car.\tShe fixed the car.\np2\tfr\tage\tLe vieil homme oublie tout.\tLe jeune homme oublie tout.\n"
    data = client.predict(table, "both", api_name="/pll_pairs")
    assert [(r["id"], r["model"]) for r in data["rows"]] == [
        ("p1", "en-2048"),
        ("p2", "en-2048"),
        ("p1", "100-1280"),
        ("p2", "100-1280"),
    ]
    for row in data["rows"]:
        assert row["difference"] == pytest.approx(row["pll_more"] - row["pll_less"])
        assert row["preferred"] == ("more" if row["difference"] > 0 else "less")
    assert data["summary"]["100-1280"]["pairs"] == 2
    with pytest.raises(AppError, match="sent_more and sent_less"):
        client.predict("a,b\n1,2\n", "both", api_name="/pll_pairs")


def test_api_bad_inputs_keep_the_server_serving(client) -> None:
    with pytest.raises(AppError, match="klingon"):  # refused by the dropdown before the handler runs
        client.predict("The [MASK].", "klingon", 5, api_name="/compare")
    with pytest.raises(AppError, match="from 1 to 1"):
        client.predict("The [MASK].", "en", 4, 5, api_name="/logit_lens")
    with pytest.raises(AppError, match="exactly one"):
        client.predict("en\tNo mask here.", 3, api_name="/crosslingual_grid")
    assert client.predict("The cat.", "en", 3, api_name="/compare")["fill_mask"] == {}


def test_downloads_round_trip(tmp_path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"token": ["<b>x</b>", "é"], "probability": [0.5, 0.25]})
    paths = write_downloads("probe", {"scores": frame}, {"rows": [1, 2], "text": "é"})
    assert [p.rsplit("/", 1)[1] for p in paths] == ["probe-scores.csv", "probe.json"]
    with open(paths[0], encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == [
            {"token": "<b>x</b>", "probability": "0.5"},
            {"token": "é", "probability": "0.25"},
        ]
    with open(paths[1], encoding="utf-8") as handle:
        assert json.load(handle) == {"rows": [1, 2], "text": "é"}


def test_renderers_fill_every_output_and_write_downloads(manager) -> None:
    """The private steps that draw each sub-tab after its API event: one value per output component."""
    import pandas as pd
    import plotly.graph_objects as go

    from xlm_explorer.ui.compare_tab import (
        render_compare,
        render_grid,
        render_logit_lens,
        render_pairs,
        render_probe,
        render_similarity,
        run_bias_probe,
        run_compare,
        run_grid,
        run_logit_lens,
        run_pll_pairs,
    )

    _, compared = run_compare(manager, "Le chat dort sur le [MASK].", "fr", 5)
    values = render_compare(compared, manager.keys)
    assert len(values) == len(manager.keys) + 5
    assert all("xlm-chip" in part for part in values[:2])
    assert all(isinstance(v, pd.DataFrame) for v in values[2:6])
    assert len(values[-1]) == 5  # four CSVs and the JSON

    _, lens = run_logit_lens(manager, "The [MASK] sat.", "en", 1, 3)
    _, similarity = run_layer_similarity(manager, ["en"], "", "en", PooledStatesCache())
    _, grid = run_grid(manager, "en\tThe [MASK] sat.\nfr\tLe [MASK] dort.", 2)
    _, probe = run_bias_probe(manager, "The {filler} said that [MASK] left.", "he, she", "doctor", "en", "both")
    _, pairs = run_pll_pairs(manager, "sent_more,sent_less\nHe ran.,She ran.", "100-1280")
    for rendered, n_outputs in [
        (render_logit_lens(lens), 3),
        (render_similarity(similarity), 3),
        (render_grid(grid), 2),
        (render_probe(probe), 3),
        (render_pairs(pairs), 4),
    ]:
        assert len(rendered) == n_outputs
        assert any(isinstance(v, go.Figure) for v in rendered) or isinstance(rendered[0], pd.DataFrame)
        files = rendered[-1]
        assert files and all(path.endswith((".csv", ".json")) for path in files)
    assert render_compare(None, manager.keys)[0] == "" and render_probe(None) == [None, None, None]


def test_user_text_in_messages_is_escaped_for_the_toasts(client) -> None:
    """Gradio draws toast messages as HTML: quoted user text must arrive escaped."""
    hostile = "<svg id=x onload=alert(1)>" + "x" * 60
    with pytest.raises(AppError) as error:
        client.predict("The {filler} said that [MASK] left.", "he, she", hostile, "en", "both", api_name="/bias_probe")
    assert "longer than 60 characters" in str(error.value)
    assert "&lt;svg" in str(error.value) and "<svg" not in str(error.value)


def test_probe_notes_are_escaped() -> None:
    from xlm_explorer.ui.compare_tab import note_html

    assert (
        note_html('<img src=x onerror="alert(1)">')
        == '<p class="xlm-notice">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>'
    )
    assert note_html("") == ""
