"""The diagnosis task on a small in-memory graph: exactly one concept holds every clue (checked here by brute
force over the graph, inheritance included), clues are irredundant or padded with common values, a concept
with subclasses is never the answer, multiple choice has one right choice, and a question is trained only when
every fact it rests on is."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from kgtools.config import SynthConfig
from kgtools.graph.model import KnowledgeGraph
from kgtools.synth.generate import Synthesizer
from kgtools.synth.stage import generate_examples

SYMPTOMS = ("fever", "dry cough", "myalgia", "anosmia", "sneezing", "sore throat", "rash", "headache")
DISEASES = {  # disease: (parent, its own symptoms)
    "influenza": ("viral infection", ("fever", "dry cough", "myalgia")),
    "COVID-19": ("viral infection", ("fever", "dry cough", "anosmia")),
    "common cold": ("viral infection", ("sneezing", "sore throat")),
    "measles": ("viral infection", ("fever", "rash")),
    "avian influenza": ("influenza", ("headache",)),  # inherits fever, dry cough and myalgia
    "strep throat": ("bacterial infection", ("fever", "sore throat")),
    "scarlet fever": ("bacterial infection", ("fever", "sore throat", "rash")),
}


def graph() -> KnowledgeGraph:
    kg = KnowledgeGraph()
    nodes = {"disease", "viral infection", "bacterial infection", "symptom", *SYMPTOMS, *DISEASES}
    for name in nodes:
        kg.add_node(name, label=name, synonyms=[], synonym_scopes=[], kind="class", definition=None)
    for n in ("viral infection", "bacterial infection"):
        kg.add_edge(n, "is_a", "disease", "is a", "subClassOf")
    for s in SYMPTOMS:
        kg.add_edge(s, "is_a", "symptom", "is a", "subClassOf")
    for d, (parent, symptoms) in DISEASES.items():
        kg.add_edge(d, "is_a", parent, "is a", "subClassOf")
        for s in symptoms:
            kg.add_edge(d, "has_symptom", s, "has symptom", "restriction", "some")
    return kg


def holds_all(kg: KnowledgeGraph, n: str, clues: set[str]) -> bool:
    """Independent of kgtools.synth: n's symptoms are its own and its ancestors'."""
    have = {o for x in (n, *kg.ancestors(n)) for _, o, r in kg.g.out_edges(x, keys=True) if r == "has_symptom"}
    return clues <= have


def diagnosis(**cfg) -> tuple[list[dict], dict]:
    config = SynthConfig(tasks={"diagnosis": {"weight": 1.0}}, diagnosis={"min_subjects": 1, **cfg.pop("diagnosis", {})},
                         **cfg)
    examples, report = generate_examples(config, graph())
    return [e for e in examples if e["template_id"].startswith("diagnosis/")], report


def test_exactly_one_concept_holds_every_clue_and_every_clue_is_needed():
    kg = graph()
    examples, report = diagnosis()
    assert examples
    for e in examples:
        clues = {t.split("|")[2] for t in e["triples"]}
        holders = {n for n in DISEASES if holds_all(kg, n, clues)}
        assert holders == {e["subject"]}, (e["prompt"], holders)
        assert all(c in e["prompt"] for c in clues) and e["answer"] == e["subject"]
        if len(clues) > 2:  # not padded (padding stops at min_clues): no clue can go
            for fewer in itertools.combinations(clues, len(clues) - 1):
                assert len({n for n in DISEASES if holds_all(kg, n, set(fewer))}) > 1, (e["prompt"], fewer)
    asked = {e["subject"] for e in examples}
    assert "influenza" not in asked  # avian influenza inherits all its symptoms: no clue set tells them apart
    assert "avian influenza" in asked  # headache is its own; padded with a common finding
    assert {"COVID-19", "scarlet fever"} <= asked
    assert "measles" not in asked  # scarlet fever has fever and rash too
    assert report["generator"]["diagnosis_skipped_not_unique"] >= 2
    assert report["generator"]["diagnosis_padded"] >= 1


def test_findings_are_said_as_a_presentation_and_choices_have_one_answer():
    examples, _ = diagnosis()
    open_ = [e for e in examples if e["task"] == "diagnosis"]
    assert any(e["prompt"].startswith("A patient presents with ") for e in open_)
    kg = graph()
    for e in examples:
        if e["task"] == "mcq":
            clues = {t.split("|")[2] for t in e["triples"]}
            right = [i for i, c in enumerate(e["choices"]) if holds_all(kg, c, clues)]
            assert right == [e["answer_index"]] and e["negative_kind"] == "unasserted"
            assert len(set(e["choices"])) == len(e["choices"])


def test_a_question_is_trained_only_when_every_fact_it_rests_on_is():
    examples, _ = diagnosis(splits={"heldout": 0.3})
    held = Synthesizer(graph(), SynthConfig(splits={"heldout": 0.3})).heldout  # the facts never trained
    assert held and {e["split"] for e in examples} >= {"train", "test_heldout"}
    for e in examples:
        if e["split"] == "train":
            assert not set(e["triples"]) & held
        elif e["split"] == "test_heldout":
            assert set(e["triples"]) & held


def test_clue_bounds_are_checked_when_the_config_is_read():
    with pytest.raises(ValidationError, match="max_clues"):
        SynthConfig(diagnosis={"min_clues": 4, "max_clues": 3})
    with pytest.raises(ValidationError, match="min_clues"):
        SynthConfig(diagnosis={"min_clues": 1})
