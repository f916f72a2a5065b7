"""The API contract: one response shape for every endpoint and model choice, one JSON Schema per endpoint (published
in docs/, checked against real answers), one vocabulary (API, share links, JSON), plain HTTP that names the parameter."""

from __future__ import annotations

import copy
import inspect
import json
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from xlm_explorer import contract, schemas, service
from xlm_explorer.ui.http import endpoint_parameters
from xlm_explorer.ui.share import LEGACY_NAMES, link_values, one_based

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "docs" / "api-schemas.json"
#: one name per thing: none of these synonyms may name a parameter or a key of any answer (``k`` is overlap@k's
#: own k in an answer, but no parameter: the number of results asked for is ``top_k``)
SYNONYMS = {"choice", "langs", "language", "mask_index", "default_lang", "sentences_lang", "logprob", "logprob_a",
            "logprob_b", "layers_a", "layers_b", "model_a", "model_b", "key", "corpus_tokens", "pairs", "rows_count"}


def examples() -> dict[str, list]:
    from test_curl_examples import documented_examples

    return documented_examples()


@pytest.fixture(scope="module")
def answers(workspace) -> dict[str, dict]:
    """Every endpoint's answer to its documented example, as JSON (what a client receives)."""
    return {name: json.loads(json.dumps(service.ENDPOINTS[name](workspace, **data).payload)) for name, data in examples().items()}


def validate(name: str, payload: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schemas.endpoint_schema(name))
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(payload)]


def test_every_endpoint_answers_the_one_envelope_and_its_schema(answers: dict[str, dict]) -> None:
    assert set(answers) == set(service.ENDPOINTS) == set(schemas.DECLARED)
    for name, payload in answers.items():
        assert list(payload) == list(contract.ENVELOPE_KEYS), name
        assert payload["endpoint"] == name and payload["version"] == contract.API_VERSION
        assert payload["results"] and all(r["model"] in ("en-2048", "100-1280") for r in payload["results"]), name
        assert validate(name, payload) == [], name


def test_the_schemas_refuse_an_undeclared_key_a_missing_one_and_a_wrong_type(answers: dict[str, dict]) -> None:
    for name, payload in answers.items():
        extra = copy.deepcopy(payload)
        extra["results"][0]["surprise"] = 1
        assert any("surprise" in e for e in validate(name, extra)), name
        missing = copy.deepcopy(payload)
        dropped = next(iter(k for k in missing["results"][0] if k != "model"), "model")
        del missing["results"][0][dropped]
        assert validate(name, missing), (name, dropped)
        wrong = copy.deepcopy(payload)
        wrong["results"][0]["model"] = 7
        assert validate(name, wrong), name
    nested = copy.deepcopy(answers["fill_mask"])
    nested["results"][0]["masks"][0]["predictions"][0]["extra"] = True  # closed at every depth
    assert validate("fill_mask", nested)


@pytest.mark.parametrize(("name", "args"), [
    ("fill_mask", ["The doctor said that [MASK] was tired."]),
    ("attention", ["The cat sat.", ""]),
    ("bias_probe", ["The {filler} said that [MASK] was tired.", "he, she", "doctor", "en"]),
    ("pll_pairs", ["sent_more\tsent_less\nHe is a doctor.\tShe is a doctor."]),
    ("attribution", ["The doctor said that [MASK] was tired."]),
    ("patching", ["The doctor said that [MASK] was tired.", "The doctor said that [MASK] was tired!"]),
])
def test_the_shape_is_the_same_whatever_the_model_choice(workspace, name: str, args: list) -> None:
    """One model or both: the same envelope, one result per model with the same keys, each naming its model."""
    fn = service.ENDPOINTS[name]
    names = [n for n, _ in endpoint_parameters(fn)]
    shapes = {}
    for choice in ("en-2048", "100-1280", "both"):
        payload = json.loads(json.dumps(fn(workspace, **dict(zip(names, args)), model=choice).payload))
        assert validate(name, payload) == [], (name, choice)
        shapes[choice] = (list(payload), [(r["model"], sorted(r)) for r in payload["results"]])
    assert shapes["both"][0] == shapes["en-2048"][0] == shapes["100-1280"][0]
    assert shapes["both"][1] == shapes["en-2048"][1] + shapes["100-1280"][1]


def test_a_model_that_cannot_load_is_an_error_entry_and_the_other_answers(tmp_path: Path, tiny_dirs) -> None:
    from xlm_explorer.workspace import Workspace

    ws = Workspace.from_sources({"en-2048": str(tmp_path / "missing"), "100-1280": str(tiny_dirs["100-1280"])}, device="cpu")
    payload = json.loads(json.dumps(service.bias_probe(ws, "The {filler} said that [MASK] left.", "he, she", "doctor").payload))
    assert validate("bias_probe", payload) == []
    assert [r["model"] for r in payload["results"]] == ["100-1280"]
    assert [e["model"] for e in payload["errors"]] == ["en-2048"] and "could not" in payload["errors"][0]["message"].lower()
    assert payload["errors"][0]["message"] not in payload["notices"]  # the error once, in errors


def test_docs_publish_the_schemas_the_code_declares() -> None:
    """docs/api-schemas.json is generated (``python -m xlm_explorer.schemas > docs/api-schemas.json``) and kept."""
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json.loads(json.dumps(schemas.all_schemas()))
    assert "api-schemas.json" in (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        found = set(node.get("properties", {}))
        for value in node.values():
            found |= _keys(value)
        return found
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node)) if node else set()
    return set()


def test_one_vocabulary_for_parameters_answers_and_share_links(workspace) -> None:
    from xlm_explorer.ui.app import build_demo

    parameters = {n for fn in service.ENDPOINTS.values() for n, _ in endpoint_parameters(fn)}
    assert not parameters & (SYNONYMS | {"k"}), parameters & (SYNONYMS | {"k"})
    assert not _keys(schemas.all_schemas()) & SYNONYMS, _keys(schemas.all_schemas()) & SYNONYMS
    ctx = build_demo(workspace).xlm_context
    for view, target in ctx.share_targets.items():  # a link names each input by its API name
        assert set(target.inputs) <= parameters, (view, set(target.inputs) - parameters)
    for name, fn in service.ENDPOINTS.items():  # mask numbers count from 1 everywhere
        for p in inspect.signature(fn).parameters.values():
            if p.name == "mask_number":
                assert p.default == 1, name


def test_links_made_before_the_rename_still_read() -> None:
    assert link_values({"k": "5", "text": "A [MASK]."}, ["text", "model", "lang", "top_k"]) == {"top_k": "5", "text": "A [MASK]."}
    old_attribution = {"text": "A [MASK] and a [MASK].", "mask": "1"}  # 0-based then: the second mask
    assert link_values(old_attribution, ["text", "mask_number"], {"mask": ("mask_number", one_based)}) == {
        "text": "A [MASK] and a [MASK].", "mask_number": "2"}
    assert link_values({"mask": "2"}, ["text", "mask_number"]) == {"mask_number": "2"}  # the logit lens: 1-based already
    assert link_values({"mask": "1", "mask_number": "1"}, ["mask_number"], {"mask": ("mask_number", one_based)}) == {
        "mask_number": "1"}  # a current name wins
    assert link_values({"a": "x", "b": "y", "heads": "2"}, ["text_a", "text_b", "head_layer"]) == {
        "text_a": "x", "text_b": "y", "head_layer": "2"}
    assert set(LEGACY_NAMES.values()) <= {n for fn in service.ENDPOINTS.values() for n, _ in endpoint_parameters(fn)}


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _stream(url: str) -> str:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read().decode()


@pytest.mark.slow
def test_plain_http_takes_named_or_short_data_and_names_the_parameter_when_wrong(app_url: str) -> None:
    base = app_url.rstrip("/") + "/gradio_api/call/fill_mask"
    for data in ({"text": "The cat sat on the [MASK].", "top_k": 3}, ["The cat sat on the [MASK]."]):
        status, answer = _post(base, json.dumps({"data": data}).encode())
        assert status == 200, answer
        stream = _stream(f"{base}/{answer['event_id']}")
        payload = json.loads(stream.split("event: complete\ndata: ", 1)[1].splitlines()[0])[0]
        assert validate("fill_mask", payload) == [] and payload["request"]["top_k"] == (3 if isinstance(data, dict) else 10)
    refused = {
        b'{"data": {"txt": "x"}}': "no parameter 'txt'",
        b'{"data": []}': "needs a value for 'text'",
        b'{"data": [1, 2, 3, 4, 5, 6]}': "takes 4 values",
        b'{"values": []}': '"data"',
        b"not json": "not JSON",
    }
    for body, message in refused.items():
        status, answer = _post(base, body)
        assert status == 422 and message in answer["detail"] and "gradio." not in answer["detail"], (body, answer)
    run = app_url.rstrip("/") + "/gradio_api/xlm/run/fill_mask"  # one request, one JSON answer, same queue
    status, answer = _post(run, json.dumps({"data": {"text": "The cat sat on the [MASK].", "model": "en-2048"}}).encode())
    assert status == 200 and validate("fill_mask", answer) == [] and [r["model"] for r in answer["results"]] == ["en-2048"]
    status, answer = _post(run, json.dumps({"data": {"text": "No mask here."}}).encode())
    assert status == 422 and answer["detail"].startswith("No mask found"), answer
    with urllib.request.urlopen(app_url.rstrip("/") + "/gradio_api/xlm/endpoints.json", timeout=60) as response:
        document = json.loads(response.read())
    assert set(document) == set(service.ENDPOINTS)
    assert document["fill_mask"]["parameters"][0] == {"name": "text", "required": True, "schema": {"type": "string"}}
    assert document["fill_mask"]["parameters"][3] == {
        "name": "top_k", "required": False, "default": 10,
        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}}
    assert document["token_search"]["heavy"] and not document["token_search"]["kept"] and document["seat"]["kept"]
    assert document["fill_mask"]["answer"] == json.loads(json.dumps(schemas.endpoint_schema("fill_mask")))


def test_one_policy_for_over_long_text(workspace) -> None:
    """A text a user asks about is refused with its length and the limit, in every view alike (attention cut it
    while fill mask refused it); the items of a set are cut to the model's positions with a notice."""
    from xlm_explorer.errors import UserInputError

    long_text = "The cat sat on the [MASK] . " * 120  # about 840 tokens: over 512 positions, under 20,000 characters
    messages = []
    for call in (lambda: service.fill_mask(workspace, long_text, "en-2048"),
                 lambda: service.attention(workspace, long_text, None, "en-2048"),
                 lambda: service.logit_lens(workspace, long_text),
                 lambda: service.attribution(workspace, long_text)):
        with pytest.raises(UserInputError) as refused:
            call()
        messages.append(str(refused.value).split(";")[1])
    assert len(set(messages)) == 1 and "accepts at most" in messages[0], messages
    averaged = service.attention_average(workspace, "en-2048", "pasted", [], 1, long_text.replace("[MASK]", "mat"), "en")
    assert any("cut to" in n for n in averaged.notices)
