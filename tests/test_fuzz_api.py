"""Hostile input through the public API: every endpoint, discovered from the running app, is called through
gradio_client with arguments generated (Hypothesis) from each parameter's type and choices: random unicode,
control characters, NUL, zero-width and RTL marks, emoji, very long text, huge or non-finite numbers, unknown
model keys and language codes, malformed uploads.

Every call must answer with a result or a clear error (an ``AppError`` with a message, never a traceback),
the server must keep serving, and no model outside the configured keys may ever be loaded.
"""

from __future__ import annotations

import os
import string
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlm_explorer.models import ModelManager
from xlm_explorer.specs import MODEL_KEYS

pytestmark = pytest.mark.slow

#: Examples per endpoint (modest: the suite runs on 2 cores). Raise it for a deeper run.
EXAMPLES = int(os.environ.get("XLM_EXPLORER_FUZZ_EXAMPLES", "25"))
#: Endpoints the app must expose (others are discovered and fuzzed too).
REQUIRED_ENDPOINTS = ("/fill_mask", "/model_info")

CONTROL = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r") + "\x7f\x85"
MARKS = "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
EMOJI = "😀🧠🇫🇷👩🏽‍🔬🏳️‍🌈"
HOSTILE_LITERALS = [
    "",
    " ",
    "\x00",
    "[MASK]\x00[MASK]",
    "\u202e[MASK] evil \u202c",
    "\u200b[MASK]\u200b",
    EMOJI + " [MASK] " + EMOJI,
    "[MASK]" * 60,
    "<mask><special1>[MASK]",
    "word [MASK] " * 2500,  # far past 512 positions
    "<script>alert(1)</script> [MASK]",
    '"><img src=x onerror=alert(1)> [MASK]',
    "{filler} {0} %s %(x)s [MASK]",
    "en\tThe cat [MASK].\nfr\tLe chat [MASK].",
    "id\tlang\tbias_type\tsent_more\tsent_less\n1\ten\tx\t<b>a</b>\t\x00",
    "../../../../etc/passwd",
    "FacebookAI/xlm-roberta-base",
    "１２３ [MASK]",
    "\ud7ff\ue000\uffff [MASK]",
]
UNKNOWN_KEYS = [
    "xlm-roberta-base",
    "FacebookAI/xlm-mlm-17-1280",
    "../models",
    "/etc",
    "en_2048",
    "EN-2048",
    "both ",
    "",
]

ALPHABET = st.characters(codec="utf-8")  # every encodable code point: controls, marks, emoji, RTL


def hostile_text(max_size: int = 300) -> st.SearchStrategy[str]:
    pieces = st.one_of(
        st.text(ALPHABET, max_size=40),
        st.sampled_from(["[MASK]", "<mask>", "<special1>", "\t", "\n", ",", "{filler}"]),
        st.text(st.sampled_from(CONTROL + MARKS + EMOJI), max_size=10),
        st.text(st.sampled_from(string.printable), max_size=40),
    )
    return st.one_of(
        st.sampled_from(HOSTILE_LITERALS),
        st.lists(pieces, max_size=12).map("".join).map(lambda s: s[:max_size]),
    )


NUMBERS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([0, -1, 1, 2, 3, 10, 50, 51, 10**6, 2**31, 2**63, -(2**63), 1e308, 0.5, 1.5]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)


class UploadFactory:
    """Malformed files to upload: empty, binary, NUL bytes, invalid UTF-8, hostile CSV cells, wrong type."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def write(self, name: str, data: bytes) -> str:
        self.count += 1
        path = self.directory / f"{self.count:04d}-{name}"
        path.write_bytes(data)
        return str(path)

    def strategy(self) -> st.SearchStrategy[str]:
        cells = hostile_text(80).map(lambda s: s.replace("\x00", "\\0"))
        csv_rows = st.lists(st.tuples(st.sampled_from(["en", "fr", "xx", "<b>", ""]), cells), max_size=8)
        return st.one_of(
            st.just(("empty.csv", b"")),
            st.binary(max_size=2000).map(lambda b: ("random.csv", b)),
            st.just(("nul.tsv", b"id\tlang\ttext\n1\ten\t\x00\x00\x00\n")),
            st.just(("latin1.csv", "id,lang,text\n1,fr,déjà vu\n".encode("latin-1"))),
            st.just(("bad.json", b'{"probes": [1, 2,')),
            st.just(("evil.exe", b"MZ\x90\x00" * 50)),
            csv_rows.map(
                lambda rows: (
                    "cells.csv",
                    (
                        "id,lang,text\n" + "".join(f'{i},{lang},"{text}"\n' for i, (lang, text) in enumerate(rows))
                    ).encode("utf-8", "surrogatepass"),
                )
            ),
        ).map(lambda item: self.write(*item))


def parameter_strategy(parameter: dict[str, Any], uploads: UploadFactory) -> st.SearchStrategy[Any]:
    """Arguments for one parameter, from its JSON type, its choices and its component."""
    from gradio_client import handle_file

    schema = parameter.get("type") or {}
    component = str(parameter.get("component", "")).lower()
    python_type = str((parameter.get("python_type") or {}).get("type", ""))
    default = parameter.get("parameter_default")
    junk = st.one_of(st.none(), hostile_text(60), NUMBERS, st.sampled_from(UNKNOWN_KEYS))

    if component in ("file", "uploadbutton") or "filepath" in python_type or "FileData" in str(schema)[:400]:
        files = uploads.strategy().map(handle_file)
        return st.one_of(st.none(), files, st.lists(files, min_size=1, max_size=2))
    if "enum" in schema:
        choices = list(schema["enum"])
        return st.one_of(st.sampled_from(choices), st.sampled_from(UNKNOWN_KEYS), hostile_text(40), NUMBERS, st.none())
    if schema.get("type") == "array":
        items = schema.get("items") or {}
        item = st.sampled_from(list(items["enum"])) if "enum" in items else hostile_text(40)
        return st.one_of(
            st.lists(st.one_of(item, st.sampled_from(UNKNOWN_KEYS), hostile_text(20)), max_size=6),
            st.lists(item, min_size=1, max_size=40),
            junk,
        )
    if schema.get("type") in ("number", "integer") or component in ("slider", "number"):
        return st.one_of(NUMBERS, hostile_text(20), st.none())
    if schema.get("type") == "boolean" or component == "checkbox":
        return st.one_of(st.booleans(), junk)
    if schema.get("type") == "string" or component in ("textbox", "code", "markdown"):
        with_default = [st.just(default)] if isinstance(default, str) else []
        return st.one_of(hostile_text(), *with_default, st.none(), NUMBERS)
    return junk


def looks_like_a_traceback(message: str) -> bool:
    return "Traceback (most recent call last)" in message or 'File "/' in message


@pytest.fixture(scope="module")
def endpoints(client: Any) -> dict[str, dict[str, Any]]:
    return client.view_api(return_format="dict", print_info=False)["named_endpoints"]


def test_the_public_api_is_discovered(endpoints: dict[str, dict[str, Any]]) -> None:
    missing = [name for name in REQUIRED_ENDPOINTS if name not in endpoints]
    assert not missing, f"endpoints missing: {missing}; found {sorted(endpoints)}"


def server_is_up(app_url: str) -> bool:
    try:
        return httpx.get(app_url.rstrip("/") + "/config", timeout=30).status_code == 200
    except httpx.HTTPError:
        return False


def fuzz_endpoint(
    client: Any, app_url: str, name: str, endpoint: dict[str, Any], uploads: UploadFactory
) -> dict[str, int]:
    """Call one endpoint ``EXAMPLES`` times with generated arguments; returns counts of outcomes."""
    from gradio_client.exceptions import AppError

    outcomes = {"result": 0, "clear error": 0}
    parameters = endpoint["parameters"]
    # the well-formed start: the documented example's values (docs/api.md), the declared defaults for the rest (a
    # required parameter has none: the page's example sentence no longer stands in for it)
    from test_curl_examples import documented_examples

    example = documented_examples().get(name.lstrip("/"), {})
    defaults = [example.get(p["parameter_name"], p.get("parameter_default")) for p in parameters]
    strategies = [parameter_strategy(p, uploads) for p in parameters]
    # each example spoils a few parameters and keeps the others at their (valid) defaults, so that hostile
    # values reach the analysis code instead of all being refused by the first check
    spoiled = (
        st.sets(st.sampled_from(range(len(parameters))), max_size=min(3, len(parameters)))
        if parameters
        else st.just(set())
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=os.environ.get("XLM_EXPLORER_FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
    )
    @given(spoiled, st.data())
    def call(indices: set[int], data: st.DataObject) -> None:
        arguments = list(defaults)
        for index in sorted(indices):
            arguments[index] = data.draw(strategies[index], label=parameters[index]["parameter_name"])
        try:
            client.predict(*arguments, api_name=name)
            outcomes["result"] += 1
        except AppError as error:
            message = str(error)
            assert message.strip(), f"{name}{arguments!r:.300}: an error without a message"
            assert not looks_like_a_traceback(message), f"{name}: a traceback reached the client: {message[:500]}"
            assert "Something went wrong on the server" not in message, (
                f"{name}: an internal error (a bug, not a clear message) for {arguments!r:.500}: {message[:300]}"
            )
            outcomes["clear error"] += 1
        assert server_is_up(app_url), f"the server stopped answering after {name}{arguments!r:.300}"

    started = time.perf_counter()
    call()
    outcomes["seconds"] = round(time.perf_counter() - started, 1)  # reported, never asserted
    return outcomes


def test_every_endpoint_answers_hostile_input_with_a_result_or_a_clear_error(
    client: Any, app_url: str, endpoints: dict[str, dict[str, Any]], manager: ModelManager
) -> None:
    sources_before = dict(manager.sources)
    summary: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="xlm-fuzz-") as directory:
        uploads = UploadFactory(Path(directory))
        for name, endpoint in sorted(endpoints.items()):
            summary[name] = fuzz_endpoint(client, app_url, name, endpoint, uploads)
    print("fuzz outcomes per endpoint:", summary)
    assert server_is_up(app_url)
    # no request could load (or even configure) a model outside the configured keys
    assert set(manager.load_count) == set(MODEL_KEYS)
    assert dict(manager.sources) == sources_before
    # hostile input must not only produce errors: the well-formed part of the space gets answers
    with_parameters = [name for name, endpoint in endpoints.items() if endpoint["parameters"]]
    answered = [name for name in with_parameters if summary[name]["result"] > 0]
    assert answered == with_parameters, f"endpoints that never gave a result: {set(with_parameters) - set(answered)}"


@pytest.mark.parametrize("key", UNKNOWN_KEYS)
def test_no_request_loads_a_model_outside_the_configured_keys(
    client: Any, endpoints: dict[str, dict[str, Any]], manager: ModelManager, key: str
) -> None:
    """Every parameter that picks a model, given a key that is not configured, is refused by name."""
    from gradio_client.exceptions import AppError

    model_parameters = [
        (name, index)
        for name, endpoint in endpoints.items()
        for index, parameter in enumerate(endpoint["parameters"])
        if set(MODEL_KEYS) <= set((parameter.get("type") or {}).get("enum") or [])
    ]
    assert model_parameters, "no endpoint takes a model choice"
    for name, index in model_parameters:
        from test_curl_examples import documented_examples

        example = documented_examples()[name.lstrip("/")]  # the rest well-formed: the model is what is refused
        arguments = [example.get(p["parameter_name"], p.get("parameter_default")) for p in endpoints[name]["parameters"]]
        arguments[index] = key
        with pytest.raises(AppError) as refused:
            client.predict(*arguments, api_name=name)
        assert "choices" in str(refused.value) or "Unknown model" in str(refused.value), str(refused.value)
    assert set(manager.load_count) == set(MODEL_KEYS)
