"""Errors that carry a message meant for the person using the app.

The UI layer turns these into ``gr.Error`` messages; anything else is an internal error that is logged
and answered with a generic message (never a stack trace).
"""

from __future__ import annotations


class UserInputError(ValueError):
    """The request cannot be answered as asked; ``str(error)`` tells the user what to change."""


class ModelLoadError(RuntimeError):
    """A configured model could not be loaded; the message names the model, the source and the fix."""

    def __init__(self, key: str, source: str, reason: str, fix: str) -> None:
        self.key = key
        self.source = source
        self.reason = reason
        self.fix = fix
        super().__init__(f"Model '{key}' could not be loaded from '{source}': {reason}. Fix: {fix}")
