"""Give freed memory back to the operating system now and then (glibc's ``malloc_trim``).

A server that answers many different requests frees large buffers (attention matrices, figures, masked-copy
batches) in many threads; glibc keeps the freed pages in its arenas, so the resident size keeps the high-water mark
of every arena. Trimming every half minute makes the resident size follow what is really in use. A no-op where
glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 30.0


def malloc_trim() -> bool:
    """Return free heap memory to the OS once; False where unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False


def start_trimming(interval_s: float = DEFAULT_INTERVAL_S) -> threading.Thread | None:
    """A daemon thread that calls :func:`malloc_trim` every ``interval_s`` seconds (None where unavailable)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # noqa: B018 - probe
    except (OSError, AttributeError):
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            malloc_trim()

    thread = threading.Thread(target=loop, name="xlm-malloc-trim", daemon=True)
    thread.start()
    return thread
