"""Bounded load test: N concurrent gradio_client users call every public endpoint of XLM Explorer for a fixed
time, on 127.0.0.1 only. Reports latency percentiles per endpoint, errors, and the server's memory (RSS)
over time; exits non-zero on any error (or when memory grows past a bound after warm-up).

    python -m bench.load_test                         # 20 users, 60 s, app launched with --tiny-demo
    python -m bench.load_test --users 4 --duration 10 # a short run
    python -m bench.load_test --url http://127.0.0.1:7860/ --pid 1234   # an app already running

Bounded in every direction: users (<= 64), duration (<= 600 s), calls (--max-calls), per-call timeout.
Each user starts at a different endpoint and walks through all of them in turn, with the endpoints'
default (valid) arguments, the lighter overrides below, and a few varied texts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 7877
MAX_USERS = 64
MAX_DURATION_S = 600

#: Lighter arguments for endpoints whose defaults are a whole data set (a classroom runs small examples).
OVERRIDES: dict[str, dict[str, Any]] = {
    "/embeddings": {"max_items": 8},
    "/attention_average": {"per_language": 2},
}
#: Texts users type, rotated into the text parameter of endpoints that take a [MASK] sentence.
MASK_TEXTS = [
    "The capital of France is [MASK].",
    "The [MASK] sat on the [MASK].",
    "I drink a cup of [MASK] every morning.",
    "She went to the [MASK] to buy some bread.",
]
#: Endpoints that fill exactly one [MASK] (a text with two is answered with a clear refusal, not a load error).
ONE_MASK_ENDPOINTS = {"/fill_word"}


@dataclass
class Call:
    endpoint: str
    user: int
    started: float  # seconds since the start of the run
    seconds: float
    ok: bool
    error: str = ""


@dataclass
class Report:
    url: str
    users: int
    duration_s: float
    warmup_s: float
    calls: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    calls_per_s: float = 0.0
    latency_s: dict[str, float] = field(default_factory=dict)
    per_endpoint: dict[str, dict[str, float]] = field(default_factory=dict)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)
    rss_start_mb: float | None = None
    rss_after_warmup_mb: float | None = None
    rss_end_mb: float | None = None
    rss_max_mb: float | None = None
    rss_growth_after_warmup_mb: float | None = None
    rss_slope_mb_per_min: float | None = None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process and its children (MiB), from /proc; None where /proc is missing."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    found = False
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
                    found = True
        except OSError:
            continue
    return total if found else None


#: docs/api.md: its one documented call per endpoint (the ``data`` each line of its curl block posts).
API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def documented_examples(doc: Path = API_DOC) -> dict[str, dict[str, Any]]:
    """``{endpoint: data}`` from docs/api.md's curl block: a well-formed call of every endpoint (tests post each)."""
    block = doc.read_text(encoding="utf-8").split("## Plain HTTP (curl)", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    examples = {}
    for line in block.strip().splitlines():
        name, data = line.split(None, 1)
        examples[name] = json.loads(data.replace("\t", "\\t"))
    return examples


def endpoint_arguments(api: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """Argument lists per public endpoint: the documented call (docs/api.md) over the declared defaults, the
    overrides, and rotated [MASK] texts."""
    plans: dict[str, list[list[Any]]] = {}
    examples = documented_examples()
    for name, endpoint in api["named_endpoints"].items():
        parameters = endpoint["parameters"]
        example = examples.get(name.lstrip("/"), {})
        base = {p["parameter_name"]: example.get(p["parameter_name"], p.get("parameter_default")) for p in parameters}
        base.update({k: v for k, v in OVERRIDES.get(name, {}).items() if k in base})
        variants = [dict(base)]
        text_name = next((p["parameter_name"] for p in parameters if p["parameter_name"] == "text"), None)
        if text_name and isinstance(base.get(text_name), str) and "[MASK]" in base[text_name]:
            texts = [t for t in MASK_TEXTS if name not in ONE_MASK_ENDPOINTS or t.count("[MASK]") == 1]
            variants += [{**base, text_name: text} for text in texts]
        plans[name] = [[variant[p["parameter_name"]] for p in parameters] for variant in variants]
    return plans


def wait_for_server(url: str, timeout_s: float = 180.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} before it served")
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def launch_app(port: int, models: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python app.py`` on 127.0.0.1 (tiny checkpoints unless ``--model`` sources are given); ``env``: variables for
    the app's process alone (this process's environment is left as it is)."""
    command = [sys.executable, str(REPO_ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    if models:
        for item in models:
            command += ["--model", item]
    else:
        command += ["--tiny-demo", "--tiny-dir", str(Path(tempfile.gettempdir()) / "xlm-explorer-load-tiny")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = log_path.open("w")
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def run_load(
    url: str,
    users: int,
    duration_s: float,
    warmup_s: float,
    pid: int | None = None,
    max_calls: int = 20_000,
    call_timeout_s: float = 300.0,
    endpoints: list[str] | None = None,
    single_pass: bool = False,
) -> Report:
    """Drive ``users`` concurrent clients for ``duration_s``; no new call starts after that."""
    from gradio_client import Client

    assert urlsplit(url).hostname == "127.0.0.1", "the load test only runs against 127.0.0.1"
    users = max(1, min(users, MAX_USERS))
    duration_s = max(1.0, min(duration_s, MAX_DURATION_S))
    probe = Client(url, verbose=False)
    plans = endpoint_arguments(probe.view_api(return_format="dict", print_info=False))
    names = sorted(name for name in plans if endpoints is None or name in endpoints)
    if not names:
        raise ValueError("no endpoint to call")
    if single_pass:
        max_calls = min(max_calls, len(names))
    calls: list[Call] = []
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + duration_s
    done = threading.Event()
    report = Report(url=url, users=users, duration_s=duration_s, warmup_s=warmup_s)

    def sample_memory() -> None:
        while not done.is_set():
            if pid is not None:
                value = rss_mb(pid)
                if value is not None:
                    report.rss_mb.append((round(time.monotonic() - start, 2), round(value, 1)))
            done.wait(1.0)

    def user(index: int) -> None:
        client = Client(url, verbose=False)
        step = index  # every user starts at a different endpoint
        while time.monotonic() < stop_at:
            with lock:
                if len(calls) >= max_calls:
                    return
            name = names[step % len(names)]
            variants = plans[name]
            arguments = variants[(step // len(names) + index) % len(variants)]
            step += 1
            began = time.monotonic()
            try:
                job = client.submit(*arguments, api_name=name)
                job.result(timeout=call_timeout_s)
                call = Call(name, index, began - start, time.monotonic() - began, True)
            except Exception as error:  # noqa: BLE001 -- every failure is a finding: recorded, the user goes on
                call = Call(
                    name,
                    index,
                    began - start,
                    time.monotonic() - began,
                    False,
                    f"{type(error).__name__}: {error}"[:300],
                )
            with lock:
                calls.append(call)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration_s + call_timeout_s + 30)
    elapsed = time.monotonic() - start
    if pid is not None:
        value = rss_mb(pid)
        if value is not None:
            report.rss_mb.append((round(elapsed, 2), round(value, 1)))
    done.set()
    sampler.join(timeout=5)
    summarise(report, calls, elapsed)
    return report


def summarise(report: Report, calls: list[Call], elapsed: float) -> None:
    report.calls = len(calls)
    failed = [c for c in calls if not c.ok]
    report.errors = len(failed)
    report.error_messages = sorted({f"{c.endpoint}: {c.error}" for c in failed})[:20]
    report.calls_per_s = round(len(calls) / elapsed, 2) if elapsed else 0.0
    measured = [c for c in calls if c.ok and c.started >= report.warmup_s] or [c for c in calls if c.ok]
    latencies = [c.seconds for c in measured]
    report.latency_s = {
        "p50": round(percentile(latencies, 50), 3),
        "p95": round(percentile(latencies, 95), 3),
        "max": round(max(latencies), 3) if latencies else math.nan,
        "mean": round(statistics.fmean(latencies), 3) if latencies else math.nan,
    }
    for name in sorted({c.endpoint for c in calls}):
        mine = [c.seconds for c in measured if c.endpoint == name]
        report.per_endpoint[name] = {
            "calls": sum(1 for c in calls if c.endpoint == name),
            "errors": sum(1 for c in failed if c.endpoint == name),
            "p50_s": round(percentile(mine, 50), 3),
            "p95_s": round(percentile(mine, 95), 3),
        }
    samples = report.rss_mb
    if samples:
        report.rss_start_mb = samples[0][1]
        report.rss_end_mb = samples[-1][1]
        report.rss_max_mb = max(v for _, v in samples)
        after = [(t, v) for t, v in samples if t >= report.warmup_s]
        if len(after) >= 2:
            report.rss_after_warmup_mb = after[0][1]
            tail = max(1, len(after) // 10)
            report.rss_growth_after_warmup_mb = round(
                statistics.median(v for _, v in after[-tail:]) - statistics.median(v for _, v in after[:tail]), 1
            )
            ts = [t for t, _ in after]
            vs = [v for _, v in after]
            mean_t, mean_v = statistics.fmean(ts), statistics.fmean(vs)
            var_t = sum((t - mean_t) ** 2 for t in ts)
            if var_t > 0:
                slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(ts, vs)) / var_t
                report.rss_slope_mb_per_min = round(slope * 60, 2)


def print_report(report: Report) -> None:
    print(f"{report.users} users x {report.duration_s:.0f} s against {report.url}")
    print(f"calls {report.calls} ({report.calls_per_s}/s), errors {report.errors}")
    print("latency after warm-up (s): " + ", ".join(f"{k} {v}" for k, v in report.latency_s.items()))
    for name, row in report.per_endpoint.items():
        print(
            f"  {name:<24} calls {row['calls']:>4}  errors {row['errors']:>3}  p50 {row['p50_s']:>7}  p95 {row['p95_s']:>7}"
        )
    if report.rss_mb:
        print(
            f"server RSS (MiB): start {report.rss_start_mb}, after warm-up {report.rss_after_warmup_mb}, "
            f"end {report.rss_end_mb}, max {report.rss_max_mb}; growth after warm-up {report.rss_growth_after_warmup_mb}, "
            f"slope {report.rss_slope_mb_per_min} MiB/min"
        )
    for message in report.error_messages:
        print("  error:", message)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an app already running on 127.0.0.1 (default: launch one)")
    parser.add_argument("--pid", type=int, help="the server's process id, for RSS, with --url")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port of the launched app")
    parser.add_argument(
        "--model", action="append", default=[], help="KEY=PATH for the launched app (default --tiny-demo)"
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds during which calls start")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds left out of latency and memory trend")
    parser.add_argument("--max-calls", type=int, default=20_000)
    parser.add_argument(
        "--no-warm-calls",
        dest="warm_calls",
        action="store_false",
        help="skip the one-call-per-endpoint pass before the clock starts",
    )
    parser.add_argument("--endpoint", action="append", help="only these endpoints (e.g. /fill_mask); repeatable")
    parser.add_argument("--max-rss-growth-mb", type=float, default=None, help="fail when RSS grows more after warm-up")
    parser.add_argument("--json", type=Path, help="write the full report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    process = None
    url, pid = args.url, args.pid
    log_path = Path(tempfile.gettempdir()) / f"xlm-explorer-load-{args.port}.log"
    try:
        if url is None:
            process = launch_app(args.port, args.model, log_path)
            url, pid = f"http://127.0.0.1:{args.port}/", process.pid
            wait_for_server(url, process=process)
        if args.warm_calls:
            # every endpoint once, one user, before the clock starts: first loads and numba compilation are
            # start-up costs, not load behaviour (reported separately)
            warm = run_load(
                url,
                1,
                MAX_DURATION_S,
                0,
                pid=pid,
                max_calls=len(args.endpoint or []) or 10**6,
                endpoints=args.endpoint,
                single_pass=True,
            )
            print(f"warm-up pass: {warm.calls} calls, {warm.errors} errors, RSS after {warm.rss_end_mb} MiB")
        report = run_load(
            url, args.users, args.duration, args.warmup, pid=pid, max_calls=args.max_calls, endpoints=args.endpoint
        )
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(report), indent=1))
    failed = report.errors > 0 or report.calls == 0
    growth = report.rss_growth_after_warmup_mb
    if args.max_rss_growth_mb is not None and growth is not None and growth > args.max_rss_growth_mb:
        print(f"memory grew {growth} MiB after warm-up (bound {args.max_rss_growth_mb})")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
