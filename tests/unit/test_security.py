"""Nothing is fetched or executed because a file says so: a JSON-LD file's remote `@context` is never
requested, and an artifact's manifest never turns `trust_remote_code` on. Both drive the real CLI."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest


def kgtools(*args: str | Path, home: Path) -> subprocess.CompletedProcess:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_MODULES_CACHE": str(home / "hf" / "modules")}
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=180, env=env, cwd=home)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def local_server():
    """An HTTP server on the loopback interface that records every request it gets."""
    requests: list[str] = []
    context = json.dumps({"@context": {"name": "http://www.w3.org/2000/01/rdf-schema#label",
                                       "Class": "http://www.w3.org/2002/07/owl#Class"}}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/ld+json")
            self.end_headers()
            self.wfile.write(context)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_remote_jsonld_context_is_never_fetched(tmp_path, local_server):
    base, requests = local_server
    doc = {"@context": f"{base}/context.jsonld",
           "@graph": [{"@id": "http://example.org/A", "@type": "Class", "name": "alpha"},
                      {"@id": "http://example.org/B", "@type": "Class", "name": "beta"}]}
    onto = tmp_path / "remote-context.jsonld"
    onto.write_text(json.dumps(doc), "utf-8")
    result = kgtools("kg", "build", onto, "-a", tmp_path / "arts", home=tmp_path)
    line = one_error_line(result)
    assert "remote-context.jsonld" in line and "@context" in line, line
    assert requests == [], f"kgtools requested {requests} from the server a file named"
    kg = tmp_path / "arts" / "kg"
    assert not kg.exists() or not [p for p in kg.iterdir() if p.name != "LATEST"]


def test_inline_jsonld_context_still_builds(tmp_path):
    doc = {"@context": {"name": "http://www.w3.org/2000/01/rdf-schema#label",
                        "Class": "http://www.w3.org/2002/07/owl#Class"},
           "@graph": [{"@id": "http://example.org/A", "@type": "Class", "name": "alpha"}]}
    onto = tmp_path / "inline.jsonld"
    onto.write_text(json.dumps(doc), "utf-8")
    result = kgtools("kg", "build", onto, "-a", tmp_path / "arts", home=tmp_path)
    assert result.returncode == 0, result.stderr


def _artifact_asking_for_remote_code(tmp_path: Path) -> tuple[Path, Path]:
    """A train artifact folder as someone might hand it over: its manifest says trust_remote_code, and the
    checkpoint it names carries Python that leaves a marker file when it runs."""
    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "checkpoint"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({
        "model_type": "evil", "architectures": ["EvilModel"],
        "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}}), "utf-8")
    (ckpt / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n", "utf-8")
    (ckpt / "model.safetensors").write_bytes(b"")  # present, so that the folder passes the structural checks
    (ckpt / "tokenizer.json").write_text("{}", "utf-8")
    art = tmp_path / "train" / "kg_sft" / "abc123"
    (art / "tokenizer").mkdir(parents=True)
    (art / "manifest.json").write_text(json.dumps({
        "stage": "train/kg_sft", "key": "abc123", "parent": None,
        "config": {"model": str(ckpt), "trust_remote_code": True}}), "utf-8")
    return art, marker


def test_artifact_manifest_cannot_turn_on_remote_code(tmp_path):
    art, marker = _artifact_asking_for_remote_code(tmp_path)
    result = kgtools("export", art, tmp_path / "merged", home=tmp_path)
    line = one_error_line(result)
    assert "trust_remote_code" in line and "--trust-remote-code" in line and str(art) in line, line
    assert not marker.exists(), "the checkpoint's Python ran because an artifact's manifest asked for it"
    assert not (tmp_path / "merged").exists()


def test_artifact_manifest_cannot_turn_on_remote_code_in_python(tmp_path):
    from kgtools.artifacts import Artifact
    from kgtools.errors import ArtifactError
    from kgtools.models import load_base_model, load_stage_model

    art, marker = _artifact_asking_for_remote_code(tmp_path)
    for load in (load_base_model, load_stage_model):
        with pytest.raises(ArtifactError, match="trust_remote_code"):
            load(Artifact.open(art))
    assert not marker.exists()


def test_remote_code_runs_only_when_the_user_allows_it(tmp_path):
    """The user's own flag is what allows it: then the checkpoint's code does run (here it is not a real
    model, so loading fails after the code ran — what matters is who decided)."""
    art, marker = _artifact_asking_for_remote_code(tmp_path)
    result = kgtools("export", art, tmp_path / "merged", "--trust-remote-code", home=tmp_path)
    assert marker.exists(), (result.stdout, result.stderr)
    assert not (tmp_path / "merged").exists() or not os.listdir(tmp_path / "merged")
