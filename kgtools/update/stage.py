"""The `kg_diff` stage: two `kg` artifacts (an old and a new release) → a `kg_diff` artifact.

Files: ``changes.parquet`` (one row per typed change, see kgtools.update.diff), ``summary.md`` (counts and
examples a curator can read) and ``manifest.json`` (counts, both kg keys, timings). The key hashes the two
kg keys in their order, so old → new and new → old are two artifacts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kgtools.artifacts import Artifact, ArtifactStore, StageResult, artifact_key
from kgtools.errors import ArtifactError
from kgtools.graph.io import load_graph
from kgtools.graph.stage import release_name
from kgtools.update.diff import COLUMNS, DiffError, diff_graphs, summary_markdown

STAGE = "kg_diff"
CHANGES_FILE = "changes.parquet"
SUMMARY_FILE = "summary.md"
_STR, _LIST = pa.string(), pa.list_(pa.string())
SCHEMA = pa.schema([(c, _LIST if c in ("old", "new", "old_ids", "new_ids") else _STR) for c in COLUMNS])


class DiffResult(StageResult):
    def changes(self) -> list[dict[str, Any]]:
        return read_changes(self.artifact.path)


def read_changes(folder: str | Path) -> list[dict[str, Any]]:
    path = Path(folder) / CHANGES_FILE
    try:
        return pq.read_table(path).to_pylist()
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc}); rebuild the diff") from None


def build_diff(old: Artifact, new: Artifact, store: ArtifactStore, *, force: bool = False, top: int = 15) -> DiffResult:
    """The diff of two kg artifacts, built once per ordered pair."""
    for which, art in (("OLD", old), ("NEW", new)):
        if art.stage != "kg":
            raise ArtifactError(f"{which} {art.path}: a {art.stage!r} artifact, not a kg artifact")
    if old.key == new.key:
        raise DiffError(f"OLD and NEW are the same kg artifact ({old.path}): there is nothing to diff")
    config = {"old": old.key, "new": new.key, "top": top}
    key = artifact_key(STAGE, config, {})

    def build(tmp: Path) -> dict[str, Any]:
        t0 = time.perf_counter()
        old_kg, new_kg = load_graph(old.path), load_graph(new.path)
        t1 = time.perf_counter()
        closure = bool(old.manifest.get("entailment")) and bool(new.manifest.get("entailment"))
        diff = diff_graphs(old_kg, new_kg, closure=closure)
        t2 = time.perf_counter()
        columns = {c: [r[c] for r in diff.rows] for c in COLUMNS}
        pq.write_table(pa.Table.from_arrays([pa.array(columns[f.name], type=f.type) for f in SCHEMA], schema=SCHEMA),
                       tmp / CHANGES_FILE)
        names = [release_name(a) for a in (old, new)]
        (tmp / SUMMARY_FILE).write_text(summary_markdown(diff, *names, top=top), encoding="utf-8")
        return {"counts": diff.counts, "stats": diff.stats, "closure_compared": closure,
                "releases": {"old": {"key": old.key, "path": str(old.path), "name": names[0]},
                             "new": {"key": new.key, "path": str(new.path), "name": names[1]}},
                "timings": {"load": round(t1 - t0, 3), "diff": round(t2 - t1, 3),
                            "write": round(time.perf_counter() - t2, 3)}}

    artifact, built = store.build(STAGE, key, config, {"old": old.key, "new": new.key}, build, force=force)
    return DiffResult(artifact, built)
