"""The Compare tab (both models side by side, logit lens, layer similarity, cross-lingual grid) and the Bias
tab (template probes, sentence pairs, one probe across languages): one module per sub-tab."""

from __future__ import annotations

import gradio as gr

from ..context import AppContext
from .bias_languages import build_bias_languages
from .grid import build_grid
from .logit_lens import build_logit_lens
from .pairs import build_pairs
from .probes import build_probes
from .side_by_side import build_side_by_side
from .similarity import build_similarity

INTRO = """Both models on the same input, side by side, and what each layer does. One forward pass per model and
input is shared by the comparison, the logit lens and the fill-mask tab."""

BIAS_INTRO = """Which words does a model find more likely for whom? Every score is given by **four metrics** side by
side (PLL, within-word PLL, AUL and, for pairs, CrowS-Pairs' unmodified-token PLL) with intervals, because the
answer can depend on the metric. Read *what this can and cannot show* under each view before drawing conclusions."""


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


__all__ = ["build_bias_tab", "build_compare_tab"]
