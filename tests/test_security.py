"""The server serves only its own assets, refuses oversized uploads and files it did not receive, and its
HTML never carries user markup unescaped. HTTP checks are made on raw requests (no client-side URL
normalisation hides a traversal)."""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from xlm_explorer.ui.app import ASSETS_DIR, launch_kwargs

REPO_ROOT = Path(__file__).resolve().parents[1]
VENDOR = ASSETS_DIR / "vendor"


def raw_get(app_url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no dot-segment removal, no re-encoding)."""
    parts = urlsplit(app_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_vendored_assets_are_served(app_url: str) -> None:
    """The positive control: what bertviz needs offline is reachable at the documented URL."""
    status, body = raw_get(app_url, f"/gradio_api/file={VENDOR / 'require-2.3.6.js'}")
    assert status == 200
    assert body == (VENDOR / "require-2.3.6.js").read_bytes()


def traversal_paths(tiny_dir: Path) -> list[str]:
    secret_files = [
        Path("/etc/passwd"),
        REPO_ROOT / "app.py",
        REPO_ROOT / "xlm_explorer" / "models.py",
        tiny_dir / "config.json",
    ]
    paths: list[str] = []
    for target in secret_files:
        paths += [f"/gradio_api/file={target}", f"/file={target}", f"/gradio_api/file={quote(str(target))}"]
    escape = "../" * 8
    paths += [
        f"/gradio_api/file={VENDOR}/../../app.py",
        f"/gradio_api/file={VENDOR}/..%2f..%2fapp.py",
        f"/gradio_api/file={VENDOR}/%2e%2e/%2e%2e/app.py",
        f"/gradio_api/file={VENDOR}/....//....//app.py",
        f"/gradio_api/file={VENDOR}/..\\..\\app.py",
        f"/gradio_api/file={escape}etc/passwd",
        f"/static/{escape}etc/passwd",
        f"/assets/{escape}etc/passwd",
        f"/gradio_api/static/{escape}etc/passwd",
        f"/{escape}etc/passwd",
        "/gradio_api/file=%2fetc%2fpasswd",
        "/gradio_api/file=file:///etc/passwd",
        f"/gradio_api/file={VENDOR}\x00/../../app.py".replace("\x00", "%00"),
    ]
    return paths


def test_no_path_traversal_to_other_files(app_url: str, tiny_dirs: dict[str, Path]) -> None:
    secrets = [
        b"root:x:0:0",  # /etc/passwd
        b"def make_manager",  # app.py
        b"class ModelManager",  # xlm_explorer/models.py
        b'"model_type": "xlm"',  # a checkpoint's config
    ]
    served: list[str] = []
    for path in traversal_paths(tiny_dirs["en-2048"]):
        status, body = raw_get(app_url, path)
        if status == 200 and any(secret in body for secret in secrets):
            served.append(path)
        assert status != 500, f"{path} crashed the server"
    assert not served, f"files outside the app's assets were served: {served}"


def test_uploads_over_the_size_limit_are_refused(app_url: str) -> None:
    from xlm_explorer.uploads import MAX_RESULTS_BYTES, MAX_UPLOAD_BYTES, gradio_max_file_size

    assert launch_kwargs()["max_file_size"] == gradio_max_file_size()  # the one upload policy
    url = app_url.rstrip("/") + "/gradio_api/upload"
    small = httpx.post(url, files={"files": ("ok.csv", b"id,lang,text\n1,en,hello\n", "text/csv")}, timeout=60)
    assert small.status_code == 200, small.text[:300]
    big = httpx.post(url, files={"files": ("big.csv", b"x" * (MAX_RESULTS_BYTES + 1024), "text/csv")}, timeout=120)
    assert big.status_code == 413, (big.status_code, big.text[:300])  # gradio's limit: the largest reader's
    table = b"id,lang,text\n" + b"1,en,hello there\n" * (MAX_UPLOAD_BYTES // 17 + 100)  # over a table's 2 MiB
    stored = httpx.post(url, files={"files": ("table.csv", table, "text/csv")}, timeout=120).json()[0]
    upload = {"path": stored, "meta": {"_type": "gradio.FileData"}}
    event, message = call_raw(app_url, "embeddings", ["upload", [], None, "", upload, "100-1280", ["last"], "mean", False, "pca", 2, 0])
    assert event == "error" and "the limit is 2.0 MiB" in message, message[:300]  # the reader checks its own limit


def call_raw(app_url: str, api_name: str, data: list[Any], timeout_s: float = 120) -> tuple[str, str]:
    """Call an endpoint over Gradio's plain HTTP API (no client-side upload); returns (event, data)."""
    base = app_url.rstrip("/") + f"/gradio_api/call/{api_name}"
    started = httpx.post(base, json={"data": data}, timeout=60)
    assert started.status_code == 200, started.text[:300]
    event_id = started.json()["event_id"]
    event, payload = "", ""
    deadline = time.monotonic() + timeout_s
    with httpx.stream("GET", f"{base}/{event_id}", timeout=timeout_s) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = line.split(":", 1)[1].strip()
                if event in ("complete", "error"):
                    break
            if time.monotonic() > deadline:
                break
    return event, payload


def upload_parameters(client: Any) -> list[tuple[str, int, list[Any]]]:
    """(api name, parameter index, default arguments) for every parameter that takes a file."""
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    found = []
    for name, endpoint in api.items():
        for index, parameter in enumerate(endpoint["parameters"]):
            if parameter.get("component") == "File" or "filepath" in str(parameter.get("python_type", {}).get("type")):
                found.append((name.lstrip("/"), index, [p.get("parameter_default") for p in endpoint["parameters"]]))
    return found


def test_a_file_the_server_did_not_receive_cannot_be_passed_as_an_upload(app_url: str, client: Any) -> None:
    """A request naming a server path (instead of uploading) is refused: the app never reads /etc/passwd."""
    targets = upload_parameters(client)
    if not targets:
        pytest.skip("no endpoint takes an uploaded file")
    for api_name, index, arguments in targets:
        for path in ("/etc/passwd", str(REPO_ROOT / "app.py")):
            arguments = list(arguments)
            arguments[index] = {"path": path, "meta": {"_type": "gradio.FileData"}}
            event, payload = call_raw(app_url, api_name, arguments)
            assert event == "error", f"{api_name} accepted {path}: {payload[:300]}"
            assert "root:x:0:0" not in payload and "def make_manager" not in payload


def test_the_api_info_exposes_no_private_render_events(client: Any) -> None:
    """Only the documented JSON endpoints are public: the view-drawing events stay private."""
    api = client.view_api(return_format="dict", print_info=False)
    assert not api["unnamed_endpoints"], list(api["unnamed_endpoints"])[:5]
