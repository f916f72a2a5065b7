"""Plain HTTP as a first-class client: what Gradio's ``POST /gradio_api/call/<endpoint>`` accepts beyond its own
list form, and the document that describes every endpoint.

- ``{"data": {"text": ..., "top_k": 5}}``: parameters by name, in any order; the rest take their defaults.
- ``{"data": ["The [MASK]."]}``: a list may stop after the parameters it needs; the rest take their defaults.
- anything else malformed (an unknown name, a missing required parameter, too many values, no ``data``) answers
  422 with ``{"detail": "<a plain sentence naming the parameter>"}`` instead of Gradio's bare 422 or its
  component reprs.
- ``GET /gradio_api/xlm/endpoints.json``: every endpoint's parameters (name, default, required) and the JSON
  Schema of its answer (:mod:`xlm_explorer.schemas`).
- ``POST /gradio_api/xlm/run/<endpoint>`` with the same body: one request, one JSON answer (the envelope, or
  ``{"detail": message}`` with 422), for scripts that do not want the two-step stream. It is the two steps done
  here, through the same queue.

Every request goes through Gradio's queue unchanged: the same lanes, limits, progress and cancel as any client.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from .. import service
from ..schemas import endpoint_schema

CALL_PATH = re.compile(r"^(?P<root>.*)/gradio_api/call/(?P<name>[a-z_]+)/?$")
RUN_PATH = re.compile(r"^(?P<root>.*)/gradio_api/xlm/run/(?P<name>[a-z_]+)/?$")
DOCUMENT_PATH = "/gradio_api/xlm/endpoints.json"
_NO_DEFAULT = object()


def endpoint_parameters(endpoint: service.Endpoint) -> list[tuple[str, Any]]:
    """``[(name, default or _NO_DEFAULT)]`` of an endpoint's record, in the API's order."""
    return [(p.name, _NO_DEFAULT if p.required else p.api_default) for p in endpoint.params]


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
        raise RequestError(
            f'Send {{"data": [...]}} (values in order: {listed}) or {{"data": {{name: value}}}} to /{name}.'
        )
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
    """Every endpoint from its record: its parameters in order (type, default, limits or choices, as JSON Schema),
    whether it is heavy or kept, and the JSON Schema of its answer."""
    document: dict[str, Any] = {}
    for name, record in service.ENDPOINTS.items():
        parameters = [
            {"name": p.name, "required": p.required, **({} if p.required else {"default": p.api_default}), "schema": p.json_schema()}
            for p in record.params
        ]
        document[name] = {"call": f"/gradio_api/call/{name}", "parameters": parameters, "heavy": record.heavy,
                          "kept": record.kept, "answer": endpoint_schema(name)}
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
        run = RUN_PATH.match(path)
        if scope.get("method") == "POST" and run is not None and run["name"] in self.parameters:
            return await self._run(scope, receive, send, run)
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
        headers = [*_headers_without(scope, b"content-length"), (b"content-length", str(len(rewritten)).encode())]
        scope = dict(scope, headers=headers)
        return await self.app(scope, _body_once(rewritten, receive), send)

    async def _run(self, scope: dict, receive: Callable, send: Callable, run: re.Match) -> None:
        """One request: the queue's POST then its stream, answered as one JSON document."""
        call = f"{run['root']}/gradio_api/call/{run['name']}"
        body = await _read_body(receive)
        status, posted = await _inside(self, dict(scope, path=call, raw_path=call.encode()), body)
        if status != 200:
            return await _respond(send, status, posted)
        event_id = json.loads(posted)["event_id"]
        stream_path = f"{call}/{event_id}"
        get = dict(scope, method="GET", path=stream_path, raw_path=stream_path.encode(), query_string=b"",
                   headers=_headers_without(scope, b"content-length", b"content-type"))
        _status, streamed = await _inside(self.app, get, b"")
        events = [e for e in re.findall(r"^event: (\w+)\ndata: (.*)$", streamed.decode("utf-8", "replace"), re.M)
                  if e[0] in ("complete", "error")]
        kind, data = events[-1] if events else ("error", json.dumps("The call ended without an answer."))
        if kind == "complete":
            return await _respond(send, 200, json.dumps(json.loads(data)[0]).encode())
        message = json.loads(data) if data and data != "null" else "The call failed."
        if isinstance(message, dict):  # Gradio's error event: {"error": message, "duration": ..., "title": ...}
            message = message.get("error") or "The call failed."
        return await _respond(send, 422, json.dumps({"detail": str(message)}).encode())


async def _inside(app: Any, scope: dict, body: bytes) -> tuple[int, bytes]:
    """Run ``app`` on one request inside this process; ``(status, the whole response body)``."""
    status = 500
    chunks: list[bytes] = []

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, _body_once(body, _never), send)
    return status, b"".join(chunks)


def _headers_without(scope: dict, *names: bytes) -> list[tuple[bytes, bytes]]:
    """The request's headers less ``names`` (lower case)."""
    return [(k, v) for k, v in scope.get("headers", []) if k.lower() not in names]


def _body_once(body: bytes, then: Callable) -> Callable:
    """An ASGI ``receive`` that gives ``body`` (already read) once, then defers to ``then``."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


async def _never() -> dict:
    """A request body already read: wait (as a connected client does) until the response is done."""
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


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
