"""The API's one response shape, and the names it uses: what every endpoint answers, whatever the model choice.

Every endpoint answers one JSON object, the *envelope*::

    {"endpoint": "fill_mask", "version": 2,
     "request":  {the checked parameters, by their API names},
     "results":  [one object per model, each with "model": "en-2048" | "100-1280"],
     "shared":   {what belongs to no single model: an overlap, a depth alignment, a CKA grid, the data set},
     "errors":   [{"model": ..., "message": ...} per model that could not be loaded],
     "notices":  ["one line each, plain text"]}

:mod:`xlm_explorer.schemas` declares each endpoint's ``results`` items and ``shared`` part and publishes a JSON
Schema per endpoint from those declarations (docs/api.md; tests check real answers against them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Bumped when the shape changes; 2 = the envelope (Dec 2026); 1 had a shape per endpoint.
API_VERSION = 2
ENVELOPE_KEYS = ("endpoint", "version", "request", "results", "shared", "errors", "notices")


def envelope(
    endpoint: str,
    request: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    errors: Mapping[str, str] | None = None,
    notices: Iterable[str] = (),
    shared: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The one response shape; ``errors`` maps a model key to its load failure."""
    for item in results:
        if "model" not in item:
            raise ValueError(f"{endpoint}: every result names its model")
    return {
        "endpoint": endpoint,
        "version": API_VERSION,
        "request": dict(request),
        "results": [dict(item) for item in results],
        "shared": dict(shared or {}),
        "errors": [{"model": key, "message": str(message)} for key, message in (errors or {}).items()],
        "notices": [str(n) for n in notices],
    }


def errors_of(payload: Mapping[str, Any]) -> dict[str, str]:
    """An envelope's ``errors`` back as ``{model: message}``."""
    return {e["model"]: e["message"] for e in payload.get("errors", [])}


def by_model(rows: Iterable[Mapping[str, Any]], models: Sequence[str], key: str = "rows") -> list[dict[str, Any]]:
    """Rows that each name their model, gathered into one result per model: ``[{"model": m, key: [rows...]}]``
    (the ``model`` field leaves the rows)."""
    grouped: dict[str, list[dict[str, Any]]] = {m: [] for m in models}
    for row in rows:
        grouped.setdefault(row["model"], []).append({k: v for k, v in row.items() if k != "model"})
    return [{"model": m, key: items} for m, items in grouped.items()]
