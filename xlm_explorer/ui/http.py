"""Plain HTTP as a first-class client: what Gradio's ``POST /gradio_api/call/<endpoint>`` accepts beyond its own
list form, and the document that describes every endpoint.

- ``{"data": {"text": ..., "top_k": 5}}``: parameters by name, in any order; the rest take their defaults.
- ``{"data": ["The [MASK]."]}``: a list may stop after the parameters it needs; the rest take their defaults.
- anything else malformed (an unknown name, a missing required parameter, too many values, no ``data``) answers
  422 with ``{"detail": "<a plain sentence naming the parameter>"}`` instead of Gradio's bare 422 or its
  component reprs.
- ``GET /gradio_api/xlm/endpoints.json``: every endpoint's parameters (name, default, required) and the JSON
  Schema of its answer (:mod:`xlm_explorer.schemas`).

The request then goes through Gradio's queue unchanged: the same lanes, limits, progress and cancel as any client.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from .. import service
from ..schemas import endpoint_schema

CALL_PATH = re.compile(r"^(?:/.*)?/gradio_api/call/(?P<name>[a-z_]+)/?$")
DOCUMENT_PATH = "/gradio_api/xlm/endpoints.json"
_NO_DEFAULT = object()


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def endpoint_parameters(fn: Callable[..., Any]) -> list[tuple[str, Any]]:
    """``[(name, default or _NO_DEFAULT)]`` of a service endpoint, in the API's order (no workspace, no progress)."""
    found = []
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        if p.name != "progress":
            found.append((p.name, _NO_DEFAULT if p.default is inspect.Parameter.empty else _plain(p.default)))
    return found


class RequestError(ValueError):
    """A malformed call: the message names the parameter."""


def complete_data(name: str, data: Any, parameters: Sequence[tuple[str, Any]]) -> list[Any]:
    """The full positional list Gradio expects, from ``data`` given as a list (maybe short) or by name."""
    names = [n for n, _ in parameters]
    listed = ", ".join(names)
    if isinstance(data, dict):
        unknown = [key for key in data if key not in names]
        if unknown:
            raise RequestError(f"/{name} has no parameter {str(unknown[0])[:40]!r}; its parameters are: {listed}.")
        given = dict(data)
    elif isinstance(data, list):
        if len(data) > len(names):
            raise RequestError(f"/{name} takes {len(names)} values ({listed}), not {len(data)}.")
        given = dict(zip(names, data))
    else:
        raise RequestError(f'Send {{"data": [...]}} (values in order: {listed}) or {{"data": {{name: value}}}} to /{name}.')
    values = []
    for parameter, default in parameters:
        if parameter in given:
            values.append(given[parameter])
        elif default is _NO_DEFAULT:
            raise RequestError(f"/{name} needs a value for {parameter!r} (parameters: {listed}).")
        else:
            values.append(default)
    return values


def endpoints_document() -> dict[str, Any]:
    """Every endpoint: its parameters in order (with defaults) and the JSON Schema of its answer."""
    document: dict[str, Any] = {}
    for name, fn in service.ENDPOINTS.items():
        parameters = [
            {"name": n, "required": d is _NO_DEFAULT, **({} if d is _NO_DEFAULT else {"default": d})}
            for n, d in endpoint_parameters(fn)
        ]
        document[name] = {"call": f"/gradio_api/call/{name}", "parameters": parameters, "answer": endpoint_schema(name)}
    return document


class PlainHttp:
    """ASGI middleware: named and short ``data`` for ``/gradio_api/call/<endpoint>``, plain 422s, and the
    endpoints document."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.parameters = {name: endpoint_parameters(fn) for name, fn in service.ENDPOINTS.items()}
        self._document: bytes | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if scope.get("method") == "GET" and path.endswith(DOCUMENT_PATH):
            if self._document is None:
                self._document = json.dumps(endpoints_document()).encode()
            return await _respond(send, 200, self._document)
        match = CALL_PATH.match(path)
        if scope.get("method") != "POST" or match is None or match["name"] not in self.parameters:
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        try:
            request = json.loads(body or b"null")
            if not isinstance(request, dict) or "data" not in request:
                raise RequestError(f'Send a JSON object with "data" to /{match["name"]}.')
            request["data"] = complete_data(match["name"], request["data"], self.parameters[match["name"]])
        except (ValueError, RequestError) as error:
            message = str(error) if isinstance(error, RequestError) else f"The body is not JSON: {str(error)[:80]}."
            return await _respond(send, 422, json.dumps({"detail": message}).encode())
        rewritten = json.dumps(request).encode()
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        scope = dict(scope, headers=[*headers, (b"content-length", str(len(rewritten)).encode())])
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": rewritten, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _read_body(receive: Callable) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Callable, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
