"""Bias probes sub-tab: a template, target words at the mask and fillers; every target scored by every metric."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from ... import service
from ...errors import UserInputError
from ...service import Answer
from ...uploads import JSON_TYPES
from ...views import bias as views
from ..context import AppContext
from ..messages import notices_html
from ..widgets import intro, language_dropdown, model_radio, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "probes"
HELP = """A **template** with one **[MASK]** and one `{filler}`, **targets** compared at the mask (two or more) and
**fillers** (one per line) put into `{filler}`. Each target is written into the sentence in full and scored over
**all** its pieces by PLL, within-word PLL and AUL. Pick a shipped probe set (7 languages), edit it, or upload your
own JSON (the format of `assets/data/bias_probes.json`)."""


def note_html(note: str) -> str:
    """A probe set's note (user-uploadable) as escaped HTML."""
    return f'<p class="xlm-notice">{html.escape(note)}</p>' if note else ""


def build_probes(ctx: AppContext) -> None:
    intro(HELP)
    shipped = service.shipped_probe_sets()
    first = next(iter(shipped.values()), None)
    sets_state = gr.State(shipped)
    with gr.Row(equal_height=False):
        probe_set = gr.Dropdown(list(shipped), value=first["id"] if first else None, label="Probe set", allow_custom_value=True, scale=2,
                                min_width=300)  # its longest name whole: on a phone the upload goes under it
        upload = gr.File(label="Upload probe sets (JSON)", file_types=list(JSON_TYPES), type="filepath", scale=1, min_width=200)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            template = gr.Textbox(label="Template (one [MASK], one {filler})", value=first["template"] if first else "", lines=2)
            targets = gr.Textbox(label="Target words (comma-separated, two or more)", value=", ".join(first["targets"]) if first else "")
        with gr.Column(scale=2, min_width=240):
            lang = language_dropdown(ctx, value=first["lang"] if first else "en")
            choice = model_radio()
    fillers = gr.Textbox(label="Fillers (one per line)", value="\n".join(first["fillers"]) if first else "", lines=6, max_lines=20)
    note = gr.HTML(note_html(first.get("note", "")) if first else "")
    controls = view_controls(VIEW, "Run the probe")
    plot = gr.Plot(label="Per filler", show_label=False, elem_id=f"{VIEW}-results")
    table = gr.Dataframe(visible=False, label="Scores per filler and model (numbers first)", interactive=False, wrap=True, max_height=480)
    with gr.Accordion("What this can and cannot show", open=False):
        gr.Markdown(views.PROBE_CAVEATS)

    _wire_probe_sets(probe_set, upload, sets_state, [template, targets, fillers, lang, note], controls.status)

    def draw(answer: Answer) -> Drawn:
        result = answer.results
        frame = views.make_probe_table(result)
        return Drawn([views.make_probe_figure(result), frame], {"scores": frame, "metrics": views.make_probe_metrics_table(result)})

    inputs = {"template": template, "targets": targets, "fillers": fillers, "lang": lang, "model": choice}
    share = Share("bias", ["template", "targets", "fillers", "lang", "model"],
                  subtab="bias-probes")
    wire(ctx, View(VIEW, controls, service.bias_probe, inputs, draw, [plot, table], smaller="give fewer fillers, or one model",
                   first_result_id=f"{VIEW}-results", share=share))


def _wire_probe_sets(probe_set, upload, sets_state, fields, status) -> None:  # noqa: ANN001 - components
    """Picking a probe set fills the fields; an uploaded JSON adds its sets to the list."""

    def pick(key: str, sets: dict[str, dict]) -> list[Any]:
        item = (sets or {}).get(key)
        if item is None:
            return [gr.skip()] * 5
        return [item["template"], ", ".join(item["targets"]), "\n".join(item["fillers"]), item["lang"], note_html(item.get("note", ""))]

    probe_set.change(pick, inputs=[probe_set, sets_state], outputs=fields, queue=False, api_visibility="private")

    def load_upload(upload: Any, sets: dict[str, dict]) -> list[Any]:
        if upload is None:
            return [gr.skip(), sets, gr.skip()]
        try:
            loaded = service.read_probe_upload(upload)
        except UserInputError as error:
            raise gr.Error(html.escape(str(error)), print_exception=False) from None
        sets = {**(sets or {}), **{p["id"]: p for p in loaded}}
        message = f"Loaded {len(loaded)} probe set(s): {', '.join(p['id'] for p in loaded)[:200]}"
        return [gr.Dropdown(choices=list(sets), value=loaded[0]["id"]), sets, notices_html([message])]

    upload.upload(load_upload, inputs=[upload, sets_state], outputs=[probe_set, sets_state, status], api_visibility="private")
