"""The synonym task on a small in-memory graph: both directions, scope in the wording, ambiguous names not
asked back, spelling variants and identifiers never asked, a concept's names held out together."""

from __future__ import annotations

from collections import defaultdict

from kgtools.config import SynthConfig
from kgtools.graph.model import KnowledgeGraph
from kgtools.graph.templates import capitalise
from kgtools.synth.names import INVERSE, askable_synonyms, spelling_key
from kgtools.synth.stage import generate_examples

NODES = {
    "d:disease": ("disease", []),
    "d:mi": ("myocardial infarction", [("heart attack", "exact"), ("MI", "abbreviation"),
                                       ("Myocardial-Infarction", "exact"), ("DOID:5844", "exact")]),
    "d:cold": ("common cold", [("cold", "exact"), ("acute coryza", "related"), ("head cold", "narrow")]),
    "d:chill": ("chill", [("cold", "exact")]),  # 'cold' names two concepts: never asked back
    "d:flu": ("influenza", [("flu", "exact"), ("grippe", "exact"), ("viral fever", "broad")]),
    "d:angina": ("angina pectoris", [("stable angina", "narrow")]),
}


def graph() -> KnowledgeGraph:
    kg = KnowledgeGraph()
    for n, (label, syns) in NODES.items():
        kg.add_node(n, label=label, synonyms=[s for s, _ in syns], synonym_scopes=[sc for _, sc in syns], kind="class",
                    definition=None)
    for n in NODES:
        if n != "d:disease":
            kg.add_edge(n, "is_a", "d:disease", "is a", "subClassOf")
    return kg


def synonym_examples(cfg: SynthConfig | None = None) -> tuple[list[dict], dict]:
    examples, report = generate_examples(cfg or SynthConfig(tasks={"synonym": {"weight": 1.0}}), graph())
    return [e for e in examples if e["task"] == "synonym"], report


def test_askable_names_leave_out_spelling_variants_and_identifiers():
    label, syns = NODES["d:mi"]
    by_scope, skipped = askable_synonyms(label, [s for s, _ in syns], [sc for _, sc in syns])
    assert by_scope == {"exact": ["heart attack"], "abbreviation": ["MI"]}
    assert skipped == {"synonym_skipped_spelling_variant": 1, "synonym_skipped_identifier": 1}
    assert spelling_key("MusicEvent") == spelling_key("music event")


def test_both_directions_in_the_words_of_the_scope():
    examples, _ = synonym_examples()
    by_prompt = {e["prompt"]: e for e in examples}
    forward = [e for e in examples if "/q" in e["template_id"]]
    back = [e for e in examples if "/iq" in e["template_id"]]
    assert forward and back
    for e in forward:  # the answer is another name, never the label, and any name of the scope counts
        label, syns = NODES[e["subject"]]
        scope = e["relation"].split(":")[1]
        assert e["answer"] != label and (e["answer"], scope) in syns
        assert e["answer"] in e["answer_aliases"][0] and label not in e["answer_aliases"][0]
    for e in back:  # the concept, by its label; the asked name itself is no answer
        assert e["answer"] == NODES[e["subject"]][0]
        asked = max((x for x, _ in NODES[e["subject"]][1] if x in e["prompt"] or capitalise(x) in e["prompt"]), key=len)
        assert asked not in e["answer_aliases"][0] and NODES[e["subject"]][0] in e["answer_aliases"][0]
    abbreviation = [e for e in examples if e["relation"] == "synonym:abbreviation"]
    assert abbreviation and all("abbreviat" in e["prompt"] or "short" in e["prompt"] for e in abbreviation)
    narrow = [e for e in examples if e["relation"] == "synonym:narrow"]
    assert narrow and all(any(w in e["prompt"] for w in ("narrower", "more specific")) for e in narrow)
    broad = [e for e in examples if e["relation"] == "synonym:broad"]
    assert broad and all(any(w in e["prompt"] for w in ("broader", "more general")) for e in broad)
    assert not any("Myocardial-Infarction" in p or "DOID:5844" in p for p in by_prompt)
    assert not any(e["answer"] in ("Myocardial-Infarction", "DOID:5844") for e in examples)


def test_a_name_of_two_concepts_is_not_asked_back():
    examples, report = synonym_examples()
    asked_back = [e for e in examples if "/iq" in e["template_id"]]
    about_cold = {capitalise(t.format(synonym="cold")) for templates in INVERSE.values() for t in templates}
    assert asked_back and not any(e["prompt"] in about_cold for e in asked_back)
    assert report["generator"]["synonym_not_asked_back"] == 2
    # forward it is still true: "cold" is another name for the common cold
    assert any(e["subject"] == "d:chill" and e["answer"] == "cold" for e in examples)


def test_a_concepts_names_are_held_out_together():
    examples, report = synonym_examples(SynthConfig(tasks={"synonym": {"weight": 1.0}}, splits={"heldout": 0.5}))
    splits = defaultdict(set)
    for e in examples:
        splits[e["subject"]].add("heldout" if e["split"] == "test_heldout" else "trained")
    assert all(len(s) == 1 for s in splits.values()), splits
    assert {"heldout"} in splits.values() and {"trained"} in splits.values()
    cov = report["coverage"]["kinds"]["synonym"]
    assert cov["facts"] == 5  # concepts with a name worth asking; 'disease' has none
    trained = sum(1 for s in splits.values() if s == {"trained"})
    assert cov["train"] == trained


def test_the_task_can_be_switched_off():
    examples, report = synonym_examples(SynthConfig(tasks={"synonym": {"enabled": False}}))
    assert examples == [] and report["coverage"]["kinds"]["synonym"]["train"] == 0
