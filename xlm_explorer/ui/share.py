"""Share links: a view's inputs as URL parameters (``?tab=...&view=...&<name>=<value>&run=1``) and back.

A link names each input by its API parameter name (``top_k``, ``text_pair``, ``mask_number``...). Links made
before Dec 2026 used short names; :data:`LEGACY_NAMES` still reads them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import gradio as gr

from .. import service
from ..errors import UserInputError
from .context import AppContext, ShareTarget
from .messages import notices_html
from .widgets import ViewControls

COPY_LINK_JS = """(query) => {
  if (!query || !query.startsWith('?')) return query;
  if (document.body.classList.contains('xlm-projector')) query += '&projector=1';
  const url = location.origin + location.pathname + query;
  try { navigator.clipboard && navigator.clipboard.writeText(url); } catch (e) {}
  try { history.replaceState(null, '', query); } catch (e) {}
  return url; }"""


#: URL names of links made before Dec 2026 -> the API name each view now uses (a view may read one differently:
#: ``Share.legacy``, e.g. attribution's ``mask`` counted from 0).
LEGACY_NAMES = {"k": "top_k", "pair": "text_pair", "lang_b": "lang_pair", "langs": "languages", "items": "max_items",
                "a": "text_a", "b": "text_b", "token": "token_index", "heads": "head_layer", "mask": "mask_number"}


def one_based(text: str) -> str:
    """A 0-based count of an old link as the 1-based number links now carry."""
    try:
        return str(int(float(text)) + 1)
    except ValueError:
        return text


def link_values(
    params: dict[str, str], names: Sequence[str], legacy: dict[str, tuple[str, Callable[[str], str]]] | None = None
) -> dict[str, str]:
    """The URL text for each of ``names`` a link holds, reading older links' names too (a current name wins)."""
    found: dict[str, str] = {}
    readers = {old: (new, lambda text: text) for old, new in LEGACY_NAMES.items()} | dict(legacy or {})
    for old, (new, read) in readers.items():
        if old in params and new in names and old not in names:
            found[new] = read(params[old])
    found.update({name: params[name] for name in names if name in params})
    return found


def encode_value(value: Any) -> str:
    """A component value as a URL parameter: lists as JSON, booleans as 1/0, the rest as text."""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _choice_values(component: gr.components.Component) -> list[Any]:
    """The values of a component's choices (a ``(label, value)`` choice gives its value)."""
    return [c[1] if isinstance(c, (list, tuple)) else c for c in getattr(component, "choices", None) or []]


def _as_choice(component: gr.components.Component, text: str) -> Any:
    """The choice of ``component`` that ``text`` spells (a Radio of numbers gets the number back), else ``text``."""
    return next((value for value in _choice_values(component) if str(value) == text), text)


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
    ctx: AppContext, controls: ViewControls, tab: str, named_inputs: dict[str, gr.components.Component],
    subtab: str | None = None, legacy: dict[str, tuple[str, Callable[[str], str]]] | None = None, view_id: str = "",
    endpoint: str = "",
) -> None:
    """The view's "Copy link" button, and the view registered for links that open it."""
    names = list(named_inputs)

    def make_link(*values: Any) -> Any:
        return gr.Textbox(value=share_query(tab, subtab, names, values), visible=True)

    controls.share.click(
        make_link, inputs=list(named_inputs.values()), outputs=controls.link, queue=False, api_visibility="private"
    ).then(None, inputs=controls.link, outputs=controls.link, js=COPY_LINK_JS, queue=False, api_visibility="private")
    ctx.share_targets[subtab or tab] = ShareTarget(
        tab=tab, subtab=subtab, inputs=named_inputs, run_id=f"{controls.elem_id}-run", legacy=dict(legacy or {}),
        view_id=view_id or controls.elem_id, endpoint=endpoint, link=controls.link,
    )


#: After a link's values are in: press the view's run button (``run=1``), once the page has drawn them.
#: A lesson's step marks its run id ``lesson:<id>`` (``lesson`` is then true for ``then_js``).
RUN_AFTER_JS = ("(id) => { const lesson = (id || '').startsWith('lesson:'); id = (id || '').replace(/^lesson:/, ''); "
                "if (id) setTimeout(() => document.querySelector('#' + id)?.click(), 400); %s return []; }")
#: Parameters of a link that are not a view's inputs.
LINK_WORDS = ("tab", "view", "run", "lesson", "step", "teacher", "projector")


def read_link_value(ctx: AppContext, target: ShareTarget, name: str, text: str) -> Any:
    """A link's text for one input, as the value its control takes, checked by the endpoint's record (the same
    check and sentence as the API's): a value no control could hold (``top_k=9999``, a choice not offered, a
    number that is not one) raises :class:`UserInputError` naming the parameter, instead of reaching gradio's own
    component checks (which would leave the view in a bare error)."""
    component = target.inputs[name]
    record = service.ENDPOINTS.get(target.endpoint)
    param = record.param(name) if record is not None and name in record.names else None
    if param is None:
        return decode_value(component, text)
    raw = text if param.kind == "number" else decode_value(component, text)
    value = param.check(raw, ctx.ws)
    held = control_refuses(component, value)
    if held:
        raise UserInputError(f"{name} {str(value)[:40]} is not a value of this page's control ({held}): the API takes it")
    return value


def control_refuses(component: gr.components.Component, value: Any) -> str:
    """Why a page control cannot hold ``value`` (its range or its choices, in words), or "" when it can: gradio's own
    check would refuse it before any handler ran."""
    if isinstance(component, (gr.Slider, gr.Number)) and isinstance(value, (int, float)):
        low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{'' if low is None else low}..{'' if high is None else high}"
    elif isinstance(component, (gr.Radio, gr.Dropdown, gr.CheckboxGroup)) and not getattr(component, "allow_custom_value", False):
        allowed = _choice_values(component)
        wanted = value if isinstance(value, list) else [value]
        if allowed and any(v not in allowed for v in wanted):
            return "its choices: " + ", ".join(str(a) for a in allowed[:12]) + (" ..." if len(allowed) > 12 else "")
    return ""


@dataclass
class LinkOpener:
    """What opening a link sets on the page (its tab and sub-tab, the view's inputs, the run button to press), for
    the share links read on page load and for a lesson's steps: one rule for both. ``notice``: the line under the
    header that says what a link could not use (a view it does not have, an input it does not take, a value
    refused); such a link opens its view without running it."""

    ctx: AppContext
    tabs: gr.Tabs
    tab_ids: tuple[str, ...]
    run_box: gr.Textbox
    notice: gr.HTML
    inputs: list[gr.components.Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        for target in self.ctx.share_targets.values():
            self.inputs += [c for c in target.inputs.values() if c not in self.inputs]
        self.links = [t.link for t in self.ctx.share_targets.values() if t.link is not None]
        self.subtab_ids = list(self.ctx.subtabs)

    @property
    def outputs(self) -> list[Any]:
        return [self.tabs, *[self.ctx.subtabs[k] for k in self.subtab_ids], *self.inputs, *self.links, self.notice,
                self.run_box]

    def values(self, params: dict[str, str], reset: bool = False) -> list[Any]:
        """The outputs' values for a link's ``params``; ``reset``: the view's inputs the link leaves out go back to
        their first values (a lesson step sees what its link says, not what an earlier step left)."""
        values: dict[int, Any] = {}
        selected: dict[str, Any] = {}
        run_id = ""
        read, problems = self._read(params)
        target = self.ctx.share_targets.get(params.get("view") or params.get("tab") or "")
        if target is not None:
            given = link_values(params, list(target.inputs), target.legacy)
            for name, component in target.inputs.items():
                if name in read:
                    values[id(component)] = read[name]
                elif reset or name in given:  # a refused value (named in the notice): the control keeps one it can hold
                    values[id(component)] = component.value
            selected["main"] = gr.Tabs(selected=target.tab)
            if target.subtab is not None:
                selected[target.tab] = gr.Tabs(selected=target.subtab)
            run_id = target.run_id if params.get("run") == "1" and not problems else ""
        elif params.get("tab") in self.tab_ids:
            selected["main"] = gr.Tabs(selected=params["tab"])
        notice = f"This link was not used in full: {'; '.join(problems)}." + (
            " Nothing ran: check the inputs, then press the view's button." if params.get("run") == "1" else "")
        return [
            selected.get("main", gr.skip()),
            *[selected.get(key, gr.skip()) for key in self.subtab_ids],
            *[values.get(id(c), gr.skip()) for c in self.inputs],
            *[gr.update(visible=False) if params else gr.skip() for _link in self.links],  # a copied link's box closes
            gr.update(value=notices_html([notice], kind="error"), visible=True) if problems else gr.update(value="", visible=False),
            run_id,
        ]

    def run_after(self, event: Any, then_js: str = "") -> Any:
        """Press the run button the values named, after ``event`` (and run ``then_js``, e.g. a scroll)."""
        return event.then(None, inputs=self.run_box, js=RUN_AFTER_JS % then_js, queue=False, api_visibility="private")

    def problems(self, params: dict[str, str]) -> list[str]:
        """What is wrong with a link for this page: a view it does not have, inputs that view does not take, values
        refused (each in the endpoint's own sentence)."""
        return self._read(params)[1]

    def _read(self, params: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
        """Each input the link gives, read and checked (:func:`read_link_value`), by name; and what is wrong with the
        link: a view this page does not have, inputs that view does not take, values refused."""
        key = params.get("view") or params.get("tab") or ""
        target = self.ctx.share_targets.get(key)
        if target is None:
            if not key or (key in self.tab_ids and "view" not in params):
                return {}, []
            known = ", ".join(sorted({*self.ctx.share_targets, *self.tab_ids}))
            return {}, [f"it opens {key[:40]!r}, which is not a view here (the views: {known})"]
        readable = {*target.inputs, *LEGACY_NAMES, *target.legacy, *LINK_WORDS}
        unknown = sorted(name for name in params if name not in readable)
        found = [f"{key} takes no input {', '.join(u[:40] for u in unknown)} (it takes {', '.join(target.inputs)})"] if unknown else []
        read: dict[str, Any] = {}
        for name, text in link_values(params, list(target.inputs), target.legacy).items():
            try:
                read[name] = read_link_value(self.ctx, target, name, text)
            except UserInputError as error:
                found.append(str(error).rstrip("."))
        return read, found
