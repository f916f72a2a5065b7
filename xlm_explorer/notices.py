"""Notices: one plain-text line shown beside a result, carrying a code so that code finds it without matching words.

A :class:`Notice` is a ``str`` (it travels to API clients and into JSON as its text) with a ``code`` attribute.
Set-level analyses replace the per-item notices of one code by one notice for the set (:func:`without`), and the
page and the tests look notices up by code (:func:`with_code`), never by a substring of their wording.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The model read the text in another language than the one asked for (en-2048 reads everything as English).
ENGLISH_ONLY = "english_only"
#: Some pieces are not in the model's vocabulary (``<unk>``).
UNKNOWN_PIECES = "unknown_pieces"


class Notice(str):
    """A notice's text with its ``code`` (one of the constants in this module)."""

    code: str

    def __new__(cls, text: str, code: str) -> "Notice":
        notice = super().__new__(cls, text)
        notice.code = code
        return notice

    def __reduce__(self):  # noqa: ANN204 - pickles (caches, process pools) keep the code
        return (Notice, (str(self), self.code))


def code_of(notice: str) -> str | None:
    """The notice's code, or None for a plain string."""
    return getattr(notice, "code", None)


def without(notices: Iterable[str], *codes: str) -> list[str]:
    """``notices`` less those of ``codes``."""
    return [n for n in notices if code_of(n) not in codes]


def with_code(notices: Iterable[str], code: str) -> list[str]:
    """Those of ``notices`` that have ``code``."""
    return [n for n in notices if code_of(n) == code]


def english_only(model: str, what: str = "text", consequence: str = "") -> Notice:
    """The one wording of "this model read non-English input as English" (``consequence`` is appended)."""
    verb = "were" if what.endswith("s") else "was"
    text = f"{model} is English-only: the {what} {verb} tokenized as English."
    return Notice(f"{text} {consequence}" if consequence else text, ENGLISH_ONLY)
