"""The ontologies shipped in ontologies/ meet what the demos need of them."""

from __future__ import annotations

import pytest

from kgtools.graph.build import build_graph
from kgtools.ontology import load_ontology

from ..conftest import BUNDLED


def build(name: str):
    loaded = load_ontology([BUNDLED / name], strict=True)  # they import nothing: strict must pass
    kg, report = build_graph(loaded.graph, prefixes=loaded.prefixes)
    return kg, report


@pytest.mark.parametrize(
    ("name", "min_classes", "relations"),
    [
        ("medical.ttl", 150, {"has symptom", "located in", "caused by", "treated by"}),
        ("finance.ttl", 100, {"issued by", "regulated by", "traded on"}),
    ],
)
def test_size_labels_definitions_relations(name, min_classes, relations):
    kg, report = build(name)
    concepts = kg.concepts()
    assert len(concepts) >= min_classes
    for n in concepts:
        node = kg.node(n)
        assert node["label"] and node["definition"], n
        assert node["definition"][0].isupper() and node["definition"].endswith("."), n
    assert sum(1 for n in concepts if kg.node(n)["synonyms"]) / len(concepts) > 0.7
    labels = {e["rel_label"] for e in kg.edges()}
    assert relations <= labels
    assert all(e["provenance"] in ("subClassOf", "restriction", "disjointWith", "assertion", "type") for e in kg.edges())
    assert not report.skipped.get("edge_from_unknown_node") and kg.nodes(["external"]) == []
    # labels are unique, so that questions about a label are about one concept
    all_labels = [kg.node(n)["label"].casefold() for n in kg.nodes()]
    assert len(all_labels) == len(set(all_labels))


def test_medical_facts():
    kg, _ = build("medical.ttl")

    def out(concept: str, rel: str) -> set[str]:
        return {kg.label(r["dst"]) for r in kg.relations(kg.resolve(concept)) if r["rel_label"] == rel}

    assert out("influenza", "caused by") == {"influenza virus"}
    assert {"fever", "dry cough", "myalgia"} <= out("flu", "has symptom")
    assert out("tuberculosis", "treated by") == {"isoniazid", "rifampicin", "pyrazinamide", "ethambutol"}
    assert out("pulmonary tuberculosis", "located in") == {"lung"}
    assert out("measles", "caused by") == {"measles virus"}
    assert kg.ancestors(kg.resolve("oseltamivir")) == {"med:Antiviral", "med:Drug"}
    exact = [e for e in kg.edges("med:causedBy") if e["qualifier"] == "exactly 1"]
    assert len(exact) >= 15  # single-agent diseases carry an exact cardinality (used for negatives later)
    disjoint = {(e["src"], e["dst"]) for e in kg.edges("disjoint_with")}
    assert ("med:Disease", "med:Drug") in disjoint


def test_finance_facts():
    kg, _ = build("finance.ttl")

    def out(concept: str, rel: str) -> set[str]:
        return {kg.label(r["dst"]) for r in kg.relations(kg.resolve(concept)) if r["rel_label"] == rel}

    assert out("treasury bill", "issued by") == {"national government"}
    assert out("futures contract", "traded on") == {"futures exchange"}
    assert out("NYSE", "regulated by") == {"U.S. Securities and Exchange Commission"}
    assert out("interest rate swap", "hedges") == {"interest rate risk"}
    assert kg.node(kg.resolve("SEC"))["kind"] == "individual"
    assert "fin:Bond" in kg.ancestors(kg.resolve("junk bond"))
