"""Sentence (and word) embeddings from every layer, in one batched forward pass per batch.

:func:`embed_sentences` encodes each text language-aware, sorts by length, runs the transformer body on
padded batches (padding masked out by ``attention_mask``) and pools every layer three ways at once, so
changing the layer, the pooling, the centering or the projection never runs the model again.
:class:`EmbeddingCache` keeps the results per (model instance, data set content).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..cache import BoundedLRU, LRUBacked
from ..checks import whole_number
from ..errors import UserInputError
from ..forward import run_batch
from ..notices import ENGLISH_ONLY, UNKNOWN_PIECES, without
from ..tokenization import encode_text, reading_notices
from .alignment import AlignmentMetrics, Neighbour, alignment_metrics, nearest_neighbours
from .projection import Projection, project
from .row_groups import GROUP_NAMES, parse_query, select_groups

if TYPE_CHECKING:
    from ..models import LoadedModel
    from .datasets import Dataset

POOLINGS = ("mean", "first", "max")
POOLING_LABELS = {
    "mean": "mean over the text's tokens (special tokens left out)",
    "first": "first token (<s>)",
    "max": "max over the text's tokens (special tokens left out)",
}
DEFAULT_BATCH_SIZE = 32
#: Memory bound of the embedding cache (MiB): 2,000 rows of both models, all layers and poolings, fit.
ENV_EMBED_CACHE_MB = "XLM_EXPLORER_EMBED_CACHE_MB"
DEFAULT_EMBED_CACHE_MB = 1536
#: Called as ``progress(fraction, message)``.
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class EmbeddingSet:
    """Pooled hidden states of N texts for every layer of one model.

    ``pooled[p]`` is float32 (n_layers + 1, N, H) for each pooling ``p`` in :data:`POOLINGS`; layer 0 is
    the embedding output. ``n_tokens[i]`` counts text i's tokens including ``<s>`` and ``</s>``.
    """

    model: str
    item_ids: tuple[str, ...]
    langs: tuple[str, ...]
    texts: tuple[str, ...]
    n_tokens: tuple[int, ...]
    pooled: dict[str, np.ndarray] = field(repr=False)
    seconds: float = 0.0
    batches: int = 0
    notices: tuple[str, ...] = ()
    #: (model key, model instance, data set content hash) when made from a data set, else None
    source_key: tuple | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_layers(self) -> int:
        """Transformer layers (the layer index runs 0..n_layers)."""
        return int(next(iter(self.pooled.values())).shape[0]) - 1

    @property
    def hidden_size(self) -> int:
        return int(next(iter(self.pooled.values())).shape[-1])

    @property
    def total_tokens(self) -> int:
        return int(sum(self.n_tokens))

    @property
    def nbytes(self) -> int:
        return int(sum(array.nbytes for array in self.pooled.values()))

    def vectors(self, layer: int, pooling: str = "mean", center: bool = False) -> np.ndarray:
        """(N, H) float32 vectors of one layer; ``center`` subtracts each language's mean vector."""
        pooling = check_pooling(pooling)
        layer = check_layer(layer, self.n_layers, self.model)
        vectors = self.pooled[pooling][layer]
        return center_by_language(vectors, self.langs) if center else vectors

    def all_layers(self, pooling: str = "mean", center: bool = False) -> np.ndarray:
        """(n_layers + 1, N, H) float32."""
        stack = self.pooled[check_pooling(pooling)]
        if not center:
            return stack
        return np.stack([center_by_language(layer, self.langs) for layer in stack])


def check_pooling(pooling: object) -> str:
    if pooling not in POOLINGS:
        raise UserInputError(f"Unknown pooling {str(pooling)[:30]!r}; choose one of: {', '.join(POOLINGS)}.")
    return str(pooling)


def check_layer(layer: object, n_layers: int, model: str = "the model") -> int:
    """``layer`` as an int in 0..n_layers (floats like 3.0 accepted), else :class:`UserInputError`."""
    return whole_number(
        layer, 0, n_layers, "Layer", out_of_range=f"{model} has layers 0 (embeddings) to {{high}}; layer {{value}} does not exist."
    )


def center_by_language(vectors: np.ndarray, langs: Sequence[str]) -> np.ndarray:
    """(N, H) -> (N, H): each row minus the mean of the rows of its language."""
    centered = np.array(vectors, dtype=np.float32, copy=True)
    langs_array = np.asarray(langs)
    for lang in dict.fromkeys(langs):
        rows = langs_array == lang
        centered[rows] -= centered[rows].mean(axis=0, keepdims=True)
    return centered


def _content_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, structural_ids: frozenset[int]) -> torch.Tensor:
    """(B, T) bool: real (non-padding) tokens that are not ``<s>``/``</s>``/``<pad>``; a row with none keeps all real tokens."""
    content = attention_mask.bool().clone()
    for token_id in structural_ids:
        content &= input_ids != token_id
    empty = content.sum(dim=1) == 0
    content[empty] = attention_mask.bool()[empty]
    return content


def pool_hidden_states(hidden: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pool (L+1, B, T, H) hidden states over tokens: {"mean"|"first"|"max": (L+1, B, H) float32}.

    ``content`` (B, T) marks the tokens mean and max pool over; "first" takes position 0 (``<s>``).
    """
    hidden = hidden.float()
    weights = content.to(hidden.dtype)[None, :, :, None]  # (1, B, T, 1)
    counts = weights.sum(dim=2).clamp(min=1.0)
    mean = (hidden * weights).sum(dim=2) / counts
    masked = hidden.masked_fill(~content[None, :, :, None], float("-inf"))
    return {"mean": mean, "first": hidden[:, :, 0, :], "max": masked.max(dim=2).values}


def structural_token_ids(loaded: LoadedModel) -> frozenset[int]:
    """Ids of ``<s>``, ``</s>`` and ``<pad>`` (``<unk>`` stays: an unknown word is still part of the text)."""
    tokenizer = loaded.tokenizer
    ids = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.sep_token_id, tokenizer.cls_token_id, tokenizer.pad_token_id}
    return frozenset(int(i) for i in ids if i is not None)


def embed_sentences(
    loaded: LoadedModel,
    texts: Sequence[str],
    langs: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    item_ids: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> EmbeddingSet:
    """Embed ``texts`` with every layer of ``loaded``: one forward pass per batch of ``batch_size`` texts.

    Texts are encoded with their own language's rules (an English-only model encodes everything as
    English), cut to the model's positions with a notice, sorted by length so a batch pads little, and
    returned in the input order.
    """
    if len(texts) != len(langs):
        raise ValueError("texts and langs must have the same length")
    if not texts:
        raise UserInputError("There is nothing to embed: the data set is empty.")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    item_ids = tuple(item_ids) if item_ids is not None else tuple(str(i) for i in range(len(texts)))
    notices: list[str] = []
    encoded: list[tuple[int, ...]] = []
    for text, lang in zip(texts, langs):
        encoding = encode_text(loaded, text, lang, allow_masks=False, truncate=True)
        encoded.append(encoding.input_ids)
        notices += [n for n in without(encoding.notices, UNKNOWN_PIECES, ENGLISH_ONLY) if n not in notices]  # said per set below
    n_unknown = sum(1 for ids in encoded if int(loaded.tokenizer.unk_token_id) in ids)
    if n_unknown:
        notices.append(f"{n_unknown} of {len(texts)} texts contain pieces unknown to {loaded.key} (<unk>).")
    notices += reading_notices(loaded, dict.fromkeys(langs), "text of every language")
    order = sorted(range(len(texts)), key=lambda i: (len(encoded[i]), i))
    structural = structural_token_ids(loaded)
    n_layers = loaded.n_layers
    pooled = {p: np.zeros((n_layers + 1, len(texts), loaded.hidden_size), dtype=np.float32) for p in POOLINGS}
    started = time.perf_counter()
    n_batches = (len(order) + batch_size - 1) // batch_size
    for batch_index in range(n_batches):
        rows = order[batch_index * batch_size : (batch_index + 1) * batch_size]
        if progress is not None:
            progress(batch_index / n_batches, f"{loaded.key}: batch {batch_index + 1} of {n_batches}")
        lang_ids = [loaded.lang2id.get(langs[i]) for i in rows]
        batch = run_batch(loaded, [encoded[i] for i in rows], lang_ids=lang_ids, hidden_states=True)
        hidden = batch.hidden_states
        content = _content_mask(batch.input_ids, batch.attention_mask, structural).to(hidden.device)
        with torch.inference_mode():  # pooled where the model runs; only (L+1, B, H) comes back to the CPU
            for pooling, values in pool_hidden_states(hidden, content).items():
                pooled[pooling][:, rows, :] = values.cpu().numpy()
    if progress is not None:
        progress(1.0, f"{loaded.key}: {len(texts)} texts embedded")
    return EmbeddingSet(
        model=loaded.key,
        item_ids=item_ids,
        langs=tuple(langs),
        texts=tuple(texts),
        n_tokens=tuple(len(ids) for ids in encoded),
        pooled=pooled,
        seconds=time.perf_counter() - started,
        batches=n_batches,
        notices=tuple(notices),
    )


def embed_dataset(
    loaded: LoadedModel, dataset: Dataset, batch_size: int = DEFAULT_BATCH_SIZE, progress: ProgressFn | None = None
) -> EmbeddingSet:
    """:func:`embed_sentences` on a :class:`~xlm_explorer.analysis.datasets.Dataset` (with its ``source_key``)."""
    embeddings = embed_sentences(loaded, dataset.texts, dataset.langs, batch_size, item_ids=dataset.item_ids, progress=progress)
    return replace(embeddings, source_key=(loaded.key, loaded.instance_id, dataset.content_key))


class EmbeddingCache(LRUBacked):
    """Embedding sets per (model instance, data set content) in a byte-bounded LRU.

    ``computed`` counts embedding runs (each runs the model once per batch); ``hits`` counts reuses. Two
    identical requests arriving together embed once.
    """

    def __init__(self, max_bytes: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if max_bytes is None:
            max_bytes = int(os.environ.get(ENV_EMBED_CACHE_MB, DEFAULT_EMBED_CACHE_MB)) * 2**20
        self.lru: BoundedLRU[EmbeddingSet] = BoundedLRU(max_bytes, name="embedding sets")
        self.batch_size = int(batch_size)
        self.computed = 0

    def get(self, loaded: LoadedModel, dataset: Dataset, progress: ProgressFn | None = None) -> EmbeddingSet:
        """The embeddings of ``dataset`` under ``loaded``, computed at most once while cached."""

        def compute() -> EmbeddingSet:
            self.computed += 1
            return embed_dataset(loaded, dataset, self.batch_size, progress)

        return self.lru.get_or_compute((loaded.key, loaded.instance_id, dataset.content_key), compute)


#: Most layers projected per model in one request (each is its own UMAP fit).
MAX_PANEL_LAYERS = 4
LAYER_ALIASES = ("middle", "last")


def resolve_layers(requested: Sequence[object] | object, n_layers: int, model: str = "the model") -> tuple[int, ...]:
    """Layer choices -> layer indices for one model: ``"last"`` = n_layers, ``"middle"`` = n_layers // 2,
    numbers as given (0 = embeddings). Duplicates dropped, order kept; 1..4 layers."""
    if requested is None or isinstance(requested, (str, int, float)):
        requested = [] if requested is None else [requested]
    layers: list[int] = []
    for choice in requested:  # type: ignore[union-attr]
        if isinstance(choice, str) and choice.strip().lower() in LAYER_ALIASES:
            layer = n_layers if choice.strip().lower() == "last" else n_layers // 2
        else:
            layer = check_layer(choice, n_layers, model)
        if layer not in layers:
            layers.append(layer)
    if not layers:
        raise UserInputError("Pick at least one layer (for example 'middle' and 'last').")
    if len(layers) > MAX_PANEL_LAYERS:
        raise UserInputError(f"Pick at most {MAX_PANEL_LAYERS} layers at a time (each one is projected separately).")
    return tuple(layers)


#: Memory bound of the projections and metrics derived from embedding sets (MiB).
ENV_DERIVED_CACHE_MB = "XLM_EXPLORER_DERIVED_CACHE_MB"
DEFAULT_DERIVED_CACHE_MB = 64


class DerivedCache(LRUBacked):
    """Results computed from cached embeddings (projections and metrics) in a byte-bounded LRU."""

    def __init__(self, max_bytes: int | None = None) -> None:
        if max_bytes is None:
            max_bytes = int(os.environ.get(ENV_DERIVED_CACHE_MB, DEFAULT_DERIVED_CACHE_MB)) * 2**20
        self.lru: BoundedLRU[object] = BoundedLRU(max_bytes, name="projections and metrics")

    def get_or_compute(self, key: tuple | None, compute: Callable[[], object]) -> object:
        """The cached value for ``key`` or ``compute()`` (stored); ``key`` None means do not cache."""
        if key is None:
            return compute()
        return self.lru.get_or_compute(key, compute)


@dataclass(frozen=True)
class LayerProjection:
    """One panel: the projection of one layer's vectors."""

    layer: int
    projection: Projection


@dataclass(frozen=True)
class PointNeighbours:
    """The nearest neighbours of point ``row`` of ``model`` at ``layer``, best first."""

    model: str
    layer: int
    row: int
    neighbours: tuple[Neighbour, ...]


@dataclass(frozen=True)
class ModelExploration:
    """Everything the tab shows for one model: its embeddings, projected layers and alignment metrics."""

    embeddings: EmbeddingSet
    pooling: str
    centered: bool
    panels: tuple[LayerProjection, ...]
    metrics: AlignmentMetrics
    #: the queries of groups A and B when the panels are direction projections, else ("", "")
    groups: tuple[str, str] = ("", "")

    @property
    def model(self) -> str:
        return self.embeddings.model

    @property
    def notices(self) -> tuple[str, ...]:
        found = list(self.embeddings.notices) + list(self.metrics.notices)
        for panel in self.panels:
            found += [f"{self.model} layer {panel.layer}: {n}" for n in panel.projection.notices]
        return tuple(dict.fromkeys(found))

    def neighbours_of(self, layer: int, row: int, k: int) -> "PointNeighbours":
        """The ``k`` points most cosine-similar to ``row`` at ``layer``, in this model's own space (the pooling and
        centring of this exploration)."""
        vectors = self.embeddings.vectors(int(layer), self.pooling, self.centered)
        return PointNeighbours(model=self.model, layer=int(layer), row=int(row),
                               neighbours=nearest_neighbours(vectors, int(row), int(k)))

    def panel(self, layer: int) -> LayerProjection:
        for panel in self.panels:
            if panel.layer == layer:
                return panel
        raise UserInputError(f"Layer {layer} of {self.model} is not shown; project it first.")

    def direction_dict(self, projection: Projection) -> dict:
        """How a direction panel's x axis was made: the two queries, their rows, the axis length, the held-out
        own-side share."""
        n_a, n_b = projection.groups or (0, 0)
        return {"group_a": self.groups[0], "group_b": self.groups[1], "n_a": n_a, "n_b": n_b,
                "axis_length": round(float(projection.axis_length or 0.0), 6),
                "own_side": None if projection.own_side is None else round(projection.own_side, 6)}

    def to_dict(self, digits: int = 5) -> dict:
        """JSON-ready: points of every panel (index, id, lang, text, x, y[, z]) and the metrics."""
        emb = self.embeddings
        panels = []
        for panel in self.panels:
            coords = np.round(panel.projection.coords.astype(np.float64), digits)
            axes = "xyz"[: panel.projection.dims]
            points = [
                {"index": i, "id": emb.item_ids[i], "lang": emb.langs[i], "text": emb.texts[i], **{a: float(c) for a, c in zip(axes, row)}}
                for i, row in enumerate(coords.tolist())
            ]
            panels.append(
                {
                    "layer": panel.layer,
                    "method": panel.projection.method,
                    "dims": panel.projection.dims,
                    "seed": panel.projection.seed,
                    "n_neighbors": panel.projection.n_neighbors,
                    "points": points,
                    **({"direction": self.direction_dict(panel.projection)} if panel.projection.groups else {}),
                }
            )
        return {
            "model": self.model,
            "n_layers": emb.n_layers,
            "hidden_size": emb.hidden_size,
            "n_rows": len(emb),
            "n_tokens": emb.total_tokens,
            "pooling": self.pooling,
            "centered": self.centered,
            "panels": panels,
            "metrics": self.metrics.to_dict(),
            "notices": list(self.notices),
        }


def explore(
    embeddings: EmbeddingSet,
    layers: Sequence[object],
    pooling: str = "mean",
    center: bool = False,
    method: str = "umap",
    dims: int = 2,
    seed: int = 0,
    derived: DerivedCache | None = None,
    groups: tuple[str, str] = ("", ""),
) -> ModelExploration:
    """Project the chosen layers and measure alignment at every layer; never runs the model.

    ``groups``: the queries of groups A and B (:mod:`.row_groups`), read by the direction projection only. With
    ``derived``, projections and metrics are cached per (embeddings, settings).
    """
    pooling = check_pooling(pooling)
    center = bool(center)
    layer_indices = resolve_layers(layers, embeddings.n_layers, embeddings.model)
    masks = direction_groups(embeddings, groups, center) if method == "direction" else None
    source = embeddings.source_key
    panels = []
    for layer in layer_indices:
        settings = (layer, pooling, center, method, dims, seed, tuple(groups) if masks is not None else None)
        key = None if source is None or derived is None else ("projection", source, *settings)
        projection = _cached(derived, key, lambda layer=layer: project(embeddings.vectors(layer, pooling, center), method, dims, seed,
                                                                        groups=masks))
        panels.append(LayerProjection(layer=layer, projection=projection))  # type: ignore[arg-type]
    metrics_key = None if source is None or derived is None else ("metrics", source, pooling, center)
    metrics = _cached(
        derived,
        metrics_key,
        lambda: alignment_metrics(
            embeddings.all_layers(pooling, center), embeddings.item_ids, embeddings.langs,
            model=embeddings.model, pooling=pooling, centered=center,
        ),
    )
    return ModelExploration(embeddings=embeddings, pooling=pooling, centered=center, panels=tuple(panels), metrics=metrics,  # type: ignore[arg-type]
                            groups=(str(groups[0]).strip(), str(groups[1]).strip()) if masks is not None else ("", ""))


def direction_groups(embeddings: EmbeddingSet, groups: Sequence[str], center: bool) -> tuple[np.ndarray, np.ndarray]:
    """The rows of groups A and B; two language groups under per-language centring are refused (both means are 0)."""
    queries = [parse_query(text, name) for name, text in zip(GROUP_NAMES, groups)]
    if center and all(q.kind == "lang" for q in queries):
        raise UserInputError("Centring per language moves every language's mean to zero, so two language groups "
                             "define no direction; turn centring off.")
    return select_groups(groups, embeddings.texts, embeddings.langs)


def _cached(derived: DerivedCache | None, key: tuple | None, compute: Callable[[], object]) -> object:
    return compute() if derived is None else derived.get_or_compute(key, compute)
