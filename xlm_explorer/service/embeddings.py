"""The Embeddings tab's endpoint, and the page's own no-model events on its answer (a reprojection, a point's neighbours)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from .. import checks
from ..contract import errors_of
from ..analysis.datasets import MAX_ROWS, SHIPPED_DATASETS, Dataset, load_shipped, parse_pasted, read_uploaded
from ..analysis.embeddings import POOLINGS, EmbeddingSet, check_layer, explore
from ..analysis.projection import DIMS, METHODS
from ..errors import UserInputError
from ..workspace import Workspace
from .. import answer_types as declared
from .answers import Answer, Progress, load_models, per_model, report_part
from .endpoint import Between, File, LayerList, Languages, ModelChoice, OneOf, endpoint


def items_per_language(max_items: object) -> int | None:
    """The shipped data's first N items per language; empty (None, "", blanks) or 0 means all of them."""
    if max_items is None or (isinstance(max_items, str) and not max_items.strip()):
        return None
    return checks.whole_number(max_items, 0, MAX_ROWS, "Items per language") or None  # 0: all, as before


def embedding_dataset(
    ws: Workspace, source: str, languages: Sequence[str] | None, max_items: float | None, pasted: str | None, upload: Any
) -> Dataset:
    """The data set an embeddings request asks for; user data is checked against 100-1280's language codes."""
    source = checks.one_of(source, EMBEDDING_SOURCES, "data source")
    known = ws.manager.languages("100-1280")
    if source in SHIPPED_DATASETS:
        if not languages:
            raise UserInputError("Pick at least one language.")
        return load_shipped(source, list(languages), max_items=items_per_language(max_items))
    if source == "paste":
        return parse_pasted(pasted, known)
    return read_uploaded(upload, known)


EMBEDDING_SOURCES = (*SHIPPED_DATASETS, "paste", "upload")
#: Groups A and B of the direction projection when none are given: English to French.
DIRECTION_GROUPS = ("lang:en", "lang:fr")


@endpoint(answer=(declared.EmbeddingsRequest, declared.EmbeddingsItem, declared.EmbeddingsShared), heavy=True)
def embeddings(
    ws: Workspace,
    source: Annotated[str, OneOf(EMBEDDING_SOURCES)] = "sentences",
    languages: Languages = ("en", "fr", "de"),
    max_items: Annotated[int | None, Between(0, MAX_ROWS)] = None,
    pasted: str | None = None,
    upload: File = None,
    model: ModelChoice = "100-1280",
    layers: LayerList = ("middle", "last"),
    pooling: Annotated[str, OneOf(POOLINGS)] = "mean",
    center: bool = False,
    method: Annotated[str, OneOf(METHODS)] = "pca",
    dims: Annotated[int, Between(min(DIMS), max(DIMS))] = 2,
    seed: Annotated[int, Between(0, 2**31 - 1)] = 0,
    group_a: str = DIRECTION_GROUPS[0],
    group_b: str = DIRECTION_GROUPS[1],
    progress: Progress | None = None,
) -> Answer:
    """Embed a data set with the chosen models (cached), project the chosen layers, measure alignment.

    ``group_a`` / ``group_b``: the rows whose means make the direction projection's axis (``lang:fr`` or words)."""
    keys = checks.model_keys(ws.manager, model)
    dataset = embedding_dataset(ws, source, languages, max_items, pasted, upload)
    models, errors = load_models(ws, keys, progress)
    embedded = [
        ws.embeddings.get(loaded, dataset, report_part(progress, i / len(models), (i + 1) / len(models)))
        for i, loaded in enumerate(models)
    ]
    info = {"source": source, "name": dataset.name, "n_rows": len(dataset), "n_items": len(set(dataset.item_ids)), "languages": list(dataset.languages)}
    projection = Projection(layers, pooling, bool(center), method, dims, seed, (group_a, group_b))
    return explore_embeddings(ws, embedded, info, errors, model, projection)


#: The embeddings endpoint's parameters that only project the embedding sets (changing one runs no model): what a
#: redraw of the page (:func:`reproject`) takes, in this order.
PROJECTION_PARAMS = ("layers", "pooling", "center", "method", "dims", "seed", "group_a", "group_b")


@dataclass(frozen=True)
class Projection:
    """How an embeddings answer projects its sets: the layers, pooling, centring, method, dimensions, seed, and the
    direction's groups A and B (checked by the embeddings endpoint's declaration)."""

    layers: Sequence[str] | str
    pooling: str
    center: bool
    method: str
    dims: int
    seed: int
    groups: tuple[str, str]


def explore_embeddings(
    ws: Workspace, embedded: Sequence[EmbeddingSet], dataset: dict[str, Any], errors: dict[str, str], model: str,
    projection: Projection,
) -> Answer:
    """Project and measure embedding sets already computed (no model runs): the embeddings answer."""
    p = projection
    groups = (str(p.groups[0] or "").strip(), str(p.groups[1] or "").strip())
    explorations = [explore(e, p.layers, p.pooling, p.center, p.method, p.dims, p.seed, ws.derived, groups) for e in embedded]
    request = {
        "source": dataset["source"], "model": model, "layers": list(p.layers) if isinstance(p.layers, (list, tuple)) else [p.layers],
        "pooling": p.pooling, "center": p.center, "method": p.method, "dims": p.dims, "seed": p.seed,
        **({"group_a": groups[0], "group_b": groups[1]} if p.method == "direction" else {}),
    }
    return per_model("embeddings", request, explorations, errors, {"dataset": dict(dataset)})


def reproject(ws: Workspace, previous: Answer, *values: Any) -> Answer:
    """An embeddings answer under other layers, pooling, centring or projection (``values`` in
    :data:`PROJECTION_PARAMS`' order, checked by the endpoint's declaration): the same embedding sets, no model run."""
    checked = {name: embeddings.param(name).check(value, ws) for name, value in zip(PROJECTION_PARAMS, values)}
    checked = {name: checked.get(name, embeddings.param(name).default) for name in PROJECTION_PARAMS}
    projection = Projection(checked["layers"], checked["pooling"], checked["center"], checked["method"], checked["dims"],
                            checked["seed"], (checked["group_a"], checked["group_b"]))
    return explore_embeddings(ws, [e.embeddings for e in previous.results], previous.payload["shared"]["dataset"],
                              errors_of(previous.payload), previous.payload["request"]["model"], projection)


def neighbours(previous: Answer, picked: str, count: float) -> Answer:
    """The nearest neighbours of a clicked point (``model|layer|index``) of an embeddings answer, in that model's
    own space; no model runs."""
    parts = str(picked or "").split("|")
    if len(parts) < 3:
        raise UserInputError("Click a point of the projection to see its neighbours.")
    model, layer, index = parts[:3]
    exploration = next((e for e in previous.results if e.model == model), None)
    if exploration is None:
        raise UserInputError("That model is not in the current results; run the projection again.")
    layer_value = check_layer(layer, exploration.embeddings.n_layers, model)
    row = checks.whole_number(index, 0, len(exploration.embeddings.texts) - 1, "The point")
    k = checks.whole_number(count, 1, 100, "The number of neighbours")
    result = exploration.neighbours_of(layer_value, row, k)
    return Answer({"model": model, "layer": layer_value, "row": row,
                   "neighbours": [{"index": n.index, "cosine": n.cosine} for n in result.neighbours]}, (exploration, result))
