"""docs/api.md's plain-HTTP examples, run with curl against the app: every endpoint's line, and the upload recipe."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from xlm_explorer import schemas, service

pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def validate(name: str, payload: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schemas.endpoint_schema(name))
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(payload)]


def documented_examples() -> dict[str, dict]:
    """docs/api.md's curl block, one call per endpoint (read by one rule: ``bench.load_test.documented_examples``)."""
    from bench.load_test import documented_examples as read

    return read(DOC)


def curl(*args: str) -> str:
    done = subprocess.run(["curl", "-s", "--max-time", "300", *args], capture_output=True, text=True, timeout=320)
    assert done.returncode == 0, done.stderr
    return done.stdout


def call(app_url: str, name: str, data: list | dict) -> tuple[str, str]:
    base = app_url.rstrip("/")
    posted = curl("-X", "POST", f"{base}/gradio_api/call/{name}", "-H", "Content-Type: application/json",
                  "-d", json.dumps({"data": data}))
    event_id = json.loads(posted)["event_id"]
    stream = curl("-N", f"{base}/gradio_api/call/{name}/{event_id}")
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, re.M)
    assert events, stream[:500]
    return events[-1]


@pytest.fixture(scope="module")
def has_curl() -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")


def test_every_endpoint_has_a_curl_example_that_works(app_url: str, has_curl: None) -> None:
    examples = documented_examples()
    assert set(examples) == set(service.ENDPOINTS)
    for name, data in examples.items():
        kind, payload = call(app_url, name, data)
        assert kind == "complete", (name, payload[:300])
        answer = json.loads(payload)[0]
        assert validate(name, answer) == [], name  # the published schema


def test_the_curl_upload_recipe_and_a_plain_error(app_url: str, has_curl: None, tmp_path: Path) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_text("id,lang,text\n1,en,The cat sleeps.\n1,fr,Le chat dort.\n", encoding="utf-8")
    path = json.loads(curl("-F", f"files=@{mine}", f"{app_url.rstrip('/')}/gradio_api/upload"))[0]
    upload = {"path": path, "meta": {"_type": "gradio.FileData"}}
    kind, payload = call(app_url, "embeddings", {"source": "upload", "upload": upload, "layers": ["last"]})
    assert kind == "complete" and json.loads(payload)[0]["shared"]["dataset"]["n_rows"] == 2
    kind, payload = call(app_url, "fill_mask", ["No mask here.", "both", "en", 5])
    assert kind == "error" and "No mask found" in payload and "&lt;" not in payload
