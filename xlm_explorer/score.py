"""Score a pair set of any size (CrowS-Pairs has 1,508) by every metric, from the command line, resumably.

    python -m xlm_explorer.score PAIRS --model en-2048|100-1280|both --metrics all --out results.json
    python -m xlm_explorer.score crows_pairs_anonymized.csv --model en-2048=./models/en-2048 --out r.json --crows-csv r.csv
    python -m xlm_explorer.score crows_pairs_fr.csv --lang fr --model 100-1280 --out fr.json

PAIRS is a CSV or TSV with the columns ``sent_more`` and ``sent_less`` (``id``, ``lang``, ``bias_type``,
``stereo_antistereo`` optional): CrowS-Pairs' own file is read as it is (its unnamed index column is the id).
Models come from ``XLM_EXPLORER_MODELS`` and ``--model KEY=PATH`` as in the app (the CLI wins); ``--model`` without
``=`` chooses which to run (default: both, or only the models given as KEY=PATH when no choice is named). Pairs
are scored in fixed chunks; each finished chunk is appended to ``<out>.partial.jsonl``, so an interrupted run
started again skips what is done and gives identical results. The output holds every pair row (the ``pll_pairs``
API's rows) and the summary per model and metric, with CrowS-Pairs' own numbers (``summary.<model>.crows``: as
its metric.py computes them, and unrounded; per bias type too); ``--crows-csv`` also writes metric.py's per-pair
columns.

A StereoSet file (``dev.json`` / ``test.json``, which you supply) is recognised by its content: its intrasentence
clusters are scored as StereoSet's code scores masked LMs and the output gives SS, LMS and ICAT per domain and
overall, as its ``evaluation.py`` computes them (see :mod:`xlm_explorer.analysis.bias.stereoset`).

    python -m xlm_explorer.score stereoset_dev.json --model both --out stereoset.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .analysis.bias.data import parse_pairs_table
from .analysis.bias import stereoset
from .analysis.bias.crows import CROWS_METRIC, metric_py_rows
from .analysis.bias.pairs import PAIR_METRICS, score_pairs, summarise_rows
from .checks import BOTH
from .errors import ModelLoadError, UserInputError
from .specs import MODEL_KEYS

if TYPE_CHECKING:
    from .models import LoadedModel

DEFAULT_CHUNK = 50
#: Stop after this many chunks (tests use it to simulate an interruption); unset: run to the end.
ENV_STOP_AFTER = "XLM_EXPLORER_SCORE_STOP_AFTER_CHUNKS"
EXIT_INTERRUPTED = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m xlm_explorer.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, help="CSV/TSV with sent_more, sent_less (id, lang, bias_type optional), "
                        "or a StereoSet JSON file")
    parser.add_argument("--model", action="append", default=[], metavar="CHOICE|KEY=PATH",
                        help=f"which models to run ({', '.join(MODEL_KEYS)} or both; default both), or where to load one from")
    parser.add_argument("--metrics", default="all", help=f"all, or a comma-separated list of {', '.join(PAIR_METRICS)}")
    parser.add_argument("--out", type=Path, required=True, help="the results JSON")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--batch-size", type=int, default=32, help="masked copies per forward pass")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="pairs per checkpointed chunk")
    parser.add_argument("--lang", default="en", help="the language of rows without a lang column (default en)")
    parser.add_argument("--crows-csv", type=Path, default=None,
                        help="also write metric.py's per-pair CSV (sent_more_score, sent_less_score, score, ...)")
    return parser.parse_args(argv)


def choose(args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """``(model keys to run, source items KEY=PATH, metrics)`` from the arguments."""
    choices = [m for m in args.model if "=" not in m]
    sources = [m for m in args.model if "=" in m]
    given = [s.split("=", 1)[0].strip() for s in sources]
    if choices:
        choice = choices[-1]
    else:  # only KEY=PATH: run those models (not the other one too)
        choice = given[0] if len(set(given)) == 1 and given[0] in MODEL_KEYS else BOTH
    if choice != BOTH and choice not in MODEL_KEYS:
        raise UserInputError(f"--model {choice!r}: choose {', '.join(MODEL_KEYS)} or {BOTH} (or give KEY=PATH).")
    keys = list(MODEL_KEYS) if choice == BOTH else [choice]
    metrics = list(PAIR_METRICS) if args.metrics == "all" else [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in PAIR_METRICS]
    if unknown or not metrics:
        raise UserInputError(f"--metrics: unknown {', '.join(unknown) or 'nothing'}; choose all or from {', '.join(PAIR_METRICS)}.")
    if "pll" not in metrics:
        metrics.insert(0, "pll")  # every row carries pll_more / pll_less (the API's rows)
    return keys, sources, metrics


def read_done(partial: Path, settings: dict[str, Any]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Chunks finished by an earlier run with the same settings: ``(model, chunk) -> rows``."""
    done: dict[tuple[str, int], list[dict[str, Any]]] = {}
    if not partial.is_file():
        return done
    lines = partial.read_text(encoding="utf-8").splitlines()
    if not lines or json.loads(lines[0]).get("settings") != settings:
        partial.unlink()  # another pair set or other settings: start over
        return done
    for line in lines[1:]:
        try:
            item = json.loads(line)
        except ValueError:  # a line cut short by the interruption
            continue
        done[(item["model"], int(item["chunk"]))] = item["rows"]
    return done


def append(partial: Path, item: dict[str, Any]) -> None:
    with partial.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def run_stereoset(args: argparse.Namespace, text: str) -> int:
    """A StereoSet file: every cluster scored by each model, SS / LMS / ICAT per domain and overall."""
    from .workspace import Workspace

    keys, sources, _metrics = choose(args)
    clusters = stereoset.parse_stereoset(text)
    ws = Workspace.from_settings(sources, device=args.device, dtype=args.dtype)
    started = time.perf_counter()
    results, rows = {}, []
    for key in keys:
        loaded = ws.manager.get(key)
        say_precision(loaded)

        def progress(fraction: float, message: str, _key: str = key) -> None:
            print(f"\r{_key}: {message}    ", end="", file=sys.stderr, flush=True)

        scores = stereoset.score_clusters(loaded, clusters, args.lang, args.batch_size, progress)
        results[key] = stereoset.evaluate(clusters, scores)
        rows += [{"model": key, **row} for row in stereoset.cluster_rows(clusters, scores)]
    output = {"benchmark": "stereoset-intrasentence", "n_clusters": len(clusters), "models": keys, "results": results, "rows": rows}
    args.out.write_text(json.dumps(output, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\n{len(clusters)} clusters x {len(keys)} models in {time.perf_counter() - started:.0f} s -> {args.out}", file=sys.stderr)
    return 0


def is_stereoset(text: str) -> bool:
    return text.lstrip().startswith("{") and '"intrasentence"' in text


def run(args: argparse.Namespace) -> int:
    from .workspace import Workspace

    text = args.pairs.read_bytes().decode("utf-8-sig")
    if is_stereoset(text):
        return run_stereoset(args, text)
    keys, sources, metrics = choose(args)
    lang = args.lang.strip() or "en"
    pairs = parse_pairs_table(text, default_lang=lang, max_pairs=None)
    chunk = max(1, int(args.chunk))
    settings = {"pairs": [p.__dict__ for p in pairs], "metrics": metrics, "chunk": chunk, "dtype": args.dtype, "models": keys}
    partial = args.out.with_name(args.out.name + ".partial.jsonl")
    done = read_done(partial, settings)
    if not partial.is_file():
        partial.parent.mkdir(parents=True, exist_ok=True)
        append(partial, {"settings": settings})
    ws = Workspace.from_settings(sources, device=args.device, dtype=args.dtype)
    n_chunks = (len(pairs) + chunk - 1) // chunk
    stop_after = int(os.environ.get(ENV_STOP_AFTER, "0") or 0)
    ran = 0
    started = time.perf_counter()
    for key in keys:
        loaded = ws.manager.get(key)
        say_precision(loaded)
        for index in range(n_chunks):
            if (key, index) in done:
                continue
            part = pairs[index * chunk : (index + 1) * chunk]

            def progress(fraction: float, message: str, _i: int = index) -> None:
                print(f"\r{key}: chunk {_i + 1}/{n_chunks} ({len(part)} pairs): {message}    ", end="", file=sys.stderr, flush=True)

            result = score_pairs([loaded], part, batch_size=args.batch_size, progress=progress, metrics=metrics)
            rows = [s.to_row(metrics) for s in result.scores]
            append(partial, {"model": key, "chunk": index, "rows": rows})
            done[(key, index)] = rows
            ran += 1
            if stop_after and ran >= stop_after:
                print(f"\nstopped after {ran} chunk(s) ({ENV_STOP_AFTER}); run again to resume", file=sys.stderr)
                return EXIT_INTERRUPTED
    rows = [row for key in keys for index in range(n_chunks) for row in done[(key, index)]]
    output = {"n_pairs": len(pairs), "models": keys, "metrics": metrics, "summary": summarise_rows(rows, metrics), "rows": rows}
    args.out.write_text(json.dumps(output, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.crows_csv is not None and CROWS_METRIC in metrics:
        write_crows_csv(args.crows_csv, rows)
    partial.unlink(missing_ok=True)
    print(f"\n{len(rows)} rows ({len(pairs)} pairs x {len(keys)} models) in {time.perf_counter() - started:.0f} s -> {args.out}",
          file=sys.stderr)
    return 0


def write_crows_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """metric.py's per-pair table (one row per pair and model)."""
    table = metric_py_rows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]) if table else ["id"])
        writer.writeheader()
        writer.writerows(table)


def say_precision(loaded: LoadedModel) -> None:
    """A batch command's line on how a model loaded in bfloat16 agrees with float32 (nothing in float32)."""
    if loaded.precision is not None:
        print(f"{loaded.key}: {loaded.precision.line()}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (UserInputError, ModelLoadError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
