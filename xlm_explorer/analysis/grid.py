"""The cross-lingual fill-mask grid: one template written in several languages, every model's top-k per line."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError
from ..paths import DATA_DIR
from ..tokenization import count_masks
from .fill_mask import TokenScore, predict_masks

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

TEMPLATES_FILE = DATA_DIR / "crosslingual_templates.tsv"
MAX_GRID_ROWS = 30




@dataclass(frozen=True)
class GridTemplate:
    lang: str
    text: str
    template_id: str = ""


@dataclass(frozen=True)
class GridCell:
    """One model's top predictions for one language's template."""

    template_id: str
    lang: str
    text: str
    model: str
    predictions: tuple[TokenScore, ...]
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrosslingualGrid:
    top_k: int
    templates: tuple[GridTemplate, ...]
    cells: tuple[GridCell, ...]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.model for c in self.cells))

    def to_dict(self) -> dict[str, Any]:
        return {
            "top_k": self.top_k,
            "models": list(self.models),
            "rows": [
                {
                    "template_id": c.template_id,
                    "lang": c.lang,
                    "text": c.text,
                    "model": c.model,
                    "predictions": [
                        {"token": p.token, "piece": p.piece, "probability": p.probability} for p in c.predictions
                    ],
                    "notices": list(c.notices),
                }
                for c in self.cells
            ],
        }


def load_grid_templates(path: Path = TEMPLATES_FILE) -> dict[str, tuple[GridTemplate, ...]]:
    """Shipped cross-lingual templates: template id -> one template per language (file order)."""
    groups: dict[str, list[GridTemplate]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            groups.setdefault(row["id"], []).append(
                GridTemplate(lang=row["lang"].strip(), text=row["text"].strip(), template_id=row["id"])
            )
    return {key: tuple(value) for key, value in groups.items()}


def format_grid_templates(templates: Sequence[GridTemplate]) -> str:
    """Templates as editable lines ``lang<TAB>text``."""
    return "\n".join(f"{t.lang}\t{t.text}" for t in templates)


def parse_grid_templates(text: str, languages: Sequence[str]) -> tuple[GridTemplate, ...]:
    """Lines ``lang<TAB>text`` or ``lang: text`` -> templates, each with exactly one [MASK].

    Blank lines and lines starting with ``#`` are skipped. ``languages`` are the codes allowed.
    """
    if not isinstance(text, str) or not text.strip():
        raise UserInputError(
            "No templates: write one per line as 'lang<TAB>sentence with [MASK]', e.g. 'fr\tLa capitale de la France est [MASK].'"
        )
    templates = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        separator = "\t" if "\t" in line else ":"
        lang, found, sentence = line.partition(separator)
        lang, sentence = lang.strip(), sentence.strip()
        if not found or not lang or not sentence:
            raise UserInputError(
                f"Line {number}: write 'lang<TAB>sentence' or 'lang: sentence' (e.g. 'de: Die Hauptstadt ist [MASK].')."
            )
        if lang not in languages:
            raise UserInputError(f"Line {number}: unknown language code {lang[:20]!r}.")
        n_masks = count_masks(sentence)
        if n_masks != 1:
            raise UserInputError(f"Line {number} ({lang}) has {n_masks} masks; each template needs exactly one [MASK].")
        templates.append(GridTemplate(lang=lang, text=sentence, template_id=f"line{number}"))
    if not templates:
        raise UserInputError("No templates: every line was blank or a comment.")
    if len(templates) > MAX_GRID_ROWS:
        raise UserInputError(f"{len(templates)} templates given; at most {MAX_GRID_ROWS} per run.")
    return tuple(templates)


def crosslingual_grid(
    models: Sequence[LoadedModel], cache: ForwardCache, templates: Sequence[GridTemplate], top_k: int = 5
) -> CrosslingualGrid:
    """Top-k predictions of every model for every language's template (one cached pass each)."""
    top_k = int(top_k)  # validated by the service (checks once per request)
    cells = []
    for template in templates:
        for loaded in models:
            result = predict_masks(loaded, cache, template.text, template.lang, top_k)  # notices say what it read
            notices = list(result.notices)
            cells.append(
                GridCell(
                    template_id=template.template_id,
                    lang=template.lang,
                    text=template.text,
                    model=loaded.key,
                    predictions=result.masks[0].predictions,
                    notices=tuple(notices),
                )
            )
    return CrosslingualGrid(top_k=top_k, templates=tuple(templates), cells=tuple(cells))
