"""What the token index costs per million tokens, on one machine and as a Ray Data job on the same machine, with
the float32 matmul peak of this run as the bound (full-size random-weight 100-1280: the same compute as the real one):

    pip install -r requirements-scale.txt
    python -m bench.index_cost --sentences 1024 --json bench/results/index-cost.json

- one machine: ``IndexJob`` chunk after chunk in this process, torch on every core (what the command does);
- Ray: the same chunks as a Ray Data job on a local instance (``ray.init(num_cpus=cores)``), as actors x threads;
- each run's index is compared with the one-machine index (bit-equal, else the max |difference| of the vectors).
The model load is timed once and left out of the per-token rate (a cluster loads once per actor, in parallel).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import benchmark_sentences, body_flops, measure_matmul_peak


def make_job(source: Path, out: Path, n_sentences: int, layers: tuple[int, ...]) -> Any:
    from xlm_explorer.analysis.token_search import Corpus, CorpusSentence
    from xlm_explorer.index_job import IndexJob

    texts, langs = benchmark_sentences(n_sentences)
    corpus = Corpus("bench", tuple(CorpusSentence(t, l) for t, l in zip(texts, langs)))
    return IndexJob("100-1280", str(source), layers, corpus, out, device="cpu")


def flops_of(out: Path, layer: int, n_layers: int, hidden: int) -> tuple[int, float]:
    """Tokens indexed and the body FLOPs of their sentences (each with <s> and </s>)."""
    rows = np.load(out / f"rows-L{layer}.npy")
    lengths = np.bincount(rows[0]) + 2
    return int(rows.shape[1]), float(sum(body_flops(n_layers, hidden, int(n)) for n in lengths))


def one_machine(job: Any) -> dict[str, float]:
    from xlm_explorer.index_job import index_chunk, join_job, load_job_model

    began = time.perf_counter()
    loaded = load_job_model(job)
    load_s = time.perf_counter() - began
    job.prepare()
    began = time.perf_counter()
    for chunk in range(job.n_chunks):
        index_chunk(loaded, job, chunk)
    index_s = time.perf_counter() - began
    join_job(job)
    return {"load_s": load_s, "index_s": index_s, "n_layers": loaded.n_layers, "hidden": loaded.hidden_size}


def on_ray(job: Any, actors: int, cpus_per_actor: float) -> dict[str, float]:
    from xlm_explorer.index_job import join_job
    from xlm_explorer.index_ray import run_on_ray

    todo = job.prepare()
    began = time.perf_counter()
    list(run_on_ray(job, todo, "local", workers=actors, cpus_per_worker=cpus_per_actor))
    total_s = time.perf_counter() - began
    join_job(job)
    return {"total_s": total_s}


def compare(a: Path, b: Path, layers: tuple[int, ...]) -> dict[str, Any]:
    equal, worst = True, 0.0
    for layer in layers:
        va, vb = np.load(a / f"vectors-L{layer}.npy"), np.load(b / f"vectors-L{layer}.npy")
        equal &= bool(np.array_equal(va, vb)) and bool(np.array_equal(np.load(a / f"rows-L{layer}.npy"), np.load(b / f"rows-L{layer}.npy")))
        worst = max(worst, float(np.abs(va.astype(np.float32) - vb.astype(np.float32)).max()))
    return {"bit_equal": equal, "max_abs_difference": worst}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--layers", default="8,16")
    parser.add_argument("--ray", default="2x1,1x2", help="actors x cpus-per-actor, comma-separated ('' for none)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import ray
    import torch

    cores = os.cpu_count() or 1
    layers = tuple(int(x) for x in args.layers.split(","))
    source = ensure_checkpoints(["100-1280"], DEFAULT_BENCH_DIR)["100-1280"]
    peak = measure_matmul_peak("cpu", (1024, 2048), reps=3, dtypes=("float32",))
    gflops_peak = peak["float32_gflop_s"]
    print(f"{cores} cores; matmul peak float32 {gflops_peak:.0f} GFLOP/s; torch threads {torch.get_num_threads()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="index-cost-"))
    base = make_job(source, work / "one", args.sentences, layers)
    here = one_machine(base)
    tokens, flops = flops_of(base.out, layers[0], here["n_layers"], here["hidden"])

    def rate(seconds: float) -> dict[str, float]:
        return {"tokens_per_s": round(tokens / seconds, 1), "share_of_peak": round(flops / seconds / 1e9 / gflops_peak, 3),
                "core_hours_per_million_tokens": round(1e6 / (tokens / seconds) * cores / 3600, 2)}

    runs: list[dict[str, Any]] = [{"runner": "one machine", "threads": torch.get_num_threads(), "load_s": round(here["load_s"], 1),
                                   "index_s": round(here["index_s"], 1), **rate(here["index_s"])}]
    print(f"{len(base.corpus)} sentences, {tokens:,} tokens, layers {list(layers)}: {runs[0]}", flush=True)
    ray.init(num_cpus=cores, runtime_env={"py_modules": [str(Path(__file__).resolve().parents[1] / "xlm_explorer")]},
             log_to_driver=False)
    for spec in filter(None, args.ray.split(",")):
        actors, cpus = (float(x) for x in spec.split("x"))
        job = make_job(source, work / f"ray-{spec}", args.sentences, layers)
        got = on_ray(job, int(actors), cpus)
        # the actors load the model in parallel while the first chunks wait: the rate leaves one load out
        index_s = max(got["total_s"] - here["load_s"], 1e-9)
        entry = {"runner": f"Ray Data, {int(actors)} actor(s) x {cpus:g} core(s)", "total_s": round(got["total_s"], 1),
                 "index_s_less_one_load": round(index_s, 1), **rate(index_s), **compare(base.out, job.out, layers)}
        runs.append(entry)
        print(entry, flush=True)
    ray.shutdown()
    shutil.rmtree(work)
    if args.json:
        args.json.write_text(json.dumps({"cores": cores, "matmul_peak": peak, "model": "100-1280 (full size, random weights)",
                                         "sentences": args.sentences, "tokens": tokens, "layers": list(layers),
                                         "body_gflop": round(flops / 1e9, 1), "runs": runs}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
