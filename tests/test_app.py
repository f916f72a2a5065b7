"""The app shell: CLI, build, and the fill_mask API end to end through gradio_client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest
from gradio_client.exceptions import AppError

import app as app_module
from xlm_explorer.models import ENV_MODELS
from xlm_explorer.ui.app import build_demo

ROOT = Path(__file__).resolve().parents[1]


def test_cli_sources_env_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MODELS, "en-2048=/env/en")
    args = app_module.parse_args(["--model", "100-1280=/cli/multi", "--device", "cpu", "--dtype", "bfloat16"])
    manager = app_module.make_workspace(args).manager
    assert manager.sources == {"en-2048": "/env/en", "100-1280": "/cli/multi"}
    assert manager.dtype_name == "bfloat16" and not manager.is_loaded("en-2048")


def test_cli_defaults_suit_a_laptop_and_a_space(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYSTEM", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    args = app_module.parse_args([])
    assert (args.host, args.port, args.share, args.preload, args.device) == ("127.0.0.1", 7860, False, False, "auto")
    monkeypatch.setenv("SYSTEM", "spaces")
    assert app_module.parse_args([]).host == "0.0.0.0"


@pytest.mark.slow  # numba/umap compile or checkpoint building: > 10 s
def test_tiny_demo_builds_checkpoints_and_says_so(tmp_path: Path) -> None:
    args = app_module.parse_args(["--tiny-demo", "--tiny-dir", str(tmp_path), "--device", "cpu"])
    workspace = app_module.make_workspace(args)
    manager = workspace.manager
    assert manager.tiny_demo and all(str(tmp_path) in manager.source_name(k) for k in manager.keys)
    assert manager.get("100-1280").n_layers == 3
    demo = build_demo(workspace)
    html_values = [b.value for b in demo.blocks.values() if isinstance(b, gr.HTML)]
    assert any("meaningless" in str(v) for v in html_values)


def test_importing_app_loads_nothing_heavy() -> None:
    code = "import sys, app; print(int('torch' in sys.modules), int('gradio' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


def test_analysis_layer_does_not_import_gradio_or_plotly() -> None:
    modules = sorted(p.stem for p in (ROOT / "xlm_explorer" / "analysis").glob("*.py") if p.stem != "__init__")
    imports = "; ".join(f"import xlm_explorer.analysis.{m}" for m in modules)
    code = f"import sys; {imports}; print(sorted(m for m in ('gradio', 'plotly') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_demo_builds_without_loading_models(fresh_manager) -> None:
    demo = build_demo(fresh_manager)
    assert isinstance(demo, gr.Blocks)
    assert not any(fresh_manager.is_loaded(k) for k in fresh_manager.keys)
    api_names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert "fill_mask" in api_names


def test_fill_mask_api_end_to_end(client) -> None:
    data = client.predict("The cat sat on the [MASK].", "both", "en", 5, api_name="/fill_mask")
    assert [r["model"] for r in data["results"]] == ["en-2048", "100-1280"]
    assert data["errors"] == [] and data["endpoint"] == "fill_mask"
    for result in data["results"]:
        (mask,) = result["masks"]
        assert len(mask["predictions"]) == 5
        probs = [p["probability"] for p in mask["predictions"]]
        assert probs == sorted(probs, reverse=True)
        assert result["tokens"][mask["position"]] == "<special1>"


def test_fill_mask_api_single_model_and_language(client) -> None:
    data = client.predict("Le chat est sur le [MASK].", "100-1280", "fr", 3, api_name="/fill_mask")
    (result,) = data["results"]
    assert result["model"] == "100-1280" and result["lang"] == "fr"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "both", "en", 5), "empty"),
        (("No mask here.", "both", "en", 5), "No mask found"),
        (("A [MASK].", "gpt2", "en", 5), "gpt2"),
        (("A [MASK].", "100-1280", "xx", 5), "xx"),
        (("A [MASK].", "100-1280", "en", 500), "from 1 to 50, not 500"),  # the service's own message
    ],
)
def test_fill_mask_api_bad_input_is_a_clear_error_and_the_server_keeps_serving(client, args, message: str) -> None:
    with pytest.raises(AppError) as info:
        client.predict(*args, api_name="/fill_mask")
    assert message in str(info.value) and "Traceback" not in str(info.value)
    assert client.predict("A [MASK].", "en-2048", "en", 1, api_name="/fill_mask")["results"]


def test_model_info_api(client) -> None:
    answer = client.predict("100-1280", api_name="/model_info")  # one endpoint, one JSON object
    (facts,) = answer["results"]
    assert facts["model"] == "100-1280" and facts["n_layers"] == 3 and facts["license"] == "CC-BY-NC-4.0"


def test_side_by_side_keeps_answering_when_one_model_cannot_load(tmp_path: Path, tiny_dirs) -> None:
    from xlm_explorer import service
    from xlm_explorer.errors import ModelLoadError
    from xlm_explorer.workspace import Workspace

    workspace = Workspace.from_sources({"en-2048": str(tmp_path / "missing"), "100-1280": str(tiny_dirs["100-1280"])}, device="cpu")
    answer = service.fill_mask(workspace, "A [MASK].", "both", "en", 3)
    data, results = answer.payload, answer.results
    assert [r.model for r in results] == ["100-1280"]
    (error,) = data["errors"]
    assert error["model"] == "en-2048" and "XLM_EXPLORER_MODELS" in error["message"]
    with pytest.raises(ModelLoadError, match="en-2048"):
        service.fill_mask(workspace, "A [MASK].", "en-2048", "en", 3)
    nothing = Workspace.from_sources({"en-2048": str(tmp_path / "a"), "100-1280": str(tmp_path / "b")}, device="cpu")
    with pytest.raises(ModelLoadError, match="en-2048"):  # no model answers: an error, not an empty result
        service.fill_mask(nothing, "A [MASK].", "both", "en", 3)


def test_every_optional_parameter_has_a_default_for_every_client(client) -> None:
    """No parameter the service gives a default is required from a client (gradio also reports a parameter whose page
    component starts with a value as optional, with that value)."""
    import inspect

    from xlm_explorer import service

    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name, fn in service.ENDPOINTS.items():
        wanted = [p.name for p in list(inspect.signature(fn).parameters.values())[1:]
                  if p.name != "progress" and p.default is inspect.Parameter.empty]
        required = [p["parameter_name"] for p in endpoints[f"/{name}"]["parameters"] if not p["parameter_has_default"]]
        assert set(required) <= set(wanted), (name, required, wanted)
    answer = client.predict(text="The cat sat on the [MASK].", api_name="/fill_mask")  # everything else left out
    assert [r["model"] for r in answer["results"]] == ["en-2048", "100-1280"]
    search = client.predict(text="The cat sleeps.", api_name="/token_search")  # layer: the middle one
    assert search["results"][0]["matches"]


def test_a_corpus_index_that_is_not_a_folder_stops_the_start_with_a_message(tmp_path) -> None:
    with pytest.raises(SystemExit, match="--corpus-index: .*missing is not a folder"):
        app_module.main(["--corpus-index", str(tmp_path / "missing"), "--tiny-demo", "--tiny-dir", str(tmp_path / "tiny")])
