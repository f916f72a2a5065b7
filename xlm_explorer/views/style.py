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


#: characters per title line: a plotly title does not wrap, and a longer line is cut off on a 390 px phone
TITLE_LINE_CHARS = 38


def wrap_title(fig: Any, width: int = TITLE_LINE_CHARS) -> Any:
    """Break a long figure title into lines of at most ``width`` characters (plotly never wraps titles) and make
    room for the extra lines in the top margin. Returns ``fig`` (changed in place); other values pass through."""
    if not isinstance(fig, go.Figure):
        return fig
    text = fig.layout.title.text
    if not text or "<br>" in text or len(text) <= width:
        return fig
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 100
    fig.update_layout(title_text="<br>".join(lines), title_font_size=15, margin_t=top + 26 * (len(lines) - 1))
    return fig
