"""A classroom burst: N users press Predict at once. Prints, per model and dtype, the time of one request, the
burst's makespan, p50/p95 latency, and the bound: the same N inputs as one direct padded batch.

    python -m bench.burst                                   # both models, float32 and bfloat16, 1/4/16/32 users
    python -m bench.burst --models en-2048 --dtypes float32 --users 16

Full-size random-weight checkpoints (bench/models.py: same compute, same bytes as the real ones). The app runs in
its own process on 127.0.0.1 (loopback only) and is called through gradio_client, one client per user; the bound is
measured after the server has stopped, in this process, with the app's own forward path (``run_batch``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.load_test import percentile, wait_for_server
from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints

REPO_ROOT = Path(__file__).resolve().parents[1]
SENTENCES = REPO_ROOT / "assets" / "data" / "parallel_sentences.tsv"


def masked_sentences(n: int) -> list[str]:
    """``n`` distinct English sentences with their third word masked (16-token sentences, as a class types)."""
    rows = [line.split("\t") for line in SENTENCES.read_text(encoding="utf-8").splitlines()[1:]]
    english = [row[2] for row in rows if len(row) >= 3 and row[1] == "en"]
    out = []
    for i in range(n):
        words = english[i % len(english)].split()
        words[min(2, len(words) - 1)] = "[MASK]"
        out.append(" ".join(words) + ("" if i < len(english) else f" ({i})"))
    return out


def launch(key: str, directory: Path, dtype: str, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
               "--dtype", dtype, "--model", f"{key}={directory}"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", XLM_EXPLORER_WARMUP="0")
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def burst(url: str, key: str, texts: list[str]) -> dict[str, Any]:
    """All ``texts`` sent at once, one gradio_client per user; latencies and makespan."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in texts]
    barrier = threading.Barrier(len(texts))
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * len(texts)
    errors: list[str] = []

    def user(i: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        try:
            clients[i].predict(texts[i], key, "en", 10, api_name="/fill_mask")
        except Exception as error:  # noqa: BLE001 - reported
            errors.append(str(error)[:200])
        spans[i] = (start, time.perf_counter())

    threads = [threading.Thread(target=user, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = sorted(end - start for start, end in spans)
    return {
        "users": len(texts),
        "makespan_s": max(e for _, e in spans) - min(s for s, _ in spans),
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "errors": errors,
    }


def direct_batch_seconds(key: str, directory: Path, dtype: str, texts: list[str], repeats: int = 3) -> float:
    """The bound: the same inputs as one padded batch through the app's forward path (body + head at the masks)."""
    from xlm_explorer.forward import run_batch
    from xlm_explorer.tokenization import encode_text
    from xlm_explorer.workspace import Workspace

    loaded = Workspace.from_sources({key: str(directory)}, device="cpu", dtype=dtype).manager.get(key)
    encodings = [encode_text(loaded, text, "en") for text in texts]
    pairs = [(row, p) for row, e in enumerate(encodings) for p in e.mask_positions]
    run_batch(loaded, [e.input_ids for e in encodings], logits_at=pairs)  # warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_batch(loaded, [e.input_ids for e in encodings], logits_at=pairs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(key: str, directory: Path, dtype: str, users: list[int], port: int) -> list[dict[str, Any]]:
    log = Path(tempfile.gettempdir()) / f"xlm-burst-{key}-{dtype}.log"
    process = launch(key, directory, dtype, port, log)
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        wait_for_server(url, process=process)
        warm = burst(url, key, masked_sentences(2))  # loads the model, compiles nothing further
        assert not warm["errors"], warm["errors"]
        single = min(burst(url, key, masked_sentences(1))["makespan_s"] for _ in range(3))
        for n in users:
            result = burst(url, key, masked_sentences(n))
            result.update(model=key, dtype=dtype, one_request_s=single)
            rows.append(result)
            print(f"  {key} {dtype} {n:>2} users: makespan {result['makespan_s']:.2f} s, p95 {result['p95_s']:.2f} s", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=60)
    for row in rows:
        row["direct_batch_s"] = direct_batch_seconds(key, directory, dtype, masked_sentences(row["users"]))
        row["ratio_to_bound"] = row["makespan_s"] / row["direct_batch_s"]
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| model | dtype | users | one request | burst makespan | p50 | p95 | one padded batch (bound) | makespan / bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['dtype']} | {r['users']} | {r['one_request_s']:.2f} s | {r['makespan_s']:.2f} s | "
              f"{r['p50_s']:.2f} s | {r['p95_s']:.2f} s | {r['direct_batch_s']:.2f} s | {r['ratio_to_bound']:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["en-2048", "100-1280"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--users", nargs="+", type=int, default=[1, 4, 16, 32])
    parser.add_argument("--port", type=int, default=7881)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    dirs = ensure_checkpoints(args.models, DEFAULT_BENCH_DIR)
    rows = []
    for key in args.models:
        for dtype in args.dtypes:
            rows += run(key, dirs[key], dtype, args.users, args.port)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0 if not any(r["errors"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
