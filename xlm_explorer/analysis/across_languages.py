"""One probe across languages, explained: the same contrast (``target`` vs ``foil`` at the mask, word A vs word B
in the filler slot) attributed and patched in every language, on a relative-depth axis.

A probe row is ``lang | template | word A | word B | target | foil``: the template has one ``{filler}`` and one
[MASK]; sentence A is the template with word A, sentence B with word B (e.g. ``The {filler} said that [MASK] would
be late. | doctor | nurse | he | she``). For every row and every model that reads its language:

- **contrastive attribution** of log P(target) - log P(foil) at the mask in sentence A
  (:func:`~xlm_explorer.analysis.attribution.attribute`, integrated gradients and gradient x input);
- **contrastive patching** of the same score, A's hidden states replaced by B's one layer and position at a time
  (:func:`~xlm_explorer.analysis.patching.patch`), when A and B have the same number of tokens;
- on **relative depth** (layer / number of layers: en-2048's 12 and 100-1280's 16 blocks line up), the share of the
  way from A's score to B's that patching **the word** (A's tokens that differ from B's; the largest share over
  them) and **the mask** moves, and the first layer at which the mask carries at least as much as the word: where
  the word's effect has moved to the mask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserInputError
from ..tokenization import MASK_ALIASES, count_masks, differing_span

MASK_TOKEN_TEXT = "[MASK]"
from .attribution import AttributionResult, attribute
from .bias.probes import FILLER_SLOT, fill_template
from .fill_mask import preprocess
from .patching import PatchingResult, patch

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

Progress = Callable[[float, str], None]

MAX_ROWS = 8
ROW_SEPARATOR = re.compile(r"\t|\s*\|\s*")


@dataclass(frozen=True)
class ProbeRow:
    """One language's version of the probe."""

    lang: str
    template: str
    word_a: str
    word_b: str
    target: str
    foil: str

    @property
    def text_a(self) -> str:
        return fill_template(self.template, self.word_a)

    @property
    def text_b(self) -> str:
        return fill_template(self.template, self.word_b)

    def line(self) -> str:
        return " | ".join(getattr(self, name) for name in ROW_FIELDS)


ROW_FIELDS = tuple(f.name for f in fields(ProbeRow))  # a row's fields, in the order a line writes them


def parse_rows(text: str) -> tuple[ProbeRow, ...]:
    """Probe rows from text, one per line: ``lang | template | word A | word B | target | foil`` (``|`` or a tab
    between fields; empty lines and lines starting with ``#`` are skipped)."""
    if not isinstance(text, str) or not text.strip():
        raise UserInputError("Write one probe row per language: lang | template with {filler} and [MASK] | word A | "
                             "word B | target | foil.")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        values = [f.strip() for f in ROW_SEPARATOR.split(line.strip())]
        if len(values) != len(ROW_FIELDS) or not all(values):
            raise UserInputError(f"Row {number} has {len([v for v in values if v])} of the 6 fields: lang | template | "
                                 "word A | word B | target | foil.")
        row = ProbeRow(*values)
        if row.template.count(FILLER_SLOT) != 1 or count_masks(row.template) != 1:
            raise UserInputError(f"Row {number} ({row.lang}): the template needs one {FILLER_SLOT} and one [MASK].")
        if row.word_a == row.word_b:
            raise UserInputError(f"Row {number} ({row.lang}): words A and B are the same; the probe contrasts two words.")
        if row.target == row.foil:
            raise UserInputError(f"Row {number} ({row.lang}): the target and the foil are the same word.")
        rows.append(row)
    if len(rows) > MAX_ROWS:
        raise UserInputError(f"{len(rows)} rows given; at most {MAX_ROWS} languages per run.")
    if not rows:
        raise UserInputError("No probe row: every line is empty or a comment.")
    return tuple(rows)


def shipped_rows(probe: Any, word_a: str, word_b: str, languages: Sequence[str]) -> str:
    """Rows of the shipped cross-lingual probe (:func:`~.bias.data.load_crosslingual_probe`) for two of its
    concepts, one per language: each language's own words, template and masculine / feminine targets."""
    a, b = probe.concepts.index(word_a), probe.concepts.index(word_b)
    lines = []
    for lang in languages:
        item = probe.probes[lang]
        lines.append(ProbeRow(lang, item.template, item.fillers[a], item.fillers[b], *item.targets[:2]).line())
    return "\n".join(lines)


@dataclass(frozen=True)
class LanguageExplanation:
    """One row explained by one model: the attribution on sentence A, the patching from B (None with
    ``patching_note`` when A and B differ in length), and ``span``: the pieces of word A in sentence A."""

    row: ProbeRow
    model: str
    n_layers: int
    attribution: AttributionResult
    patching: PatchingResult | None
    patching_note: str
    span: tuple[int, int]

    @property
    def relative_depth(self) -> list[float]:
        """(L + 1,): layer / L for layer 0 (the embeddings) to L."""
        return [layer / self.n_layers for layer in range(self.n_layers + 1)]

    def _shares(self) -> np.ndarray | None:
        """(L + 1, T): the patching grid as shares of the way from A's score (0) to B's (1); None without patching
        or when A and B score the same."""
        return None if self.patching is None else self.patching.shares()

    def word_share(self) -> list[float] | None:
        """(L + 1,): per layer, the largest share over the word's positions."""
        shares = self._shares()
        return None if shares is None else shares[:, self.span[0] : self.span[1]].max(axis=1).tolist()

    def mask_share(self) -> list[float] | None:
        """(L + 1,): per layer, the share of patching the mask's position."""
        shares = self._shares()
        return None if shares is None else shares[:, self.attribution.position].tolist()

    def handover_layer(self) -> int | None:
        """The first layer at which patching the mask moves the score at least as far as patching the word."""
        word, mask = self.word_share(), self.mask_share()
        if word is None or mask is None:
            return None
        return next((layer for layer, (w, m) in enumerate(zip(word, mask)) if m >= w), None)

    def word_attribution(self) -> float:
        """Integrated gradients summed over the word's tokens (log-odds units)."""
        return float(sum(self.attribution.integrated_gradients[self.span[0] : self.span[1]]))

    def word_attribution_share(self) -> float:
        """The word's share of the total |integrated gradients| (0..1)."""
        magnitudes = np.abs(np.asarray(self.attribution.integrated_gradients, dtype=np.float64))
        total = magnitudes.sum()
        return float(magnitudes[self.span[0] : self.span[1]].sum() / total) if total > 0 else 0.0

    def summary(self) -> str:
        """One line: where the word's effect moves to the mask, in this language."""
        head = f"{self.model}, {self.row.lang}: {self.row.word_a!r} vs {self.row.word_b!r}"
        if self.patching is None:
            return f"{head}: not patched ({self.patching_note})"
        layer = self.handover_layer()
        if layer is None:
            if self._shares() is None:
                return f"{head}: A and B score the same, so there is no difference for patching to locate."
            return f"{head}: the mask never carries as much of the difference as the word does."
        return (f"{head}: the word's effect reaches the mask at layer {layer} of {self.n_layers} "
                f"(relative depth {layer / self.n_layers:.2f}).")

    def to_dict(self) -> dict[str, Any]:
        attribution = self.attribution.to_dict()
        word, mask = self.word_share(), self.mask_share()
        return {
            "lang": self.row.lang, "template": self.row.template, "word_a": self.row.word_a, "word_b": self.row.word_b,
            "target": self.row.target, "foil": self.row.foil, "text_a": self.row.text_a, "text_b": self.row.text_b,
            "n_layers": self.n_layers, "relative_depth": self.relative_depth,
            "word_positions": list(range(*self.span)),
            "attribution": {k: attribution[k] for k in ("tokens", "position", "target_token", "foil_token", "attributed", "methods")},
            "word_attribution": self.word_attribution(), "word_attribution_share": self.word_attribution_share(),
            "patching": None if self.patching is None else {
                k: v for k, v in self.patching.to_dict().items()
                if k in ("tokens_b", "log_prob_a", "log_prob_b", "effects", "scored", "summary")},
            "patching_note": self.patching_note,
            "word_share": word, "mask_share": mask, "handover_layer": self.handover_layer(),
            "summary": self.summary(),
        }


@dataclass(frozen=True)
class AcrossLanguagesResult:
    """Every row explained by every model that reads its language, in row order (en-2048 before 100-1280)."""

    rows: tuple[ProbeRow, ...]
    explanations: tuple[LanguageExplanation, ...]
    notices: tuple[str, ...] = field(default=())

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.model for e in self.explanations))


def explain_row(loaded: LoadedModel, cache: ForwardCache, row: ProbeRow, progress: Progress | None = None) -> LanguageExplanation:
    """One row by one model: attribution (the first half of the progress), then patching."""
    def half(start: float) -> Progress | None:
        return None if progress is None else (lambda f, message: progress(start + 0.5 * f, f"{row.lang}: {message}"))

    attribution = attribute(loaded, cache, row.text_a, row.lang, 1, row.target, half(0.0), row.foil)
    patching, note = None, ""
    try:
        patching = patch(loaded, cache, row.text_a, row.text_b, row.lang, row.target, None, half(0.5), row.foil)
    except UserInputError as refused:  # A and B of different token lengths: attributed, not patched
        note = str(refused)
    return LanguageExplanation(row, loaded.key, loaded.n_layers, attribution, patching, note,
                               word_span(loaded, row, attribution.input_ids))


def word_span(loaded: LoadedModel, row: ProbeRow, ids_a: Sequence[int]) -> tuple[int, int]:
    """``[start, end)``: the pieces of word A in sentence A (those that differ from the template read with a mask in
    the filler slot), all of them, also those word B shares (chat / chien share 'ch')."""
    slot_masked = preprocess(loaded, fill_template(row.template, MASK_ALIASES[0]), row.lang).input_ids
    return differing_span(ids_a, slot_masked)


def explain_across_languages(
    models: Mapping[str, LoadedModel], cache: ForwardCache, rows: Sequence[ProbeRow],
    progress: Progress | None = None,
) -> AcrossLanguagesResult:
    """Every row by every model in ``models`` that reads its language (``loaded.reads(lang) == lang``)."""
    jobs = [(loaded, row) for row in rows for loaded in models.values() if loaded.reads(row.lang) == row.lang]
    if not jobs:
        raise UserInputError(f"{' and '.join(models)} read{'s' if len(models) == 1 else ''} none of these rows' "
                             "languages: en-2048 reads English only (add an en row, or pick 100-1280).")
    notices = [f"The {row.lang} row is left out: en-2048 reads English only (pick 100-1280 or both)."
               for row in rows if not any(j[1] is row for j in jobs)]
    explanations, refused = [], []
    for index, (loaded, row) in enumerate(jobs):
        part = None if progress is None else (
            lambda f, message, _i=index: progress((_i + f) / len(jobs), message))
        try:
            explanations.append(explain_row(loaded, cache, row, part))
        except UserInputError as error:  # one row's problem (a target the model cannot tell from its foil)
            refused.append(error)
            notices.append(f"{loaded.key}, {row.lang}: not explained. {error}")
    if refused and not explanations:
        raise refused[0]
    found = [n for e in explanations for n in (*e.attribution.notices, *(e.patching.notices if e.patching else ()))]
    return AcrossLanguagesResult(tuple(rows), tuple(explanations), tuple(dict.fromkeys([*notices, *found])))
