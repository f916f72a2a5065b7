"""A pairs results file, browsed: what ``python -m xlm_explorer.score`` writes (or a ``/pll_pairs`` answer), read
back, filtered by model, bias type and direction, sorted by margin, with the words each pair contrasts (so a pair
opens in the Explain views: the group word masked, the model's preference for it attributed)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import UserInputError
from ..pll import METRICS
from .crows import CROWS_METRIC
from .data import direction_of

ORDERS = ("margin, largest first", "margin, smallest first", "metrics disagree first", "file order")
ALL = "all"


@dataclass(frozen=True)
class PairResults:
    """Pair rows (each naming its model) of a results file, with the models and metrics it holds."""

    models: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]

    @property
    def bias_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(r.get("bias_type") or "") for r in self.rows))


def read_results(text: str) -> PairResults:
    """The score command's JSON (``models``, ``metrics``, ``rows``) or a ``/pll_pairs`` answer (the envelope)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise UserInputError("Not a results file: expected the JSON that python -m xlm_explorer.score writes.") from None
    if isinstance(data, dict) and data.get("endpoint") == "pll_pairs":
        rows = [{"model": r["model"], **row} for r in data.get("results", []) for row in r.get("rows", [])]
        metrics = data.get("shared", {}).get("metrics", [])
    elif isinstance(data, dict) and isinstance(data.get("rows"), list) and "metrics" in data:
        rows, metrics = data["rows"], data["metrics"]
    else:
        raise UserInputError("Not a pairs results file: it needs rows and metrics (python -m xlm_explorer.score writes them).")
    needed = {"id", "model", "sent_more", "sent_less", "pll_more", "pll_less"}
    broken = next((i for i, r in enumerate(rows) if not isinstance(r, dict) or not needed <= set(r)), None)
    if broken is not None or not rows:
        raise UserInputError(f"Row {broken if broken is not None else 0} of the results file lacks {', '.join(sorted(needed))}.")
    return PairResults(tuple(dict.fromkeys(r["model"] for r in rows)), tuple(metrics), tuple(rows))


def contrast(sent_more: str, sent_less: str) -> tuple[str, str, str] | None:
    """``(sent_more with its differing words as [MASK], those words in sent_more, in sent_less)`` when the two
    sentences differ in one place; None otherwise."""
    more, less = sent_more.split(), sent_less.split()
    changes = [op for op in difflib.SequenceMatcher(None, more, less, autojunk=False).get_opcodes() if op[0] != "equal"]
    if len(changes) != 1 or changes[0][1] == changes[0][2]:
        return None
    _tag, a1, a2, b1, b2 = changes[0]
    masked = " ".join([*more[:a1], "[MASK]", *more[a2:]])
    return masked, " ".join(more[a1:a2]).strip(".,;:!?"), " ".join(less[b1:b2]).strip(".,;:!?")


def margin(row: dict[str, Any], metric: str) -> float:
    """``<metric>_more - <metric>_less`` (pll's columns are ``pll_more`` / ``pll_less``)."""
    return float(row[f"{metric}_more"]) - float(row[f"{metric}_less"])


def select_rows(
    results: PairResults, model: str = ALL, bias_type: str = ALL, direction: str = ALL, metric: str = CROWS_METRIC,
    order: str = ORDERS[0],
) -> list[dict[str, Any]]:
    """The rows that match, sorted, each with ``margin`` under ``metric`` (falls back to pll when absent)."""
    if metric not in results.metrics and metric != "pll":
        metric = "pll"
    rows = [dict(r, margin=margin(r, metric)) for r in results.rows
            if (model == ALL or r["model"] == model)
            and (bias_type == ALL or str(r.get("bias_type") or "") == bias_type)
            and (direction == ALL or direction_of(r) == direction)]
    if order == ORDERS[0]:
        rows.sort(key=lambda r: -r["margin"])
    elif order == ORDERS[1]:
        rows.sort(key=lambda r: r["margin"])
    elif order == ORDERS[2]:
        rows.sort(key=lambda r: not r.get("metrics_disagree"))
    return rows


def metric_choices(results: PairResults) -> list[str]:
    return [m for m in (*METRICS, CROWS_METRIC) if m in results.metrics or m == "pll"]


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise UserInputError(f"Sort by one of: {', '.join(ORDERS)}.")
    return order


def directions(results: PairResults) -> Sequence[str]:
    return tuple(dict.fromkeys(direction_of(r) for r in results.rows))
