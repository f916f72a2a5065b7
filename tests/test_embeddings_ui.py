"""The embeddings tab through its API (gradio_client) and its views: JSON shape, one model run per data set,
uploads, clear errors for bad input, escaped hover text, export files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from xlm_explorer.analysis.alignment import nearest_neighbours
from xlm_explorer.analysis.datasets import Dataset, TextItem
from xlm_explorer.analysis.embeddings import EmbeddingCache, explore
from xlm_explorer.models import LoadedModel
from xlm_explorer.downloads import DownloadStore
from xlm_explorer.views.embeddings import (
    make_alignment_figure,
    make_metrics_table,
    make_neighbours_table,
    make_points_table,
    make_projection_figure,
)

API = "/embeddings"


def call(client, *, source="paste", languages=("en",), max_items=48, pasted="", upload=None, model="100-1280",
         layers=("last",), pooling="mean", center=False, method="pca", dims=2, seed=0) -> dict:
    """The API in its documented argument order."""
    return client.predict(
        source, list(languages), max_items, pasted, upload, model, list(layers), pooling, center, method, dims, seed,
        api_name=API,
    )


def _paste(tag: str, n_items: int = 4) -> str:
    """Parallel lines in en/fr/de unique to one test (so no earlier test has embedded them)."""
    words = {"en": "house", "fr": "maison", "de": "Haus"}
    return "\n".join(
        f"{lang}\t{word} {tag} {i}\t{tag}-{i}" for i in range(n_items) for lang, word in words.items()
    )


class _Counter:
    def __init__(self, loaded: LoadedModel) -> None:
        self.calls = 0
        self.handle = loaded.model.transformer.register_forward_hook(lambda *_: self._add())

    def _add(self) -> None:
        self.calls += 1


def test_api_returns_points_for_each_layer_and_metrics_for_every_layer(client) -> None:
    data = call(client, pasted=_paste("shape"), model="both", layers=["0", "last"], dims=3)
    assert data["shared"]["dataset"] == {"source": "paste", "name": "pasted", "n_rows": 12, "n_items": 4, "languages": ["en", "fr", "de"]}
    assert data["request"]["dims"] == 3 and data["errors"] == []
    by_model = {m["model"]: m for m in data["results"]}
    assert set(by_model) == {"en-2048", "100-1280"}
    for model in by_model.values():
        n_layers = model["n_layers"]
        assert [p["layer"] for p in model["panels"]] == [0, n_layers]  # "last" resolved per model
        for panel in model["panels"]:
            assert panel["method"] == "pca" and len(panel["points"]) == 12
            point = panel["points"][1]
            assert set(point) == {"index", "id", "lang", "text", "x", "y", "z"}
            assert (point["index"], point["id"], point["lang"]) == (1, "shape-0", "fr")
        metrics = model["metrics"]
        assert metrics["layers"] == list(range(n_layers + 1))
        assert set(metrics["p_at_1"]) == {"fr", "de"} and metrics["reference"] == "en"
        for key in ("mean_p_at_1_vs_reference", "mean_p_at_1_all_pairs", "language_separability"):
            assert len(metrics[key]) == n_layers + 1
            assert all(0.0 <= v <= 1.0 for v in metrics[key])
        assert metrics["chance_retrieval"] == pytest.approx(0.25)
    assert any("English-only" in notice for notice in by_model["en-2048"]["notices"])


def test_api_runs_the_model_once_when_only_layer_pooling_or_projection_change(client, multi_model: LoadedModel) -> None:
    counter = _Counter(multi_model)
    try:
        pasted = _paste("cache")
        first = call(client, pasted=pasted, layers=["last"])
        assert counter.calls == 1  # 12 rows: one batch, one forward pass for all layers
        call(client, pasted=pasted, layers=["0", "middle"], pooling="max", center=True, dims=3, seed=3)
        call(client, pasted=pasted, layers=["1"], pooling="first")
        again = call(client, pasted=pasted, layers=["last"])
        assert counter.calls == 1
        assert again["results"][0]["panels"] == first["results"][0]["panels"]
    finally:
        counter.handle.remove()


def test_api_accepts_an_uploaded_csv(client, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text('id,lang,text\n1,en,"Good morning, friends"\n1,es,Buenos días amigos\n2,en,Thank you\n2,es,Gracias\n',
                    encoding="utf-8")
    data = call(client, source="upload", upload=handle_file(str(path)), layers=["middle"])
    assert data["shared"]["dataset"]["name"] == "mine.csv" and data["shared"]["dataset"]["n_rows"] == 4
    assert [p["text"] for p in data["results"][0]["panels"][0]["points"]][:2] == ["Good morning, friends", "Buenos días amigos"]


def test_api_shipped_data(client) -> None:
    data = call(client, source="words", languages=["en", "ru", "zh"], max_items=3, model="100-1280")
    assert data["shared"]["dataset"]["n_rows"] == 9 and data["shared"]["dataset"]["languages"] == ["en", "ru", "zh"]
    assert {p["id"] for p in data["results"][0]["panels"][0]["points"]} == {"num_1", "num_2", "num_3"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(pasted="en\tok\nxx\tunknown"), "Unknown language code: 'xx' \\(line 2\\)"),
        (dict(pasted="just text without a tab"), "Line 1 has no tab"),
        (dict(pasted="en\ta cat", model="en-2048", layers=["14"]), "en-2048 has layers 0 \\(embeddings\\) to 2; layer 14"),
        (dict(pasted="en\ta cat", method="tsne"), "Unknown method 'tsne'; choose one of: umap, pca, direction."),
        (dict(source="upload"), "No file uploaded"),
        (dict(source="words", languages=[]), "Pick at least one language"),
    ],
)
def test_api_explains_bad_input(client, kwargs: dict, message: str) -> None:
    with pytest.raises(AppError, match=message):
        call(client, **kwargs)


def test_api_explains_a_binary_upload_and_keeps_serving(client, tmp_path: Path) -> None:
    image = tmp_path / "photo.csv"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(AppError, match="not a text file"):
        call(client, source="upload", upload=handle_file(str(image)))
    assert call(client, pasted="en\tstill serving")["shared"]["dataset"]["n_rows"] == 1


def test_an_upload_without_a_file_name_is_read_by_its_content(client, tmp_path: Path) -> None:
    """What the JS client's handle_file(Buffer) sends: a file named 'blob', no extension (was 'Invalid file type')."""
    nameless = tmp_path / "blob"
    nameless.write_text("id,lang,text\n1,en,The cat sleeps.\n1,fr,Le chat dort.\n", encoding="utf-8")
    result = call(client, source="upload", upload=handle_file(str(nameless)))
    assert result["shared"]["dataset"]["n_rows"] == 2 and result["shared"]["dataset"]["languages"] == ["en", "fr"]


# ---- views -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explorations(en_model: LoadedModel, multi_model: LoadedModel):
    hostile = '<img src=x onerror="alert(1)">'
    items = (
        TextItem("a", "en", "The cat sleeps."), TextItem("a", "fr", "Le chat dort."),
        TextItem("b", "en", hostile), TextItem("b", "fr", "Le chien mange."),
        TextItem("c", "en", "Good night."), TextItem("c", "fr", "Bonne nuit."),
    )
    dataset = Dataset("views", items)
    cache = EmbeddingCache()
    return [
        explore(cache.get(loaded, dataset), ["middle", "last"], "mean", False, "pca", 2, 0)
        for loaded in (en_model, multi_model)
    ]


def test_scatter_colours_by_language_symbols_by_model_and_escapes_hover(explorations) -> None:
    fig = make_projection_figure(explorations, join_translations=True)
    markers = [t for t in fig.data if t.mode == "markers"]
    assert len(markers) == 2 * 2 * 2  # models x layers x languages
    symbols = {(t.xaxis, t.marker.symbol) for t in markers}
    assert {s for _, s in symbols} == {"circle", "diamond"}
    colours = {t.name: t.marker.color for t in markers}
    assert colours["en"] != colours["fr"] and all(t.marker.color == colours[t.name] for t in markers)
    assert sum(t.showlegend for t in markers) == 2  # one legend entry per language
    hover = [row[0] for t in markers for row in t.customdata]
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in hover and not any("<img" in h for h in hover)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 4 and list(lines[0].x).count(None) == 3  # 3 items, a break after each
    single = make_projection_figure([explorations[0]])
    assert {t.marker.symbol for t in single.data} == {"circle"} and all(isinstance(t, go.Scattergl) for t in single.data)


def test_3d_scatter_and_alignment_chart(en_model: LoadedModel) -> None:
    dataset = Dataset("d", tuple(TextItem(str(i % 3), lang, f"word {i}") for i, lang in enumerate(["en", "fr"] * 3)))
    exploration = explore(EmbeddingCache().get(en_model, dataset), ["last"], "mean", True, "pca", 3, 0)
    fig = make_projection_figure([exploration])
    assert {type(t) for t in fig.data} == {go.Scatter3d}
    chart = make_alignment_figure([exploration.metrics])
    names = [t.name for t in chart.data]
    assert "mean P@1 → en" in names and "language separability" in names and "fr → en" in names
    mean = next(t for t in chart.data if t.name == "mean P@1 → en")
    assert list(mean.x) == list(range(en_model.n_layers + 1))


def test_tables_and_downloads(explorations, tmp_path) -> None:
    points = make_points_table(explorations)
    assert len(points) == 2 * 2 * 6 and points["z"].isna().all()
    metrics = make_metrics_table([e.metrics for e in explorations])
    n_rows_per_layer = 1 + 3  # fr -> en, plus three summary metrics
    assert len(metrics) == sum((e.embeddings.n_layers + 1) * n_rows_per_layer for e in explorations)
    emb = explorations[1].embeddings
    table = make_neighbours_table(emb, nearest_neighbours(emb.vectors(1), 0, 3))
    assert list(table["rank"]) == [1, 2, 3] and emb.texts[0] not in list(table["text"])
    payload = {"models": [e.to_dict() for e in explorations]}
    tables = {"points": points, "metrics": metrics}
    paths = DownloadStore(tmp_path).write("session", "embeddings", tables, payload)
    assert [Path(p).name for p in paths] == ["embeddings-points.csv", "embeddings-metrics.csv", "embeddings-tables.md",
                                         "embeddings.json"]
    with open(paths[0], encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(points) and rows[2]["text"] == '<img src=x onerror="alert(1)">'
    assert json.loads(Path(paths[3]).read_text(encoding="utf-8")) == json.loads(json.dumps(payload))
    first = explorations[0].panels[0].projection.coords
    assert np.allclose([float(rows[0]["x"]), float(rows[0]["y"])], first[0], atol=1e-5)


def test_a_new_run_replaces_the_sessions_files_of_that_view(explorations, tmp_path) -> None:
    store = DownloadStore(tmp_path, run_grace_s=0)  # an older run's files outlive a new run by this grace
    tables = {"points": make_points_table(explorations)}
    first = store.write("s1", "embeddings", tables, {"run": 1})
    other = store.write("s2", "embeddings", tables, {"run": 1})
    again = store.write("s1", "embeddings", tables, {"run": 2})
    assert [Path(p).name for p in first] == [Path(p).name for p in again]
    assert json.loads(Path(again[-1]).read_text(encoding="utf-8")) == {"run": 2}
    assert all(Path(p).exists() for p in other) and len(store.files()) == 6
