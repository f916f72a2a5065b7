"""One bounded cache for everything the app remembers: :class:`BoundedLRU`.

Every cache of the app (forward passes, embedding sets, projections and metrics, token indexes) is one of these: an LRU
bounded in **bytes**, safe to share between threads, that computes a missing value once even when several
requests ask for it together ("single flight"). Sizes come from :func:`nbytes_of`, which understands
numpy arrays, torch tensors, dataclasses and containers of them.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")

#: Bytes counted for a value whose size is not known (a number, None, a small object).
SMALL_OBJECT_BYTES = 64


def nbytes_of(value: Any, _depth: int = 0) -> int:
    """Approximate memory held by ``value``: arrays and tensors by their buffers, containers and dataclasses
    by their contents (4 levels deep), strings by length; an object with an ``nbytes`` attribute says itself."""
    if _depth > 4:
        return SMALL_OBJECT_BYTES
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(value, "element_size") and hasattr(value, "numel"):  # a torch tensor
        return int(value.element_size() * value.numel())
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return sum(nbytes_of(k, _depth + 1) + nbytes_of(v, _depth + 1) for k, v in value.items()) + SMALL_OBJECT_BYTES
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(nbytes_of(v, _depth + 1) for v in value) + SMALL_OBJECT_BYTES
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes_of(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value)) + SMALL_OBJECT_BYTES
    return min(sys.getsizeof(value, SMALL_OBJECT_BYTES), 1 << 16)


class BoundedLRU(Generic[V]):
    """A thread-safe least-recently-used map bounded in bytes.

    ``max_bytes`` bounds the sum of :func:`nbytes_of` over the entries; the newest entry is always kept
    (so one value larger than the bound is still served, until the next one arrives). Values that grow
    after they were stored (a forward result gaining logits) are re-measured with :meth:`resized`.
    """

    def __init__(self, max_bytes: int, *, name: str = "cache", sizeof: Callable[[Any], int] = nbytes_of) -> None:
        self.max_bytes = int(max_bytes)
        self.name = name
        self._sizeof = sizeof
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._total = 0
        self._lock = threading.Lock()
        self._flights: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        #: threads blocked now on another's computation of the same key (a background warm-up gives way only
        #: to requests that compute, not to those waiting for its own work: ``Workspace.visitors_computing``)
        self.waiting = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        """Bytes held now (as measured when stored or last resized)."""
        return self._total

    def stats(self) -> dict[str, int | str]:
        return {
            "name": self.name,
            "entries": len(self._entries),
            "bytes": self._total,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._total = 0

    def peek(self, key: Hashable) -> V | None:
        """The value for ``key`` (marking it recently used), or None; counts no hit or miss."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def get(self, key: Hashable) -> V | None:
        """The value for ``key`` or None, counted as a hit or a miss."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> V:
        """Store ``value`` (replacing an older one) and evict the least recently used entries over the bound."""
        size = int(self._sizeof(value))
        with self._lock:
            self._total -= self._sizes.pop(key, 0)
            self._entries[key] = value
            self._entries.move_to_end(key)
            self._sizes[key] = size
            self._total += size
            self._evict()
        return value

    def resized(self, key: Hashable) -> None:
        """Measure ``key``'s value again (it grew in place; it counts as just used) and evict over the bound."""
        with self._lock:
            if key not in self._entries:
                return
            size = int(self._sizeof(self._entries[key]))
            self._total += size - self._sizes[key]
            self._sizes[key] = size
            self._entries.move_to_end(key)
            self._evict()

    def _evict(self) -> None:
        """Drop least recently used entries while over the bound; the newest (last) entry always stays."""
        while self._total > self.max_bytes and len(self._entries) > 1:
            oldest, _ = self._entries.popitem(last=False)
            self._total -= self._sizes.pop(oldest)
            self.evictions += 1

    def get_or_compute(
        self, key: Hashable, compute: Callable[[], V], waiting: Callable[[], None] | None = None,
        keep: Callable[[V], bool] = lambda _value: True,
    ) -> V:
        """The cached value for ``key``, or ``compute()`` stored under it (when ``keep(value)``).

        Requests for the same missing key wait for one computation instead of each running their own; a waiter calls
        ``waiting()`` every half second (it may raise to stop waiting: a Stop). When the computation fails (or is
        stopped), the next waiter computes it itself.
        """
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        try:
            if not flight.acquire(blocking=False):
                self._wait_for(flight, waiting)
            try:
                value = self.peek(key)
                if value is not None:  # computed by the request we waited for
                    return value
                value = compute()
                return self.put(key, value) if keep(value) else value
            finally:
                flight.release()
        finally:
            with self._lock:
                if self._flights.get(key) is flight and not flight.locked():
                    del self._flights[key]


    def _wait_for(self, flight: threading.Lock, waiting: Callable[[], None] | None) -> None:
        """Acquire ``flight`` (another request's computation), counted in :attr:`waiting` while blocked."""
        with self._lock:
            self.waiting += 1
        try:
            while not flight.acquire(timeout=0.5 if waiting is not None else -1):
                waiting()  # type: ignore[misc]
        finally:
            with self._lock:
                self.waiting -= 1


class LRUBacked:
    """The counters and bounds of a cache that keeps its values in ``self.lru`` (a :class:`BoundedLRU`)."""

    lru: BoundedLRU[Any]

    @property
    def max_bytes(self) -> int:
        return self.lru.max_bytes

    @property
    def nbytes(self) -> int:
        return self.lru.nbytes

    @property
    def hits(self) -> int:
        return self.lru.hits

    @property
    def misses(self) -> int:
        return self.lru.misses

    def __len__(self) -> int:
        return len(self.lru)

    def clear(self) -> None:
        self.lru.clear()
