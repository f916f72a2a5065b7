"""Offline bertviz documents: bertviz's own ``head_view`` / ``model_view`` output made self-contained.

The output of ``html_action="return"`` is rewritten: the CDN ``<script>`` of require.js and the require paths to
d3 / jQuery on cdnjs are replaced by the vendored files in ``assets/vendor`` inlined into the document, so the views
draw with no network, inside a sandboxed ``srcdoc`` iframe (``sandbox="allow-scripts"``, no same-origin). The
attention JSON is written with ``<``, ``>`` and ``&`` escaped as ``\\u003c``..., so no token can close the script;
tokens are drawn by d3 ``.text()``. Values are rounded to 3 decimals (in float64).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.attention import AttentionResult
from ..checks import whole_number
from ..paths import VENDOR_DIR

#: Inlined in this order: d3 and jQuery first (no AMD loader yet, so they become globals), then require.js.
VENDOR_SCRIPTS = ("d3-5.7.0.min.js", "jquery-2.2.4.min.js", "require-2.3.6.js")
#: Token cap of the bertviz views (their payload grows as layers x heads x T^2; bertviz chokes near 512).
BERTVIZ_MAX_TOKENS = 64
#: Attention values in one bertviz document (about 6-7 bytes each once rounded): beyond it layers are dropped.
BERTVIZ_MAX_VALUES = 300_000
BERTVIZ_DECIMALS = 3
_REQUIRE_CDN = re.compile(r'<script src="https?://[^"]*require[^"]*\.js"></script>')
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\);", re.DOTALL)
_AMD_SHIMS = (
    'define("d3", [], function () { return window.d3; });\n'
    'define("jquery", [], function () { return window.jQuery; });'
)
_SCRIPT_OPEN = '<script type="text/javascript">'


@dataclass(frozen=True)
class BertvizDocument:
    """A self-contained HTML document of one bertviz view, and what was left out of it."""

    kind: str
    html: str
    n_tokens: int
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    notices: tuple[str, ...]
    height: int


def _check_indices(values: Sequence[object] | None, limit: int, what: str) -> list[int]:
    if not values:
        return list(range(limit))
    chosen: list[int] = []
    for value in values:
        number = whole_number(
            value, 0, limit - 1, what.capitalize(), out_of_range=f"There is no {what} {{value}}; this model has {what}s 0..{{high}}."
        )
        if number not in chosen:
            chosen.append(number)
    return sorted(chosen)


def plan_bertviz(
    kind: str,
    n_layers: int,
    n_heads: int,
    n_tokens: int,
    pair: bool,
    layers: Sequence[object] | None = None,
    heads: Sequence[object] | None = None,
    max_tokens: int = BERTVIZ_MAX_TOKENS,
    max_values: int = BERTVIZ_MAX_VALUES,
) -> tuple[int, list[int], list[int], list[str]]:
    """What a bertviz document can hold: ``(tokens kept, layers, heads, notices)``.

    Tokens are cut to ``max_tokens``; then layers are dropped (from the end) until the attention payload
    (layers x heads x T^2, doubled in pair mode for the A/B filters) fits ``max_values``.
    The head view carries every head (``heads`` only preselects); the model view carries only ``heads``.
    """
    if kind not in ("head", "model"):
        raise ValueError(f"kind must be 'head' or 'model', not {kind!r}")
    notices: list[str] = []
    kept = min(n_tokens, max_tokens)
    if kept < n_tokens:
        notices.append(
            f"The bertviz {kind} view shows the first {kept} of {n_tokens} tokens (its size grows as layers x heads x "
            f"tokens²; attention to later tokens is not drawn). The heatmap and the statistics use all {n_tokens}."
        )
    chosen_layers = _check_indices(layers, n_layers, "layer")
    chosen_heads = _check_indices(heads, n_heads, "head")
    carried_heads = n_heads if kind == "head" else len(chosen_heads)
    per_layer = carried_heads * kept * kept * (2 if pair else 1)
    fits = max(1, max_values // max(1, per_layer))
    if len(chosen_layers) > fits:
        dropped = chosen_layers[fits:]
        chosen_layers = chosen_layers[:fits]
        notices.append(
            f"To keep the bertviz {kind} view responsive it shows layers {_ranges(chosen_layers)} only "
            f"({len(dropped)} more would exceed {max_values:,} attention values); pick other layers"
            + (" or fewer heads" if kind == "model" else "")
            + " in the bertviz options."
        )
    return kept, chosen_layers, chosen_heads, notices


def _ranges(values: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for value in values:
        if start is None:
            start = prev = value
        elif value == prev + 1:
            prev = value
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = value
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(parts)


def _vendor_scripts() -> str:
    """The vendored libraries as inline ``<script>`` elements (read from ``assets/vendor``)."""
    blocks = []
    for name in VENDOR_SCRIPTS:
        code = (VENDOR_DIR / name).read_text(encoding="utf-8")
        if re.search(r"</script|<!--", code, re.IGNORECASE):  # would end or confuse an inline script
            raise RuntimeError(f"{name} cannot be inlined safely")
        blocks.append(f"<script>/* {name}: see assets/vendor/README.md for source and licence */\n{code}\n</script>")
    return "\n".join(blocks)


def safe_script_json(text: str) -> str:
    """JSON that is safe inside an inline ``<script>``: ``<``, ``>``, ``&`` (and U+2028/9) as ``\\uXXXX`` escapes.

    JSON keeps these characters only inside strings, where the escapes mean the same characters.
    """
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def _offline_bertviz_html(raw: str, kind: str) -> str:
    """bertviz's returned HTML, CDN-free and with its parameter JSON made script-safe."""
    import bertviz

    template = (Path(bertviz.__file__).parent / f"{kind}_view.js").read_text(encoding="utf-8")
    parts = template.split("PYTHON_PARAMS")  # bertviz replaces every occurrence (one is in a comment)
    without_cdn, n_cdn = _REQUIRE_CDN.subn("", raw, count=1)
    open_at = without_cdn.find(_SCRIPT_OPEN)
    close_at = without_cdn.rfind("</script>")
    if n_cdn != 1 or open_at < 0 or close_at < open_at or len(parts) < 2:
        raise RuntimeError("bertviz's HTML does not have the expected layout (require.js script + one view script)")
    body = without_cdn[open_at + len(_SCRIPT_OPEN) : close_at].strip("\n")
    n_copies = len(parts) - 1
    json_length, remainder = divmod(len(body) - sum(len(part) for part in parts), n_copies)
    params_json = body[len(parts[0]) : len(parts[0]) + json_length]
    if remainder or json_length <= 0 or params_json.join(parts) != body:
        raise RuntimeError("bertviz's view script does not match its template")
    json.loads(params_json)  # it is the JSON bertviz wrote, nothing else
    parts[0] = _REQUIRE_CONFIG.sub(lambda _m: _AMD_SHIMS, parts[0], count=1)
    script = safe_script_json(params_json).join(parts)
    if re.search(r"</script|<!--", script, re.IGNORECASE):
        raise RuntimeError("the view script cannot be inlined safely")
    return without_cdn[:open_at] + "<script>\n" + script + "\n</script>" + without_cdn[close_at + len("</script>") :]


def make_bertviz_document(
    tokens: Sequence[str],
    attentions: np.ndarray,
    *,
    kind: str = "head",
    sentence_b_start: int | None = None,
    layers: Sequence[object] | None = None,
    heads: Sequence[object] | None = None,
    title: str = "",
    notices: Sequence[str] = (),
    max_tokens: int = BERTVIZ_MAX_TOKENS,
    max_values: int = BERTVIZ_MAX_VALUES,
) -> BertvizDocument:
    """bertviz's head view (``kind="head"``) or model view (``"model"``) as a self-contained HTML document.

    tokens: (T,) display strings; attentions: (n_layers, heads, T, T). In pair mode (``sentence_b_start``)
    bertviz adds its sentence A/B filter. Capped by :func:`plan_bertviz`; every cut is stated in the document.
    """
    import torch
    from bertviz import head_view, model_view

    attentions = np.asarray(attentions)
    n_layers, n_heads, n_tokens, _ = attentions.shape
    if len(tokens) != n_tokens:
        raise ValueError(f"{len(tokens)} tokens for attentions over {n_tokens} positions")
    pair = sentence_b_start is not None and 0 < int(sentence_b_start) < min(n_tokens, max_tokens)
    kept, chosen_layers, chosen_heads, cut_notices = plan_bertviz(
        kind, n_layers, n_heads, n_tokens, pair, layers, heads, max_tokens, max_values
    )
    if sentence_b_start is not None and not pair:
        cut_notices.append("The second sentence starts after the token cap, so the view has no sentence A/B filter.")
    placeholder = torch.empty(1, n_heads, 0, 0, dtype=torch.float64)
    per_layer: list[torch.Tensor] = [placeholder] * n_layers
    for layer in chosen_layers:
        rounded = np.round(attentions[layer, :, :kept, :kept].astype(np.float64), BERTVIZ_DECIMALS)
        per_layer[layer] = torch.from_numpy(rounded)[None]
    shown_tokens = [str(t) for t in tokens[:kept]]
    b_start = int(sentence_b_start) if pair else None
    if kind == "head":
        raw = head_view(
            tuple(per_layer), shown_tokens, sentence_b_start=b_start, prettify_tokens=False,
            layer=chosen_layers[0], heads=chosen_heads, include_layers=chosen_layers, html_action="return",
        ).data
        height = int(22.5 * kept + 150)
    else:
        raw = model_view(
            tuple(per_layer), shown_tokens, sentence_b_start=b_start, prettify_tokens=False, display_mode="light",
            include_layers=chosen_layers, include_heads=chosen_heads, html_action="return",
        ).data
        # bertviz's own layout (model_view.js): thumbnails of 7*12/heads px per token, a detail pane of 18 px per token
        thumbnails = len(chosen_layers) * (kept * 84 / max(1, len(chosen_heads)) + 10) + 38
        height = int(90 + max(thumbnails, kept * 18 + 55))
    view_html = _offline_bertviz_html(raw, kind)
    all_notices = tuple(dict.fromkeys([*notices, *cut_notices]))
    notice_html = "".join(f'<p class="notice">{html.escape(n)}</p>' for n in all_notices)
    heading = f"<h1>{html.escape(title)}</h1>" if title else ""
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="color-scheme" content="light">'
        f"<title>{html.escape(title or 'bertviz ' + kind + ' view')}</title>"
        "<style>body{margin:8px;background:#fff;color:#111;font-family:'Helvetica Neue',Helvetica,Arial,sans-serif}"
        "h1{font-size:15px;margin:0 0 6px}.notice{margin:0 0 6px;padding:4px 8px;background:#fff7e0;"
        "border-left:3px solid #e0a800;font-size:13px}" + PROJECTOR_CSS + "</style>\n"
        f"{_vendor_scripts()}\n</head><body>\n{heading}{notice_html}\n{view_html}\n{PROJECTOR_LISTENER}\n</body></html>\n"
    )
    return BertvizDocument(
        kind=kind,
        html=document,
        n_tokens=kept,
        layers=tuple(chosen_layers),
        heads=tuple(chosen_heads),
        notices=tuple(cut_notices),
        height=int(min(2400, max(300, height + 40 * len(all_notices)))),
    )


#: Projector mode inside the frame (the page's styles cannot reach a sandboxed frame): the page tells the frame
#: (``postMessage``, ``ui.app.PAGE_JS``) and every text in it is drawn at 20 px or more, the title at 25.
PROJECTOR_CSS = ("body.xlm-projector,body.xlm-projector *{font-size:20px!important}"
                 "body.xlm-projector h1{font-size:25px!important}")
PROJECTOR_LISTENER = """<script>(() => {
  window.addEventListener('message', (event) => {
    if (event.data && typeof event.data.xlmProjector === 'boolean')
      document.body.classList.toggle('xlm-projector', event.data.xlmProjector); });
  try { parent.postMessage('xlm-bertviz-ready', '*'); } catch (e) {} })();</script>"""


def bertviz_iframe(document: BertvizDocument, title: str = "bertviz attention view") -> str:
    """The HTML for ``gr.HTML``: the document in a sandboxed ``srcdoc`` iframe (scripts run, no same-origin)."""
    return (
        f'<iframe class="xlm-bertviz" title="{html.escape(title, quote=True)}" sandbox="allow-scripts" '
        f'referrerpolicy="no-referrer" style="width:100%;height:{document.height}px;border:1px solid #ddd;'
        f'background:#fff" srcdoc="{html.escape(document.html, quote=True)}"></iframe>'
    )


def bertviz_for_result(
    result: AttentionResult,
    kind: str,
    layers: Sequence[object] | None = None,
    heads: Sequence[object] | None = None,
) -> BertvizDocument:
    """The bertviz document of one :class:`AttentionResult` (layers/heads out of range for its model are skipped)."""
    layers = [v for v in (layers or []) if _index_in(v, result.n_layers)]
    heads = [v for v in (heads or []) if _index_in(v, result.n_heads)]
    title = f"{result.model}: bertviz {kind} view" + (" (sentence pair)" if result.sentence_b_start else "")
    return make_bertviz_document(
        result.display_tokens, result.attentions, kind=kind, sentence_b_start=result.sentence_b_start,
        layers=layers or None, heads=heads or None, title=title,
    )


def _index_in(value: object, limit: int) -> bool:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return number.is_integer() and 0 <= number < limit
