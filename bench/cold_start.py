"""Cold start to first answer, from safetensors (what ``save_pretrained`` writes) and from a ``pytorch_model.bin``
like the hub's (what a Space's ``preload_from_hub`` downloads): a fresh interpreter per format and model, the
weights evicted from the page cache first, time to load and to the first fill-mask answer, and peak RSS.

    python -m bench.cold_start                     # both models, float32
    python -m bench.cold_start --models en-2048

Loading a ``.bin`` reads the whole file into memory (``torch.load``, weights_only) before the model is built, so
its peak RSS is about twice the weight bytes; safetensors maps the file.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from bench.run_bench import bench_cold_start_and_memory

TEXT = "The capital of France is [MASK]."


def bin_copy(directory: Path) -> Path:
    """A copy of a bench checkpoint with its weights as ``pytorch_model.bin`` (built once)."""
    target = directory.parent / f"{directory.name}-bin"
    if (target / "pytorch_model.bin").is_file():
        return target
    from transformers import XLMWithLMHeadModel

    model = XLMWithLMHeadModel.from_pretrained(directory)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=False)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (directory / name).is_file():
            shutil.copy(directory / name, target / name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["en-2048", "100-1280"])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    dirs = ensure_checkpoints(args.models, DEFAULT_BENCH_DIR)
    rows: list[dict[str, Any]] = []
    for key in args.models:
        for fmt, directory in (("safetensors", dirs[key]), ("bin", bin_copy(dirs[key]))):
            report = bench_cold_start_and_memory({key: directory}, "cpu", args.dtype, TEXT, TEXT, cold_disk=True)
            model = report["models"][key]
            row = {"model": key, "format": fmt, "load_s": model["load_s"], "first_answer_s": model["first_answer_s"],
                   "process_start_to_answer_s": report["process_start_to_all_answers_s"], "peak_rss_mib": report["peak_rss_mib"],
                   "peak_rss_over_weight_bytes": report["peak_rss_over_weight_bytes"],
                   "page_cache_evicted": report["page_cache_evicted_before"]}
            rows.append(row)
            print(f"{key} {fmt}: load {row['load_s']:.1f} s, first answer {row['first_answer_s']:.2f} s, process start to "
                  f"answer {row['process_start_to_answer_s']:.1f} s, peak RSS {row['peak_rss_mib']:.0f} MiB "
                  f"({row['peak_rss_over_weight_bytes']:.2f}x weights)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
