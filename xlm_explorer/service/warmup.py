"""The page's defaults computed in the background after start-up, so that a class's first click answers at once.

A :class:`WarmUp` runs a list of :class:`WarmJob` (an endpoint and the inputs the page starts with) one after the
other in a daemon thread, through the endpoints themselves: what it computes lands where a visitor's request looks
(``ws.answers`` for the heavy answers, the embedding sets, the token indexes), so the visitor who asks the same
gets it from memory, or, while it is still being computed, waits for that one run (single flight).

It gives way: at each progress step of its run it pauses while any visitor's request is computing
(:meth:`Workspace.visitors_computing`: requests waiting for the warm-up's own work do not count), so a visitor
never shares the two cores with it; it never pauses holding a model's lock (a visitor would wait for it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..workspace import Workspace

log = logging.getLogger(__name__)

#: Turn the start-up warm-up off with ``XLM_EXPLORER_WARM_UP=0`` (or ``python app.py --no-warm-up``).
ENV_WARM_UP = "XLM_EXPLORER_WARM_UP"


def warm_up_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the app starts a warm-up (it does unless ``XLM_EXPLORER_WARM_UP`` is ``0``, ``false`` or ``no``)."""
    return environ.get(ENV_WARM_UP, "1").strip().lower() not in ("0", "false", "no", "off")

#: How long the machine must have been free of visitors' computations before the warm-up goes on (seconds).
IDLE_S = 1.0
#: The longest one pause lasts: past it the warm-up goes on anyway (a visitor it cannot see waiting for it).
MAX_PAUSE_S = 120.0


class WarmUpStopped(Exception):
    """Raised inside a warm-up run when the warm-up was stopped (the app is closing)."""


@dataclass(frozen=True)
class WarmJob:
    """One default to compute: a name for the status line, the endpoint, and its inputs (as the page starts)."""

    name: str
    endpoint: Callable[..., Any]
    inputs: Mapping[str, Any]


@dataclass
class WarmUp:
    """The jobs, run in order in the background; :attr:`done` / :attr:`failed` say how each went."""

    ws: Workspace
    jobs: list[WarmJob]
    idle_s: float = IDLE_S
    max_pause_s: float = MAX_PAUSE_S
    #: name -> seconds it took (computing, pauses included)
    done: dict[str, float] = field(default_factory=dict)
    #: name -> the message of the error it ended with (a model that does not load, a refused default)
    failed: dict[str, str] = field(default_factory=dict)
    #: seconds spent paused for visitors
    paused_s: float = 0.0
    current: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return len(self.done) + len(self.failed) == len(self.jobs)

    def start(self) -> "WarmUp":
        """Run the jobs in a daemon thread; the workspace knows it (``ws.warm_up``) for the status line."""
        self.ws.warm_up = self
        self._thread = threading.Thread(target=self.run, name="xlm-warm-up", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop at the next progress step and wait (up to ``timeout``) for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """The models first (a load holds a lock visitors wait on, so it does not pause; when one does not load,
        nothing is prepared), then every job in order (each failure recorded, the next still runs), giving way to
        visitors throughout."""
        self.current = "loading the models"
        not_loaded = self.ws.manager.preload()
        if not_loaded:  # every job would try the load again (and log it again): a visitor's click still will
            log.warning("warm-up: nothing prepared, %s did not load: %s", ", ".join(not_loaded), " ".join(not_loaded.values()))
            self.failed.update({job.name: f"{', '.join(not_loaded)} did not load" for job in self.jobs})
            self.current = ""
            return
        for job in self.jobs:
            if self._stop.is_set():
                return
            self.current = job.name
            began = time.perf_counter()
            try:
                self._give_way()
                job.endpoint(self.ws, **job.inputs, progress=self._progress)
                self.done[job.name] = time.perf_counter() - began
                log.info("warm-up: %s ready in %.1f s", job.name, self.done[job.name])
            except WarmUpStopped:
                return
            except Exception as error:  # noqa: BLE001 - a default that fails here fails for a visitor too, with its message
                self.failed[job.name] = str(error) or type(error).__name__
                log.warning("warm-up: %s failed: %s", job.name, self.failed[job.name])
        self.current = ""

    def _progress(self, _fraction: float, _message: str) -> None:
        if self._stop.is_set():
            raise WarmUpStopped
        if not self._holds_a_model():
            self._give_way()

    def _holds_a_model(self) -> bool:
        return any(m.lock._is_owned() for m in self.ws.manager.loaded_models())  # noqa: SLF001 - RLock ownership

    def _give_way(self) -> None:
        """Return at once when no visitor's request computes; else once none has for ``idle_s`` (at most
        ``max_pause_s``)."""
        if not self.ws.visitors_computing():
            return
        began = time.perf_counter()
        quiet_since: float | None = None
        while not self._stop.is_set() and time.perf_counter() - began < self.max_pause_s:
            now = time.perf_counter()
            if self.ws.visitors_computing():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= self.idle_s:
                break
            time.sleep(0.05)
        self.paused_s += time.perf_counter() - began
        if self._stop.is_set():
            raise WarmUpStopped

    def status_line(self) -> str:
        """What the page says about it (plain text; empty once every job is done)."""
        if self.finished and not self.failed:
            return ""
        if self.finished:
            missed = "; ".join(f"{name} ({reason[:80]})" for name, reason in self.failed.items())
            return f"Background preparation ended: {len(self.done)} of {len(self.jobs)} defaults ready; not prepared: {missed}."
        return (f"Preparing the defaults in the background: {len(self.done)} of {len(self.jobs)} ready "
                f"(now: {self.current or 'starting'}); it pauses while you run something.")
