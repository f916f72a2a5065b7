"""Groups of a data set's rows named by a query, for the direction projection (mean(B) - mean(A)).

A query is either ``lang:fr`` (the rows in that language; ``lang:fr,de`` for several) or words separated by commas
(``he, him, his``: the rows whose text holds any of them as a whole word, ignoring case; in languages written
without spaces, :data:`~xlm_explorer.tokenization.UNSPACED_LANGUAGES`, anywhere in the text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserInputError
from ..tokenization import UNSPACED_LANGUAGES

LANG_PREFIX = "lang:"
MAX_QUERY_CHARS = 200
GROUP_NAMES = ("A", "B")


@dataclass(frozen=True)
class GroupQuery:
    """``kind`` is "lang" (``values`` are language codes) or "words" (``values`` are words, lower-cased)."""

    kind: str
    values: tuple[str, ...]
    text: str

    def select(self, texts: Sequence[str], langs: Sequence[str]) -> np.ndarray:
        """(N,) bool: the rows this query names."""
        if self.kind == "lang":
            return np.array([lang in self.values for lang in langs], dtype=bool)
        patterns = [re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE) for word in self.values]
        return np.array([
            any(word in text.lower() for word in self.values) if lang in UNSPACED_LANGUAGES
            else any(p.search(text) for p in patterns)
            for text, lang in zip(texts, langs)
        ], dtype=bool)


def parse_query(text: object, name: str) -> GroupQuery:
    """``lang:fr[,de]`` or ``word[, word]``; an empty or over-long query is refused with its group's name."""
    query = str(text or "").strip()
    if not query:
        raise UserInputError(f"Group {name} of the direction is empty: write lang:fr for a language or words "
                             "such as he, him.")
    if len(query) > MAX_QUERY_CHARS:
        raise UserInputError(f"Group {name} of the direction is {len(query)} characters long; at most {MAX_QUERY_CHARS}.")
    kind = "lang" if query.lower().startswith(LANG_PREFIX) else "words"
    body = query[len(LANG_PREFIX):] if kind == "lang" else query
    values = tuple(dict.fromkeys(v.strip() if kind == "lang" else v.strip().lower() for v in body.split(",") if v.strip()))
    if not values:
        raise UserInputError(f"Group {name} of the direction names no {'language' if kind == 'lang' else 'word'}.")
    return GroupQuery(kind=kind, values=values, text=query)


def select_groups(queries: Sequence[object], texts: Sequence[str], langs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two queries (A, B) -> two (N,) bool masks; refused when a group has no row or both name the same rows."""
    masks = []
    for name, text in zip(GROUP_NAMES, queries):
        query = parse_query(text, name)
        mask = query.select(texts, langs)
        if not mask.any():
            raise UserInputError(f"Group {name} ({query.text[:40]!r}) matches no row of the data set.")
        masks.append(mask)
    if np.array_equal(masks[0], masks[1]):
        raise UserInputError("Groups A and B name the same rows; the direction needs two different groups.")
    return masks[0], masks[1]
