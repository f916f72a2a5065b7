"""The Bias tab (template probes, sentence pairs, one probe across languages, SEAT): one module per sub-tab."""

from __future__ import annotations


from ..context import AppContext
from ..widgets import build_subtabs
from .languages import build_bias_languages
from .pairs import build_pairs
from .probes import build_probes
from .seat import build_seat

BIAS_INTRO = """Which words does a model find more likely for whom? Every score is given by **five metrics** side by
side (PLL, within-word PLL, AUL, attention-weighted AUL and, for pairs, CrowS-Pairs' unmodified-token PLL) with intervals, because the
answer can depend on the metric. Read *what this can and cannot show* under each view before drawing conclusions."""


def build_bias_tab(ctx: AppContext) -> None:
    """Components and events of the Bias tab (inside an open ``gr.Tab``)."""
    build_subtabs(ctx, "bias", BIAS_INTRO, [
        ("Probes", "bias-probes", build_probes),
        ("Sentence pairs", "bias-pairs", build_pairs),
        ("Across languages", "bias-languages", build_bias_languages),
        ("Embedding association (SEAT)", "bias-seat", build_seat),
    ])


__all__ = ["build_bias_tab"]
