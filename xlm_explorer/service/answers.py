"""What every service function shares: the :class:`Answer` it returns, the envelope around its results, progress
split over parts of a run, and loading the models a request names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..contract import envelope
from ..errors import ModelLoadError
from ..models import LoadedModel
from ..workspace import Workspace

#: ``progress(fraction, message)``; it may raise to stop a long run (the page's Stop button does).
Progress = Callable[[float, str], None]

@dataclass(frozen=True)
class Answer:
    """What an endpoint returns: ``payload`` (plain JSON types: what the API sends), ``results`` (objects
    for the views) and ``notices`` (one line each, de-duplicated, plain text)."""

    payload: dict[str, Any]
    results: Any
    notices: tuple[str, ...] = ()


def unique_notices(notices: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in notices if n))


def make_answer(
    endpoint: str, request: dict[str, Any], items: Sequence[dict[str, Any]], results: Any, errors: dict[str, str],
    notices: Sequence[str] = (), shared: dict[str, Any] | None = None,
) -> Answer:
    """The endpoint's :func:`~xlm_explorer.contract.envelope` and the objects the views draw; the page's notices
    are the answer's notices and then the load errors, the payload keeps the errors apart."""
    unique = unique_notices(notices)
    payload = envelope(endpoint, request, items, errors, [n for n in unique if n not in errors.values()], shared)
    return Answer(payload, results, unique_notices([*unique, *errors.values()]))


def per_model(
    endpoint: str, request: dict[str, Any], results: Sequence[Any], errors: dict[str, str],
    shared: dict[str, Any] | None = None, item: Callable[[Any], dict[str, Any]] = lambda r: r.to_dict(),
) -> Answer:
    """:func:`make_answer` for the endpoints with one result object per model: each one's ``item`` (its ``to_dict()``)
    and all their notices, in order."""
    return make_answer(endpoint, request, [item(r) for r in results], results, errors, [n for r in results for n in r.notices],
                   shared)


def report_part(progress: Progress | None, start: float, end: float) -> Progress | None:
    """``progress`` rescaled so that 0..1 of a part maps to ``start..end`` of the whole run."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * fraction, message)


def load_models(ws: Workspace, keys: Sequence[str], progress: Progress | None = None) -> tuple[list[LoadedModel], dict[str, str]]:
    """The loaded models for ``keys`` and a message per key that failed to load.

    With several keys, a model that cannot be loaded is reported and the others still answer; when no model
    can be loaded, the first :class:`ModelLoadError` is raised.
    """
    loaded: list[LoadedModel] = []
    errors: dict[str, str] = {}
    first_error: ModelLoadError | None = None
    on_load = None if progress is None else (lambda message: progress(0.0, message))
    for key in keys:
        try:
            was_loaded = ws.manager.is_loaded(key)
            model = ws.manager.get(key, on_load=on_load)
            loaded.append(model)
            if not was_loaded and progress is not None:
                progress(0.0, f"{key} loaded ({model.load_seconds:.1f} s, first use)")
        except ModelLoadError as error:
            first_error = first_error or error
            errors[key] = str(error)
    if not loaded and first_error is not None:
        raise first_error
    return loaded, errors
