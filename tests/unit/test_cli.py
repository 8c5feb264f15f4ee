"""The `kgtools` command as a user runs it: a real subprocess, real exit codes, real stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgtools import __version__

from ..conftest import BUNDLED


def kgtools(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kgtools.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_version_and_help():
    assert kgtools("--version").stdout.strip() == f"kgtools {__version__}"
    out = kgtools("kg", "--help").stdout
    assert "build" in out and "stats" in out and "show" in out


def test_build_stats_show_and_reuse(tmp_path):
    arts = tmp_path / "arts"
    first = kgtools("kg", "build", BUNDLED / "medical.ttl", "-a", arts)
    assert first.returncode == 0, first.stderr
    assert "kg built" in first.stdout and "has symptom" in first.stdout
    second = kgtools("kg", "build", BUNDLED / "medical.ttl", "-a", arts)
    assert second.returncode == 0 and "reused" in second.stdout
    assert len([p for p in (arts / "kg").iterdir() if p.is_dir()]) == 1
    stats = json.loads(kgtools("kg", "stats", arts, "--json").stdout)
    assert stats["concepts"] >= 150 and stats["orphans"] == 0
    show = kgtools("kg", "show", "flu", "--kg", arts)
    assert show.returncode == 0, show.stderr
    for expected in ("influenza", "med:Influenza", "grippe", "viral infectious disease", "caused by (exactly 1)",
                     "influenza virus", "oseltamivir"):
        assert expected in show.stdout
    inverse = kgtools("kg", "show", "oseltamivir", "--kg", arts)
    assert "incoming relations" in inverse.stdout and "influenza" in inverse.stdout


BAD_INPUTS = {
    "missing file": (None, "no such file or folder"),
    "unknown extension": (("notes.xyz", "some words\n"), "unknown extension '.xyz'"),
    "malformed turtle": (("bad.ttl", "@prefix ex: <http://e/> .\nex:a a ex:B .\nex:c ex:d \"open .\n"), r"bad.ttl:3: Turtle syntax error"),
    "malformed rdf/xml": (("bad.rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n<rdf:Description rdf:about="http://e/a">\n</rdf:RDF>\n'), "bad.rdf"),
    "empty ontology": (("empty.ttl", ""), "no concepts found"),
    "is_a cycle": (("cycle.ttl", "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n<http://e/A> a owl:Class ; rdfs:subClassOf <http://e/B> .\n<http://e/B> a owl:Class ; rdfs:subClassOf <http://e/A> .\n"), "is_a cycle"),
    "non-utf8 bytes": (("latin1.ttl", b'@prefix ex: <http://e/> .\nex:a ex:b "caf\xe9" .\n'), r"latin1.ttl:2: .*UTF-8"),
    "folder without ontology": (("empty_dir/readme.txt", "nothing here"), "folder holds no ontology file"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_no_artifact(case, tmp_path, write):
    spec, pattern = BAD_INPUTS[case]
    if spec is None:
        target = tmp_path / "does-not-exist.ttl"
    else:
        target = write(*spec)
        if case == "folder without ontology":
            target = target.parent
    arts = tmp_path / "arts"
    result = kgtools("kg", "build", target, "-a", arts)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    import re

    assert re.search(pattern, lines[0]), lines[0]
    leftovers = list((arts / "kg").iterdir()) if (arts / "kg").exists() else []
    assert not [p for p in leftovers if p.name != "LATEST"], leftovers


def test_show_unknown_concept_and_missing_artifact(tmp_path):
    arts = tmp_path / "arts"
    missing = kgtools("kg", "stats", arts)
    assert missing.returncode == 2 and "no 'kg' artifact yet" in missing.stderr
    assert kgtools("kg", "build", BUNDLED / "finance.ttl", "-a", arts).returncode == 0
    unknown = kgtools("kg", "show", "unobtainium", "--kg", arts)
    assert unknown.returncode == 2 and "no concept with id, IRI, label or synonym 'unobtainium'" in unknown.stderr


def test_kg_stage_imports_no_torch():
    """`kgtools kg build` must stay light: the kg stage and the CLI never import torch (STYLE.md 13)."""
    code = ("import sys, kgtools.cli, kgtools.graph.stage, kgtools.graph.io; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
