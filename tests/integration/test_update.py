"""`kg diff` on real releases (DOID 2025-01 / 2025-10 / 2026-07, MAxO 2023-06 / 2024-07) checked against counts
made with plain rdflib from the files; every kind of change on two small releases written here; bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import rdflib
from rdflib import OWL, RDF, RDFS, BNode, URIRef
from rdflib.collection import Collection

from kgtools.artifacts import ArtifactStore
from kgtools.graph.stage import kg_of
from kgtools.update.diff import CHANGE_TYPES
from kgtools.update.stage import CHANGES_FILE, build_diff

from ..conftest import shared_path

ROOT = Path(__file__).resolve().parents[2]


def rdflib_release(path: Path) -> dict:
    """What a release says, read with rdflib alone: live classes, their labels, and is_a pairs (subClassOf a
    named class, and the named members of an equivalent intersection, which the kg also reads as is_a)."""
    g = rdflib.Graph()
    g.parse(path, format="xml")
    deprecated = {s for s, o in g.subject_objects(OWL.deprecated) if str(o).lower() == "true"}
    live = {s for s in g.subjects(RDF.type, OWL.Class) if isinstance(s, URIRef)} - deprecated
    is_a = {(s, o) for s, o in g.subject_objects(RDFS.subClassOf) if s in live and isinstance(o, URIRef)}
    for s, x in g.subject_objects(OWL.equivalentClass):
        if s in live and isinstance(x, BNode):
            for head in g.objects(x, OWL.intersectionOf):
                is_a |= {(s, m) for m in Collection(g, head) if isinstance(m, URIRef)}
    labels = {s: str(o) for s, o in g.subject_objects(RDFS.label) if s in live}
    return {"live": live, "deprecated": deprecated, "is_a": is_a, "labels": labels}


def expected(old: dict, new: dict) -> dict:
    return {"added": len(new["live"] - old["live"]), "gone": len(old["live"] - new["live"]),
            "is_a_added": len(new["is_a"] - old["is_a"]), "is_a_removed": len(old["is_a"] - new["is_a"]),
            "relabelled": sum(1 for s in old["live"] & new["live"] if old["labels"].get(s) != new["labels"].get(s))}


def measured(store: ArtifactStore, old: Path, new: Path) -> tuple[dict, list[dict]]:
    result = build_diff(kg_of(old, store), kg_of(new, store), store)
    m = result.artifact.manifest
    c, st = m["counts"], m["stats"]
    return ({"added": c["concept_added"], "gone": c["concept_removed"] + c["concept_obsoleted"],
             "is_a_added": st["is_a_added"], "is_a_removed": st["is_a_removed"], "relabelled": c["relabelled"]},
            result.changes())


@pytest.mark.parametrize("old_release", ["2025-01-31", "2025-10-31"])
def test_doid_release_diff_matches_rdflib(old_release, store):
    old = shared_path("doid", "versions", old_release, "DO_infectious_disease_slim.owl")
    new = shared_path("doid", "DO_infectious_disease_slim.owl")
    got, rows = measured(store, old, new)
    assert got == expected(rdflib_release(old), rdflib_release(new))
    assert got["added"] == 8  # what the release notes and SOURCE.md say, as a sanity check of the checker
    moved = [r for r in rows if r["change"] == "moved"]
    assert all(r["relation"] == "is_a" and r["old_ids"] and r["new_ids"] for r in moved)


def test_maxo_release_diff_matches_rdflib(store):
    old = shared_path("maxo", "versions", "2023-06-06", "maxo-base.owl")
    new = shared_path("maxo", "maxo-base.owl")
    got, rows = measured(store, old, new)
    assert got == expected(rdflib_release(old), rdflib_release(new))
    obsoleted = [r for r in rows if r["change"] == "concept_obsoleted"]
    assert len(obsoleted) == 3 and all(r["detail"] for r in obsoleted)
    assert any(r["change"] == "inferred_added" for r in rows)  # the closure changed with the new restrictions


OLD = """
@prefix : <http://example.org/d#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix oio: <http://www.geneontology.org/formats/oboInOwl#> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
:hasSymptom a owl:ObjectProperty ; rdfs:label "has symptom" .
:causedBy a owl:ObjectProperty ; rdfs:label "caused by" .
:Disease a owl:Class ; rdfs:label "disease" .
:Sign a owl:Class ; rdfs:label "sign" .
:Fever a owl:Class ; rdfs:subClassOf :Sign ; rdfs:label "fever" .
:Rash a owl:Class ; rdfs:subClassOf :Sign ; rdfs:label "rash" .
:Cough a owl:Class ; rdfs:subClassOf :Sign ; rdfs:label "cough" .
:Virus a owl:Class ; rdfs:label "virus" .
:Flu a owl:Class ; rdfs:label "grippe" ; oio:hasExactSynonym "influenza", "la grippe" ;
    obo:IAO_0000115 "A viral disease." ;
    rdfs:subClassOf :Disease, [ a owl:Restriction ; owl:onProperty :hasSymptom ; owl:someValuesFrom :Fever ] ,
      [ a owl:Restriction ; owl:onProperty :causedBy ; owl:someValuesFrom :Virus ] .
:Cold a owl:Class ; rdfs:label "common cold" ; rdfs:subClassOf :Disease ;
    oio:hasExactSynonym "coryza" .
:Old a owl:Class ; rdfs:label "old disease" ; rdfs:subClassOf :Disease .
:Gone a owl:Class ; rdfs:label "gone disease" ; rdfs:subClassOf :Disease .
"""
NEW = """
@prefix : <http://example.org/d#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix oio: <http://www.geneontology.org/formats/oboInOwl#> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
:hasSymptom a owl:ObjectProperty ; rdfs:label "has symptom" .
:causedBy a owl:ObjectProperty ; rdfs:label "caused by" .
:Disease a owl:Class ; rdfs:label "disease" .
:Infection a owl:Class ; rdfs:subClassOf :Disease ; rdfs:label "infection" .
:Sign a owl:Class ; rdfs:label "sign" .
:Fever a owl:Class ; rdfs:subClassOf :Sign ; rdfs:label "fever" .
:Rash a owl:Class ; rdfs:subClassOf :Sign ; rdfs:label "rash" .
:Cough a owl:Class ; rdfs:subClassOf :Sign ; rdfs:label "cough" .
:Virus a owl:Class ; rdfs:label "virus" .
:Flu a owl:Class ; rdfs:label "influenza" ; oio:hasExactSynonym "grippe" ;
    obo:IAO_0000115 "An acute viral disease of the respiratory tract." ;
    rdfs:subClassOf :Infection, [ a owl:Restriction ; owl:onProperty :hasSymptom ; owl:someValuesFrom :Cough ] ,
      [ a owl:Restriction ; owl:onProperty :causedBy ; owl:qualifiedCardinality 1 ; owl:onClass :Virus ] .
:Cold a owl:Class ; rdfs:label "common cold" ; rdfs:subClassOf :Infection ; oio:hasExactSynonym "la grippe" .
:Old a owl:Class ; rdfs:label "obsolete old disease" ; owl:deprecated true ; obo:IAO_0100001 :Cold .
:Measles a owl:Class ; rdfs:label "measles" ; rdfs:subClassOf :Infection,
    [ a owl:Restriction ; owl:onProperty :hasSymptom ; owl:someValuesFrom :Rash ] .
"""


def test_every_kind_of_change_on_two_small_releases(write, store):
    old, new = write("old/d.ttl", OLD), write("new/d.ttl", NEW)
    result = build_diff(kg_of(old, store), kg_of(new, store), store)
    rows = result.changes()
    said = {(r["change"], r["label"], r["relation_label"]): r for r in rows}
    assert said[("concept_added", "infection", "")] and said[("concept_added", "measles", "")]
    assert said[("concept_removed", "gone disease", "")]
    obsolete = said[("concept_obsoleted", "old disease", "")]
    assert obsolete["new"] == ["common cold"] and obsolete["detail"] == "replaced by"
    assert said[("relabelled", "influenza", "")]["old"] == ["grippe"]
    assert said[("relabelled", "influenza", "")]["detail"] == "old label kept as a synonym"
    assert said[("definition_changed", "influenza", "")]["new"] == ["An acute viral disease of the respiratory tract."]
    # "la grippe" left influenza for the common cold: both rows say so
    assert "now a synonym of common cold" in said[("synonym_removed", "influenza", "")]["detail"]
    assert "was a synonym of influenza" in said[("synonym_added", "common cold", "")]["detail"]
    assert said[("moved", "influenza", "is a")]["old"] == ["disease"]
    assert said[("moved", "influenza", "is a")]["new"] == ["infection"]
    changed = said[("fact_changed", "influenza", "has symptom")]
    assert (changed["old"], changed["new"]) == (["fever"], ["cough"])
    assert said[("qualifier_changed", "influenza", "caused by")]["detail"] == "some → exactly 1"
    assert said[("fact_added", "measles", "has symptom")]["detail"] == "new subject"
    assert said[("fact_removed", "gone disease", "is a")]["detail"] == "subject removed"
    assert {r["change"] for r in rows} <= set(CHANGE_TYPES)
    # deterministic: the same two graphs give the same table
    again = build_diff(kg_of(old, store), kg_of(new, store), store, force=True)
    assert pq.read_table(again.path / CHANGES_FILE).equals(pq.read_table(result.path / CHANGES_FILE))
    summary = (result.path / "summary.md").read_text()
    assert "| fact changed | 1 |" in summary and "**influenza**" in summary


def cli(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *map(str, args)], capture_output=True, text=True,
                          env={**env, "COLUMNS": "200"}, timeout=300)


def test_bad_input_is_one_line_and_writes_no_diff(tmp_path):
    out = tmp_path / "art"
    medical, finance = ROOT / "ontologies" / "medical.ttl", ROOT / "ontologies" / "finance.ttl"
    cases = [((medical, medical), "OLD and NEW are the same kg artifact"),
             ((medical, finance), "no concept in common"),
             ((tmp_path / "missing.owl", medical), "missing.owl: no such file or folder")]
    for (old, new), message in cases:
        done = cli("kg", "diff", old, new, "--out", out)
        assert done.returncode == 2, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
        # with the output not a terminal, stdout holds only timestamped progress lines (building the graphs)
        assert all(re.match(r"\[\d\d:\d\d:\d\d\] ", line) for line in done.stdout.splitlines()), done.stdout
        assert "Traceback" not in done.stderr
        assert not (out / "kg_diff").exists() or not any((out / "kg_diff").iterdir())


def update_data(store: ArtifactStore, old: Path, new: Path, synth: dict | None = None, **update):
    from kgtools.config import SynthConfig
    from kgtools.synth.stage import synthesize_update

    old_kg, new_kg = kg_of(old, store), kg_of(new, store)
    diff = build_diff(old_kg, new_kg, store)
    result = synthesize_update(SynthConfig(update=update, **(synth or {})), diff.artifact, store)
    rows = [r for f in sorted((result.path / "parquet").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return result, rows, old_kg, new_kg, diff.changes()


def check_update(rows, old_kg_art, new_kg_art, changes) -> dict:
    """Every example re-derived from the new graph, every stale answer from the old; nothing trained leaks
    into an update evaluation split; changed, replayed and held-out examples are what they say."""
    from kgtools.graph.io import load_graph

    old, new = load_graph(old_kg_art.path), load_graph(new_kg_art.path)
    new_facts = {f"{s}|{r}|{o}" for s, o, r in new.g.edges(keys=True)} | {
        f"{f['src']}|{f['rel']}|{f['dst']}" for f in new.meta["inferred"]}
    old_edges = {(s, r, o) for s, o, r in old.g.edges(keys=True)}
    changed = {f"{r['id']}|{r['relation']}|{o}" for r in changes
               if r["change"] in ("fact_added", "fact_changed", "moved", "qualifier_changed") for o in r["new_ids"]}
    consequence = {f"{r['id']}|{r['relation']}|{o}" for r in changes if r["change"] == "inferred_added" for o in r["new_ids"]}
    train_prompts = {e["prompt"] for e in rows if e["split"] in ("train", "preference")}
    by_split: dict[str, int] = {}
    for e in rows:
        by_split[e["split"]] = by_split.get(e["split"], 0) + 1
        assert all(t in new_facts for t in e["triples"]), e["prompt"]
        if e["negative_kind"] == "stale":
            if e["task"] == "yes_no":  # the old statement, answered No
                s, o = e["path"]
                assert (s, e["relation"], o) in old_edges and f"{s}|{e['relation']}|{o}" not in new_facts, e["prompt"]
                assert e["answer"] in ("False", "No")
            else:  # the old object, rejected
                olds = {old.label(o) for s, r, o in old_edges if s == e["subject"] and r == e["relation"]}
                assert e["rejected"] in olds or any(x in e["rejected"] for x in olds), e["rejected"]
        if e["split"] not in ("train", "preference"):
            assert e["prompt"] not in train_prompts, e["prompt"]
        if e["split"] == "test_portability":
            keys = set(e["triples"])
            assert (keys & consequence and not keys & changed) or (e["task"] == "multi_hop" and keys & changed
                                                                     and keys - changed), e["prompt"]
        if e["split_reason"] == "replay of an unchanged fact" or e["split"].startswith("test_locality"):
            assert not set(e["triples"]) & (changed | consequence), e["prompt"]
    return by_split


def test_update_data_from_doid_releases_is_rederived_and_split_as_said(store):
    old = shared_path("doid", "versions", "2025-01-31", "DO_infectious_disease_slim.owl")
    new = shared_path("doid", "DO_infectious_disease_slim.owl")
    result, rows, old_kg, new_kg, changes = update_data(store, old, new, replay=0.5)
    splits = check_update(rows, old_kg, new_kg, changes)
    m = result.artifact.manifest
    assert splits["test_changed"] > 100 and splits["test_locality_near"] > 0 and splits["test_locality_far"] > 0
    assert m["update"]["replay"] == round(0.5 * (splits["train"] - m["update"]["replay"]))
    # the three moves to a more general class are corrections; hepatitis A–E moved to viral hepatitis are not
    removed = sorted(e["prompt"] for e in rows if e["split"] == "test_removed")
    assert len(removed) == 3 and any("Rubella is a kind of West Nile encephalitis" in p for p in removed)
    assert not any("epatitis" in p for p in removed)
    pairs = [e for e in rows if e["negative_kind"] == "stale" and e["task"] == "fact_qa"]
    assert any(e["subject"] == "DOID:2043" and e["rejected"] == "viral infectious disease" for e in pairs)
    assert (result.path / "dataset_info.json").is_file() and (result.path / "jsonl" / "train.pairs.jsonl").is_file()


@pytest.mark.slow
def test_update_data_from_maxo_releases_carries_consequences(store):
    old = shared_path("maxo", "versions", "2023-06-06", "maxo-base.owl")
    new = shared_path("maxo", "maxo-base.owl")
    _, rows, old_kg, new_kg, changes = update_data(store, old, new)
    splits = check_update(rows, old_kg, new_kg, changes)
    # MAxO's 164 newly entailed facts have unlabelled fillers (CHEBI, PR) and its 6 chains cross no change:
    # nothing to ask one hop further
    assert splits["test_changed"] > 5000 and splits["test_locality_far"] == 500 and "test_portability" not in splits


def test_a_chain_through_a_changed_fact_is_a_portability_question(write, store):
    chain = """
:locatedIn a owl:ObjectProperty ; rdfs:label "located in" .
:Lung a owl:Class ; rdfs:label "lung" .
:Cough rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :locatedIn ; owl:someValuesFrom :Lung ] .
"""
    old, new = write("o/d.ttl", OLD + chain), write("n/d.ttl", NEW + chain)
    _, rows, old_kg, new_kg, changes = update_data(store, old, new, synth={"tasks": {"multi_hop": {"weight": 3.0}}})
    splits = check_update(rows, old_kg, new_kg, changes)
    ported = [e for e in rows if e["split"] == "test_portability"]
    assert splits["test_portability"] == len(ported) > 0
    assert all(e["task"] == "multi_hop" for e in ported)
    assert any(e["prompt"] == "Where is the symptom of influenza located?" and e["answer"] == "lung" for e in ported)
    assert not any(e["task"] == "multi_hop" and e["split"] == "train" and "influenza" in e["prompt"] for e in rows)
