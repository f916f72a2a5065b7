"""Bias scoring and the Explain tab on full-size random-weight models (same compute and bytes as the real ones).

    python -m bench.bias_explain                      # everything below, both models, float32 and bfloat16
    python -m bench.bias_explain --quick              # fewer repetitions; skips the 1,500-pair command run
    python -m bench.bias_explain --models en-2048 --dtypes float32

Measures, with the matmul peak of this run as the bound (FLOPs per masked copy / peak):
- masked copies per second through the PLL engine (15-25-token sentences, padded batches of 32, head at one position);
- the batch command's time for 1,500 pairs of 15-25 tokens (``python -m xlm_explorer.score``, all four metrics);
- attribution (integrated gradients to 1% completeness), with its FLOP bound (steps x forward + backward);
- the patching sweep (every layer x position, the clean run below the patched layer reused), with its FLOP bound;
- token search over a 100k-token corpus (one query; the index built once).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import attribution_flops, body_flops, head_flops, measure_matmul_peak, patching_flops

REPO_ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the cat sat on a mat while her friend read an old book about seven green birds that sang near the river "
         "every morning before school started and nobody knew why they came back each spring").split()


def sentence(n_words: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, size=n_words)) + "."


def sized_sentence(loaded: Any, n_tokens: int, seed: int) -> str:
    """A sentence of at most ``n_tokens`` tokens, ``<s>`` and ``</s>`` included, cut at a word boundary
    (the random-weight checkpoints' vocabulary splits the words into more pieces than the real one)."""
    from xlm_explorer.tokenization import encode_text

    words = sentence(n_tokens, seed).rstrip(".").split()
    while len(words) > 1 and len(encode_text(loaded, " ".join(words) + " .", "en", allow_masks=False).input_ids) > n_tokens:
        words.pop()
    return " ".join(words) + " ."


def pairs_file(loaded: Any, n: int, path: Path) -> Path:
    """``n`` pairs of 15-25-token sentences differing in their first word (he/she), as a CrowS-Pairs-size set."""
    lines = ["id\tlang\tbias_type\tsent_more\tsent_less"]
    for i in range(n):
        rest = sized_sentence(loaded, 14 + i % 11, i)
        lines.append(f"p{i}\ten\tgender\the {rest}\tshe {rest}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(fn, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_masked_copies(loaded: Any, peak_gflop_s: float, reps: int) -> dict[str, Any]:
    from xlm_explorer.analysis.pll import MaskedJob, masked_log_probs
    from xlm_explorer.tokenization import encode_text

    ids = [encode_text(loaded, sized_sentence(loaded, 15 + i % 11, 100 + i), "en", allow_masks=False).input_ids
           for i in range(16)]
    jobs = [MaskedJob(x, p) for x in ids for p in range(1, len(x) - 1)]
    masked_log_probs(loaded, jobs[:32])  # warm
    seconds = timed(lambda: masked_log_probs(loaded, jobs), reps)
    mean_tokens = float(np.mean([len(x) for x in ids]))
    flops = body_flops(loaded.n_layers, loaded.hidden_size, int(round(mean_tokens))) + head_flops(loaded.hidden_size, loaded.vocab_size, 1)
    per_s = len(jobs) / seconds
    return {"copies": len(jobs), "mean_tokens": mean_tokens, "copies_per_s": per_s,
            "gflop_per_copy": flops / 1e9, "share_of_matmul_peak": per_s * flops / 1e9 / peak_gflop_s}


def bench_attribution(loaded: Any, reps: int, peak_gflop_s: float) -> dict[str, Any]:
    """Integrated gradients at one mask; bound: each step a forward and a backward (3 forwards of FLOPs)."""
    from xlm_explorer.analysis.attribution import attribute
    from xlm_explorer.forward import ForwardCache

    text = "the cat sat on a mat while her friend read an old [MASK] ."
    result = attribute(loaded, ForwardCache(), text, "en", 1, "")
    seconds = timed(lambda: attribute(loaded, ForwardCache(), text, "en", 1, ""), reps)
    n_tokens = len(result.input_ids)
    gflop = attribution_flops(loaded.n_layers, loaded.hidden_size, n_tokens, result.n_steps) / 1e9
    return {"tokens": n_tokens, "seconds": seconds, "n_steps": result.n_steps, "completeness_gap": result.completeness_gap,
            "gflop": gflop, "flop_bound_s": gflop / peak_gflop_s, "share_of_matmul_peak": gflop / seconds / peak_gflop_s}


def bench_patching(loaded: Any, peak_gflop_s: float) -> dict[str, Any]:
    from xlm_explorer.analysis.patching import patch
    from xlm_explorer.forward import ForwardCache

    a = "the cat sat on a mat while her friend read an old [MASK] ."
    b = "the dog sat on a mat while her friend read an old [MASK] ."
    start = time.perf_counter()
    result = patch(loaded, ForwardCache(), a, b, "en", "")
    seconds = time.perf_counter() - start
    gflop = patching_flops(loaded.n_layers, loaded.hidden_size, loaded.vocab_size, len(result.input_ids_a)) / 1e9
    return {"tokens": len(result.input_ids_a), "layers": loaded.n_layers + 1, "seconds": seconds,
            "seconds_per_layer": seconds / (loaded.n_layers + 1), "gflop": gflop, "flop_bound_s": gflop / peak_gflop_s,
            "share_of_matmul_peak": gflop / seconds / peak_gflop_s}


def bench_search(loaded: Any, n_tokens: int = 100_000) -> dict[str, Any]:
    from xlm_explorer.analysis.token_search import Corpus, CorpusSentence, TokenIndex, nearest

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n_tokens, loaded.hidden_size)).astype(np.float16)
    index = TokenIndex(loaded.key, loaded.n_layers, Corpus("random", (CorpusSentence("x", "en"),)), vectors,
                       np.zeros(n_tokens, np.int32), np.zeros(n_tokens, np.int32), ["t"] * n_tokens)
    query = rng.normal(size=loaded.hidden_size)
    nearest(index, query, 10)
    seconds = timed(lambda: nearest(index, query, 10), 5)
    return {"corpus_tokens": n_tokens, "index_mib": vectors.nbytes / 2**20, "search_s": seconds}


def bench_score_command(loaded: Any, directory: Path, dtype: str, n_pairs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        key = loaded.key
        pairs = pairs_file(loaded, n_pairs, Path(tmp) / "pairs.tsv")
        out = Path(tmp) / "results.json"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "xlm_explorer.score", str(pairs), "--model", key, "--model",
                               f"{key}={directory}", "--metrics", "all", "--dtype", dtype, "--device", "cpu", "--out", str(out)],
                              cwd=REPO_ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        ok = proc.returncode == 0
    return {"pairs": n_pairs, "seconds": seconds, "ok": ok, "stderr_tail": proc.stderr[-300:] if not ok else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["en-2048", "100-1280"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--pairs", type=int, default=None,
                        help="pairs for the command run (default 1,500; 0 with --quick; 0 skips it)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from xlm_explorer.workspace import Workspace

    reps = 1 if args.quick else 3
    n_pairs = args.pairs if args.pairs is not None else (0 if args.quick else 1500)
    peak = measure_matmul_peak("cpu", (1024, 2048, 4096), reps=3)
    results: dict[str, Any] = {"matmul_peak": peak, "runs": []}
    print(f"matmul peak: float32 {peak['float32_gflop_s']:.0f} GFLOP/s, bfloat16 {peak['bfloat16_gflop_s']:.0f} GFLOP/s", flush=True)
    dirs = ensure_checkpoints(args.models, DEFAULT_BENCH_DIR)
    for key in args.models:
        for dtype in args.dtypes:
            loaded = Workspace.from_sources({key: str(dirs[key])}, device="cpu", dtype=dtype).manager.get(key)
            run: dict[str, Any] = {"model": key, "dtype": dtype}
            dtype_peak = peak[f"{dtype}_gflop_s"]
            run["masked_copies"] = bench_masked_copies(loaded, dtype_peak, reps)
            print(f"{key} {dtype}: {run['masked_copies']['copies_per_s']:.1f} masked copies/s "
                  f"({run['masked_copies']['share_of_matmul_peak']:.2f} of the matmul peak)", flush=True)
            run["attribution"] = bench_attribution(loaded, reps, dtype_peak)
            run["patching"] = bench_patching(loaded, dtype_peak)
            print(f"  attribution {run['attribution']['seconds']:.1f} s ({run['attribution']['n_steps']} steps, "
                  f"{run['attribution']['share_of_matmul_peak']:.2f} of the peak), patching "
                  f"{run['patching']['seconds']:.1f} s, {run['patching']['seconds_per_layer']:.2f} s/layer "
                  f"({run['patching']['share_of_matmul_peak']:.2f} of the peak)", flush=True)
            if dtype == "float32":
                run["search"] = bench_search(loaded)
                print(f"  search over 100k tokens {1000 * run['search']['search_s']:.0f} ms", flush=True)
            if n_pairs:
                run["score_command"] = bench_score_command(loaded, dirs[key], dtype, n_pairs)
                print(f"  score command, {n_pairs} pairs: {run['score_command']['seconds'] / 60:.1f} min", flush=True)
            results["runs"].append(run)
            del loaded
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
