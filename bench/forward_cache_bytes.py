"""Bytes the forward cache keeps per fill-mask, and the time of a fill-mask forward, on full-size random-weight models.

    python -m bench.forward_cache_bytes                    # both models, 16 / 64 / 256 / 512 tokens
    python -m bench.forward_cache_bytes --models en-2048 --lengths 16,64

"Everything" is what the cache kept for every input before it held only the parts asked for: every layer's hidden
states, every attention and the logits at the masks (``get(..., hidden_states=True, attentions=True)``).
"fill-mask" is what a fill-mask request keeps now: the last layer and the logits at the masks. Both are measured
on the same model in the same run (``ForwardResult.nbytes``, exact), with the forward time of each (minimum of
``--reps``) beside the time of a plain matmul-bound body pass (the bound: FLOPs / this run's float32 peak).
Writes bench/results/forward_cache_bytes.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import body_flops, measure_matmul_peak

RESULTS = Path(__file__).resolve().parent / "results" / "forward_cache_bytes.json"


def ids_of(loaded, n_tokens: int) -> tuple[tuple[int, ...], tuple[int, ...]]:  # noqa: ANN001 - a LoadedModel
    """``n_tokens`` ids: ``<s>``, sentence pieces, one mask in the middle, ``</s>``; and the mask position."""
    from xlm_explorer.tokenization import encode_text

    pieces = list(encode_text(loaded, "the cat sat on the mat near the door", "en").input_ids[1:-1])
    body = (pieces * n_tokens)[: n_tokens - 3]
    middle = len(body) // 2
    tokenizer = loaded.tokenizer
    ids = (tokenizer.bos_token_id, *body[:middle], loaded.mask_token_id, *body[middle:], tokenizer.sep_token_id)
    return tuple(int(i) for i in ids), (middle + 1,)


def measure(key: str, directory: Path, lengths: list[int], reps: int, peak: float) -> list[dict]:
    from xlm_explorer.forward import ForwardCache
    from xlm_explorer.workspace import Workspace

    loaded = Workspace.from_sources({key: str(directory)}, device="cpu").manager.get(key)
    rows = []
    for length in lengths:
        ids, masks = ids_of(loaded, min(length, loaded.max_positions))
        row = {"model": key, "tokens": len(ids), "masks": len(masks)}
        for name, parts in (("everything", dict(hidden_states=True, attentions=True)), ("fill_mask", {})):
            best = float("inf")
            for _ in range(reps):
                cache = ForwardCache(gather_ms=0)
                started = time.perf_counter()
                entry = cache.get(loaded, ids, None, masks, **parts)
                best = min(best, time.perf_counter() - started)
            row[f"{name}_bytes"] = entry.nbytes
            row[f"{name}_ms"] = round(best * 1000, 1)
        row["bytes_ratio"] = round(row["everything_bytes"] / row["fill_mask_bytes"], 2)
        row["flop_bound_ms"] = round(body_flops(loaded.n_layers, loaded.hidden_size, len(ids)) / (peak * 1e9) * 1000, 1)
        rows.append(row)
        print(row, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="en-2048,100-1280")
    parser.add_argument("--lengths", default="16,64,256,512")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    keys = [k for k in args.models.split(",") if k]
    dirs = ensure_checkpoints(keys, DEFAULT_BENCH_DIR)
    peak = measure_matmul_peak("cpu", [2048], reps=3)["float32_gflop_s"]  # GFLOP/s, this run
    rows = [r for key in keys for r in measure(key, dirs[key], [int(x) for x in args.lengths.split(",")], args.reps, peak)]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"float32_peak_gflops": peak, "rows": rows}, indent=1), encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
