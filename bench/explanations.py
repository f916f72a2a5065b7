"""The newer explanations on full-size random-weight models (same compute and bytes as the real ones), each beside
today's attribution of the same ~25-token input, with the matmul peak of this run as the bound:

    python -m bench.explanations                  # both models, float32
    python -m bench.explanations --models en-2048 --json bench/results/explanations.json

- attribution (integrated gradients to 1% completeness, and gradient x input), the reference time;
- attention vs attribution (/attention_flow): the same attribution, one more forward pass with every hidden state and
  attention, the norm-based measure per block;
- SEAT (/seat) on 4 x 10 template sentences: one embedding pass over 40 sentences, the exact or sampled permutation
  test per layer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import body_flops, measure_matmul_peak

TEXT = "the doctor said that [MASK] was tired after the long night shift at the old hospital near the river bank ."
GROUP_WORDS = {"x": ("man", "boy", "father", "brother", "son", "uncle", "husband", "king", "nephew", "gentleman"),
               "y": ("woman", "girl", "mother", "sister", "daughter", "aunt", "wife", "queen", "niece", "lady"),
               "a": ("career", "salary", "office", "business", "management", "profession", "corporation", "job",
                     "executive", "promotion"),
               "b": ("family", "home", "wedding", "parents", "children", "cousins", "marriage", "relatives",
                     "kitchen", "garden")}


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_model(loaded: Any, peak_gflop_s: float) -> dict[str, Any]:
    from xlm_explorer.analysis.attention_flow import attention_flow
    from xlm_explorer.analysis.attribution import attribute
    from xlm_explorer.analysis.bias.seat import seat
    from xlm_explorer.forward import ForwardCache

    attribute(loaded, ForwardCache(), TEXT, "en", 1, "")  # warm-up (oneDNN kernels, allocator)
    t_attr, attributed = timed(lambda: attribute(loaded, ForwardCache(), TEXT, "en", 1, ""))
    t_flow, _ = timed(lambda: attention_flow(loaded, ForwardCache(), TEXT, "en", 1, "", hide=True))
    groups = {g: [f"this is a {w} ." for w in words] for g, words in GROUP_WORDS.items()}
    t_seat, result = timed(lambda: seat(loaded, groups))
    n_tokens = len(attributed.input_ids)
    forward_gflop = body_flops(loaded.n_layers, loaded.hidden_size, n_tokens) / 1e9
    # attribution: two gradients (forward + backward, ~3x a forward) per step and per completeness check
    bound_attr = attributed.n_steps * 3 * forward_gflop / peak_gflop_s
    return {
        "model": loaded.key, "tokens": n_tokens, "ig_steps": attributed.n_steps,
        "attribution_s": t_attr, "attention_flow_s": t_flow, "flow_over_attribution": t_flow / t_attr,
        "seat_s": t_seat, "seat_sentences": len(result.groups), "seat_exact_p": result.exact,
        "attribution_flop_bound_s": bound_attr,
    }


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
        run = bench_model(loaded, peak["float32_gflop_s"])
        runs.append(run)
        print(f"{key}: {run['tokens']} tokens; attribution {run['attribution_s']:.1f} s ({run['ig_steps']} steps; FLOP "
              f"bound {run['attribution_flop_bound_s']:.1f} s), attention vs attribution {run['attention_flow_s']:.1f} s "
              f"({run['flow_over_attribution']:.2f}x), SEAT on {run['seat_sentences']} sentences {run['seat_s']:.1f} s", flush=True)
        del loaded
    if args.json:
        args.json.write_text(json.dumps({"matmul_peak": peak, "runs": runs}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
