"""Progress that tells the truth: fractions only grow, count every model of the run, every long phase reports, and
the one time-left estimate comes from the whole run (checked on the tiny checkpoints, no browser)."""

from __future__ import annotations

import pytest

from xlm_explorer import service
from xlm_explorer.analysis.token_search import Corpus, CorpusSentence, build_index
from xlm_explorer.ui.wiring import with_time_left


@pytest.fixture(autouse=True)
def computed_afresh(workspace) -> None:
    """These tests watch a run's progress: an answer kept from an earlier test (``ws.answers``) would show none."""
    workspace.answers.clear()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def __call__(self, fraction: float, message: str) -> None:
        self.seen.append((float(fraction), message))

    @property
    def fractions(self) -> list[float]:
        return [f for f, _ in self.seen]


def test_the_time_left_is_the_whole_runs_and_replaces_a_parts_own() -> None:
    assert with_time_left("en-2048: masked copy 10 of 40, about 3 s left", 0.25, 30.0) == (
        "en-2048: masked copy 10 of 40 · about 2 min left")  # 90 s: a quarter done in 30 s
    assert with_time_left("layer 3 patched", 0.5, 10.0) == "layer 3 patched · about 10 s left"
    assert with_time_left("starting", 0.01, 10.0) == "starting"  # too early to tell
    assert with_time_left("almost", 0.9, 1.0) == "almost"  # too soon after the start
    assert with_time_left("done", 1.0, 50.0) == "done"


def test_attribution_reports_its_steps_for_every_model(workspace) -> None:
    progress = Recorder()
    service.attribution(workspace, "The doctor said that [MASK] was tired.", "both", "en", 1, "", progress=progress)
    steps = [(f, m) for f, m in progress.seen if "integrated gradients" in m]
    assert any(m.startswith("en-2048") for _, m in steps) and any(m.startswith("100-1280") for _, m in steps)
    assert max(f for f, m in steps if m.startswith("en-2048")) <= 0.5 + 1e-9  # the first model is the first half
    assert max(f for f, m in steps if m.startswith("100-1280")) > 0.9
    assert 0 < min(f for f, _ in steps) < 0.5  # it moves before the end (it sat at 0% until done)


def test_the_head_sweep_reports_after_the_layer_sweep(workspace) -> None:
    progress = Recorder()
    service.patching(workspace, "The doctor said that [MASK] was tired.", "The doctor said that [MASK] was tired!",
                     "en-2048", "en", "", 1, progress=progress)
    layers = [f for f, m in progress.seen if "patched" in m and "heads" not in m]
    heads = [f for f, m in progress.seen if "heads of block 1" in m]
    assert layers and heads and max(layers) == pytest.approx(0.5) and min(heads) > 0.5 and max(heads) == pytest.approx(1.0)


def test_indexing_counts_the_whole_corpus_not_each_chunk(multi_model) -> None:
    corpus = Corpus("many", tuple(CorpusSentence(f"The cat number {i} sleeps.", "en") for i in range(600)))
    progress = Recorder()
    build_index(multi_model, corpus, 1, progress)
    assert progress.fractions == sorted(progress.fractions) and progress.fractions[-1] == pytest.approx(1.0)
    assert "600 of 600" in progress.seen[-1][1]


def test_pairs_on_both_models_count_both(workspace) -> None:
    progress = Recorder()
    service.pll_pairs(workspace, "sent_more\tsent_less\nHe is a doctor.\tShe is a doctor.\nHe ran.\tShe ran.", "both", progress=progress)
    en = [f for f, m in progress.seen if "en-2048" in m]
    multi = [f for f, m in progress.seen if "100-1280" in m]
    assert en and multi and max(en) <= 0.5 + 1e-9 and min(multi) >= 0.5 - 1e-9 and max(multi) > 0.9
