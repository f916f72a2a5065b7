"""The API through the JavaScript client (@gradio/client 2.7 from the npm registry, under node): optional parameters
left out, an upload without a file name, a refused input, /model_info, and a cancel that stops the work.

Skipped, with the reason, when node or npm is missing or the registry cannot be reached."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "js" / "client_check.mjs"
CLIENT_VERSION = "2.7"
JS_DIR = Path(os.environ.get("XLM_EXPLORER_JS_DIR", Path.home() / ".cache" / "xlm-explorer" / "js-client"))


@pytest.fixture(scope="module")
def js_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the JavaScript-client test")
    package = JS_DIR / "node_modules" / "@gradio" / "client" / "package.json"
    if not package.is_file():
        JS_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", f"@gradio/client@{CLIENT_VERSION}"],
                              cwd=JS_DIR, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not package.is_file():
            pytest.skip(f"could not install @gradio/client from the npm registry: {done.stderr.strip()[:200]}")
    return JS_DIR


def test_the_javascript_client(app_url: str, js_client: Path) -> None:
    env = {**os.environ, "NODE_PATH": str(js_client / "node_modules")}
    script = js_client / SCRIPT.name  # ESM resolves packages from the script's folder: run a copy beside node_modules
    shutil.copy(SCRIPT, script)
    done = subprocess.run(["node", str(script), app_url], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    cpu_before = time.process_time()  # the app runs in this process: after the cancel it should compute nothing
    time.sleep(2.0)
    assert time.process_time() - cpu_before < 0.75, "the cancelled job went on computing"
    assert found["fill_models"] == ["en-2048", "100-1280"]
    assert found["upload_rows"] == 2
    assert found["refused"] and "No mask found" in found["refused"] and "&lt;" not in found["refused"]  # plain text
    assert found["info_key"] == "en-2048"
    assert {k: found["compare_request"][k] for k in ("lang", "top_k")} == {"lang": "en", "top_k": 10}  # the declared defaults
    assert "top_k must be a whole number from 1 to 50, not 9999." in found["refused_range"], found["refused_range"]
    assert found["cancelled_after_progress"] is True
