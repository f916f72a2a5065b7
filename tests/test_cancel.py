"""A cancelled API call stops its work: one mechanism with the page's Stop (the progress step asks)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow

WORDS = "the doctor said that the nurse was tired after the long night shift at the city hospital".split()


def pairs_table(n: int) -> str:
    rows = ["sent_more\tsent_less"]
    for i in range(n):
        sentence = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(28))
        rows.append(f"{sentence} he {i}.\t{sentence} she {i}.")
    return "\n".join(rows)


def wait_started(job, timeout_s: float = 60.0) -> None:  # noqa: ANN001 - a gradio_client Job
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = job.status()
        if status.progress_data:
            return
        time.sleep(0.05)
    raise AssertionError(f"the job never reported progress: {job.status()}")


def test_a_cancelled_api_call_stops_computing_and_frees_the_heavy_lane(client) -> None:
    started = time.perf_counter()
    job = client.submit(pairs_table(100), "both", api_name="/pll_pairs")
    wait_started(job)
    running_from = time.process_time()  # the app runs in this process: its threads' CPU time counts here
    time.sleep(1.0)
    running_rate = time.process_time() - running_from  # CPU-s per second while the job computes (about 2 on 2 cores)
    cpu_before = time.process_time()
    assert job.cancel()
    time.sleep(3.0)  # this thread sleeps: what the process computes now is the cancelled job, if it goes on
    cpu_after_cancel = time.process_time() - cpu_before
    assert running_rate > 0.5, f"the job hardly computed ({running_rate:.2f} CPU-s/s): nothing to stop"
    # one progress step of work may finish after the cancel; three seconds of it may not
    assert cpu_after_cancel < 0.25 * 3.0 * running_rate, (
        f"{cpu_after_cancel:.2f} CPU-s in the 3 s after the cancel against {running_rate:.2f} CPU-s/s while running: "
        "the work went on")
    # the heavy lane is free: a heavy call sent after the cancel starts and finishes without waiting for the pairs
    t0 = time.perf_counter()
    result = client.predict("The cat sat on the [MASK].", "en-2048", "en", 1, "", api_name="/attribution")
    assert result["results"] and time.perf_counter() - t0 < 30
    print(f"cancel: {cpu_after_cancel:.2f} CPU-s in 3 s after the cancel, {running_rate:.2f} CPU-s/s while running; "
          f"{time.perf_counter() - started:.1f} s in all")
