"""The controls every view builds from: run / Stop / Copy link, model and language pickers, downloads, examples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..checks import BOTH
from ..service import Param
from ..specs import LANGUAGE_NAMES
from ..workspace import Workspace
from .context import AppContext

MODEL_CHOICES = [("en-2048 (English)", "en-2048"), ("100-1280 (100 languages)", "100-1280"), ("Both, side by side", BOTH)]


@dataclass
class ViewControls:
    """The run controls of one view: its button, a Stop button, the inline status line, a link box."""

    run: gr.Button
    stop: gr.Button
    status: gr.HTML
    link: gr.Textbox
    share: gr.Button
    elem_id: str


#: The phone-only button of a run bar: back to the top of the view (its inputs), wherever a run scrolled to.
TO_INPUTS_JS = """() => { const panel = document.querySelector('#%s-run')?.closest('[role=tabpanel]');
  if (panel) { const top = panel.getBoundingClientRect().top + window.scrollY - 56;
    window.scrollTo({top: Math.max(0, top), behavior: 'smooth'}); } }"""


def view_controls(elem_id: str, label: str) -> ViewControls:
    """Run / Stop / Copy link in one row, then the status line (progress words and notices show there). On a phone
    the bar sticks to the bottom of the screen (style.css), with a button back to the view's inputs."""
    with gr.Column(elem_classes=["xlm-run-bar"]):
        with gr.Row(elem_classes=["xlm-run-row"]):
            run = gr.Button(label, variant="primary", elem_id=f"{elem_id}-run", scale=3, min_width=140)
            stop = gr.Button("Stop", variant="stop", visible=False, elem_id=f"{elem_id}-stop", scale=1, min_width=80)
            share = gr.Button("Copy link", variant="secondary", size="sm", elem_id=f"{elem_id}-share", scale=1, min_width=100)
            to_inputs = gr.Button("↑ Inputs", variant="secondary", size="sm", elem_id=f"{elem_id}-to-inputs",
                                  elem_classes=["xlm-phone-only"], scale=1, min_width=80)
        status = gr.HTML("", elem_id=f"{elem_id}-status", elem_classes=["xlm-status"], padding=False)
    to_inputs.click(None, js=TO_INPUTS_JS % elem_id, queue=False, api_visibility="private")
    link = gr.Textbox(label="Link to this view (opens with these inputs and runs)", visible=False, interactive=False,
                      elem_id=f"{elem_id}-link", buttons=["copy"])
    return ViewControls(run=run, stop=stop, status=status, link=link, share=share, elem_id=elem_id)


def language_label(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f"{code} — {name}" if name else code


def language_choices(codes: Sequence[str]) -> list[tuple[str, str]]:
    """Dropdown choices ``(label, code)``, English first, then by code."""
    ordered = sorted(codes, key=lambda code: (code != "en", code))
    return [(language_label(code), code) for code in ordered]


def language_dropdown(ctx: AppContext, label: str = "Language (100-1280 tokenization)", value: str = "en", **kwargs: Any) -> gr.Dropdown:
    return gr.Dropdown(language_choices(ctx.manager.languages("100-1280")), value=value, label=label, filterable=True, **kwargs)


def slider(param: Param, label: str, value: int | None = None, **kwargs: Any) -> gr.Slider:
    """A slider over a declared whole number's range (the endpoint's record), starting at its default or ``value``."""
    return gr.Slider(param.low, param.high, value=param.default if value is None else value, step=1, label=label, **kwargs)


def number_box(param: Param, label: str, value: int | None = None, **kwargs: Any) -> gr.Number:
    """A box for a declared whole number (its range from the endpoint's record), starting at its default or ``value``."""
    return gr.Number(value=param.default if value is None else value, precision=0, minimum=param.low, maximum=param.high,
                     label=label, **kwargs)


def model_radio(value: str = BOTH, **kwargs: Any) -> gr.Radio:
    return gr.Radio(MODEL_CHOICES, value=value, label="Model", **kwargs)


def downloads_list() -> gr.File:
    """The view's download files (CSV, the tables as Markdown, JSON), hidden until a run writes them (``reveal`` shows it)."""
    return gr.File(visible=False, label="Downloads (CSV / Markdown / JSON)", file_count="multiple", interactive=False,
                   elem_classes=["xlm-downloads"])


def api_payload(api_name: str) -> gr.JSON:
    """The JSON the view's API endpoint returns, in a closed accordion under the results."""
    with gr.Accordion("The JSON the API returns", open=False, elem_classes=["xlm-api-json"]):
        return gr.JSON(label=f"{api_name} result")


def model_status_markdown(ws: Workspace) -> str:
    """One line saying which models are in memory and which load on first use (top of the page)."""
    manager = ws.manager
    parts = []
    for key in manager.keys:
        if manager.is_loaded(key):
            parts.append(f"**{key}** ready")
        elif manager.last_error(key) is not None:
            parts.append(f"**{key}** failed to load (see the Models tab)")
        else:
            parts.append(f"**{key}** loads on first use")
    warming = ws.warm_up.status_line() if ws.warm_up is not None else ""
    return "Models: " + " · ".join(parts) + (f"  \n{warming}" if warming else "")


def examples_that_run(elem_id: str, inputs: list[gr.components.Component], samples: list[list[Any]]) -> gr.Dataset:
    """Examples (collapsed) that fill the inputs and run the view when clicked."""
    with gr.Accordion("Examples: click one to fill the inputs and run it", open=False, elem_classes=["xlm-examples"]):
        examples = gr.Dataset(components=inputs, samples=samples, samples_per_page=8, layout="table", label=None)
    examples.click(lambda sample: sample, inputs=examples, outputs=inputs, queue=False, api_visibility="private").then(
        None, js=f"() => {{ document.querySelector('#{elem_id}-run')?.click(); }}", queue=False, api_visibility="private"
    )
    return examples


def intro(text: str) -> gr.Markdown:
    """A view's or a tab's opening paragraph: in full on a wide screen, two lines on a phone (a tap opens it)."""
    return gr.Markdown(text, elem_classes=["xlm-intro"])


def build_subtabs(
    ctx: AppContext, tab: str, intro_text: str, subtabs: Sequence[tuple[str, str, Callable[[AppContext], Any]]]
) -> tuple[gr.Tabs, list[Any]]:
    """A tab's intro and its sub-tabs ``(label, id, build)``, registered so a share link can open one; returns the
    ``gr.Tabs`` and what each ``build(ctx)`` returned."""
    intro(intro_text)
    built = []
    with gr.Tabs(elem_classes=["xlm-subtabs"], overflow_behavior="wrap") as tabs:
        ctx.subtabs[tab] = tabs
        for label, subtab_id, build in subtabs:
            with gr.Tab(label, id=subtab_id):
                built.append(build(ctx))
    return tabs, built
