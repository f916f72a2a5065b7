"""Models tab: facts read from each loaded config beside the model-card facts."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import service
from ..views.models import make_model_facts_markdown
from .context import AppContext
from .widgets import intro
from .wiring import PAGE_QUICK, page_handler, wire_api


def build_models_tab(ctx: AppContext) -> None:
    intro(
        "Facts **read from the loaded configuration** (layers, sizes, parameter count, languages) next to the "
        "model card (paper, licence). A model loads on first use; loading here warms it up for the other tabs."
    )
    with gr.Row():
        for key in ctx.manager.keys:
            with gr.Column(min_width=300):
                _build_card(ctx, key)
    wire_api(ctx, "models", service.model_info, gr.JSON(visible=False))  # one endpoint for both cards


def _build_card(ctx: AppContext, key: str) -> None:
    spec = ctx.manager.spec(key)
    facts = gr.Markdown(make_model_facts_markdown(spec, None, ctx.manager.public_source(key)), elem_classes=["xlm-model-card"])
    ctx.model_cards[key] = facts
    button = gr.Button(f"Load {key} and read its config", elem_id=f"models-{key}-run")
    status = gr.HTML("", elem_classes=["xlm-status"])
    data = gr.JSON(visible=False)
    state = gr.State(None)

    def info(ws: Any, progress: Any = None) -> service.Answer:
        return service.model_info(ws, key, progress=progress)

    # the card's own button: /model_info for this card's model (no input of its own; private to the page)
    card = service.Endpoint(f"model_info_{key.replace('-', '_')}", info, (), service.model_info.answer)

    def render(answer: service.Answer, _session: str) -> list[Any]:
        return [make_model_facts_markdown(spec, answer.results, answer.results["source"]), answer.payload]

    button.click(
        page_handler(ctx, card, render),
        outputs=[state, status, facts, data],
        show_progress_on=[facts],
        api_visibility="private",
        **PAGE_QUICK,
    )


def model_card(ctx: AppContext, key: str) -> Any:
    """A card's Markdown with the facts read from the loaded config, once ``key`` is loaded (else left as it is)."""
    if not ctx.manager.is_loaded(key):
        return gr.skip()
    answer = service.model_info(ctx.ws, key)
    return make_model_facts_markdown(ctx.manager.spec(key), answer.results, answer.results["source"])
