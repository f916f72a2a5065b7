"""Activation patching's layer sweep before and after it reuses A's own run below the patched layer, on full-size
random-weight models, in the same run, with the matmul peak of this run as the bound:

    python -m bench.patching                      # both models, float32
    python -m bench.patching --json bench/results/patching.json

- before: every copy of A runs the whole body with the hook point of the patched layer edited (run_patched);
- after: each copy starts at the patched layer from A's cached state there (forward.run_from_layer), so a copy
  patched at layer l runs L - l blocks; the two sweeps agree cell by cell (max |difference| reported).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import measure_matmul_peak, patched_blocks

TEMPLATE = "the {} said that [MASK] was tired after the long night shift at the old hospital ."
#: the first pair a model reads with as many pieces in both sentences is benchmarked (random vocabularies split words)
PAIRS = (("doctor", "lawyer"), ("cat", "dog"), ("man", "boy"), ("teacher", "student"))


def bench_model(loaded: Any) -> dict[str, Any]:
    import numpy as np

    from xlm_explorer.analysis.patching import COPIES_PER_BATCH, patch, run_patched
    from xlm_explorer.forward import ForwardCache, hidden_point

    from xlm_explorer.tokenization import encode_text

    text_a, text_b = next((TEMPLATE.format(a), TEMPLATE.format(b)) for a, b in PAIRS
                          if len(encode_text(loaded, TEMPLATE.format(a), "en")) == len(encode_text(loaded, TEMPLATE.format(b), "en")))
    patch(loaded, ForwardCache(), text_a, text_b, "en", "")  # warm-up
    start = time.perf_counter()
    after = patch(loaded, ForwardCache(), text_a, text_b, "en", "")
    after_s = time.perf_counter() - start
    states_b = ForwardCache().get(loaded, after.input_ids_b, hidden_states=True).hidden_states
    length = len(after.input_ids_a)
    before = np.zeros_like(after.effects)
    start = time.perf_counter()
    for layer in range(loaded.n_layers + 1):
        for first in range(0, length, COPIES_PER_BATCH):
            positions = list(range(first, min(length, first + COPIES_PER_BATCH)))
            before[layer, positions] = run_patched(loaded, after.input_ids_a, None, hidden_point(layer),
                                                   [{p: (slice(None), states_b[layer][p])} for p in positions],
                                                   after.position, after.target_id).numpy()
    before_s = time.perf_counter() - start
    return {"model": loaded.key, "tokens": length, "layers": loaded.n_layers + 1, "before_s": before_s,
            "after_s": after_s, "speedup": before_s / after_s,
            "expected_speedup": (loaded.n_layers + 1) * loaded.n_layers / patched_blocks(loaded.n_layers),
            "max_abs_difference": float(np.abs(before - after.effects).max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["en-2048", "100-1280"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from xlm_explorer.workspace import Workspace

    peak = measure_matmul_peak("cpu", (1024, 2048, 4096), reps=3, dtypes=("float32",))
    print(f"matmul peak: float32 {peak['float32_gflop_s']:.0f} GFLOP/s", flush=True)
    dirs = ensure_checkpoints(args.models, DEFAULT_BENCH_DIR)
    runs = []
    for key in args.models:
        loaded = Workspace.from_sources({key: str(dirs[key])}, device="cpu").manager.get(key)
        run = bench_model(loaded)
        runs.append(run)
        print(f"{key}: {run['tokens']} tokens x {run['layers']} layers; sweep before {run['before_s']:.1f} s, after "
              f"{run['after_s']:.1f} s ({run['speedup']:.2f}x; blocks run {run['expected_speedup']:.2f}x fewer); max |diff| "
              f"{run['max_abs_difference']:.1e}", flush=True)
        del loaded
        if args.json:  # after each model, kept beside earlier runs of other models (each with its own run's peak)
            earlier = json.loads(args.json.read_text(encoding="utf-8"))["runs"] if args.json.is_file() else []
            kept = [r for r in earlier if r["model"] != key] + [{**run, "matmul_peak": peak}]
            args.json.write_text(json.dumps({"runs": kept}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
