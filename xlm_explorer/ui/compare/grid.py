"""Cross-lingual grid sub-tab: one template in several languages, both models' top predictions per line."""

from __future__ import annotations

import gradio as gr

from ... import service
from ...service import Answer
from ...views import compare as views
from ..context import AppContext
from ..widgets import intro, slider, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "grid"
HELP = """One template written in several languages, one per line as `lang<TAB>sentence` or `lang: sentence`, each
with exactly one **[MASK]**. Both models fill every line (en-2048 reads every language as English, which is the
point of the comparison)."""
NAMES = {"t1": "capital of France", "t2": "a cup of … every morning", "t3": "favourite colour"}


def build_grid(ctx: AppContext) -> None:
    intro(HELP)
    shipped = service.shipped_grid_templates()
    with gr.Row():
        template_set = gr.Dropdown([(f"{key}: {NAMES.get(key, key)}", key) for key in shipped], value=next(iter(shipped), None),
                                   label="Shipped template", scale=1)
        top_k = slider(service.crosslingual_grid.param("top_k"), "Predictions per cell", value=3, scale=1)
    templates = gr.Textbox(label="Templates (one per line: lang<TAB>sentence with [MASK])",
                           value=next(iter(shipped.values()), ""), lines=8, max_lines=30)
    controls = view_controls(VIEW, "Fill the grid")
    table = gr.Dataframe(visible=False, label="Top predictions per language and model", interactive=False, wrap=True,
                         elem_id=f"{VIEW}-results", elem_classes=["xlm-bidi-table"])
    template_set.change(lambda key: shipped.get(key, ""), inputs=template_set, outputs=templates,
                        queue=False, api_visibility="private")

    def draw(answer: Answer) -> Drawn:
        grid = answer.results
        wide = views.make_grid_table(grid, shown=grid.top_k)
        return Drawn([wide], {"grid": wide, "predictions": views.make_grid_long_table(grid)})

    wire(ctx, View(VIEW, controls, service.crosslingual_grid, {"templates": templates, "top_k": top_k}, draw, [table],
                   first_result_id=f"{VIEW}-results",
                   share=Share("compare", ["templates", "top_k"], subtab="compare-grid")))
