"""Lessons on the page: the step panel above the tabs (next / back, the step's view opens with its inputs and runs,
an answer per question, the summary to download) and the Lessons tab (the installed lessons, a lesson file to
open, a lesson written from share links). A student's answers live in the session's state only."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from ..errors import UserInputError
from ..lessons import MAX_LESSON_BYTES, Lesson, LessonLibrary, LessonProgress, lesson_from_links, lesson_yaml, parse_lesson
from ..uploads import read_upload
from ..views import lesson as views
from .context import RESULT_STATE_SECONDS, AppContext
from .messages import notices_html, toast_text, user_message
from .share import LinkOpener
from .widgets import intro

PANEL_ID = "xlm-lesson"
#: After a step opens: its question in view (the top of the panel), then the view runs; the view's own scroll to
#: its results is held once (``SCROLL_JS`` in wiring), so the question stays in view when they arrive.
SCROLL_TO_PANEL_JS = ("if (lesson) { if (id) window.__xlmHoldScroll = true; "
                      "document.querySelector('#%s')?.scrollIntoView({behavior: 'smooth', block: 'start'}); }" % PANEL_ID)
SUMMARY_VIEW = "lesson-summary"

TAB_INTRO = """A **lesson** is an ordered list of steps: each opens a view with its inputs and runs it, and asks a
question. A student steps through with **Next** and **Back**, types an answer per question, and downloads a summary
at the end (the questions, the answers and the first rows of what each view showed). Nothing is stored on the server:
the summary is the student's download. Open a lesson from a link (`?lesson=<name>`), from a file, or write one here
from the views' **Copy link** links. The file format is in docs/lessons.md."""

BUILDER_EXAMPLE = """?tab=fill-mask&text=The+capital+of+France+is+[MASK].&model=both&run=1
Which model puts "paris" first? How sure is it?

?tab=compare&view=compare-words&text=The+film+was+[MASK]+from+start+to+end.&model=both&max_pieces=3&run=1
Which answers need more than one piece?"""


@dataclass
class LessonPanel:
    """The step panel (hidden until a lesson opens) and the session's :class:`LessonProgress`."""

    box: gr.Column
    heading: gr.Markdown
    body: gr.Markdown
    step_area: gr.Column
    hints: gr.Accordion
    hints_text: gr.Markdown
    notes: gr.Accordion
    notes_text: gr.Markdown
    answer: gr.Textbox
    back: gr.Button
    again: gr.Button
    next: gr.Button
    finish: gr.Button
    close: gr.Button
    files: gr.File
    state: gr.State
    answer_area: gr.Column

    @property
    def shown(self) -> list[Any]:
        """What a step change fills, in :func:`panel_values`'s order."""
        return [self.state, self.box, self.heading, self.body, self.step_area, self.answer_area, self.hints,
                self.hints_text, self.notes, self.notes_text, self.answer, self.back, self.next, self.files]


def lesson_panel() -> LessonPanel:
    """The panel's components (built above the tabs; :func:`wire_lessons` wires them once the views exist): the
    step and its question on the left, the answer and the buttons on the right (stacked on a phone)."""
    with gr.Column(visible=False, elem_id=PANEL_ID, elem_classes=["xlm-lesson"]) as box:
        heading = gr.Markdown(elem_id=f"{PANEL_ID}-heading")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                body = gr.Markdown(elem_id=f"{PANEL_ID}-body")
                with gr.Row(equal_height=False) as step_area:
                    with gr.Accordion("Hint", open=False, visible=False) as hints:
                        hints_text = gr.Markdown()
                    with gr.Accordion("Teacher's notes", open=False, visible=False) as notes:
                        notes_text = gr.Markdown()
            with gr.Column(scale=2, min_width=280) as answer_area:
                answer = gr.Textbox(label="Your answer", lines=3, max_lines=8, elem_id=f"{PANEL_ID}-answer")
                with gr.Row(elem_classes=["xlm-lesson-buttons"]):
                    back = gr.Button("← Back", size="sm", elem_id=f"{PANEL_ID}-back", min_width=80)
                    nxt = gr.Button("Next →", variant="primary", size="sm", elem_id=f"{PANEL_ID}-next", min_width=80)
                    again = gr.Button("Run again", size="sm", elem_id=f"{PANEL_ID}-again", min_width=80)
                with gr.Row(elem_classes=["xlm-lesson-buttons"]):
                    finish = gr.Button("Make my summary", size="sm", elem_id=f"{PANEL_ID}-finish", min_width=120)
                    close = gr.Button("Close the lesson", size="sm", variant="secondary", elem_id=f"{PANEL_ID}-close",
                                      min_width=120)
                files = gr.File(visible=False, label="Your summary (HTML to open or print, Markdown)", interactive=False,
                                file_count="multiple", elem_id=f"{PANEL_ID}-files")
                gr.Markdown(views.SUMMARY_NOTE, elem_classes=["xlm-lesson-note"])
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)
    return LessonPanel(box, heading, body, step_area, hints, hints_text, notes, notes_text, answer, back, again, nxt,
                       finish, close, files, state, answer_area)


def panel_values(progress: LessonProgress) -> list[Any]:
    """The panel at the progress's current step (see :attr:`LessonPanel.shown`)."""
    step, last = progress.current, len(progress.lesson.steps) - 1
    return [
        progress, gr.Column(visible=True), views.step_heading(progress), views.step_body(progress),
        gr.Row(visible=True), gr.Column(visible=True), gr.Accordion(visible=bool(step.hints)), views.hints_markdown(step),
        gr.Accordion(visible=progress.teacher and bool(step.notes)), views.notes_markdown(step),
        gr.Textbox(value=progress.answers[progress.step], visible=bool(step.question)),
        gr.Button(interactive=progress.step > 0), gr.Button(interactive=progress.step < last),
        gr.File(value=None, visible=False),
    ]


def failed_values(message: str) -> list[Any]:
    """The panel saying a lesson could not be opened (the page around it stays as it was)."""
    gr.Warning(toast_text(message))
    return [gr.skip(), gr.Column(visible=True), "**The lesson could not be opened.**", html.escape(message),
            gr.Row(visible=False), gr.Column(visible=False), *[gr.skip()] * 8]


def check_lesson(opener: LinkOpener, lesson: Lesson) -> Lesson:
    """The lesson, if every step's link opens a view of this page with inputs it takes; else a clear error."""
    for number, step in enumerate(lesson.steps, 1):
        problems = opener.problems(step.params)
        if problems:
            raise UserInputError(f"Step {number}'s link: {problems[0]}.")
    return lesson


def check_library(opener: LinkOpener, library: LessonLibrary) -> None:
    for lesson in library.lessons.values():
        try:
            check_lesson(opener, lesson)
        except UserInputError as error:
            raise UserInputError(f"Lesson {lesson.name!r}: {error}") from None


def _opened(opener: LinkOpener, progress: LessonProgress, step: int) -> list[Any]:
    progress.go(step)
    values = opener.values(progress.current.params, reset=True)
    return [*panel_values(progress), *values[:-1], f"lesson:{values[-1]}"]  # the run id, marked as a step's


def _seen(ctx: AppContext, progress: LessonProgress, session: str) -> list[tuple[str, list[dict[str, Any]]]]:
    target = ctx.share_targets.get(progress.current.view)
    return ctx.downloads.tables_since(session, target.view_id, progress.opened_at) if target is not None else []


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def _app_address(request: gr.Request | None) -> str:
    """The page's own address (scheme, host, path: what the summary's links start with), from the request."""
    referer = (getattr(request, "headers", None) or {}).get("referer", "") if request is not None else ""
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme in ("http", "https") and parts.netloc else ""


def wire_lessons(demo: gr.Blocks, ctx: AppContext, panel: LessonPanel, opener: LinkOpener, tab: "LessonsTab") -> None:
    """Every lesson event: a link's ``?lesson=`` on load, next / back / again, the summary, close, the Lessons tab."""
    library: LessonLibrary = ctx.lessons
    outputs = [*panel.shown, *opener.outputs]
    skip_all = [gr.skip()] * len(outputs)

    def on_load(request: gr.Request) -> list[Any]:
        params = dict(getattr(request, "query_params", {}) or {})
        name = params.get("lesson") or (library.opening if not (params.get("tab") or params.get("view")) else None)
        if not name:
            return skip_all
        try:
            progress = LessonProgress(library.get(name), teacher=params.get("teacher") == "1")
            return _opened(opener, progress, _step_number(params.get("step")))
        except UserInputError as error:
            return [*failed_values(str(error)), *[gr.skip()] * len(opener.outputs)]

    def move(delta: int):  # noqa: ANN202 - an event handler
        def handler(progress: LessonProgress | None, answer: str, request: gr.Request) -> list[Any]:
            if progress is None:
                return skip_all
            progress.keep(answer, _seen(ctx, progress, _session(request)))
            return _opened(opener, progress, progress.step + delta)
        return handler

    def summary(progress: LessonProgress | None, answer: str, request: gr.Request) -> list[Any]:
        if progress is None:
            return [gr.skip(), gr.skip()]
        progress.keep(answer, _seen(ctx, progress, _session(request)))
        address = _app_address(request)
        stem = progress.lesson.name or "lesson"
        paths = ctx.downloads.write_texts(_session(request), SUMMARY_VIEW, {
            f"{stem}-summary.html": views.summary_html(progress, address),
            f"{stem}-summary.md": views.summary_markdown(progress, address),
        })
        return [progress, gr.File(value=paths, visible=True)]

    event = {"queue": False, "api_visibility": "private"}
    opener.run_after(demo.load(on_load, outputs=outputs, **event), SCROLL_TO_PANEL_JS)
    for button, delta in ((panel.back, -1), (panel.next, 1), (panel.again, 0)):
        opener.run_after(button.click(move(delta), inputs=[panel.state, panel.answer], outputs=outputs, **event),
                         SCROLL_TO_PANEL_JS)
    panel.finish.click(summary, inputs=[panel.state, panel.answer], outputs=[panel.state, panel.files], **event)
    panel.close.click(lambda: [None, gr.Column(visible=False)], outputs=[panel.state, panel.box], **event)
    _wire_tab(ctx, panel, opener, tab, outputs)


def _step_number(text: str | None) -> int:
    """A link's ``step`` (counted from 1) as an index; anything else opens the first step."""
    try:
        return max(int(str(text)) - 1, 0)
    except (TypeError, ValueError):
        return 0


@dataclass
class LessonsTab:
    """The Lessons tab's components."""

    upload: gr.File
    open_file: gr.Button
    title: gr.Textbox
    links: gr.Textbox
    make: gr.Button
    try_it: gr.Button
    status: gr.HTML
    written: gr.Code
    download: gr.File


def build_lessons_tab(ctx: AppContext) -> LessonsTab:
    """The Lessons tab (inside an open ``gr.Tab``): installed lessons, a file to open, a lesson from links."""
    intro(TAB_INTRO)
    gr.Markdown("### Lessons here\n\n" + views.lesson_list_markdown(list(ctx.lessons.lessons.values())),
                elem_id="lessons-list")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            gr.Markdown("### Open a lesson file")
            upload = gr.File(label="A lesson (.yaml)", file_types=[".yaml", ".yml"], type="filepath", elem_id="lessons-upload")
            open_file = gr.Button("Open this lesson", elem_id="lessons-open")
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("### Write a lesson from links\nPaste a view's **Copy link** link, its question on the next "
                        "line(s), a blank line, the next link...")
            title = gr.Textbox(label="Title", value="My lesson", elem_id="lessons-title")
            links = gr.Textbox(label="Links and questions", lines=8, max_lines=30, value=BUILDER_EXAMPLE,
                               elem_id="lessons-links")
            with gr.Row():
                make = gr.Button("Make the lesson file", variant="primary", elem_id="lessons-make")
                try_it = gr.Button("Try it as a student", elem_id="lessons-try")
    status = gr.HTML("", elem_id="lessons-status")
    written = gr.Code(language="yaml", label="The lesson file", visible=False, interactive=False, elem_id="lessons-yaml")
    download = gr.File(label="Download the lesson file", visible=False, interactive=False, elem_id="lessons-download")
    return LessonsTab(upload, open_file, title, links, make, try_it, status, written, download)


#: The lesson builder's title and links as the boxes show them at the click: a title typed and used at once reached
#: the server as the box's previous value now and then (the click read gradio's copy before the typing reached it).
BOXES_AS_SHOWN_JS = """(title, links) => ['#lessons-title', '#lessons-links'].map((id, i) => {
  const box = document.querySelector(id + ' textarea, ' + id + ' input');
  return box ? box.value : [title, links][i]; })"""
#: "Try it as a student" opens a lesson no link names: the address drops the last copied link (a reload would open
#: that view, not the lesson).
TRY_IT_JS = """(...values) => { try { history.replaceState(null, '', location.pathname); } catch (e) {}
  return (%s)(...values); }""" % BOXES_AS_SHOWN_JS


def _wire_tab(ctx: AppContext, panel: LessonPanel, opener: LinkOpener, tab: LessonsTab, outputs: list[Any]) -> None:
    def opened(read: Any) -> Any:
        def handler(*args: Any) -> list[Any]:
            try:
                lesson = check_lesson(opener, read(*args))
            except Exception as error:  # a refused file or text: said on the tab, the page keeps serving
                message = user_message(error)
                gr.Warning(toast_text(message))
                return [notices_html([message], kind="error"), *[gr.skip()] * len(outputs)]
            return ["", *_opened(opener, LessonProgress(lesson), 0)]
        return handler

    def from_file(path: str | None) -> Lesson:
        _name, text = read_upload(path, "Choose a lesson file (.yaml) first.", MAX_LESSON_BYTES)
        return parse_lesson(text)

    def make(title: str, links: str, request: gr.Request) -> list[Any]:
        try:
            lesson = check_lesson(opener, lesson_from_links(title, links))
        except Exception as error:
            return [notices_html([user_message(error)], kind="error"), gr.skip(), gr.skip()]
        text = lesson_yaml(lesson)
        paths = ctx.downloads.write_texts(_session(request), "lesson-file", {"lesson.yaml": text})
        return ["", gr.Code(value=text, visible=True), gr.File(value=paths[0], visible=True)]

    event = {"queue": False, "api_visibility": "private"}
    opener.run_after(tab.open_file.click(opened(from_file), inputs=tab.upload, outputs=[tab.status, *outputs], **event),
                     SCROLL_TO_PANEL_JS)
    boxes = {"inputs": [tab.title, tab.links], "js": BOXES_AS_SHOWN_JS}  # a click carries what the boxes show
    opener.run_after(tab.try_it.click(opened(lesson_from_links), outputs=[tab.status, *outputs],
                                      **{**boxes, "js": TRY_IT_JS}, **event), SCROLL_TO_PANEL_JS)
    tab.make.click(make, outputs=[tab.status, tab.written, tab.download], **boxes, **event)
