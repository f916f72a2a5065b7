"""XLM Explorer benchmark: the app's speed against the hardware's limits and the naive baseline.

One command (from the repository root)::

    python -m bench.run_bench              # full run (builds the random-weight models once)
    python -m bench.run_bench --quick      # fewer repetitions and sizes
    python -m bench.run_bench --models 100-1280 --skip-umap --device cuda

It builds full-size random-weight copies of both models (``bench/models.py``; same compute and bytes as
the real ones), then measures in one run: the physical bounds (memory read bandwidth, matmul peak
fp32/bf16), fill-mask through the app's code at several lengths against ``transformers.pipeline``,
bfloat16 against float32 (speed and top-10 agreement), the forward cache, attention extraction +
bertviz HTML, embeddings of 200 sentences, UMAP at 200/1,000/5,000 points, cold load to first answer,
and peak RSS with both models loaded (in a child process). Results go to ``bench/results/`` as JSON
and a markdown table; every timing is the min and median over repetitions after a warm-up.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.models import DEFAULT_BENCH_DIR, ensure_checkpoints
from xlm_explorer.specs import MODEL_KEYS

REPO_ROOT = Path(__file__).resolve().parents[1]

RESULTS_DIR = REPO_ROOT / "bench" / "results"
SENTENCES_FILE = REPO_ROOT / "assets" / "data" / "parallel_sentences.tsv"
DEFAULT_LENGTHS = (16, 64, 256)
UMAP_SIZES = (200, 1000, 5000)
TOP_K = 10


# --------------------------------------------------------------------------------------------------
# timing helpers


@dataclass(frozen=True)
class Timing:
    """Seconds of ``reps`` timed calls after ``warmup`` untimed ones."""

    min_s: float
    median_s: float
    reps: int
    samples: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"min_s": self.min_s, "median_s": self.median_s, "reps": self.reps, "samples_s": list(self.samples)}


def make_sync(device: str) -> Callable[[], None]:
    """A function that waits for queued device work (CUDA kernels are asynchronous)."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def time_call(fn: Callable[[], Any], *, warmup: int = 1, reps: int = 5, sync: Callable[[], None] = lambda: None) -> Timing:
    """Time ``fn`` (min and median of ``reps`` calls after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(max(1, reps)):
        started = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - started)
    return Timing(min(samples), statistics.median(samples), len(samples), tuple(samples))


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# --------------------------------------------------------------------------------------------------
# machine facts and physical bounds


def system_info(device: str) -> dict[str, Any]:
    import torch
    import transformers

    cpu_model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = None
    info: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "hostname": platform.node(),
        "machine": platform.machine(),
        "cpu": cpu_model,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "amx_bf16": "amx_bf16" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": device,
        "loadavg_start": loadavg(),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def measure_bandwidth(device: str, mib: int, reps: int) -> dict[str, Any]:
    """Memory read bandwidth: a sum over a ``mib`` MiB float32 buffer (much larger than the caches)."""
    import torch

    sync = make_sync(device)
    buffer = torch.ones(mib * 2**20 // 4, dtype=torch.float32, device=device)
    timing = time_call(lambda: buffer.sum(), warmup=1, reps=reps, sync=sync)
    copy_target = torch.empty_like(buffer)
    copy_timing = time_call(lambda: copy_target.copy_(buffer), warmup=1, reps=reps, sync=sync)
    nbytes = buffer.numel() * 4
    del buffer, copy_target
    return {
        "buffer_mib": mib,
        "read_gb_s": nbytes / timing.min_s / 1e9,
        "read_gb_s_median": nbytes / timing.median_s / 1e9,
        "copy_gb_s": 2 * nbytes / copy_timing.min_s / 1e9,
        "method": "torch sum over the buffer (read); copy counts read + write bytes",
    }


def measure_matmul_peak(device: str, sizes: Sequence[int], reps: int,
                        dtypes: Sequence[str] = ("float32", "bfloat16")) -> dict[str, Any]:
    """Best GFLOP/s of square matmuls in each of ``dtypes`` (2 n^3 FLOPs each). bfloat16 without native support
    (no AVX512-BF16 or AMX) runs a slow fallback: minutes at n = 4096 on 2 cores, so leave it out where unused."""
    import torch

    sync = make_sync(device)
    result: dict[str, Any] = {"sizes": list(sizes)}
    for name in dtypes:
        dtype = getattr(torch, name)
        best, per_size = 0.0, {}
        for n in sizes:
            a = torch.randn(n, n, device=device).to(dtype)
            b = torch.randn(n, n, device=device).to(dtype)
            timing = time_call(lambda: a @ b, warmup=1, reps=reps, sync=sync)
            gflops = 2 * n**3 / timing.min_s / 1e9
            per_size[str(n)] = gflops
            best = max(best, gflops)
        result[f"{name}_gflop_s"] = best
        result[f"{name}_by_size"] = per_size
    return result


# --------------------------------------------------------------------------------------------------
# model-side arithmetic


def unique_weight_bytes(model: Any) -> int:
    """Bytes of the model's parameters and buffers in memory, tied tensors counted once."""
    seen: dict[int, int] = {}
    for tensor in list(model.parameters()) + list(model.buffers()):
        try:
            address = tensor.data_ptr()
        except RuntimeError:  # opaque (e.g. oneDNN-packed) tensors have no data pointer
            address = -id(tensor)
        seen[address] = tensor.numel() * tensor.element_size()
    return sum(seen.values())


def body_flops(n_layers: int, hidden: int, tokens: int) -> float:
    """FLOPs of the transformer body on one sequence of ``tokens``: projections, FFN and attention."""
    linear = 2 * tokens * 12 * hidden * hidden  # q, k, v, out (4 H^2) + FFN (8 H^2)
    attention = 2 * 2 * tokens * tokens * hidden  # scores and weighted sum
    return float(n_layers * (linear + attention))


def head_flops(hidden: int, vocab: int, rows: int) -> float:
    return float(2 * rows * hidden * vocab)


def attribution_flops(n_layers: int, hidden: int, tokens: int, n_steps: int) -> float:
    """Integrated gradients: each step a forward and a backward through the body (about 3 forwards)."""
    return n_steps * 3 * body_flops(n_layers, hidden, tokens)


def patched_blocks(n_layers: int) -> int:
    """Blocks run per position by a patching sweep that reuses the clean run below the patched layer: patched at
    layer l (0..L) only the L - l blocks above run, so L(L+1)/2 (without the reuse: (L+1) L)."""
    return n_layers * (n_layers + 1) // 2


def patching_flops(n_layers: int, hidden: int, vocab: int, tokens: int) -> float:
    """The sweep over every layer x position: ``patched_blocks`` per position, then the head at the mask."""
    return tokens * patched_blocks(n_layers) * body_flops(1, hidden, tokens) + head_flops(hidden, vocab, tokens * (n_layers + 1))


# --------------------------------------------------------------------------------------------------
# inputs


def single_piece_words(loaded: Any, limit: int = 64) -> list[str]:
    """Words the model's tokenizer keeps as one piece (so a text of n words is exactly n tokens)."""
    from xlm_explorer.tokenization import encode_text

    candidates = sorted(
        piece[:-4]
        for piece in loaded.tokenizer.get_vocab()
        if piece.endswith("</w>") and piece[:-4].isascii() and piece[:-4].isalpha() and piece[:-4].islower() and len(piece) >= 7
    )
    words = []
    for word in candidates:
        if len(encode_text(loaded, word, "en").input_ids) == 3:
            words.append(word)
        if len(words) >= limit:
            break
    if not words:
        raise RuntimeError(f"no single-piece words found in {loaded.key}'s vocabulary")
    return words


def masked_text(words: Sequence[str], n_tokens: int, n_masks: int, seed: int, mask: str = "[MASK]") -> str:
    """A text that encodes to exactly ``n_tokens`` tokens (``<s>`` and ``</s>`` included) with ``n_masks`` masks."""
    rng = random.Random(seed)
    n_words = n_tokens - 2
    mask_slots = {round((i + 0.5) * n_words / n_masks) for i in range(n_masks)}
    return " ".join(mask if i in mask_slots else rng.choice(words) for i in range(n_words))


def masks_for(n_tokens: int) -> int:
    """Masks placed in a benchmark input: one per 16 tokens (1 at 16, 4 at 64, 16 at 256)."""
    return max(1, n_tokens // 16)


def benchmark_sentences(n: int) -> tuple[list[str], list[str]]:
    """The first ``n`` rows of the shipped parallel sentences (15 languages), repeated if needed."""
    import csv

    texts, langs = [], []
    with SENTENCES_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            texts.append(row["text"])
            langs.append(row["lang"])
    reps = (n + len(texts) - 1) // len(texts)
    return (texts * reps)[:n], (langs * reps)[:n]


# --------------------------------------------------------------------------------------------------
# per-model measurements


def time_interleaved(fns: dict[str, Callable[[], Any]], *, warmup: int = 1, reps: int = 5, sync: Callable[[], None] = lambda: None) -> dict[str, Timing]:
    """Time several variants round-robin (A B C A B C ...), so that load from other work on the machine
    slows them alike instead of favouring whichever ran at a quiet moment."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, reps)):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            sync()
            samples[name].append(time.perf_counter() - started)
    return {name: Timing(min(v), statistics.median(v), len(v), tuple(v)) for name, v in samples.items()}


def plain_fill_mask_pipeline(loaded: Any, source: Path) -> Any:
    """The baseline: ``transformers.pipeline("fill-mask")`` on the checkpoint loaded the plain way
    (``XLMWithLMHeadModel.from_pretrained``, no app optimisations); the tokenizer is the app's."""
    import torch
    from transformers import XLMWithLMHeadModel, pipeline

    model = XLMWithLMHeadModel.from_pretrained(str(source), dtype=torch.float32).to(loaded.device).eval()
    return pipeline("fill-mask", model=model, tokenizer=loaded.tokenizer, device=loaded.device, top_k=TOP_K)


def bench_fill_mask(
    loaded: Any,
    lengths: Sequence[int],
    reps: int,
    sync: Callable[[], None],
    words: Sequence[str],
    *,
    pipe: Any = None,
    bf16: Any = None,
) -> dict[str, Any]:
    """Fill-mask at each length: the app's ``predict_masks`` (fresh forward cache each call, so every
    call runs the model) in float32, and, timed round-robin with it, the pipeline baseline and the app
    in bfloat16 when given. Returns ``{"app": .., "pipeline": .., "bfloat16": ..}`` keyed by length."""
    from xlm_explorer.analysis.fill_mask import predict_masks
    from xlm_explorer.forward import ForwardCache
    from xlm_explorer.tokenization import encode_text

    out: dict[str, Any] = {"app": {}, "pipeline": {}, "bfloat16": {}}
    special = loaded.special_ids
    for n_tokens in lengths:
        n_masks = masks_for(n_tokens)
        text = masked_text(words, n_tokens, n_masks, seed=n_tokens)
        encoded = encode_text(loaded, text, "en")
        if len(encoded.input_ids) != n_tokens or len(encoded.mask_positions) != n_masks:
            raise RuntimeError(f"benchmark text encodes to {len(encoded.input_ids)} tokens, not {n_tokens}")
        answers: dict[str, Any] = {}
        fns: dict[str, Callable[[], Any]] = {"app": lambda: answers.__setitem__("app", predict_masks(loaded, ForwardCache(), text, "en", TOP_K))}
        pipe_text = text.replace("[MASK]", loaded.tokenizer.mask_token)
        if pipe is not None:
            fns["pipeline"] = lambda: answers.__setitem__("pipeline", pipe(pipe_text))
        if bf16 is not None:
            fns["bfloat16"] = lambda: answers.__setitem__("bfloat16", predict_masks(bf16, ForwardCache(), text, "en", TOP_K))
        timings = time_interleaved(fns, warmup=1, reps=reps, sync=sync)
        app_ids = [[s.token_id for s in m.predictions] for m in answers["app"].masks]
        length = str(n_tokens)
        out["app"][length] = {"tokens": n_tokens, "masks": n_masks, "time": timings["app"].to_dict(), "text": text}
        if pipe is not None:
            per_mask = answers["pipeline"] if n_masks > 1 else [answers["pipeline"]]
            top1, overlaps = [], []
            for ids, candidates in zip(app_ids, per_mask):
                pipe_ids = [int(c["token"]) for c in candidates if int(c["token"]) not in special]
                top1.append(bool(pipe_ids) and pipe_ids[0] == ids[0])
                overlaps.append(len(set(pipe_ids) & set(ids[: len(pipe_ids)])) / max(1, len(pipe_ids)))
            out["pipeline"][length] = {
                "tokens": len(loaded.tokenizer(pipe_text)["input_ids"]),
                "time": timings["pipeline"].to_dict(),
                "top1_agreement_with_app": sum(top1) / len(top1),
                "topk_overlap_with_app": sum(overlaps) / len(overlaps),
            }
        if bf16 is not None:
            out["bfloat16"][length] = {
                "tokens": n_tokens,
                "masks": n_masks,
                "time": timings["bfloat16"].to_dict(),
                "speedup_vs_float32": timings["app"].min_s / timings["bfloat16"].min_s,
            }
    return out


def bf16_agreement(fp32: Any, bf16: Any, words: Sequence[str], n_texts: int) -> dict[str, Any]:
    """Top-10 agreement of bfloat16 with float32 on ``n_texts`` texts of 16 tokens (one mask each)."""
    from xlm_explorer.analysis.fill_mask import predict_masks
    from xlm_explorer.forward import ForwardCache

    top1, overlap = [], []
    for seed in range(n_texts):
        text = masked_text(words, 16, 1, seed=1000 + seed)
        ids_32 = [s.token_id for s in predict_masks(fp32, ForwardCache(), text, "en", TOP_K).masks[0].predictions]
        ids_16 = [s.token_id for s in predict_masks(bf16, ForwardCache(), text, "en", TOP_K).masks[0].predictions]
        top1.append(ids_32[0] == ids_16[0])
        overlap.append(len(set(ids_32) & set(ids_16)) / len(ids_32))
    return {
        "texts": n_texts,
        "tokens": 16,
        "top1_agreement": sum(top1) / len(top1),
        "top10_overlap_mean": sum(overlap) / len(overlap),
        "top10_overlap_min": min(overlap),
    }


def bench_cache_hit(loaded: Any, text: str, reps: int) -> dict[str, Any]:
    """A repeated identical fill-mask request (tokenization + cache lookup + softmax/top-k)."""
    from xlm_explorer.analysis.fill_mask import predict_masks
    from xlm_explorer.forward import ForwardCache

    cache = ForwardCache()
    predict_masks(loaded, cache, text, "en", TOP_K)
    calls_before = cache.forward_calls
    timing = time_call(lambda: predict_masks(loaded, cache, text, "en", TOP_K), warmup=1, reps=reps)
    return {"time": timing.to_dict(), "extra_forward_calls": cache.forward_calls - calls_before}


def bench_attention(loaded: Any, n_tokens: int, reps: int, sync: Callable[[], None], words: Sequence[str]) -> dict[str, Any]:
    """The attention tab's work on one input: forward with attentions (fresh cache), head statistics, and
    the bertviz head view of every layer and head as a self-contained HTML document."""
    from xlm_explorer.forward import ForwardCache
    from xlm_explorer.tokenization import encode_text

    text = " ".join(random.Random(7).choice(words) for _ in range(n_tokens - 2))
    encoding = encode_text(loaded, text, "en")
    try:  # another engineer's modules: time them when present
        from xlm_explorer.analysis.attention import analyze_attention
        from xlm_explorer.views.bertviz import bertviz_for_result

        def render(cache: Any) -> str:
            return bertviz_for_result(analyze_attention(loaded, cache, text, "en"), "head").html

        how = "analysis.attention.analyze_attention + views.bertviz.bertviz_for_result('head')"
    except ImportError:
        from bertviz import head_view

        def render(cache: Any) -> str:
            result = cache.get(loaded, encoding.input_ids, attentions=True)
            layers = tuple(result.attentions[i][None] for i in range(result.attentions.shape[0]))
            return head_view(layers, list(encoding.tokens), html_action="return").data

        how = "bertviz.head_view directly (the app's attention modules are not available)"
    sizes: list[int] = []
    timing = time_call(lambda: sizes.append(len(render(ForwardCache()))), warmup=1, reps=reps, sync=sync)
    forward_timing = time_call(lambda: ForwardCache().get(loaded, encoding.input_ids), warmup=0, reps=reps, sync=sync)
    return {
        "tokens": len(encoding.input_ids),
        "renderer": how,
        "time": timing.to_dict(),
        "forward_only": forward_timing.to_dict(),
        "html_bytes": sizes[-1],
    }


def bench_embeddings(loaded: Any, n_sentences: int, peak_gflop_s: float, sync: Callable[[], None]) -> dict[str, Any]:
    """The app's ``embed_sentences`` on ``n_sentences`` shipped sentences: tokens/s and share of matmul peak."""
    try:
        from xlm_explorer.analysis.embeddings import embed_sentences
    except ImportError:
        return {"status": "not available (xlm_explorer.analysis.embeddings missing)"}
    texts, langs = benchmark_sentences(n_sentences)
    embed_sentences(loaded, texts[:8], langs[:8])  # warm-up: one small batch
    runs: list[Any] = []
    timing = time_call(lambda: runs.append(embed_sentences(loaded, texts, langs)), warmup=0, reps=1, sync=sync)
    emb = runs[-1]
    flops = sum(body_flops(loaded.n_layers, loaded.hidden_size, n) for n in emb.n_tokens)
    seconds = timing.min_s
    return {
        "sentences": n_sentences,
        "tokens": emb.total_tokens,
        "batches": emb.batches,
        "time": timing.to_dict(),
        "tokens_per_s": emb.total_tokens / seconds,
        "gflop_s": flops / seconds / 1e9,
        "share_of_matmul_peak": flops / seconds / 1e9 / peak_gflop_s if peak_gflop_s else None,
    }


def bench_umap(sizes: Sequence[int], reps: int, dim: int = 1280) -> dict[str, Any]:
    """UMAP through the app's ``project`` (or umap-learn directly): first (cold) and warm fits."""
    import numpy as np

    try:
        from xlm_explorer.analysis.projection import project

        def fit(points):
            return project(points, "umap", 2, 0)

        how = "xlm_explorer.analysis.projection.project(method='umap', dims=2, seed=0)"
    except ImportError:
        import umap

        def fit(points):
            return umap.UMAP(n_components=2, metric="cosine", random_state=0).fit_transform(points)

        how = "umap-learn directly (xlm_explorer.analysis.projection not available)"
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"method": how, "dim": dim}
    for n in sizes:
        centers = rng.normal(size=(15, dim)).astype(np.float32)
        points = centers[rng.integers(0, 15, n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
        started = time.perf_counter()
        fit(points)
        first = time.perf_counter() - started
        timing = time_call(lambda: fit(points), warmup=0, reps=reps)
        out[str(n)] = {"first_s": first, "warm": timing.to_dict()}
    return out


# --------------------------------------------------------------------------------------------------
# child process: cold load to first answer, peak RSS with both models, the compare tab's forwards


def _rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmRSS``) or its peak so far (``VmHWM``) in MiB (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def drop_from_page_cache(directory: Path) -> bool:
    """Ask the kernel to forget the cached pages of the weight files (a cold read); False if it cannot."""
    done = False
    for path in Path(directory).glob("*.safetensors"):
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                done = True
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            return False
    return done


def child_main(spec_json: str) -> None:
    """Runs in a fresh interpreter: imports, loads every model, answers once, reports JSON on stdout."""
    started = time.perf_counter()
    spec = json.loads(spec_json)
    from xlm_explorer.analysis.fill_mask import predict_masks
    from xlm_explorer.workspace import Workspace

    imported = time.perf_counter()
    report: dict[str, Any] = {"import_s": imported - started, "rss_after_import_mib": _rss_mib(), "models": {}}
    ws = Workspace.from_sources(spec["dirs"], device=spec["device"], dtype=spec["dtype"])
    manager = ws.manager
    loaded_models = []
    for key in spec["dirs"]:
        t0 = time.perf_counter()
        loaded = manager.get(key)
        t1 = time.perf_counter()
        predict_masks(loaded, ws.forward_cache, spec["text"], "en", TOP_K)
        t2 = time.perf_counter()
        loaded_models.append(loaded)
        report["models"][key] = {
            "load_s": t1 - t0,
            "first_answer_s": t2 - t1,
            "load_to_first_answer_s": t2 - t0,
            "weight_bytes_in_memory": unique_weight_bytes(loaded.model),
            "rss_after_mib": _rss_mib(),
            "peak_rss_so_far_mib": _rss_mib("VmHWM"),
        }
    report["process_start_to_all_answers_s"] = time.perf_counter() - started
    try:
        from xlm_explorer.analysis.compare import compare_models
        from xlm_explorer.forward import ForwardCache

        cache = ForwardCache()  # empty: the answers above must not count as the compare tab's forwards
        text = spec["compare_text"]
        before = cache.forward_calls
        compare_models(loaded_models, cache, text, "en", TOP_K)
        after_first = cache.forward_calls
        t0 = time.perf_counter()
        compare_models(loaded_models, cache, text, "en", TOP_K)
        repeat_s = time.perf_counter() - t0
        report["compare"] = {
            "models": len(loaded_models),
            "forward_calls": after_first - before,
            "forward_calls_on_repeat": cache.forward_calls - after_first,
            "repeat_s": repeat_s,
            "peak_rss_so_far_mib": _rss_mib("VmHWM"),
        }
    except ImportError:
        report["compare"] = {"status": "not available (xlm_explorer.analysis.compare missing)"}
    # VmHWM is this process image's peak RSS. ru_maxrss is not: Linux carries the forking parent's peak
    # across fork + exec into it, so a child of a big benchmark process would report the parent's RSS.
    report["peak_rss_mib"] = _rss_mib("VmHWM")
    report["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if report["peak_rss_mib"] != report["peak_rss_mib"]:  # no /proc (not Linux): fall back
        report["peak_rss_mib"] = report["ru_maxrss_mib"]
    report["weight_bytes"] = sum(m["weight_bytes_in_memory"] for m in report["models"].values())
    print("BENCH-CHILD-JSON " + json.dumps(report))


def bench_cold_start_and_memory(dirs: dict[str, Path], device: str, dtype: str, text: str, compare_text: str, cold_disk: bool) -> dict[str, Any]:
    """Run :func:`child_main` in a fresh interpreter (after evicting the weights from the page cache)."""
    evicted = all(drop_from_page_cache(d) for d in dirs.values()) if cold_disk else False
    spec = {"dirs": {k: str(v) for k, v in dirs.items()}, "device": device, "dtype": dtype, "text": text, "compare_text": compare_text}
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run_bench", "--child", json.dumps(spec)],
        capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=1800,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-CHILD-JSON "):
            report = json.loads(line[len("BENCH-CHILD-JSON "):])
            report["page_cache_evicted_before"] = evicted
            report["peak_rss_over_weight_bytes"] = report["peak_rss_mib"] * 2**20 / report["weight_bytes"]
            return report
    raise RuntimeError(f"child process failed (rc {proc.returncode}): {proc.stderr[-2000:]}")


# --------------------------------------------------------------------------------------------------
# the run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODEL_KEYS), help="comma-separated model keys (default: both)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the models run")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller buffers and sets (a few minutes)")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per measurement (default 5; 3 with --quick)")
    parser.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)), help="fill-mask input lengths in tokens")
    parser.add_argument("--sentences", type=int, default=None, help="sentences to embed (default 200; 64 with --quick)")
    parser.add_argument("--umap-sizes", default=None, help="UMAP point counts (default 200,1000,5000; 200,1000 with --quick)")
    parser.add_argument("--attention-tokens", type=int, default=32)
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--skip-bf16", action="store_true")
    parser.add_argument("--skip-embeddings", action="store_true")
    parser.add_argument("--skip-memory", action="store_true", help="skip the child process (cold load, peak RSS, compare)")
    parser.add_argument("--no-cold-disk", action="store_true", help="do not evict the weight files from the page cache first")
    parser.add_argument("--bandwidth-mib", type=int, default=None, help="buffer for the bandwidth test (default 1024)")
    parser.add_argument("--matmul-sizes", default=None, help="square matmul sizes for the peak (default 2048,4096)")
    parser.add_argument("--agreement-texts", type=int, default=None, help="texts for the bf16/fp32 agreement (default 30)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_BENCH_DIR, help="where the random-weight models are kept")
    parser.add_argument("--model-dirs", default=None, help="KEY=DIR,... use these checkpoints instead of building (tests)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for results JSON and markdown")
    parser.add_argument("--tag", default="latest", help="file name stem of the results (default: latest)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.reps = args.reps or (3 if quick else 5)
    args.sentences = args.sentences or (64 if quick else 200)
    args.umap_sizes = [int(x) for x in (args.umap_sizes or ("200,1000" if quick else ",".join(map(str, UMAP_SIZES)))).split(",") if x]
    args.bandwidth_mib = args.bandwidth_mib or (512 if quick else 1024)
    args.matmul_sizes = [int(x) for x in (args.matmul_sizes or ("2048" if quick else "2048,4096")).split(",") if x]
    args.agreement_texts = args.agreement_texts or (10 if quick else 30)
    args.lengths = [int(x) for x in args.lengths.split(",") if x]
    args.models = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in args.models if k not in MODEL_KEYS]
    if unknown:
        parser.error(f"unknown model keys {unknown}; known: {', '.join(MODEL_KEYS)}")
    return args


def _section(results: dict[str, Any], name: str, fn: Callable[[], Any], log: Callable[[str], None]) -> Any:
    """Run one measurement; a failure is recorded (with its traceback's last line) instead of ending the run."""
    log(f"[{time.strftime('%H:%M:%S')}] {name} (load {loadavg()})")
    try:
        value = fn()
    except Exception as error:  # a benchmark section failing must not lose the others' numbers
        value = {"status": f"error: {type(error).__name__}: {error}", "traceback": traceback.format_exc()[-1500:]}
        log(f"   failed: {type(error).__name__}: {error}")
    results[name] = value
    return value


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    import torch

    from xlm_explorer.models import ModelManager

    started = time.perf_counter()
    device = args.device
    sync = make_sync(device)
    results: dict[str, Any] = {"system": system_info(device), "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "child"}}
    if args.model_dirs:
        dirs = {k: Path(v) for k, v in (item.split("=", 1) for item in args.model_dirs.split(","))}
        dirs = {k: dirs[k] for k in args.models}
    else:
        dirs = ensure_checkpoints(args.models, args.cache_dir, log=log)
    results["checkpoints"] = {k: str(v) for k, v in dirs.items()}
    bounds: dict[str, Any] = {}
    results["bounds"] = bounds
    _section(bounds, "bandwidth", lambda: measure_bandwidth(device, args.bandwidth_mib, args.reps), log)
    _section(bounds, "matmul", lambda: measure_matmul_peak(device, args.matmul_sizes, max(2, args.reps - 2)), log)
    bandwidth = bounds["bandwidth"].get("read_gb_s")
    peak32 = bounds["matmul"].get("float32_gflop_s")
    peak16 = bounds["matmul"].get("bfloat16_gflop_s")

    models: dict[str, Any] = {}
    results["models"] = models
    for key in args.models:
        entry: dict[str, Any] = {}
        models[key] = entry
        manager = ModelManager({key: str(dirs[key])}, device=device, dtype="float32")
        t0 = time.perf_counter()
        loaded = manager.get(key)
        entry["load_s_warm_page_cache"] = time.perf_counter() - t0
        entry["parameters"] = loaded.n_parameters
        entry["weight_bytes"] = unique_weight_bytes(loaded.model)
        entry["onednn_packed_linear_layers"] = sum(type(m).__name__ == "PackedLinear" for m in loaded.model.modules())
        entry["architecture"] = {"layers": loaded.n_layers, "hidden": loaded.hidden_size, "heads": loaded.n_heads, "vocab": loaded.vocab_size}
        words = single_piece_words(loaded)
        log_model = lambda m, key=key: log(f"{key}: {m}")  # noqa: E731
        pipe = _section(entry, "baseline_load", lambda: plain_fill_mask_pipeline(loaded, dirs[key]), log_model)
        pipe = None if isinstance(pipe, dict) else pipe
        entry.pop("baseline_load", None) if pipe is not None else None
        bf16 = bf_manager = None
        if not args.skip_bf16:
            bf_manager = ModelManager({key: str(dirs[key])}, device=device, dtype="bfloat16")
            bf16 = bf_manager.get(key)
            entry["weight_bytes_bf16"] = unique_weight_bytes(bf16.model)
        both = _section(entry, "fill_mask", lambda: bench_fill_mask(loaded, args.lengths, args.reps, sync, words, pipe=pipe, bf16=bf16), log_model)
        entry.pop("fill_mask")
        if "status" in both:
            entry["fill_mask_app"] = both
        else:
            entry["fill_mask_app"] = both["app"]
            if pipe is not None:
                entry["fill_mask_pipeline"] = both["pipeline"]
            if bf16 is not None:
                entry["bfloat16"] = {"fill_mask": both["bfloat16"]}
                agreement = _section(entry["bfloat16"], "agreement", lambda: bf16_agreement(loaded, bf16, words, args.agreement_texts), log_model)
                del agreement
            first = both["app"][str(args.lengths[0])]["text"]
            _section(entry, "cache_hit", lambda: bench_cache_hit(loaded, first, max(args.reps, 10)), log_model)
        del pipe, bf16, bf_manager
        gc.collect()
        _section(entry, "attention", lambda: bench_attention(loaded, args.attention_tokens, args.reps, sync, words), log_model)
        if not args.skip_embeddings:
            _section(entry, "embeddings", lambda: bench_embeddings(loaded, args.sentences, peak32 or 0.0, sync), log_model)
        del loaded, manager
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()

    if not args.skip_umap:
        _section(results, "umap", lambda: bench_umap(args.umap_sizes, max(2, args.reps - 2)), log)
    if not args.skip_memory:
        first_key = args.models[0]
        first_text = models[first_key].get("fill_mask_app", {}).get(str(args.lengths[0]), {}).get("text", "the [MASK] is here")
        _section(
            results, "cold_start_and_memory",
            lambda: bench_cold_start_and_memory(dirs, device, "float32", first_text, first_text, not args.no_cold_disk),
            log,
        )
    results["derived"] = derive(results, bandwidth, peak32, peak16)
    results["targets"] = evaluate_targets(results)
    results["system"]["loadavg_end"] = loadavg()
    results["total_s"] = time.perf_counter() - started
    return results


# --------------------------------------------------------------------------------------------------
# ratios, targets and the table


def derive(results: dict[str, Any], bandwidth: float | None, peak32: float | None, peak16: float | None) -> dict[str, Any]:
    """Each fill-mask timing as a ratio to its bounds (weight streaming; FLOPs at peak) and to the pipeline."""
    derived: dict[str, Any] = {}
    for key, entry in results.get("models", {}).items():
        app = entry.get("fill_mask_app")
        if not isinstance(app, dict) or "status" in app:
            continue
        arch = entry["architecture"]
        rows: dict[str, Any] = {}
        for length, item in app.items():
            n, masks = item["tokens"], item["masks"]
            seconds = item["time"]["min_s"]
            flops = body_flops(arch["layers"], arch["hidden"], n) + head_flops(arch["hidden"], arch["vocab"], masks)
            row: dict[str, Any] = {"seconds": seconds, "gflop": flops / 1e9}
            if bandwidth:
                row["stream_bound_s"] = entry["weight_bytes"] / (bandwidth * 1e9)
                row["ratio_to_stream_bound"] = seconds / row["stream_bound_s"]
            if peak32:
                row["flop_bound_s"] = flops / (peak32 * 1e9)
                row["ratio_to_flop_bound"] = seconds / row["flop_bound_s"]
            bounds = [row.get("stream_bound_s"), row.get("flop_bound_s")]
            bounds = [b for b in bounds if b]
            if bounds:
                row["roofline_s"] = max(bounds)
                row["ratio_to_roofline"] = seconds / row["roofline_s"]
            pipe = entry.get("fill_mask_pipeline", {}).get(length) if isinstance(entry.get("fill_mask_pipeline"), dict) else None
            if pipe and "time" in pipe:
                row["pipeline_s"] = pipe["time"]["min_s"]
                row["speedup_vs_pipeline"] = pipe["time"]["min_s"] / seconds
            bf = entry.get("bfloat16", {}).get("fill_mask", {}).get(length) if isinstance(entry.get("bfloat16"), dict) else None
            if bf:
                row["bf16_s"] = bf["time"]["min_s"]
                row["bf16_speedup"] = bf["speedup_vs_float32"]
                if bandwidth and entry.get("weight_bytes_bf16"):
                    row["bf16_ratio_to_stream_bound"] = bf["time"]["min_s"] / (entry["weight_bytes_bf16"] / (bandwidth * 1e9))
                if peak16:
                    row["bf16_ratio_to_flop_bound"] = bf["time"]["min_s"] / (flops / (peak16 * 1e9))
            rows[length] = row
        derived[key] = rows
    return derived


def _get(data: Any, *path: Any) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met (None: not measured)."""
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, better: str, unit: str = "") -> None:
        met = None if value is None else (value <= limit if better == "<=" else value >= limit)
        targets.append({"target": name, "value": value, "limit": limit, "better": better, "unit": unit, "met": met})

    for key in results.get("models", {}):
        add(f"{key} fill-mask 16 tokens / weight-streaming bound", _get(results, "derived", key, "16", "ratio_to_stream_bound"), 1.2, "<=", "x")
    add("100-1280 fill-mask 256 tokens speed-up vs pipeline", _get(results, "derived", "100-1280", "256", "speedup_vs_pipeline"), 1.8, ">=", "x")
    for key in results.get("models", {}):
        add(f"{key} bfloat16 speed-up vs float32 at 16 tokens", _get(results, "derived", key, "16", "bf16_speedup"), 1.6, ">=", "x")
        add(f"{key} bfloat16 top-1 agreement with float32", _get(results, "models", key, "bfloat16", "agreement", "top1_agreement"), 0.9, ">=", "")
    for key in results.get("models", {}):
        add(f"{key} embeddings share of fp32 matmul peak", _get(results, "models", key, "embeddings", "share_of_matmul_peak"), 0.5, ">=", "")
    add("UMAP 5,000 points warm (s)", _get(results, "umap", "5000", "warm", "min_s"), 5.0, "<=", "s")
    for key in results.get("models", {}):
        hit = _get(results, "models", key, "cache_hit", "time", "median_s")
        add(f"{key} repeated request from cache (ms)", None if hit is None else hit * 1000, 10.0, "<=", "ms")
    calls = _get(results, "cold_start_and_memory", "compare", "forward_calls")
    n_models = _get(results, "cold_start_and_memory", "compare", "models")
    add("compare tab forwards per model", None if calls is None or not n_models else calls / n_models, 1.0, "<=", "")
    add("peak RSS with all models / weight bytes", _get(results, "cold_start_and_memory", "peak_rss_over_weight_bytes"), 1.15, "<=", "x")
    return targets


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def markdown_report(results: dict[str, Any]) -> str:
    """The results as markdown tables: machine, bounds, fill-mask, other measures, targets."""
    system = results["system"]
    lines = [
        "# XLM Explorer benchmark results",
        "",
        f"Machine: {system.get('cpu')} ({system.get('machine')}), {system.get('cpu_count')} cores "
        f"({system.get('torch_threads')} torch threads), {system.get('memory_gib')} GiB RAM, "
        f"AMX-BF16 {_fmt(system.get('amx_bf16'))}, AVX512-BF16 {_fmt(system.get('avx512_bf16'))}; device {system.get('device')}"
        + (f" ({system['gpu']})" if system.get("gpu") else "")
        + f"; torch {system.get('torch')}, transformers {system.get('transformers')}, Python {system.get('python')}.",
        f"Run {system.get('date_utc')} UTC; load average at start {system.get('loadavg_start')}, at end "
        f"{system.get('loadavg_end')} (other work on the machine makes timings noisy); total {_fmt(results.get('total_s'))} s. "
        "Models: full-size, random weights. Times are the minimum over repetitions (median in the JSON).",
        "",
        "## Physical bounds",
        "",
        "| bound | value |",
        "|---|---|",
    ]
    bw, mm = results["bounds"].get("bandwidth", {}), results["bounds"].get("matmul", {})
    lines += [
        f"| memory read bandwidth | {_fmt(bw.get('read_gb_s'))} GB/s (copy {_fmt(bw.get('copy_gb_s'))} GB/s) |",
        f"| matmul peak float32 | {_fmt(mm.get('float32_gflop_s'))} GFLOP/s |",
        f"| matmul peak bfloat16 | {_fmt(mm.get('bfloat16_gflop_s'))} GFLOP/s |",
        "",
        "## Fill-mask (app code path, float32) against bounds and the pipeline",
        "",
        "| model | tokens (masks) | app ms | weight-stream bound ms | ratio | FLOP bound ms | ratio | pipeline ms | speed-up | bf16 ms | bf16 speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, rows in results.get("derived", {}).items():
        app = results["models"][key]["fill_mask_app"]
        for length, row in rows.items():
            ms = lambda s: None if s is None else s * 1000  # noqa: E731
            lines.append(
                f"| {key} | {length} ({app[length]['masks']}) | {_fmt(ms(row['seconds']))} | {_fmt(ms(row.get('stream_bound_s')))} | "
                f"{_fmt(row.get('ratio_to_stream_bound'))} | {_fmt(ms(row.get('flop_bound_s')))} | {_fmt(row.get('ratio_to_flop_bound'))} | "
                f"{_fmt(ms(row.get('pipeline_s')))} | {_fmt(row.get('speedup_vs_pipeline'))} | {_fmt(ms(row.get('bf16_s')))} | {_fmt(row.get('bf16_speedup'))} |"
            )
    lines += ["", "## Other measures", "", "| measure | model | value |", "|---|---|---|"]
    for key, entry in results.get("models", {}).items():
        lines.append(
            f"| parameters / weight bytes (fp32) | {key} | {entry.get('parameters', 0) / 1e6:.0f}M / {entry.get('weight_bytes', 0) / 1e9:.2f} GB; "
            f"{entry.get('onednn_packed_linear_layers', 0)} linear layers oneDNN-packed |"
        )
        agreement = _get(entry, "bfloat16", "agreement")
        if agreement:
            lines.append(
                f"| bf16 vs fp32 top-10 agreement ({agreement['texts']} texts, 16 tokens) | {key} | top-1 {_fmt(agreement['top1_agreement'])}, "
                f"mean overlap@10 {_fmt(agreement['top10_overlap_mean'])} (min {_fmt(agreement['top10_overlap_min'])}) |"
            )
        pipe16 = _get(entry, "fill_mask_pipeline")
        if isinstance(pipe16, dict) and "status" not in pipe16:
            agree = [v.get("top1_agreement_with_app") for v in pipe16.values()]
            lines.append(f"| app vs pipeline top-1 agreement (per length) | {key} | {', '.join(_fmt(a) for a in agree)} |")
        hit = _get(entry, "cache_hit", "time")
        if hit:
            lines.append(f"| repeated request (cache hit) | {key} | {_fmt(hit['median_s'] * 1000)} ms median, {_fmt(hit['min_s'] * 1000)} ms min |")
        att = entry.get("attention", {})
        if "time" in att:
            lines.append(
                f"| attention forward + bertviz HTML ({att['tokens']} tokens) | {key} | {_fmt(att['time']['min_s'] * 1000)} ms "
                f"(forward {_fmt(att['forward_only']['min_s'] * 1000)} ms), {att['html_bytes'] / 1e6:.2f} MB HTML; {att['renderer']} |"
            )
        elif att:
            lines.append(f"| attention + bertviz | {key} | {att.get('status')} |")
        emb = entry.get("embeddings", {})
        if "tokens_per_s" in emb:
            lines.append(
                f"| embeddings of {emb['sentences']} sentences ({emb['tokens']} tokens) | {key} | {_fmt(emb['time']['min_s'])} s, "
                f"{_fmt(emb['tokens_per_s'])} tokens/s, {_fmt(emb['gflop_s'])} GFLOP/s = {_fmt(emb['share_of_matmul_peak'])} of fp32 peak |"
            )
        elif emb:
            lines.append(f"| embeddings | {key} | {emb.get('status')} |")
        if "load_s_warm_page_cache" in entry:
            lines.append(f"| load (page cache warm, in process) | {key} | {_fmt(entry['load_s_warm_page_cache'])} s |")
    umap_result = results.get("umap")
    if isinstance(umap_result, dict):
        if "status" in umap_result:
            lines.append(f"| UMAP | – | {umap_result['status']} |")
        for size, item in umap_result.items():
            if isinstance(item, dict) and "warm" in item:
                lines.append(f"| UMAP {int(size):,} points ({umap_result['dim']}-d) | – | warm {_fmt(item['warm']['min_s'])} s, first {_fmt(item['first_s'])} s |")
    cold = results.get("cold_start_and_memory")
    if isinstance(cold, dict) and "models" in cold:
        for key, item in cold["models"].items():
            lines.append(
                f"| cold load to first answer (page cache {'evicted' if cold['page_cache_evicted_before'] else 'warm'}) | {key} | "
                f"{_fmt(item['load_to_first_answer_s'])} s (load {_fmt(item['load_s'])} s, first answer {_fmt(item['first_answer_s'])} s) |"
            )
        lines.append(f"| imports (torch, transformers, app) | – | {_fmt(cold['import_s'])} s |")
        lines.append(
            f"| peak RSS with {len(cold['models'])} models loaded | all | {cold['peak_rss_mib'] / 1024:.2f} GiB for {cold['weight_bytes'] / 2**30:.2f} GiB of weights "
            f"= {_fmt(cold['peak_rss_over_weight_bytes'])}x (RSS after imports {cold['rss_after_import_mib']:.0f} MiB) |"
        )
        compare = cold.get("compare", {})
        if "forward_calls" in compare:
            lines.append(
                f"| compare tab: forwards for {compare['models']} models (repeat) | all | {compare['forward_calls']} ({compare['forward_calls_on_repeat']}), "
                f"repeat {_fmt(compare['repeat_s'] * 1000)} ms |"
            )
    elif isinstance(cold, dict):
        lines.append(f"| cold start / memory | – | {cold.get('status')} |")
    lines += ["", "## Targets", "", "| target | value | limit | met |", "|---|---|---|---|"]
    for target in results.get("targets", []):
        lines.append(f"| {target['target']} | {_fmt(target['value'])} {target['unit']} | {target['better']} {_fmt(target['limit'])} | {_fmt(target['met'])} |")
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out_dir: Path, tag: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{tag}.json"
    md_path = out_dir / f"{tag}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown_report(results), encoding="utf-8")
    return json_path, md_path


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    if args.child is not None:
        child_main(args.child)
        return {}
    import logging
    import warnings

    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    results = run(args)
    json_path, md_path = write_results(results, args.out, args.tag)
    print(markdown_report(results))
    print(f"wrote {json_path} and {md_path}")
    return results


if __name__ == "__main__":
    main()
