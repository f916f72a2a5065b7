"""Data sets for the embedding explorer: the shipped parallel sets and every kind of bad user data."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from xlm_explorer.analysis.datasets import (
    MAX_ROWS,
    Dataset,
    TextItem,
    load_shipped,
    parse_pasted,
    read_uploaded,
    shipped_languages,
)
from xlm_explorer.errors import UserInputError
from xlm_explorer.specs import XLM_100_LANGUAGES

KNOWN = XLM_100_LANGUAGES


def _scripts(texts: list[str]) -> set[str]:
    """First word of the Unicode name of each letter: LATIN, CYRILLIC, GREEK, ARABIC, HEBREW, DEVANAGARI, CJK…"""
    found = set()
    for text in texts:
        for ch in text:
            if ch.isalpha():
                found.add(unicodedata.name(ch, "?").split()[0])
    return found


@pytest.mark.parametrize("name, n_items", [("sentences", 48), ("words", 44)])
def test_shipped_sets_are_fully_parallel_in_at_least_12_languages(name: str, n_items: int) -> None:
    data = load_shipped(name)
    per_item = Counter(data.item_ids)
    languages = data.languages
    assert len(languages) >= 12 and set(languages) <= set(KNOWN)
    assert len(per_item) == n_items >= 40
    assert set(per_item.values()) == {len(languages)}  # every item in every language
    assert len(set(zip(data.item_ids, data.langs))) == len(data)  # no duplicate (id, lang)
    assert {"LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "CJK"} <= _scripts(list(data.texts))


def test_shipped_subset_by_language_and_items() -> None:
    data = load_shipped("sentences", ["en", "fr", "ru"], max_items=5)
    assert data.languages == ("en", "fr", "ru")
    assert len(set(data.item_ids)) == 5 and len(data) == 15
    assert shipped_languages("words")[0] == "en"
    with pytest.raises(UserInputError, match="has no xx rows"):
        load_shipped("sentences", ["en", "xx"])
    with pytest.raises(UserInputError, match="Unknown data set"):
        load_shipped("poems")


def test_content_key_depends_on_content_not_name() -> None:
    rows = (TextItem("1", "en", "a cat"), TextItem("1", "fr", "un chat"))
    assert Dataset("a", rows).content_key == Dataset("b", rows).content_key
    assert Dataset("a", rows).content_key != Dataset("a", rows[:1]).content_key
    # the separator keeps ("ab", "c") and ("a", "bc") apart
    assert Dataset("a", (TextItem("ab", "en", "c"),)).content_key != Dataset("a", (TextItem("a", "en", "bc"),)).content_key


def test_paste_with_and_without_ids() -> None:
    data = parse_pasted("en\tThe cat.\tc1\n\n# a comment\nFR\tLe chat.\tc1\nde\tDer Hund.", KNOWN)
    assert data.items == (
        TextItem("c1", "en", "The cat."),
        TextItem("c1", "fr", "Le chat."),  # codes are matched case-insensitively
        TextItem("line5", "de", "Der Hund."),  # no id: the line (5) is its own item
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Nothing pasted"),
        ("# only a comment\n\n", "Nothing pasted"),
        ("en The cat sleeps.", "Line 1 has no tab"),
        ("en\ta\tb\tc", "expected 2 or 3"),
        ("en\t   ", "Line 1: the text is empty"),
        ("en\tok\nxx\tbad\nyy\tbad", "Unknown language codes: 'xx' \\(line 2\\), 'yy' \\(line 3\\)"),
        ("en\t" + "a" * 1001, "the limit is 1,000"),
    ],
)
def test_bad_paste_is_explained(text: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_pasted(text, KNOWN)


def test_paste_row_limit() -> None:
    ok = "\n".join(f"en\ttext {i}" for i in range(MAX_ROWS))
    assert len(parse_pasted(ok, KNOWN)) == MAX_ROWS
    with pytest.raises(UserInputError, match="limit is 2,000"):
        parse_pasted(ok + "\nen\tone more", KNOWN)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_good_csv_and_tsv_uploads(tmp_path: Path) -> None:
    csv_path = _write(tmp_path, "data.csv", 'Text,Lang,ID\n"Hello, world",en,g\nBonjour,fr,g\n')
    data = read_uploaded(csv_path, KNOWN)
    assert data.items == (TextItem("g", "en", "Hello, world"), TextItem("g", "fr", "Bonjour"))
    assert data.name == "data.csv"
    tsv_path = _write(tmp_path, "data.tsv", "\ufeffid\tlang\ttext\nx\tru\tПривет\n\n")
    assert read_uploaded(tsv_path, KNOWN).items == (TextItem("x", "ru", "Привет"),)
    # a .txt whose header holds tabs is read as TSV
    assert len(read_uploaded(_write(tmp_path, "t.txt", "id\tlang\ttext\n1\ten\thi\n"), KNOWN)) == 1


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", "", "is empty"),
        ("blank.csv", "\n\n  \n", "is empty"),
        ("header.csv", "id,lang,text\n", "has a header but no rows"),
        ("cols.csv", "identifier,language,sentence\n1,en,hi\n", "lacks the columns id, lang, text"),
        ("cols2.tsv", "id\tlanguage\ttext\n1\ten\thi\n", "lacks the column lang"),
        ("short.csv", "id,lang,text\n1,en\n", "has 2 field"),
        ("langs.csv", "id,lang,text\n1,en,hi\n2,klingon,nuq\n", "Unknown language code: 'klingon' \\(row 2\\)"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100), "not a text file"),
        ("latin1.csv", "id,lang,text\n1,fr,caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_uploads_are_explained(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        read_uploaded(_write(tmp_path, name, content), KNOWN)


def test_upload_row_limit_and_missing_file(tmp_path: Path) -> None:
    rows = "".join(f"{i},en,text {i}\n" for i in range(MAX_ROWS + 1))
    with pytest.raises(UserInputError, match="more than 2,000 rows"):
        read_uploaded(_write(tmp_path, "big.csv", "id,lang,text\n" + rows), KNOWN)
    with pytest.raises(UserInputError, match="No file uploaded"):
        read_uploaded(None, KNOWN)
    with pytest.raises(UserInputError, match="could not be found"):
        read_uploaded(tmp_path / "gone.csv", KNOWN)
