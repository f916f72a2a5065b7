"""Where the line lies between the app's exact search (one float16 matrix-vector product over the index, then the
best rows rescored in float32: ``token_search.nearest``) and an approximate faiss index over the same float16
vectors, with the exact rescoring of its candidates. Recall@10 against the exact top 10, and latency per query, at
100k and 1M vectors of 100-1280's width (1280), with the matmul peak of this run:

    pip install faiss-cpu==1.15.1      # not a requirement of the app
    python -m bench.faiss_search --sizes 100000,1000000 --json bench/results/faiss-search.json

The vectors are synthetic but clustered like contextual token vectors (each one a random "word type" centre plus
noise, cosine about 0.7 to its centre; 20 tokens per type on average), unit-normalised and stored as float16;
a query is a stored vector plus noise of norm 0.5 (a new token of a known kind). Uniform random vectors would be the worst case for IVF (no clusters to find).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.run_bench import measure_matmul_peak
from xlm_explorer.analysis.token_search import RESCORED_ROWS, Corpus, TokenIndex, nearest, rescore_rows

DIM = 1280
K = 10


def clustered(n: int, dim: int, seed: int, tokens_per_type: int = 20, chunk: int = 100_000) -> np.ndarray:
    """(n, dim) unit float16 vectors: centre of a random type plus noise (built in chunks: 1M x 1280 is 2.4 GiB)."""
    rng = np.random.default_rng(seed)
    n_types = max(1, n // tokens_per_type)
    centres = rng.standard_normal((n_types, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float16)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) / np.sqrt(dim)
        block = centres[rng.integers(0, n_types, stop - start)] + noise
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def synthetic_index(vectors: np.ndarray) -> Any:
    """The vectors as the app's own ``TokenIndex`` (no corpus: the search reads only the vectors)."""
    rows = np.zeros(len(vectors), np.int32)
    return TokenIndex("synthetic", 0, Corpus("synthetic", ()), vectors, rows, rows, [])


def exact_top(index: Any, query: np.ndarray, k: int = K) -> np.ndarray:
    """The app's own search, ``token_search.nearest``: a float16 product, the best rows rescored in float32."""
    return np.array([row for row, _cosine in nearest(index, query, k)])


def rescore(vectors: np.ndarray, candidates: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    """faiss's candidates (-1 where it found fewer) rescored as the app rescores its own (``rescore_rows``)."""
    candidates = np.sort(candidates[candidates >= 0])
    return np.array([row for row, _cosine in rescore_rows(vectors, candidates, query, k)])


def timed_queries(search: Any, queries: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Median seconds per query, and each query's answer."""
    times, found = [], []
    for query in queries:
        began = time.perf_counter()
        found.append(search(query))
        times.append(time.perf_counter() - began)
    return float(np.median(times)), found


def recall(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def bench_size(n: int, n_queries: int, seed: int) -> dict[str, Any]:
    import faiss

    began = time.perf_counter()
    vectors = clustered(n, DIM, seed)
    rng = np.random.default_rng(seed + 1)  # a query: a new token near a stored one (noise of norm about 0.5)
    queries = np.asarray(vectors[rng.integers(0, n, n_queries)], np.float32)
    queries += 0.5 * rng.standard_normal(queries.shape, dtype=np.float32) / np.sqrt(DIM)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index = synthetic_index(vectors)
    made_s = time.perf_counter() - began
    exact_s, truth = timed_queries(lambda q: exact_top(index, q), queries)
    row: dict[str, Any] = {"n": n, "dim": DIM, "index_mib": round(vectors.nbytes / 2**20), "made_s": round(made_s, 1),
                           "exact_ms": round(exact_s * 1000, 2), "approximate": []}
    print(f"{n:,} vectors ({row['index_mib']} MiB float16): exact search {row['exact_ms']:.1f} ms per query", flush=True)
    n_list = int(4 * np.sqrt(n))
    quantizer = faiss.IndexFlatIP(DIM)
    ivf = faiss.IndexIVFScalarQuantizer(quantizer, DIM, n_list, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    sample = np.asarray(vectors[np.random.default_rng(seed + 2).choice(n, min(n, 40 * n_list), replace=False)], np.float32)
    t0 = time.perf_counter()
    ivf.train(sample)
    for start in range(0, n, 100_000):
        ivf.add(np.asarray(vectors[start : start + 100_000], np.float32))
    build_s = time.perf_counter() - t0
    for n_probe in (4, 16, 64):
        ivf.nprobe = n_probe

        def search(query: np.ndarray) -> np.ndarray:
            _scores, ids = ivf.search(query[None], RESCORED_ROWS)
            return rescore(vectors, ids[0], query)

        seconds, found = timed_queries(search, queries)
        entry = {"index": f"IVF{n_list},SQfp16", "nprobe": n_probe, "build_s": round(build_s, 1),
                 "ms": round(seconds * 1000, 2), "recall_at_10": round(recall(found, truth), 3)}
        row["approximate"].append(entry)
        print(f"  {entry['index']} nprobe {n_probe}: {entry['ms']:.2f} ms per query, recall@10 {entry['recall_at_10']:.3f}"
              f" (built in {build_s:.0f} s)", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import faiss  # noqa: F401 - fail early, before minutes of vectors

    peak = measure_matmul_peak("cpu", (1024, 2048), reps=3, dtypes=("float32",))
    print(f"matmul peak: float32 {peak['float32_gflop_s']:.0f} GFLOP/s", flush=True)
    rows = [bench_size(int(n), args.queries, seed=i) for i, n in enumerate(args.sizes.split(","))]
    if args.json:
        args.json.write_text(json.dumps({"matmul_peak": peak, "faiss": faiss.__version__, "sizes": rows}, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
