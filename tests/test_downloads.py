"""The one download writer: per-session folders, replaced per view, removed when the session ends or is old."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pandas as pd

from xlm_explorer.downloads import DownloadStore


def test_write_round_trips_tables_and_payload(tmp_path: Path) -> None:
    frame = pd.DataFrame({"token": ["<b>x</b>", "é"], "probability": [0.5, 0.25]})
    paths = DownloadStore(tmp_path).write("abc", "probe", {"scores": frame}, {"rows": [1, 2], "text": "é"})
    assert [Path(p).name for p in paths] == ["probe-scores.csv", "probe.json"]
    with open(paths[0], encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == [
            {"token": "<b>x</b>", "probability": "0.5"},
            {"token": "é", "probability": "0.25"},
        ]
    assert json.loads(Path(paths[1]).read_text(encoding="utf-8")) == {"rows": [1, 2], "text": "é"}


def test_release_removes_one_sessions_files_only(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path)
    frame = pd.DataFrame({"a": [1]})
    store.write("one", "compare", {"t": frame}, {})
    store.write("one", "grid", {"t": frame}, {})
    kept = store.write("two", "compare", {"t": frame}, {})
    removed = store.release("one")
    assert len(removed) == 4 and not any(p.exists() for p in removed)
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
