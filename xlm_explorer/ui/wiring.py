"""The "compute then draw" wiring: page events and API twins, redraws, Stop, the concurrency lanes.

Each runnable view has a page event (private: it calls the service, draws the results, shows notices inline
and progress on the results, disables its button and can be stopped) and an API twin (public, named after
the service function: it returns the JSON payload, with plain-text error messages). The two run in separate
concurrency groups, so scripts calling the API never starve the people on the page.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio.components.api_component import Api

from ..service import Answer, Endpoint
from ..views.style import fit_figure
from .context import RESULT_STATE_SECONDS, AppContext, Stopped
from .messages import notices_html, toast_text, user_message
from .share import wire_share
from .widgets import ViewControls, api_payload, downloads_list

#: Concurrency groups. Quick events (one forward pass) may run many at once: they meet in the forward cache's
#: batcher, which runs the requests for one model that arrive together as one padded batch (the model itself
#: runs one batch at a time), so the limit is how many a batch can gather. Heavy ones (whole data sets, thousands
#: of masked copies) run one at a time. The page and the API have groups of their own: a queue of API calls never
#: holds up a person on the page.
PAGE_QUICK = {"concurrency_id": "page-quick", "concurrency_limit": 32}


PAGE_HEAVY = {"concurrency_id": "page-heavy", "concurrency_limit": 1}


API_QUICK = {"concurrency_id": "api-quick", "concurrency_limit": 32}


API_HEAVY = {"concurrency_id": "api-heavy", "concurrency_limit": 1}


MODEL_GROUPS = frozenset(g["concurrency_id"] for g in (PAGE_QUICK, PAGE_HEAVY, API_QUICK, API_HEAVY))


def reveal(outputs: Sequence[Any], values: list[Any], projector: bool = False) -> list[Any]:
    """Tables and download lists start hidden (an empty table shows meaningless headers): a value for one shows it.
    Every figure passes through the one layout rule (``fit_figure``: no text over text, phone to projector; drawn
    for a projected room when the session is in projector mode)."""
    shown = []
    for component, value in zip(outputs, values):
        if isinstance(value, dict) and "value" in value:
            value = {**value, "value": fit_figure(value["value"], projector)}
        else:
            value = fit_figure(value, projector)
        if isinstance(component, (gr.Dataframe, gr.File)) and value is not None and not isinstance(value, dict):
            value = gr.update(value=value, visible=True)
        shown.append(value)
    return shown + list(values[len(shown):])


def _parameters(endpoint: Endpoint) -> list[inspect.Parameter]:
    """The endpoint's parameters as a handler's signature names them: a required one without a default, the others
    defaulting to None (gradio reports them as optional to every client; None means the declared default)."""
    return [inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              default=inspect.Parameter.empty if p.required else None) for p in endpoint.params]


#: What the status line says after Stop (the results of the previous run, if any, stay in view).
STOPPED_MESSAGE = "Stopped before it finished."


def event_cancelled() -> bool:
    """Whether the queue event this thread works for was cancelled (``job.cancel()``, ``/cancel``, the page's Stop)
    or has ended: gradio drops a cancelled event's id from its queue, but cannot stop the thread running it, so the
    work asks at every progress step. False outside a queued event (a direct call)."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return False
    return event_id not in queue.event_ids_to_events


def stoppable(progress: Any, flag: Any = None, warning: str = "") -> Callable[[float, str], None]:
    """The one cancellation rule, for the page and the API: ``progress(fraction, message)`` that raises
    :class:`Stopped` when the session pressed Stop or left (``flag``) or the event was cancelled. The fraction shown
    never goes back (a later phase that restarts its own count does not make the bar jump down). ``warning`` (a long
    run's notice) goes before every message."""
    shown = [0.0]
    started = time.perf_counter()

    def report(fraction: float, message: str) -> None:
        if (flag is not None and flag.is_set()) or event_cancelled():
            raise Stopped()
        shown[0] = max(shown[0], min(1.0, float(fraction)))
        words = with_time_left(message, shown[0], time.perf_counter() - started)
        progress(shown[0], desc=f"{warning} · {words}" if warning else words)

    return report


#: A view whose last run here took longer than this says so when it starts again (unless its answer is kept).
LONG_RUN_S = 60.0


def long_run_warning(ctx: AppContext, service_fn: Endpoint, values: Sequence[Any], smaller: str) -> str:
    """``Long run: about 2 min here last time; for a shorter one, <smaller>`` when this view's last computed run
    took over :data:`LONG_RUN_S` on this machine and this request's answer is not kept; else empty."""
    if service_fn.is_kept(ctx.ws, *values):
        return ""
    last = ctx.durations.get(service_fn.__name__, 0.0)
    if last <= LONG_RUN_S:
        return ""
    took = f"{last / 60:.0f} min" if last >= 90 else f"{last:.0f} s"
    return f"Long run: about {took} here last time" + (f"; for a shorter one, {smaller}" if smaller else "")


OWN_ESTIMATE = re.compile(r",? about [\d.,]+ (?:s|min) left")


def with_time_left(message: str, fraction: float, elapsed: float) -> str:
    """The one time-left estimate of a run: from the fraction of the *whole* run done (every model counted) and the
    time it took, replacing any estimate a part made of itself; none before 5% and 2 s (too early to tell)."""
    message = OWN_ESTIMATE.sub("", message)
    if not 0.05 <= fraction < 1.0 or elapsed < 2.0:
        return message
    left = elapsed * (1.0 - fraction) / fraction
    return f"{message} · about {left:.0f} s left" if left < 90 else f"{message} · about {left / 60:.0f} min left"


def api_handler(ctx: AppContext, service_fn: Endpoint):
    """The public API of an endpoint: the record checks the values as the client sent them (no component converts
    them first) and fills in the declared defaults; the service's payload out, errors as plain-text ``gr.Error``; a
    cancelled call stops at its next progress step."""

    params = _parameters(service_fn)

    def handler(*args: Any) -> Any:  # gradio passes the inputs, then the Progress it inserted
        values, progress = list(args[: len(params)]), args[len(params)]
        try:
            with ctx.ws.serving():
                answer = service_fn(ctx.ws, *values, progress=stoppable(progress))
        except Stopped:
            raise gr.Error("Cancelled before it finished.", print_exception=False) from None
        except Exception as error:  # never a stack trace to the client; the server keeps serving
            raise gr.Error(user_message(error), print_exception=False) from None
        return answer.payload

    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*params, inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress())]
    )
    handler.__name__ = service_fn.__name__
    handler.__doc__ = service_fn.__doc__
    return handler


def page_handler(
    ctx: AppContext,
    service_fn: Endpoint,
    render: Callable[[Answer, str], list[Any]],
    outputs: Sequence[Any] = (),
    smaller: str = "",
):
    """The page event of an endpoint: service call with progress and Stop, then ``render(answer, session)``
    (the view's values); returns ``[answer, notices html, *rendered]``. Errors become an escaped toast. A view whose
    last run took over a minute says so in its progress words from the start, with ``smaller`` (how to ask for less)."""

    params = _parameters(service_fn)

    def handler(*args: Any) -> list[Any]:  # gradio passes the inputs, then the Progress and Request it inserted
        values, progress, request = args[: len(params)], args[len(params)], args[len(params) + 1]
        session = getattr(request, "session_hash", None) or "anonymous"
        flag = ctx.runs.begin(session)
        try:
            warning = long_run_warning(ctx, service_fn, values, smaller)
            report = stoppable(progress, flag, warning)
            if warning:
                report(0.0, "starting")
            began = time.perf_counter()
            with ctx.ws.serving():  # counted: a background warm-up gives way while it computes
                answer = service_fn(ctx.ws, *values, progress=report)
            if time.perf_counter() - began > 1.0:  # computed, not answered from memory
                ctx.durations[service_fn.__name__] = time.perf_counter() - began
            shown = reveal(outputs, render(answer, session), session in ctx.projector)
            return [answer, notices_html(answer.notices), *shown]
        except Stopped:  # a neutral state, not a failure: the last results stay, the status line says so
            return [gr.skip(), notices_html([STOPPED_MESSAGE], kind="stopped"), *[gr.skip()] * len(outputs)]
        except Exception as error:  # refused input: the message in a toast and on the status line; the event
            message = user_message(error)  # itself succeeds, so the button comes back and the view stays usable
            gr.Warning(toast_text(message))
            return [gr.skip(), notices_html([message], kind="error"), *[gr.skip()] * len(outputs)]

    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            *[p.replace(default=inspect.Parameter.empty) for p in params],
            inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()),
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request),
        ]
    )
    handler.__annotations__ = {"request": gr.Request}
    handler.__name__ = f"page_{service_fn.__name__}"
    return handler


def redraw_handler(
    draw: Callable[..., list[Any]], n_outputs: int, n_controls: int, with_session: bool = False, outputs: Sequence[Any] = (),
    projector: Callable[[str], bool] = lambda _session: False,
):
    """A no-model redraw from the last answer in the session's state (a settings change):
    ``draw(answer, [session,] *controls)``; nothing to draw yet -> the outputs stay as they are."""

    def handler(*args: Any) -> list[Any]:  # the state, the controls, then the Request gradio inserted
        answer, controls, request = args[0], args[1 : 1 + n_controls], args[1 + n_controls]
        if answer is None:
            return gr.skip() if n_outputs == 1 else [gr.skip()] * n_outputs
        session = getattr(request, "session_hash", None) or "anonymous"
        try:
            drawn = draw(answer, session, *controls) if with_session else draw(answer, *controls)
            values = reveal(outputs, drawn, projector(session))
            return values[0] if n_outputs == 1 else values  # gradio reads a one-output handler's list as the value
        except Exception as error:
            raise gr.Error(toast_text(user_message(error)), print_exception=False) from None

    params = [inspect.Parameter(f"value{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for i in range(1 + n_controls)]
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    handler.__signature__ = inspect.Signature([*params, request])  # type: ignore[attr-defined]
    handler.__annotations__ = {"request": gr.Request}
    return handler


@dataclass
class Redraw:
    """A part of a view drawn from the last answer and some controls, without the model:
    ``draw(answer, *control values) -> values of outputs``. It runs after every run and whenever one of the
    controls changes (live re-render)."""

    draw: Callable[..., list[Any]]
    controls: list[gr.components.Component]
    outputs: list[gr.components.Component]
    #: the control events that redraw (default: ``change``)
    events: tuple[str, ...] = ("change",)
    #: a slow redraw (a UMAP projection) goes through the queue and shows progress on its first output
    slow: bool = False
    #: ``draw(answer, session, *controls)`` (it writes the session's downloads)
    with_session: bool = False

    def handler(self, projector: Callable[[str], bool] = lambda _session: False) -> Callable[..., list[Any]]:
        """The redraw's event handler; ``projector(session)``: whether that session draws for a projector."""
        return redraw_handler(self.draw, len(self.outputs), len(self.controls), self.with_session, self.outputs, projector)

    def options(self) -> dict[str, Any]:
        if self.slow:
            return {"queue": True, "show_progress_on": self.outputs[:1], **PAGE_QUICK}
        return {"queue": False}


#: When a run starts with its button near the screen's bottom edge, the run bar (its progress words, Stop) comes up
#: into view: the words of the progress are what a visitor reads while a heavy view runs. The earlier runs' toasts close.
RUN_BAR_IN_VIEW_JS = """() => {
  // a new run's message must not join a stale one ("Warning (2)"): the toasts of earlier runs close (their words are
  // on the status lines anyway)
  document.querySelectorAll('[data-testid="toast-close"]').forEach((button) => button.click());
  if (window.__xlmHoldScroll) return [];  // a lesson step keeps its question in view
  const bar = document.querySelector('#%s-run')?.closest('.xlm-run-bar');
  if (bar && window.innerWidth > 640) { const r = bar.getBoundingClientRect();  // a phone's bar sticks in view
    if (r.bottom > window.innerHeight * 0.8 || r.top < 0) bar.scrollIntoView({behavior: 'smooth', block: 'center'}); }
  return []; }"""


SCROLL_JS = """(...args) => {
  if (window.__xlmHoldScroll) { window.__xlmHoldScroll = false; return args; }  // a lesson step keeps its question in view
  const el = document.querySelector('#%s');
  if (el) { const r = el.getBoundingClientRect();
    // a phone's run bar sticks to the top once scrolled past: the first result line starts under it, not behind it
    const bars = Array.from(document.querySelectorAll('.xlm-run-bar'))
      .filter((b) => b.getClientRects().length && getComputedStyle(b).position === 'sticky');
    const cover = Math.max(0, ...bars.map((b) => b.getBoundingClientRect().height));
    if (r.top < cover || r.top > window.innerHeight * 0.6)
      window.scrollTo({top: window.scrollY + r.top - cover - 8, behavior: 'smooth'}); }
  return args; }"""


@dataclass
class Drawn:
    """What a view's ``draw`` returns: the values of its outputs, and the tables its download files hold (the
    wiring writes them, with the JSON payload, into the session's folder)."""

    values: list[Any]
    tables: dict[str, Any] = field(default_factory=dict)


def plain_doc(doc: str | None) -> str:
    """A docstring's first paragraph as plain text for API clients (no reStructuredText roles or literals)."""
    text = (doc or "").strip().split("\n\n")[0].replace("\n", " ")
    text = re.sub(r":\w+:`~?([^`<]+?)(?:\s*<[^>]*>)?`", r"\1", text)
    return re.sub(r"\s+", " ", text.replace("``", ""))


@dataclass
class Share:
    """How a view is shared: its tab (and sub-tab), and the inputs a link restores, each under its API name
    (the URL parameter is the service parameter: one vocabulary). ``legacy`` reads a URL name that older links
    used and this view reads differently from :data:`~xlm_explorer.ui.share.LEGACY_NAMES`."""

    tab: str
    params: Sequence[str]
    subtab: str | None = None
    legacy: dict[str, tuple[str, Callable[[str], str]]] = field(default_factory=dict)


@dataclass
class View:
    """A runnable view, declared. :func:`wire` builds the rest: the page event (button, Enter in ``submit`` fields,
    Stop, progress once on the status line), the redraws, the downloads list and the API JSON under the outputs, the
    share link, and the public API twin :data:`service.ENDPOINTS[api] <xlm_explorer.service.ENDPOINTS>`.

    ``inputs`` maps the service function's parameter names to components: the page call and the API twin each take
    the components their own parameters name (no positional contract).
    """

    id: str
    controls: ViewControls
    service_fn: Endpoint
    inputs: dict[str, gr.components.Component]
    draw: Callable[[Answer], Drawn]
    outputs: list[gr.components.Component] = field(default_factory=list)
    share: Share | None = None
    submit: Sequence[gr.components.Component] = ()
    redraws: Sequence[Redraw] = ()
    first_result_id: str | None = None
    #: False when a redraw writes the downloads itself (the embeddings view, whose points change with the projection)
    downloads: bool = True
    #: given when a redraw writes them too (the embeddings view replaces its answer on a reprojection)
    state: gr.State | None = None
    payload: gr.JSON | None = None
    #: how to ask this view for a shorter run (said when its last run here took over a minute)
    smaller: str = ""


def components_for(view: View, endpoint: Endpoint) -> list[gr.components.Component]:
    """The components for the endpoint's parameters, by name; a parameter without a component is a build error."""
    missing = [n for n in endpoint.names if n not in view.inputs]
    if missing:
        raise ValueError(f"view {view.id!r}: no input component for /{endpoint.name}'s parameters {missing}")
    return [view.inputs[n] for n in endpoint.names]


def wire(ctx: AppContext, view: View) -> gr.State:
    """Wire a declared view (see :class:`View`); returns the state holding the session's last answer (for events a
    view wires further, such as a click on a table cell)."""
    endpoint = view.service_fn
    api = endpoint.name
    downloads = downloads_list() if view.downloads else None
    payload = view.payload or api_payload(api)
    state = view.state or gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    def render(answer: Answer, session: str) -> list[Any]:
        drawn = view.draw(answer)
        files = [ctx.downloads.write(session, view.id, drawn.tables, answer.payload)] if downloads is not None else []
        return [*drawn.values, *files, answer.payload]

    outputs = [*view.outputs, *([downloads] if downloads is not None else []), payload]
    compute = page_handler(ctx, view.service_fn, render, outputs, view.smaller)
    inputs = components_for(view, view.service_fn)
    events = [
        _wire_run(ctx, trigger, view, compute, inputs, [state, view.controls.status, *outputs], state)
        for trigger in [view.controls.run.click, *(c.submit for c in view.submit)]
    ]
    ctx.run_events += events  # a run may have loaded a model: the status line follows (``ui.app.wire_status``)
    _wire_redraws(view.redraws, state, ctx.in_projector)
    _wire_stop(ctx, view.controls, events)
    wire_api(ctx, view.controls.elem_id, endpoint, payload)
    if view.share is not None:
        params = {name: view.inputs[name] for name in view.share.params}
        wire_share(ctx, view.controls, view.share.tab, params, subtab=view.share.subtab, legacy=view.share.legacy,
                   view_id=view.id, endpoint=api)
    return state


def _wire_run(
    ctx: AppContext, trigger: Callable[..., Any], view: View, compute: Callable[..., list[Any]],
    inputs: list[gr.components.Component], outputs: list[gr.components.Component], state: gr.State,
) -> Any:
    """Button off and Stop on -> compute and draw (progress drawn once: on the status line beside the button; the
    results under it stay as they were until the new ones arrive; the lane is the endpoint's: heavy or quick) ->
    redraws -> button back, scroll to the first result."""
    controls, projector = view.controls, ctx.in_projector
    started = trigger(
        lambda: [gr.Button(interactive=False), gr.Button(visible=True), ""],
        outputs=[controls.run, controls.stop, controls.status], queue=False, api_visibility="private",
    )
    trigger(None, js=RUN_BAR_IN_VIEW_JS % controls.elem_id, queue=False, api_visibility="private")
    event = started.then(
        compute, inputs=inputs, outputs=outputs, show_progress_on=[controls.status], api_visibility="private",
        **(PAGE_HEAVY if view.service_fn.heavy else PAGE_QUICK),
    )
    for redraw in view.redraws:
        event.success(redraw.handler(projector), inputs=[state, *redraw.controls], outputs=redraw.outputs, api_visibility="private",
                      **redraw.options())
    done = event.then(_end_run, outputs=[controls.run, controls.stop], queue=False, api_visibility="private")
    if view.first_result_id:
        done.success(None, js=SCROLL_JS % view.first_result_id, api_visibility="private", queue=False)
    return event


def _end_run() -> list[Any]:
    return [gr.Button(interactive=True), gr.Button(visible=False)]


def _wire_redraws(redraws: Sequence[Redraw], state: gr.State, projector: Callable[[str], bool]) -> None:
    """Each redraw also runs whenever one of its controls changes: live re-render, no model."""
    for redraw in redraws:
        gr.on(
            triggers=[getattr(control, name) for control in redraw.controls for name in redraw.events],
            fn=redraw.handler(projector), inputs=[state, *redraw.controls], outputs=redraw.outputs, api_visibility="private",
            **redraw.options(),
        )


def _wire_stop(ctx: AppContext, controls: ViewControls, events: list[Any]) -> None:
    """Stop cancels the run: gradio drops the event, the work stops at its next progress step (the flag and the
    cancelled event both tell it), the status line says "Stopped" (a neutral state: the last results stay)."""

    def stop(request: gr.Request) -> str:
        ctx.runs.stop(getattr(request, "session_hash", None) or "anonymous")
        return notices_html([STOPPED_MESSAGE], kind="stopped")

    controls.stop.click(stop, outputs=controls.status, cancels=events, queue=False, api_visibility="private").then(
        _end_run, outputs=[controls.run, controls.stop], queue=False, api_visibility="private"
    )


def api_inputs(endpoint: Endpoint) -> list[gr.components.Component]:
    """The API's inputs, built from the record and not from the page's controls: each holds the declared default
    (what ``view_api()`` shows and what every client sends for a parameter left out) and hands the client's value to
    the record's checks unconverted (no slider range, no list of choices, no ``str()`` of a list answers first).
    A file is a hidden ``gr.File`` without ``file_types``, so gradio still takes only files uploaded to it and the
    service judges the content (``uploads.py``)."""
    return [
        gr.File(visible=False, label=p.name, type="filepath") if p.kind == "file" else Api(p.api_default, p.json_schema(), p.name)
        for p in endpoint.params
    ]


def wire_api(ctx: AppContext, elem_id: str, endpoint: Endpoint, payload: gr.JSON) -> None:
    """The public endpoint ``/<name>``: the record's own inputs (:func:`api_inputs`), the JSON payload out,
    plain-text errors, the API's own lane (heavy or quick, from the record); registered once (``ctx.api_names``)."""
    if endpoint.name in ctx.api_names:
        raise ValueError(f"/{endpoint.name} is registered twice")
    ctx.api_names.append(endpoint.name)
    api_trigger = gr.Button(visible=False, elem_id=f"{elem_id}-api")
    api_trigger.click(
        api_handler(ctx, endpoint),
        inputs=api_inputs(endpoint),
        outputs=payload,
        api_name=endpoint.name,
        api_description=plain_doc(endpoint.__doc__),
        **(API_HEAVY if endpoint.heavy else API_QUICK),
    )
