"""XSS in a real page: hostile strings typed into every text field of every view, and hostile cells in
uploaded files, are shown as text. No script runs (no dialog, no ``window.__xlm_xss``) and no injected
element appears (payload elements carry ids starting with ``xlmxss``), in the page or in any iframe
(bertviz), whether the view answers with results or with an error message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_utils import (
    BrowserSession,
    browser_session,
    injected_elements,
    launched_app,
    main_button,
    open_app,
    own_element,
    require_chromium,
    select_tab,
    tab_names,
    wait_idle,
    xss_fired,
)

from xlm_explorer.models import ENV_MODELS, ModelManager, resolve_sources

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: One line, no tabs: it is appended to every line of every text field (TSV fields keep their shape).
PAYLOAD = (
    '<img src=x id="xlmxss-img" onerror="window.__xlm_xss=1;alert(1)">'
    '<svg id="xlmxss-svg" onload="window.__xlm_xss=2"></svg>'
    '</script><script id="xlmxss-script">window.__xlm_xss=3;alert(3)</script>'
    '<a id="xlmxss-a" href="javascript:window.__xlm_xss=4">link</a>'
    '"><iframe id="xlmxss-frame" srcdoc="<script>parent.__xlm_xss=5</script>"></iframe>'
    "{{7*7}}"
)
HOSTILE_CELL = PAYLOAD.replace('"', "'")


@pytest.fixture(scope="module")
def xss_app(tiny_models_env: str) -> Iterator[str]:
    require_chromium()
    manager = ModelManager(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")
    with launched_app(manager) as url:
        yield url


@pytest.fixture()
def session() -> Iterator[BrowserSession]:
    with browser_session() as browser:
        yield browser


def poison(value: str, keep_lines: int = 3) -> str:
    """``value`` with the payload at the end of each sentence-like line (3+ words). Short values (word lists,
    head specs, empty optional fields) stay as they are so that the view still runs; a table's header line
    is kept, and only its first ``keep_lines`` lines (cost: some views score every token of every line)."""
    lines = value.split("\n")
    header = len(lines) > 1 and "\t" in lines[0] and "lang" in lines[0].lower()
    lines = lines[: keep_lines + (1 if header else 0)]
    return "\n".join(
        line if (header and i == 0) or len(line.split()) < 3 else f"{line} {PAYLOAD}" for i, line in enumerate(lines)
    )


def hostile_upload(directory: Path, label: str, accept: str) -> Path:
    """A file in the shape the upload expects, with hostile cells (languages included)."""
    if ".json" in accept and ".csv" not in accept:
        path = directory / "probes.json"
        path.write_text(
            json.dumps(
                [
                    {
                        "id": HOSTILE_CELL,
                        "lang": "en",
                        "template": "The {filler} said that [MASK] would be late. " + HOSTILE_CELL,
                        "targets": ["he", "she"],
                        "fillers": ["doctor", HOSTILE_CELL],
                        "note": HOSTILE_CELL,
                    }
                ]
            ),
            encoding="utf-8",
        )
    elif "pair" in label.lower():
        path = directory / "pairs.tsv"
        path.write_text(
            "id\tlang\tbias_type\tsent_more\tsent_less\n"
            f"x1\ten\t{HOSTILE_CELL}\tThe man {HOSTILE_CELL} left.\tThe woman {HOSTILE_CELL} left.\n"
            f"{HOSTILE_CELL}\t{HOSTILE_CELL}\tgender\tHe left.\tShe left.\n",
            encoding="utf-8",
        )
    else:
        path = directory / "sentences.csv"
        rows = [
            ("1", "en", f"The cat {HOSTILE_CELL} sleeps."),
            ("1", "fr", f"Le chat {HOSTILE_CELL} dort."),
            ("2", "en", "A dog runs."),
            ("2", HOSTILE_CELL, "x"),
            ("2", "fr", "Un chien court."),
        ]
        path.write_text(
            "id,lang,text\n" + "".join(f'{i},{lang},"{text}"\n' for i, lang, text in rows), encoding="utf-8"
        )
    return path


def units(session: BrowserSession) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for tab in tab_names(session):
        panel = select_tab(session, tab)
        subtabs = tab_names(session, panel) if main_button(session, panel) is None else []
        found += [(tab, sub) for sub in subtabs] if subtabs else [(tab,)]
    return found


def open_unit(session: BrowserSession, path: tuple[str, ...]) -> Any:
    panel = None
    for name in path:
        panel = select_tab(session, name, panel)
    return panel


def own_textareas(session: BrowserSession, panel: Any) -> list[Any]:
    fields = []
    while True:
        field = own_element(
            session,
            panel,
            ["textarea:not([data-xss-done])", "input[type=text]:not([data-xss-done]):not([role=listbox])"],
        )
        if field is None or len(fields) > 20:
            return fields
        field.evaluate("(el) => el.setAttribute('data-xss-done', '1')")
        if field.is_editable() and not field.get_attribute("aria-expanded"):
            fields.append(field)


def run_and_check(session: BrowserSession, panel: Any, where: str) -> list[str]:
    button = main_button(session, panel)
    if button is None:
        return []
    before = session.api_started
    button.click()
    wait_idle(session, started_before=before, timeout_s=180)
    session.page.wait_for_timeout(1500)  # let plotly, bertviz (iframes) and toasts draw
    problems = [f"{where}: script ran ({f})" for f in xss_fired(session)]
    problems += [f"{where}: injected element {e}" for e in injected_elements(session)]
    return problems


def test_hostile_text_in_every_field_is_shown_as_text(xss_app: str, session: BrowserSession) -> None:
    open_app(session, xss_app)
    problems: list[str] = []
    checked = 0
    for path in units(session):
        panel = open_unit(session, path)
        fields = own_textareas(session, panel)
        poisoned = 0
        for field in fields:
            value = field.input_value()
            if poison(value) != value:
                field.fill(poison(value))
                poisoned += 1
        if poisoned:
            checked += 1
            problems += run_and_check(session, panel, " / ".join(path))
    assert checked >= 2, "fewer than two views had a text field to attack"
    assert not problems, "\n".join(problems)
    assert not session.dialogs, session.dialogs
    session.assert_all_local()


def test_hostile_cells_in_uploaded_files_are_shown_as_text(
    xss_app: str, session: BrowserSession, tmp_path: Path
) -> None:
    open_app(session, xss_app)
    problems: list[str] = []
    uploaded = 0
    for path in units(session):
        panel = open_unit(session, path)
        upload_choice = own_element(session, panel, ["label:has(input[type=radio][value=upload])"])
        if upload_choice is not None:
            upload_choice.click()
            session.page.wait_for_timeout(500)
        file_input = panel.locator("input[type=file]")
        here = 0
        for i in range(file_input.count()):
            one = file_input.nth(i)
            block = one.locator("xpath=ancestor::div[contains(@class,'block')][1]")
            if not block.is_visible() or one.evaluate("(el) => !!el.closest('.table-container, .table-wrap')"):
                continue
            label = block.inner_text()
            target = hostile_upload(tmp_path, label, one.get_attribute("accept") or "")
            before = session.api_started
            one.set_input_files(str(target))
            wait_idle(session, started_before=before, timeout_s=60)
            here += 1
        uploaded += here
        if here:
            problems += run_and_check(session, panel, " / ".join(path) + " (upload)")
    assert uploaded >= 1, "no view offered an upload"
    assert not problems, "\n".join(problems)
    assert not session.dialogs, session.dialogs
    session.assert_all_local()
