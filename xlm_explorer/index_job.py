"""One index job, as the command runs it on one machine and each Ray actor runs it on a cluster: the chunks of a
corpus (:data:`~xlm_explorer.analysis.token_search.INDEX_CHUNK` sentences each), the file each finished chunk is
saved to under ``OUT/parts``, and the join of those files into the index ``--corpus-index`` reads."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .analysis.token_search import INDEX_CHUNK, Corpus, CorpusSentence, ann_path, describe_index, index_sentences, join_parts

if TYPE_CHECKING:
    from .models import LoadedModel


@dataclass(frozen=True)
class IndexJob:
    """What one run indexes: the model (key and source), the layers, the corpus and where the files go."""

    key: str
    source: str
    layers: tuple[int, ...]
    corpus: Corpus
    out: Path
    device: str = "auto"
    dtype: str = "float32"

    @property
    def parts_dir(self) -> Path:
        return self.out / "parts"

    @property
    def n_chunks(self) -> int:
        return (len(self.corpus) + INDEX_CHUNK - 1) // INDEX_CHUNK

    def chunk_path(self, chunk: int) -> Path:
        return self.parts_dir / f"chunk-{chunk:06d}.npz"

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        return chunk * INDEX_CHUNK, min((chunk + 1) * INDEX_CHUNK, len(self.corpus))

    def prepare(self) -> list[int]:
        """Make the parts folder (emptied when it holds another corpus, model or layer set); the chunks still to do."""
        marker = self.parts_dir / "corpus-key.txt"
        stamp = f"{self.key}:{self.corpus.key}:{list(self.layers)}"
        if marker.is_file() and marker.read_text() != stamp:
            shutil.rmtree(self.parts_dir)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(stamp)
        return [chunk for chunk in range(self.n_chunks) if not self.chunk_path(chunk).is_file()]


def load_job_model(job: IndexJob, threads: int | None = None) -> LoadedModel:
    """The job's model, loaded where this runs (the driver on one machine, each Ray actor on a cluster)."""
    from .workspace import Workspace

    if threads:
        import torch

        torch.set_num_threads(threads)
    return Workspace.from_sources({job.key: job.source}, device=job.device, dtype=job.dtype).manager.get(job.key)


def index_chunk(loaded: LoadedModel, job: IndexJob, chunk: int, progress: Callable[[float, str], None] | None = None,
                sentences: Sequence[CorpusSentence] | None = None) -> int:
    """Index one chunk of sentences and write its file atomically; the number of tokens written. ``sentences`` are
    the chunk's own (a Ray actor is given only those); by default they are read from the job's corpus."""
    first = chunk * INDEX_CHUNK
    if sentences is None:
        corpus, (start, stop) = job.corpus, job.chunk_range(chunk)
    else:
        corpus, start, stop = Corpus(job.corpus.name, tuple(sentences)), 0, len(sentences)
    out = index_sentences(loaded, corpus, job.layers, progress=progress, start=start, stop=stop)
    arrays = {}
    for layer, (vectors, sentence_of, position_of, tokens) in out.items():
        arrays |= {f"v{layer}": vectors, f"s{layer}": sentence_of + np.int32(first - start), f"p{layer}": position_of,
                   f"t{layer}": np.array(tokens, dtype=object)}
    path = job.chunk_path(chunk)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return int(out[job.layers[0]][0].shape[0])


def join_job(job: IndexJob, ann: bool = False) -> None:
    """Join the chunk files into one index per layer (the format ``--corpus-index`` reads), then drop the parts."""
    for layer in job.layers:
        parts = []
        for chunk in range(job.n_chunks):
            with np.load(job.chunk_path(chunk), allow_pickle=True) as data:
                parts.append((data[f"v{layer}"], data[f"s{layer}"], data[f"p{layer}"], list(data[f"t{layer}"])))
        join_parts(job.key, layer, job.corpus, parts).save(job.out)
    shutil.rmtree(job.parts_dir)
    if ann:
        add_ann(job)


def is_written(job: IndexJob) -> bool:
    """The job's index is already there: every layer's files, for this model and this corpus."""
    found = {(item.model, item.layer) for item in describe_index(job.out)} if job.out.is_dir() else set()
    if not all((job.key, layer) in found for layer in job.layers):
        return False
    return all(json.loads((job.out / f"meta-L{layer}.json").read_text(encoding="utf-8"))["corpus_key"] == job.corpus.key
               for layer in job.layers)


def add_ann(job: IndexJob) -> None:
    """Build the faiss index of each layer that has none, from the written (memory-mapped) vectors."""
    from .analysis.ann import build_ann

    for layer in job.layers:
        path = ann_path(job.out, layer)
        if not path.is_file():
            build_ann(np.load(job.out / f"vectors-L{layer}.npy", mmap_mode="r")).save(path)
