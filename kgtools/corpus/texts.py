"""Raw domain text, streamed: .txt (paragraphs split at blank lines), .jsonl (one object a line, a chosen
field) and .parquet (a chosen column), from files or folders. Memory stays flat whatever the corpus size.
Each passage comes with its source, ``file:line`` (or ``file:row``)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from kgtools.errors import KgtoolsError

TEXT_EXTENSIONS = (".txt", ".jsonl", ".parquet")


class CorpusInputError(KgtoolsError):
    """A raw-text input that cannot be read; the message names the file (and line)."""


def text_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files named, and the .txt/.jsonl/.parquet files inside named folders (recursively, sorted)."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_EXTENSIONS
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                raise CorpusInputError(f"{p}: folder holds no text file (looked for {' '.join(TEXT_EXTENSIONS)})")
            files.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in TEXT_EXTENSIONS:
                raise CorpusInputError(f"{p}: unsupported text file type {p.suffix!r}; use {', '.join(TEXT_EXTENSIONS)}")
            files.append(p)
        else:
            raise CorpusInputError(f"{p}: not a regular file (a FIFO, socket or device)" if p.exists()
                                   else f"{p}: no such file or folder")
    return list(dict.fromkeys(files))


def read_passages(files: Sequence[Path], text_field: str = "text", base: Path | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(text, source)`` for every non-empty passage of every file, in order."""
    for path in files:
        name = str(path.relative_to(base)) if base and path.is_relative_to(base) else str(path)
        suffix = path.suffix.lower()
        if suffix == ".txt":
            yield from _txt(path, name)
        elif suffix == ".jsonl":
            yield from _jsonl(path, name, text_field)
        else:
            yield from _parquet(path, name, text_field)


def check_texts(files: Sequence[Path], text_field: str = "text", passages: int = 64) -> None:
    """Read the first ``passages`` of each file, so that a wrong file (binary, not UTF-8, broken JSON, a
    missing field or column) is reported before the stage loads spaCy and the graph, not minutes later.
    A problem further into a file is still reported, by line, when the stage reaches it."""
    for path in files:
        for _ in itertools.islice(read_passages([path], text_field), passages):
            pass


def _open_text(path: Path):
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise CorpusInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    head = fh.read(8192)
    if b"\x00" in head:
        fh.close()
        raise CorpusInputError(f"{path}: binary file (NUL bytes), not UTF-8 text")
    fh.seek(0)
    return fh


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with _open_text(path) as fh:
        for number, raw in enumerate(fh, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusInputError(f"{path}:{number}: not valid UTF-8 ({exc.reason})") from None


def _txt(path: Path, name: str) -> Iterator[tuple[str, str]]:
    block: list[str] = []
    start = 0
    for number, line in _lines(path):
        if line.strip():
            if not block:
                start = number
            block.append(line.strip())
        elif block:
            yield " ".join(block), f"{name}:{start}"
            block = []
    if block:
        yield " ".join(block), f"{name}:{start}"


def _jsonl(path: Path, name: str, field: str) -> Iterator[tuple[str, str]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusInputError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or field not in record:
            keys = ", ".join(sorted(record)) if isinstance(record, dict) else type(record).__name__
            raise CorpusInputError(f"{path}:{number}: no field {field!r} (has: {keys}); set text_field")
        text = record[field]
        if not isinstance(text, str):
            raise CorpusInputError(f"{path}:{number}: field {field!r} is {type(text).__name__}, not text")
        if text.strip():
            yield text.strip(), f"{name}:{number}"


def _parquet(path: Path, name: str, field: str) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise CorpusInputError(f"{path}: not a readable parquet file ({exc})") from None
    if field not in pf.schema_arrow.names:
        raise CorpusInputError(f"{path}: no column {field!r} (has: {', '.join(pf.schema_arrow.names)}); set text_field")
    row = 0
    for batch in pf.iter_batches(columns=[field], batch_size=1024):
        for text in batch.column(0).to_pylist():
            row += 1
            if isinstance(text, str) and text.strip():
                yield text.strip(), f"{name}:{row}"
