"""Shared fixtures: tiny random XLM checkpoints (built once per session), managers and a running app.

Everything is offline: the checkpoints are written with ``save_pretrained`` and loaded through the same
code users use (``XLM_EXPLORER_MODELS``).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("XLM_EXPLORER_WARMUP", "0")  # no background numba warm-up unless a test asks for it
if os.environ.get("PYTEST_XDIST_WORKER"):  # `-n 2` (the quick tier): one thread per worker, two workers on 2 cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Iterator
from pathlib import Path

import pytest

from xlm_explorer.models import ENV_MODELS, LoadedModel, ModelManager, resolve_sources
from xlm_explorer.tiny import build_tiny_checkpoints
from xlm_explorer.workspace import Workspace


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"en-2048": dir, "100-1280": dir}``: tiny checkpoints as ``save_pretrained`` writes them."""
    return build_tiny_checkpoints(tmp_path_factory.mktemp("tiny-checkpoints"))


@pytest.fixture(scope="session")
def tiny_models_env(tiny_dirs: dict[str, Path]) -> str:
    """The ``XLM_EXPLORER_MODELS`` value that points both keys at the tiny checkpoints."""
    return ",".join(f"{key}={path}" for key, path in tiny_dirs.items())


@pytest.fixture(scope="session")
def manager(tiny_models_env: str) -> ModelManager:
    """A session-wide manager configured the way users configure one (through the environment)."""
    return ModelManager(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")


@pytest.fixture(scope="session")
def workspace(manager: ModelManager) -> Workspace:
    """The session's workspace: the shared manager and one set of caches (what the launched app uses)."""
    return Workspace(manager)


@pytest.fixture()
def fresh_workspace(tiny_models_env: str) -> Workspace:
    """A new workspace: nothing loaded, every cache empty."""
    return Workspace.from_sources(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")


@pytest.fixture()
def fresh_manager(tiny_models_env: str) -> ModelManager:
    """A new manager with nothing loaded and an empty cache."""
    return ModelManager(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")


@pytest.fixture(scope="session")
def en_model(manager: ModelManager) -> LoadedModel:
    return manager.get("en-2048")


@pytest.fixture(scope="session")
def multi_model(manager: ModelManager) -> LoadedModel:
    return manager.get("100-1280")


@pytest.fixture(scope="session")
def app_url(workspace: Workspace) -> Iterator[str]:
    """The full app launched on 127.0.0.1 (a free port) with the tiny checkpoints."""
    from browser_utils import launched_app

    with launched_app(workspace) as url:
        yield url


@pytest.fixture(scope="session")
def client(app_url: str):
    """A gradio_client connected to the running app."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test tiers: ``browser`` (marked in the module), ``api`` (uses the launched app), else ``unit``."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            continue
        if {"client", "app_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.api)
        else:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="module")
def own_app_url(tiny_models_env: str) -> Iterator[str]:
    """The whole app on its own workspace (its caches empty), for a browser test module; the URL without its ``/``."""
    from browser_utils import launched_app, require_chromium

    require_chromium()
    with launched_app(Workspace.from_sources(resolve_sources(environ={ENV_MODELS: tiny_models_env}), device="cpu")) as url:
        yield url.rstrip("/")
