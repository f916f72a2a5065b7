"""One declaration per public endpoint: :class:`Endpoint`, built from the service function's own signature.

A service function declares its endpoint once::

    @endpoint(answer=(FillMaskRequest, FillMaskItem, Empty))
    def fill_mask(ws, text: Text, model: ModelChoice = BOTH, lang: Language = "en",
                  top_k: Annotated[int, Between(MIN_TOP_K, MAX_TOP_K)] = DEFAULT_TOP_K, progress=None) -> Answer:

The signature is the one place a parameter's name, type, default, limits and choices are written; ``@endpoint``
adds whether the endpoint is heavy (its own lane, one at a time) and whether its answers are kept across sessions
(``remembered``), and the typed dicts of its answer. Everything else is read from the record: the public API's
inputs and defaults (``ui.wiring.wire_api``), plain HTTP's parameters and ``endpoints.json`` (``ui.http``), the JSON
Schemas (``schemas``), the page's controls (``ui.widgets.control``), the share links' decoding (``ui.share``), the
lanes, the answer cache, and the parameter table of docs/api.md (``python -m xlm_explorer.schemas --parameters``).

Calling the record validates every argument first (:meth:`Endpoint.resolve`): a value of the wrong type, out of its
range or not among its choices is refused with one plain sentence that names the parameter by its API name, before
any model loads; an omitted or ``None`` argument takes the declared default; a required one missing is refused.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from .. import checks
from ..analysis.fill_mask import MAX_MASKS, MAX_TOP_K, MIN_TOP_K
from ..errors import UserInputError
from ..specs import MODEL_KEYS
from .answers import Answer, remembered

#: A parameter with no default: every client must give it.
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Between:
    """A whole number from ``low`` to ``high`` (both included)."""

    low: int
    high: int


@dataclass(frozen=True)
class OneOf:
    """One of ``choices`` (exact text)."""

    choices: tuple[str, ...]


class LanguageCode:
    """One language code of 100-1280 (en-2048 reads every text as English)."""


class LanguageCodes:
    """A list of language codes (one code alone counts as a list of one); the endpoint says which ones it has."""


class Upload:
    """A file: a path, or gradio's file data (``handle_file`` in the clients, ``POST /gradio_api/upload`` over HTTP)."""


class Layers:
    """One layer or a list of layers, each a number or a name (``middle``, ``last``)."""


class WordList:
    """Words as one text (split on commas or lines by the endpoint) or as a list of texts."""


#: The vocabulary's parameter types, each written once.
Text = str
Language = Annotated[str, LanguageCode()]
Languages = Annotated[Any, LanguageCodes()]
Words = Annotated[Any, WordList()]
LayerList = Annotated[Any, Layers()]
ModelChoice = Annotated[str, OneOf((*MODEL_KEYS, checks.BOTH))]
OneModel = Annotated[str, OneOf(MODEL_KEYS)]
File = Annotated[Any, Upload()]
#: How many predictions a fill-mask view lists; which [MASK] of the text (1 = the first).
TopK = Annotated[int, Between(MIN_TOP_K, MAX_TOP_K)]
MaskNumber = Annotated[int, Between(1, MAX_MASKS)]

KINDS = ("text", "number", "choice", "flag", "language", "languages", "words", "file", "layers")


@dataclass(frozen=True)
class Param:
    """One parameter of an endpoint, as the signature declares it."""

    name: str
    kind: str
    default: Any = REQUIRED
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    #: ``None`` is a value of its own (``layer`` None: the middle layer), not only "the default"
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def api_default(self) -> Any:
        """The default as JSON (a tuple as a list); None for a required parameter."""
        if self.required:
            return None
        return list(self.default) if isinstance(self.default, tuple) else self.default

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the values this parameter takes (what ``view_api`` and endpoints.json show)."""
        schema: dict[str, Any] = {
            "text": {"type": "string"},
            "number": {"type": "integer"},
            "choice": {"type": "string", "enum": list(self.choices)},
            "flag": {"type": "boolean"},
            "language": {"type": "string"},
            "languages": {"type": "array", "items": {"type": "string"}},
            "words": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "file": {"type": "object", "description": "a file (handle_file, or a path from POST /gradio_api/upload)"},
            "layers": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}]},
        }[self.kind]
        if self.kind == "number":
            schema.update(minimum=self.low, maximum=self.high)
        if self.nullable or (not self.required and self.default is None):
            schema = {"anyOf": [schema, {"type": "null"}]}
        if not self.required:
            schema["default"] = self.api_default
        return schema

    def limits(self) -> str:
        """The parameter's limits or choices in words (docs/api.md's table)."""
        if self.kind == "number":
            return f"{self.low}..{self.high}"
        if self.kind == "choice":
            return " \\| ".join(self.choices)
        return ""

    def check(self, value: Any, ws: Any = None) -> Any:
        """``value`` checked and normalised, or a :class:`UserInputError` naming this parameter. ``None`` takes the
        default (``ws``: the workspace, for the language codes its models know; without it they are not checked)."""
        if value is None or (self.nullable and isinstance(value, str) and not value.strip()):
            if self.required:
                raise UserInputError(f"{self.name} is required: give it a value.")
            return self.default
        return getattr(self, f"_check_{self.kind}")(value, ws)

    def _check_text(self, value: Any, _ws: Any) -> str:
        if not isinstance(value, str):
            raise UserInputError(f"{self.name} must be text, not {_kind_of(value)}.")
        return value

    def _check_number(self, value: Any, _ws: Any) -> int:
        if isinstance(value, bool) or isinstance(value, (list, dict, tuple)):
            raise UserInputError(f"{self.name} must be a whole number from {self.low} to {self.high}, not {_kind_of(value)}.")
        return checks.whole_number(value, self.low, self.high, self.name)  # type: ignore[arg-type]

    def _check_choice(self, value: Any, _ws: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise UserInputError(f"Unknown {self.name} {checks.shown(value, 40)!r}; choose one of: {', '.join(self.choices)}.")
        return value

    def _check_flag(self, value: Any, _ws: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        raise UserInputError(f"{self.name} must be true or false, not {checks.shown(value)!r}.")

    def _check_language(self, value: Any, ws: Any) -> str:
        if not isinstance(value, str):
            raise UserInputError(f"{self.name} must be a language code such as en, not {_kind_of(value)}.")
        return value if ws is None else checks.language(ws.manager, value, what=f"language ({self.name})")

    def _check_languages(self, value: Any, _ws: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(code, str) for code in items):
            raise UserInputError(f"{self.name} must be a list of language codes such as [\"en\", \"fr\"], not {_kind_of(value)}.")
        return list(items)

    def _check_words(self, value: Any, _ws: Any) -> Any:
        if isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(w, str) for w in value)):
            return value
        raise UserInputError(f"{self.name} must be text (comma-separated) or a list of texts, not {_kind_of(value)}.")

    def _check_file(self, value: Any, _ws: Any) -> Any:
        return value

    def _check_layers(self, value: Any, _ws: Any) -> Any:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            raise UserInputError(f"{self.name} must be a layer (a number, middle or last) or a list of them, not {_kind_of(value)}.")
        return value


def _kind_of(value: Any) -> str:
    """A value's type in the API's words (what a client sent)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"{checks.shown(value)!r}"
    return type(value).__name__


def param_of(name: str, annotation: Any, default: Any) -> Param:
    """The :class:`Param` a signature's parameter declares (its annotation's markers, its default)."""
    markers = typing.get_args(annotation)[1:] if typing.get_origin(annotation) is Annotated else ()
    base = typing.get_args(annotation)[0] if markers else annotation
    nullable = type(None) in typing.get_args(base)
    if nullable:
        base = next(arg for arg in typing.get_args(base) if arg is not type(None))
    for marker in markers:
        if isinstance(marker, Between):
            return Param(name, "number", default, marker.low, marker.high, nullable=nullable)
        if isinstance(marker, OneOf):
            return Param(name, "choice", default, choices=marker.choices)
        kind = {LanguageCode: "language", LanguageCodes: "languages", WordList: "words", Upload: "file", Layers: "layers"}.get(type(marker))
        if kind:
            return Param(name, kind, default, nullable=nullable)
    if base is bool:
        return Param(name, "flag", default)
    if base is str:
        return Param(name, "text", default, nullable=nullable)
    raise TypeError(f"{name}: declare its type (text, a number Between(low, high), OneOf(...), a language, a file)")


@dataclass(frozen=True)
class Endpoint:
    """A public endpoint, declared once: its service function, its parameters (from the signature), its answer's
    typed dicts ``(request, one results item, shared)``, whether it is heavy and whether its answers are kept.
    Calling it validates every argument by the declaration, then runs the function."""

    name: str
    fn: Callable[..., Answer]
    params: tuple[Param, ...]
    answer: tuple[type, type, type]
    heavy: bool = False
    kept: bool = False
    run: Callable[..., Answer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", remembered(self.fn) if self.kept else self.fn)
        object.__setattr__(self, "__name__", self.name)  # the API name: the wiring and the warm-up name a run by it
        object.__setattr__(self, "__doc__", self.fn.__doc__)
        object.__setattr__(self, "__signature__", inspect.signature(self.fn))  # Python callers read the function's

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def resolve(self, ws: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Every parameter's checked value by name (defaults filled in); a :class:`UserInputError` naming the
        parameter for the first one refused."""
        if len(args) > len(self.params):
            raise UserInputError(f"/{self.name} takes {len(self.params)} values ({', '.join(self.names)}), not {len(args)}.")
        given = dict(zip(self.names, args))
        for name, value in kwargs.items():
            if name not in self.names:
                raise UserInputError(f"/{self.name} has no parameter {name[:40]!r}; its parameters are: {', '.join(self.names)}.")
            if name in given:
                raise UserInputError(f"/{self.name} got two values for {name}.")
            given[name] = value
        return {p.name: p.check(given.get(p.name), ws) for p in self.params}

    def __call__(self, ws: Any, *args: Any, progress: Any = None, **kwargs: Any) -> Answer:
        return self.run(ws, **self.resolve(ws, *args, **kwargs), progress=progress)

    def is_kept(self, ws: Any, *args: Any, **kwargs: Any) -> bool:
        """Whether this request's answer is kept (it will come from memory at once); False for a refused request."""
        if not self.kept:
            return False
        try:
            values = self.resolve(ws, *args, **kwargs)
        except UserInputError:
            return False
        return self.run.is_kept(ws, **values)  # type: ignore[attr-defined]


def endpoint(answer: tuple[type, type, type], heavy: bool = False, kept: bool = False) -> Callable[[Callable[..., Answer]], Endpoint]:
    """Declare a service function ``fn(ws, <parameters>, progress=None) -> Answer`` as the public endpoint of its
    name (see the module's docstring)."""

    def declare(fn: Callable[..., Answer]) -> Endpoint:
        hints = typing.get_type_hints(fn, include_extras=True)
        params = tuple(
            param_of(p.name, hints.get(p.name, Any), p.default)
            for p in list(inspect.signature(fn).parameters.values())[1:]
            if p.name != "progress"
        )
        return Endpoint(fn.__name__, fn, params, answer, heavy, kept)

    return declare


def parameter_table(endpoints: dict[str, Endpoint]) -> str:
    """docs/api.md's parameter table, written from the records (a test holds the page to it)."""
    lines = ["| endpoint | parameter | type | default | limits or choices |", "|---|---|---|---|---|"]
    for name, record in endpoints.items():
        for i, p in enumerate(record.params):
            default = "**required**" if p.required else f"`{_json(p.api_default)}`"
            lines.append(f"| {f'`/{name}`' if i == 0 else ''} | `{p.name}` | {p.kind} | {default} | {p.limits()} |")
    return "\n".join(lines)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False).replace("|", "\\|")
