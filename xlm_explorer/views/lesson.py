"""Views of a lesson: the step panel's Markdown, the list of lessons, and the student's summary (Markdown and a
self-contained HTML page: no script, no outside file; every text a student or a lesson wrote is escaped)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from typing import Any

from ..downloads import markdown_table, markdown_text, table_cell
from ..lessons import Lesson, LessonProgress, Step

SUMMARY_NOTE = ("Your answers stay in this browser tab (nothing is stored on the server): download the summary "
                "before you close it.")


#: An image or a raw HTML tag in a lesson's Markdown (``intro:``, ``text:``): the classroom works offline, so a lesson
#: shows no image from another host and no HTML of its own (a tag is shown as written).
REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)[^)]*\)")
HTML_TAG = re.compile(r"<(?=[A-Za-z/!?])")
IMAGE_LEFT_OUT = "*(an image from another host, left out: a lesson shows this app's own pages only)*"


def lesson_markdown(text: str) -> str:
    """A lesson's own Markdown (its intro, a step's text) as the page shows it: remote images left out (said in
    their place), raw HTML shown as written; the rest is Markdown as the teacher wrote it."""
    return HTML_TAG.sub("&lt;", REMOTE_IMAGE.sub(IMAGE_LEFT_OUT, text))


def step_heading(progress: LessonProgress) -> str:
    """``Lesson: <title> · step 2 of 5``, then the step's title (Markdown; the titles shown as written)."""
    n = len(progress.lesson.steps)
    return (f"**Lesson: {markdown_text(progress.lesson.title)}** · step {progress.step + 1} of {n}\n\n"
            f"### {markdown_text(progress.current.title)}")


def step_body(progress: LessonProgress) -> str:
    """What the student reads at this step: the lesson's intro (first step), the step's text (both Markdown,
    :func:`lesson_markdown`), its question (plain text, shown as written)."""
    step = progress.current
    parts = [lesson_markdown(progress.lesson.intro)] if progress.step == 0 and progress.lesson.intro else []
    parts += [lesson_markdown(step.text)] if step.text else []
    parts += [f"**Question:** {markdown_text(step.question)}"] if step.question else ["*No question at this step: look, then go on.*"]
    return "\n\n".join(parts)


def notes_markdown(step: Step) -> str:
    """The teacher's notes, plain text, shown as written."""
    return markdown_text(step.notes) if step.notes else ""


def hints_markdown(step: Step) -> str:
    """The step's hints, plain text each, as a list."""
    return "\n".join(f"- {markdown_text(hint)}" for hint in step.hints)


def lesson_list_markdown(lessons: Sequence[Lesson]) -> str:
    """The lessons a link opens: title (a link to ``?lesson=<name>``), number of steps, the teacher's link."""
    lines = [f"- [{lesson.title}](?lesson={lesson.name}) · {len(lesson.steps)} steps · "
             f"[with the teacher's notes](?lesson={lesson.name}&teacher=1)" for lesson in lessons]
    return "\n".join(lines) or "*No lesson is installed.*"


def _address(base_url: str, step: Step) -> str:
    return (base_url.rstrip("/") + "/" if base_url else "") + step.link


def summary_markdown(progress: LessonProgress, base_url: str = "", when: float | None = None) -> str:
    """The student's summary as Markdown: per step its question, the answer, the link and what the view showed."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when or time.time()))
    lines = [f"# {markdown_text(progress.lesson.title)}", "", f"Summary written {stamp} by XLM Explorer.", ""]
    for number, (step, answer, seen) in enumerate(zip(progress.lesson.steps, progress.answers, progress.seen), 1):
        lines += [f"## {number}. {markdown_text(step.title)}", "", f"View: <{_address(base_url, step)}>", ""]
        if step.question:
            lines += [f"**Question:** {markdown_text(step.question)}", "", "**Answer:**", ""]
            lines += [f"> {markdown_text(line)}" for line in (answer or "(no answer)").splitlines()] + [""]
        for name, rows in seen:
            lines += [f"What the view showed ({name}, first rows):", "", *markdown_table(rows), ""]
    return "\n".join(lines)


SUMMARY_CSS = """body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-top:1px solid #ccc;padding-top:1rem}
blockquote{margin:.5rem 0;padding:.5rem 1rem;background:#f4f6fb;border-left:4px solid #4a6ee0;white-space:pre-wrap}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
.small{color:#555;font-size:.9rem}"""


def _html_table(name: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(table_cell(row.get(k, '')))}</td>" for k in rows[0]) + "</tr>"
                   for row in rows)
    caption = f'<p class="small">What the view showed ({html.escape(name)}, first rows):</p>'
    return f"{caption}<table><tr>{head}</tr>{body}</table>"


def summary_html(progress: LessonProgress, base_url: str = "", when: float | None = None) -> str:
    """The same summary as one HTML page to open, print or hand in (inline style, no script)."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when or time.time()))
    title = html.escape(progress.lesson.title)
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>",
             f"<style>{SUMMARY_CSS}</style></head><body><h1>{title}</h1>",
             f'<p class="small">Summary written {stamp} by XLM Explorer.</p>']
    for number, (step, answer, seen) in enumerate(zip(progress.lesson.steps, progress.answers, progress.seen), 1):
        address = html.escape(_address(base_url, step), quote=True)
        parts.append(f"<h2>{number}. {html.escape(step.title)}</h2><p class=\"small\"><a href=\"{address}\">Open this "
                     "view again</a></p>")
        if step.question:
            parts.append(f"<p><b>Question:</b> {html.escape(step.question)}</p>"
                         f"<blockquote>{html.escape(answer or '(no answer)')}</blockquote>")
        parts += [_html_table(name, rows) for name, rows in seen]
    parts.append("</body></html>")
    return "\n".join(parts)
