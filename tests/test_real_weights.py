"""Opt-in end-to-end check with the real checkpoints: skipped unless they are in the local Hugging Face cache or
``XLM_EXPLORER_MODELS`` points at copies of them. Whoever has the weights runs it with one command:

    bash tests/run.sh -m real_weights

It checks behaviour a trained model must show (a random one never does), through the same service the page and
the API use: "paris" among en-2048's top 5 for the English sentence and among 100-1280's for the French one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from xlm_explorer import service
from xlm_explorer.models import ENV_MODELS, parse_model_overrides
from xlm_explorer.specs import MODEL_SPECS
from xlm_explorer.workspace import Workspace

pytestmark = [pytest.mark.real_weights, pytest.mark.slow]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def real_source(key: str) -> str | None:
    """Where the real checkpoint of ``key`` is: a directory from ``XLM_EXPLORER_MODELS`` or the hub id when its
    files are in the local cache; None when neither (a tiny test checkpoint does not count: vocabulary size)."""
    spec = MODEL_SPECS[key]
    configured = parse_model_overrides(os.environ.get(ENV_MODELS)).get(key)
    if configured and (Path(configured) / "config.json").is_file():
        config = json.loads((Path(configured) / "config.json").read_text(encoding="utf-8"))
        if config.get("vocab_size") == spec.config_overrides["vocab_size"] and any(
            (Path(configured) / name).is_file() for name in WEIGHT_FILES
        ):
            return configured
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    config = try_to_load_from_cache(spec.hub_id, "config.json")
    weights = [try_to_load_from_cache(spec.hub_id, name) for name in WEIGHT_FILES]
    return spec.hub_id if isinstance(config, str) and any(isinstance(w, str) for w in weights) else None


@pytest.fixture(scope="module")
def real_workspace() -> Workspace:
    sources = {key: real_source(key) for key in MODEL_SPECS}
    missing = [key for key, source in sources.items() if source is None]
    if missing:
        pytest.skip(f"the real checkpoints of {', '.join(missing)} are not available locally (see the module docstring)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return Workspace.from_sources(sources, device="auto")


@pytest.mark.parametrize(
    ("model", "lang", "text"),
    [("en-2048", "en", "The capital of France is [MASK]."), ("100-1280", "fr", "La capitale de la France est [MASK].")],
)
def test_a_trained_model_knows_the_capital_of_france(real_workspace: Workspace, model: str, lang: str, text: str) -> None:
    answer = service.fill_mask(real_workspace, text, model, lang, 5)
    (result,) = answer.results
    top = [p.token.lower() for p in result.masks[0].predictions]
    assert "paris" in top, top
