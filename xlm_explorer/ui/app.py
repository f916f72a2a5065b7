"""The whole app: header, tabs, queue; and the launch settings shared by app.py and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ..models import ModelManager
from .attention_tab import build_attention_tab
from .common import model_status_markdown, wrap_model_events_for_gpu
from .compare_tab import build_compare_tab
from .embeddings_tab import build_embeddings_tab
from .fill_mask_tab import build_fill_mask_tab
from .models_tab import build_models_tab

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
CSS_FILE = ASSETS_DIR / "style.css"

HEADER = """# XLM Explorer
Look inside two masked language models from Facebook AI's XLM paper (Lample & Conneau, 2019):
**en-2048** (English) and **100-1280** (100 languages). Predict masked words, see how languages sit together
in embedding space, what the attention heads do, and how the two models differ."""

TINY_BANNER = """<div class="xlm-banner" role="alert"><b>Tiny demo mode:</b> the models are tiny and randomly
initialised. Every prediction, embedding and attention pattern here is meaningless; only the tool works.</div>"""


def build_demo(manager: ModelManager) -> gr.Blocks:
    """Build the Blocks app around a :class:`ModelManager` (no model is loaded here)."""
    gr.set_static_paths(paths=[ASSETS_DIR / "vendor"])
    with gr.Blocks(title="XLM Explorer", analytics_enabled=False) as demo:
        gr.Markdown(HEADER)
        if manager.tiny_demo:
            gr.HTML(TINY_BANNER)
        model_status = gr.Markdown(model_status_markdown(manager), elem_classes=["xlm-model-status"])
        with gr.Tabs():
            with gr.Tab("Fill mask", id="fill-mask"):
                build_fill_mask_tab(manager)
            with gr.Tab("Embeddings", id="embeddings"):
                build_embeddings_tab(manager)
            with gr.Tab("Attention", id="attention"):
                build_attention_tab(manager)
            with gr.Tab("Compare & bias", id="compare"):
                build_compare_tab(manager)
            with gr.Tab("Models", id="models"):
                build_models_tab(manager)
        gr.Markdown(
            "Models: CC-BY-NC-4.0 (non-commercial). Probes show what a model's statistics reflect, not facts about people.",
            elem_classes=["xlm-footer"],
        )
        demo.load(
            lambda: model_status_markdown(manager), outputs=model_status, api_visibility="private", queue=False
        )
    demo.queue(default_concurrency_limit=2, max_size=64)
    wrap_model_events_for_gpu(demo)  # ZeroGPU Spaces only; a no-op elsewhere
    return demo


def launch_kwargs(host: str | None = None, port: int | None = None, share: bool = False) -> dict[str, Any]:
    """Arguments for ``demo.launch`` (theme/css/ssr belong to launch in Gradio 6)."""
    return {
        "server_name": host,
        "server_port": port,
        "share": share,
        "ssr_mode": False,
        "css_paths": [CSS_FILE] if CSS_FILE.is_file() else None,
        "footer_links": ["api", "settings"],
        "max_file_size": "5mb",
        "show_error": True,
    }
