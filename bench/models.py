"""Full-size random-weight XLM checkpoints for the benchmark (no download).

Random weights cost the same compute and the same bytes as the real ones, so every timing here is
what the real models would take. Each checkpoint is built once from
``MODEL_SPECS[key].config_overrides`` and saved with ``save_pretrained`` (safetensors) into a cache
directory, so later runs measure loading from disk the way the app loads a local copy.

The tokenizer is a real :class:`~transformers.XLMTokenizer`: BPE merges learned from the shipped
corpus (as the tiny checkpoints do), its vocabulary padded with filler pieces to the real vocabulary
size, so token ids span the whole embedding table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from xlm_explorer.specs import MODEL_SPECS
from xlm_explorer.tiny import corpus_texts, learn_bpe, save_tokenizer

DEFAULT_BENCH_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xlm-explorer" / "bench"
#: bumped when the checkpoint layout changes, so stale caches are rebuilt
FORMAT_VERSION = 1
MARKER = "bench-checkpoint.json"
N_MERGES = 600


def padded_vocab(size: int, lowercase: bool, n_merges: int = N_MERGES) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A BPE vocabulary of exactly ``size`` pieces: learned pieces first, then ``fillNNN</w>`` pieces.

    Returns ``(vocab, merges)``; ids 0..13 are XLM's special tokens.
    """
    vocab, merges = learn_bpe(corpus_texts(), n_merges=n_merges, lowercase=lowercase)
    if len(vocab) > size:
        raise ValueError(f"learned vocabulary ({len(vocab)}) is larger than the target size {size}")
    index = 0
    while len(vocab) < size:
        vocab.setdefault(f"fill{index}</w>", len(vocab))
        index += 1
    return vocab, merges


def checkpoint_is_complete(directory: Path, key: str, config_overrides: dict | None = None) -> bool:
    """Whether ``directory`` holds a finished bench checkpoint for ``key`` (built with these overrides)."""
    marker = directory / MARKER
    if not marker.is_file():
        return False
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = _overrides_fingerprint(config_overrides if config_overrides is not None else MODEL_SPECS[key].config_overrides)
    return info.get("format") == FORMAT_VERSION and info.get("key") == key and info.get("overrides") == expected


def _overrides_fingerprint(overrides: dict) -> dict:
    return {k: v for k, v in overrides.items() if k not in ("lang2id", "id2lang")}


def build_checkpoint(
    directory: str | Path,
    key: str,
    *,
    config_overrides: dict | None = None,
    seed: int = 0,
    n_merges: int = N_MERGES,
    log=print,
) -> Path:
    """Write a random-weight checkpoint of model ``key`` (real architecture unless ``config_overrides``).

    ``config_overrides`` replaces the spec's architecture values (the smoke test builds a tiny one).
    """
    import torch
    from transformers import XLMConfig, XLMWithLMHeadModel

    spec = MODEL_SPECS[key]
    overrides = dict(spec.config_overrides if config_overrides is None else config_overrides)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).unlink(missing_ok=True)
    started = time.perf_counter()
    lowercase = spec.do_lowercase_and_remove_accent
    vocab, merges = padded_vocab(int(overrides["vocab_size"]), lowercase, n_merges)
    config = XLMConfig(dropout=0.0, attention_dropout=0.0, **overrides)
    torch.manual_seed(seed)
    model = XLMWithLMHeadModel(config).eval()
    n_params = sum(p.numel() for p in model.parameters())
    log(f"  built {key} ({n_params / 1e6:.0f}M parameters) in {time.perf_counter() - started:.1f} s; saving…")
    model.save_pretrained(directory)
    del model
    save_tokenizer(directory, vocab, merges, lowercase=lowercase, lang2id=overrides.get("lang2id"), id2lang=overrides.get("id2lang"))
    (directory / MARKER).write_text(
        json.dumps(
            {"format": FORMAT_VERSION, "key": key, "overrides": _overrides_fingerprint(overrides), "parameters": n_params}
        ),
        encoding="utf-8",
    )
    log(f"  saved {key} to {directory} in {time.perf_counter() - started:.1f} s")
    return directory


def ensure_checkpoints(keys: list[str] | tuple[str, ...], root: str | Path = DEFAULT_BENCH_DIR, log=print) -> dict[str, Path]:
    """``{key: directory}`` of full-size random-weight checkpoints under ``root``, built when missing."""
    root = Path(root)
    paths: dict[str, Path] = {}
    for key in keys:
        directory = root / key
        if not checkpoint_is_complete(directory, key):
            log(f"building full-size random-weight checkpoint {key} in {directory} (once)…")
            build_checkpoint(directory, key, log=log)
        paths[key] = directory
    return paths


def weight_bytes(directory: str | Path) -> int:
    """Bytes of the weights as stored (sum of ``*.safetensors`` files in ``directory``)."""
    return sum(path.stat().st_size for path in Path(directory).glob("*.safetensors"))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="build the benchmark's full-size random-weight checkpoints")
    parser.add_argument("--models", default=",".join(MODEL_SPECS), help="comma-separated keys")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_BENCH_DIR)
    args = parser.parse_args()
    print(ensure_checkpoints([k.strip() for k in args.models.split(",") if k.strip()], args.cache_dir))
