"""SEAT sub-tab: four lists of sentences, the effect size and permutation p-value per layer, and the sentences on
the direction the two attribute lists define."""

from __future__ import annotations

import gradio as gr

from ... import service
from ...service import Answer
from ...views import bias as bias_views
from ...views import seat as views
from ..context import AppContext
from ..widgets import intro, language_dropdown, model_radio, view_controls
from ..wiring import Drawn, Redraw, Share, View, wire

VIEW = "bias-seat"
HELP = """**SEAT** (May et al., 2019): do sentences about targets X sit closer to attributes A, and those about Y
closer to B, in the model's sentence embeddings (the mean of the token states)? Per layer: the **effect size** d
(Cohen's d of each target's mean cosine to A minus to B) and a **permutation p-value** over equal splits of X and Y,
as sent-bias computes them. Below: every sentence on the **direction** mean(A) − mean(B) at a layer you pick.
X and Y need as many sentences each; one sentence per line."""

DEFAULTS = {
    "targets_x": "This is a man.\nHe is here.\nThat is a boy.\nThis is my father.\nHe is a person.",
    "targets_y": "This is a woman.\nShe is here.\nThat is a girl.\nThis is my mother.\nShe is a person.",
    "attributes_a": "This is a career.\nThat is a salary.\nThis is an office.\nThat is a business.\nThis is management.",
    "attributes_b": "This is a family.\nThat is a home.\nThis is a wedding.\nThose are parents.\nThis is a child.",
}
LABELS = {"targets_x": "Targets X (e.g. male)", "targets_y": "Targets Y (e.g. female)",
          "attributes_a": "Attributes A (e.g. career)", "attributes_b": "Attributes B (e.g. family)"}


def build_seat(ctx: AppContext) -> None:
    intro(HELP)
    with gr.Row():
        boxes = {name: gr.Textbox(value=value, label=LABELS[name], lines=5, min_width=160) for name, value in DEFAULTS.items()}
    with gr.Row():
        model = model_radio()
        lang = language_dropdown(ctx, label="Language of the sentences")
    controls = view_controls(VIEW, "Test every layer")
    effect = gr.Plot(show_label=False, elem_id=f"{VIEW}-results")
    layer = gr.Slider(0, 16, value=16, step=1, label="Layer of the direction below (beyond a model's last: its last)")
    direction = gr.Plot(show_label=False)
    table = gr.Dataframe(visible=False, label="Effect size and p-value per layer", interactive=False)
    with gr.Accordion("What this can and cannot show", open=False):
        gr.Markdown(bias_views.PROBE_CAVEATS + "\n\nSEAT measures closeness in the embedding space of a few template "
                    "sentences; May et al. found it inconsistent across encoders and templates, and a significant d "
                    "says nothing about what the model does with the sentences downstream.")

    def draw(answer: Answer) -> Drawn:
        frame = views.make_seat_table(answer.results)
        return Drawn([views.make_effect_figure(answer.results), frame], {"seat": frame})

    wire(ctx, View(VIEW, controls, service.seat, {**boxes, "model": model, "lang": lang}, draw, [effect, table],
                   first_result_id=f"{VIEW}-results",
                   redraws=[Redraw(lambda answer, at: [views.make_direction_figure(answer.results, int(at))], [layer], [direction])],
                   share=Share("bias", [*DEFAULTS, "model", "lang"], subtab="bias-seat")))
