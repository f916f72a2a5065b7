"""Download files (CSV tables, the same tables as one Markdown file, and the JSON payload) for the page's views,
kept per browser session.

One writer for every view: :meth:`DownloadStore.write` puts a run's files in a folder of their own inside the
session's folder for the view (a new run's files replace the last ones on the page; an older run's folder goes at the next write once it is
:data:`RUN_GRACE_S` old, so files a handler has just returned are still there when gradio copies them, even while
another run or redraw of the same session writes); :meth:`DownloadStore.release` removes a session's folder when the
session ends, and :meth:`DownloadStore.sweep` removes folders older than ``max_age_s`` (sessions that never
said goodbye), so the disk stays bounded on a long-running Space. API calls write no files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Folders untouched for this long are removed by :meth:`DownloadStore.sweep` (seconds).
DEFAULT_MAX_AGE_S = 3600
#: How long an older run's files stay after a newer run of the same view was written (seconds): the files a handler
#: returned must outlive gradio's copy of them, whatever another run or redraw of the session writes meanwhile.
RUN_GRACE_S = 60.0
#: Where the download folders go (default: a new temporary folder per app).
ENV_DOWNLOADS_DIR = "XLM_EXPLORER_DOWNLOADS_DIR"


#: Significant digits of a number in a Markdown table (the CSV and JSON keep every digit).
MARKDOWN_DIGITS = 4


def table_cell(value: Any) -> str:
    """A value as a table shows it to a reader: floats to ``MARKDOWN_DIGITS`` significant digits, the rest as text."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{MARKDOWN_DIGITS}g}"
    return str(value)


#: Characters a Markdown cell escapes with a backslash: the cell separator, and what would start a tag (``<s>``
#: would vanish as HTML), emphasis or code.
_MARKDOWN_ESCAPED = "\\|<*`"


def _escaped(line: str) -> str:
    return "".join("\\" + c if c in _MARKDOWN_ESCAPED else c for c in line)


def markdown_text(value: Any) -> str:
    """Text that Markdown shows as written (a question, an answer, a title): what would start a tag, emphasis, code
    or a table cell is escaped, and so is what would start a heading, a list or a quote at a line's start."""
    lines = [_escaped(line) for line in str(value).splitlines() or [""]]
    return "\n".join("\\" + line if line[:1] in ("#", "-", "+", ">") else line for line in lines)


def markdown_cell(value: Any) -> str:
    """One cell's text for a Markdown table: :func:`table_cell`, escaped (:func:`markdown_text`'s characters), on one line."""
    return _escaped(table_cell(value).replace("\r", " ").replace("\n", " "))


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    """Rows (dicts with the same keys) as the lines of a GitHub Markdown table (cells by :func:`markdown_cell`)."""
    if not rows:
        return []
    head = list(rows[0])
    lines = ["| " + " | ".join(map(markdown_cell, head)) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(markdown_cell(row.get(k, "")) for k in head) + " |" for row in rows]


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as dicts, a missing value as an empty cell."""
    return frame.astype(object).where(frame.notna(), "").to_dict(orient="records")


def markdown_tables(view: str, tables: Mapping[str, pd.DataFrame]) -> str:
    """Every table of a run as one Markdown document: a heading per table, then the table (for notes and slides)."""
    lines = [f"# {view}", "", f"Numbers to {MARKDOWN_DIGITS} significant digits; the CSV files keep every digit.", ""]
    for name, frame in tables.items():
        lines += [f"## {name}", "", *(markdown_table(table_records(frame)) or ["(no rows)"]), ""]
    return "\n".join(lines)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "x"


class DownloadStore:
    """Per-session folders of download files under one root (default: a fresh temporary folder)."""

    def __init__(self, root: str | Path | None = None, max_age_s: float = DEFAULT_MAX_AGE_S, run_grace_s: float = RUN_GRACE_S) -> None:
        root = root if root is not None else os.environ.get(ENV_DOWNLOADS_DIR) or None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="xlm-downloads-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = float(max_age_s)
        self._lock = threading.Lock()
        self._runs = 0
        self.run_grace_s = float(run_grace_s)

    def folder(self, session: str, view: str) -> Path:
        return self.root / _safe(session or "anonymous") / _safe(view)

    def latest_run(self, session: str, view: str) -> Path | None:
        """The folder of the session's newest run of ``view`` (None before its first)."""
        runs = sorted(self.folder(session, view).glob("run-*")) if self.folder(session, view).is_dir() else []
        return runs[-1] if runs else None

    def _replace_files(self, session: str, view: str, contents: Mapping[str, Any]) -> list[str]:
        """``contents`` (file name -> a table to write as CSV, or text) written into a new run folder of the session's
        ``view``, and older runs past their grace (``run_grace_s``) removed, all under the store's lock: a run and a redraw
        of one session writing at once each leave a whole set of files, never a folder the other emptied under it.
        Old sessions' folders are swept first."""
        self.sweep()
        paths = []
        with self._lock:
            self._runs += 1
            now = time.time_ns()
            folder = self.folder(session, view) / f"run-{now:020d}-{self._runs:06d}"
            folder.mkdir(parents=True, exist_ok=True)
            for old in sorted(folder.parent.glob("run-*"))[:-1]:
                if now - int(old.name.split("-")[1]) >= self.run_grace_s * 1e9:
                    shutil.rmtree(old, ignore_errors=True)
            for name, content in contents.items():
                path = folder / _safe(name)
                if isinstance(content, pd.DataFrame):
                    content.to_csv(path, index=False)
                else:
                    path.write_text(content, encoding="utf-8")
                paths.append(str(path))
        return paths

    def write(self, session: str, view: str, tables: Mapping[str, pd.DataFrame], payload: Mapping[str, Any]) -> list[str]:
        """Each table as ``<view>-<name>.csv``, all of them as ``<view>-tables.md`` (when there are any) and the
        payload as ``<view>.json``; returns their paths.

        The session's previous files of this view are replaced.
        """
        contents: dict[str, Any] = {f"{_safe(view)}-{_safe(name)}.csv": frame for name, frame in tables.items()}
        if tables:
            contents[f"{_safe(view)}-tables.md"] = markdown_tables(view, tables)
        contents[f"{_safe(view)}.json"] = json.dumps(payload, ensure_ascii=False, indent=1, default=str)
        return self._replace_files(session, view, contents)

    def write_texts(self, session: str, view: str, texts: Mapping[str, str]) -> list[str]:
        """Text files (``name -> content``, e.g. a lesson's summary) as the session's files of ``view``."""
        return self._replace_files(session, view, dict(texts))

    def tables_since(
        self, session: str, view: str, since: float, rows: int = 5, columns: int = 6
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """The head of each table the session's last run of ``view`` wrote after ``since`` (a ``time.time()``),
        in the order it wrote them: ``(table name, up to rows x columns as dicts)``; none when it has not run since."""
        folder = self.latest_run(session, view)
        try:
            written = [(p.stat().st_mtime, p) for p in folder.glob("*.csv")] if folder is not None else []
        except OSError:
            return []
        found = []
        for _mtime, path in sorted(t for t in written if t[0] >= since):
            try:
                frame = pd.read_csv(path, nrows=rows)
            except (OSError, ValueError):
                continue
            found.append((path.stem.removeprefix(f"{_safe(view)}-"), table_records(frame.iloc[:, :columns])))
        return found

    def files(self, session: str | None = None) -> list[Path]:
        """Every file of one session (or of all)."""
        base = self.root / _safe(session) if session is not None else self.root
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def release(self, session: str) -> list[Path]:
        """Remove a session's files (its browser went away); returns the files removed."""
        removed = self.files(session)
        with self._lock:
            shutil.rmtree(self.root / _safe(session), ignore_errors=True)
        return removed

    def sweep(self, now: float | None = None) -> int:
        """Remove session folders not written for ``max_age_s``; returns how many went."""
        now = time.time() if now is None else now
        gone = 0
        with self._lock:
            for folder in self.root.iterdir() if self.root.exists() else ():
                try:
                    newest = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=folder.stat().st_mtime)
                except OSError:
                    continue
                if now - newest > self.max_age_s:
                    shutil.rmtree(folder, ignore_errors=True)
                    gone += 1
        return gone

    @property
    def nbytes(self) -> int:
        return sum(p.stat().st_size for p in self.files())
