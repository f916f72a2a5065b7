"""Sentence pairs sub-tab: CrowS-Pairs-style pairs scored by five metrics, a summary with intervals, CrowS-Pairs' own numbers."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from ... import service
from ...errors import UserInputError
from ...service import Answer
from ...uploads import TABLE_TYPES
from ...views import bias as views
from ..context import AppContext
from ..messages import notices_html
from ..share import share_query
from ..widgets import intro, model_radio, view_controls
from ..wiring import Drawn, Share, View, wire

VIEW = "pairs"
HELP = f"""Pairs of sentences that differ in a group word (CrowS-Pairs style): `sent_more` the more stereotypical,
`sent_less` the less. Each sentence is scored by five metrics (every masked copy batched); the summary gives, per
metric, the share of pairs where `sent_more` scores higher with a 95% bootstrap interval; the CrowS-Pairs table gives
the numbers its `metric.py` reports (PLL of shared tokens, rounded to 3 decimals, equal pairs neutral; by direction
and bias type); the pair table puts the pairs where the metrics disagree on top. Tab- or comma-separated with a
header naming `sent_more` and `sent_less` (`id`, `lang`, `bias_type`, `stereo_antistereo` optional: CrowS-Pairs'
own file reads as it is); at most {service.MAX_PAIRS} pairs here (a CrowS-Pairs-size set of
1,500 runs with `python -m xlm_explorer.score`: see docs/bias.md)."""


def build_pairs(ctx: AppContext) -> None:
    intro(HELP)
    shipped = service.shipped_pairs_text()
    with gr.Row(equal_height=False):
        upload = gr.File(label="Upload pairs (CSV or TSV)", file_types=list(TABLE_TYPES), type="filepath", scale=1)
        choice = model_radio()
    table_text = gr.Textbox(label="Sentence pairs (TSV or CSV with a header)", value=shipped, lines=8, max_lines=30)
    controls = view_controls(VIEW, "Score the pairs")
    summary_plot = gr.Plot(label="Share preferring the more stereotypical sentence", show_label=False, elem_id=f"{VIEW}-results")
    summary = gr.Dataframe(visible=False, label="Summary per model and metric", interactive=False, wrap=True)
    crows = gr.Dataframe(visible=False, label="CrowS-Pairs' numbers (as its metric.py computes them)", interactive=False,
                         wrap=True)
    table = gr.Dataframe(visible=False, label="Scores per pair and model (pairs where the metrics disagree first)", interactive=False,
                         wrap=True, max_height=480)
    plot = gr.Plot(label="PLL difference per pair", show_label=False)
    with gr.Accordion("What this can and cannot show", open=False):
        gr.Markdown(views.PROBE_CAVEATS)

    def load_upload(upload: Any) -> list[Any]:
        if upload is None:
            return [gr.skip(), gr.skip()]
        try:
            text, n_pairs = service.read_pairs_upload(upload)  # checked now: a clear message instead of a bad table
        except UserInputError as error:
            raise gr.Error(html.escape(str(error)), print_exception=False) from None
        return [text, notices_html([f"Loaded {n_pairs} pairs."])]

    upload.upload(load_upload, inputs=upload, outputs=[table_text, controls.status], api_visibility="private")

    def draw(answer: Answer) -> Drawn:
        result = answer.results
        frame = views.make_pairs_table(result, disagreeing_first=True)
        summary_frame = views.make_pairs_summary(result)
        crows_frame = views.make_crows_table(result)
        figures = [views.make_pairs_summary_figure(result), summary_frame, crows_frame, frame, views.make_pairs_figure(result)]
        return Drawn(figures, {"summary": summary_frame, "crows": crows_frame, "pairs": frame})

    wire(ctx, View(VIEW, controls, service.pll_pairs, {"table": table_text, "model": choice}, draw,
                   [summary_plot, summary, crows, table, plot], smaller="score fewer pairs, or one model", first_result_id=f"{VIEW}-results",
                   share=Share("bias", ["table", "model"], subtab="bias-pairs")))
    build_results_browser(ctx)


BROWSE_HELP = """Open a results file from `python -m xlm_explorer.score` (run overnight or on a GPU; CrowS-Pairs' 1,508
pairs fit) or a `/pll_pairs` answer: filter by model, bias type and direction, sort by margin (sent_more's score
minus sent_less's), see where the metrics disagree, and open a pair in the Explain tab (its group word masked, the
model's preference for sent_more's word over sent_less's attributed, token by token). Nothing is scored again."""


def build_results_browser(ctx: AppContext) -> None:
    with gr.Accordion("Browse a results file from the command", open=False):
        gr.Markdown(BROWSE_HELP)
        upload = gr.File(label="Results JSON", file_types=[".json"], type="filepath", elem_id="pairs-browse-upload")
        with gr.Row():
            model = gr.Dropdown(["all"], value="all", label="Model", min_width=120)
            bias_type = gr.Dropdown(["all"], value="all", label="Bias type", min_width=140)
            direction = gr.Dropdown(["all"], value="all", label="Direction", min_width=120)
            metric = gr.Dropdown(["pll"], value="pll", label="Margin by", min_width=160)
            order = gr.Dropdown(list(service.RESULT_ORDERS), value=service.RESULT_ORDERS[0], label="Sort", min_width=180)
        status = gr.HTML("", elem_classes=["xlm-status"])
        table = gr.Dataframe(visible=False, label="Pairs (click a link to open the pair in Explain)", interactive=False,
                             wrap=True, max_height=520, elem_id="pairs-browse-results",
                             datatype=["str", "markdown"] + ["str"] * 3 + ["number"] + ["str"] * 4)  # only the link is markdown
        state = gr.State(None)
    filters = [model, bias_type, direction, metric, order]

    def opened(file: Any) -> list[Any]:
        if file is None:
            return [None, "", gr.update(visible=False), *[gr.skip()] * 4]
        try:
            results = service.read_results_upload(file)
        except UserInputError as error:
            return [None, notices_html([str(error)], "error"), gr.update(visible=False), *[gr.skip()] * 4]
        choices = service.result_choices(results)
        return [results, notices_html([f"{len(results.rows)} rows, {len(results.models)} model(s)."]), gr.skip(),
                *[gr.Dropdown(choices=c, value=c[0]) for c in choices]]

    def shown(results: Any, *values: Any) -> Any:
        if results is None:
            return gr.update(visible=False)
        rows = service.select_result_rows(results, *values)
        return gr.update(value=views.make_results_table(rows, values[3], [explain_link(r) for r in rows]), visible=True)

    upload.change(opened, inputs=upload, outputs=[state, status, table, model, bias_type, direction, metric],
                  api_visibility="private").then(shown, inputs=[state, *filters], outputs=table, api_visibility="private")
    for control in filters:
        control.change(shown, inputs=[state, *filters], outputs=table, api_visibility="private")


def explain_link(row: dict[str, Any]) -> str:
    """A markdown link that opens the pair in the Explain tab's contrastive attribution: sent_more with its word
    masked, why the model prefers sent_more's word over sent_less's (log P(more word) - log P(less word))."""
    if not row.get("contrast"):
        return ""
    masked, word_more, word_less = row["contrast"]
    query = share_query("explain", "explain-attribution", ["text", "model", "lang", "mask_number", "target", "foil"],
                        [masked, row["model"], row.get("lang") or "en", 1, word_more, word_less])
    return f"[attribute]({query})"
