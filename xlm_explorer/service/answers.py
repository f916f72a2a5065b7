"""What every service function shares: the :class:`Answer` it returns, the envelope around its results, progress
split over parts of a run, and loading the models a request names."""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contract import envelope
from ..errors import ModelLoadError
from ..uploads import upload_path
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


#: Parameters that name a file (an upload): a request is the file's content, not its temporary path.
FILE_PARAMETERS = ("upload", "corpus_file")
#: What a visitor waiting for the same run sees on its progress line.
WAITING_MESSAGE = "The same run is under way for another visitor: its answer comes to both"


def request_key(name: str, value: Any) -> Any:
    """A hashable, exact stand-in for one argument: lists as tuples, a file by its content's SHA-256."""
    if name in FILE_PARAMETERS and value is not None:
        path = upload_path(value)
        if path and Path(path).is_file():
            return ("file", hashlib.sha256(Path(path).read_bytes()).hexdigest())
        return ("file", str(value))
    if isinstance(value, (bytes, bytearray)):
        return ("bytes", hashlib.sha256(bytes(value)).hexdigest())
    if isinstance(value, (list, tuple)):
        return tuple(request_key("", v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), request_key("", v)) for k, v in value.items()))
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def remembered(fn: Callable[..., Answer]) -> Callable[..., Answer]:
    """A heavy endpoint whose answers are kept in ``ws.answers`` by request (every argument but the progress), for
    every session and client: the same request again is answered from memory, and requests arriving while it runs
    wait for that one run (single flight), their progress line saying so and their Stop still stopping them.
    Answers with a model's load error are not kept (the next request tries the model again)."""
    signature = inspect.signature(fn)

    def key_of(*args: Any, **kwargs: Any) -> tuple[Any, tuple[Any, ...], Progress | None]:
        """The workspace, the request's key (every argument but the progress, defaults filled in), the progress."""
        full = signature.bind(*args, **kwargs)
        full.apply_defaults()
        request = tuple((n, request_key(n, v)) for n, v in full.arguments.items() if n not in ("ws", "progress"))
        return full.arguments["ws"], (fn.__name__, request), full.arguments.get("progress")

    def is_kept(*args: Any, **kwargs: Any) -> bool:
        """Whether this request's answer is kept (it will come from memory, at once)."""
        ws, key, _progress = key_of(*args, **kwargs)
        return key in ws.answers

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Answer:
        ws, key, progress = key_of(*args, **kwargs)
        waiting = (lambda: progress(0.0, WAITING_MESSAGE)) if progress is not None else None
        return ws.answers.get_or_compute(
            key, lambda: fn(*args, **kwargs), waiting=waiting, keep=lambda answer: not answer.payload.get("errors"),
        )

    run.is_kept = is_kept  # type: ignore[attr-defined]
    return run
