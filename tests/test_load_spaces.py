"""Spaces readiness: valid front matter that preloads only the files the app reads, and the optional
ZeroGPU wrapper that wraps model events on a ZeroGPU Space and is a no-op everywhere else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from xlm_explorer.models import ModelManager
from xlm_explorer.specs import MODEL_SPECS
from xlm_explorer.ui.spaces import ENV_ZERO_GPU, wrap_model_events_for_gpu, zero_gpu_decorator
from xlm_explorer.ui.wiring import MODEL_GROUPS

README = Path(__file__).resolve().parents[1] / "README.md"
NEEDED_FILES = {"config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "pytorch_model.bin"}


def front_matter() -> dict[str, Any]:
    """The YAML front matter at the very top of README.md: what Hugging Face Spaces reads."""
    text = README.read_text(encoding="utf-8")
    block = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert block, "README.md does not start with a --- front matter block"
    return yaml.safe_load(block.group(1))


def test_front_matter_is_a_valid_gradio_space_config() -> None:
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    import gradio

    assert str(meta["sdk_version"]) == gradio.__version__
    assert (Path(__file__).resolve().parents[1] / meta["app_file"]).is_file()
    assert len(meta["short_description"]) <= 60  # the hub's limit
    assert set(meta["models"]) == {spec.hub_id for spec in MODEL_SPECS.values()}


def test_preload_lists_only_the_files_the_app_reads() -> None:
    items = front_matter()["preload_from_hub"]
    repos = {}
    for item in items:
        repo, files = item.split(" ", 1)
        repos[repo] = set(files.split(","))
    assert set(repos) == {spec.hub_id for spec in MODEL_SPECS.values()}
    for repo, files in repos.items():
        assert files == NEEDED_FILES, f"{repo}: {files ^ NEEDED_FILES}"
        assert "tf_model.h5" not in files


def test_zero_gpu_is_off_without_the_variable_or_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert zero_gpu_decorator(environ={}) is None
    import builtins

    real_import = builtins.__import__

    def no_spaces(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "spaces":
            raise ImportError("No module named 'spaces'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spaces)
    assert zero_gpu_decorator(environ={ENV_ZERO_GPU: "true"}) is None


def test_model_events_are_wrapped_for_zero_gpu_and_nothing_else(manager: ModelManager) -> None:
    from xlm_explorer.ui.app import build_demo

    demo = build_demo(manager)  # on this machine: no ZeroGPU, so nothing was wrapped
    assert not any(getattr(fn.fn, "zero_gpu", False) for fn in demo.fns.values() if fn.fn is not None)
    calls: list[str] = []

    def fake_gpu(fn: Any) -> Any:
        def inner(*args: Any, **kwargs: Any) -> Any:
            calls.append(fn.__name__)
            return fn(*args, **kwargs)

        inner.zero_gpu = True  # type: ignore[attr-defined]
        return inner

    wrapped = wrap_model_events_for_gpu(demo, gpu=fake_gpu)
    model_fns = [fn for fn in demo.fns.values() if fn.concurrency_id in MODEL_GROUPS]
    assert "fill_mask" in wrapped and len(wrapped) == len(model_fns)
    assert all(getattr(fn.fn, "zero_gpu", False) for fn in model_fns)
    others = [fn for fn in demo.fns.values() if fn.concurrency_id not in MODEL_GROUPS and fn.fn is not None]
    assert others and not any(getattr(fn.fn, "zero_gpu", False) for fn in others)


def test_front_matter_parses_with_huggingface_hubs_space_card() -> None:
    """The hub's own parser reads the same front matter (what a Space build reads)."""
    from huggingface_hub import SpaceCard

    card = SpaceCard.load(README)
    data = card.data.to_dict()
    assert (card.data.sdk, card.data.app_file, card.data.license) == ("gradio", "app.py", "cc-by-nc-4.0")
    assert data["python_version"] == "3.11" and data["startup_duration_timeout"] == "1h"
    assert set(card.data.models or []) == {spec.hub_id for spec in MODEL_SPECS.values()}
    assert len(data["preload_from_hub"]) == len(MODEL_SPECS)
