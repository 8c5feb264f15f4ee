"""OBO flat files through fastobo into the same graph builder as OWL."""

from __future__ import annotations

import pytest

from kgtools.errors import OntologyError
from kgtools.graph.build import build_graph
from kgtools.ontology import load_ontology

OBO = """format-version: 1.4
ontology: demo

[Term]
id: DEMO:0000001
name: disease
def: "A disorder." [PMID:1]

[Term]
id: DEMO:0000002
name: influenza
def: "A viral infection of the airways." []
synonym: "flu" EXACT []
synonym: "grippe" RELATED []
xref: MESH:D007251
is_a: DEMO:0000001 ! disease
relationship: has_symptom DEMO:0000003 ! fever

[Term]
id: DEMO:0000003
name: fever

[Term]
id: DEMO:0000004
name: respiratory disease
intersection_of: DEMO:0000001 ! disease
intersection_of: located_in UBERON:0001004 ! respiratory system

[Term]
id: DEMO:0000005
name: obsolete thing
is_obsolete: true

[Typedef]
id: has_symptom
name: has symptom

[Typedef]
id: located_in
name: located in
xref: RO:0001025
"""


def test_obo_terms_relations_and_intersections(write):
    path = write("demo.obo", OBO)
    loaded = load_ontology([path])
    kg, report = build_graph(loaded.graph, prefixes=loaded.prefixes)
    assert kg.concepts() == ["DEMO:0000001", "DEMO:0000002", "DEMO:0000003", "DEMO:0000004"]
    flu = kg.node("DEMO:0000002")
    assert flu["label"] == "influenza" and flu["definition"] == "A viral infection of the airways."
    assert list(zip(flu["synonyms"], flu["synonym_scopes"], strict=True)) == [("flu", "exact"), ("grippe", "related")]
    assert flu["xrefs"] == ["MESH:D007251"]
    rels = {(e["src"], e["rel_label"], e["dst"], e["provenance"]) for e in kg.edges()}
    assert ("DEMO:0000002", "is a", "DEMO:0000001", "subClassOf") in rels
    assert ("DEMO:0000002", "has symptom", "DEMO:0000003", "restriction") in rels
    assert ("DEMO:0000004", "is a", "DEMO:0000001", "equivalentClass") in rels
    # a typedef with a local id and an RO xref means the RO property
    assert ("DEMO:0000004", "located in", "UBERON:0001004", "equivalentClass") in rels
    assert kg.node("UBERON:0001004")["kind"] == "external"
    assert report.skipped["deprecated"] == 1


def test_obo_syntax_error_names_file_and_line(write):
    path = write("bad.obo", "format-version: 1.2\n\n[Term]\nid: X:1\nname: a\nis_a X:2\n")
    with pytest.raises(OntologyError, match=r"bad\.obo:6: OBO syntax error"):
        load_ontology([path])


# The typedef block of go-basic.obo (Gene Ontology, 2024 release), whose `is_a:` lines between typedefs made
# the OBO reader crash ('IsAClause' object has no attribute 'term').
GO_TYPEDEFS = """format-version: 1.2
ontology: go

[Term]
id: GO:0065007
name: biological regulation

[Term]
id: GO:0050789
name: regulation of biological process
is_a: GO:0065007 ! biological regulation
relationship: regulates GO:0008150 ! biological_process

[Term]
id: GO:0008150
name: biological_process

[Typedef]
id: part_of
name: part of
namespace: external
xref: BFO:0000050
is_transitive: true

[Typedef]
id: regulates
name: regulates
namespace: external
xref: RO:0002211
is_transitive: true

[Typedef]
id: negatively_regulates
name: negatively regulates
namespace: external
xref: RO:0002212
is_a: regulates ! regulates

[Typedef]
id: has_part
name: has part
namespace: external
xref: BFO:0000051
inverse_of: part_of ! part of
"""


def test_typedef_is_a_is_a_subproperty_not_a_crash(write):
    from kgtools.ontology import vocab as V

    loaded = load_ontology([write("go-typedefs.obo", GO_TYPEDEFS)])
    triples = {(str(s), str(p), str(o)) for s, p, o in loaded.graph}
    ro = "http://purl.obolibrary.org/obo/RO_"
    assert (ro + "0002212", V.RDFS_SUBPROPERTYOF, ro + "0002211") in triples
    assert ("http://purl.obolibrary.org/obo/BFO_0000051", V.OWL_INVERSE_OF,
            "http://purl.obolibrary.org/obo/BFO_0000050") in triples
    assert ("http://purl.obolibrary.org/obo/BFO_0000050", V.RDF_TYPE, V.OWL_TRANSITIVE_PROPERTY) in triples
    kg, _ = build_graph(loaded.graph, prefixes=loaded.prefixes)
    rels = {(e["src"], e["rel_label"], e["dst"]) for e in kg.edges()}
    assert ("GO:0050789", "is a", "GO:0065007") in rels
    assert ("GO:0050789", "regulates", "GO:0008150") in rels


def test_typedef_chains_symmetry_domain_and_range_reach_the_closure(write):
    from kgtools.graph.closure import entail

    text = """format-version: 1.4
ontology: demo

[Term]
id: DEMO:0000001
name: alveolus
relationship: part_of DEMO:0000002 ! lung

[Term]
id: DEMO:0000002
name: lung
relationship: part_of DEMO:0000003 ! thorax

[Term]
id: DEMO:0000003
name: thorax

[Term]
id: DEMO:0000004
name: pneumonia
relationship: located_in DEMO:0000001 ! alveolus

[Term]
id: DEMO:0000005
name: disease

[Typedef]
id: part_of
name: part of
xref: BFO:0000050
is_transitive: true

[Typedef]
id: located_in
name: located in
domain: DEMO:0000005
transitive_over: part_of

[Typedef]
id: adjacent_to
name: adjacent to
is_symmetric: true
holds_over_chain: part_of adjacent_to
"""
    loaded = load_ontology([write("chain.obo", text)])
    kg, _ = build_graph(loaded.graph, prefixes=loaded.prefixes)
    rels = kg.meta["relations"]
    ADJ, LOC = "http://purl.obolibrary.org/obo/demo#adjacent_to", "http://purl.obolibrary.org/obo/demo#located_in"
    assert rels["BFO:0000050"]["transitive"] and rels[ADJ]["symmetric"]
    assert rels[ADJ]["chains"] == [["BFO:0000050", ADJ]]
    assert rels[LOC]["chains"] == [[LOC, "BFO:0000050"]]
    assert rels[LOC]["domain"] == ["DEMO:0000005"]
    got = {(f.s, f.r, f.o): f.rule for f in entail(kg).facts}
    assert got[("DEMO:0000001", "BFO:0000050", "DEMO:0000003")] == "transitive"
    assert got[("DEMO:0000004", LOC, "DEMO:0000003")] == "chain"
    assert got[("DEMO:0000004", "is_a", "DEMO:0000005")] == "domain"


def test_obsolete_terms_keep_their_successors(write):
    text = """format-version: 1.2
ontology: doid

[Term]
id: DOID:1
name: disease

[Term]
id: DOID:2
name: influenza
is_a: DOID:1

[Term]
id: DOID:3
name: obsolete grippe
is_obsolete: true
replaced_by: DOID:2

[Term]
id: DOID:4
name: obsolete catarrh
is_obsolete: true
consider: DOID:2
consider: DOID:1
"""
    loaded = load_ontology([write("d.obo", text)])
    kg, _ = build_graph(loaded.graph, prefixes=loaded.prefixes)
    assert "DOID:3" not in kg and "DOID:4" not in kg
    obsolete = kg.meta["obsolete"]
    assert obsolete["DOID:3"]["replaced_by"] == ["DOID:2"] and obsolete["DOID:3"]["label"] == "obsolete grippe"
    assert obsolete["DOID:4"]["consider"] == ["DOID:1", "DOID:2"] and obsolete["DOID:4"]["replaced_by"] == []
