from __future__ import annotations

import pytest

from kgtools.corpus.verbalise import concept_passages, verbalise
from kgtools.graph.build import build_graph
from kgtools.graph.model import stated
from kgtools.graph.templates import TemplateBook
from kgtools.ontology import load_ontology

from ..conftest import BUNDLED


@pytest.fixture(scope="module")
def med():
    loaded = load_ontology([BUNDLED / "medical.ttl"])
    kg, _ = build_graph(loaded.graph, prefixes=loaded.prefixes)
    return kg, TemplateBook(kg.relation_labels())


def test_passage_states_definition_hierarchy_synonyms_and_relations(med):
    kg, book = med
    (p,) = concept_passages(kg, "med:Influenza", book)
    text = p["text"]
    assert text.startswith("Influenza is an acute respiratory infection")
    for fact in ("viral infectious disease", "influenza virus", "oseltamivir", "zanamivir", "flu", "grippe", "respiratory tract"):
        assert fact in text.lower()
    assert p["kind"] == "verbalised" and p["source"] == "kg:med:Influenza#0"
    for m in p["mentions"]:
        assert text[m["start"]:m["end"]] == m["surface"] and m["candidates"] == [m["node_id"]]
    mentioned = {m["node_id"] for m in p["mentions"]}
    assert {"med:Influenza", "med:InfluenzaVirus", "med:Fever", "med:Oseltamivir"} <= mentioned


def test_paraphrases_differ_and_are_deterministic(med):
    kg, book = med
    a = list(concept_passages(kg, "med:Tuberculosis", book, paraphrases=3, seed=1))
    b = list(concept_passages(kg, "med:Tuberculosis", book, paraphrases=3, seed=1))
    c = list(concept_passages(kg, "med:Tuberculosis", book, paraphrases=3, seed=2))
    assert a == b and a != c
    assert len({p["text"] for p in a}) == 3
    assert all(p["text"].split(". ")[0] == a[0]["text"].split(". ")[0] for p in a)  # definition stays first


def test_incoming_relations_and_children(med):
    kg, book = med
    (drug,) = concept_passages(kg, "med:Isoniazid", book)
    assert "tuberculosis" in drug["text"].lower()
    (cough,) = concept_passages(kg, "med:Cough", book)
    assert "dry cough" in cough["text"] and "productive cough" in cough["text"]
    (no_incoming,) = concept_passages(kg, "med:Isoniazid", book, include_incoming=False)
    assert "med:Tuberculosis" in {m["node_id"] for m in drug["mentions"]}
    assert "med:Tuberculosis" not in {m["node_id"] for m in no_incoming["mentions"]}


def test_only_asserting_qualifiers_are_said():
    assert stated("some") and stated("exactly 1") and stated("min 2") and stated("value") and stated("")
    assert not stated("only") and not stated("min 0") and not stated("max 3") and not stated("exactly 0")


def test_every_concept_gets_a_passage(med):
    kg, book = med
    passages = list(verbalise(kg, book, paraphrases=2))
    assert len(passages) == 2 * len(kg.concepts())
