from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from kgtools.artifacts import MANIFEST, Artifact, ArtifactStore, artifact_key, content_hash
from kgtools.errors import ArtifactError


def test_key_depends_on_config_and_input_content_not_paths():
    a = artifact_key("kg", {"lang": ["en"]}, {"/a/x.ttl": "h1"})
    assert a == artifact_key("kg", {"lang": ["en"]}, {"/moved/x.ttl": "h1"})
    assert a != artifact_key("kg", {"lang": ["de"]}, {"/a/x.ttl": "h1"})
    assert a != artifact_key("kg", {"lang": ["en"]}, {"/a/x.ttl": "h2"})
    assert a != artifact_key("corpus", {"lang": ["en"]}, {"/a/x.ttl": "h1"})
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})


def test_build_writes_manifest_and_reuses(store: ArtifactStore):
    calls = []

    def build(tmp):
        calls.append(tmp)
        (tmp / "data.txt").write_text("hello")
        return {"counts": {"rows": 1}}

    art, built = store.build("kg", "k1", {"x": 1}, {"f": "h"}, build)
    assert built and art.path == store.path_for("kg", "k1")
    manifest = json.loads((art.path / MANIFEST).read_text())
    assert manifest["stage"] == "kg" and manifest["counts"] == {"rows": 1} and manifest["config"] == {"x": 1}
    again, built_again = store.build("kg", "k1", {"x": 1}, {"f": "h"}, build)
    assert not built_again and again.path == art.path and len(calls) == 1
    assert store.latest("kg").path == art.path
    _, forced = store.build("kg", "k1", {"x": 1}, {"f": "h"}, build, force=True)
    assert forced and len(calls) == 2


def test_failed_build_leaves_nothing(store: ArtifactStore):
    def build(tmp):
        (tmp / "half.txt").write_text("partial")
        raise KeyboardInterrupt  # as when the user presses Ctrl-C mid-stage

    with pytest.raises(KeyboardInterrupt):
        store.build("kg", "k2", {}, {}, build)
    stage_dir = store.root / "kg"
    assert list(stage_dir.iterdir()) == []
    assert store.find("kg", "k2") is None


def test_debris_of_a_killed_process_is_never_read_and_is_cleaned(store: ArtifactStore, tmp_path):
    # A child process starts building and is killed with SIGKILL before it finishes.
    script = textwrap.dedent(f"""
        import time
        from kgtools.artifacts import ArtifactStore
        def build(tmp):
            (tmp / "part.bin").write_bytes(b"x" * 1000)
            print("started", flush=True)
            time.sleep(60)
            return {{}}
        ArtifactStore({str(store.root)!r}).build("kg", "k3", {{}}, {{}}, build)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    proc.kill()
    proc.wait()
    debris = [p for p in (store.root / "kg").iterdir() if p.name.startswith(".tmp-")]
    assert debris, "the killed build should have left its temporary folder"
    assert store.find("kg", "k3") is None
    with pytest.raises(ArtifactError):
        Artifact.open(debris[0])
    art, built = store.build("kg", "k3", {}, {}, lambda tmp: {"counts": {}})
    assert built and art.path.is_dir()
    assert not [p for p in (store.root / "kg").iterdir() if p.name.startswith(".tmp-k3")]


def test_open_rejects_wrong_stage_and_missing(store: ArtifactStore, tmp_path):
    art, _ = store.build("kg", "k4", {}, {}, lambda tmp: {})
    with pytest.raises(ArtifactError, match="expected a 'corpus' artifact"):
        Artifact.open(art.path, "corpus")
    with pytest.raises(ArtifactError, match="no such artifact"):
        Artifact.open(tmp_path / "nope")
    with pytest.raises(ArtifactError, match="no 'synth' artifact yet"):
        store.latest("synth")
    assert os.path.isdir(art.path)
