"""A one-minute soak in the suite (after 40 s of warm-up): 8 API users over every endpoint and a browser visitor who leaves, on the tiny
models. Memory stays flat after warm-up, every request answers, and the visitor's download files are gone within a
minute of leaving (the 10-minute, 20-user run is ``python -m bench.soak``; numbers in docs/performance.md)."""

from __future__ import annotations

import os

import pytest

from bench.soak import soak

pytestmark = pytest.mark.slow

USERS = int(os.environ.get("XLM_EXPLORER_SOAK_USERS", "8"))
DURATION_S = float(os.environ.get("XLM_EXPLORER_SOAK_SECONDS", "100"))
WARMUP_S = 40.0  # every code path has run in every worker thread: the resident size has reached its working level


def test_memory_stays_flat_and_a_leaving_visitors_files_are_removed() -> None:
    from browser_utils import CHROMIUM, free_port

    visitors = 1 if CHROMIUM.is_file() else 0
    report = soak(USERS, DURATION_S, warmup_s=WARMUP_S, visitors=visitors, models=[], port=free_port(7883, 7890))
    print(f"\nsoak: {report.calls} calls, p95 {report.p95_s} s, RSS {report.rss_after_warmup_mb} -> {report.rss_end_mb} MiB "
          f"({report.rss_growth_pct}%), visitors {report.visitors}, files gone after {report.seconds_until_visitor_files_gone} s")
    assert report.errors == 0, report.error_messages
    assert report.calls >= USERS
    assert report.rss_growth_pct is not None and report.rss_growth_pct <= 10.0, report
    assert max((b for _, b in report.downloads_bytes), default=0) < 5_000_000  # a few runs' CSV/JSON, never piling up
    if visitors:
        assert report.visitors >= 1 and report.visitor_files_left_after_60s == 0, report
