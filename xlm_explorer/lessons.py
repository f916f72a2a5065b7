"""Lessons: a teacher's ordered steps, each a share link (a view and its inputs) with a question, hints and notes.

A lesson is a small YAML file (``assets/lessons/*.yaml`` ship with the app; ``--lesson FILE`` adds more)::

    title: What a masked LM predicts
    intro: One paragraph shown above the first step.
    steps:
      - title: Two models, one blank
        link: ?tab=fill-mask&text=The capital of France is [MASK].&model=both&run=1
        text: What the student reads before the question (Markdown).
        question: Which of the two models puts the right answer first?
        hints: [Look at the first row of each table.]
        notes: For the teacher (shown with ``&teacher=1``).

A step's ``link`` is what a view's Copy link gives (the whole address, or only its ``?...`` part); ``inputs:``
(name: value) adds to it what is awkward in a link (a table, a list). This module
reads, checks and writes lessons and keeps a student's progress (:class:`LessonProgress`); it knows nothing of the
page (the page checks that each link names one of its views, :func:`xlm_explorer.ui.share.link_problems`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .errors import UserInputError
from .paths import ASSETS_DIR

#: The lessons written for the project.
SHIPPED_LESSONS_DIR = ASSETS_DIR / "lessons"
#: Bounds of a lesson file: its size, its steps, the text of one field.
MAX_LESSON_BYTES = 100_000
MAX_STEPS = 30
MAX_FIELD_CHARS = 4_000
#: The keys a lesson and a step may have (anything else is a typo worth a message).
LESSON_KEYS = ("title", "intro", "steps")
STEP_KEYS = ("title", "link", "inputs", "text", "question", "hints", "notes")
#: A lesson's name in links (``?lesson=<name>``): its file name without ``.yaml``.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Step:
    """One step: the view a share link opens (``link``, a ``?...`` query), and what the student is asked there."""

    title: str
    link: str
    question: str = ""
    text: str = ""
    hints: tuple[str, ...] = ()
    notes: str = ""

    @property
    def params(self) -> dict[str, str]:
        """The link's parameters (``tab``, ``view``, the view's inputs, ``run``)."""
        return dict(parse_qsl(self.link.lstrip("?"), keep_blank_values=True))

    @property
    def view(self) -> str:
        """The view the link opens: its ``view`` (a sub-tab) or else its ``tab``."""
        return self.params.get("view") or self.params.get("tab", "")


@dataclass(frozen=True)
class Lesson:
    """A titled, ordered list of steps; ``name`` is how links open it (``?lesson=<name>``), empty for an upload."""

    title: str
    steps: tuple[Step, ...]
    intro: str = ""
    name: str = ""


def _text(value: Any, where: str, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise UserInputError(f"{where} is missing.")
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise UserInputError(f"{where} should be text, not a {type(value).__name__}.")
    text = str(value).strip()
    if len(text) > MAX_FIELD_CHARS:
        raise UserInputError(f"{where} has {len(text):,} characters; at most {MAX_FIELD_CHARS:,}.")
    return text


def _unknown_keys(mapping: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [str(key) for key in mapping if key not in allowed]
    if unknown:
        raise UserInputError(f"{where} has unknown keys {', '.join(unknown)}; it may have {', '.join(allowed)}.")


def input_text(value: Any, where: str) -> str:
    """A step's ``inputs:`` value as a link holds it: lists as JSON, yes/no as 1/0, the rest as text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return json.dumps([str(v) if not isinstance(v, (int, float)) else v for v in value], ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value, where)


def link_query(link: str, where: str, inputs: dict[str, Any] | None = None) -> str:
    """The ``?...`` part of a share link (a whole address, a query, or a query without its ``?``; spaces may be
    written as spaces), with ``inputs`` added to it, encoded the one way links are."""
    text = _text(link, where, required=True)
    query = urlsplit(text).query if "://" in text or text.startswith("/") else text.lstrip("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if inputs is not None and not isinstance(inputs, dict):
        raise UserInputError(f"{where.replace('link', 'inputs')} should be a list of name: value.")
    params |= {str(name): input_text(value, f"{where} input {name}") for name, value in (inputs or {}).items()}
    if not (params.get("tab") or params.get("view")):
        raise UserInputError(f"{where} is not a view's link: it should hold ?tab=... (press a view's Copy link).")
    return "?" + urlencode(params)


def _step(raw: Any, number: int) -> Step:
    where = f"step {number}"
    if not isinstance(raw, dict):
        raise UserInputError(f"{where} should be a list of keys (title, link, question...), not {type(raw).__name__}.")
    _unknown_keys(raw, STEP_KEYS, where)
    hints = raw.get("hints") or ()
    hints = [hints] if isinstance(hints, str) else hints
    if not isinstance(hints, (list, tuple)):
        raise UserInputError(f"{where}'s hints should be a list of texts.")
    return Step(
        title=_text(raw.get("title"), f"{where}'s title") or f"Step {number}",
        link=link_query(raw.get("link"), f"{where}'s link", raw.get("inputs")),
        question=_text(raw.get("question"), f"{where}'s question"),
        text=_text(raw.get("text"), f"{where}'s text"),
        hints=tuple(_text(h, f"{where}'s hint {i + 1}") for i, h in enumerate(hints)),
        notes=_text(raw.get("notes"), f"{where}'s notes"),
    )


def parse_lesson(text: str | bytes, name: str = "") -> Lesson:
    """A lesson from the text of its YAML file; a clear :class:`UserInputError` for anything it cannot use."""
    import yaml

    if isinstance(text, bytes):
        if len(text) > MAX_LESSON_BYTES:
            raise UserInputError(f"The lesson file has {len(text):,} bytes; at most {MAX_LESSON_BYTES:,}.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserInputError("The lesson file is not UTF-8 text.") from None
    if len(text.encode("utf-8")) > MAX_LESSON_BYTES:
        raise UserInputError(f"The lesson file has more than {MAX_LESSON_BYTES:,} bytes.")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UserInputError(f"The lesson file is not valid YAML{where}: {getattr(error, 'problem', None) or error}.") from None
    if not isinstance(raw, dict):
        raise UserInputError("A lesson file holds a title and a list of steps (see docs/lessons.md).")
    _unknown_keys(raw, LESSON_KEYS, "The lesson")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise UserInputError("The lesson has no steps: give a list under 'steps:'.")
    if len(steps) > MAX_STEPS:
        raise UserInputError(f"The lesson has {len(steps)} steps; at most {MAX_STEPS}.")
    return Lesson(
        title=_text(raw.get("title"), "The lesson's title", required=True),
        intro=_text(raw.get("intro"), "The lesson's intro"),
        steps=tuple(_step(step, i + 1) for i, step in enumerate(steps)),
        name=name,
    )


def load_lesson(path: str | Path) -> Lesson:
    """The lesson in a YAML file, named after the file (``intro-to-masks.yaml`` -> ``intro-to-masks``)."""
    path = Path(path)
    name = path.stem.lower()
    if not NAME_PATTERN.match(name):
        raise UserInputError(f"A lesson file's name should be lower-case letters, digits, - or _: not {path.name!r}.")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserInputError(f"The lesson file {path.name} cannot be read: {error.strerror or error}.") from None
    try:
        return parse_lesson(data, name)
    except UserInputError as error:
        raise UserInputError(f"{path.name}: {error}") from None


def lesson_files(paths: list[str | Path]) -> list[Path]:
    """The YAML files of ``paths`` (a directory gives its ``*.yaml`` / ``*.yml``), in order."""
    found: list[Path] = []
    for path in map(Path, paths):
        found += sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    return found


@dataclass
class LessonLibrary:
    """The lessons a link can open by name: the shipped ones, then the teacher's (``--lesson``; the last of a
    name wins). ``opening`` is the lesson every visitor sees first (the first ``--lesson``), if any."""

    lessons: dict[str, Lesson] = field(default_factory=dict)
    opening: str | None = None

    @classmethod
    def build(cls, extra: list[str | Path] | None = None, shipped_dir: Path = SHIPPED_LESSONS_DIR) -> "LessonLibrary":
        library = cls({lesson.name: lesson for lesson in map(load_lesson, lesson_files([shipped_dir]))})
        own = [load_lesson(path) for path in lesson_files(list(extra or []))]
        library.lessons.update({lesson.name: lesson for lesson in own})
        library.opening = own[0].name if own else None
        return library

    def get(self, name: str) -> Lesson:
        lesson = self.lessons.get((name or "").strip().lower())
        if lesson is None:
            known = ", ".join(sorted(self.lessons)) or "none"
            raise UserInputError(f"No lesson is called {name[:40]!r} here; the lessons are: {known}.")
        return lesson


def lesson_from_links(title: str, text: str) -> Lesson:
    """A lesson built in the app: blocks separated by a blank line, each a share link on its first line, then the
    question (any further lines); the step's title is the view the link opens."""
    blocks = [block.strip().splitlines() for block in re.split(r"\n\s*\n", (text or "").strip()) if block.strip()]
    if not blocks:
        raise UserInputError("Paste at least one view's link (Copy link), with its question on the next lines.")
    if len(blocks) > MAX_STEPS:
        raise UserInputError(f"{len(blocks)} steps given; at most {MAX_STEPS}.")
    steps = []
    for number, lines in enumerate(blocks, 1):
        link = link_query(lines[0], f"step {number}'s first line")
        question = _text(" ".join(line.strip() for line in lines[1:]), f"step {number}'s question")
        step = Step(title=f"Step {number}", link=link, question=question)
        steps.append(replace(step, title=f"Step {number}: {step.view}"))
    return Lesson(title=_text(title, "The lesson's title") or "My lesson", steps=tuple(steps))


def lesson_yaml(lesson: Lesson) -> str:
    """The YAML file of a lesson (what :func:`parse_lesson` reads back to the same lesson)."""
    import yaml

    def step(s: Step) -> dict[str, Any]:
        entry: dict[str, Any] = {"title": s.title, "link": s.link}
        entry |= {key: getattr(s, key) for key in ("text", "question", "notes") if getattr(s, key)}
        return entry | ({"hints": list(s.hints)} if s.hints else {})

    raw: dict[str, Any] = {"title": lesson.title, **({"intro": lesson.intro} if lesson.intro else {}),
                           "steps": [step(s) for s in lesson.steps]}
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=110)


@dataclass
class LessonProgress:
    """A student's way through one lesson, kept in the browser session only: the step in view, an answer per
    question, and per step the tables its view showed (``seen``: ``(table name, rows as dicts)``)."""

    lesson: Lesson
    step: int = 0
    answers: list[str] = field(default_factory=list)
    seen: list[list[tuple[str, list[dict[str, Any]]]]] = field(default_factory=list)
    #: when the current step's view was opened (server clock): only a run after it counts as what it showed
    opened_at: float = 0.0
    teacher: bool = False

    def __post_init__(self) -> None:
        n = len(self.lesson.steps)
        self.answers = (list(self.answers) + [""] * n)[:n]
        self.seen = (list(self.seen) + [[] for _ in range(n)])[:n]
        self.step = min(max(int(self.step), 0), n - 1)

    @property
    def current(self) -> Step:
        return self.lesson.steps[self.step]

    def go(self, step: int) -> None:
        """Open ``step`` (clamped to the lesson): its view's later runs are what it showed."""
        self.step = min(max(int(step), 0), len(self.lesson.steps) - 1)
        self.opened_at = time.time()

    def keep(self, answer: str | None, tables: list[tuple[str, list[dict[str, Any]]]]) -> None:
        """The answer typed for the current step, and the tables its view showed since it opened (if any)."""
        self.answers[self.step] = (answer or "")[:MAX_FIELD_CHARS]
        if tables:
            self.seen[self.step] = tables
