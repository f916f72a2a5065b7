"""The one upload policy, for the page and every API client: size, types, rows, and how a file is read.

| what | limit |
|---|---|
| any uploaded file or pasted table | :data:`MAX_UPLOAD_BYTES` (2 MiB) |
| a results file from the batch command, to browse (no model runs) | :data:`MAX_RESULTS_BYTES` (16 MiB; gradio's own ``max_file_size`` is the larger of the two, each reader checks its own) |
| file types | :data:`TABLE_TYPES` for tables and corpora, :data:`JSON_TYPES` for probe sets |
| rows | :data:`MAX_ROWS`: per kind of data (a row costs a forward pass, or many for a pair) |

Every message is plain text and says what to change. The readers judge a file by its content (UTF-8 text, no
binary data), whatever its name: a client that sends no file name is not refused for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UserInputError

#: Bytes of one upload or one pasted table, on the page and through the API.
MAX_UPLOAD_BYTES = 2 * 2**20
#: Bytes of a results file opened to browse (all 1,508 CrowS-Pairs pairs for both models are about 6 MiB).
MAX_RESULTS_BYTES = 16 * 2**20
#: What the page's file pickers offer (the content decides, not the name).
TABLE_TYPES = (".csv", ".tsv", ".txt")
JSON_TYPES = (".json",)
#: Rows per request, by kind of data.
MAX_ROWS = {
    "embeddings": 2000,  # sentences or words embedded (one forward pass each, batched)
    "pairs": 100,  # sentence pairs scored on the page and API (each sentence is T masked copies)
    "corpus": 5000,  # sentences of an uploaded token-search corpus
}


def size_text(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def gradio_max_file_size() -> str:
    """The largest upload any reader takes, as gradio's ``max_file_size`` wants it."""
    return f"{max(MAX_UPLOAD_BYTES, MAX_RESULTS_BYTES) // 2**10}kb"


def upload_path(upload: Any) -> str | None:
    """The file path of an upload given as a path, a gradio FileData dict or a file object (None when absent)."""
    if upload is None or isinstance(upload, (str, Path)):
        return None if upload is None or not str(upload).strip() else str(upload)
    if isinstance(upload, dict):
        return upload.get("path")
    return getattr(upload, "name", None) or getattr(upload, "path", None)


def check_size(n_bytes: int, what: str = "The file", limit: int = MAX_UPLOAD_BYTES) -> None:
    if n_bytes > limit:
        raise UserInputError(f"{what} is {size_text(n_bytes)}; the limit is {size_text(limit)}.")


def decode_text(data: bytes, what: str = "The file", *, limited: bool = True, expected: str = "a CSV or TSV file") -> str:
    """UTF-8 text (a byte-order mark dropped) of at most :data:`MAX_UPLOAD_BYTES` (any size when not ``limited``:
    the batch commands), or a clear message (``expected``: what to upload instead, in its words)."""
    if limited:
        check_size(len(data), what)
    if not data.strip():
        raise UserInputError(f"{what} is empty.")
    if b"\x00" in data[:8192]:
        raise UserInputError(f"{what} is not a text file (it contains binary data). Upload {expected}.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserInputError(f"{what} is not UTF-8 text. Save it as UTF-8 and upload it again.") from None


def read_upload(
    upload: Any, missing: str = "No file was uploaded.", limit: int = MAX_UPLOAD_BYTES, expected: str = "a CSV or TSV file"
) -> tuple[str, str]:
    """``(file name, text)`` of an upload of at most ``limit`` bytes, checked by :func:`decode_text`; ``missing``
    when there is none; ``expected``: what the message asks for instead of a file that is not text."""
    path = upload_path(upload)
    if not path:
        raise UserInputError(missing)
    file = Path(path)
    if not file.is_file():
        raise UserInputError("The uploaded file could not be found; upload it again.")
    check_size(file.stat().st_size, f"The file {file.name!r}", limit)  # before reading it
    return file.name, decode_text(file.read_bytes(), f"The file {file.name!r}", limited=False, expected=expected)


def check_text_size(text: str, what: str = "The pasted text") -> str:
    """Pasted text under the same size limit as a file."""
    check_size(len(text.encode("utf-8", errors="replace")), what)
    return text
