"""The newer explanations on full-size random-weight models (same compute and bytes as the real ones), each beside
today's attribution of the same ~25-token input, with the matmul peak of this run as the bound:

    python -m bench.explanations                  # both models, float32
    python -m bench.explanations --models en-2048 --json bench/results/explanations.json

- attribution (integrated gradients to 1% completeness, and gradient x input), the reference time;
- attention vs attribution (/attention_flow): the same attribution, one more forward pass with every hidden state and
  attention, the norm-based measure per block;
- SEAT (/seat) on 4 x 10 template sentences: one embedding pass over 40 sentences, the exact or sampled permutation
  test per layer;
- one probe across languages (/explain_languages) with its default rows (doctor vs nurse in en, fr and de; en-2048
  reads the English row only): per row one contrastive attribution and one contrastive patching sweep;
- the direction projection (the Embeddings view, no model run) of 2,000 pooled vectors of the model's width;
- words of several pieces (/fill_word): up to 2 and up to 4 pieces, 5 answers per length, beam of 8.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import attribution_flops, measure_matmul_peak

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
    across = bench_across_languages(loaded)
    t_direction = bench_direction(loaded.hidden_size)
    fill_word = bench_fill_word(loaded)
    n_tokens = len(attributed.input_ids)
    bound_attr = attribution_flops(loaded.n_layers, loaded.hidden_size, n_tokens, attributed.n_steps) / 1e9 / peak_gflop_s
    return {
        "model": loaded.key, "tokens": n_tokens, "ig_steps": attributed.n_steps,
        "attribution_s": t_attr, "attention_flow_s": t_flow, "flow_over_attribution": t_flow / t_attr,
        "seat_s": t_seat, "seat_sentences": len(result.groups), "seat_exact_p": result.exact,
        "attribution_flop_bound_s": bound_attr, "across_languages": across, "direction_2000_rows_s": t_direction,
        "fill_word": fill_word,
    }


def bench_across_languages(loaded: Any) -> dict[str, Any]:
    """The default probe rows this model reads, explained one by one (attribution + patching each), timed per row."""
    from xlm_explorer import page_setup, service
    from xlm_explorer.analysis.across_languages import explain_row, parse_rows
    from xlm_explorer.forward import ForwardCache

    rows = parse_rows(page_setup.probe_rows(*service.DEFAULT_WORDS, list(service.DEFAULT_LANGUAGES)))
    per_row = []
    for row in rows:
        if loaded.reads(row.lang) != row.lang:
            continue
        seconds, explained = timed(lambda: explain_row(loaded, ForwardCache(), row))
        per_row.append({"lang": row.lang, "tokens": len(explained.attribution.input_ids), "seconds": seconds,
                        "ig_steps": explained.attribution.n_steps, "patched": explained.patching is not None})
    return {"rows": per_row, "total_s": sum(r["seconds"] for r in per_row)}


def bench_fill_word(loaded: Any) -> dict[str, float]:
    """Seconds for whole words of up to 2 and up to 4 pieces at the mask of a short sentence (5 per length, beam 8)."""
    from xlm_explorer.analysis.multi_piece import fill_word

    text = "the film was [MASK] from start to end ."
    return {f"up_to_{n}_pieces_s": timed(lambda n=n: fill_word(loaded, text, "en", n, 8, 5))[0] for n in (2, 4)}


def bench_direction(hidden_size: int, n_rows: int = 2000) -> float:
    """Seconds for the direction projection of (n_rows, hidden_size) random vectors, two groups of a quarter each."""
    import numpy as np

    from xlm_explorer.analysis.projection import direction_projection

    points = np.random.default_rng(0).normal(size=(n_rows, hidden_size)).astype(np.float32)
    in_a, in_b = np.arange(n_rows) < n_rows // 4, np.arange(n_rows) >= 3 * n_rows // 4
    return timed(lambda: direction_projection(points, in_a, in_b, 2))[0]


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
              f"({run['flow_over_attribution']:.2f}x), SEAT on {run['seat_sentences']} sentences {run['seat_s']:.1f} s; across "
              f"languages {run['across_languages']['total_s']:.1f} s ("
              + ", ".join(f"{r['lang']} {r['seconds']:.1f} s for {r['tokens']} tokens" for r in run["across_languages"]["rows"])
              + f"); direction of 2,000 rows {run['direction_2000_rows_s']:.2f} s; words of up to 2 / 4 pieces "
              f"{run['fill_word']['up_to_2_pieces_s']:.1f} / {run['fill_word']['up_to_4_pieces_s']:.1f} s", flush=True)
        del loaded
    if args.json:
        args.json.write_text(json.dumps({"matmul_peak": peak, "runs": runs}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
