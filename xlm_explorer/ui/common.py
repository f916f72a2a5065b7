"""What every view of the page shares: the app context, the "compute then draw" wiring, messages, choices.

Each runnable view has a page event (private: it calls the service, draws the results, shows notices inline
and progress on the results, disables its button and can be stopped) and an API twin (public, named after
the service function: it returns the JSON payload, with plain-text error messages). The two run in separate
concurrency groups, so scripts calling the API never starve the people on the page.
"""

from __future__ import annotations

import html
import inspect
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..checks import BOTH
from ..downloads import DownloadStore
from ..errors import ModelLoadError, UserInputError
from ..service import Answer
from ..specs import LANGUAGE_NAMES
from ..views.style import wrap_title
from ..workspace import Workspace

log = logging.getLogger(__name__)

MODEL_CHOICES = [("en-2048 (English)", "en-2048"), ("100-1280 (100 languages)", "100-1280"), ("Both, side by side", BOTH)]

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

#: How long a session keeps its last results (for redraws and clicks); gradio_client sessions never close.
RESULT_STATE_SECONDS = 1800

GENERIC_ERROR = "Something went wrong on the server ({name}); the error was logged. Try a shorter or simpler input."


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
class AppContext:
    """Everything the views need: the workspace (models and caches), the download store, the stop flags."""

    ws: Workspace
    downloads: DownloadStore = field(default_factory=DownloadStore)
    runs: RunRegistry = field(default_factory=RunRegistry)
    #: view id -> what a share link may set there (filled as the views are built)
    share_targets: dict[str, "ShareTarget"] = field(default_factory=dict)
    #: tab id -> the gr.Tabs of its sub-tabs (Compare, Bias, Explain), so a link can open a sub-tab
    subtabs: dict[str, gr.Tabs] = field(default_factory=dict)
    #: the page's top-level tabs (set before the tabs are built)
    main_tabs: Any = None

    @property
    def manager(self):  # noqa: ANN201 - the ModelManager
        return self.ws.manager


@dataclass
class ShareTarget:
    """What a share link can set on one view: its input components by URL parameter, and its run button."""

    tab: str
    inputs: dict[str, gr.components.Component]
    run_id: str
    subtab: str | None = None


# ------------------------------------------------------------------------------------------------ messages


def toast_text(message: str) -> str:
    """Gradio draws toast messages as HTML: escape text that may quote user input."""
    return html.escape(message, quote=False)


def notices_html(notices: Sequence[str], kind: str = "notice") -> str:
    """Notices as one escaped line each, beside the results they concern (empty string when none)."""
    items = "".join(f'<li class="xlm-{kind}"><bdi>{html.escape(n)}</bdi></li>' for n in dict.fromkeys(notices) if n)
    return f'<ul class="xlm-notices" role="status">{items}</ul>' if items else ""


def reveal(outputs: Sequence[Any], values: list[Any]) -> list[Any]:
    """Tables and download lists start hidden (an empty table shows meaningless headers): a value for one shows it."""
    shown = []
    for component, value in zip(outputs, values):
        wrap_title(value.get("value") if isinstance(value, dict) else value)  # figure titles in lines that fit a phone
        if isinstance(component, (gr.Dataframe, gr.File)) and value is not None and not isinstance(value, dict):
            value = gr.update(value=value, visible=True)
        shown.append(value)
    return shown + list(values[len(shown):])


def _message(error: BaseException) -> str:
    if isinstance(error, (UserInputError, ModelLoadError)):
        return str(error)
    log.error("internal error", exc_info=error)
    return GENERIC_ERROR.format(name=type(error).__name__)


# ------------------------------------------------------------------------------------------------ handlers


def _parameters(service_fn: Callable[..., Answer]) -> list[inspect.Parameter]:
    """The service function's endpoint parameters (without the workspace and progress), annotations dropped."""
    params = list(inspect.signature(service_fn).parameters.values())[1:]
    return [p.replace(annotation=inspect.Parameter.empty) for p in params if p.name != "progress"]


def api_handler(ctx: AppContext, service_fn: Callable[..., Answer], to_payload: Callable[[Answer], Any] | None = None):
    """The public API twin of an endpoint: the service's payload, errors as plain-text ``gr.Error``."""

    params = _parameters(service_fn)

    def handler(*args: Any) -> Any:  # gradio passes the inputs, then the Progress it inserted
        values, progress = args[: len(params)], args[len(params)]
        try:
            answer = service_fn(ctx.ws, *values, progress=lambda fraction, message: progress(fraction, desc=message))
        except Exception as error:  # never a stack trace to the client; the server keeps serving
            raise gr.Error(_message(error), print_exception=False) from None
        return to_payload(answer) if to_payload is not None else answer.payload

    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*params, inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress())]
    )
    handler.__name__ = service_fn.__name__
    handler.__doc__ = service_fn.__doc__
    return handler


def page_handler(
    ctx: AppContext,
    service_fn: Callable[..., Answer],
    render: Callable[[Answer, str], list[Any]],
    outputs: Sequence[Any] = (),
):
    """The page event of an endpoint: service call with progress and Stop, then ``render(answer, session)``
    (the view's values); returns ``[answer, notices html, *rendered]``. Errors become an escaped toast."""

    params = _parameters(service_fn)

    def handler(*args: Any) -> list[Any]:  # gradio passes the inputs, then the Progress and Request it inserted
        values, progress, request = args[: len(params)], args[len(params)], args[len(params) + 1]
        session = getattr(request, "session_hash", None) or "anonymous"
        flag = ctx.runs.begin(session)

        def report(fraction: float, message: str) -> None:
            if flag.is_set():
                raise Stopped()
            progress(max(0.0, min(1.0, fraction)), desc=message)

        try:
            answer = service_fn(ctx.ws, *values, progress=report)
            return [answer, notices_html(answer.notices), *reveal(outputs, render(answer, session))]
        except Stopped:
            raise gr.Error("Stopped: the run was cancelled before it finished.", duration=4, print_exception=False) from None
        except Exception as error:
            raise gr.Error(toast_text(_message(error)), print_exception=False) from None

    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            *params,
            inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()),
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request),
        ]
    )
    handler.__annotations__ = {"request": gr.Request}
    handler.__name__ = f"page_{service_fn.__name__}"
    return handler


def redraw_handler(
    draw: Callable[..., list[Any]], n_outputs: int, n_controls: int, with_session: bool = False, outputs: Sequence[Any] = ()
):
    """A no-model redraw from the last answer in the session's state (a settings change):
    ``draw(answer, [session,] *controls)``; nothing to draw yet -> the outputs stay as they are."""

    def handler(*args: Any) -> list[Any]:  # the state, the controls, then the Request gradio inserted
        answer, controls, request = args[0], args[1 : 1 + n_controls], args[1 + n_controls]
        if answer is None:
            return [gr.skip()] * n_outputs
        session = getattr(request, "session_hash", None) or "anonymous"
        try:
            return reveal(outputs, draw(answer, session, *controls) if with_session else draw(answer, *controls))
        except Exception as error:
            raise gr.Error(toast_text(_message(error)), print_exception=False) from None

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

    def handler(self) -> Callable[..., list[Any]]:
        return redraw_handler(self.draw, len(self.outputs), len(self.controls), self.with_session, self.outputs)

    def options(self) -> dict[str, Any]:
        if self.slow:
            return {"queue": True, "show_progress_on": self.outputs[:1], **PAGE_QUICK}
        return {"queue": False}


@dataclass
class ViewControls:
    """The run controls of one view: its button, a Stop button, the inline status line, a link box."""

    run: gr.Button
    stop: gr.Button
    status: gr.HTML
    link: gr.Textbox
    share: gr.Button
    elem_id: str


def view_controls(elem_id: str, label: str) -> ViewControls:
    """Run / Stop / Copy link in one row, then the status line (progress words and notices show there)."""
    with gr.Row(elem_classes=["xlm-run-row"]):
        run = gr.Button(label, variant="primary", elem_id=f"{elem_id}-run", scale=3, min_width=140)
        stop = gr.Button("Stop", variant="stop", visible=False, elem_id=f"{elem_id}-stop", scale=1, min_width=80)
        share = gr.Button("Copy link", variant="secondary", size="sm", elem_id=f"{elem_id}-share", scale=1, min_width=100)
    link = gr.Textbox(label="Link to this view (opens with these inputs and runs)", visible=False, interactive=False,
                      elem_id=f"{elem_id}-link", buttons=["copy"])
    status = gr.HTML("", elem_id=f"{elem_id}-status", elem_classes=["xlm-status"], padding=False)
    return ViewControls(run=run, stop=stop, status=status, link=link, share=share, elem_id=elem_id)


SCROLL_JS = """(...args) => {
  const el = document.querySelector('#%s');
  if (el) { const r = el.getBoundingClientRect();
    if (r.top < 0 || r.top > window.innerHeight * 0.6) el.scrollIntoView({behavior: 'smooth', block: 'start'}); }
  return args; }"""


def wire_view(
    ctx: AppContext,
    controls: ViewControls,
    *,
    service_fn: Callable[..., Answer],
    inputs: list[gr.components.Component],
    render: Callable[[Answer, str], list[Any]],
    outputs: list[gr.components.Component],
    state: gr.State,
    progress_on: list[gr.components.Component],
    payload: gr.JSON,
    heavy: bool = False,
    submit: Sequence[gr.components.Component] = (),
    first_result_id: str | None = None,
    to_payload: Callable[[Answer], Any] | None = None,
    api_name: str | None = None,
    redraws: Sequence[Redraw] = (),
    api_fn: Callable[..., Answer] | None = None,
) -> list[Any]:
    """Wire a view: the page pipeline on the run button and ``submit`` fields, the live redraws, Stop, and the
    API twin (``api_fn``, default the same service function, takes the first inputs its parameters name).
    Returns the compute events."""
    compute = page_handler(ctx, service_fn, render, outputs)
    events = [
        _wire_run(trigger, controls, compute, inputs, [state, controls.status, *outputs], progress_on, heavy, redraws, state,
                  first_result_id)
        for trigger in [controls.run.click, *(c.submit for c in submit)]
    ]
    _wire_redraws(redraws, state)
    _wire_stop(ctx, controls, events)
    api_fn = api_fn or service_fn
    _wire_api(ctx, controls, api_fn, inputs[: len(_parameters(api_fn))], payload, heavy, to_payload, api_name)
    return events


def _wire_run(trigger, controls, compute, inputs, outputs, progress_on, heavy, redraws, state, first_result_id):  # noqa: ANN001, ANN202
    """Button off and Stop on -> compute and draw (progress on the results) -> redraws -> button back, scroll."""
    started = trigger(
        lambda: [gr.Button(interactive=False), gr.Button(visible=True), ""],
        outputs=[controls.run, controls.stop, controls.status], queue=False, api_visibility="private",
    )
    event = started.then(
        compute, inputs=inputs, outputs=outputs, show_progress_on=[controls.status, *progress_on], api_visibility="private",
        **(PAGE_HEAVY if heavy else PAGE_QUICK),
    )
    for redraw in redraws:
        event.success(redraw.handler(), inputs=[state, *redraw.controls], outputs=redraw.outputs, api_visibility="private",
                      **redraw.options())
    done = event.then(_end_run, outputs=[controls.run, controls.stop], queue=False, api_visibility="private")
    if first_result_id:
        done.success(None, js=SCROLL_JS % first_result_id, api_visibility="private", queue=False)
    return event


def _end_run() -> list[Any]:
    return [gr.Button(interactive=True), gr.Button(visible=False)]


def _wire_redraws(redraws: Sequence[Redraw], state: gr.State) -> None:
    """Each redraw also runs whenever one of its controls changes: live re-render, no model."""
    for redraw in redraws:
        gr.on(
            triggers=[getattr(control, name) for control in redraw.controls for name in redraw.events],
            fn=redraw.handler(), inputs=[state, *redraw.controls], outputs=redraw.outputs, api_visibility="private",
            **redraw.options(),
        )


def _wire_stop(ctx: AppContext, controls: ViewControls, events: list[Any]) -> None:
    """Stop cancels the run: the flag stops the work at its next progress step, and gradio drops the event."""

    def stop(request: gr.Request) -> None:
        ctx.runs.stop(getattr(request, "session_hash", None) or "anonymous")

    controls.stop.click(stop, cancels=events, queue=False, api_visibility="private").then(
        _end_run, outputs=[controls.run, controls.stop], queue=False, api_visibility="private"
    )


def _wire_api(ctx, controls, service_fn, inputs, payload, heavy, to_payload, api_name) -> None:  # noqa: ANN001
    """The public twin: same inputs, the JSON payload out, plain-text errors, the API's own concurrency group."""
    api_trigger = gr.Button(visible=False, elem_id=f"{controls.elem_id}-api")
    api_trigger.click(
        api_handler(ctx, service_fn, to_payload),
        inputs=inputs,
        outputs=payload,
        api_name=api_name or service_fn.__name__,
        api_description=(service_fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
        **(API_HEAVY if heavy else API_QUICK),
    )


# ------------------------------------------------------------------------------------------------ choices


def language_label(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f"{code} — {name}" if name else code


def language_choices(codes: Sequence[str]) -> list[tuple[str, str]]:
    """Dropdown choices ``(label, code)``, English first, then by code."""
    ordered = sorted(codes, key=lambda code: (code != "en", code))
    return [(language_label(code), code) for code in ordered]


def language_dropdown(ctx: AppContext, label: str = "Language (100-1280 tokenization)", value: str = "en", **kwargs: Any) -> gr.Dropdown:
    return gr.Dropdown(language_choices(ctx.manager.languages("100-1280")), value=value, label=label, filterable=True, **kwargs)


def model_radio(value: str = BOTH, **kwargs: Any) -> gr.Radio:
    return gr.Radio(MODEL_CHOICES, value=value, label="Model", **kwargs)


def downloads_list() -> gr.File:
    """The view's download files (CSV / JSON), hidden until a run writes them (``reveal`` shows it)."""
    return gr.File(visible=False, label="Downloads (CSV / JSON)", file_count="multiple", interactive=False,
                   elem_classes=["xlm-downloads"])


def api_payload(api_name: str) -> gr.JSON:
    """The JSON the view's API endpoint returns, in a closed accordion under the results."""
    with gr.Accordion("The JSON the API returns", open=False):
        return gr.JSON(label=f"{api_name} result")


def model_status_markdown(ws: Workspace) -> str:
    """One line saying which models are in memory and which load on first use (top of the page)."""
    manager = ws.manager
    parts = []
    for key in manager.keys:
        if manager.is_loaded(key):
            parts.append(f"**{key}** ready")
        elif manager.last_error(key) is not None:
            parts.append(f"**{key}** failed to load (see the Models tab)")
        else:
            parts.append(f"**{key}** loads on first use")
    return "Models: " + " · ".join(parts)


# ------------------------------------------------------------------------------------------------ ZeroGPU


#: Set by Hugging Face on ZeroGPU Spaces; only there are model events run inside ``spaces.GPU``.
ENV_ZERO_GPU = "SPACES_ZERO_GPU"


def zero_gpu_decorator(environ: dict[str, str] | None = None) -> Callable[..., Any] | None:
    """``spaces.GPU`` on a ZeroGPU Space (``SPACES_ZERO_GPU`` set and ``spaces`` importable); None elsewhere."""
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if ENV_ZERO_GPU not in environ:
        return None
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        log.warning("%s is set but the 'spaces' package is missing: running on CPU", ENV_ZERO_GPU)
        return None
    return spaces.GPU


def wrap_model_events_for_gpu(demo: gr.Blocks, gpu: Callable[..., Any] | None = None) -> list[str]:
    """Run every model event (the page's and the API's, see :data:`MODEL_GROUPS`) inside ``gpu`` (default:
    :func:`zero_gpu_decorator`). A no-op on CPU machines and ordinary GPUs; returns the wrapped names."""
    gpu = gpu if gpu is not None else zero_gpu_decorator()
    if gpu is None:
        return []
    wrapped: list[str] = []
    for block_fn in demo.fns.values():
        if block_fn.concurrency_id in MODEL_GROUPS and block_fn.fn is not None:
            block_fn.fn = gpu(block_fn.fn)
            wrapped.append(str(block_fn.api_name or block_fn.name))
    return wrapped


# ------------------------------------------------------------------------------------------------ share links

COPY_LINK_JS = """(query) => {
  if (!query || !query.startsWith('?')) return query;
  const url = location.origin + location.pathname + query;
  try { navigator.clipboard && navigator.clipboard.writeText(url); } catch (e) {}
  try { history.replaceState(null, '', query); } catch (e) {}
  return url; }"""


def encode_value(value: Any) -> str:
    """A component value as a URL parameter: lists as JSON, booleans as 1/0, the rest as text."""
    import json

    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def decode_value(component: gr.components.Component, text: str) -> Any:
    """A URL parameter back into a value for ``component`` (the inverse of :func:`encode_value`)."""
    import json

    if isinstance(component, gr.Checkbox):
        return text.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(component, (gr.Slider, gr.Number)):
        try:
            return float(text)
        except ValueError:
            return component.value
    if isinstance(component, gr.CheckboxGroup) or (isinstance(component, gr.Dropdown) and component.multiselect):
        try:
            value = json.loads(text)
        except ValueError:
            value = [part for part in text.split(",") if part]
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return text


def share_query(tab: str, subtab: str | None, names: Sequence[str], values: Sequence[Any]) -> str:
    """``?tab=...&view=...&<name>=<value>...&run=1``: the link that reopens a view with these inputs and runs it."""
    from urllib.parse import urlencode

    params = {"tab": tab, **({"view": subtab} if subtab else {})}
    params.update({name: encode_value(value) for name, value in zip(names, values)})
    params["run"] = "1"
    return "?" + urlencode(params)


def wire_share(
    ctx: AppContext, controls: ViewControls, tab: str, named_inputs: dict[str, gr.components.Component], subtab: str | None = None
) -> None:
    """The view's "Copy link" button, and the view registered for links that open it."""
    names = list(named_inputs)

    def make_link(*values: Any) -> Any:
        return gr.Textbox(value=share_query(tab, subtab, names, values), visible=True)

    controls.share.click(
        make_link, inputs=list(named_inputs.values()), outputs=controls.link, queue=False, api_visibility="private"
    ).then(None, inputs=controls.link, outputs=controls.link, js=COPY_LINK_JS, queue=False, api_visibility="private")
    ctx.share_targets[subtab or tab] = ShareTarget(tab=tab, subtab=subtab, inputs=named_inputs, run_id=f"{controls.elem_id}-run")


def examples_that_run(elem_id: str, inputs: list[gr.components.Component], samples: list[list[Any]]) -> gr.Dataset:
    """Examples (collapsed) that fill the inputs and run the view when clicked."""
    with gr.Accordion("Examples: click one to fill the inputs and run it", open=False, elem_classes=["xlm-examples"]):
        examples = gr.Dataset(components=inputs, samples=samples, samples_per_page=8, layout="table", label=None)
    examples.click(lambda sample: sample, inputs=examples, outputs=inputs, queue=False, api_visibility="private").then(
        None, js=f"() => {{ document.querySelector('#{elem_id}-run')?.click(); }}", queue=False, api_visibility="private"
    )
    return examples
