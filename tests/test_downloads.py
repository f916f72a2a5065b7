"""The one download writer: per-session folders, replaced per view, removed when the session ends or is old."""

from __future__ import annotations

import csv
import json
import os
import re
import time
from pathlib import Path

import pandas as pd

from xlm_explorer.downloads import DownloadStore


def test_write_round_trips_tables_and_payload(tmp_path: Path) -> None:
    frame = pd.DataFrame({"token": ["<b>x</b>", "é"], "probability": [0.5, 0.25]})
    paths = DownloadStore(tmp_path).write("abc", "probe", {"scores": frame}, {"rows": [1, 2], "text": "é"})
    assert [Path(p).name for p in paths] == ["probe-scores.csv", "probe-tables.md", "probe.json"]
    with open(paths[0], encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == [
            {"token": "<b>x</b>", "probability": "0.5"},
            {"token": "é", "probability": "0.25"},
        ]
    assert json.loads(Path(paths[2]).read_text(encoding="utf-8")) == {"rows": [1, 2], "text": "é"}


def test_release_removes_one_sessions_files_only(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path)
    frame = pd.DataFrame({"a": [1]})
    store.write("one", "compare", {"t": frame}, {})
    store.write("one", "grid", {"t": frame}, {})
    kept = store.write("two", "compare", {"t": frame}, {})
    removed = store.release("one")
    assert len(removed) == 6 and not any(p.exists() for p in removed)
    assert all(Path(p).exists() for p in kept) and store.files("one") == []


def test_sweep_removes_folders_older_than_the_bound(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path, max_age_s=60)
    old = store.write("old", "compare", {"t": pd.DataFrame({"a": [1]})}, {})
    new = store.write("new", "compare", {"t": pd.DataFrame({"a": [1]})}, {})
    past = time.time() - 3600
    for path in old:
        os.utime(path, (past, past))
    assert store.sweep() == 1
    assert not any(Path(p).exists() for p in old) and all(Path(p).exists() for p in new)


def test_session_names_cannot_escape_the_root(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path / "root")
    paths = store.write("../../etc", "../x", {"t": pd.DataFrame({"a": [1]})}, {})
    assert all(Path(p).resolve().is_relative_to((tmp_path / "root").resolve()) for p in paths)


def test_the_tables_as_markdown_read_back_cell_for_cell(tmp_path: Path) -> None:
    """The Markdown file holds every table, every row, each cell as a renderer will show it (rounded to 4 digits)."""
    frame = pd.DataFrame({"token": ["<s>", "a|b", "*x*\nnew line", "é"], "log_p": [-1.234567, -0.5, float("nan"), 2e-7]})
    empty = pd.DataFrame({"layer": []})
    paths = DownloadStore(tmp_path).write("abc", "fill-mask", {"en-2048": frame, "empty": empty}, {})
    text = Path(paths[-2]).read_text(encoding="utf-8")
    assert text.count("\n## ") == 2 and "## en-2048" in text and "(no rows)" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    unescape = lambda c: re.sub(r"\\(.)", r"\1", c)  # noqa: E731 - what a CommonMark renderer shows
    assert [[unescape(c) for c in row] for row in cells] == [
        ["token", "log_p"], ["<s>", "-1.235"], ["a|b", "-0.5"], ["*x* new line", ""], ["é", "2e-07"]]
    assert "\\<s>" in text and "\\*x\\*" in text  # <s> would vanish as a tag, *x* turn italic


def test_a_run_without_tables_writes_no_markdown(tmp_path: Path) -> None:
    paths = DownloadStore(tmp_path).write("abc", "view", {}, {"x": 1})
    assert [Path(p).name for p in paths] == ["view.json"]


def test_a_run_and_a_redraw_of_one_session_writing_at_once_never_remove_each_others_folder(tmp_path: Path) -> None:
    """A lesson's step and its redraw wrote one view's files at once: 'Cannot save file into a non-existent directory'."""
    import threading

    from xlm_explorer.downloads import DownloadStore

    store = DownloadStore(tmp_path)
    frame = pd.DataFrame({"a": list(range(200)), "b": ["x"] * 200})
    failures: list[BaseException] = []

    def writer(tag: int) -> None:
        for i in range(60):
            try:
                paths = store.write("one-session", "embeddings", {f"t{k}": frame for k in range(3)}, {"run": tag, "i": i})
                assert all(Path(p).is_file() for p in paths)  # every file it returns is there when it returns
            except BaseException as error:  # noqa: BLE001 - the race's symptom, whatever it is
                failures.append(error)
                return

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], failures[:1]
    newest = store.latest_run("one-session", "embeddings")
    assert sorted(p.name for p in newest.iterdir()) == sorted(
        ["embeddings-t0.csv", "embeddings-t1.csv", "embeddings-t2.csv", "embeddings-tables.md", "embeddings.json"])
    store.run_grace_s = 0.0  # once an older run's grace has passed, the next write removes it
    store.write("one-session", "embeddings", {"t": frame}, {})
    assert sorted(p.name for p in store.files("one-session")) == ["embeddings-t.csv", "embeddings-tables.md", "embeddings.json"]
