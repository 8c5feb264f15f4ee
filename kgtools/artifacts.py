"""Content-addressed, atomically written artifact folders: the only way stages meet.

An artifact lives at ``ROOT/STAGE/KEY`` where KEY hashes the stage name, the kgtools version, the stage's
config and the hashes of its inputs. It is built in a hidden temporary folder beside its final place,
``manifest.json`` is written last, and the folder is renamed into place only when complete: a folder with a
manifest is a finished artifact, anything else is debris from a killed run and is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgtools import __version__
from kgtools.errors import ArtifactError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
KEY_LENGTH = 16
_TMP_PREFIX = ".tmp-"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def files_digest(paths: Iterable[str | Path]) -> dict[str, str]:
    """``{path: sha256}`` for each file, paths as given (resolved to absolute strings)."""
    return {str(absolute(p)): file_digest(p) for p in sorted(set(paths), key=str)}


def artifact_key(stage: str, config: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """The content address of a stage's output: stage, code version, config and input hashes.

    Input *hashes* (not paths) enter the key, so moving an input file keeps the cache valid while
    editing it does not.
    """
    major_minor = ".".join(__version__.split(".")[:2])
    payload = {
        "stage": stage,
        "version": major_minor,
        "config": config,
        "inputs": sorted(inputs.values()),
    }
    return content_hash(payload)[:KEY_LENGTH]


@dataclass(frozen=True)
class Artifact:
    """A finished artifact folder and its manifest."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def stage(self) -> str:
        return self.manifest["stage"]

    @property
    def key(self) -> str:
        return self.manifest["key"]

    @classmethod
    def open(cls, path: str | Path, stage: str | None = None) -> Artifact:
        """Open a finished artifact; ``stage`` checks that it is the expected kind."""
        path = Path(path)
        manifest_path = path / MANIFEST
        if not path.is_dir():
            raise ArtifactError(f"{path}: no such artifact folder")
        if not manifest_path.is_file():
            raise ArtifactError(f"{path}: not a finished artifact (no {MANIFEST}); rebuild it")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{manifest_path}: unreadable manifest ({exc})") from None
        if stage is not None and manifest.get("stage") != stage:
            raise ArtifactError(
                f"{path}: is a {manifest.get('stage')!r} artifact, expected a {stage!r} artifact"
            )
        artifact = cls(path=path, manifest=manifest)
        if problems := artifact.damage():
            raise ArtifactError(f"{path}: damaged artifact ({problems[0]}); delete the folder and rebuild it")
        return artifact

    def damage(self, hashes: bool = False) -> list[str]:
        """What differs from the file list the manifest recorded when the artifact was written: missing
        files and wrong sizes (a stat per file), and with ``hashes`` wrong contents. Artifacts written
        before kgtools recorded files have no list and pass."""
        problems = []
        for rel, expected in sorted((self.manifest.get("files") or {}).items()):
            f = self.path / rel
            try:
                size = f.stat().st_size
            except OSError:
                problems.append(f"{rel} is missing")
                continue
            if size != expected["size"]:
                problems.append(f"{rel} has {size} bytes, {expected['size']} were written")
            elif hashes and file_digest(f) != expected["sha256"]:
                problems.append(f"{rel} does not hold the bytes that were written (sha256 differs)")
        return problems


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {size, sha256}}`` of every file under ``folder`` but the manifest."""
    out = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name != MANIFEST:
            out[f.relative_to(folder).as_posix()] = {"size": f.stat().st_size, "sha256": file_digest(f)}
    return out


def input_paths(final: Path, *artifacts: Artifact | None) -> dict[str, str]:
    """Where each input artifact is, relative to the artifact being built at ``final`` (an input may live under
    another artifact root: ``kgtools train --data elsewhere``). Manifests record it for the cards' lineage."""
    return {f"{a.stage}:{a.key}": os.path.relpath(a.path, final) for a in artifacts if a is not None}


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n", "utf-8")
    os.replace(tmp, path)


@dataclass
class StageResult:
    """What a stage function returns: its artifact, and whether it was built now or reused."""

    artifact: Artifact
    built: bool

    @property
    def path(self) -> Path:
        return self.artifact.path


@dataclass
class DatasetResult(StageResult):
    """A stage result whose artifact holds a Hugging Face dataset in ``dataset/``."""

    def dataset(self):
        from datasets import load_from_disk

        return load_from_disk(str(self.artifact.path / "dataset"))


BuildFn = Callable[[Path], Mapping[str, Any]]


class ArtifactStore:
    """Artifacts under one root folder, one sub-folder per stage."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def find(self, stage: str, key: str) -> Artifact | None:
        """The finished artifact ``(stage, key)``, or None. One whose files no longer match its manifest
        (deleted or truncated by hand, a disk error) is reported and treated as absent, so it is rebuilt."""
        path = self.path_for(stage, key)
        if not (path / MANIFEST).is_file():
            return None
        try:
            return Artifact.open(path, stage)
        except ArtifactError as exc:
            log.warning("%s; rebuilding it", exc)
            return None

    def latest(self, stage: str) -> Artifact:
        """The artifact of ``stage`` written most recently into this store."""
        pointer = self.root / stage / "LATEST"
        if not pointer.is_file():
            raise ArtifactError(f"{self.root / stage}: no {stage!r} artifact yet; build one first")
        return Artifact.open(self.root / stage / pointer.read_text("utf-8").strip(), stage)

    def build(
        self,
        stage: str,
        key: str,
        config: Mapping[str, Any],
        inputs: Mapping[str, str],
        build_fn: BuildFn,
        *,
        force: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[Artifact, bool]:
        """Return the artifact ``(stage, key)``, building it with ``build_fn(tmp_dir)`` if needed.

        ``build_fn`` writes its files into the temporary folder and returns the counters for the manifest
        (``{"counts": ..., "warnings": ...}`` or any mapping). Returns ``(artifact, built)``.
        """
        final = self.path_for(stage, key)
        if not force and (existing := self.find(stage, key)) is not None:
            self.mark_latest(stage, key)
            return existing, False

        final.parent.mkdir(parents=True, exist_ok=True)
        self._remove_debris(final.parent, key)
        tmp = final.parent / f"{_TMP_PREFIX}{key}.{os.getpid()}"
        tmp.mkdir()
        started = time.time()
        try:
            report = dict(build_fn(tmp))
            manifest = {
                "stage": stage,
                "key": key,
                "kgtools_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "config": config,
                "inputs": dict(inputs),
                "seconds": round(time.time() - started, 3),
                **(extra or {}),
                **report,
                "files": file_table(tmp),
            }
            write_json_atomic(tmp / MANIFEST, manifest)
            if final.exists():  # --force, or a concurrent run finished first
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.mark_latest(stage, key)
        log.info("wrote %s artifact %s", stage, final)
        return Artifact.open(final, stage), True

    def mark_latest(self, stage: str, key: str) -> None:
        """Record ``key`` as the stage's most recent artifact (what commands use when none is named)."""
        pointer = self.root / stage / "LATEST"
        tmp = pointer.with_name(f"{_TMP_PREFIX}LATEST.{os.getpid()}")
        tmp.write_text(key + "\n", "utf-8")
        os.replace(tmp, pointer)

    @staticmethod
    def _remove_debris(stage_dir: Path, key: str) -> None:
        """Temporary folders of this key left by killed runs are removed before a rebuild."""
        for leftover in stage_dir.glob(f"{_TMP_PREFIX}{key}.*"):
            pid = leftover.suffix.lstrip(".")
            if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
                continue  # another live process is building the same artifact
            shutil.rmtree(leftover, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def absolute(path: str | os.PathLike[str]) -> Path:
    """An absolute, normalised path without resolving symlinks (``Path.resolve`` costs a syscall per part)."""
    return Path(os.path.normpath(os.path.abspath(path)))
