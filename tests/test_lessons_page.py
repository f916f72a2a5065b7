"""A lesson as a student and a teacher go through it (Debian chromium, offline): the link opens the step panel and
the step's view with its inputs and runs it, Next and Back keep the answers, the question stays in view when the
results arrive, the summary downloads with the answers and the numbers the views showed, the teacher's notes show
only with teacher=1, a lesson written from links opens at once, and a wrong name is a message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_utils import BrowserSession, browser_session, open_settled, text_collisions, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def lesson_app(own_app_url: str) -> str:
    return own_app_url


@pytest.fixture()
def session() -> Iterator[BrowserSession]:
    with browser_session(viewport=(1400, 900)) as browser:
        yield browser


def open_lesson(session: BrowserSession, url: str) -> Any:
    return open_settled(session, url, "#xlm-lesson-heading h3")


def press(session: BrowserSession, selector: str) -> None:
    before = session.api_started
    session.page.locator(selector).click()
    wait_idle(session, started_before=before, timeout_s=120)
    session.page.wait_for_timeout(800)  # the smooth scroll


def heading(page: Any) -> str:
    return page.inner_text("#xlm-lesson-heading")


def in_view(page: Any, selector: str) -> bool:
    return page.evaluate("""(sel) => { const r = document.querySelector(sel)?.getBoundingClientRect();
        return !!r && r.height > 0 && r.top >= -1 && r.top < window.innerHeight; }""", selector)


def test_a_student_steps_through_a_lesson_and_downloads_the_summary(lesson_app: str, session: BrowserSession) -> None:
    page = open_lesson(session, lesson_app + "/?lesson=masks-and-pieces")
    assert "step 1 of 5" in heading(page) and "One blank, two models" in heading(page)
    assert page.locator("#fill-mask-results .xlm-completion").count() == 2  # the step's view ran, both models
    assert not page.get_by_text("Teacher's notes").is_visible()
    assert page.locator("#xlm-lesson-back").is_disabled()
    page.fill("#xlm-lesson-answer textarea", "Both put <b>a piece</b> first & are unsure.")

    press(session, "#xlm-lesson-next")
    assert "step 2 of 5" in heading(page) and "What the tokenizer sees" in heading(page)
    assert page.input_value("#xlm-lesson-answer textarea") == ""
    assert page.get_by_role("tab", name="Compare", exact=True).first.get_attribute("aria-selected") == "true"
    assert in_view(page, "#xlm-lesson"), "the step's question is out of view once its results arrived"
    pieces = page.inner_text("#compare-results").lower().replace("@@\n", "")
    assert "unbelievable" in pieces  # the step's own text, run (its pieces joined back)

    press(session, "#xlm-lesson-back")
    assert "step 1 of 5" in heading(page)
    assert page.input_value("#xlm-lesson-answer textarea") == "Both put <b>a piece</b> first & are unsure."

    page.locator("#xlm-lesson-finish").click()
    page.wait_for_selector("#xlm-lesson-files a", timeout=30_000)
    links = page.eval_on_selector_all("#xlm-lesson-files a", "els => els.map(e => e.href)")
    html_link = next(link for link in links if link.endswith(".html"))
    summary = page.request.get(html_link).text()
    first, second = summary.split("<h2>2.")[0], summary.split("<h2>2.")[1].split("<h2>3.")[0]
    assert "Both put &lt;b&gt;a piece&lt;/b&gt; first &amp; are unsure." in first
    assert "<table>" in first and "probability" in first  # the fill-mask tables' first rows
    assert "<table>" in second and "(no answer)" in second  # step 2 ran, unanswered
    assert "<table>" not in summary.split("<h2>3.")[1]  # steps never opened showed nothing
    assert f'href="{lesson_app}/?tab=fill-mask&amp;text=The+capital' in first
    assert not session.console_errors and not text_collisions(session)
    session.assert_all_local()


def test_the_teacher_sees_the_notes_and_a_step_number_opens_that_step(lesson_app: str, session: BrowserSession) -> None:
    page = open_lesson(session, lesson_app + "/?lesson=probing-bias&teacher=1&step=5")
    assert "step 5 of 5" in heading(page) and "What a probe cannot show" in heading(page)
    assert page.locator("#xlm-lesson-next").is_disabled()
    assert page.get_by_role("tab", name="Models", exact=True).first.get_attribute("aria-selected") == "true"
    press(session, "#xlm-lesson-back")
    assert "step 4 of 5" in heading(page)
    page.locator("#xlm-lesson").get_by_text("Teacher's notes").click()
    page.wait_for_timeout(500)
    assert page.get_by_text("Grammatical gender in French and German").is_visible()


def test_a_lesson_written_from_links_opens_at_once(lesson_app: str, session: BrowserSession) -> None:
    page = session.page
    page.goto(lesson_app, wait_until="load")
    page.wait_for_selector("button[role=tab]", timeout=60_000)
    assert not page.locator("#xlm-lesson").is_visible()
    page.get_by_role("tab", name="Lessons", exact=True).first.click()
    page.fill("#lessons-title textarea, #lessons-title input", "Class of Tuesday")
    press(session, "#lessons-try")
    assert "Lesson: Class of Tuesday" in heading(page) and "step 1 of 2" in heading(page)
    assert 'Which model puts "paris" first?' in page.inner_text("#xlm-lesson-body")
    assert page.locator("#fill-mask-results .xlm-completion").count() == 2
    page.locator("#xlm-lesson-close").click()
    page.wait_for_timeout(500)
    assert not page.locator("#xlm-lesson").is_visible()


def test_a_lesson_name_the_app_does_not_have_is_a_message(lesson_app: str, session: BrowserSession) -> None:
    page = session.page
    page.goto(lesson_app + "/?lesson=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", wait_until="load")
    page.wait_for_selector("#xlm-lesson-heading", timeout=60_000)
    page.wait_for_timeout(1000)
    assert "could not be opened" in heading(page)
    body = page.inner_text("#xlm-lesson-body")
    assert "No lesson is called" in body and "masks-and-pieces" in body and "Traceback" not in body
    assert page.locator("#xlm-lesson img").count() == 0 and not session.dialogs
    assert not page.locator("#xlm-lesson-answer").is_visible()


def test_a_question_about_tokens_is_shown_as_written_and_a_title_typed_and_used_at_once_is_the_one_used(
    lesson_app: str, session: BrowserSession
) -> None:
    """'<s> ... </s>' in a question vanished as HTML (' and end with ' struck through); a title typed and clicked at
    once was sometimes the box's previous value."""
    page = session.page
    page.goto(lesson_app, wait_until="load")
    page.wait_for_selector("button[role=tab]", timeout=60_000)
    page.locator("#fill-mask-share").click()  # a link copied earlier: its box opens and the address holds it
    page.locator("#fill-mask-link").wait_for(state="visible", timeout=10_000)
    assert "tab=fill-mask" in page.url
    page.get_by_role("tab", name="Lessons", exact=True).first.click()
    page.fill("#lessons-links textarea", "?tab=fill-mask&model=en-2048\nWhy does every input start with <s> and end with </s>?")
    page.fill("#lessons-title textarea, #lessons-title input", "Tokens <s> and </s>")
    press(session, "#lessons-try")  # at once: the click carries what the boxes show
    assert "Lesson: Tokens <s> and </s>" in heading(page) and "step 1 of 1" in heading(page)
    assert "Why does every input start with <s> and end with </s>?" in page.inner_text("#xlm-lesson-body")
    assert page.locator("#xlm-lesson-body s, #xlm-lesson-body del").count() == 0 and not session.dialogs
    assert "tab=fill-mask" not in page.url  # a reload opens the page, not the last copied link
    assert not page.locator("#fill-mask-link").is_visible()  # and the copied link's box has closed
