"""The Compare tab (both models side by side, logit lens, layer similarity, cross-lingual grid): one module per
sub-tab."""

from __future__ import annotations

import gradio as gr

from ..context import AppContext
from .grid import build_grid
from .logit_lens import build_logit_lens
from .side_by_side import build_side_by_side
from .similarity import build_similarity

INTRO = """Both models on the same input, side by side, and what each layer does. The comparison and the fill-mask
tab share one cached forward pass per model and input; the logit lens keeps every layer's states."""

def build_compare_tab(ctx: AppContext) -> None:
    """Components and events of the Compare tab (inside an open ``gr.Tab``)."""
    gr.Markdown(INTRO, elem_classes=["xlm-intro"])
    with gr.Tabs(elem_classes=["xlm-subtabs"], overflow_behavior="wrap") as tabs:
        ctx.subtabs["compare"] = tabs
        with gr.Tab("Compare", id="compare-side-by-side"):
            build_side_by_side(ctx)
        with gr.Tab("Logit lens", id="compare-logit-lens"):
            build_logit_lens(ctx)
        with gr.Tab("Layer similarity", id="compare-similarity"):
            build_similarity(ctx)
        with gr.Tab("Cross-lingual grid", id="compare-grid"):
            build_grid(ctx)


__all__ = ["build_compare_tab"]
