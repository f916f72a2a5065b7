"""Messages on the page: notices beside the results, toasts, and the one wording of an internal error."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

from ..errors import ModelLoadError, UserInputError

log = logging.getLogger(__name__)


GENERIC_ERROR = "Something went wrong on the server ({name}); the error was logged. Try a shorter or simpler input."


def toast_text(message: str) -> str:
    """Gradio draws toast messages as HTML: escape text that may quote user input."""
    return html.escape(message, quote=False)


#: More notices than this fold into one line with their count, which opens them (a phone's run bar held 16).
FOLD_AFTER = 2


def notices_html(notices: Sequence[str], kind: str = "notice") -> str:
    """Notices as one escaped line each, beside the results they concern (empty string when none); more than
    :data:`FOLD_AFTER` fold into one line, "N notices: <the first>", that opens to show them all."""
    unique = [n for n in dict.fromkeys(notices) if n]
    items = "".join(f'<li class="xlm-{kind}"><bdi>{html.escape(n)}</bdi></li>' for n in unique)
    if not items:
        return ""
    listed = f'<ul class="xlm-notices" role="status">{items}</ul>'
    if len(unique) <= FOLD_AFTER:
        return listed
    return (f'<details class="xlm-notices-fold xlm-{kind}"><summary>{len(unique)} notices: '
            f"<bdi>{html.escape(unique[0])}</bdi></summary>{listed}</details>")


def user_message(error: BaseException) -> str:
    if isinstance(error, (UserInputError, ModelLoadError)):
        return str(error)
    log.error("internal error", exc_info=error)
    return GENERIC_ERROR.format(name=type(error).__name__)
