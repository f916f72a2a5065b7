"""Indexes beyond one machine: the index command as a Ray Data job on a local Ray instance writes the one-machine
index to the bit and resumes without recomputing a written chunk; the approximate (faiss) index returns candidates
that are rescored exactly, equals the exact search when it probes every list, and is what the app searches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xlm_explorer import service


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


#: Ray and faiss are optional extras (requirements-scale.txt): without them their tests skip, saying so.
needs_faiss = pytest.mark.skipif(not _importable("faiss"), reason="faiss is an optional extra: pip install -r requirements-scale.txt")
needs_ray = pytest.mark.skipif(not _importable("ray"), reason="ray is an optional extra: pip install -r requirements-scale.txt")
from xlm_explorer.analysis import ann as ann_module
from xlm_explorer.analysis.ann import AnnIndex, build_ann
from xlm_explorer.analysis.token_search import TokenIndex, load_ann_beside, nearest, rescore_rows
from xlm_explorer.errors import UserInputError

ROOT = Path(__file__).resolve().parents[1]
INDEX_FILES = ("vectors-L1.npy", "rows-L1.npy", "meta-L1.json", "vectors-L3.npy", "rows-L3.npy", "meta-L3.json")


def corpus_file(tmp_path: Path, n: int = 300) -> Path:
    """``n`` shipped-format sentences (300: two chunks of 256)."""
    rows = (ROOT / "assets" / "data" / "parallel_sentences.tsv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "corpus.tsv"
    path.write_text("\n".join(["id\tlang\ttext", *rows[1 : n + 1]]) + "\n", encoding="utf-8")
    return path


def index_command(corpus: Path, out: Path, tiny_models_env: str, *extra: str, stop_after: int = 0) -> subprocess.CompletedProcess:
    env = {"XLM_EXPLORER_MODELS": tiny_models_env, "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "XLM_EXPLORER_INDEX_STOP_AFTER_CHUNKS": str(stop_after)}
    command = [sys.executable, "-m", "xlm_explorer.index", str(corpus), "--model", "100-1280", "--layers", "1,last",
               "--out", str(out), "--device", "cpu", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def one_machine_index(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> Path:
    """The one-machine command's index of 300 sentences at layers 1 and 3, with its faiss files when faiss is there
    (run in-process)."""
    from xlm_explorer import index

    base = tmp_path_factory.mktemp("one-machine")
    argv = [str(corpus_file(base)), "--model", "100-1280", "--model", f"100-1280={tiny_dirs['100-1280']}",
            "--layers", "1,last", "--out", str(base / "index"), "--device", "cpu", *(["--ann"] if _importable("faiss") else [])]
    assert index.main(argv) == 0
    return base / "index"


@needs_ray
@pytest.mark.slow
def test_the_ray_job_writes_the_one_machine_index_and_never_recomputes_a_written_chunk(
    tmp_path: Path, tiny_models_env: str, one_machine_index: Path,
) -> None:
    corpus, out = corpus_file(tmp_path), tmp_path / "ray-index"
    stopped = index_command(corpus, out, tiny_models_env, "--ray", "local", "--workers", "2", stop_after=1)
    assert stopped.returncode == 3, stopped.stderr
    written = sorted((out / "parts").glob("chunk-*.npz"))
    assert 1 <= len(written) <= 2 and not (out / "meta-L1.json").exists()
    resumed = index_command(corpus, out, tiny_models_env, "--ray", "local")
    assert resumed.returncode == 0, resumed.stderr
    assert f"({2 - len(written)} chunk(s) computed this run)" in resumed.stderr
    for name in INDEX_FILES:
        if name.endswith(".npy"):
            assert np.array_equal(np.load(out / name), np.load(one_machine_index / name)), name
        else:
            assert (out / name).read_bytes() == (one_machine_index / name).read_bytes(), name
    assert not (out / "parts").exists()


def test_the_command_without_ray_installed_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from xlm_explorer import index_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray then raises ImportError
    with pytest.raises(UserInputError, match="requirements-scale.txt"):
        index_ray.connect("local")


def queries_of(index: TokenIndex, n: int = 40) -> list[np.ndarray]:
    """Stored vectors moved a little (a new token of a kind the corpus has), as float32."""
    rng = np.random.default_rng(0)
    out = []
    for row in rng.integers(0, len(index), n):
        q = np.asarray(index.vectors[row], np.float32) + 0.3 * rng.standard_normal(index.vectors.shape[1]).astype(np.float32) / np.sqrt(index.vectors.shape[1])
        out.append((q / np.linalg.norm(q)).astype(np.float32))
    return out


@needs_faiss
def test_the_approximate_index_equals_the_exact_search_when_it_probes_every_list(one_machine_index: Path) -> None:
    approximate = TokenIndex.load(one_machine_index, 3)
    assert approximate.ann is not None and approximate.ann.n_probe < approximate.ann.n_lists
    exact = TokenIndex.load(one_machine_index, 3)
    exact.ann = None
    approximate.ann.n_probe = approximate.ann.n_lists
    for q in queries_of(exact):
        assert nearest(approximate, q, 10) == nearest(exact, q, 10)


@needs_faiss
def test_the_approximate_index_s_candidates_are_rows_rescored_exactly_with_a_recall_near_one(one_machine_index: Path) -> None:
    approximate = TokenIndex.load(one_machine_index, 3)
    exact = TokenIndex.load(one_machine_index, 3)
    exact.ann = None
    recalls = []
    for q in queries_of(exact):
        candidates = approximate.ann.candidates(q, 256)
        assert len(candidates) == len(set(candidates.tolist())) <= 256 and np.all(np.diff(candidates) > 0)
        assert 0 <= candidates.min() and candidates.max() < len(exact)
        found = nearest(approximate, q, 10)
        unit = q / max(float(np.linalg.norm(q)), 1e-12)  # as nearest() normalises its query
        assert found == rescore_rows(exact.vectors, candidates, unit, 10)  # the cosines are the exact ones
        recalls.append(len({r for r, _ in found} & {r for r, _ in nearest(exact, q, 10)}) / 10)
    assert np.mean(recalls) >= 0.8  # measured 0.93 at 16 of 115 lists (the rule n_probe_for)


@needs_faiss
def test_the_app_searches_through_the_approximate_index_and_the_page_says_so(one_machine_index: Path, workspace) -> None:
    from xlm_explorer.workspace import Workspace

    with_ann = Workspace(workspace.manager, corpus_index=one_machine_index)
    found = service.token_search(with_ann, "Le chat dort.", "100-1280", "fr", 2, 3, 8)
    (result,) = found.payload["results"]
    assert len(result["matches"]) == 8
    line = service.corpus_index_line(one_machine_index)
    assert line.endswith("Layers 1, 3: faiss picks the candidates, each scored again exactly.")


@needs_faiss
def test_an_index_with_a_faiss_file_but_no_faiss_is_searched_exactly(one_machine_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_faiss():
        raise UserInputError("An approximate index needs faiss: pip install -r requirements-scale.txt")

    monkeypatch.setattr(ann_module, "_faiss", no_faiss)
    assert load_ann_beside(one_machine_index, 3) is None
    assert TokenIndex.load(one_machine_index, 3).ann is None


@needs_faiss
@pytest.mark.parametrize("n", [1, 39, 1000])
def test_an_approximate_index_of_any_size_finds_a_stored_vector_first(n: int) -> None:
    rng = np.random.default_rng(n)
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16)
    built = build_ann(vectors)
    assert 1 <= built.n_lists <= max(1, n // ann_module.TRAIN_PER_LIST) and 1 <= built.n_probe <= built.n_lists
    row = n // 2
    assert built.candidates(np.asarray(vectors[row], np.float32), 8)[0:8].tolist().count(row) == 1


@needs_faiss
def test_an_approximate_index_saved_is_loaded_memory_mapped_with_the_same_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((2000, 16)).astype(np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16)
    built = build_ann(vectors)
    built.save(tmp_path / "faiss-L0.index")
    loaded = AnnIndex.load(tmp_path / "faiss-L0.index")
    assert (loaded.n_lists, loaded.n_probe) == (built.n_lists, built.n_probe)
    for q in np.asarray(vectors[:20], np.float32):
        assert np.array_equal(loaded.candidates(q, 50), built.candidates(q, 50))


def test_an_index_is_read_from_a_hub_dataset_in_the_hub_cache_and_an_absent_one_is_named(
    one_machine_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--corpus-index datasets/OWNER/NAME`` (as a Space's preload_from_hub writes it): offline, from the cache."""
    import shutil

    from huggingface_hub import constants

    from xlm_explorer.analysis.token_search import describe_index, index_folder

    revision = "0" * 40
    repo = tmp_path / "hub" / "datasets--someone--bank-index"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(one_machine_index, repo / "snapshots" / revision)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    folder = index_folder("datasets/someone/bank-index")
    assert folder == repo / "snapshots" / revision and describe_index(folder) == describe_index(one_machine_index)
    assert index_folder(str(one_machine_index)) == one_machine_index
    with pytest.raises(UserInputError, match="hub dataset someone/absent could not be fetched .*HF_HUB_OFFLINE"):
        index_folder("datasets/someone/absent")
    with pytest.raises(UserInputError, match="is not a folder .*nor a hub dataset"):
        index_folder("someone/bank-index")


@needs_faiss
def test_the_command_run_again_over_a_finished_index_computes_nothing_and_adds_the_faiss_index(
    one_machine_index: Path, tmp_path: Path, tiny_dirs: dict[str, Path], capsys: pytest.CaptureFixture,
) -> None:
    import shutil

    from xlm_explorer import index

    out = tmp_path / "index"
    shutil.copytree(one_machine_index, out, ignore=shutil.ignore_patterns("faiss-*"))
    corpus = corpus_file(tmp_path)
    argv = [str(corpus), "--model", "100-1280", "--model", f"100-1280={tiny_dirs['100-1280']}", "--layers", "1,last",
            "--out", str(out), "--device", "cpu", "--ann"]
    vectors_before = (out / "vectors-L3.npy").stat().st_mtime_ns
    assert index.main(argv) == 0
    assert "already holds this index (300 sentences, layers [1, 3]); faiss index added where missing" in capsys.readouterr().err
    assert (out / "vectors-L3.npy").stat().st_mtime_ns == vectors_before and not (out / "parts").exists()
    for layer in (1, 3):
        assert (out / f"faiss-L{layer}.index").read_bytes() == (one_machine_index / f"faiss-L{layer}.index").read_bytes()
