"""Model facts as Markdown (all values escaped: sources may be user-configured paths; a value's ``|`` would split its
cell, as ``max |Δ log p|`` did)."""

from __future__ import annotations

import html
from typing import Any

from ..downloads import markdown_cell
from ..specs import ModelSpec


def make_model_facts_markdown(spec: ModelSpec, facts: dict[str, Any] | None, source: str) -> str:
    """A Markdown card: model-card facts always; config facts once the model is loaded."""
    lines = [
        f"### {html.escape(spec.key)}: {html.escape(spec.title)}",
        html.escape(spec.description),
        "",
        "| | |",
        "|---|---|",
        f"| Hub id | `{html.escape(spec.hub_id)}` |",
        f"| Source in use | `{html.escape(source)}` |",
        f"| Paper | {markdown_cell(spec.paper)} |",
        f"| Licence | {markdown_cell(spec.license)} (non-commercial) |",
    ]
    if facts is None:
        lines.append("| Status | not loaded yet (loads on first use) |")
        return "\n".join(lines)
    rows = [
        ("Layers", facts["n_layers"]),
        ("Hidden size", facts["hidden_size"]),
        ("Attention heads", facts["n_heads"]),
        ("FFN size", facts["ffn_size"]),
        ("Vocabulary", f"{facts['vocab_size']:,}"),
        ("Parameters", f"{facts['n_parameters']:,} ({facts['n_parameters'] / 1e6:.0f}M)"),
        ("Max positions", facts["max_positions"]),
        ("Languages", facts["n_languages"]),
        ("Language embeddings used", "yes" if facts["language_embeddings"] else "no"),
        ("Lowercases / strips accents", "yes" if facts["lowercases"] else "no"),
        ("Device / dtype", f"{facts['device']} / {facts['dtype']}"),
        ("Load time", f"{facts['load_seconds']} s"),
    ]
    if facts.get("precision_check"):
        rows.append(("Against float32", facts["precision_check"]["summary"]))
    lines.append("| Status | loaded |")
    lines += [f"| {name} | {markdown_cell(value)} |" for name, value in rows]
    return "\n".join(lines)
