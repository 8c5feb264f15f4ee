"""Shared fixtures. Real inputs only: the bundled ontologies, small Turtle/OBO files written here, and the
public ontologies in ../shared/ontologies (skipped, with the reason, where a clone has no ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "ontologies"
SHARED = Path(os.environ.get("KGTOOLS_SHARED_ONTOLOGIES", ROOT.parent / "shared" / "ontologies"))
RESOURCES = Path(__file__).resolve().parent / "resources"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/ontologies, skipping the test where that folder is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the public test ontologies live in ../shared/ontologies beside the "
                    "repository (set KGTOOLS_SHARED_ONTOLOGIES to point elsewhere)")
    return path


@pytest.fixture
def store(tmp_path: Path):
    from kgtools.artifacts import ArtifactStore

    return ArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def write(tmp_path: Path):
    """Write a text (or bytes) file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
