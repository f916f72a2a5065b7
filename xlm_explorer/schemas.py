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

from . import answer_types as declared
from . import explain_types as explained
from .contract import API_VERSION, ENVELOPE_KEYS

#: endpoint -> (request, one results item, shared)
DECLARED: dict[str, tuple[type, type, type]] = {
    "fill_mask": (declared.FillMaskRequest, declared.FillMaskItem, declared.Empty),
    "fill_word": (declared.FillWordRequest, declared.FillWordItem, declared.Empty),
    "attention": (declared.AttentionRequest, declared.AttentionItem, declared.AttentionShared),
    "attention_average": (declared.AverageRequest, declared.AverageItem, declared.AverageShared),
    "embeddings": (declared.EmbeddingsRequest, declared.EmbeddingsItem, declared.EmbeddingsShared),
    "compare": (declared.CompareRequest, declared.CompareItem, declared.CompareShared),
    "logit_lens": (declared.LogitLensRequest, declared.LogitLensItem, declared.LogitLensShared),
    "layer_similarity": (declared.SimilarityRequest, declared.SimilarityItem, declared.SimilarityShared),
    "crosslingual_grid": (declared.GridRequest, declared.GridItem, declared.Empty),
    "bias_probe": (declared.ProbeRequest, declared.ProbeItem, declared.MetricsShared),
    "pll_pairs": (declared.PairsRequest, declared.PairsItem, declared.MetricsShared),
    "bias_languages": (declared.LanguagesRequest, declared.LanguagesItem, declared.LanguagesShared),
    "seat": (declared.SeatRequest, declared.SeatItem, declared.Empty),
    "attribution": (explained.AttributionRequest, explained.AttributionItem, declared.Empty),
    "patching": (explained.PatchingRequest, explained.PatchingItem, declared.Empty),
    "attention_flow": (explained.FlowRequest, explained.FlowItem, declared.Empty),
    "explain_languages": (explained.LanguagesExplainedRequest, explained.LanguagesExplainedItem, declared.Empty),
    "token_search": (declared.SearchRequest, declared.SearchItem, declared.SearchShared),
    "model_info": (declared.ModelRequest, declared.ModelFacts, declared.Empty),
}


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


if __name__ == "__main__":  # python -m xlm_explorer.schemas > schemas.json
    print(json.dumps(all_schemas(), indent=1))
