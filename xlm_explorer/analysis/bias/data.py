"""Bias probe data: template probe sets (JSON) and sentence pairs (CSV/TSV), shipped or uploaded.

Parsing only; every problem is a :class:`~xlm_explorer.errors.UserInputError` that names the row or field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UserInputError
from ...paths import DATA_DIR
from ...uploads import MAX_ROWS as UPLOAD_ROWS
from ...uploads import check_text_size, decode_text

PROBES_FILE = DATA_DIR / "bias_probes.json"
PAIRS_FILE = DATA_DIR / "pll_pairs.tsv"
MAX_PAIRS = UPLOAD_ROWS["pairs"]


@dataclass(frozen=True)
class ProbeSet:
    """A template with one [MASK] and one ``{filler}``, two target words and the fillers to try."""

    id: str
    lang: str
    template: str
    targets: tuple[str, ...]
    fillers: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lang": self.lang,
            "template": self.template,
            "targets": list(self.targets),
            "fillers": list(self.fillers),
            "note": self.note,
        }


def _probe_from_dict(item: Any, index: int) -> ProbeSet:
    if not isinstance(item, dict):
        raise UserInputError(f"Probe set {index + 1} is not a JSON object with template, targets and fillers.")
    missing = [key for key in ("template", "targets") if key not in item]
    if missing:
        raise UserInputError(f"Probe set {index + 1} lacks {', '.join(missing)}.")
    targets, fillers = item.get("targets"), item.get("fillers", [])
    if not isinstance(targets, list) or not isinstance(fillers, list):
        raise UserInputError(f"Probe set {index + 1}: targets and fillers must be JSON lists of words.")
    return ProbeSet(
        id=str(item.get("id") or f"probe{index + 1}")[:80],
        lang=str(item.get("lang") or "en")[:20],
        template=str(item["template"]),
        targets=tuple(str(t) for t in targets),
        fillers=tuple(str(f) for f in fillers),
        note=str(item.get("note") or "")[:2000],
    )


def parse_probe_sets(text: str | bytes) -> tuple[ProbeSet, ...]:
    """Probe sets from JSON (a list of objects, or one object) in the shipped file's format."""
    text = decode_text(text, "The probe file") if isinstance(text, bytes) else check_text_size(text, "The probe file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserInputError(f"The probe file is not valid JSON (line {error.lineno}: {error.msg}).") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise UserInputError("The probe file holds no probe sets.")
    return tuple(_probe_from_dict(item, i) for i, item in enumerate(items))


def load_probe_sets(path: Path = PROBES_FILE) -> tuple[ProbeSet, ...]:
    """The shipped probe sets (English, French, German, Spanish, Russian)."""
    return parse_probe_sets(path.read_text(encoding="utf-8"))


def split_words(text: str | Sequence[str], separators: str = r"[,\n;]") -> tuple[str, ...]:
    """Words from a list, or from text split on the ``separators`` regex; blanks and repeats dropped."""
    parts = re.split(separators, text) if isinstance(text, str) else [str(p) for p in text]
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


#: CrowS-Pairs' ``stereo_antistereo`` values; a table without the column counts every pair as the first
DIRECTIONS = ("stereo", "antistereo")


def direction_of(row: Mapping[str, Any]) -> str:
    """A pair row's direction (rows written without one, by older results files, are ``stereo``)."""
    return row.get("direction") or DIRECTIONS[0]


@dataclass(frozen=True)
class SentencePair:
    """Two sentences differing in a group word: ``sent_more`` the more stereotyping one; ``direction`` is
    CrowS-Pairs' ``stereo_antistereo`` (``stereo``: sent_more states a stereotype about a disadvantaged group;
    ``antistereo``: it violates one)."""

    id: str
    lang: str
    bias_type: str
    sent_more: str
    sent_less: str
    direction: str = DIRECTIONS[0]


def parse_pairs_table(
    text: str | bytes, default_lang: str = "en", max_pairs: int | None = MAX_PAIRS
) -> tuple[SentencePair, ...]:
    """Pairs from CSV or TSV text with a header naming ``sent_more`` and ``sent_less`` (``id``, ``lang``,
    ``bias_type``, ``stereo_antistereo`` optional; CrowS-Pairs' file is read as it is: its unnamed first column
    is the id). The delimiter is a tab when the header has one, else a comma. ``max_pairs`` is the page and API
    limit (None for the batch command)."""
    if isinstance(text, bytes):  # the batch command (max_pairs None) reads files of any size
        text = decode_text(text, "The pairs file", limited=max_pairs is not None)
    elif max_pairs is not None and isinstance(text, str):
        check_text_size(text, "The pairs table")
    if not isinstance(text, str) or not text.strip():
        raise UserInputError("No sentence pairs: give a table with the columns sent_more and sent_less.")
    text = text.strip("\ufeff").strip("\n")
    header = text.splitlines()[0]
    delimiter = "\t" if "\t" in header else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = [c.strip() for c in reader.fieldnames or []]
    if "sent_more" not in columns or "sent_less" not in columns:
        raise UserInputError(
            f"The header must name the columns sent_more and sent_less (found: {', '.join(columns)[:200] or 'nothing'})."
        )
    pairs = []
    for number, row in enumerate(reader, start=2):
        row = {str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if not row.get("sent_more") and not row.get("sent_less"):
            continue
        if not row.get("sent_more") or not row.get("sent_less"):
            raise UserInputError(f"Row {number}: both sent_more and sent_less are needed.")
        direction = row.get("stereo_antistereo") or DIRECTIONS[0]
        if direction not in DIRECTIONS:
            raise UserInputError(f"Row {number}: stereo_antistereo is stereo or antistereo, not {direction[:20]!r}.")
        pairs.append(
            SentencePair(
                id=row.get("id") or row.get("") or f"row{number}",
                lang=row.get("lang") or default_lang,
                bias_type=row.get("bias_type") or "",
                sent_more=row["sent_more"],
                sent_less=row["sent_less"],
                direction=direction,
            )
        )
    if not pairs:
        raise UserInputError("The table has a header but no sentence pairs.")
    if max_pairs is not None and len(pairs) > max_pairs:
        raise UserInputError(
            f"{len(pairs)} pairs given; at most {max_pairs} per run here (a larger set runs with python -m xlm_explorer.score)."
        )
    return tuple(pairs)


def load_pll_pairs(path: Path = PAIRS_FILE) -> tuple[SentencePair, ...]:
    return parse_pairs_table(path.read_text(encoding="utf-8"))


CROSSLINGUAL_FILE = DATA_DIR / "bias_crosslingual.json"


@dataclass(frozen=True)
class CrosslingualProbe:
    """One probe written in several languages over the same concepts (``fillers[lang][i]`` is concept ``i``);
    each language's first target is the masculine form, the second the feminine."""

    id: str
    title: str
    concepts: tuple[str, ...]
    probes: dict[str, ProbeSet]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.probes)


def load_crosslingual_probe(path: Path = CROSSLINGUAL_FILE) -> CrosslingualProbe:
    """The shipped cross-lingual probe (ten occupations in seven languages)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    concepts = tuple(data["concepts"])
    probes = {}
    for lang, item in data["languages"].items():
        if len(item["fillers"]) != len(concepts):
            raise ValueError(f"{path.name}: {lang} has {len(item['fillers'])} fillers for {len(concepts)} concepts")
        probes[lang] = ProbeSet(
            id=f"{data['id']}_{lang}", lang=lang, template=item["template"], targets=tuple(item["targets"]),
            fillers=tuple(item["fillers"]), note=item.get("note", ""),
        )
    return CrosslingualProbe(id=data["id"], title=data.get("title", data["id"]), concepts=concepts, probes=probes)
