"""KnowledgeGraph queries on the bundled medical ontology."""

from __future__ import annotations

import pytest

from kgtools.graph.build import build_graph
from kgtools.graph.model import ConceptNotFound, KnowledgeGraph
from kgtools.graph.stats import graph_stats
from kgtools.ontology import load_ontology

from ..conftest import BUNDLED


@pytest.fixture(scope="module")
def med() -> KnowledgeGraph:
    loaded = load_ontology([BUNDLED / "medical.ttl"])
    kg, _ = build_graph(loaded.graph, prefixes=loaded.prefixes)
    return kg


def test_resolve_by_id_iri_label_synonym(med):
    assert med.resolve("med:Influenza") == "med:Influenza"
    assert med.resolve("https://w3id.org/kgtools/medical#Influenza") == "med:Influenza"
    assert med.resolve("<https://w3id.org/kgtools/medical#Influenza>") == "med:Influenza"
    assert med.resolve("Influenza") == "med:Influenza"
    assert med.resolve("  the FLU ".replace("the ", "")) == "med:Influenza"
    assert med.resolve("acetaminophen") == "med:Paracetamol"
    with pytest.raises(ConceptNotFound, match="no concept"):
        med.resolve("dragon pox")


def test_ambiguous_reference_lists_candidates(med):
    kg = KnowledgeGraph()
    kg.add_node("a:1", label="cold", synonyms=["chill"], kind="class")
    kg.add_node("b:2", label="common cold", synonyms=["cold"], kind="class")
    kg.add_node("c:3", label="cold snap", synonyms=["chill"], kind="class")
    assert kg.resolve("cold") == "a:1"  # an exact label beats a synonym
    with pytest.raises(ConceptNotFound, match=r"'chill' is ambiguous: a:1 \(cold\), c:3 \(cold snap\)"):
        kg.resolve("chill")


def test_hierarchy_queries(med):
    assert med.parents("med:Influenza") == ["med:ViralInfectiousDisease"]
    assert med.ancestors("med:Influenza") == {"med:ViralInfectiousDisease", "med:InfectiousDisease", "med:Disease"}
    assert "med:Influenza" in med.descendants("med:InfectiousDisease")
    assert "med:Covid19" in med.siblings("med:Influenza") and "med:Influenza" not in med.siblings("med:Influenza")
    assert med.children("med:Cough") == ["med:DryCough", "med:ProductiveCough"]
    # polyhierarchy: pneumococcal pneumonia is both a pneumonia and a bacterial infection
    assert med.parents("med:PneumococcalPneumonia") == ["med:BacterialInfectiousDisease", "med:Pneumonia"]


def test_relations_and_paths(med):
    out = {(r["rel_label"], r["dst"], r["qualifier"]) for r in med.relations("med:Influenza")}
    assert ("caused by", "med:InfluenzaVirus", "exactly 1") in out
    assert ("has symptom", "med:Fever", "some") in out
    assert ("treated by", "med:Oseltamivir", "some") in out
    incoming = {r["src"] for r in med.relations("med:Oseltamivir", "in") if r["rel"] == "med:treatedBy"}
    assert incoming == {"med:Influenza"}
    paths = list(med.paths("med:Influenza", max_hops=2))
    assert [("med:Influenza", "med:treatedBy", "med:Oseltamivir"), ("med:Oseltamivir", "is_a", "med:Antiviral")] in paths
    assert all(1 <= len(p) <= 2 for p in paths)
    assert all(len({s for s, _, _ in p} | {p[-1][2]}) == len(p) + 1 for p in paths)  # simple paths
    only_symptoms = list(med.paths("med:Influenza", max_hops=3, rels=["med:hasSymptom"]))
    assert only_symptoms and all(len(p) == 1 for p in only_symptoms)  # symptoms have no symptoms


def test_subgraph_and_stats(med):
    sub = med.subgraph("med:Influenza", radius=1)
    assert "med:Fever" in sub and "med:Measles" not in sub
    stats = graph_stats(med)
    assert stats["concepts"] == len(med.concepts()) >= 150
    assert stats["roots"] == 5 and stats["orphans"] == 0 and stats["components"] == 1
    assert stats["hierarchy_depth"] >= 3 and stats["with_definition"] == 1.0
    rels = {r["label"]: r["edges"] for r in stats["relations"]}
    assert rels["has symptom"] > 100 and rels["is a"] == sum(1 for _ in med.edges("is_a"))
