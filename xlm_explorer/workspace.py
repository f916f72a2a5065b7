"""The workspace: the model manager and every cache, in one object that each request reads.

A script, a test or the app builds one and passes it to :mod:`xlm_explorer.service`::

    ws = Workspace.tiny()                                  # tiny random checkpoints, for tests and demos
    ws = Workspace.from_sources({"en-2048": "./models/en-2048"}, device="cpu")

Every cache is a byte-bounded :class:`~xlm_explorer.cache.BoundedLRU`; :meth:`Workspace.cache_stats` lists
them with their bounds (the same list README's memory budget states).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .analysis.embeddings import DerivedCache, EmbeddingCache
from .analysis.precision import check_precision
from .analysis.token_search import TokenIndex
from .cache import BoundedLRU
from .forward import ForwardCache
from .models import ModelManager, Source, resolve_sources

#: Memory bound of the shared forward cache (MiB); ``--cache-mb`` sets it too.
ENV_CACHE_MB = "XLM_EXPLORER_CACHE_MB"
DEFAULT_CACHE_MB = 1024
#: Memory bound of the heavy answers kept for whoever asks the same again (MiB): a class opening one link waits once.
ENV_ANSWER_CACHE_MB = "XLM_EXPLORER_ANSWER_CACHE_MB"
DEFAULT_ANSWER_CACHE_MB = 512
#: Memory bound of the token-search indexes built in the app (MiB).
ENV_INDEX_CACHE_MB = "XLM_EXPLORER_INDEX_CACHE_MB"
DEFAULT_INDEX_CACHE_MB = 512


class Workspace:
    """The model manager and the caches every endpoint shares (one per app or script)."""

    def __init__(self, manager: ModelManager, *, cache_mb: int | None = None, corpus_index: str | Path | None = None) -> None:
        self.manager = manager
        if manager.precision_check is None:  # a model loaded in bfloat16 is measured against float32 at load
            manager.precision_check = check_precision
        if cache_mb is None:
            cache_mb = int(os.environ.get(ENV_CACHE_MB, DEFAULT_CACHE_MB))
        self.forward_cache = ForwardCache(max_bytes=int(cache_mb) * 2**20)
        self.embeddings = EmbeddingCache()
        self.derived = DerivedCache()
        index_mb = int(os.environ.get(ENV_INDEX_CACHE_MB, DEFAULT_INDEX_CACHE_MB))
        self.token_indexes: BoundedLRU[TokenIndex] = BoundedLRU(index_mb * 2**20, name="token indexes")
        answer_mb = int(os.environ.get(ENV_ANSWER_CACHE_MB, DEFAULT_ANSWER_CACHE_MB))
        #: the heavy endpoints' answers by request (``service.answers.remembered``), shared by every session and client
        self.answers: BoundedLRU[Any] = BoundedLRU(answer_mb * 2**20, name="heavy answers")
        #: a directory written by ``python -m xlm_explorer.index`` (``--corpus-index``), searched instead of the shipped set
        self.corpus_index = Path(corpus_index) if corpus_index is not None else None
        #: the background computation of the page's defaults (``service.warmup``), when the app started one
        self.warm_up: Any = None
        self._serving = 0
        self._serving_lock = threading.Lock()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around one request's service call (page or API): counted while it runs."""
        with self._serving_lock:
            self._serving += 1
        try:
            yield
        finally:
            with self._serving_lock:
                self._serving -= 1

    def visitors_computing(self) -> int:
        """Requests running now that compute, not counting those blocked waiting for another's computation of the
        same thing (single flight): what a background warm-up gives way to."""
        waiting = sum(cache.waiting for cache in self._caches())
        return max(0, self._serving - waiting)

    def _caches(self) -> tuple[Any, ...]:
        return (self.forward_cache.lru, self.embeddings.lru, self.derived.lru, self.token_indexes, self.answers)

    @classmethod
    def of(cls, source: "Workspace | ModelManager") -> "Workspace":
        """``source`` itself, or a workspace around a bare model manager."""
        return source if isinstance(source, Workspace) else cls(source)

    @classmethod
    def from_sources(
        cls, sources: Mapping[str, Source] | None = None, *, cache_mb: int | None = None, **manager_options: Any
    ) -> Workspace:
        """A workspace over these sources (default: hub ids < ``XLM_EXPLORER_MODELS``)."""
        return cls(ModelManager(sources if sources is not None else resolve_sources(), **manager_options), cache_mb=cache_mb)

    @classmethod
    def from_settings(cls, cli_models: Iterable[str] | None = None, **options: Any) -> Workspace:
        """Sources from defaults, ``XLM_EXPLORER_MODELS`` and ``--model KEY=SRC`` items (the CLI wins)."""
        return cls.from_sources(resolve_sources(cli_models), **options)

    @classmethod
    def tiny(cls, directory: str | Path | None = None, **options: Any) -> Workspace:
        """A workspace over tiny random checkpoints (built once into ``directory``; default: a cache folder)."""
        from .tiny import DEFAULT_TINY_DIR, build_tiny_checkpoints

        dirs = build_tiny_checkpoints(Path(directory) if directory is not None else DEFAULT_TINY_DIR)
        options.setdefault("device", "cpu")
        return cls.from_sources({key: str(path) for key, path in dirs.items()}, tiny_demo=True, **options)

    def cache_stats(self) -> list[dict[str, Any]]:
        """Every cache with its entries, bytes and bound."""
        return [cache.stats() for cache in self._caches()]

    def clear_caches(self) -> None:
        self.forward_cache.clear()
        self.embeddings.clear()
        self.derived.clear()
        self.token_indexes.clear()
        self.answers.clear()
