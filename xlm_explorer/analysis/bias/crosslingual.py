"""One probe across languages: log P(masculine) - log P(feminine) per occupation and language."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...notices import ENGLISH_ONLY, without

if TYPE_CHECKING:
    from ...models import LoadedModel

Progress = Callable[[float, str], None]
from .probes import run_probe


@dataclass(frozen=True)
class CrosslingualProbeResult:
    """``log_ratio[c][j]``: PLL(masculine) - PLL(feminine) for concept ``c`` in column ``j``; columns are
    ``(model, lang)`` (100-1280 in every language, en-2048 in English as the reference)."""

    probe_id: str
    concepts: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    fillers: tuple[tuple[str, ...], ...]  # per column, the filler of each concept
    targets: tuple[tuple[str, str], ...]  # per column
    log_ratio: tuple[tuple[float, ...], ...]
    notes: dict[str, str]
    notices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe_id,
            "concepts": list(self.concepts),
            "columns": [{"model": m, "lang": lang, "targets": list(t), "fillers": list(f)}
                        for (m, lang), t, f in zip(self.columns, self.targets, self.fillers)],
            "log_ratio": [list(row) for row in self.log_ratio],
            "notes": dict(self.notes),
            "notices": list(self.notices),
        }


def run_crosslingual_probe(
    multilingual: LoadedModel | None,
    english: LoadedModel | None,
    probe: Any,
    languages: Sequence[str],
    progress: Progress | None = None,
) -> CrosslingualProbeResult:
    """Run one cross-lingual probe: 100-1280 in every language of ``languages``, en-2048 on the English one."""
    jobs: list[tuple[LoadedModel, str]] = []
    if english is not None and "en" in languages:
        jobs.append((english, "en"))
    if multilingual is not None:
        jobs += [(multilingual, lang) for lang in languages]
    columns, fillers, targets, ratios, notices = [], [], [], [], []
    for index, (loaded, lang) in enumerate(jobs):
        probe_set = probe.probes[lang]

        def part(fraction: float, message: str, _i: int = index) -> None:
            if progress is not None:
                progress((_i + fraction) / len(jobs), message)

        result = run_probe([loaded], probe_set.template, probe_set.targets, probe_set.fillers, lang, progress=part)
        columns.append((loaded.key, lang))
        fillers.append(probe_set.fillers)
        targets.append(tuple(probe_set.targets[:2]))
        ratios.append([row.log_ratio for row in result.rows])
        notices += without(result.notices, ENGLISH_ONLY)  # en-2048 reads only the English column
    matrix = tuple(tuple(column[c] for column in ratios) for c in range(len(probe.concepts)))
    return CrosslingualProbeResult(
        probe_id=probe.id, concepts=probe.concepts, columns=tuple(columns), fillers=tuple(fillers), targets=tuple(targets),
        log_ratio=matrix, notes={lang: probe.probes[lang].note for lang in languages}, notices=tuple(dict.fromkeys(notices)),
    )
