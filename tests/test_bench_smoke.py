"""The benchmark's code, run once on the tiny checkpoints (no timing assertions: timings belong to the
benchmark). What is checked is what the numbers mean: the inputs have the lengths asked for, the app's
answers equal the pipeline's, a cache hit runs no model, the compare tab runs one forward per model, and
the ratios and targets are computed from the measurements as documented."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import run_bench
from bench.models import build_checkpoint, checkpoint_is_complete, padded_vocab, weight_bytes
from xlm_explorer.models import ModelManager
from xlm_explorer.tokenization import encode_text

LENGTHS = (16, 40)


@pytest.fixture(scope="module")
def bench_run(tiny_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One small benchmark run on both tiny checkpoints (UMAP skipped: its numba compile alone takes 15 s)."""
    out = tmp_path_factory.mktemp("bench-results")
    argv = [
        "--model-dirs", ",".join(f"{k}={v}" for k, v in tiny_dirs.items()),
        "--lengths", ",".join(map(str, LENGTHS)),
        "--reps", "1",
        "--sentences", "12",
        "--agreement-texts", "3",
        "--attention-tokens", "12",
        "--bandwidth-mib", "16",
        "--matmul-sizes", "128",
        "--skip-umap",
        "--no-cold-disk",
        "--out", str(out),
        "--tag", "smoke",
    ]
    results = run_bench.run(run_bench.parse_args(argv), log=lambda message: None)
    run_bench.write_results(results, out, "smoke")
    return results, out


def _errors(data: Any, path: str = "") -> list[str]:
    """Every section that recorded a failure instead of a measurement."""
    found: list[str] = []
    if isinstance(data, dict):
        status = data.get("status")
        if isinstance(status, str) and status.startswith("error"):
            found.append(f"{path}: {status}")
        for key, value in data.items():
            found += _errors(value, f"{path}/{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _errors(value, f"{path}[{index}]")
    return found


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_every_section_ran_and_the_files_are_written(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, out = bench_run
    assert _errors(results) == []
    stored = json.loads((out / "smoke.json").read_text(encoding="utf-8"))
    assert set(stored["models"]) == {"en-2048", "100-1280"}
    assert stored["system"]["loadavg_start"] == results["system"]["loadavg_start"]
    table = (out / "smoke.md").read_text(encoding="utf-8")
    assert "Machine:" in table and "| en-2048 | 16 (1) |" in table and "| 100-1280 | 40 (2) |" in table
    for key in ("attention", "embeddings", "bfloat16", "cache_hit", "fill_mask_pipeline"):
        for model in ("en-2048", "100-1280"):
            assert key in results["models"][model], (model, key)


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_the_app_answers_like_the_pipeline_on_inputs_of_the_asked_lengths(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = bench_run
    for model, entry in results["models"].items():
        for length in LENGTHS:
            app = entry["fill_mask_app"][str(length)]
            pipe = entry["fill_mask_pipeline"][str(length)]
            assert app["tokens"] == length and pipe["tokens"] == length, model
            assert app["masks"] == run_bench.masks_for(length)
            assert pipe["top1_agreement_with_app"] == 1.0, (model, length)
            assert pipe["topk_overlap_with_app"] == 1.0, (model, length)


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_cache_hits_run_no_model_and_compare_runs_one_forward_per_model(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = bench_run
    for entry in results["models"].values():
        assert entry["cache_hit"]["extra_forward_calls"] == 0
    cold = results["cold_start_and_memory"]
    assert cold["compare"] == {**cold["compare"], "models": 2, "forward_calls": 2, "forward_calls_on_repeat": 0}
    assert set(cold["models"]) == {"en-2048", "100-1280"}
    assert cold["peak_rss_mib"] >= cold["rss_after_import_mib"] > 0
    assert cold["peak_rss_mib"] >= max(item["rss_after_mib"] for item in cold["models"].values())
    assert cold["peak_rss_over_weight_bytes"] == pytest.approx(cold["peak_rss_mib"] * 2**20 / cold["weight_bytes"])


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_bf16_agreement_and_measures_are_in_range(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = bench_run
    for entry in results["models"].values():
        agreement = entry["bfloat16"]["agreement"]
        assert agreement["texts"] == 3
        assert 0.0 <= agreement["top10_overlap_min"] <= agreement["top10_overlap_mean"] <= 1.0
        assert entry["weight_bytes_bf16"] * 2 == pytest.approx(entry["weight_bytes"], rel=0.01)
        embeddings = entry["embeddings"]
        assert embeddings["sentences"] == 12 and embeddings["tokens"] > 12 * 2
        assert embeddings["tokens_per_s"] == pytest.approx(embeddings["tokens"] / embeddings["time"]["min_s"])
        assert entry["attention"]["tokens"] == 12 and entry["attention"]["html_bytes"] > 1000


@pytest.mark.slow  # over 3 s: out of the quick loop
def test_ratios_follow_from_the_measurements(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = bench_run
    bandwidth = results["bounds"]["bandwidth"]["read_gb_s"]
    peak = results["bounds"]["matmul"]["float32_gflop_s"]
    for model, rows in results["derived"].items():
        entry = results["models"][model]
        arch = entry["architecture"]
        for length, row in rows.items():
            seconds = entry["fill_mask_app"][length]["time"]["min_s"]
            assert row["ratio_to_stream_bound"] == pytest.approx(seconds * bandwidth * 1e9 / entry["weight_bytes"])
            flops = run_bench.body_flops(arch["layers"], arch["hidden"], int(length)) + run_bench.head_flops(
                arch["hidden"], arch["vocab"], entry["fill_mask_app"][length]["masks"]
            )
            assert row["ratio_to_flop_bound"] == pytest.approx(seconds * peak * 1e9 / flops)
            assert row["ratio_to_roofline"] == pytest.approx(max(1 / row["ratio_to_stream_bound"], 1 / row["ratio_to_flop_bound"]) ** -1)
            assert row["speedup_vs_pipeline"] == pytest.approx(entry["fill_mask_pipeline"][length]["time"]["min_s"] / seconds)


def test_flop_counts_on_a_hand_computed_case() -> None:
    # one layer, hidden 2, one token: 12 H^2 weights -> 2 * 48 FLOPs, attention 2 * 2 * 1 * 1 * 2 = 8
    assert run_bench.body_flops(1, 2, 1) == 104
    assert run_bench.body_flops(3, 2, 1) == 312
    assert run_bench.head_flops(4, 10, 3) == 240


def test_targets_are_judged_in_the_right_direction() -> None:
    results = {
        "models": {"en-2048": {"cache_hit": {"time": {"median_s": 0.004}}}, "100-1280": {"cache_hit": {"time": {"median_s": 0.02}}}},
        "derived": {"en-2048": {"16": {"ratio_to_stream_bound": 1.1, "bf16_speedup": 1.5}}, "100-1280": {"256": {"speedup_vs_pipeline": 2.0}}},
        "umap": {"5000": {"warm": {"min_s": 6.0}}},
        "cold_start_and_memory": {"compare": {"models": 2, "forward_calls": 2}, "peak_rss_over_weight_bytes": 1.2},
    }
    verdicts = {t["target"]: t["met"] for t in run_bench.evaluate_targets(results)}
    assert verdicts["en-2048 fill-mask 16 tokens / weight-streaming bound"] is True
    assert verdicts["100-1280 fill-mask 16 tokens / weight-streaming bound"] is None  # not measured
    assert verdicts["100-1280 fill-mask 256 tokens speed-up vs pipeline"] is True
    assert verdicts["en-2048 bfloat16 speed-up vs float32 at 16 tokens"] is False
    assert verdicts["UMAP 5,000 points warm (s)"] is False
    assert verdicts["en-2048 repeated request from cache (ms)"] is True
    assert verdicts["100-1280 repeated request from cache (ms)"] is False
    assert verdicts["compare tab forwards per model"] is True
    assert verdicts["peak RSS with all models / weight bytes"] is False


@pytest.mark.parametrize("n_tokens,n_masks", [(3, 1), (16, 1), (40, 2), (64, 4), (256, 16)])
def test_masked_texts_encode_to_exactly_the_asked_length(en_model, multi_model, n_tokens: int, n_masks: int) -> None:
    for loaded in (en_model, multi_model):
        words = run_bench.single_piece_words(loaded)
        encoding = encode_text(loaded, run_bench.masked_text(words, n_tokens, n_masks, seed=n_tokens), "en")
        assert len(encoding.input_ids) == n_tokens
        assert len(encoding.mask_positions) == n_masks


def test_bench_checkpoint_has_the_asked_vocabulary_and_loads_through_the_app(tmp_path: Path) -> None:
    vocab, merges = padded_vocab(3000, lowercase=True, n_merges=40)
    assert len(vocab) == 3000 and sorted(vocab.values()) == list(range(3000)) and len(merges) == 40
    assert all(piece in vocab for piece in ("<s>", "</s>", "<pad>", "<unk>", "<special1>"))
    overrides = dict(vocab_size=3000, emb_dim=16, n_layers=1, n_heads=2, n_langs=1, use_lang_emb=True, max_position_embeddings=64)
    directory = build_checkpoint(tmp_path / "bench-en", "en-2048", config_overrides=overrides, n_merges=40, log=lambda message: None)
    assert checkpoint_is_complete(directory, "en-2048", overrides)
    assert not checkpoint_is_complete(directory, "en-2048")  # the real architecture is a different checkpoint
    assert weight_bytes(directory) > 0
    loaded = ModelManager({"en-2048": str(directory)}, device="cpu").get("en-2048")
    assert loaded.vocab_size == 3000 and len(loaded.tokenizer) == 3000
    assert loaded.mask_token_id == 5 and loaded.hidden_size == 16
    assert math.isclose(sum(p.numel() for p in loaded.model.parameters()), loaded.n_parameters)


# --------------------------------------------------------------------------------------------------
# the load-time speed-up the benchmark asked for: oneDNN-packed linear layers (xlm_explorer/forward.py)


def _packed_manager(tiny_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, setting: str, dtype: str = "float32") -> ModelManager:
    monkeypatch.setenv("XLM_EXPLORER_PACK_LINEAR", setting)
    return ModelManager({k: str(v) for k, v in tiny_dirs.items()}, device="cpu", dtype=dtype)


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_packed_linear_layers_compute_what_the_plain_model_computes(tiny_dirs, monkeypatch, key: str) -> None:
    import torch

    from xlm_explorer.analysis.fill_mask import predict_masks
    from xlm_explorer.forward import ForwardCache, run_forward
    from xlm_explorer.packing import PackedLinear, packing_supported

    if not packing_supported(torch.device("cpu"), torch.float32):
        pytest.skip("this torch build has no oneDNN")
    plain = _packed_manager(tiny_dirs, monkeypatch, "0").get(key)
    packed = _packed_manager(tiny_dirs, monkeypatch, "1").get(key)
    n_packed = sum(isinstance(m, PackedLinear) for m in packed.model.modules())
    assert n_packed == 6 * packed.n_layers  # q, k, v, out, lin1, lin2 per layer
    assert not any(isinstance(m, PackedLinear) for m in plain.model.modules())
    assert packed.n_parameters == plain.n_parameters
    assert packed.model.pred_layer.proj.weight is packed.model.transformer.embeddings.weight  # the tied head is untouched
    ids = (0, 14, 20, 31, 5, 40, 1)
    a, b = run_forward(plain, ids), run_forward(packed, ids)
    torch.testing.assert_close(b.hidden_states, a.hidden_states, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.attentions, a.attentions, atol=1e-6, rtol=1e-5)
    text = "the [MASK] sat on the [MASK] ."
    top_plain = [[s.token_id for s in m.predictions] for m in predict_masks(plain, ForwardCache(), text, "en", 5).masks]
    top_packed = [[s.token_id for s in m.predictions] for m in predict_masks(packed, ForwardCache(), text, "en", 5).masks]
    assert top_packed == top_plain


def test_packed_bfloat16_layers_are_exact_and_tiny_layers_stay_plain_by_default(tiny_dirs, monkeypatch) -> None:
    import torch

    from xlm_explorer.forward import run_forward
    from xlm_explorer.packing import PackedLinear, packing_supported

    if not packing_supported(torch.device("cpu"), torch.bfloat16):
        pytest.skip("no oneDNN bfloat16 on this CPU")
    plain = _packed_manager(tiny_dirs, monkeypatch, "0", "bfloat16").get("en-2048")
    packed = _packed_manager(tiny_dirs, monkeypatch, "1", "bfloat16").get("en-2048")
    auto = _packed_manager(tiny_dirs, monkeypatch, "auto").get("en-2048")
    assert any(isinstance(m, PackedLinear) for m in packed.model.modules())
    assert not any(isinstance(m, PackedLinear) for m in auto.model.modules())  # 32x128 layers are below the threshold
    ids = (0, 14, 20, 31, 1)
    torch.testing.assert_close(run_forward(packed, ids).hidden_states, run_forward(plain, ids).hidden_states, atol=0, rtol=0)


def test_releasing_pages_touches_only_safetensors_mappings(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from xlm_explorer.packing import _file_mappings, release_mapped_pages

    in_memory = torch.arange(1 << 16, dtype=torch.float32)
    assert release_mapped_pages(in_memory, _file_mappings()) == 0
    assert torch.equal(in_memory, torch.arange(1 << 16, dtype=torch.float32))
    save_file({"w": torch.arange(1 << 18, dtype=torch.float32)}, str(tmp_path / "w.safetensors"))
    mapped = load_file(str(tmp_path / "w.safetensors"))["w"]
    released = release_mapped_pages(mapped, _file_mappings())
    assert 0 <= released <= mapped.numel() * 4
    if Path("/proc/self/maps").exists():  # Linux: safetensors maps the file, so whole pages were released
        assert released > 0
    assert torch.equal(mapped, torch.arange(1 << 18, dtype=torch.float32))  # released pages read back from the file
