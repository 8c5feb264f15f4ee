"""The literal task on a small in-memory graph: cross-references per code system and configured property
values, asked both ways where a value identifies one concept, graded exactly, dates normalised; citations,
values the name already says and concepts with too many values never asked."""

from __future__ import annotations

import pytest

from kgtools.config import SynthConfig
from kgtools.errors import ConfigError
from kgtools.evaluate.scoring import exact_match
from kgtools.graph.model import KnowledgeGraph
from kgtools.synth.literals import answer_forms, code_system
from kgtools.synth.stage import generate_examples

CVX = "VO:0001818"
LICENSED = "VO:0000999"
NODES = {
    "d:disease": ("disease", [], []),
    "d:cholera": ("cholera", ["ICD10CM:A00", "MESH:D002771", "PMID:123456", "url:http://x.org/cholera",
                              "SNOMEDCT_US_2025_09_01:63650001"], [(LICENSED, "2023-04-11T00:00:00Z")]),
    "d:typhoid": ("typhoid fever", ["ICD10CM:A01.0", "MESH:D014435", "SNOMEDCT_US_2021_09_01:4834000"],
                  [(LICENSED, "2023-04-11")]),
    "d:shigella": ("shigellosis", ["ICD10CM:A03", "ICD10CM:A03.0", "ICD10CM:A03.1", "ICD10CM:A03.9", "MESH:D004405"], []),
    "d:flu": ("influenza", ["MESH:D007251", "MESH:D014435"], [(CVX, "88")]),  # shares a MeSH code: not asked back
    "d:hep": ("hepatitis A", ["ICD10CM:B15"], [(CVX, "83"), (LICENSED, "1995-02-22")]),
    "d:b15": ("B15.9 hepatitis", ["ICD10CM:B15.9"], []),  # the code is in its name
}
PROPERTIES = {CVX: {"iri": "http://purl.obolibrary.org/obo/VO_0001818", "label": "has CVX code"},
              LICENSED: {"iri": "http://purl.obolibrary.org/obo/VO_0000999", "label": "licensed on"}}


def graph() -> KnowledgeGraph:
    kg = KnowledgeGraph({"properties": PROPERTIES})
    for n, (label, xrefs, literals) in NODES.items():
        kg.add_node(n, label=label, synonyms=[], synonym_scopes=[], kind="class", definition=None, xrefs=xrefs,
                    literal_properties=[p for p, _ in literals], literal_values=[v for _, v in literals])
    for n in NODES:
        if n != "d:disease":
            kg.add_edge(n, "is_a", "d:disease", "is a", "subClassOf")
    return kg


def literal_examples(**literals) -> tuple[list[dict], dict]:
    cfg = SynthConfig(tasks={"literal": {"weight": 1.0}}, literals=literals, splits={"heldout": 0})
    examples, report = generate_examples(cfg, graph())
    return [e for e in examples if e["task"] == "literal"], report


def test_code_systems_drop_version_stamps_and_refuse_citations():
    assert code_system("SNOMEDCT_US_2025_09_01") == ("SNOMEDCT_US", "SNOMED CT")
    assert code_system("ICD9CM_2005") == ("ICD9CM", "ICD-9-CM")
    assert code_system("EFO") == ("EFO", "EFO")
    assert code_system("PMID") is None and code_system("url") is None and code_system("https") is None


def test_dates_are_answered_as_iso_dates_and_accepted_in_words():
    answer, accepted = answer_forms("2023-04-11T00:00:00Z")
    assert answer == "2023-04-11"
    assert exact_match("11 April 2023", accepted) and exact_match("April 11, 2023", accepted)
    assert not exact_match("2023-04-12", accepted)
    assert answer_forms("A01.0") == ("A01.0", ["A01.0"])


def test_cross_references_asked_per_code_system_both_ways():
    examples, report = literal_examples()
    relations = {e["relation"] for e in examples}
    assert {"xref:ICD10CM", "xref:MESH", "xref:SNOMEDCT_US"} <= relations
    assert not any(r.startswith("literal:") for r in relations)  # no property configured
    assert not any("PMID" in e["prompt"] or "123456" in e["answer"] or "url" in e["prompt"] for e in examples)
    forward = [e for e in examples if "/q" in e["template_id"]]
    back = [e for e in examples if "/iq" in e["template_id"]]
    for e in forward:
        system = {"xref:ICD10CM": "ICD-10-CM", "xref:MESH": "MeSH", "xref:SNOMEDCT_US": "SNOMED CT"}[e["relation"]]
        assert system in e["prompt"] and NODES[e["subject"]][0] in e["prompt"]
        codes = [x.split(":", 1)[1] for x in NODES[e["subject"]][1] if x.split(":")[0].startswith(e["relation"][5:])]
        assert e["answer"] in codes and {a for a in e["answer_aliases"][0] if ":" not in a} == set(codes)
    cholera_icd = [e for e in back if e["relation"] == "xref:ICD10CM" and "A00" in e["prompt"]]
    assert cholera_icd and all(e["answer"] == "cholera" and "disease" in e["prompt"] for e in cholera_icd)
    # D014435 is on two concepts: asked forward for each, never back; shigellosis has four ICD codes: not asked
    assert not any("D014435" in e["prompt"] for e in back)
    assert not any(e["subject"] == "d:shigella" and e["relation"] == "xref:ICD10CM" for e in examples)
    assert not any(e["subject"] == "d:b15" for e in examples)
    gen = report["generator"]
    assert gen["literal_skipped_many_values"] == 1 and gen["literal_skipped_value_in_name"] == 1
    assert gen["literal_not_asked_back"] >= 2
    # a wrong code of a similar concept is the rejected answer, and never one of the concept's own
    for e in forward:
        if e["rejected"]:
            assert e["rejected"] not in e["answer_aliases"][0] and e["negative_kind"] == "functional"


def test_configured_properties_by_label_with_their_noun_and_dates_never_asked_back():
    examples, report = literal_examples(xrefs=False, properties={"has CVX code": None, LICENSED: "licensing date"})
    relations = {e["relation"] for e in examples}
    assert relations == {f"literal:{CVX}", f"literal:{LICENSED}"}
    cvx = [e for e in examples if e["relation"] == f"literal:{CVX}"]
    assert any(e["prompt"] == "What is the CVX code of influenza?" and e["answer"] == "88" for e in cvx)
    assert any("/iq" in e["template_id"] and e["answer"] == "hepatitis A" for e in cvx)
    dates = [e for e in examples if e["relation"] == f"literal:{LICENSED}"]
    assert dates and all("/q" in e["template_id"] and "licensing date" in e["prompt"] for e in dates)
    assert {e["answer"] for e in dates} == {"2023-04-11", "1995-02-22"}
    kinds = report["coverage"]["kinds"]
    assert kinds[f"literal:{CVX}"]["facts"] == 2 and kinds[f"literal:{LICENSED}"]["facts"] == 3


def test_an_unknown_property_is_one_error_naming_the_key_and_what_exists():
    with pytest.raises(ConfigError, match=r"synth\.literals\.properties.*'CVX number'.*VO:0001818"):
        literal_examples(properties={"CVX number": None})
