"""The checks every public endpoint shares: whole numbers in a range, a choice from a list, a model choice,
a language. Each raises :class:`~xlm_explorer.errors.UserInputError` with a message that says what to change.

Messages are plain text (never HTML): they travel to API clients as they are and are escaped only where
a page draws them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .errors import UserInputError

if TYPE_CHECKING:
    from .models import ModelManager

#: The model choice that means "every configured model, side by side".
BOTH = "both"
#: Characters refused before tokenizing, so a huge paste cannot tie up the tokenizer.
MAX_TEXT_CHARS = 20_000


def shown(value: object, limit: int = 20) -> str:
    """A user value quoted in a message: its text, cut to ``limit`` characters."""
    return str(value)[:limit]


def whole_number(value: object, low: int, high: int, name: str, *, out_of_range: str | None = None) -> int:
    """``value`` as an int in ``low..high`` (floats such as 3.0 are accepted, as sliders send them).

    The message is "<name> must be a whole number from <low> to <high>, not <value>."; ``out_of_range``
    (a format string with ``{low}``, ``{high}`` and ``{value}``) replaces it for a number out of range.
    """
    message = f"{name} must be a whole number from {low} to {high}"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise UserInputError(f"{message}, not {shown(value)!r}.") from None
    if not math.isfinite(number) or not number.is_integer():
        raise UserInputError(f"{message}, not {shown(value)}.")
    if not low <= number <= high:
        if out_of_range is not None:
            raise UserInputError(out_of_range.format(low=low, high=high, value=shown(value)))
        raise UserInputError(f"{message}, not {shown(value)}.")
    return int(number)


def one_of(value: object, choices: Iterable[str], name: str) -> str:
    """``value`` if it is one of ``choices``; else a message listing them."""
    options = list(choices)
    if not isinstance(value, str) or value not in options:
        raise UserInputError(f"Unknown {name} {shown(value, 40)!r}; choose one of: {', '.join(options)}.")
    return value


def model_keys(manager: "ModelManager", choice: object) -> list[str]:
    """Model keys for a model choice: one key, or every configured key for ``both``."""
    if choice == BOTH:
        return list(manager.keys)
    return [manager.check_key(choice)]  # type: ignore[arg-type]


def language(manager: "ModelManager", lang: object, what: str = "language") -> str:
    """A language code the multilingual model knows (en-2048 reads every text as English)."""
    if not isinstance(lang, str) or lang not in manager.languages("100-1280"):
        raise UserInputError(f"Unknown {what} {shown(lang, 40)!r}; pick one from the list (e.g. en, fr, de).")
    return lang


def languages(manager: "ModelManager", codes: object, what: str = "language") -> list[str]:
    """A list of language codes (a single code is accepted as a list of one)."""
    if codes is None:
        return []
    items: Sequence[object] = [codes] if isinstance(codes, str) else list(codes)  # type: ignore[call-overload]
    return [language(manager, code, what) for code in items]


def check_text(text: object, *, what: str = "text") -> str:
    """Basic checks every free-text input gets: a string, not empty, not huge."""
    if not isinstance(text, str):
        raise UserInputError(f"The {what} must be a string.")
    if not text.strip():
        raise UserInputError(f"The {what} is empty: type a sentence first.")
    if len(text) > MAX_TEXT_CHARS:
        raise UserInputError(
            f"The {what} is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,} characters "
            "(and 512 token positions)."
        )
    return text


def check_mask_number(mask_number: object, n_masks: int) -> int:
    """A 1-based mask number within 1..n_masks, or a clear :class:`UserInputError`."""
    return whole_number(
        mask_number,
        1,
        n_masks,
        "The mask number",
        out_of_range="The mask number must be from {low} to {high} (the text has {high} masks), not {value}.",
    )
