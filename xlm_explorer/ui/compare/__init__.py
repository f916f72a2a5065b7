"""The Compare tab (both models side by side, logit lens, layer similarity, cross-lingual grid): one module per
sub-tab."""

from __future__ import annotations


from ..context import AppContext
from ..widgets import build_subtabs
from .grid import build_grid
from .logit_lens import build_logit_lens
from .side_by_side import build_side_by_side
from .similarity import build_similarity
from .words import build_words

INTRO = """Both models on the same input, side by side, and what each layer does. The comparison and the fill-mask
tab share one cached forward pass per model and input; the logit lens keeps every layer's states."""

def build_compare_tab(ctx: AppContext) -> None:
    """Components and events of the Compare tab (inside an open ``gr.Tab``)."""
    build_subtabs(ctx, "compare", INTRO, [
        ("Compare", "compare-side-by-side", build_side_by_side),
        ("Words of several pieces", "compare-words", build_words),
        ("Logit lens", "compare-logit-lens", build_logit_lens),
        ("Layer similarity", "compare-similarity", build_similarity),
        ("Cross-lingual grid", "compare-grid", build_grid),
    ])


__all__ = ["build_compare_tab"]
