"""bfloat16 against float32, measured at load on the same weights: the numbers equal a direct computation over the
shipped fill-mask examples (a float32 model and the bfloat16 one side by side), float32 is not measured, and the
line reaches the model card, the API's facts and the batch commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xlm_explorer.analysis.fill_mask import forward, preprocess, shipped_examples
from xlm_explorer.analysis.precision import TOP_K, PrecisionAgreement, compare_log_probs
from xlm_explorer.forward import ForwardCache
from xlm_explorer.views.models import make_model_facts_markdown
from xlm_explorer.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bfloat16_workspace(tiny_dirs: dict[str, Path]) -> Workspace:
    return Workspace.from_sources({key: str(path) for key, path in tiny_dirs.items()}, device="cpu", dtype="bfloat16")


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_the_agreement_measured_at_load_equals_a_direct_comparison(bfloat16_workspace: Workspace, manager, key: str) -> None:
    cast, full = bfloat16_workspace.manager.get(key), manager.get(key)  # the same checkpoint in bfloat16 and float32
    assert cast.dtype == torch.bfloat16 and full.dtype == torch.float32 and full.precision is None
    same, worst, n = 0, 0.0, 0
    for lang, text in shipped_examples():
        if lang not in full.languages:
            continue
        ref = torch.log_softmax(forward(full, ForwardCache(), preprocess(full, text, lang)).double(), dim=-1)
        got = torch.log_softmax(forward(cast, ForwardCache(), preprocess(cast, text, lang)).double(), dim=-1)
        for mask in range(ref.shape[0]):
            top = torch.argsort(ref[mask], descending=True)[:TOP_K]
            same += int(int(got[mask].argmax()) == int(top[0]))
            worst = max(worst, max(abs(float(got[mask, t]) - float(ref[mask, t])) for t in top))
            n += 1
    check = cast.precision
    assert isinstance(check, PrecisionAgreement) and check.dtype == "bfloat16" and check.n_masks == n > 0
    assert check.top1_agreement == pytest.approx(same / n)
    assert check.max_abs_dlogp == pytest.approx(worst, abs=1e-5) and worst > 0  # bfloat16 does move the numbers


def test_the_comparison_counts_disagreements_and_the_largest_move() -> None:
    ref = torch.log_softmax(torch.tensor([[3.0, 2.0, 1.0] + [0.0] * 9, [0.0, 5.0, 1.0] + [0.0] * 9]), dim=-1)
    got = ref.clone()
    got[0, 0], got[0, 1] = ref[0, 1], ref[0, 0] + 0.25  # top-1 swapped at the first mask
    check = compare_log_probs([ref], [got], "bfloat16")
    assert (check.n_masks, check.top1_agreement) == (2, 0.5)
    assert check.max_abs_dlogp == pytest.approx(float(ref[0, 0] - ref[0, 1]) + 0.25)


def test_the_model_card_and_the_facts_carry_the_check(bfloat16_workspace: Workspace) -> None:
    loaded = bfloat16_workspace.manager.get("en-2048")
    facts = loaded.facts()
    assert facts["precision_check"]["summary"] == loaded.precision.line()
    assert facts["precision_check"]["n_masks"] == loaded.precision.n_masks
    card = make_model_facts_markdown(loaded.spec, facts, "tiny")
    table = [re.split(r"(?<!\\)\|", line)[1:-1] for line in card.splitlines() if line.startswith("|")]
    assert all(len(cells) == 2 for cells in table), "a value's | split its cell"
    shown = {name.strip(): re.sub(r"\\(.)", r"\1", value.strip()) for name, value in table}
    assert shown["Against float32"] == loaded.precision.line()
    assert "max |Δ log p|" in shown["Against float32"]


@pytest.mark.slow  # over 5 s on 2 cores: out of the quick tier
def test_a_batch_command_in_bfloat16_prints_the_check(tmp_path: Path, tiny_models_env: str) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("sent_more\tsent_less\nThe doctor is here.\tThe nurse is here.\n", encoding="utf-8")
    env = {"XLM_EXPLORER_MODELS": tiny_models_env, "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "xlm_explorer.score", str(pairs), "--model", "en-2048",
                           "--out", str(tmp_path / "out.csv"), "--device", "cpu", "--dtype", "bfloat16"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "en-2048: bfloat16: the top-1 prediction equals float32's at" in done.stderr
