"""Where the line lies between the app's exact search (one float16 matrix-vector product over the index, then the
best rows rescored in float32: ``token_search.nearest``) and the approximate index the command builds with
``--ann`` (``ann.build_ann``: faiss IVF over the same float16 vectors, saved and memory-mapped as the app loads it),
searched through the same ``nearest``, which rescores its candidates exactly. Recall@10 against the exact top 10, and latency per query, at
100k and 1M vectors of 100-1280's width (1280), with the matmul peak of this run:

    pip install -r requirements-scale.txt      # faiss: an optional extra
    python -m bench.faiss_search --sizes 100000,1000000 --json bench/results/faiss-search.json

The vectors are synthetic but clustered like contextual token vectors (each one a random "word type" centre plus
noise, cosine about 0.7 to its centre; 20 tokens per type on average), unit-normalised and stored as float16;
a query is a stored vector plus noise of norm 0.5 (a new token of a known kind). Uniform random vectors would be the worst case for IVF (no clusters to find).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.run_bench import measure_matmul_peak
from xlm_explorer.analysis.ann import AnnIndex, build_ann
from xlm_explorer.analysis.token_search import Corpus, TokenIndex, nearest

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


def top_rows(index: Any, query: np.ndarray, k: int = K) -> np.ndarray:
    """The app's own search, ``token_search.nearest``: a float16 product (or, with ``index.ann``, the faiss
    candidates), the best rows rescored in float32."""
    return np.array([row for row, _cosine in nearest(index, query, k)])


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
    began = time.perf_counter()
    vectors = clustered(n, DIM, seed)
    rng = np.random.default_rng(seed + 1)  # a query: a new token near a stored one (noise of norm about 0.5)
    queries = np.asarray(vectors[rng.integers(0, n, n_queries)], np.float32)
    queries += 0.5 * rng.standard_normal(queries.shape, dtype=np.float32) / np.sqrt(DIM)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index = synthetic_index(vectors)
    made_s = time.perf_counter() - began
    exact_s, truth = timed_queries(lambda q: top_rows(index, q), queries)
    row: dict[str, Any] = {"n": n, "dim": DIM, "index_mib": round(vectors.nbytes / 2**20), "made_s": round(made_s, 1),
                           "exact_ms": round(exact_s * 1000, 2), "approximate": []}
    print(f"{n:,} vectors ({row['index_mib']} MiB float16): exact search {row['exact_ms']:.1f} ms per query", flush=True)
    t0 = time.perf_counter()
    built = build_ann(vectors)  # the command's own index (--ann): IVF over SQfp16, n_lists_for(n) lists
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="faiss-bench-") as folder:
        path = Path(folder) / "faiss-L0.index"
        built.save(path)
        index.ann = ann = AnnIndex.load(path)  # memory-mapped, as the app loads it
        app_probe = ann.n_probe
        for n_probe in sorted({min(ann.n_lists, p) for p in (4, 16, 64, app_probe, 4 * app_probe)}):
            ann.n_probe = n_probe
            seconds, found = timed_queries(lambda q: top_rows(index, q), queries)
            entry = {"index": f"IVF{ann.n_lists},SQfp16", "nprobe": n_probe, "app_default": n_probe == app_probe,
                     "build_s": round(build_s, 1), "ms": round(seconds * 1000, 2),
                     "recall_at_10": round(recall(found, truth), 3)}
            row["approximate"].append(entry)
            print(f"  {entry['index']} nprobe {n_probe}{' (the app)' if entry['app_default'] else ''}: "
                  f"{entry['ms']:.2f} ms per query, recall@10 {entry['recall_at_10']:.3f} (built in {build_s:.0f} s)",
                  flush=True)
        index.ann = None
    return row


def exact_from_disk(n: int, n_queries: int, folder: Path, seed: int = 7) -> dict[str, Any]:
    """The exact search over ``n`` uniform random unit float16 vectors written to a file and memory-mapped, as the app
    maps an index: past memory every query reads the whole file again. The file is removed afterwards."""
    path = folder / "vectors-L0.npy"
    rng = np.random.default_rng(seed)
    began = time.perf_counter()
    vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, DIM))
    chunk = 250_000
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(n, start + chunk) - start, DIM), dtype=np.float32)
        vectors[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    vectors.flush()
    del vectors
    made_s = time.perf_counter() - began
    index = synthetic_index(np.load(path, mmap_mode="r"))
    queries = rng.standard_normal((n_queries, DIM), dtype=np.float32)
    seconds, _found = timed_queries(lambda q: top_rows(index, q), queries)
    size = path.stat().st_size
    path.unlink()
    row = {"n": n, "dim": DIM, "index_mib": round(size / 2**20), "made_s": round(made_s, 1), "vectors": "uniform random",
           "exact_from_disk_s": round(seconds, 2), "read_gb_s": round(size / seconds / 1e9, 2)}
    print(f"{n:,} vectors ({row['index_mib']} MiB on disk): exact search {seconds:.1f} s per query "
          f"({row['read_gb_s']} GB/s read)", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--exact-from-disk", type=int, default=0, metavar="N",
                        help="only: exact search over N random vectors memory-mapped from a file in --folder (10M: 24 GiB)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp"))
    args = parser.parse_args(argv)
    if args.exact_from_disk:
        row = exact_from_disk(args.exact_from_disk, 3, args.folder)
        if args.json:
            data = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {}
            data["exact_from_disk"] = row
            args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return 0
    import faiss  # fail early, before minutes of vectors

    peak = measure_matmul_peak("cpu", (1024, 2048), reps=3, dtypes=("float32",))
    print(f"matmul peak: float32 {peak['float32_gflop_s']:.0f} GFLOP/s", flush=True)
    rows = []
    for i, n in enumerate(args.sizes.split(",")):
        rows.append(bench_size(int(n), args.queries, seed=i))
        if args.json:  # written after each size: the 1M point takes many minutes to build
            args.json.write_text(json.dumps({"matmul_peak": peak, "faiss": faiss.__version__, "sizes": rows}, indent=1),
                                 encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
