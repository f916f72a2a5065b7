"""Index a corpus for contextual token search, as a batch job (a GPU when there is one), resumably.

    python -m xlm_explorer.index CORPUS --model 100-1280 --layers 8,16 --out INDEX
    python app.py --corpus-index INDEX          # the Explain tab's token search then searches INDEX

CORPUS is a CSV/TSV with a ``text`` column (``lang`` optional) or plain lines (``--lang`` for all of them). Every
non-special token's hidden state at each layer is stored unit-normalised as float16 (``vectors-L<layer>.npy``),
with its sentence and position. Sentences are indexed in fixed chunks; each finished chunk is saved under
``INDEX/parts``, so an interrupted run started again goes on where it stopped, and the result equals what the app
computes for the same corpus. Search is a chunked matrix product: 100k tokens take milliseconds, and it stays
practical up to a few million tokens (memory: tokens x hidden x 2 bytes per layer); docs/explain.md has the numbers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .analysis.token_search import INDEX_CHUNK, index_sentences, join_parts, parse_corpus
from .errors import ModelLoadError, UserInputError
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
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    import os

    from .workspace import Workspace

    keys = [m for m in args.model if "=" not in m]
    if len(keys) != 1 or keys[0] not in MODEL_KEYS:
        raise UserInputError(f"--model: name one model to index with ({', '.join(MODEL_KEYS)}).")
    key = keys[0]
    ws = Workspace.from_settings([m for m in args.model if "=" in m], device=args.device, dtype=args.dtype)
    loaded = ws.manager.get(key)
    layers = sorted({loaded.n_layers if part.strip() == "last" else int(part) for part in args.layers.split(",") if part.strip()})
    if not layers or not all(0 <= layer <= loaded.n_layers for layer in layers):
        raise UserInputError(f"--layers: {key} has layers 0 to {loaded.n_layers}.")
    corpus = parse_corpus(args.corpus.read_text(encoding="utf-8-sig"), args.lang, XLM_100_LANGUAGES, limit=10**8,
                          name=args.corpus.name)
    parts_dir = args.out / "parts"
    marker = parts_dir / "corpus-key.txt"
    if marker.is_file() and marker.read_text() != f"{key}:{corpus.key}:{layers}":
        shutil.rmtree(parts_dir)  # another corpus, model or layer set: start over
    parts_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{key}:{corpus.key}:{layers}")
    n_chunks = (len(corpus) + INDEX_CHUNK - 1) // INDEX_CHUNK
    stop_after, ran, started = int(os.environ.get(ENV_STOP_AFTER, "0") or 0), 0, time.perf_counter()
    for chunk in range(n_chunks):
        path = parts_dir / f"chunk-{chunk:06d}.npz"
        if path.is_file():
            continue

        def progress(fraction: float, message: str, _c: int = chunk) -> None:
            print(f"\rchunk {_c + 1}/{n_chunks}: {message}    ", end="", file=sys.stderr, flush=True)

        out = index_sentences(loaded, corpus, layers, progress=progress, start=chunk * INDEX_CHUNK, stop=(chunk + 1) * INDEX_CHUNK)
        arrays = {}
        for layer, (vectors, sentence_of, position_of, tokens) in out.items():
            arrays |= {f"v{layer}": vectors, f"s{layer}": sentence_of, f"p{layer}": position_of, f"t{layer}": np.array(tokens, dtype=object)}
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
        ran += 1
        if stop_after and ran >= stop_after:
            print(f"\nstopped after {ran} chunk(s) ({ENV_STOP_AFTER}); run again to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
    for layer in layers:
        parts = []
        for chunk in range(n_chunks):
            with np.load(parts_dir / f"chunk-{chunk:06d}.npz", allow_pickle=True) as data:
                parts.append((data[f"v{layer}"], data[f"s{layer}"], data[f"p{layer}"], list(data[f"t{layer}"])))
        join_parts(key, layer, corpus, parts).save(args.out)
    shutil.rmtree(parts_dir)
    print(f"\nindexed {len(corpus):,} sentences at layers {layers} in {time.perf_counter() - started:.0f} s -> {args.out}",
          file=sys.stderr)
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
