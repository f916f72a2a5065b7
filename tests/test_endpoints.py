"""One declaration per endpoint (``service.endpoint.Endpoint``): the record is the only place a parameter's default,
range and choices are written. The API (every client), plain HTTP, endpoints.json, the schemas, the page's controls,
share links and docs/api.md's parameter table are built from it, and its checks are the only validation: a value no
control could hold reaches them and is refused with one sentence naming the parameter."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from xlm_explorer import service
from xlm_explorer.errors import UserInputError
from xlm_explorer.service.endpoint import KINDS, Endpoint, parameter_table
from xlm_explorer.ui import http

ROOT = Path(__file__).resolve().parents[1]


def test_every_endpoint_is_one_record_and_its_lane_and_cache_come_from_it(workspace) -> None:
    from xlm_explorer.ui.app import build_demo

    assert all(isinstance(e, Endpoint) and e.name == name for name, e in service.ENDPOINTS.items())
    assert all(p.kind in KINDS for e in service.ENDPOINTS.values() for p in e.params)
    demo = build_demo(workspace)
    lanes = {d.api_name: d.concurrency_id for d in demo.fns.values() if d.api_name in service.ENDPOINTS}
    assert set(lanes) == set(service.ENDPOINTS)
    assert lanes == {name: "api-heavy" if e.heavy else "api-quick" for name, e in service.ENDPOINTS.items()}
    kept = {name for name, e in service.ENDPOINTS.items() if e.kept}
    assert kept == {name for name, e in service.ENDPOINTS.items() if hasattr(e.run, "is_kept")}
    assert kept <= {name for name, e in service.ENDPOINTS.items() if e.heavy}


def test_the_api_shows_the_declared_defaults_and_every_client_gets_them(client, app_url: str) -> None:
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name, record in service.ENDPOINTS.items():
        shown = {p["parameter_name"]: p for p in info[f"/{name}"]["parameters"]}
        assert list(shown) == record.names, name
        for p in record.params:
            assert shown[p.name]["parameter_has_default"] is (not p.required), (name, p.name)
            if not p.required:
                assert shown[p.name]["parameter_default"] == p.api_default, (name, p.name)
    # only the required parameters: the request echo holds the declared defaults (was the page's: fr, 3, true, 2)
    calls = {
        "compare": ({"text": "The cat sat on the [MASK]."}, {"lang": "en", "top_k": 10}),
        "crosslingual_grid": ({"templates": "en\tThe cat sat on the [MASK]."}, {"top_k": 10}),
        "attention_flow": ({"text": "The cat sat on the [MASK]."}, {"hide_special": False, "model": "en-2048"}),
        "token_search": ({"text": "The cat sleeps on the sofa."}, {"token_index": 1, "model": "100-1280"}),
        "fill_mask": ({"text": "The cat sat on the [MASK]."}, {"model": "both", "lang": "en", "top_k": 10}),
    }
    for name, (given, expected) in calls.items():
        by_python = client.predict(**given, api_name=f"/{name}")["request"]
        by_http = _run(app_url, name, {"data": given})[1]["request"]
        assert by_python == by_http, name
        assert {k: by_python[k] for k in expected} == expected, (name, by_python)


@pytest.mark.slow
def test_every_endpoint_with_only_its_required_parameters_answers_the_same_through_every_client(client, app_url: str) -> None:
    """The issue's "done when": each endpoint called with its required parameters alone (the documented call's
    values) through gradio_client and plain HTTP gives the same answer, its request echo the declared defaults."""
    from bench.load_test import documented_examples

    examples = documented_examples()
    for name, record in service.ENDPOINTS.items():
        required = {p.name: examples[name][p.name] for p in record.params if p.required}
        by_python = client.predict(**required, api_name=f"/{name}")
        status, by_http = _run(app_url, name, {"data": required})
        assert status == 200 and by_http == json.loads(json.dumps(by_python)), name
        resolved = record.resolve(None, **required)
        for key, value in by_python["request"].items():  # the echo of a number, choice, flag or language left out
            param = record.param(key) if key in record.names else None   # is its declared default
            if param is not None and key not in required and not param.nullable and param.kind in ("number", "choice", "flag", "language"):
                assert value == resolved[key], (name, key, value, resolved[key])


@pytest.mark.parametrize(("name", "given", "sentence"), [
    ("fill_mask", {"top_k": 9999}, "top_k must be a whole number from 1 to 50, not 9999."),
    ("fill_mask", {"top_k": 0}, "top_k must be a whole number from 1 to 50, not 0."),
    ("fill_mask", {"top_k": True}, "top_k must be a whole number from 1 to 50, not true."),
    ("fill_mask", {"top_k": 2.5}, "top_k must be a whole number from 1 to 50, not 2.5."),
    ("fill_mask", {"model": "gpt-2"}, "Unknown model 'gpt-2'; choose one of: en-2048, 100-1280, both."),
    ("fill_mask", {"text": ["The [MASK]."]}, "text must be text, not a list."),
    ("logit_lens", {"mask_number": 0}, "mask_number must be a whole number from 1 to 20, not 0."),
    ("attention_flow", {"hide_special": "yes"}, "hide_special must be true or false, not 'yes'."),
    ("token_search", {"model": "both"}, "Unknown model 'both'; choose one of: en-2048, 100-1280."),
    ("embeddings", {"languages": "[notjson"}, "The words data set has no [notjson rows"),
])
def test_a_value_no_control_holds_is_refused_by_the_record_naming_the_parameter(
    client, app_url: str, name: str, given: dict[str, Any], sentence: str
) -> None:
    from gradio_client.exceptions import AppError

    data = {"text": "The cat sat on the [MASK].", **given}
    if name == "embeddings":
        data = {"source": "words", "method": "pca", **given}
    if name != "embeddings":  # the service refuses an unknown shipped language its own way, after the record's type check
        with pytest.raises(UserInputError) as direct:
            service.ENDPOINTS[name](_workspace(), **data)
        assert str(direct.value) == sentence
    with pytest.raises(AppError) as refused:
        client.predict(**data, api_name=f"/{name}")
    assert sentence in str(refused.value)
    status, answer = _run(app_url, name, {"data": data})
    assert status == 422 and sentence in answer["detail"]
    kind, event = _two_requests(app_url, name, data)  # what docs/api.md says event: error carries
    assert kind == "error" and sentence in event["error"], event


def test_a_required_parameter_left_out_is_refused_by_name(client, app_url: str) -> None:
    with pytest.raises(TypeError, match="text"):
        client.predict(top_k=3, api_name="/fill_mask")  # gradio_client refuses before sending
    status, answer = _run(app_url, "fill_mask", {"data": {"top_k": 3}})
    assert status == 422 and "'text'" in answer["detail"]
    with pytest.raises(UserInputError, match="text is required"):
        service.fill_mask(_workspace(), None)


def test_a_changed_declaration_moves_the_page_the_api_the_document_and_the_docs_table(monkeypatch, workspace) -> None:
    from xlm_explorer.ui.app import build_demo

    record = service.ENDPOINTS["fill_mask"]
    top_k = dataclasses.replace(record.param("top_k"), default=7, high=30)
    changed = dataclasses.replace(record, params=tuple(top_k if p.name == "top_k" else p for p in record.params))
    monkeypatch.setitem(service.ENDPOINTS, "fill_mask", changed)
    monkeypatch.setattr(service, "fill_mask", changed)
    demo = build_demo(workspace)
    slider = demo.xlm_context.share_targets["fill-mask"].inputs["top_k"]
    assert (slider.value, slider.minimum, slider.maximum) == (7, 1, 30)
    api = demo.get_api_info()["named_endpoints"]["/fill_mask"]["parameters"]
    assert next(p for p in api if p["parameter_name"] == "top_k")["parameter_default"] == 7
    document = http.endpoints_document()["fill_mask"]["parameters"][3]
    assert document["default"] == 7 and document["schema"]["maximum"] == 30
    assert "|  | `top_k` | number | `7` | 1..30 |" in parameter_table(service.ENDPOINTS)
    with pytest.raises(UserInputError, match="from 1 to 30, not 31"):
        changed.resolve(workspace, "The [MASK].", top_k=31)
    assert changed.resolve(workspace, "The [MASK].")["top_k"] == 7


def test_docs_api_md_holds_the_records_parameter_table() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- parameters: begin.*?-->\n(.*?)\n<!-- parameters: end -->", text, re.S)
    assert found, "docs/api.md has no generated parameter table"
    assert found.group(1).strip() == parameter_table(service.ENDPOINTS), "run: python -m xlm_explorer.schemas --parameters"


BAD_LINKS = [
    ({"tab": "fill-mask", "top_k": "9999", "run": "1"}, "top_k must be a whole number from 1 to 50, not 9999"),
    ({"tab": "fill-mask", "top_k": "0", "run": "1"}, "top_k must be a whole number from 1 to 50, not 0"),
    ({"tab": "fill-mask", "top_k": "abc", "run": "1"}, "top_k must be a whole number from 1 to 50, not 'abc'"),
    ({"tab": "fill-mask", "model": "gpt2", "run": "1"}, "Unknown model 'gpt2'"),
    ({"tab": "compare", "view": "compare-logit-lens", "mask_number": "-5", "run": "1"}, "mask_number must be a whole number from 1 to 20, not -5"),
    ({"tab": "compare", "view": "compare-logit-lens", "top_k": "500", "run": "1"}, "top_k must be a whole number from 1 to 20, not 500"),
    ({"tab": "compare", "view": "compare-grid", "top_k": "60", "run": "1"}, "top_k must be a whole number from 1 to 50, not 60"),
    ({"tab": "nope", "run": "1"}, "it opens 'nope', which is not a view here"),
    ({"tab": "explain", "view": "nonexistent", "run": "1"}, "it opens 'nonexistent', which is not a view here"),
]


@pytest.fixture(scope="module")
def opener(workspace):
    from xlm_explorer.ui.app import build_demo

    return build_demo(workspace).xlm_lesson_opener


@pytest.mark.parametrize(("params", "sentence"), BAD_LINKS)
def test_a_link_with_a_value_no_control_holds_opens_without_running_and_says_why(opener, params: dict, sentence: str) -> None:
    from urllib.parse import urlencode

    from xlm_explorer.lessons import parse_lesson
    from xlm_explorer.ui.lessons import check_lesson

    values = opener.values(params)
    notice, run_id = values[-2]["value"], values[-1]
    assert values[-2]["visible"] is True
    assert run_id == "" and html.escape(sentence) in notice and "xlm-error" in notice  # escaped: a link is user text
    assert sentence in "; ".join(opener.problems(params))
    target = opener.ctx.share_targets.get(params.get("view") or params["tab"])
    for name, component in (target.inputs.items() if target else []):  # what each control shows, it can hold
        value = values[len(values) - 2 - len(opener.links) - len(opener.inputs) + opener.inputs.index(component)]
        if name in params:
            assert value == component.value, (name, value)
    with pytest.raises(UserInputError, match=re.escape(sentence[:30])):  # the lesson builder refuses such a step too
        check_lesson(opener, parse_lesson(json.dumps({"title": "t", "steps": [{"link": "?" + urlencode(params), "question": "q"}]})))


def test_a_good_link_runs_and_shows_no_notice(opener) -> None:
    values = opener.values({"tab": "fill-mask", "top_k": "5", "model": "en-2048", "run": "1"})
    assert values[-1] == "fill-mask-run" and values[-2] == {"__type__": "update", "value": "", "visible": False}
    assert opener.values({})[-1] == "" and opener.values({})[-2]["visible"] is False  # the page opened without a link


def _workspace():
    from xlm_explorer.workspace import Workspace

    return Workspace.from_sources({"en-2048": "/nonexistent/never-loaded", "100-1280": "/nonexistent/never-loaded"})


def _two_requests(app_url: str, name: str, data: dict) -> tuple[str, Any]:
    """Gradio's two-request route as curl uses it: the last event's kind and its data."""
    call = app_url.rstrip("/") + f"/gradio_api/call/{name}"
    request = urllib.request.Request(call, data=json.dumps({"data": data}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{call}/{event_id}", timeout=120) as response:
        events = re.findall(r"^event: (\w+)\ndata: (.*)$", response.read().decode(), re.M)
    kind, text = [e for e in events if e[0] in ("complete", "error")][-1]
    return kind, json.loads(text)


def _run(app_url: str, name: str, body: dict) -> tuple[int, dict]:
    """POST /gradio_api/xlm/run/<name>: (status, the JSON answer)."""
    request = urllib.request.Request(app_url.rstrip("/") + f"/gradio_api/xlm/run/{name}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_every_json_answer_the_docs_show_is_valid_against_its_endpoints_schema() -> None:
    """The per-view pages showed the version-1 answers (mask_index, errors as a map, results by model)."""
    import jsonschema

    from xlm_explorer import schemas

    shown = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```json\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            answer = json.loads(block)
            if isinstance(answer, dict) and "endpoint" in answer:
                errors = [e.message[:200] for e in jsonschema.Draft202012Validator(schemas.endpoint_schema(answer["endpoint"])).iter_errors(answer)]
                assert errors == [], (page.name, errors)
                shown.append((page.name, answer["endpoint"]))
    assert {("fill-mask.md", "fill_mask"), ("attention.md", "attention")} <= set(shown)
    old = {"mask_index", "model_a", "layers_a"}
    for page in ("fill-mask.md", "attention.md", "compare.md", "embeddings.md"):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert not [word for word in old if f'"{word}"' in text], page  # version-1 keys are gone from the pages


def test_the_memory_budget_in_readme_and_architecture_is_the_workspaces_own_list_of_caches() -> None:
    """README's 3.3 GiB and docs/architecture.md's cache table left out the 512 MiB answer cache."""
    from xlm_explorer.workspace import Workspace

    ws = Workspace.from_sources({"en-2048": "/nonexistent/x", "100-1280": "/nonexistent/x"})
    bounds = {stats["name"]: stats for stats in ws.cache_stats()}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    mib = [cache.max_bytes / 2**20 for cache in ws._caches()]
    for megabytes in mib:
        shown = f"{megabytes / 1024:g} GiB" if megabytes >= 1024 else f"{megabytes:g} MiB"
        assert f"| {shown} |" in readme, shown
    assert f"at most **{sum(mib) / 1024:.1f} GiB**" in readme
    assert len(re.findall(r"^\| [^|]+ \| [^|]+ \| \d+ MiB \| `", architecture, re.M)) == len(mib) == len(bounds)
