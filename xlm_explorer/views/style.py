"""What every view shares: one colour per language (the same in every plot), model colours, number formats for
their range, and isolation of tokens and user text so right-to-left scripts never reorder their neighbours."""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

from ..specs import XLM_100_LANGUAGES

#: Kelly's 20 colours of maximum contrast (white and black left out), strongest first, then Dark24: 44 in all.
KELLY = (
    "#0067A5", "#BE0032", "#008856", "#F38400", "#875692", "#882D17", "#E68FAC", "#8DB600", "#604E97", "#A1CAF1",
    "#2B3D26", "#F99379", "#848482", "#E25822", "#B3446C", "#654522", "#C2B280", "#F6A600", "#F3C300", "#DCD300",
)
PALETTE: tuple[str, ...] = KELLY + tuple(qualitative.Dark24)
#: The languages people pick most get the most distinct colours first, in this order.
COMMON_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "ru", "el", "ar", "he", "hi", "zh", "ja", "ko", "tr", "nl", "pl", "sv", "th", "vi")
MODEL_COLOURS = {"en-2048": "#1f77b4", "100-1280": "#ff7f0e"}
FSI, PDI = "\u2068", "\u2069"


def language_colour(lang: str) -> str:
    """The colour of a language code, fixed across views and runs."""
    order = list(COMMON_LANGUAGES) + [code for code in XLM_100_LANGUAGES if code not in COMMON_LANGUAGES]
    index = order.index(lang) if lang in order else len(order) + sum(map(ord, lang))
    return PALETTE[index % len(PALETTE)]


def language_colours(langs: Sequence[str]) -> dict[str, str]:
    return {lang: language_colour(lang) for lang in dict.fromkeys(langs)}


def model_colour(model: str) -> str:
    return MODEL_COLOURS.get(model, "#2ca02c")


def percent(p: float) -> str:
    """A probability as a percentage with enough digits for its size: 42.1%, 3.27%, 0.052%, 3.1e-05%."""
    value = 100.0 * float(p)
    if value == 0:
        return "0%"
    if value >= 10:
        return f"{value:.1f}%"
    if value >= 0.01:
        return f"{value:.{max(2, 2 - math.floor(math.log10(value)))}g}%"
    return f"{value:.1e}%"


def percent_tickformat(largest: float) -> str:
    """A d3 tick format for a probability axis from 0 to ``largest``: enough decimals that no two ticks read the same
    (".0%" up to 100%, ".1%" below 10%, ".2%" below 1%...)."""
    value = 100.0 * float(largest)
    if value <= 0:
        return ".0%"
    return f".{max(0, 1 - math.floor(math.log10(value)))}%" if value < 10 else ".0%"


def log_prob(v: float) -> str:
    """A log-probability (nats) with 2 decimals."""
    return f"{float(v):.2f}"


def isolate(text: str) -> str:
    """Plain text isolated with FSI/PDI (for table cells and plot labels that mix a token with other text)."""
    return f"{FSI}{text}{PDI}"


def bdi(text: str, css_class: str = "xlm-token") -> str:
    """Escaped text in a ``<bdi>`` (for HTML): its direction never reorders the text around it."""
    return f'<bdi class="{css_class}">{html.escape(text)}</bdi>'


#: characters per title line: a plotly title does not wrap, and a longer line is cut off on a 390 px phone; in
#: projector mode (a 1920 px room screen, figures side by side at about 900 px, text 5/3 as large) a line holds more
TITLE_LINE_CHARS, PROJECTOR_TITLE_LINE_CHARS = 38, 60
#: pixels per line of a figure title, of a row of a horizontal legend, of a subplot title; the gap at the top
TITLE_LINE_PX, LEGEND_ROW_PX, SUBTITLE_LINE_PX, TOP_GAP_PX = 20, 30, 20, 8
#: the narrowest width a figure is drawn at (a phone) and the pixels a legend entry takes besides its name
NARROW_PX, LEGEND_ENTRY_PX, CHAR_PX = 360, 44, 7
#: a colour bar shows one tick per this many pixels of its length (fewer on a short bar, so none overlap)
COLORBAR_TICK_PX = 32


#: Projector mode: every text of a figure this many times larger (plotly's 12 px ticks become 20 px), never under
#: :data:`PROJECTOR_MIN_TEXT_PX`; lines and markers thicker; white ground, darker grid (a projector washes out pale
#: colours).
PROJECTOR_SCALE = 5 / 3
PROJECTOR_MIN_TEXT_PX = 14
PROJECTOR_LINE_SCALE, PROJECTOR_MARKER_SCALE = 1.6, 1.3
FONT_KEYS = frozenset({"font", "tickfont", "textfont", "insidetextfont", "outsidetextfont"})
PLOTLY_DEFAULT_FONT_PX = 12


def _scaled(value: Any, factor: float, least: float = 0.0) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(round(value * factor, 1), least)
    if isinstance(value, (list, tuple)):
        return [_scaled(v, factor, least) for v in value]
    return value


def _scale_fonts(node: Any, factor: float) -> None:
    """Every ``size`` of every font in a figure's JSON (layout and traces, nested) times ``factor``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in FONT_KEYS and isinstance(value, dict) and "size" in value:
                value["size"] = _scaled(value["size"], factor, PROJECTOR_MIN_TEXT_PX)
            _scale_fonts(value, factor)
    elif isinstance(node, list):
        for value in node:
            _scale_fonts(value, factor)


def for_projector(fig: go.Figure) -> go.Figure:
    """The figure as a projected room reads it: texts :data:`PROJECTOR_SCALE` times larger (at least 14 px; axis
    labels 20 px), lines and markers thicker, black text on white with a darker grid, margins and height grown to
    hold the larger texts. A new figure (``fig`` is left as it was)."""
    data = fig.to_plotly_json()
    layout = data.setdefault("layout", {})
    _scale_fonts(data, PROJECTOR_SCALE)
    font = layout.setdefault("font", {})
    font["size"] = _scaled(font.get("size", PLOTLY_DEFAULT_FONT_PX), PROJECTOR_SCALE, PROJECTOR_MIN_TEXT_PX)
    font["color"] = "#000000"
    layout.update(paper_bgcolor="#ffffff", plot_bgcolor="#ffffff")
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis.setdefault("gridcolor", "#b0b0b0")
            axis.setdefault("linecolor", "#000000")
            axis.setdefault("automargin", True)
    margin = layout.setdefault("margin", {})
    for side in ("l", "r", "b"):
        if isinstance(margin.get(side), (int, float)):
            margin[side] = round(margin[side] * PROJECTOR_SCALE)
    layout["height"] = round((layout.get("height") or 450) * 1.25)
    for trace in data.get("data", []):
        line, marker = trace.get("line"), trace.get("marker")
        if trace.get("type", "scatter") in ("scatter", "scattergl", "scatter3d") and (line is None or isinstance(line, dict)):
            trace["line"] = {**(line or {}), "width": _scaled((line or {}).get("width", 2), PROJECTOR_LINE_SCALE)}
        if isinstance(marker, dict) and "size" in marker:
            marker["size"] = _scaled(marker["size"], PROJECTOR_MARKER_SCALE)
    return go.Figure(data)


def fit_figure(fig: Any, projector: bool = False) -> Any:
    """The one layout rule every figure passes through before it is shown (the wiring calls it): no text over
    other text at a phone's width or a projector's. The title is broken into lines of :data:`TITLE_LINE_CHARS`
    (plotly never wraps) and drawn at the top of the figure; a legend above the plot goes under the title; the
    top margin makes room for both and for the top row's subplot titles (several in a row are broken into shorter
    lines); colour-bar titles stand beside the bar and its ticks are as many as its length holds. ``projector``:
    drawn :func:`for_projector` first, every length of this rule scaled with its texts. Returns the figure (``fig``
    changed in place, or the projector's new one); other values pass through."""
    if not isinstance(fig, go.Figure):
        return fig
    scale = PROJECTOR_SCALE if projector else 1.0
    if projector:
        fig = for_projector(fig)
    height = fig.layout.height or 450
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 100
    bottom = fig.layout.margin.b if fig.layout.margin.b is not None else 80
    title_lines = _wrap_title(fig, scale)
    subtitle_lines = _wrap_subplot_titles(fig)
    title_px = (_title_pad(title_lines, scale) + TITLE_LINE_PX * scale * title_lines) if title_lines else TOP_GAP_PX
    legend_px = _place_top_legend(fig, height, title_px, scale)
    needed = round(title_px + legend_px + SUBTITLE_LINE_PX * scale * subtitle_lines + TOP_GAP_PX)
    if needed > top:
        fig.update_layout(margin_t=needed, height=height + needed - top)
        height += needed - top
    _fit_colorbars(fig, plot_px=height - max(top, needed) - bottom, scale=scale)
    return fig


def _wrap_title(fig: go.Figure, scale: float = 1.0) -> int:
    """Break the title into lines and pin it to the top of the figure; returns its number of lines (0: none)."""
    text = fig.layout.title.text
    if not text:
        return 0
    width = PROJECTOR_TITLE_LINE_CHARS if scale > 1 else TITLE_LINE_CHARS
    if "<br>" not in text and len(text) > width:
        text = "<br>".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False))
    lines = text.count("<br>") + 1
    fig.update_layout(title=dict(text=text, font_size=round(15 * scale), yref="container", y=1 - 0.001, yanchor="top",
                                 pad=dict(t=_title_pad(lines, scale)), automargin=False))
    return lines


def _title_pad(lines: int, scale: float = 1.0) -> int:
    """The gap above a title: plotly draws a title of several lines about 5 px higher per extra line (at 15 px type;
    in proportion to the type) than its anchor says (measured in chromium), so the gap grows to keep it off the
    figure's top edge (and the toolbar)."""
    return round((TOP_GAP_PX + 6 * (lines - 1)) * scale)


def _wrap_subplot_titles(fig: go.Figure) -> int:
    """Subplot titles that share a row get lines short enough to sit side by side on a phone; returns the extra
    lines of the top row's titles (they grow upwards, into the top margin)."""
    titles = [a for a in fig.layout.annotations if a.yanchor == "bottom" and a.yref == "paper" and a.text]
    rows: dict[float, list[Any]] = {}
    for annotation in titles:
        rows.setdefault(round(float(annotation.y), 3), []).append(annotation)
    extra_top = 0
    for y, row in rows.items():
        width = max(12, TITLE_LINE_CHARS // len(row))
        for annotation in row:
            if len(row) > 1 and "<br>" not in annotation.text and len(annotation.text) > width:
                annotation.text = "<br>".join(textwrap.wrap(annotation.text, width, break_long_words=False))
        lines = max(a.text.count("<br>") + 1 for a in row)
        if rows and y == max(rows):
            extra_top = lines
    return extra_top


def _place_top_legend(fig: go.Figure, height: float, below_px: float, scale: float = 1.0) -> int:
    """A horizontal legend above the plot goes under the title, in figure pixels; returns the pixels it takes."""
    legend = fig.layout.legend
    if legend.orientation != "h" or legend.y is None or (legend.y < 1 and legend.yref != "container"):
        return 0
    entries = {t.legendgroup or t.name: t.name for t in fig.data if t.name and t.showlegend is not False}  # one per group
    width = sum(LEGEND_ENTRY_PX * scale + CHAR_PX * scale * len(str(name)) for name in entries.values())
    rows = max(1, math.ceil(width / NARROW_PX))
    fig.update_layout(legend=dict(yref="container", y=1 - below_px / height, yanchor="top", x=0, xanchor="left"))
    return round(LEGEND_ROW_PX * scale * rows)


def _fit_colorbars(fig: go.Figure, plot_px: float, scale: float = 1.0) -> None:
    """Colour-bar titles beside the bar (over the bar they hit its top tick), and no more ticks than it holds."""
    for trace in fig.data:
        colorbar = getattr(trace, "colorbar", None)
        if colorbar is None or getattr(trace, "showscale", None) is False:
            continue
        length = plot_px * (colorbar.len if colorbar.len is not None else 1.0)
        if colorbar.title.text:
            colorbar.title.side = "right"
        if colorbar.tickvals is None:
            colorbar.nticks = int(max(2, min(8, length // (COLORBAR_TICK_PX * scale))))
