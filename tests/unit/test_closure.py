"""The closure (kgtools.graph.closure) on small hand-written ontologies: each rule, what it must not
conclude, and the premises every inferred fact carries."""

from __future__ import annotations

import pytest

from kgtools.graph.build import BuildOptions, build_graph
from kgtools.graph.closure import entail
from kgtools.ontology import load_ontology

PREFIXES = """
@prefix : <http://example.org/x#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
"""

ONTOLOGY = """
:partOf a owl:ObjectProperty , owl:TransitiveProperty ; rdfs:label "part of" .
:hasSymptom a owl:ObjectProperty ; rdfs:label "has symptom" ; rdfs:domain :Disease .
:hasFinding a owl:ObjectProperty ; rdfs:label "has finding" .
:hasSymptom rdfs:subPropertyOf :hasFinding .
:locatedIn a owl:ObjectProperty ; rdfs:label "located in" ;
    owl:propertyChainAxiom ( :locatedIn :partOf ) .
:regulatedBy a owl:ObjectProperty ; rdfs:label "regulated by" ; owl:inverseOf :regulates ; rdfs:range :Regulator .
:regulates a owl:ObjectProperty ; rdfs:label "regulates" .
:Thing a owl:Class ; rdfs:label "thing" .
:Disease a owl:Class ; rdfs:label "disease" .
:Regulator a owl:Class ; rdfs:label "regulator" .
:Exchange a owl:Class ; rdfs:label "exchange" .
:Symptom a owl:Class ; rdfs:label "symptom" .
:Fever a owl:Class ; rdfs:label "fever" ; rdfs:subClassOf :Symptom .
:HighFever a owl:Class ; rdfs:label "high fever" ; rdfs:subClassOf :Fever .
:Cough a owl:Class ; rdfs:label "cough" ; rdfs:subClassOf :Symptom .
:Infection a owl:Class ; rdfs:label "infection" ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :hasSymptom ; owl:someValuesFrom :Fever ] .
:Flu a owl:Class ; rdfs:label "flu" ; rdfs:subClassOf :Infection ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :hasSymptom ; owl:someValuesFrom :Cough ] .
:SevereFlu a owl:Class ; rdfs:label "severe flu" ; rdfs:subClassOf :Flu ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :hasSymptom ; owl:someValuesFrom :HighFever ] ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :locatedIn ; owl:someValuesFrom :Alveolus ] .
:Alveolus a owl:Class ; rdfs:label "alveolus" ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :partOf ; owl:someValuesFrom :Lung ] .
:Lung a owl:Class ; rdfs:label "lung" ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :partOf ; owl:someValuesFrom :Thorax ] .
:Thorax a owl:Class ; rdfs:label "thorax" .
:Watchdog a owl:Class ; rdfs:label "watchdog" ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :regulates ; owl:someValuesFrom :Exchange ] .
:NYSE a owl:NamedIndividual , :Exchange ; rdfs:label "NYSE" ; :regulatedBy :SEC .
:SEC a owl:NamedIndividual ; rdfs:label "SEC" .
"""


@pytest.fixture
def closure_of(write):
    def _closure(body: str, **kwargs):
        path = write("onto.ttl", PREFIXES + body)
        loaded = load_ontology([path])
        kg, _ = build_graph(loaded.graph, options=BuildOptions(), prefixes={**loaded.prefixes, "x": "http://example.org/x#"})
        return kg, entail(kg, **kwargs)
    return _closure


def facts(closure) -> dict[tuple[str, str, str], object]:
    return {(f.s, f.r, f.o): f for f in closure.facts}


def test_each_rule_with_its_premises(closure_of):
    kg, closure = closure_of(ONTOLOGY)
    got = facts(closure)
    inherited = got[("x:SevereFlu", "x:hasSymptom", "x:Cough")]
    assert inherited.rule == "inherited" and inherited.depth == 1
    assert inherited.premises == ("x:SevereFlu|is_a|x:Flu", "x:Flu|x:hasSymptom|x:Cough")
    assert got[("x:Alveolus", "x:partOf", "x:Thorax")].rule == "transitive"
    chain = got[("x:SevereFlu", "x:locatedIn", "x:Lung")]
    assert chain.rule == "chain" and chain.axiom == "x:locatedIn o x:partOf -> x:locatedIn"
    # a chain over a transitive conclusion: located in the thorax, two rounds deep
    assert got[("x:SevereFlu", "x:locatedIn", "x:Thorax")].depth == 2
    assert closure.justification["x:SevereFlu|x:locatedIn|x:Thorax"] == (
        "x:Alveolus|x:partOf|x:Lung", "x:Lung|x:partOf|x:Thorax", "x:SevereFlu|x:locatedIn|x:Alveolus")
    assert got[("x:Flu", "x:hasFinding", "x:Cough")].rule == "sub_property"
    assert got[("x:SEC", "x:regulates", "x:NYSE")].rule == "inverse"
    assert got[("x:SEC", "instance_of", "x:Regulator")].rule == "range"
    assert got[("x:Flu", "is_a", "x:Disease")].rule == "domain"
    assert kg.meta["relations"]["x:regulates"]["inverse_of"] == ["x:regulatedBy"]


def test_what_does_not_follow_is_not_concluded(closure_of):
    _, closure = closure_of(ONTOLOGY)
    got = facts(closure)
    # Watchdog ⊑ ∃regulates.Exchange says nothing of any exchange: no inverse, no range typing of a class
    assert not any(s == "x:Exchange" for s, _, _ in got)
    # severe flu has high fever: "has symptom fever" (inherited from infection) is entailed but says less
    assert ("x:SevereFlu", "x:hasSymptom", "x:Fever") not in got
    assert closure.stats["redundant_not_recorded"] >= 1
    # a class never gets a domain it already has, nor asserted facts again
    assert all(f.rule != "domain" or f.s != "x:Disease" for f in closure.facts)


def test_rules_rounds_and_limits(closure_of):
    _, only_inherited = closure_of(ONTOLOGY, rules=["inherited"])
    assert {f.rule for f in only_inherited.facts} == {"inherited"}
    _, full = closure_of(ONTOLOGY)
    _, one_round = closure_of(ONTOLOGY, max_rounds=1)
    assert one_round.stats["rounds"] == 1 < full.stats["rounds"] and set(facts(one_round)) <= set(facts(full))
    _, capped = closure_of(ONTOLOGY, max_facts=3)
    assert len(capped.facts) == 3 and capped.stats["truncated"]


def test_relation_ontology_axioms_for_obo_modules_that_do_not_import_it(closure_of):
    body = """
    obo:X_1 a owl:Class ; rdfs:label "alveolus" ;
        rdfs:subClassOf [ a owl:Restriction ; owl:onProperty obo:BFO_0000050 ; owl:someValuesFrom obo:X_2 ] .
    obo:X_2 a owl:Class ; rdfs:label "lung" ;
        rdfs:subClassOf [ a owl:Restriction ; owl:onProperty obo:BFO_0000050 ; owl:someValuesFrom obo:X_3 ] .
    obo:X_3 a owl:Class ; rdfs:label "thorax" .
    """
    kg, closure = closure_of(body)
    assert kg.meta["relations"]["BFO:0000050"]["source"].startswith("Relation Ontology")
    assert ("X:1", "BFO:0000050", "X:3") in facts(closure)
    # a file that declares the relation itself is taken at its word: not transitive here
    kg, closure = closure_of(body + "obo:BFO_0000050 a owl:ObjectProperty ; rdfs:label \"part of\" .\n"
                             "obo:BFO_0000050 rdfs:subPropertyOf obo:RO_0002131 .\nobo:RO_0002131 a owl:ObjectProperty .\n")
    assert ("X:1", "BFO:0000050", "X:3") not in facts(closure)


def test_skos_related_is_symmetric(closure_of):
    _, closure = closure_of("""
    :a a skos:Concept ; skos:prefLabel "inflation" ; skos:related :b .
    :b a skos:Concept ; skos:prefLabel "interest rate" .
    """)
    (f,) = closure.facts
    assert (f.s, f.r, f.o, f.rule) == ("x:b", "skos:related", "x:a", "symmetric")
