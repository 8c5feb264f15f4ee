"""Property schemas: RDFS / schema.org / OWL properties read into the kg's schema table (domains, ranges,
unions, super-properties, inverses, datatypes in words) and asked by the `schema` synth task, with
schema.org's non-exhaustive domainIncludes worded "can", a union answered "A or B", graded by list."""

from __future__ import annotations

import pytest

from kgtools.config import SynthConfig
from kgtools.evaluate.scoring import score_open as _score_open
from kgtools.graph.build import build_graph
from kgtools.graph.io import load_graph, save_graph
from kgtools.ontology import load_ontology
from kgtools.synth.stage import generate_examples

TTL = """
@prefix : <http://example.org/ev#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix schema: <https://schema.org/> .

:Event a owl:Class ; rdfs:label "event" .
:Concert a owl:Class ; rdfs:subClassOf :Event ; rdfs:label "concert" .
:Person a owl:Class ; rdfs:label "person" .
:Organization a owl:Class ; rdfs:label "organization" .
:Place a owl:Class ; rdfs:label "place" .

:startDate a rdf:Property ; rdfs:label "startDate" ; rdfs:comment "The start date and time of the item." ;
    schema:domainIncludes :Event, :Concert ; schema:rangeIncludes xsd:date, xsd:dateTime .
:organizer a owl:ObjectProperty ; rdfs:label "organizer" ;
    rdfs:domain :Event ; rdfs:range [ a owl:Class ; owl:unionOf ( :Person :Organization ) ] .
:organizes a owl:ObjectProperty ; rdfs:label "organizes" ; owl:inverseOf :organizer .
:location a owl:ObjectProperty ; rdfs:label "location" ; rdfs:domain :Event ; rdfs:range :Place .
:venue a owl:ObjectProperty ; rdfs:label "venue" ; rdfs:subPropertyOf :location ; rdfs:range :Place .
:capacity a owl:DatatypeProperty ; rdfs:label "capacity" ; rdfs:domain :Place ; rdfs:range xsd:nonNegativeInteger .
:name1 a owl:DatatypeProperty ; rdfs:label "name" ; rdfs:domain :Person ; rdfs:range xsd:string .
:name2 a owl:DatatypeProperty ; rdfs:label "name" ; rdfs:domain :Place ; rdfs:range xsd:string .
:note a owl:AnnotationProperty ; rdfs:label "note" .
"""


@pytest.fixture
def kg(write):
    loaded = load_ontology(write("events.ttl", TTL))
    kg, report = build_graph(loaded.graph, prefixes=loaded.prefixes, declared_in=loaded.declared_in)
    assert report.counts["properties"] == len(kg.meta["schema"])
    return kg


def by_label(kg, label):
    found = [e for e in kg.meta["schema"].values() if e["label"] == label]
    assert len(found) == 1, found
    return found[0]


def test_properties_become_schema_entries(kg, tmp_path):
    start = by_label(kg, "start date")  # an identifier-like label is read as words
    assert start["kind"] == "property" and start["domain_includes"] and start["range_includes"]
    assert [d["label"] for d in start["domain"]] == ["concert", "event"]
    assert {r["label"] for r in start["range"]} == {"date", "date-time"} and all(r["kind"] == "datatype" for r in start["range"])
    assert start["definition"] == "The start date and time of the item."
    organizer = by_label(kg, "organizer")
    assert organizer["range_union"] and not organizer["range_includes"]
    assert [r["label"] for r in organizer["range"]] == ["organization", "person"]
    assert organizer["inverse_of"] == [next(k for k, e in kg.meta["schema"].items() if e["label"] == "organizes")]
    venue = by_label(kg, "venue")
    assert [kg.meta["schema"][s]["label"] for s in venue["super_properties"]] == ["location"]
    assert by_label(kg, "capacity")["range"][0]["label"] == "non-negative integer"
    assert not [e for e in kg.meta["schema"].values() if e["label"] == "note"]  # nothing to say: left out
    save_graph(kg, tmp_path)  # written and read back exactly
    assert load_graph(tmp_path).meta["schema"] == kg.meta["schema"]


def examples(kg):
    cfg = SynthConfig(tasks={"property_schema": {"weight": 1.0}}, splits={"heldout": 0})
    out, report = generate_examples(cfg, kg)
    return [e for e in out if e["task"] == "property_schema"], report


def test_schema_questions_word_what_the_schema_says(kg):
    got, report = examples(kg)
    asked = {(e["relation"], e["prompt"]): e for e in got}
    said = {e["prompt"]: e["answer"] for e in got}
    # schema.org's domainIncludes: "can", never "the domain of"
    can = [e for e in got if e["template_id"].startswith("schema:domain_includes/")]
    assert can and all("can" in e["prompt"] or "expected" in e["prompt"] for e in can)
    assert all("start date" not in p or "domain of" not in p for p in said)
    # a union is one of its members; a plain range is the type
    assert said['What kind of value does the property "organizer" take?'] == "organization or person"
    assert said['What kind of value does the property "capacity" take?'] == "non-negative integer"
    assert said['What is the inverse of the property "organizes"?'] == "organizer"
    assert said['Which more general property is "venue" a sub-property of?'] == "location"
    assert said["Which properties does the ontology define for event?"] == "location, organizer and start date"
    # two properties labelled "name": the question would have two answers, so neither is asked
    assert not any('"name"' in p for p in said) and report["generator"]["schema_skipped_shared_label"] == 2
    kinds = report["coverage"]["kinds"]
    assert {"schema:domain", "schema:range", "schema:super_property", "schema:inverse", "schema:properties_of"} <= set(kinds)
    assert kinds["schema:range"]["train_share"] == 1.0
    assert all(e["subject"] and e["answer_aliases"] for e in asked.values())


def test_schema_answers_are_graded_by_every_member(kg):
    got, _ = examples(kg)
    union = next(e for e in got if e["prompt"] == 'What kind of value does the property "organizer" take?')
    assert _score_open(union, "person or organization") == (True, True)
    assert _score_open(union, "person")[0] is False
    dates = next(e for e in got if e["prompt"] == 'What types of value can the property "start date" take?')
    assert _score_open(dates, "date-time and date")[0] and _score_open(dates, "dateTime, date")[0]
