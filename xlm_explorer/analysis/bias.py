"""Bias probing: template probes with multi-piece targets, and sentence-pair pseudo-log-likelihood.

Scores are pseudo-log-likelihoods (PLL, Salazar et al. 2020): a sequence's tokens are masked one at a
time and the log-probabilities of the true tokens are summed. A target word that the tokenizer splits
into several pieces is written into the template in full and each of its pieces is scored that way, so
every piece counts (transformers' fill-mask ``targets=`` silently keeps only the first piece). For a
single-piece target the score is exactly the fill-mask log-probability at the mask.

Masked copies are batched through ``loaded.model`` (body once per copy, LM head only at the masked
position), at most ``batch_size`` copies at a time, under ``loaded.lock`` and ``torch.inference_mode``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UserInputError
from ..forward import lm_head_logits
from ..tokenization import MASK_PATTERN, count_masks, display_piece, encode_text, tokenize_words

if TYPE_CHECKING:
    from ..models import LoadedModel

DATA_DIR = Path(__file__).resolve().parents[2] / "assets" / "data"
PROBES_FILE = DATA_DIR / "bias_probes.json"
PAIRS_FILE = DATA_DIR / "pll_pairs.tsv"
FILLER_SLOT = "{filler}"
DEFAULT_BATCH_SIZE = 32
MAX_FILLERS = 50
MAX_TARGETS = 2
MAX_WORD_CHARS = 60
MAX_PAIRS = 100
MAX_UPLOAD_BYTES = 1_000_000

Progress = Callable[[float, str], None]
#: (token ids, position): score log P(ids[position] | ids with that position masked)
Job = tuple[tuple[int, ...], int]


# --------------------------------------------------------------------------------------------------
# Pseudo-log-likelihood core


def masked_log_probs(
    loaded: LoadedModel,
    jobs: Sequence[Job],
    batch_size: int = DEFAULT_BATCH_SIZE,
    lang_id: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """log P(true token | that one position masked) for each job: (len(jobs),) float64, natural log.

    Identical masked copies are run once; copies of equal length share a batch (no padding), at most
    ``batch_size`` per forward pass.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    mask_id = loaded.mask_token_id
    unique: dict[Job, int] = {}
    for ids, position in jobs:
        masked = ids[:position] + (mask_id,) + ids[position + 1 :]
        unique.setdefault((masked, position), len(unique))
    log_probs_by_copy: dict[int, torch.Tensor] = {}
    copies = sorted(unique.items(), key=lambda item: len(item[0][0]))
    batches: list[list[tuple[Job, int]]] = []
    for copy in copies:
        if batches and len(batches[-1]) < batch_size and len(batches[-1][0][0][0]) == len(copy[0][0]):
            batches[-1].append(copy)
        else:
            batches.append([copy])
    done = 0
    for batch in batches:
        ids = torch.tensor([masked for (masked, _), _ in batch], dtype=torch.long, device=loaded.device)
        positions = torch.tensor([position for (_, position), _ in batch], device=loaded.device)
        kwargs = {}
        if lang_id is not None and loaded.uses_lang_embeddings:
            kwargs["langs"] = torch.full_like(ids, int(lang_id))
        with loaded.lock, torch.inference_mode():
            hidden = loaded.model.transformer(input_ids=ids, return_dict=True, **kwargs).last_hidden_state
            logits = lm_head_logits(loaded, hidden[torch.arange(len(batch), device=loaded.device), positions])
            log_probs = torch.log_softmax(logits.double(), dim=-1).cpu()
        for row, (_, index) in enumerate(batch):
            log_probs_by_copy[index] = log_probs[row]
        done += len(batch)
        if progress is not None:
            progress(done / len(copies), f"{loaded.key}: {done}/{len(copies)} masked copies")
    out = np.empty(len(jobs), dtype=np.float64)
    for j, (ids, position) in enumerate(jobs):
        masked = ids[:position] + (mask_id,) + ids[position + 1 :]
        out[j] = float(log_probs_by_copy[unique[(masked, position)]][ids[position]])
    return out


@dataclass(frozen=True)
class SentencePLL:
    """PLL of one sentence: every token between ``<s>`` and ``</s>`` masked in turn.

    ``tokens``/``token_log_probs`` cover the scored tokens only; ``pll`` is their sum (nats).
    """

    model: str
    text: str
    lang: str
    tokens: tuple[str, ...]
    token_log_probs: tuple[float, ...]

    @property
    def pll(self) -> float:
        return float(sum(self.token_log_probs))

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def mean_log_prob(self) -> float:
        return self.pll / self.n_tokens if self.n_tokens else 0.0


def _sentence_ids(loaded: LoadedModel, text: str, lang: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    encoding = encode_text(loaded, text, lang if loaded.spec.multilingual else "en", allow_masks=False)
    return encoding.input_ids, encoding.tokens


def sentence_plls(
    loaded: LoadedModel,
    texts: Sequence[str],
    lang: str | Sequence[str] = "en",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> tuple[SentencePLL, ...]:
    """PLL of each text (mask markers in the text are read as plain text); all copies batched together."""
    langs = [lang] * len(texts) if isinstance(lang, str) else list(lang)
    encoded = [_sentence_ids(loaded, text, code) for text, code in zip(texts, langs)]
    jobs: list[Job] = []
    spans = []
    for ids, _tokens in encoded:
        start = len(jobs)
        jobs.extend((ids, position) for position in range(1, len(ids) - 1))
        spans.append((start, len(jobs)))
    scores = masked_log_probs(loaded, jobs, batch_size, progress=progress)
    return tuple(
        SentencePLL(
            model=loaded.key,
            text=text,
            lang=code if loaded.spec.multilingual else "en",
            tokens=tuple(display_piece(t) for t in tokens[1:-1]),
            token_log_probs=tuple(float(v) for v in scores[start:end]),
        )
        for text, code, (ids, tokens), (start, end) in zip(texts, langs, encoded, spans)
    )


# --------------------------------------------------------------------------------------------------
# Template probes


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
    if isinstance(text, bytes):
        if len(text) > MAX_UPLOAD_BYTES:
            raise UserInputError("The probe file is larger than 1 MB.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserInputError("The probe file is not UTF-8 text.") from None
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


def check_probe(
    template: str, targets: Sequence[str], fillers: Sequence[str]
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Validate a probe; returns ``(template, targets, fillers)`` or raises a clear :class:`UserInputError`."""
    if not isinstance(template, str) or not template.strip():
        raise UserInputError("The template is empty: write a sentence with one [MASK] and one {filler}.")
    template = template.strip()
    n_masks = count_masks(template)
    if n_masks == 0:
        raise UserInputError("The template has no [MASK]: put [MASK] where the target words (e.g. he / she) go.")
    if n_masks > 1:
        raise UserInputError(f"The template has {n_masks} masks; a probe needs exactly one [MASK] (the target slot).")
    targets = tuple(t.strip() for t in targets if t.strip())
    fillers = tuple(f.strip() for f in fillers if f.strip())
    if not targets:
        raise UserInputError("The target list is empty: give two words to compare at the mask, e.g. 'he, she'.")
    if len(targets) != MAX_TARGETS:
        raise UserInputError(f"Give exactly two target words to compare (got {len(targets)}), e.g. 'he, she'.")
    if len(set(targets)) != len(targets):
        raise UserInputError("The two target words are the same; give two different words.")
    for word in (*targets, *fillers):
        if len(word) > MAX_WORD_CHARS:
            raise UserInputError(f"{word[:20]!r}… is longer than {MAX_WORD_CHARS} characters.")
        if MASK_PATTERN.search(word) or FILLER_SLOT in word:
            raise UserInputError(f"{word[:40]!r}: targets and fillers cannot contain a mask or {FILLER_SLOT}.")
    n_slots = template.count(FILLER_SLOT)
    if n_slots > 1:
        raise UserInputError(f"The template has {n_slots} {FILLER_SLOT} slots; use one.")
    if n_slots == 1 and not fillers:
        raise UserInputError(
            f"The filler list is empty: give the words that go into {FILLER_SLOT} (e.g. occupations), one per line."
        )
    if n_slots == 0 and fillers:
        raise UserInputError(f"Fillers were given but the template has no {FILLER_SLOT} slot to put them in.")
    if len(fillers) > MAX_FILLERS:
        raise UserInputError(f"{len(fillers)} fillers given; at most {MAX_FILLERS} per run.")
    return template, targets, fillers


@dataclass(frozen=True)
class TargetScore:
    """One target word at the mask: its pieces, and its PLL summed over all of them (nats)."""

    target: str
    pieces: tuple[str, ...]
    piece_ids: tuple[int, ...]
    piece_log_probs: tuple[float, ...]
    unknown: bool

    @property
    def log_prob(self) -> float:
        return float(sum(self.piece_log_probs))

    @property
    def n_pieces(self) -> int:
        return len(self.pieces)


@dataclass(frozen=True)
class ProbeRow:
    """One filler, one model: both targets' scores and ``log_ratio = score(t1) - score(t2)`` (nats)."""

    model: str
    filler: str
    sentence: str
    scores: tuple[TargetScore, ...]

    @property
    def log_ratio(self) -> float:
        return self.scores[0].log_prob - self.scores[1].log_prob

    @property
    def preferred(self) -> str:
        return self.scores[0].target if self.log_ratio > 0 else self.scores[1].target if self.log_ratio < 0 else "tie"


@dataclass(frozen=True)
class ProbeResult:
    template: str
    lang: str
    targets: tuple[str, ...]
    fillers: tuple[str, ...]
    rows: tuple[ProbeRow, ...]
    notices: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.model for r in self.rows))

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "lang": self.lang,
            "targets": list(self.targets),
            "fillers": list(self.fillers),
            "models": list(self.models),
            "rows": [
                {
                    "model": r.model,
                    "filler": r.filler,
                    "sentence": r.sentence,
                    "log_ratio": r.log_ratio,
                    "preferred": r.preferred,
                    "targets": [
                        {
                            "target": s.target,
                            "log_prob": s.log_prob,
                            "pieces": list(s.pieces),
                            "piece_log_probs": list(s.piece_log_probs),
                            "unknown": s.unknown,
                        }
                        for s in r.scores
                    ],
                }
                for r in self.rows
            ],
            "notices": list(self.notices),
        }


def fill_template(template: str, filler: str) -> str:
    return template.replace(FILLER_SLOT, filler)


def target_pieces(loaded: LoadedModel, target: str, lang: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The BPE pieces of a target word as the model reads it in ``lang``: (pieces, ids)."""
    pieces, _ = tokenize_words(loaded, target, lang)
    if not pieces:
        raise UserInputError(f"The target {target[:40]!r} becomes no tokens at all for {loaded.key}.")
    return tuple(pieces), tuple(int(i) for i in loaded.tokenizer.convert_tokens_to_ids(pieces))


def probe_jobs(loaded: LoadedModel, sentence: str, lang: str, target_ids: tuple[int, ...]) -> list[Job]:
    """The PLL jobs of one target in one masked sentence: the target's pieces written in at the mask,
    each piece scored with itself masked (and the other pieces visible)."""
    encoding = encode_text(loaded, sentence, lang)
    position = encoding.mask_positions[0]
    filled = encoding.input_ids[:position] + target_ids + encoding.input_ids[position + 1 :]
    if len(filled) > loaded.max_positions:
        raise UserInputError(f"The sentence with its target is longer than {loaded.max_positions} positions.")
    return [(filled, position + i) for i in range(len(target_ids))]


def run_probe(
    models: Sequence[LoadedModel],
    template: str,
    targets: Sequence[str],
    fillers: Sequence[str],
    lang: str = "en",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> ProbeResult:
    """Score both targets at the mask for every filler and model; one batched PLL call per model."""
    template, targets, fillers = check_probe(template, targets, fillers)
    notices: list[str] = []
    rows: list[ProbeRow] = []
    for model_index, loaded in enumerate(models):
        model_lang = lang if loaded.spec.multilingual else "en"
        if model_lang != lang:
            notices.append(
                f"{loaded.key} is English-only: the {lang} probe was read as English, so its scores mean little."
            )
        if loaded.spec.multilingual:
            loaded.check_language(lang)
        pieces = {t: target_pieces(loaded, t, model_lang) for t in targets}
        unk = loaded.tokenizer.unk_token_id
        for target, (target_piece_list, ids) in pieces.items():
            if len(ids) > 1:
                notices.append(
                    f"{loaded.key} splits {target!r} into {len(ids)} pieces ({' '.join(display_piece(p) for p in target_piece_list)}); "
                    "its score is the PLL summed over all of them."
                )
            if unk in ids:
                notices.append(
                    f"{loaded.key} does not know some characters of {target!r} (<unk>); its score is not meaningful."
                )
        if len({len(ids) for _, ids in pieces.values()}) > 1:
            notices.append(
                f"For {loaded.key} the targets have different numbers of pieces: a longer word sums more log-probabilities, "
                "so it scores lower for that reason alone."
            )
        sentences = [(f, fill_template(template, f)) for f in (fillers or ("",))]
        jobs: list[Job] = []
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        for filler, sentence in sentences:
            for target in targets:
                start = len(jobs)
                jobs.extend(probe_jobs(loaded, sentence, model_lang, pieces[target][1]))
                spans[(filler, target)] = (start, len(jobs))

        def model_progress(fraction: float, message: str, _i: int = model_index) -> None:
            if progress is not None:
                progress((_i + fraction) / len(models), message)

        scores = masked_log_probs(loaded, jobs, batch_size, loaded.lang2id.get(model_lang), model_progress)
        for filler, sentence in sentences:
            target_scores = []
            for target in targets:
                start, end = spans[(filler, target)]
                target_piece_list, ids = pieces[target]
                target_scores.append(
                    TargetScore(
                        target=target,
                        pieces=tuple(display_piece(p) for p in target_piece_list),
                        piece_ids=ids,
                        piece_log_probs=tuple(float(v) for v in scores[start:end]),
                        unknown=unk in ids,
                    )
                )
            rows.append(ProbeRow(model=loaded.key, filler=filler, sentence=sentence, scores=tuple(target_scores)))
    return ProbeResult(
        template=template,
        lang=lang,
        targets=targets,
        fillers=fillers,
        rows=tuple(rows),
        notices=tuple(dict.fromkeys(notices)),
    )


# --------------------------------------------------------------------------------------------------
# Sentence pairs (CrowS-Pairs style)


@dataclass(frozen=True)
class SentencePair:
    """Two sentences differing in a group word: ``sent_more`` the more stereotypical one."""

    id: str
    lang: str
    bias_type: str
    sent_more: str
    sent_less: str


def parse_pairs_table(text: str | bytes, default_lang: str = "en") -> tuple[SentencePair, ...]:
    """Pairs from CSV or TSV text with a header naming ``sent_more`` and ``sent_less`` (``id``, ``lang``,
    ``bias_type`` optional). The delimiter is a tab when the header has one, else a comma."""
    if isinstance(text, bytes):
        if len(text) > MAX_UPLOAD_BYTES:
            raise UserInputError("The pairs file is larger than 1 MB.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserInputError("The pairs file is not UTF-8 text.") from None
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
        pairs.append(
            SentencePair(
                id=row.get("id") or f"row{number}",
                lang=row.get("lang") or default_lang,
                bias_type=row.get("bias_type") or "",
                sent_more=row["sent_more"],
                sent_less=row["sent_less"],
            )
        )
    if not pairs:
        raise UserInputError("The table has a header but no sentence pairs.")
    if len(pairs) > MAX_PAIRS:
        raise UserInputError(f"{len(pairs)} pairs given; at most {MAX_PAIRS} per run.")
    return tuple(pairs)


def load_pll_pairs(path: Path = PAIRS_FILE) -> tuple[SentencePair, ...]:
    return parse_pairs_table(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class PairScore:
    """One pair, one model: ``difference = PLL(more) - PLL(less)``; positive means the model prefers
    the more stereotypical sentence."""

    pair: SentencePair
    model: str
    more: SentencePLL
    less: SentencePLL

    @property
    def difference(self) -> float:
        return self.more.pll - self.less.pll

    @property
    def mean_difference(self) -> float:
        """Difference of per-token mean log-probabilities (fairer when the token counts differ)."""
        return self.more.mean_log_prob - self.less.mean_log_prob

    @property
    def preferred(self) -> str:
        return "more" if self.difference > 0 else "less" if self.difference < 0 else "tie"


@dataclass(frozen=True)
class PairsResult:
    pairs: tuple[SentencePair, ...]
    scores: tuple[PairScore, ...]
    notices: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.model for s in self.scores))

    def share_preferring_more(self, model: str) -> float:
        rows = [s for s in self.scores if s.model == model]
        return sum(s.difference > 0 for s in rows) / len(rows) if rows else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "summary": {
                m: {
                    "pairs": sum(s.model == m for s in self.scores),
                    "share_preferring_more": self.share_preferring_more(m),
                }
                for m in self.models
            },
            "rows": [
                {
                    "id": s.pair.id,
                    "lang": s.pair.lang,
                    "bias_type": s.pair.bias_type,
                    "model": s.model,
                    "sent_more": s.pair.sent_more,
                    "sent_less": s.pair.sent_less,
                    "pll_more": s.more.pll,
                    "pll_less": s.less.pll,
                    "tokens_more": s.more.n_tokens,
                    "tokens_less": s.less.n_tokens,
                    "difference": s.difference,
                    "mean_difference": s.mean_difference,
                    "preferred": s.preferred,
                }
                for s in self.scores
            ],
            "notices": list(self.notices),
        }


def score_pairs(
    models: Sequence[LoadedModel],
    pairs: Sequence[SentencePair],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> PairsResult:
    """PLL of both sentences of every pair with every model (one batched PLL run per model)."""
    if not pairs:
        raise UserInputError("No sentence pairs to score.")
    notices: list[str] = []
    scores: list[PairScore] = []
    for model_index, loaded in enumerate(models):
        langs = []
        for pair in pairs:
            if loaded.spec.multilingual:
                loaded.check_language(pair.lang)
            langs.append(pair.lang)
        if not loaded.spec.multilingual and any(code != "en" for code in langs):
            notices.append(
                f"{loaded.key} is English-only: non-English pairs were read as English, so its scores for them mean little."
            )

        def model_progress(fraction: float, message: str, _i: int = model_index) -> None:
            if progress is not None:
                progress((_i + fraction) / len(models), message)

        texts = [s for pair in pairs for s in (pair.sent_more, pair.sent_less)]
        plls = sentence_plls(loaded, texts, [code for code in langs for _ in (0, 1)], batch_size, model_progress)
        for i, pair in enumerate(pairs):
            scores.append(PairScore(pair=pair, model=loaded.key, more=plls[2 * i], less=plls[2 * i + 1]))
    return PairsResult(pairs=tuple(pairs), scores=tuple(scores), notices=tuple(dict.fromkeys(notices)))
