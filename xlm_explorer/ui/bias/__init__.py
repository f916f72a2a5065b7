"""The Bias tab (template probes, sentence pairs, one probe across languages): one module per sub-tab."""

from __future__ import annotations

import gradio as gr

from ..context import AppContext
from .languages import build_bias_languages
from .pairs import build_pairs
from .probes import build_probes

BIAS_INTRO = """Which words does a model find more likely for whom? Every score is given by **four metrics** side by
side (PLL, within-word PLL, AUL and, for pairs, CrowS-Pairs' unmodified-token PLL) with intervals, because the
answer can depend on the metric. Read *what this can and cannot show* under each view before drawing conclusions."""


def build_bias_tab(ctx: AppContext) -> None:
    """Components and events of the Bias tab (inside an open ``gr.Tab``)."""
    gr.Markdown(BIAS_INTRO, elem_classes=["xlm-intro"])
    with gr.Tabs(elem_classes=["xlm-subtabs"], overflow_behavior="wrap") as tabs:
        ctx.subtabs["bias"] = tabs
        with gr.Tab("Probes", id="bias-probes"):
            build_probes(ctx)
        with gr.Tab("Sentence pairs", id="bias-pairs"):
            build_pairs(ctx)
        with gr.Tab("Across languages", id="bias-languages"):
            build_bias_languages(ctx)


__all__ = ["build_bias_tab"]
