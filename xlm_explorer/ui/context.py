"""The app context every view shares: the workspace, the download store, the stop flags, the share targets."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..downloads import DownloadStore
from ..workspace import Workspace

#: How long a session keeps its last results (for redraws and clicks); gradio_client sessions never close.
RESULT_STATE_SECONDS = 1800


class Stopped(Exception):
    """Raised inside a run when its session pressed Stop."""


class RunRegistry:
    """Stop flags per browser session: the Stop button sets one, the running job's progress sees it."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def begin(self, session: str) -> threading.Event:
        with self._lock:
            flag = self._flags.setdefault(session, threading.Event())
            flag.clear()
            return flag

    def stop(self, session: str) -> None:
        with self._lock:
            flag = self._flags.get(session)
        if flag is not None:
            flag.set()

    def forget(self, session: str) -> None:
        with self._lock:
            self._flags.pop(session, None)


@dataclass
class ShareTarget:
    """What a share link can set on one view: its input components by URL parameter, and its run button."""

    tab: str
    inputs: dict[str, gr.components.Component]
    run_id: str
    subtab: str | None = None
    #: the view's own id (its download folder: what a lesson reads back as the numbers the view showed)
    view_id: str = ""
    #: the public endpoint its run button calls (``service.ENDPOINTS``): what the start-up warm-up computes
    endpoint: str = ""
    #: older links' URL names this view reads its own way: old name -> (input, text -> text)
    legacy: dict[str, Any] = field(default_factory=dict)
    #: the box showing the view's last copied link (closed when a link or a lesson step opens a view)
    link: Any = None


@dataclass
class AppContext:
    """Everything the views need: the workspace (models and caches), the download store, the stop flags."""

    ws: Workspace
    downloads: DownloadStore = field(default_factory=DownloadStore)
    runs: RunRegistry = field(default_factory=RunRegistry)
    #: view id -> what a share link may set there (filled as the views are built)
    share_targets: dict[str, "ShareTarget"] = field(default_factory=dict)
    #: tab id -> the gr.Tabs of its sub-tabs (Compare, Bias, Explain), so a link can open a sub-tab
    subtabs: dict[str, gr.Tabs] = field(default_factory=dict)
    #: the public endpoints registered so far (each once; the app checks them against ``service.ENDPOINTS``)
    api_names: list[str] = field(default_factory=list)
    #: the page's top-level tabs (set before the tabs are built)
    main_tabs: Any = None
    #: the Models tab's cards (model key -> its Markdown), refreshed with the status line once a model is loaded
    model_cards: dict[str, Any] = field(default_factory=dict)
    #: the lessons a link can open (``?lesson=<name>``): a ``lessons.LessonLibrary``
    lessons: Any = None
    #: seconds the last computed page run of each endpoint took here (a long one warns when it starts again)
    durations: dict[str, float] = field(default_factory=dict)
    #: the browser sessions in projector mode (their figures are drawn for a projected room)
    projector: set[str] = field(default_factory=set)

    #: every view's run events (``wiring.wire``): once the page is built, each is followed by a refresh of the status
    #: line and the Models tab's cards (``ui.app.wire_status``; the cards do not exist yet when the first views are wired)
    run_events: list[Any] = field(default_factory=list)

    def in_projector(self, session: str) -> bool:
        return session in self.projector

    def set_projector(self, session: str, on: bool) -> None:
        (self.projector.add if on else self.projector.discard)(session)

    @property
    def manager(self):  # noqa: ANN201 - the ModelManager
        return self.ws.manager
