"""What each endpoint answers, declared: the ``request`` echo, one ``results`` item and the ``shared`` part of
every endpoint's :func:`~xlm_explorer.contract.envelope`, as typed dicts, and a JSON Schema per endpoint generated
from them (pydantic; the typed dicts live in :mod:`xlm_explorer.answer_types`). docs/api.md publishes the schemas (``python -m xlm_explorer.schemas`` prints them); the tests
check every endpoint's real answers against them, with no undeclared key allowed.

Vocabulary (one name for one thing): ``model`` (``en-2048`` | ``100-1280``), ``lang`` (one language code),
``languages`` (a list of codes), ``text`` / ``text_pair`` / ``text_a`` / ``text_b``, ``mask_number`` (1 = the first
[MASK]), ``top_k``, ``layer`` (0 = the embeddings), ``head`` (0 = the first), ``token_index`` (a position in the
encoded ids, ``<s>`` = 0), ``log_prob`` (natural log), ``probability`` (0..1), counts as ``n_<things>``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from .contract import API_VERSION, ENVELOPE_KEYS
from .service import ENDPOINTS

#: endpoint -> (request, one results item, shared): each endpoint's own declaration (``service.ENDPOINTS``)
DECLARED: dict[str, tuple[type, type, type]] = {name: record.answer for name, record in ENDPOINTS.items()}


def _closed(node: Any) -> Any:
    """Every object with declared properties refuses undeclared keys (so a new key must be declared first)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)
    return node


def _part(kind: type, defs: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(kind).json_schema(ref_template="#/$defs/{model}")
    defs.update(schema.pop("$defs", {}))
    return schema


def endpoint_schema(endpoint: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``endpoint``'s answer."""
    request, item, shared = DECLARED[endpoint]
    defs: dict[str, Any] = {}
    error = {"type": "object", "properties": {"model": {"type": "string"}, "message": {"type": "string"}},
             "required": ["model", "message"]}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"/{endpoint}",
        "type": "object",
        "properties": {
            "endpoint": {"const": endpoint},
            "version": {"const": API_VERSION},
            "request": _part(request, defs),
            "results": {"type": "array", "items": _part(item, defs), "minItems": 1},
            "shared": _part(shared, defs),
            "errors": {"type": "array", "items": error},
            "notices": {"type": "array", "items": {"type": "string"}},
        },
        "required": list(ENVELOPE_KEYS),
        "$defs": defs,
    }
    return _closed(schema)


def all_schemas() -> dict[str, dict[str, Any]]:
    return {name: endpoint_schema(name) for name in DECLARED}


if __name__ == "__main__":  # python -m xlm_explorer.schemas > docs/api-schemas.json; --parameters: docs/api.md's table
    import sys

    from .service.endpoint import parameter_table

    print(parameter_table(ENDPOINTS) if "--parameters" in sys.argv else json.dumps(all_schemas(), indent=1))
