"""The Compare & bias tab through its API (gradio_client against the launched app), the handlers behind
it, and the downloads."""

from __future__ import annotations


import pytest
from gradio_client.exceptions import AppError

from xlm_explorer import service

ENDPOINTS = {
    "/compare": ["text", "lang", "top_k"],
    "/logit_lens": ["text", "lang", "mask_number", "top_k", "candidates"],
    "/layer_similarity": ["languages", "sentences", "lang"],
    "/crosslingual_grid": ["templates", "top_k"],
    "/bias_probe": ["template", "targets", "fillers", "lang", "model"],
    "/pll_pairs": ["table", "model"],
    "/bias_languages": ["languages"],
}


def test_endpoints_are_named_and_documented(client) -> None:
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name, parameters in ENDPOINTS.items():
        assert [p["parameter_name"] for p in api[name]["parameters"]] == parameters
        assert len(api[name]["returns"]) == 1  # the JSON; the state stays on the server


def test_api_compare(client) -> None:
    data = client.predict("Le chat dort sur le [MASK].", "fr", 5, api_name="/compare")
    en, multi = data["results"]
    assert (en["model"], multi["model"]) == ("en-2048", "100-1280")
    assert en["tokenization"]["lang"] == "en" and multi["tokenization"]["lang"] == "fr"
    for result in data["results"]:
        assert len(result["fill_mask"]["masks"][0]["predictions"]) == 5
        assert result["facts"]["model"] == result["model"]
    overlap = data["shared"]["overlap"]
    assert {row["k"] for row in overlap} == {1, 3, 5} and {row["mask_number"] for row in overlap} == {1}
    assert all(0.0 <= row["overlap"] <= 1.0 for row in overlap)


def test_api_logit_lens_last_layer_equals_api_fill_mask(client) -> None:
    text = "The [MASK] sat on the [MASK]."
    lens = client.predict(text, "en", 2, 5, api_name="/logit_lens")
    fill = client.predict(text, "both", "en", 5, api_name="/fill_mask")
    by_model = {r["model"]: r for r in lens["results"]}
    for result in fill["results"]:
        layers = by_model[result["model"]]["layers"]
        assert len(layers) == by_model[result["model"]]["n_layers"] + 1
        assert layers[-1]["relative_depth"] == 1.0
        last = [(p["piece"], p["probability"]) for p in layers[-1]["top"]]
        assert last == [(p["piece"], p["probability"]) for p in result["masks"][1]["predictions"]]
    assert lens["shared"]["depth_alignment"][0] == [0, 0] and lens["shared"]["depth_alignment"][-1] == [2, 3]


def test_api_layer_similarity(client) -> None:
    data = client.predict(["en"], "", "en", api_name="/layer_similarity")
    cka = data["shared"]["cka"]
    assert data["shared"]["n_sentences"] == 48 and [r["model"] for r in data["results"]] == ["en-2048", "100-1280"]
    assert len(cka) == 3 and all(len(row) == 4 for row in cka)
    assert all(0.0 <= v <= 1.0 for row in cka for v in row)
    custom = client.predict(
        [], "One cat.\nTwo dogs.\nThree birds.\nA house.\nThe sun is hot.", "en", api_name="/layer_similarity"
    )
    assert custom["shared"]["n_sentences"] == 5 and custom["request"]["sentence_set"] == "custom"


def test_layer_similarity_reuses_the_embedding_sets(fresh_workspace) -> None:
    first = service.layer_similarity(fresh_workspace, ["en"], "", "en").payload
    again = service.layer_similarity(fresh_workspace, ["en"], "", "en").payload
    assert fresh_workspace.embeddings.computed == 2 and first == again  # one pooling per model, reused for the second run


def test_api_crosslingual_grid(client) -> None:
    data = client.predict(
        "en\tThe capital of France is [MASK].\nde: Die Hauptstadt von Frankreich ist [MASK].",
        3,
        api_name="/crosslingual_grid",
    )
    assert [(r["model"], [row["lang"] for row in r["rows"]]) for r in data["results"]] == [
        ("en-2048", ["en", "de"]),
        ("100-1280", ["en", "de"]),
    ]
    assert all(len(row["predictions"]) == 3 for r in data["results"] for row in r["rows"])


def test_api_bias_probe(client) -> None:
    data = client.predict(
        "The {filler} said that [MASK] would be late.",
        "he, she",
        "doctor\nnurse\nhairdresser",
        "en",
        "both",
        api_name="/bias_probe",
    )
    assert data["request"]["targets"] == ["he", "she"] and [r["model"] for r in data["results"]] == ["en-2048", "100-1280"]
    for result in data["results"]:
        assert [row["filler"] for row in result["rows"]] == ["doctor", "nurse", "hairdresser"]
    for row in [row for result in data["results"] for row in result["rows"]]:
        first, second = row["targets"]
        assert row["log_ratio"] == pytest.approx(first["log_prob"] - second["log_prob"])
        assert first["log_prob"] == pytest.approx(sum(first["piece_log_probs"]))
    only_multi = client.predict(
        "The {filler} said that [MASK] left.", "he/she", "doctor", "en", "100-1280", api_name="/bias_probe"
    )
    assert [r["model"] for r in only_multi["results"]] == ["100-1280"]


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
    assert [(r["model"], [row["id"] for row in r["rows"]]) for r in data["results"]] == [
        ("en-2048", ["p1", "p2"]),
        ("100-1280", ["p1", "p2"]),
    ]
    for row in [row for result in data["results"] for row in result["rows"]]:
        assert row["difference"] == pytest.approx(row["pll_more"] - row["pll_less"])
        assert row["preferred"] == ("more" if row["difference"] > 0 else "less")
    assert data["results"][1]["summary"]["n_pairs"] == 2
    with pytest.raises(AppError, match="sent_more and sent_less"):
        client.predict("a,b\n1,2\n", "both", api_name="/pll_pairs")


def test_api_bad_inputs_keep_the_server_serving(client) -> None:
    with pytest.raises(AppError, match="klingon"):  # refused by the dropdown before the handler runs
        client.predict("The [MASK].", "klingon", 5, api_name="/compare")
    with pytest.raises(AppError, match="from 1 to 1"):
        client.predict("The [MASK].", "en", 4, 5, api_name="/logit_lens")
    with pytest.raises(AppError, match="exactly one"):
        client.predict("en\tNo mask here.", 3, api_name="/crosslingual_grid")
    assert [r["fill_mask"] for r in client.predict("The cat.", "en", 3, api_name="/compare")["results"]] == [None, None]


def test_every_view_of_the_compare_and_bias_tabs_draws_its_answer(workspace) -> None:
    """What the page draws after each run: figures with traces and tables with rows, from the service's answer."""
    import pandas as pd
    import plotly.graph_objects as go

    from xlm_explorer.views import bias as bias_views
    from xlm_explorer.views import compare as compare_views

    compared = service.compare(workspace, "Le chat dort sur le [MASK].", "fr", 5).results
    assert all("xlm-chip" in compare_views.make_tokenization_html(t) for t in compared.tokenizations)
    lens = service.logit_lens(workspace, "The [MASK] sat.", "en", 1, 3).results
    similarity = service.layer_similarity(workspace, ["en"], "", "en").results
    grid = service.crosslingual_grid(workspace, "en\tThe [MASK] sat.\nfr\tLe [MASK] dort.", 2).results
    probe = service.bias_probe(workspace, "The {filler} said that [MASK] left.", "he, she", "doctor", "en", "both").results
    pairs = service.pll_pairs(workspace, "sent_more,sent_less\nHe ran.,She ran.", "100-1280").results
    languages = service.bias_languages(workspace, ["en", "fr"]).results
    figures = [
        compare_views.make_logit_lens_figure(lens), compare_views.make_cka_figure(similarity),
        bias_views.make_probe_figure(probe), bias_views.make_pairs_summary_figure(pairs), bias_views.make_pairs_figure(pairs),
        bias_views.make_crosslingual_figure(languages),
    ]
    assert all(isinstance(f, go.Figure) and f.data for f in figures)
    tables = [
        compare_views.make_side_by_side_table(compared), compare_views.make_overlap_table(compared),
        compare_views.make_facts_table(compared), compare_views.make_tokenization_table(compared),
        compare_views.make_logit_lens_table(lens), compare_views.make_cka_table(similarity),
        compare_views.make_grid_table(grid, shown=grid.top_k), compare_views.make_grid_long_table(grid),
        bias_views.make_probe_table(probe), bias_views.make_pairs_table(pairs), bias_views.make_pairs_summary(pairs),
        bias_views.make_crows_table(pairs),
        bias_views.make_crosslingual_table(languages),
    ]
    assert all(isinstance(t, pd.DataFrame) and len(t) for t in tables)


def test_messages_reach_api_clients_as_plain_text(client) -> None:
    """The API gets the message as written (no HTML entities); the page escapes it where it draws it (toasts)."""
    hostile = "<svg id=x onload=alert(1)>" + "x" * 60
    with pytest.raises(AppError) as error:
        client.predict("The {filler} said that [MASK] left.", "he, she", hostile, "en", "both", api_name="/bias_probe")
    assert "longer than 60 characters" in str(error.value)
    assert "<svg" in str(error.value) and "&lt;" not in str(error.value)
    with pytest.raises(AppError) as error:
        client.predict("the cat sat .", "en-2048", "en", 5, api_name="/fill_mask")
    assert "(or <mask>, <special1>)" in str(error.value)


def test_probe_notes_are_escaped() -> None:
    from xlm_explorer.ui.bias.probes import note_html

    assert (
        note_html('<img src=x onerror="alert(1)">')
        == '<p class="xlm-notice">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>'
    )
    assert note_html("") == ""
