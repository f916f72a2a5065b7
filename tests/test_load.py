"""A classroom on 2 cores: concurrent gradio_client users over every tab's API get answers, no errors; the
queue and the per-model concurrency limit keep model work serialised. The full 20-user, 60-second run is
``python -m bench.load_test`` (numbers in README.md, Load test); this is its short variant."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bench.load_test import endpoint_arguments, percentile, run_load
from xlm_explorer.models import ModelManager

USERS = int(os.environ.get("XLM_EXPLORER_LOAD_USERS", "4"))
DURATION_S = float(os.environ.get("XLM_EXPLORER_LOAD_SECONDS", "10"))


@pytest.mark.slow  # builds the whole page: over 3 s
def test_api_callers_and_page_users_queue_in_separate_groups_and_the_queue_is_bounded(manager: ModelManager) -> None:
    """Scripts calling the API never hold up a person on the page: every public endpoint runs in an API group,
    every model event of the page in a page group; heavy work runs one at a time; the queue is bounded."""
    from xlm_explorer.ui.app import QUEUE_MAX_SIZE, build_demo
    from xlm_explorer.ui.wiring import API_HEAVY, API_QUICK, PAGE_HEAVY, PAGE_QUICK

    demo = build_demo(manager)
    public = [fn for fn in demo.fns.values() if fn.api_name and str(getattr(fn, "api_visibility", "public")) == "public"]
    assert public, "no public endpoint"
    api_groups = {API_QUICK["concurrency_id"], API_HEAVY["concurrency_id"]}
    page_groups = {PAGE_QUICK["concurrency_id"], PAGE_HEAVY["concurrency_id"]}
    assert {fn.concurrency_id for fn in public} <= api_groups and all(fn.queue for fn in public)
    page_model_events = [fn for fn in demo.fns.values() if fn.concurrency_id in page_groups]
    assert page_model_events and all(str(fn.api_visibility) == "private" for fn in page_model_events)
    for group in (API_HEAVY, PAGE_HEAVY):
        assert {fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == group["concurrency_id"]} == {1}
    heavy = {fn.api_name for fn in public if fn.concurrency_id == API_HEAVY["concurrency_id"]}
    assert {"embeddings", "pll_pairs", "bias_probe", "layer_similarity", "attention_average"} <= heavy
    assert demo._queue.max_size == QUEUE_MAX_SIZE >= 20, "the queue must hold a classroom, and be bounded"


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 50) == 50.0
    assert percentile([3.0], 95) == 3.0


def test_load_plans_use_valid_defaults_for_every_endpoint(client: Any) -> None:
    api = client.view_api(return_format="dict", print_info=False)
    plans = endpoint_arguments(api)
    assert set(plans) == set(api["named_endpoints"])
    for name, variants in plans.items():
        assert all(len(v) == len(api["named_endpoints"][name]["parameters"]) for v in variants)


@pytest.mark.slow
def test_concurrent_users_over_every_tab_get_answers_and_memory_stays_bounded(app_url: str, client: Any) -> None:
    # warm-up: every endpoint once (first loads, numba compilation), left out of the numbers
    endpoints = endpoint_arguments(client.view_api(return_format="dict", print_info=False))
    warm = run_load(app_url, users=1, duration_s=600, warmup_s=0, single_pass=True)
    assert warm.errors == 0, warm.error_messages
    assert warm.calls == len(endpoints)
    report = run_load(app_url, users=USERS, duration_s=DURATION_S, warmup_s=0, pid=os.getpid())
    print(
        f"\nload: {report.calls} calls by {USERS} users in {DURATION_S:.0f} s, p95 {report.latency_s['p95']} s, "
        f"RSS {report.rss_start_mb} -> {report.rss_end_mb} MiB"
    )
    assert report.errors == 0, report.error_messages
    assert report.calls >= USERS, f"only {report.calls} calls finished"
    assert len(report.per_endpoint) >= min(USERS, len(endpoints))  # each user starts at a different endpoint
    assert report.rss_start_mb is not None and report.rss_end_mb is not None
    growth = report.rss_end_mb - report.rss_start_mb
    assert growth < 300, f"the server grew {growth:.0f} MiB during a short warm run (leak?)"
