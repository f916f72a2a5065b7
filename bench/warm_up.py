"""The start-up warm-up on full-size random-weight models (same compute and bytes as the real ones): how long it
takes per default, what a class's first click on each default costs after it (and what it cost before: the
warm-up's own time for that default, computed from nothing), and what a visitor who runs something while it is
under way waits (a fill-mask on both models, idle vs during the warm-up), with the matmul peak of this run:

    python -m bench.warm_up --json bench/results/warm-up.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import measure_matmul_peak

def visitor_text(n: int) -> str:
    """The n-th visitor's sentence: each one a different length, so each computes (no cache hit; digits would all
    read as one unknown piece)."""
    return "The capital of France is " + "very " * n + "[MASK]."


def visitor_fill_mask(ws: Any, text: str) -> float:
    """One visitor's fill-mask on both models, counted as a visitor's request; its seconds."""
    from xlm_explorer import service

    began = time.perf_counter()
    with ws.serving():
        service.ENDPOINTS["fill_mask"](ws, text=text, model="both", lang="en", top_k=10)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--visitor-every-s", type=float, default=4.0, help="a visitor's fill-mask this often")
    args = parser.parse_args(argv)
    from xlm_explorer import service
    from xlm_explorer.service.warmup import WarmUp
    from xlm_explorer.ui.app import build_demo, warm_up_jobs
    from xlm_explorer.workspace import Workspace

    peak = measure_matmul_peak("cpu", (1024, 2048, 4096), reps=3, dtypes=("float32",))
    print(f"matmul peak: float32 {peak['float32_gflop_s']:.0f} GFLOP/s", flush=True)
    dirs = ensure_checkpoints(["en-2048", "100-1280"], DEFAULT_BENCH_DIR)
    ws = Workspace.from_sources({key: str(path) for key, path in dirs.items()}, device="cpu")
    ctx = build_demo(ws).xlm_context
    for key in dirs:
        ws.manager.get(key)
    # a visitor when nothing else runs: distinct sentences, so each one computes (no cache hit)
    idle = [visitor_fill_mask(ws, visitor_text(n)) for n in range(5)]
    warm = WarmUp(ws, warm_up_jobs(ctx))
    thread = threading.Thread(target=warm.run)
    began = time.perf_counter()
    thread.start()
    during: list[float] = []
    while thread.is_alive():
        thread.join(args.visitor_every_s)
        if thread.is_alive():
            during.append(visitor_fill_mask(ws, visitor_text(5 + len(during))))
    total = time.perf_counter() - began
    first_clicks = []
    for job in warm.jobs:
        t0 = time.perf_counter()
        job.endpoint(ws, **job.inputs)
        first_clicks.append({"default": job.name, "before_s": round(warm.done.get(job.name, float("nan")), 2),
                             "after_ms": round((time.perf_counter() - t0) * 1000, 2)})
        print(f"{job.name}: first click before {first_clicks[-1]['before_s']:.1f} s (computed), "
              f"after the warm-up {first_clicks[-1]['after_ms']:.1f} ms", flush=True)
    report = {
        "matmul_peak": peak, "warm_up_total_s": round(total, 1), "paused_for_visitors_s": round(warm.paused_s, 1),
        "failed": warm.failed, "first_clicks": first_clicks,
        "visitor_fill_mask_s": {"idle_median": round(statistics.median(idle), 3), "idle": [round(t, 3) for t in idle],
                                "during_warm_up_median": round(statistics.median(during), 3) if during else None,
                                "during_warm_up": [round(t, 3) for t in during]},
    }
    print(f"warm-up {total:.0f} s in all ({warm.paused_s:.1f} s paused for visitors); visitor fill-mask median "
          f"idle {report['visitor_fill_mask_s']['idle_median']:.2f} s, during the warm-up "
          f"{report['visitor_fill_mask_s']['during_warm_up_median']} s over {len(during)} visits", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0 if not warm.failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
