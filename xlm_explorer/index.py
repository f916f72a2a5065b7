"""Index a corpus for contextual token search, as a batch job (a GPU when there is one), resumably.

    python -m xlm_explorer.index CORPUS --model 100-1280 --layers 8,16 --out INDEX
    python -m xlm_explorer.index CORPUS --model 100-1280 --layers 8 --out INDEX --ray auto   # on a Ray cluster
    python app.py --corpus-index INDEX          # the Explain tab's token search then searches INDEX

CORPUS is a CSV/TSV with a ``text`` column (``lang`` optional) or plain lines (``--lang`` for all of them). Every
non-special token's hidden state at each layer is stored unit-normalised as float16 (``vectors-L<layer>.npy``),
with its sentence and position. Sentences are indexed in fixed chunks; each finished chunk is saved under
``INDEX/parts``, so an interrupted run started again goes on where it stopped (a chunk written is never computed
again), and the result equals what the app computes for the same corpus. With ``--ray ADDRESS`` the chunks are a
Ray Data dataset mapped by one model actor per worker (:mod:`xlm_explorer.index_ray`); the files are the same.
Search is a chunked matrix product up to a few million tokens; ``--ann`` also builds a faiss index that the app
searches beyond that (docs/explain.md has the numbers, docs/running.md the costs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .analysis.ann import ANN_ADVISED_FROM
from .analysis.token_search import describe_index, parse_corpus
from .errors import ModelLoadError, UserInputError
from .index_job import IndexJob, add_ann, index_chunk, is_written, join_job, load_job_model
from .score import say_precision
from .specs import MODEL_KEYS, XLM_100_LANGUAGES

#: Stop after this many chunks (tests use it to simulate an interruption).
ENV_STOP_AFTER = "XLM_EXPLORER_INDEX_STOP_AFTER_CHUNKS"
EXIT_INTERRUPTED = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m xlm_explorer.index", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--model", action="append", default=[], metavar="KEY|KEY=PATH",
                        help=f"the model to index with ({', '.join(MODEL_KEYS)}), and optionally where to load it from")
    parser.add_argument("--layers", default="last", help="comma-separated layer numbers (0 = embeddings) or 'last'")
    parser.add_argument("--lang", default="en", help="language of lines without one")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--ray", metavar="ADDRESS", default=None,
                        help="run as a Ray Data job: 'auto' (the cluster this machine belongs to), 'local' (start one "
                             "here), or ray://HOST:PORT; needs the ray extra (pip install -r requirements-scale.txt)")
    parser.add_argument("--workers", type=int, default=0, help="with --ray: model actors (default: one per GPU, or per CPU core with --device cpu)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0, help="with --ray on CPUs: cores (and torch threads) per actor")
    parser.add_argument("--ann", action="store_true",
                        help="also build a faiss index per layer (faiss-L<layer>.index) for searching indexes beyond memory")
    return parser.parse_args(argv)


def plan_job(args: argparse.Namespace) -> IndexJob:
    """The job the arguments ask for; the model's layer count is read from its config (no weights loaded)."""
    from .models import ModelManager, resolve_sources

    keys = [m for m in args.model if "=" not in m]
    if len(keys) != 1 or keys[0] not in MODEL_KEYS:
        raise UserInputError(f"--model: name one model to index with ({', '.join(MODEL_KEYS)}).")
    key = keys[0]
    sources = resolve_sources([m for m in args.model if "=" in m])
    n_layers = ModelManager(sources).shape(key)["n_layers"]
    layers = sorted({n_layers if part.strip() == "last" else int(part) for part in args.layers.split(",") if part.strip()})
    if not layers or not all(0 <= layer <= n_layers for layer in layers):
        raise UserInputError(f"--layers: {key} has layers 0 to {n_layers}.")
    corpus = parse_corpus(args.corpus.read_text(encoding="utf-8-sig"), args.lang, XLM_100_LANGUAGES, limit=10**8,
                          name=args.corpus.name)
    return IndexJob(key, str(sources[key]), tuple(layers), corpus, args.out, args.device, args.dtype)


def run_here(job: IndexJob, todo: Sequence[int]) -> Iterator[int]:
    """Index the chunks still to do on this machine, one after another; yields each chunk as it is written."""
    loaded = load_job_model(job)
    say_precision(loaded)
    for chunk in todo:
        def progress(fraction: float, message: str, _c: int = chunk) -> None:
            print(f"\rchunk {_c + 1}/{job.n_chunks}: {message}    ", end="", file=sys.stderr, flush=True)

        index_chunk(loaded, job, chunk, progress)
        yield chunk


def run(args: argparse.Namespace) -> int:
    job = plan_job(args)
    if is_written(job):  # a run again over a finished index: nothing to compute, a faiss index to add if asked
        if args.ann:
            add_ann(job)
        print(f"{job.out} already holds this index ({len(job.corpus):,} sentences, layers {list(job.layers)})"
              f"{'; faiss index added where missing' if args.ann else ''}", file=sys.stderr)
        return 0
    todo = job.prepare()
    stop_after, started = int(os.environ.get(ENV_STOP_AFTER, "0") or 0), time.perf_counter()
    if args.ray:
        from .index_ray import run_on_ray

        chunks = run_on_ray(job, todo, args.ray, workers=args.workers, cpus_per_worker=args.cpus_per_worker)
    else:
        chunks = run_here(job, todo)
    for ran, chunk in enumerate(chunks, start=1):
        if args.ray:
            print(f"\rchunk {chunk + 1} written ({ran}/{len(todo)} this run)    ", end="", file=sys.stderr, flush=True)
        if stop_after and ran >= stop_after:
            print(f"\nstopped after {ran} chunk(s) ({ENV_STOP_AFTER}); run again to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
    missing = [chunk for chunk in range(job.n_chunks) if not job.chunk_path(chunk).is_file()]
    if missing:
        print(f"\n{len(missing)} chunk(s) were not written; run again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    join_job(job, ann=args.ann)
    n_tokens = max((item.n_tokens for item in describe_index(job.out)), default=0)
    if n_tokens > ANN_ADVISED_FROM and not args.ann:
        print(f"\n{n_tokens:,} tokens per layer: past {ANN_ADVISED_FROM:,} an exact search reads every vector per query; "
              "run the same command again with --ann (nothing is recomputed) to search it with faiss", file=sys.stderr)
    print(f"\nindexed {len(job.corpus):,} sentences at layers {list(job.layers)} in {time.perf_counter() - started:.0f} s "
          f"({len(todo)} chunk(s) computed this run) -> {job.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (UserInputError, ModelLoadError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
