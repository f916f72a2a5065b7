"""The index command as a Ray Data job: the chunks still to do are a dataset, mapped by a pool of model actors.

Each row of the dataset is one chunk, its number and its
:data:`~xlm_explorer.analysis.token_search.INDEX_CHUNK` sentences, so a worker indexes exactly the sentences the
one-machine command would, in the same batches, and writes the same chunk file (the files equal the one-machine run's to the bit on the same hardware and dtype). Each actor loads the model
once; on a cluster the output folder must be one every worker can write (a shared file system), and the model
source one every worker can read (a hub id with its cache, or a path present on each node). Ray is an optional
extra (``pip install -r requirements-scale.txt``); nothing else in the project imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .analysis.token_search import Corpus, CorpusSentence
from .errors import UserInputError
from .index_job import IndexJob, index_chunk, load_job_model


class ChunkIndexer:
    """A Ray Data actor: loads the job's model once, then indexes the chunks of each batch it is given."""

    def __init__(self, job: IndexJob, threads: int) -> None:
        self.job = job
        self.loaded = load_job_model(job, threads=threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tokens = []
        for chunk, langs, texts in zip(batch["chunk"], batch["lang"], batch["text"]):
            sentences = [CorpusSentence(str(text), str(lang)) for lang, text in zip(langs, texts)]
            tokens.append(index_chunk(self.loaded, self.job, int(chunk), sentences=sentences))
        return {"chunk": np.asarray(batch["chunk"], np.int64), "tokens": np.asarray(tokens, np.int64)}


def connect(address: str) -> None:
    """Join (or, with 'local', start) a Ray instance, shipping this package to its workers; nothing when one is up."""
    try:
        import ray
    except ImportError as error:
        raise UserInputError("--ray needs Ray: pip install -r requirements-scale.txt") from error
    if ray.is_initialized():
        return
    runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)]}
    ray.init(address=None if address == "local" else address, runtime_env=runtime_env, log_to_driver=False)


def run_on_ray(job: IndexJob, todo: Sequence[int], address: str, workers: int = 0, cpus_per_worker: float = 1.0) -> Iterator[int]:
    """Index the chunks still to do on a Ray cluster; yields each chunk as its file is written."""
    connect(address)
    import ray
    import ray.data

    if not todo:
        return
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command prints one line per chunk written
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    on_gpu = job.device == "cuda" or (job.device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
    resources: dict[str, Any] = {"num_gpus": 1} if on_gpu else {"num_cpus": cpus_per_worker}
    available = ray.cluster_resources().get("GPU" if on_gpu else "CPU", 1)
    pool = workers or max(1, int(available // (1 if on_gpu else cpus_per_worker)))
    pool = min(pool, len(todo))
    threads = max(1, int(cpus_per_worker))
    # the actors are given the model and layers, not the corpus: each row carries its chunk's sentences
    actor_job = replace(job, corpus=Corpus(job.corpus.name, ()), device="cuda" if on_gpu else job.device)
    rows = []
    for chunk in todo:
        start, stop = job.chunk_range(chunk)
        sentences = job.corpus.sentences[start:stop]
        rows.append({"chunk": chunk, "lang": [s.lang for s in sentences], "text": [s.text for s in sentences]})
    dataset = ray.data.from_items(rows, override_num_blocks=len(todo))
    mapped = dataset.map_batches(
        ChunkIndexer, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool),
        fn_constructor_kwargs={"job": actor_job, "threads": threads}, **resources,
    )
    for row in mapped.iter_rows():
        yield int(row["chunk"])
