from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgtools.corpus.texts import CorpusInputError, read_passages, text_files


def test_txt_jsonl_parquet_and_folders(tmp_path, write):
    write("c/a.txt", "First paragraph\nwraps here.\n\n\nSecond one.\n")
    write("c/b.jsonl", json.dumps({"body": "From JSON."}) + "\n\n" + json.dumps({"body": "  "}) + "\n")
    pq.write_table(pa.table({"body": ["Row one.", None, "Row three."]}), tmp_path / "c" / "d.parquet")
    write("c/.hidden/x.txt", "ignored")
    write("c/notes.md", "ignored")
    files = text_files([tmp_path / "c"])
    assert [f.name for f in files] == ["a.txt", "b.jsonl", "d.parquet"]
    got = list(read_passages(files, "body", base=tmp_path / "c"))
    assert got == [("First paragraph wraps here.", "a.txt:1"), ("Second one.", "a.txt:5"),
                   ("From JSON.", "b.jsonl:1"), ("Row one.", "d.parquet:1"), ("Row three.", "d.parquet:3")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bin.txt", b"\x89PNG\x00\x00data", r"bin\.txt: binary file"),
        ("latin.txt", b"ok\ncaf\xe9\n", r"latin\.txt:2: not valid UTF-8"),
        ("wrong.jsonl", json.dumps({"content": "x"}) + "\n", r"wrong\.jsonl:1: no field 'text' \(has: content\)"),
        ("broken.jsonl", '{"text": "a"}\n{"text": \n', r"broken\.jsonl:2: invalid JSON"),
        ("a.csv", "x", r"unsupported text file type '\.csv'"),
    ],
)
def test_bad_inputs_name_file_and_line(write, name, content, message):
    path = write(name, content)
    with pytest.raises(CorpusInputError, match=message):
        list(read_passages(text_files([path])))


def test_parquet_missing_column(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "t.parquet")
    with pytest.raises(CorpusInputError, match=r"t\.parquet: no column 'text' \(has: body\)"):
        list(read_passages([tmp_path / "t.parquet"]))
