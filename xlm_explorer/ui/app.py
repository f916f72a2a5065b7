"""The whole page: header, tabs, share links, session clean-up, queue; and the launch settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from .. import service
from ..downloads import DownloadStore
from ..lessons import LessonLibrary
from ..service.warmup import WarmJob, WarmUp
from ..paths import ASSETS_DIR
from ..uploads import gradio_max_file_size
from ..workspace import Workspace
from .attention_tab import build_attention_tab
from .bias import build_bias_tab
from .compare import build_compare_tab
from .context import AppContext
from .embeddings_tab import build_embeddings_tab
from .explain import TOKEN_CLICK_JS, build_explain_tab
from .fill_mask_tab import build_fill_mask_tab
from .http import PlainHttp
from .lessons import build_lessons_tab, check_library, lesson_panel, wire_lessons
from .models_tab import build_models_tab, model_card
from .share import LinkOpener
from .spaces import wrap_model_events_for_gpu
from .widgets import model_status_markdown

log = logging.getLogger(__name__)

CSS_FILE = ASSETS_DIR / "style.css"
#: Rules for gradio's own container, which style.css cannot reach (gradio scopes it inside the container).
HEAD_FILE = ASSETS_DIR / "head.html"
#: Most requests waiting in the queue; one more is answered "the queue is full" (plain text).
QUEUE_MAX_SIZE = 64
#: Gradio's own copies of download files: checked every minute, removed after 15 minutes (a session's are
#: removed when it ends, see :func:`release_session`).
DELETE_CACHE = (60, 900)
#: Sessions whose state gradio keeps (least recently used first out). Gradio keeps a copy of the page's config
#: and the last value of every output per session (about 1 MiB here, more after big runs); browser sessions are
#: dropped when they end (:func:`release_session`), API clients never end theirs, so this bounds them.
STATE_SESSION_CAPACITY = 200

HEADER = """# XLM Explorer
Look inside two masked language models from Facebook AI's XLM paper (Lample & Conneau, 2019): **en-2048** (English)
and **100-1280** (100 languages). Predict masked words, see how languages sit together in embedding space, what the
attention heads do, how the two models differ, and which associations they learned."""

TINY_BANNER = """<div class="xlm-banner" role="alert"><b>Tiny demo mode:</b> the models are tiny and randomly
initialised. Every prediction, embedding and attention pattern here is meaningless; only the tool works.</div>"""

#: A tap on a view's intro opens it (on a phone it shows two lines, style.css); installed once on page load.
INTRO_TOGGLE_JS = """() => {
  if (window.__xlmIntros) return; window.__xlmIntros = true;
  document.addEventListener('click', (event) => {
    const intro = event.target.closest && event.target.closest('.block.xlm-intro');
    if (intro && !event.target.closest('a')) intro.classList.toggle('xlm-open');
  });
}"""
#: On a phone, "↑ Inputs" (the run bar's way back to the view's inputs) hides while the page is at its top, where the
#: inputs are in view anyway (style.css: ``body.xlm-at-top``).
AT_TOP_JS = """() => { const mark = () => document.body.classList.toggle('xlm-at-top', window.scrollY < 160);
  window.addEventListener('scroll', mark, {passive: true}); mark(); }"""
#: Projector mode on the page: a class on the body (the rules are in head.html: gradio's own sizes, outside style.css's
#: reach); the figures are drawn for it on the server (``ctx.projector``, ``views.style.for_projector``).
PROJECTOR_JS = """(on) => { document.body.classList.toggle('xlm-projector', !!on);
  for (const frame of document.querySelectorAll('iframe.xlm-bertviz'))  // the bertviz frames follow (views.bertviz)
    try { frame.contentWindow.postMessage({xlmProjector: !!on}, '*'); } catch (e) {}
  const url = new URL(location.href);  // the address says what the page shows: a reload keeps the switch as it is
  if (on) url.searchParams.set('projector', '1'); else url.searchParams.delete('projector');
  try { history.replaceState(null, '', url.pathname + url.search + url.hash); } catch (e) {}
  return on; }"""
#: A bertviz frame that has drawn asks whether the page is in projector mode (``views.bertviz.PROJECTOR_LISTENER``).
BERTVIZ_PROJECTOR_JS = """() => { window.addEventListener('message', (event) => {
  if (event.data === 'xlm-bertviz-ready' && event.source)
    event.source.postMessage({xlmProjector: document.body.classList.contains('xlm-projector')}, '*'); }); }"""
#: The page's own script: the token chips' search, the intros' toggle, the bertviz frames' projector mode.
PAGE_JS = f"() => {{ ({TOKEN_CLICK_JS})(); ({INTRO_TOGGLE_JS})(); ({BERTVIZ_PROJECTOR_JS})(); ({AT_TOP_JS})(); }}"

TABS = (
    ("Fill mask", "fill-mask", build_fill_mask_tab),
    ("Embeddings", "embeddings", build_embeddings_tab),
    ("Attention", "attention", build_attention_tab),
    ("Compare", "compare", build_compare_tab),
    ("Bias", "bias", build_bias_tab),
    ("Explain", "explain", build_explain_tab),
    ("Lessons", "lessons", build_lessons_tab),
    ("Models", "models", build_models_tab),
)


def build_demo(source: Any, downloads: DownloadStore | None = None, lessons: LessonLibrary | None = None) -> gr.Blocks:
    """Build the page around a :class:`Workspace` (or a bare ``ModelManager``); no model is loaded here. ``lessons``:
    the lessons links open (default: the shipped ones); a lesson whose link names no view here is refused."""
    ws = Workspace.of(source)
    ctx = AppContext(ws=ws, downloads=downloads or DownloadStore(), lessons=lessons or LessonLibrary.build())
    gr.set_static_paths(paths=[ASSETS_DIR / "vendor"])
    with gr.Blocks(title="XLM Explorer", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        status, projector = _header(ctx)
        link_notice = gr.HTML("", elem_id="xlm-link-notice", visible=False)  # what a link could not use (LinkOpener)
        panel = lesson_panel()
        built = {}
        with gr.Tabs(elem_classes=["xlm-main-tabs"], overflow_behavior="wrap") as tabs:
            ctx.main_tabs = tabs
            for label, tab_id, build in TABS:
                with gr.Tab(label, id=tab_id):
                    built[tab_id] = build(ctx)
        gr.Markdown(
            "Models: CC-BY-NC-4.0 (non-commercial). Probes show what a model's statistics reflect, not facts about people.",
            elem_classes=["xlm-footer"],
        )
        opener = _link_opener(ctx, tabs, link_notice)
        wire_status(ctx, status)
        _wire_share_links(demo, ctx, opener, status, projector)
        check_library(opener, ctx.lessons)
        wire_lessons(demo, ctx, panel, opener, built["lessons"])
        check_endpoints(ctx)

        def on_unload(request: gr.Request) -> None:
            release_session(ctx, demo, request)

        demo.unload(on_unload)
    demo.queue(max_size=QUEUE_MAX_SIZE)
    demo.xlm_context = ctx  # type: ignore[attr-defined]  # tests and the soak read the downloads and caches here
    demo.xlm_lesson_opener = opener  # type: ignore[attr-defined]  # tests check lessons' links against the page
    wrap_model_events_for_gpu(demo)  # ZeroGPU Spaces only; a no-op elsewhere
    return demo


#: The views whose defaults the app computes in the background after start-up, most waited-for first (the issue's
#: "a class never waits twice"): the shipped sentences' embeddings, the token index a click on a chip searches, the
#: cross-language probe, then the other heavy views. The 30 sentence pairs (10 min per model here) are left out.
WARM_VIEWS = (
    "embeddings", "explain-search", "explain-languages", "bias-languages", "compare-words", "bias-probes",
    "explain-attribution", "explain-flow", "explain-patching", "compare-similarity", "bias-seat",
)


def page_defaults(ctx: AppContext, view: str) -> dict[str, Any]:
    """A view's inputs as the page starts (what its share link holds), by the endpoint's parameter names."""
    return {name: component.value for name, component in ctx.share_targets[view].inputs.items()}


def warm_up_jobs(ctx: AppContext, views: tuple[str, ...] = WARM_VIEWS) -> list[WarmJob]:
    """One job per view (its endpoint on the page's defaults); token search once per model, since a chip of
    either model's sentence searches that model's index at the same layer."""
    jobs = []
    for view in views:
        target = ctx.share_targets[view]
        inputs = page_defaults(ctx, view)
        endpoint = service.ENDPOINTS[target.endpoint]
        if view == "explain-search":
            jobs += [WarmJob(f"token index ({key})", endpoint, {**inputs, "model": key}) for key in ctx.manager.keys]
        else:
            jobs.append(WarmJob(view, endpoint, inputs))
    return jobs


def start_warm_up(demo: gr.Blocks) -> WarmUp:
    """Compute the page's defaults in the background (``service.warmup``); the status line tells how far it is."""
    ctx: AppContext = demo.xlm_context  # type: ignore[attr-defined]
    return WarmUp(ctx.ws, warm_up_jobs(ctx)).start()


def check_endpoints(ctx: AppContext) -> None:
    """The API list is the service list: every endpoint of ``service.ENDPOINTS`` registered by a view, once."""
    from .. import service

    registered, declared = sorted(ctx.api_names), sorted(service.ENDPOINTS)
    if registered != declared:
        raise RuntimeError(f"the page registers {registered}, the service declares {declared}")


#: How often an open page reads the status line again while the start-up warm-up runs (seconds).
STATUS_EVERY_S = 2.0


def wire_status(ctx: AppContext, status: gr.Markdown) -> None:
    """The status line and the Models tab's cards as they are now, after every run (``ctx.run_events``; a run may
    have loaded a model) and, while the start-up warm-up runs, every :data:`STATUS_EVERY_S` (a timer each page stops
    once the warm-up has ended): "0 of 12 ready" advances with nobody clicking, and a card shows the facts of a
    model the warm-up loaded. Called once the tabs are built (the cards are in the last one)."""
    keys = list(ctx.model_cards)
    outputs = [status, *ctx.model_cards.values()]

    def now() -> list[Any]:
        return [model_status_markdown(ctx.ws), *[model_card(ctx, key) for key in keys]]

    for event in ctx.run_events:
        event.then(now, outputs=outputs, queue=False, api_visibility="private")
    timer = gr.Timer(STATUS_EVERY_S, active=True)

    def tick() -> list[Any]:
        warm_up = ctx.ws.warm_up
        running = warm_up is not None and not warm_up.finished
        return [*now(), gr.Timer(active=running)]

    timer.tick(tick, outputs=[*outputs, timer], queue=False, api_visibility="private")


def _link_opener(ctx: AppContext, tabs: gr.Tabs, notice: gr.HTML) -> LinkOpener:
    run_box = gr.Textbox(visible=True, elem_id="xlm-share-run", elem_classes=["xlm-hidden"], show_label=False, container=False)
    return LinkOpener(ctx, tabs, tuple(tab_id for _label, tab_id, _build in TABS), run_box, notice)


def _header(ctx: AppContext) -> tuple[gr.Markdown, gr.Checkbox]:
    """The title, the tiny-demo banner, the model status line and the projector switch beside it."""
    gr.Markdown(HEADER, elem_classes=["xlm-header"])
    if ctx.ws.manager.tiny_demo:
        gr.HTML(TINY_BANNER)
    status = gr.Markdown(model_status_markdown(ctx.ws), elem_classes=["xlm-model-status"])
    projector = gr.Checkbox(False, label="Projector mode (large type, fewer controls)", container=False,
                            elem_id="xlm-projector-switch")

    def switch(on: bool, request: gr.Request) -> None:
        ctx.set_projector(getattr(request, "session_hash", None) or "anonymous", bool(on))

    projector.change(switch, inputs=projector, js=PROJECTOR_JS, queue=False, api_visibility="private")
    return status, projector


def _wire_share_links(
    demo: gr.Blocks, ctx: AppContext, opener: LinkOpener, status: gr.Markdown, projector: gr.Checkbox
) -> None:
    """On page load: the model status line, projector mode (``?projector=1``), and a share link's tab, inputs and
    run (``?tab=...&run=1``)."""

    def apply(request: gr.Request) -> list[Any]:
        params = dict(getattr(request, "query_params", {}) or {})
        on = params.get("projector") == "1"
        if on:  # before the link's run draws its figures (the switch's own event follows)
            ctx.set_projector(getattr(request, "session_hash", None) or "anonymous", True)
        return [model_status_markdown(ctx.ws), True if on else gr.skip(), *opener.values(params)]

    opener.run_after(demo.load(apply, outputs=[status, projector, *opener.outputs], queue=False, api_visibility="private"))


def release_session(ctx: AppContext, demo: gr.Blocks, request: gr.Request) -> None:
    """A browser session ended: stop its run (at the next progress step), remove its download files (ours and
    gradio's served copies) and its stop flag."""
    session = getattr(request, "session_hash", None) or "anonymous"
    ctx.runs.stop(session)  # a closed tab stops its work instead of computing for no one
    removed = ctx.downloads.release(session)
    cached = _gradio_copies(demo, removed)
    for path in cached:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass
    ctx.runs.forget(session)
    ctx.set_projector(session, False)
    holder = getattr(demo, "state_holder", None)  # gradio would keep the closed session's state for an hour
    if holder is not None:
        with holder.lock:
            holder.session_data.pop(session, None)
            holder.time_last_used.pop(session, None)
    log.debug("session %s ended: %d download files and %d served copies removed", session, len(removed), len(cached))


def _gradio_copies(demo: gr.Blocks, paths: list[Path]) -> list[Path]:
    """Gradio's cached copies of ``paths`` (it serves a copy of each file a handler returns)."""
    copies = []
    for block in demo.blocks.values():
        temp_files = getattr(block, "temp_files", None)
        if not temp_files:
            continue
        names = {p.name for p in paths}
        copies += [Path(f) for f in list(temp_files) if Path(f).name in names]
    return copies


def launch_kwargs(host: str | None = None, port: int | None = None, share: bool = False) -> dict[str, Any]:
    """Arguments for ``demo.launch`` (theme/css/ssr belong to launch in Gradio 6)."""
    return {
        "server_name": host,
        "server_port": port,
        "share": share,
        "ssr_mode": False,
        "css_paths": [CSS_FILE] if CSS_FILE.is_file() else None,
        "head_paths": [HEAD_FILE] if HEAD_FILE.is_file() else None,
        "footer_links": ["api", "settings"],
        "max_file_size": gradio_max_file_size(),  # the upload policy's limit (uploads.MAX_UPLOAD_BYTES)
        "show_error": True,
        "js": PAGE_JS,
        "state_session_capacity": STATE_SESSION_CAPACITY,
        "app_kwargs": {"middleware": [Middleware(PlainHttp)]},  # named / short data, plain 422s (ui/http.py)
    }
