"""Text sets for the embedding explorer: the shipped parallel data and user data (pasted or uploaded).

A data set is a tuple of :class:`TextItem` rows ``(item_id, lang, text)``; rows sharing an ``item_id``
are translations of one another. Every check raises :class:`UserInputError` with a message that says what
to change: wrong columns, empty files, non-text files, unknown language codes, too many rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..paths import DATA_DIR
from ..uploads import MAX_ROWS as UPLOAD_ROWS
from ..uploads import read_upload

ASSETS_DATA = DATA_DIR
#: Shipped data sets: name -> (file, description).
SHIPPED_DATASETS: dict[str, tuple[str, str]] = {
    "sentences": ("parallel_sentences.tsv", "48 everyday sentences in 15 languages"),
    "words": ("parallel_words.tsv", "44 words (numbers, colours, animals, family, days, nouns) in 15 languages"),
}
#: Most rows a data set may have (shipped subsets, pasted lines and uploads alike): the upload policy's.
MAX_ROWS = UPLOAD_ROWS["embeddings"]
#: Most characters in one text cell.
MAX_TEXT_CHARS = 1000
REQUIRED_COLUMNS = ("id", "lang", "text")


@dataclass(frozen=True)
class TextItem:
    """One row: ``item_id`` groups translations, ``lang`` is a language code, ``text`` the text."""

    item_id: str
    lang: str
    text: str


@dataclass(frozen=True)
class Dataset:
    """Rows to embed, in a fixed order; ``name`` says where they came from."""

    name: str
    items: tuple[TextItem, ...]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.item_id for item in self.items)

    @property
    def langs(self) -> tuple[str, ...]:
        return tuple(item.lang for item in self.items)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(item.text for item in self.items)

    @property
    def languages(self) -> tuple[str, ...]:
        """Distinct language codes in first-seen order."""
        return tuple(dict.fromkeys(self.langs))

    @property
    def content_key(self) -> str:
        """A hash of the rows (not the name): equal content gives equal keys, whatever its source."""
        digest = hashlib.sha256()
        for item in self.items:
            for part in (item.item_id, item.lang, item.text):
                digest.update(part.encode("utf-8"))
                digest.update(b"\x1f")
            digest.update(b"\x1e")
        return digest.hexdigest()[:32]


def _clean_cell(value: object) -> str:
    return str(value if value is not None else "").strip()


def validate_rows(
    rows: Iterable[tuple[str, str, str]],
    known_languages: Sequence[str],
    *,
    name: str,
    where: str = "row",
    max_rows: int = MAX_ROWS,
) -> Dataset:
    """Check ``(item_id, lang, text)`` rows and build a :class:`Dataset`.

    Language codes are matched case-insensitively against ``known_languages``. Rows are numbered from 1
    in messages (``where`` names the unit: "row" or "line").
    """
    known = {code.lower(): code for code in known_languages}
    items: list[TextItem] = []
    unknown: dict[str, int] = {}
    for number, (item_id, lang, text) in enumerate(rows, start=1):
        if len(items) >= max_rows:
            raise UserInputError(f"Too many rows: the limit is {max_rows:,} rows per data set. Remove some and try again.")
        item_id, lang, text = _clean_cell(item_id), _clean_cell(lang), _clean_cell(text)
        if not lang:
            raise UserInputError(f"{where.capitalize()} {number}: the language code is empty.")
        if not text:
            raise UserInputError(f"{where.capitalize()} {number}: the text is empty.")
        if len(text) > MAX_TEXT_CHARS:
            raise UserInputError(
                f"{where.capitalize()} {number}: the text is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}."
            )
        code = known.get(lang.lower())
        if code is None:
            unknown.setdefault(lang[:20], number)
            continue
        items.append(TextItem(item_id=item_id or f"{where}{number}", lang=code, text=text))
    if unknown:
        shown = ", ".join(f"'{code}' ({where} {number})" for code, number in list(unknown.items())[:5])
        examples = ", ".join(sorted(known_languages)[:12])
        raise UserInputError(
            f"Unknown language code{'s' if len(unknown) > 1 else ''}: {shown}. Use the model's codes, e.g. {examples} …"
        )
    if not items:
        raise UserInputError("The data set has no rows: give at least one line with a language code and a text.")
    return Dataset(name=name, items=tuple(items))


def parse_pasted(text: str | None, known_languages: Sequence[str], *, max_rows: int = MAX_ROWS) -> Dataset:
    """Lines ``lang<TAB>text`` or ``lang<TAB>text<TAB>id``; blank lines and lines starting with ``#`` are skipped.

    A line without an id is its own item (``line<N>``); give the same id to translations of one text.
    """
    if not isinstance(text, str) or not text.strip():
        raise UserInputError("Nothing pasted: write one line per text, as lang<TAB>text (optionally <TAB>id).")
    rows: list[tuple[str, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise UserInputError(
                f"Line {number} has no tab: write lang<TAB>text (for example 'fr<TAB>Le chat dort.'), "
                "optionally followed by <TAB>id."
            )
        if len(parts) > 3:
            raise UserInputError(f"Line {number} has {len(parts)} tab-separated fields; expected 2 or 3: lang, text, id.")
        lang, body = parts[0], parts[1]
        item_id = parts[2].strip() if len(parts) == 3 else ""
        rows.append((item_id or f"line{number}", lang, body))
        if len(rows) > max_rows:
            raise UserInputError(f"Too many lines: the limit is {max_rows:,} lines. Remove some and try again.")
    if not rows:
        raise UserInputError("Nothing pasted: every line was blank or a # comment.")
    return validate_rows(rows, known_languages, name="pasted", where="line", max_rows=max_rows)


def parse_table(content: str, filename: str, known_languages: Sequence[str], *, max_rows: int = MAX_ROWS) -> Dataset:
    """A CSV or TSV text with a header naming the columns ``id``, ``lang`` and ``text`` (any order, any case).

    Tab-separated when the name ends in .tsv/.tab or the header line holds a tab; otherwise comma-separated.
    """
    first_line = content.lstrip("\ufeff").splitlines()[0] if content.strip() else ""
    if not first_line.strip():
        raise UserInputError(f"The file {filename!r} is empty or its first line is blank; it needs a header: id, lang, text.")
    tab = filename.lower().endswith((".tsv", ".tab")) or "\t" in first_line
    reader = csv.reader(io.StringIO(content), delimiter="\t" if tab else ",")
    try:
        header = [cell.strip().lower() for cell in next(reader)]
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            shown = ", ".join(repr(cell[:30]) for cell in header[:8])
            raise UserInputError(
                f"The file {filename!r} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                f"its header is {shown}. The first line must name the columns id, lang and text "
                f"({'tab' if tab else 'comma'}-separated)."
            )
        index = {column: header.index(column) for column in REQUIRED_COLUMNS}
        rows: list[tuple[str, str, str]] = []
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(index.values()):
                raise UserInputError(
                    f"Row {number - 1} (line {number}) of {filename!r} has {len(row)} field(s); the header has {len(header)}."
                )
            rows.append((row[index["id"]], row[index["lang"]], row[index["text"]]))
            if len(rows) > max_rows:
                raise UserInputError(
                    f"The file {filename!r} has more than {max_rows:,} rows; the limit is {max_rows:,}. Upload fewer rows."
                )
    except csv.Error as error:
        raise UserInputError(f"The file {filename!r} could not be read as {'TSV' if tab else 'CSV'}: {error}.") from None
    if not rows:
        raise UserInputError(f"The file {filename!r} has a header but no rows.")
    return validate_rows(rows, known_languages, name=Path(filename).name, where="row", max_rows=max_rows)


def read_uploaded(upload: Any, known_languages: Sequence[str], *, max_rows: int = MAX_ROWS) -> Dataset:
    """Read an uploaded CSV/TSV file (columns id, lang, text) under the upload policy; see :func:`parse_table`."""
    name, content = read_upload(upload, missing="No file uploaded: choose a CSV or TSV file with columns id, lang, text.")
    return parse_table(content, name, known_languages, max_rows=max_rows)


def load_shipped(
    name: str,
    languages: Sequence[str] | None = None,
    *,
    max_items: int | None = None,
    data_dir: Path = ASSETS_DATA,
) -> Dataset:
    """A shipped parallel data set, optionally restricted to some languages and to the first ``max_items`` ids."""
    if name not in SHIPPED_DATASETS:
        raise UserInputError(f"Unknown data set {str(name)[:40]!r}; choose one of: {', '.join(SHIPPED_DATASETS)}.")
    path = data_dir / SHIPPED_DATASETS[name][0]
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        items = [TextItem(row["id"].strip(), row["lang"].strip(), row["text"].strip()) for row in reader if row.get("text")]
    if languages is not None:
        wanted = list(dict.fromkeys(languages))
        available = {item.lang for item in items}
        missing = [code for code in wanted if code not in available]
        if missing:
            raise UserInputError(
                f"The {name} data set has no {', '.join(missing[:5])} rows; it has: {', '.join(sorted(available))}."
            )
        if not wanted:
            raise UserInputError("Pick at least one language.")
        items = [item for item in items if item.lang in set(wanted)]
    if max_items is not None:
        keep = set(list(dict.fromkeys(item.item_id for item in items))[: max(1, int(max_items))])
        items = [item for item in items if item.item_id in keep]
    if len(items) > MAX_ROWS:
        raise UserInputError(f"That selection has {len(items):,} rows; the limit is {MAX_ROWS:,}. Pick fewer languages or items.")
    return Dataset(name=name, items=tuple(items))


def shipped_languages(name: str, data_dir: Path = ASSETS_DATA) -> tuple[str, ...]:
    """Language codes of a shipped data set, in file order."""
    return load_shipped(name, data_dir=data_dir).languages
