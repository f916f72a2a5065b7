"""Embeddings tab: where do the models put a sentence and its translations, and at which layer?

The model runs once per data set (the page event). Layers, pooling, centring and the projection redraw
from the cached embedding sets without a model call; clicking a point lists its nearest neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import service
from ..errors import UserInputError
from ..service import (
    DIRECTION_GROUPS,
    LAYER_ALIASES,
    MAX_PANEL_LAYERS,
    MAX_ROWS,
    SHIPPED_DATASETS,
    Answer,
    shipped_languages,
    start_umap_warmup,
)
from ..uploads import TABLE_TYPES
from ..views.embeddings import (
    make_alignment_figure,
    make_metrics_summary,
    make_metrics_table,
    make_neighbours_table,
    make_neighbours_title,
    make_points_table,
    make_projection_figure,
    make_summary_html,
)
from .context import RESULT_STATE_SECONDS, AppContext
from .messages import toast_text
from .widgets import intro, api_payload, downloads_list, language_label, model_radio, view_controls
from .wiring import Drawn, Redraw, Share, View, wire

TAB = "embeddings"
SOURCES = [
    ("Parallel sentences (shipped)", "sentences"),
    ("Parallel words (shipped)", "words"),
    ("Paste lines", "paste"),
    ("Upload CSV/TSV", "upload"),
]
POOLING_CHOICES = [("mean of tokens", "mean"), ("first token <s>", "first"), ("max of tokens", "max")]
METHOD_CHOICES = [("UMAP (cosine)", "umap"), ("PCA", "pca"), ("Direction A → B", "direction")]
PASTE_EXAMPLE = "en\tThe cat is sleeping.\tcat\nfr\tLe chat dort.\tcat\nde\tDie Katze schläft.\tcat\nen\tI like tea.\ttea\nfr\tJ'aime le thé.\ttea\nde\tIch mag Tee.\ttea"

INTRO = f"""Does the multilingual model put a sentence and its translation close together, and **at which layer**?
Each text runs through the model once; layers, pooling and projection then redraw at once. **Translation
retrieval P@1**: how often the nearest English text (cosine) is the translation. **Language separability**: how
well a nearest-centroid classifier tells the language (lower = more language-neutral). **Click a point** to list
its nearest neighbours. **Direction A → B** puts every text on the axis from the mean of group A to the mean of
group B (`lang:en` and `lang:fr`, or words such as `he` and `she`), at each layer shown. Your own data: lines `lang<TAB>text<TAB>id` or a CSV/TSV with columns `id, lang, text`
(rows with the same id are translations; at most {MAX_ROWS:,} rows)."""

#: Installs (once per plot) a plotly_click listener that writes "model|layer|index" into the hidden pick box.
CLICK_JS = """() => {
  const install = () => {
    document.querySelectorAll('#embeddings-scatter .js-plotly-plot').forEach((plot) => {
      if (plot.__xlmClick) return; plot.__xlmClick = true;
      plot.on('plotly_click', (event) => {
        const point = event && event.points && event.points[0];
        if (!point || !point.customdata) return;
        const box = document.querySelector('#embeddings-pick textarea, #embeddings-pick input');
        if (!box) return;
        box.value = `${point.customdata[4]}|${point.customdata[5]}|${point.customdata[3]}|${Date.now()}`;
        box.dispatchEvent(new Event('input', {bubbles: true}));
      });
    });
  };
  install(); setTimeout(install, 500); setTimeout(install, 2000);
}"""


def _layer_choices(ctx: AppContext) -> list[str]:
    deepest = max(ctx.manager.shape(k)["n_layers"] for k in ctx.manager.keys)
    return list(LAYER_ALIASES) + [str(i) for i in range(deepest + 1)]


@dataclass
class EmbeddingsView:
    """The components the embeddings tab draws into."""

    summary: gr.HTML
    scatter: gr.Plot
    pick: gr.Textbox
    neighbours_title: gr.Markdown
    neighbours_table: gr.Dataframe
    k: gr.Slider
    alignment: gr.Plot
    metrics_table: gr.Dataframe
    downloads: gr.File
    payload: gr.JSON

    @property
    def drawn(self) -> list[Any]:
        """What a redraw fills, in :func:`draw_views`'s order."""
        return [self.summary, self.scatter, self.alignment, self.metrics_table, self.downloads, self.payload]


def build_embeddings_tab(ctx: AppContext) -> None:
    """Components and events of the embeddings tab (inside an open ``gr.Tab``)."""
    start_umap_warmup()  # numba compiles in the background, not in a user's request (XLM_EXPLORER_WARMUP=0 turns off)
    intro(INTRO)
    data_inputs = _data_inputs()
    choice, settings, join = _settings_inputs(ctx)
    controls = view_controls(TAB, "Embed and project")
    view = _result_components()
    state = gr.State(None, time_to_live=RESULT_STATE_SECONDS)

    def redraw(answer: Answer, session: str, join_lines: bool, *values: Any) -> list[Any]:
        """Everything under the settings in view, from the cached embedding sets (after a run, or a change)."""
        again = service.reproject(ctx.ws, answer, *values)
        return [again, *draw_views(ctx, again, session, join_lines)]

    names = ["source", "languages", "max_items", "pasted", "upload", "model", "layers", "pooling", "center", "method",
             "dims", "seed", "group_a", "group_b"]
    wire(ctx, View(
        TAB, controls, service.embeddings, dict(zip(names, [*data_inputs, choice, *settings])), lambda _answer: Drawn([]),
        first_result_id=f"{TAB}-results", downloads=False, smaller="pick fewer languages or fewer items per language",
        state=state, payload=view.payload,
        redraws=[Redraw(redraw, [join, *settings], [state, *view.drawn], slow=True, with_session=True)],
        share=Share(TAB, [name for name in names if name not in ("pasted", "upload")]),
    ))
    _wire_neighbours(view, state)
    source, languages, max_items, pasted, upload = data_inputs
    source.change(_show_source_inputs, inputs=source, outputs=[languages, max_items, pasted, upload],
                  queue=False, api_visibility="private")
    method, group_a, group_b = settings[3], settings[6], settings[7]
    method.change(_show_groups, inputs=method, outputs=[group_a, group_b], queue=False, api_visibility="private")


def _settings_inputs(ctx: AppContext) -> tuple[gr.Radio, list[Any], gr.Checkbox]:
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            choice = model_radio("100-1280")
            layers = gr.Dropdown(_layer_choices(ctx), value=["middle", "last"], multiselect=True, allow_custom_value=True,
                                 label=f"Layers to project (0 = embeddings; up to {MAX_PANEL_LAYERS})")
            pooling = gr.Radio(POOLING_CHOICES, value="mean", label="Pooling")
        with gr.Column(scale=2, min_width=260):
            center = gr.Checkbox(value=False, label="Centre per language (remove the language-identity component)")
            with gr.Row():
                method = gr.Radio(METHOD_CHOICES, value="umap", label="Projection", min_width=150, elem_id=f"{TAB}-method")
                dims = gr.Radio([2, 3], value=2, label="Dimensions", min_width=100, elem_id=f"{TAB}-dims")
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", min_width=80)
            with gr.Row():
                group_a = gr.Textbox(DIRECTION_GROUPS[0], label="Group A (lang:xx or words)", visible=False, min_width=140,
                                     elem_id=f"{TAB}-group-a")
                group_b = gr.Textbox(DIRECTION_GROUPS[1], label="Group B (lang:xx or words)", visible=False, min_width=140,
                                     elem_id=f"{TAB}-group-b")
            join = gr.Checkbox(value=False, label="Join translations with lines")
    return choice, [layers, pooling, center, method, dims, seed, group_a, group_b], join


def _result_components() -> EmbeddingsView:
    summary = gr.HTML(elem_id=f"{TAB}-results")
    scatter = gr.Plot(label="Projection", show_label=False, elem_id=f"{TAB}-scatter")
    pick = gr.Textbox(elem_id=f"{TAB}-pick", elem_classes=["xlm-hidden"], show_label=False, container=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            neighbours_title = gr.Markdown("**Nearest neighbours**: click a point in the projection.")
            neighbours_table = gr.Dataframe(visible=False, label="Nearest neighbours (cosine, in the model's own space)", interactive=False,
                                            wrap=True, max_height=380)
        k = gr.Slider(1, 50, value=10, step=1, label="Neighbours", scale=1, min_width=160)
    alignment = gr.Plot(label="Alignment by layer", show_label=False)
    metrics_table = gr.Dataframe(visible=False, label="Alignment metrics by layer", interactive=False, max_height=420)
    downloads = downloads_list()
    payload = api_payload("embeddings")
    return EmbeddingsView(summary, scatter, pick, neighbours_title, neighbours_table, k, alignment, metrics_table,
                          downloads, payload)


def draw_views(ctx: AppContext, answer: Answer, session: str, join_lines: bool) -> list[Any]:
    """Summary, scatter, alignment chart, metrics table, downloads and JSON of an embeddings answer."""
    metrics = [e.metrics for e in answer.results]
    tables = {"points": make_points_table(answer.results), "metrics": make_metrics_table(metrics)}
    return [
        make_summary_html(answer.results, answer.payload["shared"]["dataset"]["name"]),
        make_projection_figure(answer.results, join_lines),
        make_alignment_figure(metrics),
        make_metrics_summary(metrics),
        ctx.downloads.write(session, TAB, tables, answer.payload),
        answer.payload,
    ]


def neighbours_of(answer: Answer | None, picked: str, count: float) -> list[Any]:
    """The nearest neighbours of a clicked point (``model|layer|index``) in the model's own space."""
    if answer is None or not picked or picked.count("|") < 2:
        return [gr.skip(), gr.skip()]
    try:
        exploration, found = service.neighbours(answer, picked, count).results
    except UserInputError as error:
        raise gr.Error(toast_text(str(error)), print_exception=False) from None
    return [gr.Markdown(make_neighbours_title(exploration.embeddings, found)),
            gr.update(value=make_neighbours_table(exploration.embeddings, found.neighbours), visible=True)]


def _wire_neighbours(view: EmbeddingsView, state: gr.State) -> None:
    view.scatter.change(None, js=CLICK_JS, queue=False, api_visibility="private")
    gr.on(triggers=[view.pick.change, view.k.release], fn=neighbours_of, inputs=[state, view.pick, view.k],
          outputs=[view.neighbours_title, view.neighbours_table], queue=False, api_visibility="private")


def _data_inputs() -> list[Any]:
    shipped = list(shipped_languages("sentences"))
    with gr.Row(equal_height=False):
        source = gr.Radio(SOURCES, value="sentences", label="Data", scale=2)
        max_items = gr.Slider(1, 48, value=48, step=1, label="Items per language (shipped: the first N ids)", scale=1, min_width=200)
    languages = gr.CheckboxGroup([(language_label(code), code) for code in shipped], value=shipped, label="Languages (shipped data)")
    pasted = gr.Textbox(label="Pasted lines: lang<TAB>text<TAB>id", lines=6, max_lines=20, value=PASTE_EXAMPLE, visible=False)
    upload = gr.File(label=f"CSV/TSV with columns id, lang, text (≤ {MAX_ROWS:,} rows)", file_types=list(TABLE_TYPES),
                     type="filepath", visible=False)
    return [source, languages, max_items, pasted, upload]


def _show_groups(method: str) -> list[Any]:
    return [gr.Textbox(visible=method == "direction"), gr.Textbox(visible=method == "direction")]


def _show_source_inputs(source: str) -> list[Any]:
    shipped = source in SHIPPED_DATASETS
    return [gr.CheckboxGroup(visible=shipped), gr.Slider(visible=shipped), gr.Textbox(visible=source == "paste"),
            gr.File(visible=source == "upload")]
