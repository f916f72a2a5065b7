"""Models tab: facts read from each loaded config beside the model-card facts."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..models import ModelManager
from ..views.models import make_model_facts_markdown
from .common import COMPUTE, get_model, user_errors


def model_info(manager: ModelManager, key: str, progress: Any = None) -> dict[str, Any]:
    """Facts of one model (loading it if needed) as a JSON-ready dict."""
    return get_model(manager, key, progress).facts()


def build_models_tab(manager: ModelManager) -> None:
    gr.Markdown(
        "Facts **read from the loaded configuration** (layers, sizes, parameter count, languages) next to the "
        "model card (paper, licence). A model loads on first use; loading here warms it up for the other tabs."
    )
    with gr.Row():
        for key in manager.keys:
            with gr.Column():
                facts = gr.Markdown(make_model_facts_markdown(manager.spec(key), None, manager.source_name(key)))
                button = gr.Button(f"Load {key} and read its config")
                data = gr.JSON(visible=False)

                button.click(
                    _make_loader(manager, key),
                    inputs=None,
                    outputs=[facts, data],
                    api_name=f"model_info_{key.replace('-', '_')}",
                    **COMPUTE,
                )


def _make_loader(manager: ModelManager, key: str):
    @user_errors
    def load(progress: gr.Progress = gr.Progress()) -> tuple[str, dict[str, Any]]:
        info = model_info(manager, key, progress)
        return make_model_facts_markdown(manager.spec(key), info, info["source"]), info

    return load
