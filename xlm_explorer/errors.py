"""Errors that carry a message meant for the person using the app.

The UI layer turns these into ``gr.Error`` messages; anything else is an internal error that is logged
and answered with a generic message (never a stack trace).
"""

from __future__ import annotations


class UserInputError(ValueError):
    """The request cannot be answered as asked; ``str(error)`` tells the user what to change."""


class ModelLoadError(RuntimeError):
    """A configured model could not be loaded; the message names the model, where from and the fix.

    ``source`` is the configured source (a server path stays here and in the server log); the message
    shows ``shown_source`` (the hub id, or "a local copy"), since it reaches the page and API clients.
    """

    def __init__(self, key: str, source: str, reason: str, fix: str, shown_source: str | None = None) -> None:
        self.key = key
        self.source = source
        self.reason = reason
        self.fix = fix
        where = shown_source if shown_source is not None else f"'{source}'"
        super().__init__(f"Model '{key}' could not be loaded from {where}: {reason}. Fix: {fix}")
