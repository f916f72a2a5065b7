"""Contextual token search (as exBERT does): which tokens of a corpus have the hidden state, at one layer, most
cosine-similar to a query token's?

A :class:`TokenIndex` holds, for one model and layer, the unit-normalised hidden state of every token of a corpus
(special tokens left out) as float16, with the sentence and position of each. Search is one float16 matrix-vector
product over the stored vectors (float32 accumulation, no copy of the index), then the best candidates are scored
again exactly in float32; ``python -m xlm_explorer.index`` writes the same index to disk for large corpora, and the
app loads it with ``--corpus-index``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks import whole_number
from ..errors import UserInputError
from ..forward import hidden_point, run_with_hooks
from ..tokenization import display_piece, encode_text
from ..uploads import MAX_ROWS as UPLOAD_ROWS
from .ann import AnnIndex
from .datasets import load_shipped

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
MAX_PAGE_SENTENCES = UPLOAD_ROWS["corpus"]
MAX_K = 100
#: rows rescored exactly after the float16 pass (the float16 scores are within about 1e-3 of the exact ones)
RESCORED_ROWS = 256
BATCH_SIZE = 32
#: Sentences per indexing chunk: the app and ``python -m xlm_explorer.index`` both index in these chunks, so the
#: same corpus gives the same vectors to the last bit (the command checkpoints after each chunk).
INDEX_CHUNK = 256


@dataclass(frozen=True)
class CorpusSentence:
    text: str
    lang: str


@dataclass(frozen=True)
class Corpus:
    name: str
    sentences: tuple[CorpusSentence, ...]

    @property
    def key(self) -> str:
        digest = hashlib.sha256()
        for s in self.sentences:
            digest.update(f"{s.lang}\x1f{s.text}\x1e".encode())
        return digest.hexdigest()[:24]

    def __len__(self) -> int:
        return len(self.sentences)


def shipped_corpus() -> Corpus:
    """The shipped parallel sentences (48 sentences in 15 languages)."""
    return Corpus("parallel_sentences", tuple(CorpusSentence(i.text, i.lang) for i in load_shipped("sentences").items))


def parse_corpus(content: str, default_lang: str, known: Sequence[str], limit: int = MAX_PAGE_SENTENCES, name: str = "uploaded") -> Corpus:
    """A CSV/TSV with a ``text`` column (``lang`` optional), or plain lines (all in ``default_lang``)."""
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        raise UserInputError("The corpus is empty.")
    header = lines[0].lower()
    sentences: list[CorpusSentence] = []
    if "text" in [c.strip() for c in header.replace("\t", ",").split(",")]:
        reader = csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t" if "\t" in lines[0] else ",")
        for number, row in enumerate(reader, start=2):
            row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
            lang = row.get("lang") or default_lang
            if lang not in known:
                raise UserInputError(f"Row {number}: unknown language code {lang[:12]!r}.")
            if row.get("text"):
                sentences.append(CorpusSentence(row["text"], lang))
    else:
        sentences = [CorpusSentence(line.strip(), default_lang) for line in lines]
    if len(sentences) > limit:
        raise UserInputError(f"{len(sentences):,} sentences given; at most {limit:,} here (larger corpora: python -m xlm_explorer.index).")
    if not sentences:
        raise UserInputError("The corpus has a header but no sentences.")
    return Corpus(name, tuple(sentences))


@dataclass
class TokenIndex:
    """Unit-normalised float16 hidden states (N, H) of every non-special corpus token at one layer of one model."""

    model: str
    layer: int
    corpus: Corpus
    vectors: np.ndarray
    sentence_of: np.ndarray  # (N,) int32
    position_of: np.ndarray  # (N,) int32, the position in the encoded ids (<s> = 0)
    tokens: list[str]
    #: an approximate index over the vectors (``--ann``): it picks the candidates that are then rescored exactly
    ann: AnnIndex | None = field(default=None, repr=False, compare=False)
    _tensor: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.sentence_of.nbytes + self.position_of.nbytes + 24 * len(self.tokens))

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def as_tensor(self) -> torch.Tensor:
        """The vectors as a float16 tensor sharing their memory (a memory-mapped index stays on disk)."""
        if self._tensor is None:
            with warnings.catch_warnings():  # a memory-mapped index is read-only; search never writes to it
                warnings.simplefilter("ignore", UserWarning)
                self._tensor = torch.from_numpy(np.ascontiguousarray(self.vectors, dtype=np.float16))
        return self._tensor

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / f"vectors-L{self.layer}.npy", self.vectors)
        np.save(directory / f"rows-L{self.layer}.npy", np.stack([self.sentence_of, self.position_of]))
        meta = {"model": self.model, "layer": self.layer, "corpus": self.corpus.name, "corpus_key": self.corpus.key,
                "sentences": [[s.lang, s.text] for s in self.corpus.sentences], "tokens": self.tokens}
        (directory / f"meta-L{self.layer}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, layer: int) -> TokenIndex:
        meta = json.loads((directory / f"meta-L{layer}.json").read_text(encoding="utf-8"))
        rows = np.load(directory / f"rows-L{layer}.npy")
        corpus = Corpus(meta["corpus"], tuple(CorpusSentence(text, lang) for lang, text in meta["sentences"]))
        return cls(meta["model"], layer, corpus, np.load(directory / f"vectors-L{layer}.npy", mmap_mode="r"),
                   rows[0], rows[1], meta["tokens"], ann=load_ann_beside(directory, layer))


#: the files of an index folder (what a hub dataset holding an index is fetched for)
INDEX_FILE_PATTERNS = ("vectors-L*.npy", "rows-L*.npy", "meta-L*.json", "faiss-L*.index")
HUB_DATASET_PREFIX = "datasets/"


def index_folder(source: str | Path) -> Path:
    """The folder of an index: ``source`` itself, or a hub dataset ``datasets/OWNER/NAME`` (the form a Space's
    ``preload_from_hub`` takes) fetched into the hub cache (only the index files; from the cache alone when
    ``HF_HUB_OFFLINE`` is set). A clear :class:`UserInputError` when it is neither."""
    text = str(source)
    if Path(text).expanduser().is_dir():
        return Path(text).expanduser()
    if not (text.startswith(HUB_DATASET_PREFIX) and text.count("/") == 2 and not Path(text).exists()):
        raise UserInputError(f"{text} is not a folder (write one with python -m xlm_explorer.index), "
                             f"nor a hub dataset ({HUB_DATASET_PREFIX}OWNER/NAME).")
    from huggingface_hub import snapshot_download

    repo_id = text.removeprefix(HUB_DATASET_PREFIX)
    try:
        folder = Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=list(INDEX_FILE_PATTERNS)))
    except Exception as error:  # offline without a cached copy, no such dataset, no network: one message
        raise UserInputError(f"the hub dataset {repo_id} could not be fetched ({type(error).__name__}); "
                             "with HF_HUB_OFFLINE=1 it must be in the hub cache already (a Space's preload_from_hub puts it there).") from None
    if not describe_index(folder):
        raise UserInputError(f"the hub dataset {repo_id} holds no index (files {', '.join(INDEX_FILE_PATTERNS)}).")
    return folder


def ann_path(directory: Path, layer: int) -> Path:
    return Path(directory) / f"faiss-L{layer}.index"


def load_ann_beside(directory: Path, layer: int) -> AnnIndex | None:
    """The approximate index written beside a layer's vectors, memory-mapped; None when there is none, or when
    faiss is not installed (the search is then exact over the memory-mapped vectors, and the log says so)."""
    path = ann_path(directory, layer)
    if not path.is_file():
        return None
    try:
        return AnnIndex.load(path)
    except UserInputError:
        log.warning("%s: faiss is not installed, so layer %d is searched exactly", path, layer)
        return None


@dataclass(frozen=True)
class IndexLayer:
    """What one layer of an index directory holds (read from its files' headers, no vectors loaded)."""

    model: str
    layer: int
    corpus: str
    n_sentences: int
    n_tokens: int
    #: a faiss index is written beside the vectors (the app uses it when faiss is installed)
    approximate: bool = False


def describe_index(directory: Path) -> list[IndexLayer]:
    """Every layer written in an index directory (``python -m xlm_explorer.index``), by layer; none when it holds
    none. The token count comes from the vectors file's header (memory-mapped, nothing read)."""
    found = []
    for meta_path in sorted(Path(directory).glob("meta-L*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        layer = int(meta["layer"])
        vectors = np.load(Path(directory) / f"vectors-L{layer}.npy", mmap_mode="r")
        found.append(IndexLayer(meta["model"], layer, meta["corpus"], len(meta["sentences"]), int(vectors.shape[0]),
                                ann_path(directory, layer).is_file()))
    return sorted(found, key=lambda item: item.layer)


def unit(vectors: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(vectors.float(), dim=-1)


def index_sentences(
    loaded: LoadedModel, corpus: Corpus, layers: Sequence[int], batch_size: int = BATCH_SIZE, progress: Progress | None = None,
    start: int = 0, stop: int | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]]:
    """Per layer ``(vectors float16 (n, H), sentence index, position, display tokens)`` for sentences start..stop."""
    stop = len(corpus) if stop is None else stop
    encoded = [
        encode_text(loaded, s.text, s.lang, allow_masks=False, truncate=True)
        for s in corpus.sentences[start:stop]
    ]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    parts: dict[int, list[Any]] = {layer: [] for layer in layers}
    for b in range(0, len(order), batch_size):
        rows = order[b : b + batch_size]
        batch = run_with_hooks(loaded, [encoded[i].input_ids for i in rows], lang_ids=[loaded.lang2id.get(encoded[i].lang) for i in rows],
                               cache=[hidden_point(layer) for layer in layers])  # only the layers indexed
        for r, i in enumerate(rows):
            positions = [p for p, t in enumerate(encoded[i].input_ids) if t not in loaded.special_ids]
            tokens = [display_piece(encoded[i].tokens[p]) for p in positions]
            for layer in layers:
                vectors = unit(batch.activations[hidden_point(layer)][r, positions]).to(torch.float16).cpu().numpy()
                parts[layer].append((i, vectors, positions, tokens))
        if progress is not None:
            done = min(b + batch_size, len(order))
            progress((start + done) / len(corpus), f"{loaded.key}: indexing sentence {start + done:,} of {len(corpus):,}")
    out = {}
    for layer, items in parts.items():
        items.sort(key=lambda item: item[0])
        out[layer] = (
            np.concatenate([v for _, v, _, _ in items]) if items else np.zeros((0, loaded.hidden_size), np.float16),
            np.concatenate([np.full(len(p), start + i, np.int32) for i, _, p, _ in items]) if items else np.zeros(0, np.int32),
            np.concatenate([np.asarray(p, np.int32) for _, _, p, _ in items]) if items else np.zeros(0, np.int32),
            [t for _, _, _, tokens in items for t in tokens],
        )
    return out


def build_index(loaded: LoadedModel, corpus: Corpus, layer: int, progress: Progress | None = None) -> TokenIndex:
    """The index of ``corpus`` at ``layer``, built chunk by chunk (:data:`INDEX_CHUNK` sentences) as the command does."""
    parts = [index_sentences(loaded, corpus, [layer], progress=progress, start=start, stop=start + INDEX_CHUNK)[layer]
             for start in range(0, len(corpus), INDEX_CHUNK)]
    return join_parts(loaded.key, layer, corpus, parts)


def join_parts(model: str, layer: int, corpus: Corpus, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]]) -> TokenIndex:
    return TokenIndex(
        model, layer, corpus,
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
        [t for p in parts for t in p[3]],
    )


def nearest(index: TokenIndex, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` rows most cosine-similar to ``query``, best first: ``(row, cosine)``.

    One float16 pass over the (N, H) index picks the ``max(4k, RESCORED_ROWS)`` best rows (or the index's faiss
    index does, probing a share of it); those are scored again in float32 and renormalised (float16 storage:
    cosines stay <= 1), ties broken by row.
    """
    q = query.astype(np.float32) / max(float(np.linalg.norm(query)), 1e-12)
    if index.ann is not None:
        return rescore_rows(index.vectors, index.ann.candidates(q, min(len(index), max(4 * k, RESCORED_ROWS))), q, k)
    rough = torch.mv(index.as_tensor(), torch.from_numpy(q).to(torch.float16)).float().numpy()
    n_candidates = min(len(rough), max(4 * k, RESCORED_ROWS))
    if n_candidates < len(rough):
        candidates = np.sort(np.argpartition(-rough, n_candidates - 1)[:n_candidates])
    else:
        candidates = np.arange(len(rough))
    return rescore_rows(index.vectors, candidates, q, k)


def rescore_rows(vectors: np.ndarray, candidates: np.ndarray, unit_query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best of the ``candidates`` rows of ``vectors`` (N, H) scored exactly in float32 against a unit
    query and renormalised, best first, ties broken by row: ``(row, cosine)``."""
    block = np.asarray(vectors[candidates], np.float32)
    scores = (block @ unit_query) / np.maximum(np.linalg.norm(block, axis=1), 1e-12)
    k = min(k, len(scores))
    best = np.lexsort((candidates, -scores))[:k]
    return [(int(candidates[i]), float(scores[i])) for i in best]


@dataclass(frozen=True)
class TokenMatch:
    text: str
    lang: str
    token: str
    token_index: int
    cosine: float
    #: the sentence's tokens as the model reads them (display pieces), for showing the match in its sentence
    context: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "lang": self.lang, "token": self.token, "token_index": self.token_index, "cosine": self.cosine}


@dataclass(frozen=True)
class TokenSearchResult:
    model: str
    lang: str
    text: str
    tokens: tuple[str, ...]
    token_index: int
    layer: int
    corpus: str
    corpus_tokens: int
    matches: tuple[TokenMatch, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "lang": self.lang, "text": self.text, "tokens": list(self.tokens),
            "token_index": self.token_index, "query_token": self.tokens[self.token_index], "layer": self.layer,
            "corpus": self.corpus, "corpus_tokens": self.corpus_tokens,
            "matches": [m.to_dict() for m in self.matches],
        }


def search_token(
    loaded: LoadedModel, cache: ForwardCache, text: str, lang: str, token_index: object, layer: object, k: object,
    index: TokenIndex,
) -> TokenSearchResult:
    """The ``k`` corpus tokens nearest to token ``token_index`` of ``text`` at ``layer`` (cosine)."""
    encoding = encode_text(loaded, text, lang, allow_masks=True)
    position = whole_number(token_index, 0, len(encoding) - 1, "The token index",
                            out_of_range="The token index is a position in the encoded text (<s> is 0): 0 to {high}, not {value}.")
    count = whole_number(k, 1, MAX_K, "k")
    result = cache.get(loaded, encoding.input_ids, loaded.lang2id.get(encoding.lang), hidden_states=True)
    query = unit(result.hidden_states[index.layer, position]).cpu().numpy()
    matches = []
    for row, cosine in nearest(index, query, count):
        sentence = index.corpus.sentences[int(index.sentence_of[row])]
        context = encode_text(loaded, sentence.text, sentence.lang, allow_masks=False,
                              truncate=True).tokens
        matches.append(TokenMatch(sentence.text, sentence.lang, index.tokens[row], int(index.position_of[row]),
                                  round(cosine, 6), tuple(display_piece(t) for t in context)))
    return TokenSearchResult(loaded.key, encoding.lang, text, tuple(display_piece(t) for t in encoding.tokens), position,
                             index.layer, index.corpus.name, len(index), tuple(matches))


def check_search_layer(loaded: LoadedModel, layer: object) -> int:
    return whole_number(layer, 0, loaded.n_layers, "Layer",
                        out_of_range=f"{loaded.key} has layers 0 (embeddings) to {{high}}; layer {{value}} does not exist.")
