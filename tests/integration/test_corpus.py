"""The corpus stage on real inputs: the bundled corpora and ontologies, DOID, and the gold mentions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kgtools.artifacts import ArtifactStore
from kgtools.config import CorpusConfig, KgConfig
from kgtools.corpus.link import Linker, LinkStats
from kgtools.corpus.stage import build_corpus
from kgtools.graph.model import KnowledgeGraph
from kgtools.graph.stage import build_kg

from ..conftest import BUNDLED, ROOT, shared_path

CORPORA = ROOT / "corpora"


@pytest.fixture(scope="module")
def med_kg(tmp_path_factory):
    store = ArtifactStore(tmp_path_factory.mktemp("arts"))
    return build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store), store


def test_linking_precision_and_recall_on_gold(med_kg):
    result, _ = med_kg
    linker = Linker(result.graph())
    gold = [json.loads(line) for line in (CORPORA / "gold" / "medical.jsonl").read_text().splitlines()]
    tp = fp = fn = 0
    for record in gold:
        predicted = {(m["start"], m["end"], m["node_id"]) for m in linker.mentions(linker.nlp(record["text"]))
                     if m["node_id"] is not None}
        expected = {(m["start"], m["end"], m["node_id"]) for m in record["mentions"]}
        tp, fp, fn = tp + len(predicted & expected), fp + len(predicted - expected), fn + len(expected - predicted)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nlinking on {len(gold)} gold paragraphs, {tp + fn} gold mentions: "
          f"precision {precision:.3f}, recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})")
    assert tp + fn >= 150
    assert precision >= 0.9 and recall >= 0.8


def test_ambiguous_surface_resolved_by_graph_context():
    kg = KnowledgeGraph()
    kg.add_nodes([
        ("d:cold", {"label": "common cold", "synonyms": ["cold"], "synonym_scopes": ["exact"], "kind": "class"}),
        ("d:sneeze", {"label": "sneezing", "synonyms": [], "synonym_scopes": [], "kind": "class"}),
        ("w:cold", {"label": "cold weather", "synonyms": ["cold"], "synonym_scopes": ["exact"], "kind": "class"}),
        ("w:ice", {"label": "ice", "synonyms": [], "synonym_scopes": [], "kind": "class"}),
    ])
    kg.add_edges([("d:cold", "hasSymptom", "d:sneeze", "has symptom", "restriction", "some"),
                  ("w:cold", "brings", "w:ice", "brings", "restriction", "some")])
    linker = Linker(kg)

    def first(text):
        return next(m for m in linker.mentions(linker.nlp(text)) if m["surface"].lower() == "cold")

    assert first("A cold usually brings sneezing.")["node_id"] == "d:cold"
    assert first("Cold nights leave ice on the roads.")["node_id"] == "w:cold"
    open_one = first("It was cold.")
    assert open_one["node_id"] is None and open_one["candidates"] == ["d:cold", "w:cold"]


def test_linking_the_bundled_corpus_against_doid(tmp_path):
    store = ArtifactStore(tmp_path)
    kg = build_kg(KgConfig(ontologies=[shared_path("doid", "DO_infectious_disease_slim.owl")]), store).graph()
    linker = Linker(kg, synonym_scopes=["exact", "related"])
    assert linker.terms > 1000
    stats = LinkStats()
    from kgtools.corpus.texts import read_passages, text_files

    records = list(linker.link(read_passages(text_files([CORPORA / "medical"])), stats))
    linked = {m["node_id"] for r in records for m in r["mentions"] if m["node_id"]}
    for disease in ("influenza", "measles", "tuberculosis", "malaria", "cholera", "dengue fever", "chikungunya"):
        assert kg.resolve(disease) in linked, disease
    print(f"\nDOID slim ({len(kg.concepts())} concepts, {linker.terms} terms) over the medical corpus: "
          f"{stats.kept}/{stats.passages} passages, {stats.mentions} mentions, {len(linked)} concepts")


def test_corpus_stage_end_to_end_and_reuse(med_kg):
    kg_result, store = med_kg
    cfg = CorpusConfig(texts=[CORPORA / "medical"], paraphrases=2)
    first = build_corpus(cfg, kg_result.artifact, store)
    again = build_corpus(cfg, kg_result.artifact, store)
    assert first.built and not again.built and first.path == again.path
    ds = first.dataset()
    assert ds.column_names == ["text", "source", "kind", "mentions"]
    kinds = {k: ds["kind"].count(k) for k in ("verbalised", "linked")}
    concepts = first.artifact.manifest["coverage"]["concepts"]
    assert kinds["verbalised"] == 2 * concepts and kinds["linked"] >= 40
    row = next(r for r in ds if r["kind"] == "linked")
    assert all(row["text"][m["start"]:m["end"]] == m["surface"] for m in row["mentions"])
    manifest = first.artifact.manifest
    assert manifest["coverage"]["share"] > 0.4
    unlinked = {u["phrase"] for u in manifest["unlinked_capitalised"]}
    assert {"World Health Organization", "Aedes"} & unlinked


def kgtools_cli(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**env, "COLUMNS": "200"}, timeout=300)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("wrong.jsonl", json.dumps({"body": "Influenza."}) + "\n", r"wrong\.jsonl:1: no field 'text' \(has: body\)"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", r"image\.txt: binary file"),
        ("empty.txt", "\n\n   \n", r"empty corpus"),
        ("dangling.txt", None, r"dangling\.txt: no such file or folder"),
    ],
)
def test_cli_bad_texts_one_line_exit_2_no_artifact(med_kg, tmp_path, write, name, content, pattern):
    import re

    kg_result, _ = med_kg
    if content is None:
        target = tmp_path / name
        target.symlink_to(tmp_path / "missing-target.txt")  # an unreadable file (root can read anything else)
    else:
        target = write(name, content)
    out = tmp_path / "out"
    result = kgtools_cli("corpus", "build", "--kg", kg_result.path, "--texts", target, "--out", out, "--no-verbalise")
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(pattern, lines[0]), result.stderr
    leftovers = [p for p in (out / "corpus").iterdir() if p.name != "LATEST"] if (out / "corpus").exists() else []
    assert leftovers == []


def test_cli_corpus_build_prints_coverage(med_kg, tmp_path):
    kg_result, _ = med_kg
    result = kgtools_cli("corpus", "build", "--kg", kg_result.path, "--texts", CORPORA / "medical", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "corpus built" in result.stdout and "concepts mentioned in texts" in result.stdout


def test_finance_corpus_links_and_parallel_linking_gives_the_same_records(tmp_path):
    from kgtools.corpus.texts import read_passages, text_files

    kg = build_kg(KgConfig(ontologies=[BUNDLED / "finance.ttl"]), ArtifactStore(tmp_path)).graph()
    linker = Linker(kg)
    passages = list(read_passages(text_files([CORPORA / "finance"])))
    one = list(linker.link(passages, LinkStats(), min_mentions=0))
    two = list(linker.link(passages, LinkStats(), min_mentions=0, n_process=2, batch_size=8))
    assert one == two and len(one) == len(passages) >= 40
    linked = {m["node_id"] for r in one for m in r["mentions"] if m["node_id"]}
    assert {"fin:InterestRateSwap", "fin:SEC", "fin:BaselIII", "fin:CentralCounterparty"} <= linked
    assert len(linked & set(kg.concepts())) / len(kg.concepts()) > 0.5
