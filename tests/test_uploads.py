"""The one upload policy: one size limit and one set of messages for every kind of upload, judged by content."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlm_explorer import service
from xlm_explorer.analysis.bias.data import parse_pairs_table, parse_probe_sets
from xlm_explorer.analysis.datasets import read_uploaded
from xlm_explorer.errors import UserInputError
from xlm_explorer.uploads import MAX_UPLOAD_BYTES, decode_text, read_upload, upload_path

KNOWN = ("en", "fr", "de")


def test_one_size_limit_for_files_and_pasted_tables(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"id,lang,text\n" + b"1,en,x\n" * (MAX_UPLOAD_BYTES // 7 + 10))
    for read in (
        lambda: read_uploaded(str(big), KNOWN),
        lambda: service.read_pairs_upload(str(big)),
        lambda: service.read_probe_upload({"path": str(big)}),
        lambda: parse_pairs_table("sent_more\tsent_less\n" + "a b\tc d\n" * (MAX_UPLOAD_BYTES // 8)),
        lambda: parse_probe_sets(b" " * (MAX_UPLOAD_BYTES + 1)),
    ):
        with pytest.raises(UserInputError, match=r"the limit is 2\.0 MiB"):
            read()


def test_content_decides_not_the_file_name(tmp_path: Path) -> None:
    nameless = tmp_path / "blob"  # what a client that sends no file name leaves on the server
    nameless.write_text("id,lang,text\n1,en,hello\n2,fr,bonjour\n", encoding="utf-8")
    assert len(read_uploaded(str(nameless), KNOWN)) == 2
    binary = tmp_path / "table.csv"
    binary.write_bytes(b"id,lang,text\n\x00\x01\x02")
    with pytest.raises(UserInputError, match="binary data"):
        read_upload(str(binary))
    with pytest.raises(UserInputError, match="not UTF-8"):
        decode_text("café".encode("latin-1"))


def test_upload_shapes_every_client_sends(tmp_path: Path) -> None:
    file = tmp_path / "x.tsv"
    file.write_text("sent_more\tsent_less\nHe is tall.\tShe is tall.\n", encoding="utf-8")
    for upload in (str(file), file, {"path": str(file), "meta": {"_type": "gradio.FileData"}}):
        assert upload_path(upload) == str(file)
        assert service.read_pairs_upload(upload) == (file.read_text(encoding="utf-8"), 1)
    assert upload_path(None) is None and upload_path("  ") is None
    with pytest.raises(UserInputError, match="No file was uploaded"):
        read_upload(None)


def test_the_batch_command_reads_pairs_files_of_any_size() -> None:
    rows = "".join(f"A {i} is here.\tB {i} is here.\n" for i in range(MAX_UPLOAD_BYTES // 20))
    data = ("sent_more\tsent_less\n" + rows).encode("utf-8")
    assert len(data) > MAX_UPLOAD_BYTES
    assert len(parse_pairs_table(data, max_pairs=None)) == MAX_UPLOAD_BYTES // 20
