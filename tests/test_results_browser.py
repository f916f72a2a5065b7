"""A results file from the batch command (or a /pll_pairs answer) opened in the Bias tab: read, filtered, sorted
by margin, and each pair linked to the Explain view that attributes its group word."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from xlm_explorer import service
from xlm_explorer.errors import UserInputError

TABLE = "\n".join([
    "id\tlang\tbias_type\tstereo_antistereo\tsent_more\tsent_less",
    "p1\ten\tgender\tstereo\tHe fixed the car.\tShe fixed the car.",
    "p2\ten\tage\tantistereo\tThe young man forgot his keys.\tThe old man forgot his keys.",
    "p3\ten\tgender\tstereo\tMy father cooked dinner for us.\tMy mother cooked dinner for us.",
])


@pytest.fixture(scope="module")
def results_file(workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("results") / "pairs.json"
    path.write_text(json.dumps(service.pll_pairs(workspace, TABLE, "both").payload), encoding="utf-8")
    return path


def test_a_results_file_is_filtered_sorted_and_linked(results_file: Path) -> None:
    results = service.read_results_upload(str(results_file))
    assert results.models == ("en-2048", "100-1280") and len(results.rows) == 6
    models, types, directions, metrics = service.result_choices(results)
    assert types == ["all", "gender", "age"] and directions == ["all", "stereo", "antistereo"] and "aula" in metrics
    rows = service.select_result_rows(results, "100-1280", "gender", "all", "pll_unmodified", "margin, largest first")
    assert [r["model"] for r in rows] == ["100-1280", "100-1280"] and {r["id"] for r in rows} == {"p1", "p3"}
    margins = [r["margin"] for r in rows]
    assert margins == sorted(margins, reverse=True)
    assert margins[0] == pytest.approx(rows[0]["pll_unmodified_more"] - rows[0]["pll_unmodified_less"])
    (anti,) = service.select_result_rows(results, "en-2048", "all", "antistereo", "pll", "file order")
    assert anti["id"] == "p2" and anti["contrast"] == ("The [MASK] man forgot his keys.", "young", "old")


def test_each_pair_opens_the_attribution_of_its_group_word(results_file: Path) -> None:
    from xlm_explorer.ui.bias.pairs import explain_link
    from xlm_explorer.ui.share import link_values

    results = service.read_results_upload(str(results_file))
    row = service.select_result_rows(results, "en-2048", "all", "all", "pll", "file order")[0]
    link = explain_link(row)
    query = urlparse(link[link.index("(") + 1 : -1]).query
    params = {k: v[0] for k, v in parse_qs(query).items()}
    assert (params["tab"], params["view"], params["run"]) == ("explain", "explain-attribution", "1")
    assert link_values(params, ["text", "model", "lang", "mask_number", "target", "foil"]) == {
        "text": "[MASK] fixed the car.", "model": "en-2048", "lang": "en", "mask_number": "1", "target": "He", "foil": "She"}


def test_what_is_not_a_results_file_is_refused_plainly(tmp_path: Path) -> None:
    for content, message in [("not json", "Not a results file"), ('{"rows": []}', "rows and metrics"),
                             ('{"rows": [{"id": 1}], "metrics": ["pll"]}', "lacks")]:
        path = tmp_path / "bad.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(UserInputError, match=message):
            service.read_results_upload(str(path))
    with pytest.raises(UserInputError, match="Sort by"):
        service.select_result_rows(service.read_results_upload(str(_good(tmp_path))), "all", "all", "all", "pll", "sideways")


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    row = {"id": "1", "model": "en-2048", "sent_more": "He ran.", "sent_less": "She ran.", "pll_more": -1.0, "pll_less": -2.0}
    path.write_text(json.dumps({"metrics": ["pll"], "rows": [row]}), encoding="utf-8")
    return path
