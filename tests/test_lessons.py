"""Lessons as a specification: the file format (read, written back, refused with a message that says what to
change), every shipped lesson's steps opening views of the page with inputs they take, a lesson built from links,
the student's progress, what a view showed read back from its download tables, and the summary (escaped)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from xlm_explorer.downloads import DownloadStore
from xlm_explorer.errors import UserInputError
from xlm_explorer.lessons import (
    MAX_STEPS,
    SHIPPED_LESSONS_DIR,
    LessonLibrary,
    LessonProgress,
    lesson_from_links,
    lesson_yaml,
    load_lesson,
    parse_lesson,
)
from xlm_explorer.ui.share import decode_value
from xlm_explorer.views import lesson as views

ROOT = Path(__file__).resolve().parents[1]

SMALL = """title: A small lesson
intro: Read this first.
steps:
  - title: Predict
    link: http://127.0.0.1:7860/?tab=fill-mask&text=The cat sat on the [MASK].&model=en-2048&run=1
    question: What comes first?
    hints: One hint.
    notes: For the teacher.
  - link: ?tab=bias&view=bias-languages&run=1
    inputs:
      languages: [en, fr]
"""


@pytest.fixture(scope="module")
def opener(manager):
    from xlm_explorer.ui.app import build_demo

    return build_demo(manager).xlm_lesson_opener


def test_a_lesson_file_reads_into_steps_with_their_links() -> None:
    lesson = parse_lesson(SMALL, "small")
    assert lesson.title == "A small lesson" and lesson.intro == "Read this first." and len(lesson.steps) == 2
    first, second = lesson.steps
    assert first.params == {"tab": "fill-mask", "text": "The cat sat on the [MASK].", "model": "en-2048", "run": "1"}
    assert first.hints == ("One hint.",) and first.notes == "For the teacher." and first.view == "fill-mask"
    assert second.title == "Step 2" and second.view == "bias-languages"
    assert second.params["languages"] == '["en", "fr"]'  # a list of inputs: JSON, as a share link holds it
    assert second.question == ""


def test_a_lesson_written_back_reads_the_same() -> None:
    for lesson in [parse_lesson(SMALL, "small"), *LessonLibrary.build().lessons.values()]:
        assert parse_lesson(lesson_yaml(lesson), lesson.name) == lesson


@pytest.mark.parametrize(("text", "message"), [
    ("title: x\nsteps: [\n", "not valid YAML (line"),
    ("just text", "holds a title and a list of steps"),
    ("title: x\nsteps: []\n", "no steps"),
    ("title: x\nstep:\n  - link: ?tab=fill-mask\n", "unknown keys step"),
    ("title: x\nsteps:\n  - link: ?tab=fill-mask\n    qestion: typo\n", "step 1 has unknown keys qestion"),
    ("title: x\nsteps:\n  - link: https://example.org/page\n", "step 1's link is not a view's link"),
    ("title: x\nsteps:\n  - title: no link\n", "step 1's link is missing"),
    ("title: x\nsteps:\n  - 42\n", "step 1 should be a list of keys"),
    ("title: x\nsteps:\n  - link: ?tab=fill-mask\n    hints: {a: b}\n", "hints should be a list"),
    ("steps:\n  - link: ?tab=fill-mask\n", "title is missing"),
    ("title: x\nsteps:\n" + "  - link: ?tab=fill-mask\n" * (MAX_STEPS + 1), f"at most {MAX_STEPS}"),
])
def test_a_lesson_file_it_cannot_use_is_refused_with_what_to_change(text: str, message: str) -> None:
    with pytest.raises(UserInputError) as raised:
        parse_lesson(text)
    assert message in str(raised.value), str(raised.value)


def test_bytes_that_are_not_utf8_or_too_many_are_refused() -> None:
    with pytest.raises(UserInputError, match="not UTF-8"):
        parse_lesson(b"title: \xff\xfe\n")
    with pytest.raises(UserInputError, match="at most 100,000"):
        parse_lesson(b"#" * 100_001)


def test_every_shipped_lesson_opens_views_of_the_page_with_inputs_they_take(opener) -> None:
    library = LessonLibrary.build()
    assert sorted(library.lessons) == ["masks-and-pieces", "probing-bias", "translations-across-layers"]
    ctx = opener.ctx
    for lesson in library.lessons.values():
        assert 4 <= len(lesson.steps) and all(step.question for step in lesson.steps), lesson.name
        for step in lesson.steps:
            assert opener.problems(step.params) == [], (lesson.name, step.title)
            target = ctx.share_targets.get(step.view)
            if target is None:  # a tab without a run (the Models tab)
                assert step.view in opener.tab_ids and "run" not in step.params
                continue
            assert step.params.get("run") == "1", (lesson.name, step.title)
            for name in set(step.params) & set(target.inputs):  # each value decodes on its control
                decode_value(target.inputs[name], step.params[name])


def test_a_link_that_names_no_view_or_an_input_it_lacks_is_a_problem(opener) -> None:
    assert opener.problems({"tab": "fill-mask", "text": "a [MASK]", "k": "3", "run": "1"}) == []  # k: an older name
    assert "not a view here" in opener.problems({"tab": "nowhere"})[0]
    assert "takes no input colour" in opener.problems({"tab": "fill-mask", "colour": "red"})[0]
    assert opener.problems({"tab": "models"}) == []


def test_the_page_refuses_a_lesson_whose_link_it_cannot_open(manager, tmp_path: Path) -> None:
    from xlm_explorer.ui.app import build_demo

    (tmp_path / "bad.yaml").write_text("title: x\nsteps:\n  - link: ?tab=fill-mask&colour=red\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="Lesson 'bad': Step 1's link: fill-mask takes no input colour"):
        build_demo(manager, lessons=LessonLibrary.build([tmp_path]))


def test_the_first_lesson_given_opens_for_every_visitor_and_links_open_any_by_name(tmp_path: Path) -> None:
    (tmp_path / "my-class.yaml").write_text(SMALL, encoding="utf-8")
    library = LessonLibrary.build([tmp_path / "my-class.yaml"])
    assert library.opening == "my-class"
    assert library.get("My-Class").title == "A small lesson"
    assert library.get("probing-bias").name == "probing-bias"
    with pytest.raises(UserInputError, match="No lesson is called 'nope' here; the lessons are: masks-and-pieces"):
        library.get("nope")
    assert LessonLibrary.build().opening is None


def test_a_lesson_file_needs_a_name_a_link_can_hold(tmp_path: Path) -> None:
    path = tmp_path / "My Lesson.yaml"
    path.write_text(SMALL, encoding="utf-8")
    with pytest.raises(UserInputError, match="lower-case letters"):
        load_lesson(path)


def test_the_app_stops_at_start_with_the_message_of_a_lesson_it_cannot_use(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("title: x\nsteps: 3\n", encoding="utf-8")
    code = "import sys, app; app.load_lessons(app.parse_args(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "--lesson", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert "app.py: --lesson: broken.yaml: The lesson has no steps" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_lesson_built_from_links_has_a_step_per_block() -> None:
    text = ("http://host/?tab=fill-mask&text=a+%5BMASK%5D&run=1\nFirst question,\non two lines.\n\n\n"
            "?tab=compare&view=compare-grid&run=1\n")
    lesson = lesson_from_links("  ", text)
    assert lesson.title == "My lesson" and [s.title for s in lesson.steps] == ["Step 1: fill-mask", "Step 2: compare-grid"]
    assert lesson.steps[0].question == "First question, on two lines." and lesson.steps[1].question == ""
    assert lesson.steps[0].params["text"] == "a [MASK]"
    with pytest.raises(UserInputError, match="Paste at least one"):
        lesson_from_links("t", " \n ")
    with pytest.raises(UserInputError, match="step 1's first line is not a view's link"):
        lesson_from_links("t", "just a question?")


def test_progress_keeps_an_answer_per_step_and_clamps_its_moves() -> None:
    progress = LessonProgress(parse_lesson(SMALL, "small"))
    assert progress.step == 0 and progress.answers == ["", ""] and progress.seen == [[], []]
    progress.keep("mat", [("top", [{"token": "mat", "probability": 0.5}])])
    progress.go(5)
    assert progress.step == 1
    progress.keep("", [])
    progress.go(-3)
    assert progress.step == 0 and progress.answers == ["mat", ""]
    assert progress.seen[0] == [("top", [{"token": "mat", "probability": 0.5}])]


def test_what_a_view_showed_is_the_head_of_the_tables_it_wrote_since_the_step_opened(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path)
    frame = pd.DataFrame({"token": [f"t{i}" for i in range(9)], "probability": [0.5 / (i + 1) for i in range(9)],
                          **{f"c{j}": range(9) for j in range(8)}})
    before = time.time() - 1
    store.write("s1", "fill-mask", {"en-2048": frame, "100-1280": frame.iloc[::-1]}, {"endpoint": "fill_mask"})
    seen = store.tables_since("s1", "fill-mask", before, rows=3, columns=2)
    assert sorted(name for name, _rows in seen) == ["100-1280", "en-2048"]
    by_name = dict(seen)
    assert by_name["en-2048"] == [{"token": "t0", "probability": 0.5}, {"token": "t1", "probability": 0.25},
                                  {"token": "t2", "probability": 0.5 / 3}]
    assert by_name["100-1280"][0] == {"token": "t8", "probability": 0.5 / 9}
    assert store.tables_since("s1", "fill-mask", time.time() + 5) == []  # nothing run since the step opened
    assert store.tables_since("other", "fill-mask", before) == []


def test_the_summary_holds_each_question_answer_link_and_numbers_and_escapes_what_people_wrote() -> None:
    lesson = parse_lesson(SMALL.replace("What comes first?", "What <b>comes</b> first?"), "small")
    progress = LessonProgress(lesson)
    progress.keep("It is <script>alert(1)</script> & mat", [("en-2048", [{"token": "mat", "probability": 0.123456}])])
    page = views.summary_html(progress, "http://127.0.0.1:7860/")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; mat" in page
    assert "What &lt;b&gt;comes&lt;/b&gt; first?" in page
    assert 'href="http://127.0.0.1:7860/?tab=fill-mask&amp;text=The+cat+sat+on+the+%5BMASK%5D.' in page
    assert "<td>mat</td><td>0.1235</td>" in page and "(no answer)" not in page.split("<h2>2.")[0]
    markdown = views.summary_markdown(progress, "http://127.0.0.1:7860")
    assert "> It is \\<script>alert(1)\\</script> & mat" in markdown  # shown as typed, never as HTML, in the Markdown too
    assert "| mat | 0.1235 |" in markdown and "<http://127.0.0.1:7860/?tab=bias&view=bias-languages" in markdown


def test_the_step_panel_says_where_the_student_is_and_what_is_asked() -> None:
    progress = LessonProgress(parse_lesson(SMALL, "small"))
    assert views.step_heading(progress).startswith("**Lesson: A small lesson** · step 1 of 2")
    assert views.step_body(progress) == "Read this first.\n\n**Question:** What comes first?"
    progress.go(1)
    assert "Read this first." not in views.step_body(progress) and "No question" in views.step_body(progress)
    listing = views.lesson_list_markdown(list(LessonLibrary.build().lessons.values()))
    assert "(?lesson=probing-bias)" in listing and "(?lesson=probing-bias&teacher=1)" in listing


def test_the_shipped_lessons_are_where_the_docs_say() -> None:
    assert SHIPPED_LESSONS_DIR == ROOT / "assets" / "lessons"
    docs = (ROOT / "docs" / "lessons.md").read_text(encoding="utf-8")
    for name in LessonLibrary.build().lessons:
        assert f"?lesson={name}" in docs


def test_a_lessons_questions_hints_and_titles_are_shown_as_written_and_its_markdown_loads_nothing_from_another_host() -> None:
    """A question about <s> and </s> lost both tokens and struck text through (Markdown read them as HTML); an intro's
    image from another host was fetched by every student's browser."""
    from xlm_explorer.lessons import LessonProgress, parse_lesson
    from xlm_explorer.views import lesson as views

    lesson = parse_lesson(
        "title: Tokens <s> and </s>\n"
        "intro: 'Look ![a chart](https://example.org/chart.png) and ![ours](/gradio_api/file=x.png). <img src=\"http://x.org/a.png\">'\n"
        "steps:\n"
        "  - link: ?tab=fill-mask\n"
        "    text: '**Bold** words still work.'\n"
        "    question: Why does every input start with <s> and end with </s>?\n"
        "    hints: ['# not a heading', '*not emphasis*']\n"
        "    notes: <b>plain</b>\n")
    progress = LessonProgress(lesson, teacher=True)
    body, heading = views.step_body(progress), views.step_heading(progress)
    assert "**Question:** Why does every input start with \\<s> and end with \\</s>?" in body
    assert "Tokens \\<s> and \\</s>" in heading
    assert "example.org" not in body and views.IMAGE_LEFT_OUT in body and "![ours](/gradio_api/file=x.png)" in body
    assert "<img" not in body and "&lt;img" in body and "**Bold** words still work." in body
    assert views.hints_markdown(progress.current) == "- \\# not a heading\n- \\*not emphasis\\*"
    assert views.notes_markdown(progress.current) == "\\<b>plain\\</b>"
