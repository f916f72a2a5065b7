"""Share links: a view's inputs as URL parameters (``?tab=...&view=...&<name>=<value>&run=1``) and back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import gradio as gr

from .context import AppContext, ShareTarget
from .widgets import ViewControls

COPY_LINK_JS = """(query) => {
  if (!query || !query.startsWith('?')) return query;
  const url = location.origin + location.pathname + query;
  try { navigator.clipboard && navigator.clipboard.writeText(url); } catch (e) {}
  try { history.replaceState(null, '', query); } catch (e) {}
  return url; }"""


def encode_value(value: Any) -> str:
    """A component value as a URL parameter: lists as JSON, booleans as 1/0, the rest as text."""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _as_choice(component: gr.components.Component, text: str) -> Any:
    """The choice of ``component`` that ``text`` spells (a Radio of numbers gets the number back), else ``text``."""
    for choice in getattr(component, "choices", None) or []:
        value = choice[1] if isinstance(choice, (list, tuple)) else choice
        if str(value) == text:
            return value
    return text


def decode_value(component: gr.components.Component, text: str) -> Any:
    """A URL parameter back into a value for ``component`` (the inverse of :func:`encode_value`)."""
    if isinstance(component, gr.Checkbox):
        return text.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(component, (gr.Slider, gr.Number)):
        try:
            return float(text)
        except ValueError:
            return component.value
    if isinstance(component, gr.CheckboxGroup) or (isinstance(component, gr.Dropdown) and component.multiselect):
        try:
            value = json.loads(text)
        except ValueError:
            value = [part for part in text.split(",") if part]
        return [_as_choice(component, str(v)) for v in (value if isinstance(value, list) else [value])]
    return _as_choice(component, text)


def share_query(tab: str, subtab: str | None, names: Sequence[str], values: Sequence[Any]) -> str:
    """``?tab=...&view=...&<name>=<value>...&run=1``: the link that reopens a view with these inputs and runs it."""
    params = {"tab": tab, **({"view": subtab} if subtab else {})}
    params.update({name: encode_value(value) for name, value in zip(names, values)})
    params["run"] = "1"
    return "?" + urlencode(params)


def wire_share(
    ctx: AppContext, controls: ViewControls, tab: str, named_inputs: dict[str, gr.components.Component], subtab: str | None = None
) -> None:
    """The view's "Copy link" button, and the view registered for links that open it."""
    names = list(named_inputs)

    def make_link(*values: Any) -> Any:
        return gr.Textbox(value=share_query(tab, subtab, names, values), visible=True)

    controls.share.click(
        make_link, inputs=list(named_inputs.values()), outputs=controls.link, queue=False, api_visibility="private"
    ).then(None, inputs=controls.link, outputs=controls.link, js=COPY_LINK_JS, queue=False, api_visibility="private")
    ctx.share_targets[subtab or tab] = ShareTarget(tab=tab, subtab=subtab, inputs=named_inputs, run_id=f"{controls.elem_id}-run")
