"""Embeddings tab: where do the models put a sentence and its translations, and at which layer?"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

import gradio as gr

from ..analysis.alignment import nearest_neighbours
from ..analysis.datasets import (
    MAX_ROWS,
    SHIPPED_DATASETS,
    Dataset,
    load_shipped,
    parse_pasted,
    read_uploaded,
    shipped_languages,
)
from ..analysis.embeddings import (
    LAYER_ALIASES,
    MAX_PANEL_LAYERS,
    DerivedCache,
    EmbeddingCache,
    ModelExploration,
    explore,
)
from ..analysis.projection import check_dims, check_method, check_seed, start_umap_warmup
from ..errors import UserInputError
from ..models import ModelManager
from ..views.embeddings import (
    make_alignment_figure,
    make_metrics_summary,
    make_metrics_table,
    make_neighbours_table,
    make_points_table,
    make_projection_figure,
    make_summary_html,
    payload_json,
)
from .common import (
    COMPUTE,
    MODEL_CHOICES,
    RESULT_STATE_SECONDS,
    language_label,
    load_models,
    selected_keys,
    show_notices,
    user_errors,
)

SOURCES = [
    ("Parallel sentences (shipped)", "sentences"),
    ("Parallel words (shipped)", "words"),
    ("Paste lines", "paste"),
    ("Upload CSV/TSV", "upload"),
]
POOLING_CHOICES = [("mean of tokens", "mean"), ("first token <s>", "first"), ("max of tokens", "max")]
METHOD_CHOICES = [("UMAP (cosine)", "umap"), ("PCA", "pca")]
MAX_LAYER_CHOICE = 16
PASTE_EXAMPLE = "en\tThe cat is sleeping.\tcat\nfr\tLe chat dort.\tcat\nde\tDie Katze schläft.\tcat\nen\tI like tea.\ttea\nfr\tJ'aime le thé.\ttea\nde\tIch mag Tee.\ttea"

INTRO = f"""Does the multilingual model put a sentence and its translation close together, and **at which layer**?
Each text is run through the model once (all layers at once); choose layers, pooling and projection freely
afterwards. **Translation retrieval P@1**: for each language, how often the nearest English text (cosine) is
the translation. **Language separability**: how well a nearest-centroid classifier tells the language
(lower means more language-neutral). *Centre per language* subtracts each language's mean vector.
Your own data: lines `lang<TAB>text<TAB>id` or a CSV/TSV with columns `id, lang, text`; rows with the same id
are translations; at most {MAX_ROWS:,} rows."""


def load_dataset(
    manager: ModelManager, source: str, languages: list[str] | None, max_items: float | None, pasted: str | None, upload: Any
) -> Dataset:
    """The data set a request asks for; user data is checked against 100-1280's language codes."""
    known = manager.languages("100-1280")
    if source in SHIPPED_DATASETS:
        if not languages:
            raise UserInputError("Pick at least one language.")
        return load_shipped(source, list(languages), max_items=int(max_items) if max_items else None)
    if source == "paste":
        return parse_pasted(pasted, known)
    if source == "upload":
        if isinstance(upload, dict):
            upload = upload.get("path")
        elif upload is not None and not isinstance(upload, (str, Path)):
            upload = getattr(upload, "name", None)
        return read_uploaded(upload, known)
    raise UserInputError(f"Unknown data source {str(source)[:30]!r}; choose one of: {', '.join(v for _, v in SOURCES)}.")


def run_embeddings(
    manager: ModelManager,
    cache: EmbeddingCache,
    derived: DerivedCache,
    dataset: Dataset,
    choice: str,
    layers: list[str] | str,
    pooling: str,
    center: bool,
    method: str,
    dims: float,
    seed: float,
    progress: Any = None,
) -> tuple[dict[str, Any], list[ModelExploration]]:
    """Embed (cached), project and measure for every chosen model. Returns the API payload and the results."""
    keys = selected_keys(manager, choice)
    method, dims_value, seed_value = check_method(method), check_dims(dims), check_seed(seed)
    models, errors = load_models(manager, keys, progress)
    explorations: list[ModelExploration] = []
    for loaded in models:
        report = (lambda fraction, message: progress(fraction, desc=message)) if progress is not None else None
        embeddings = cache.get(loaded, dataset, report)
        explorations.append(explore(embeddings, layers, pooling, center, method, dims_value, seed_value, derived))
    payload = {
        "dataset": {
            "name": dataset.name,
            "rows": len(dataset),
            "items": len(set(dataset.item_ids)),
            "languages": list(dataset.languages),
        },
        "settings": {
            "layers": list(layers) if isinstance(layers, (list, tuple)) else [layers],
            "pooling": pooling,
            "centered": bool(center),
            "method": method,
            "dims": dims_value,
            "seed": seed_value,
        },
        "models": [e.to_dict() for e in explorations],
        "errors": errors,
    }
    return payload, explorations


class DownloadFolders:
    """Fresh temporary folders for export files; only the newest ``keep`` are kept on disk (gradio serves
    its own copies of returned files, so older folders can go)."""

    def __init__(self, keep: int = 16) -> None:
        self.keep = keep
        self._folders: deque[Path] = deque()
        self._lock = threading.Lock()

    def new(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="xlm-embeddings-"))
        with self._lock:
            self._folders.append(folder)
            while len(self._folders) > self.keep:
                shutil.rmtree(self._folders.popleft(), ignore_errors=True)
        return folder


def write_downloads(
    explorations: list[ModelExploration], payload: dict[str, Any], folders: DownloadFolders | None = None
) -> list[str]:
    """Coordinates CSV, metrics CSV and the full JSON in a fresh temporary folder; returns their paths."""
    folder = folders.new() if folders is not None else Path(tempfile.mkdtemp(prefix="xlm-embeddings-"))
    points = folder / "embedding_points.csv"
    metrics = folder / "alignment_metrics.csv"
    full = folder / "embeddings.json"
    make_points_table(explorations).to_csv(points, index=False)
    make_metrics_table([e.metrics for e in explorations]).to_csv(metrics, index=False)
    full.write_text(payload_json(payload), encoding="utf-8")
    return [str(points), str(metrics), str(full)]


def build_embeddings_tab(manager: ModelManager) -> None:
    """Components and events of the embeddings tab (inside an open ``gr.Tab``)."""
    start_umap_warmup()  # numba compiles in the background, not in a user's request (XLM_EXPLORER_WARMUP=0 turns off)
    cache = EmbeddingCache()
    derived = DerivedCache()
    folders = DownloadFolders()
    shipped_langs = list(shipped_languages("sentences"))
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Radio(SOURCES, value="sentences", label="Data")
            languages = gr.CheckboxGroup(
                [(language_label(code), code) for code in shipped_langs], value=shipped_langs, label="Languages (shipped data)"
            )
            max_items = gr.Slider(1, 48, value=48, step=1, label="Items per language (shipped data: the first N ids)")
            pasted = gr.Textbox(
                label="Pasted lines: lang<TAB>text<TAB>id", lines=6, max_lines=20, value=PASTE_EXAMPLE, visible=False
            )
            upload = gr.File(
                label=f"CSV/TSV with columns id, lang, text (≤ {MAX_ROWS:,} rows)",
                file_types=[".csv", ".tsv", ".txt"],
                type="filepath",
                visible=False,
            )
        with gr.Column(scale=2):
            choice = gr.Radio(MODEL_CHOICES, value="100-1280", label="Model")
            layers = gr.Dropdown(
                list(LAYER_ALIASES) + [str(i) for i in range(MAX_LAYER_CHOICE + 1)],
                value=["middle", "last"],
                multiselect=True,
                label=f"Layers to project (0 = embeddings; up to {MAX_PANEL_LAYERS})",
            )
            pooling = gr.Radio(POOLING_CHOICES, value="mean", label="Pooling")
            center = gr.Checkbox(value=False, label="Centre per language (remove the language-identity component)")
            with gr.Row():
                method = gr.Radio(METHOD_CHOICES, value="umap", label="Projection")
                dims = gr.Radio([2, 3], value=2, label="Dimensions")
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
            join = gr.Checkbox(value=False, label="Join translations with lines")
    run = gr.Button("Embed and project", variant="primary")
    summary = gr.HTML()
    scatter = gr.Plot(label="Projection")
    alignment = gr.Plot(label="Alignment by layer")
    metrics_table = gr.Dataframe(label="Alignment metrics by layer", interactive=False)
    with gr.Accordion("Nearest neighbours of a point (cosine, in the model's own space)", open=False):
        with gr.Row():
            panel_choice = gr.Dropdown([], label="Model and layer")
            point_choice = gr.Dropdown([], label="Point", filterable=True)
            k = gr.Slider(1, 50, value=10, step=1, label="Neighbours")
        neighbours_table = gr.Dataframe(label="Nearest neighbours", interactive=False, wrap=True)
    downloads = gr.File(label="Downloads: coordinates CSV, metrics CSV, everything as JSON", file_count="multiple", interactive=False)
    with gr.Accordion("Data behind the charts (JSON, as the API returns it)", open=False):
        payload_view = gr.JSON(label="embeddings result")
    state = gr.State([], time_to_live=RESULT_STATE_SECONDS)
    payload_state = gr.State({}, time_to_live=RESULT_STATE_SECONDS)

    @user_errors
    def compute(
        source: str, languages: list[str], max_items: float, pasted: str, upload: Any, choice: str, layers: list[str],
        pooling: str, center: bool, method: str, dims: float, seed: float, progress: gr.Progress = gr.Progress(),
    ) -> tuple[dict, list, dict]:
        dataset = load_dataset(manager, source, languages, max_items, pasted, upload)
        payload, explorations = run_embeddings(
            manager, cache, derived, dataset, choice, layers, pooling, center, method, dims, seed, progress
        )
        show_notices([n for e in explorations for n in e.notices] + list(payload["errors"].values()))
        return payload, explorations, payload

    def render(explorations: list[ModelExploration], payload: dict, join: bool) -> list[Any]:
        if not explorations:
            return [gr.skip()] * 8
        metrics = [e.metrics for e in explorations]
        panels = [(f"{e.model} · layer {p.layer}", f"{e.model}|{p.layer}") for e in explorations for p in e.panels]
        emb = explorations[0].embeddings
        points = [(f"#{i} {emb.langs[i]} · {emb.item_ids[i]} · {emb.texts[i][:60]}", i) for i in range(len(emb))]
        return [
            make_summary_html(explorations, payload.get("dataset", {}).get("name", "")),
            make_projection_figure(explorations, join),
            make_alignment_figure(metrics),
            make_metrics_summary(metrics),
            gr.Dropdown(choices=panels, value=panels[-1][1] if panels else None),
            gr.Dropdown(choices=points, value=0),
            None,
            write_downloads(explorations, payload, folders),
        ]

    def redraw(explorations: list[ModelExploration], join: bool) -> Any:
        return make_projection_figure(explorations, join) if explorations else gr.skip()

    @user_errors
    def neighbours(explorations: list[ModelExploration], panel: str | None, point: int | None, k: float) -> Any:
        if not explorations or not panel or point is None:
            return None
        model, _, layer = str(panel).rpartition("|")
        exploration = next((e for e in explorations if e.model == model), None)
        if exploration is None:
            raise UserInputError("That model is not in the current results; run the projection again.")
        emb = exploration.embeddings
        vectors = emb.vectors(int(layer), exploration.pooling, exploration.centered)
        return make_neighbours_table(emb, nearest_neighbours(vectors, int(point), int(k)))

    event = gr.on(
        triggers=[run.click],
        fn=compute,
        inputs=[source, languages, max_items, pasted, upload, choice, layers, pooling, center, method, dims, seed],
        outputs=[payload_view, state, payload_state],
        api_name="embeddings",
        api_description="Embed a data set with one or both models; projected points per layer and alignment metrics by layer (JSON).",
        **COMPUTE,
    )
    event.success(
        render,
        inputs=[state, payload_state, join],
        outputs=[summary, scatter, alignment, metrics_table, panel_choice, point_choice, neighbours_table, downloads],
        api_visibility="private",
        queue=False,
    )
    def show_source_inputs(source: str) -> list[Any]:
        shipped = source in SHIPPED_DATASETS
        return [
            gr.CheckboxGroup(visible=shipped),
            gr.Slider(visible=shipped),
            gr.Textbox(visible=source == "paste"),
            gr.File(visible=source == "upload"),
        ]

    source.change(
        show_source_inputs, inputs=source, outputs=[languages, max_items, pasted, upload], api_visibility="private", queue=False
    )
    join.change(redraw, inputs=[state, join], outputs=scatter, api_visibility="private", queue=False)
    gr.on(
        triggers=[panel_choice.change, point_choice.change, k.release],
        fn=neighbours,
        inputs=[state, panel_choice, point_choice, k],
        outputs=neighbours_table,
        api_visibility="private",
        queue=False,
    )
