"""What a class waits for: each heavy view's first answer, and the same request again (a second student opening the
teacher's link) without and with the heavy-answer cache, on full-size random-weight models (same compute and bytes
as the real ones), with the inputs the page starts with (read from the page itself) and the matmul peak of this run
as the bound:

    python -m bench.class_waits                     # every heavy view
    python -m bench.class_waits --views bias-languages explain-attribution --json bench/results/class-waits.json

- first: a fresh workspace, both models already loaded (a model's first load is bench/cold_start.py's);
- again, before: the same request with the heavy answers forgotten (what every student waited before: only the
  forward pass cache and the embedding sets helped);
- again, after: the same request answered by ``ws.answers`` (``service.answers.remembered``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import measure_matmul_peak

#: the share-link views measured (each one's endpoint is the one its button calls: ``ShareTarget.endpoint``)
VIEWS = (
    "compare-words", "compare-similarity", "bias-probes", "bias-languages", "bias-seat", "bias-pairs",
    "explain-attribution", "explain-flow", "explain-patching", "explain-languages", "embeddings",
)
#: the page's 30 sentence pairs take ~10 min per model here: left out unless asked for
DEFAULT_SKIP = ("bias-pairs",)


def page_defaults(ws: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each view's endpoint and starting inputs, as the page's own controls hold them."""
    from xlm_explorer.ui.app import build_demo
    from xlm_explorer.ui.app import page_defaults as defaults_of

    ctx = build_demo(ws).xlm_context
    return {view: (ctx.share_targets[view].endpoint, defaults_of(ctx, view)) for view in VIEWS}


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_view(ws: Any, view: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    from xlm_explorer import service

    endpoint = service.ENDPOINTS[name]
    t_first, answer = timed(lambda: endpoint(ws, **inputs))
    ws.answers.clear()
    t_before, second = timed(lambda: endpoint(ws, **inputs))
    t_after, third = timed(lambda: endpoint(ws, **inputs))
    return {"view": view, "endpoint": name, "first_s": round(t_first, 2), "again_before_s": round(t_before, 2),
            "again_after_s": round(t_after, 4), "from_memory": third is second,
            "same_payload": second.payload == answer.payload, "notices": list(answer.notices)[:3]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", nargs="+", default=[v for v in VIEWS if v not in DEFAULT_SKIP], choices=VIEWS)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from xlm_explorer.workspace import Workspace

    peak = measure_matmul_peak("cpu", (1024, 2048, 4096), reps=3, dtypes=("float32",))
    print(f"matmul peak: float32 {peak['float32_gflop_s']:.0f} GFLOP/s", flush=True)
    dirs = ensure_checkpoints(["en-2048", "100-1280"], DEFAULT_BENCH_DIR)
    ws = Workspace.from_sources({key: str(path) for key, path in dirs.items()}, device="cpu")
    for key in dirs:
        ws.manager.get(key)
    defaults = page_defaults(ws)
    runs = []
    for view in args.views:
        ws.clear_caches()  # each view's first answer from nothing but the loaded models
        run = bench_view(ws, view, *defaults[view])
        runs.append(run)
        print(f"{view} (/{run['endpoint']}): first {run['first_s']:.1f} s; the same again: before "
              f"{run['again_before_s']:.1f} s, after {run['again_after_s'] * 1000:.1f} ms", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"matmul_peak": peak, "runs": runs}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
