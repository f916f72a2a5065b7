"""Soak: simulated users over every public endpoint for minutes, plus browser visitors whose download files must
disappear when they leave. Loopback only, bounded in time and in calls; it stops by itself.

    python -m bench.soak                                  # 20 API users, 10 minutes, tiny checkpoints
    python -m bench.soak --users 20 --duration 180 --model en-2048=DIR --model 100-1280=DIR   # full-size models
    python -m bench.soak --users 8 --duration 60 --visitors 2   # the short variant the test suite runs

Reports the server's RSS after warm-up and at the end (growth in % and MiB/min), the download folder and gradio's
file cache over time, and how long after a visitor left its files were gone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load_test import launch_app, run_load, wait_for_server


def robust_growth_pct(samples: list[tuple[float, float]], warmup_s: float) -> float | None:
    """RSS growth after warm-up, robust to the transient peaks of single requests: the median of the last third of
    the samples against the median of the first third (samples taken after ``warmup_s``)."""
    values = [mb for t, mb in samples if t >= warmup_s]
    if len(values) < 6:
        return None
    third = len(values) // 3
    first, last = sorted(values[:third])[third // 2], sorted(values[-third:])[third // 2]
    return round(100 * (last - first) / first, 1)


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` now; files and folders removed while it walks count as gone (the app
    deletes a session's folder whenever the session ends, so the walk races with it)."""
    total = 0
    for root, _dirs, files in os.walk(path):  # os.walk skips folders that vanish; rglob raised
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except FileNotFoundError:
                pass
    return total


@dataclass
class SoakReport:
    users: int
    duration_s: float
    calls: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    p95_s: float | None = None
    rss_after_warmup_mb: float | None = None
    rss_end_mb: float | None = None
    #: median of the last third of the RSS samples after warm-up against the median of the first third
    rss_growth_pct: float | None = None
    rss_mb: list[tuple[float, float]] = field(default_factory=list)
    downloads_bytes: list[tuple[float, int]] = field(default_factory=list)
    gradio_cache_bytes: list[tuple[float, int]] = field(default_factory=list)
    visitors: int = 0
    visitor_files_left_after_60s: int = 0
    seconds_until_visitor_files_gone: list[float] = field(default_factory=list)


def visit(url: str, downloads: Path, report: SoakReport, stop_at: float) -> None:
    """A person on the page: runs the fill-mask view (which writes its downloads), leaves, and we time how long
    until that session's files are gone."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return
    chromium = Path(os.environ.get("XLM_EXPLORER_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.is_file():
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        while time.monotonic() < stop_at:
            before = {p for p in downloads.iterdir()} if downloads.exists() else set()
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
            page.goto(url, wait_until="load")
            page.wait_for_selector("#fill-mask-run", timeout=60_000)
            page.locator("#fill-mask-run").click()
            page.wait_for_selector(".xlm-downloads a", timeout=120_000)
            mine = ({p for p in downloads.iterdir()} if downloads.exists() else set()) - before
            page.close()
            if not mine:
                report.error_messages.append("a visitor's run wrote no download folder")
                report.errors += 1
            left = time.monotonic()
            report.visitors += 1
            while any(p.exists() for p in mine) and time.monotonic() - left < 60:
                time.sleep(0.5)
            if any(p.exists() for p in mine):
                report.visitor_files_left_after_60s += 1
            else:
                report.seconds_until_visitor_files_gone.append(round(time.monotonic() - left, 1))
        browser.close()


def soak(users: int, duration_s: float, warmup_s: float, visitors: int, models: list[str], port: int) -> SoakReport:
    work = Path(tempfile.mkdtemp(prefix="xlm-soak-"))
    downloads, gradio_cache = work / "downloads", work / "gradio"
    # the app's own folders, for its process alone: set here, they moved the gradio upload folder of any app the
    # calling process serves (a test session's: its later uploads were refused as "not uploaded by a user")
    process = launch_app(port, models, work / "server.log",
                         env={"XLM_EXPLORER_DOWNLOADS_DIR": str(downloads), "GRADIO_TEMP_DIR": str(gradio_cache)})
    url = f"http://127.0.0.1:{port}/"
    report = SoakReport(users=users, duration_s=duration_s)
    try:
        wait_for_server(url, process=process)
        warm = run_load(url, users=1, duration_s=600, warmup_s=0, single_pass=True)  # first loads, numba
        report.error_messages += warm.error_messages
        start = time.monotonic()
        stop_at = start + duration_s
        done = threading.Event()

        def watch_disk() -> None:
            while not done.is_set():
                t = round(time.monotonic() - start, 1)
                report.downloads_bytes.append((t, folder_bytes(downloads)))
                report.gradio_cache_bytes.append((t, folder_bytes(gradio_cache)))
                done.wait(5.0)

        watchers = [threading.Thread(target=watch_disk, daemon=True)]
        watchers += [threading.Thread(target=visit, args=(url, downloads, report, stop_at), daemon=True) for _ in range(visitors)]
        for thread in watchers:
            thread.start()
        load = run_load(url, users=users, duration_s=duration_s, warmup_s=warmup_s, pid=process.pid)
        done.set()
        for thread in watchers[1:]:
            thread.join(timeout=180)
        report.calls, report.errors = load.calls, load.errors
        report.error_messages += load.error_messages[:10]
        report.p95_s = load.latency_s.get("p95")
        report.rss_after_warmup_mb, report.rss_end_mb = load.rss_after_warmup_mb, load.rss_end_mb
        report.rss_mb = load.rss_mb
        report.rss_growth_pct = robust_growth_pct(load.rss_mb, warmup_s)
    finally:
        process.terminate()
        process.wait(timeout=60)
        if report.errors or report.error_messages:  # keep the server's log (its tracebacks) next to the report
            kept = Path(tempfile.gettempdir()) / f"xlm-soak-server-{port}.log"
            shutil.copyfile(work / "server.log", kept)
            print(f"errors: the server's log is kept at {kept}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (at most 600)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of load before the RSS baseline")
    parser.add_argument("--visitors", type=int, default=1, help="browser visitors (Debian chromium) during the run")
    parser.add_argument("--model", action="append", default=[], metavar="KEY=DIR", help="full-size checkpoints (default: tiny)")
    parser.add_argument("--port", type=int, default=7879)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report = soak(args.users, min(args.duration, 600.0), args.warmup, args.visitors, args.model, args.port)
    data: dict[str, Any] = asdict(report)
    print(json.dumps({k: v for k, v in data.items() if k not in ("downloads_bytes", "gradio_cache_bytes", "rss_mb")}, indent=1))
    print("server RSS (s, MiB):", report.rss_mb[::10])
    print("downloads folder (s, bytes):", report.downloads_bytes[::6])
    print("gradio file cache (s, bytes):", report.gradio_cache_bytes[::6])
    if args.json:
        args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return 0 if report.errors == 0 and report.visitor_files_left_after_60s == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
