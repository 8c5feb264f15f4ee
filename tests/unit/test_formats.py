from __future__ import annotations

import pytest

from kgtools.errors import OntologyError
from kgtools.ontology.formats import JSONLD, NTRIPLES, OBO, RDFXML, TURTLE, detect_format, sniff_format


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.ttl", TURTLE), ("a.nt", NTRIPLES), ("a.rdf", RDFXML), ("a.jsonld", JSONLD), ("a.obo", OBO)],
)
def test_extension_decides(write, name, expected):
    assert detect_format(write(name, "anything")) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>', RDFXML),
        ("# comment\n@prefix ex: <http://e/> .\nex:a ex:b ex:c .", TURTLE),
        ("PREFIX ex: <http://e/>\nex:a ex:b ex:c .", TURTLE),
        ("<http://e/a> <http://e/b> <http://e/c> .\n", NTRIPLES),
        ('{"@context": {}, "@id": "http://e/a"}', JSONLD),
        ("format-version: 1.2\nontology: x\n\n[Term]\nid: X:1\n", OBO),
    ],
)
def test_ambiguous_extension_is_sniffed(write, content, expected):
    assert detect_format(write("onto.owl", content)) == expected
    assert sniff_format(content.encode()) == expected


def test_unknown_content_names_the_file(write):
    path = write("notes.xyz", "just some words\n")
    with pytest.raises(OntologyError, match=r"notes\.xyz: unknown extension '\.xyz'"):
        detect_format(path)


def test_owl_xml_and_functional_syntax_are_refused_with_advice(write):
    owx = write("a.owl", '<?xml version="1.0"?>\n<Ontology xmlns="http://www.w3.org/2002/07/owl#"/>')
    with pytest.raises(OntologyError, match="OWL/XML is not supported"):
        detect_format(owx)
    ofn = write("b.owl", "Prefix(:=<http://e/>)\nOntology(<http://e/o>)\n")
    with pytest.raises(OntologyError, match="functional syntax"):
        detect_format(ofn)


def test_single_file_imports_siblings_declared_by_ontology_iri(tmp_path):
    """One Turtle file given alone whose owl:imports name other files of its folder by their ontology IRI
    (no catalog, as in the DfE curriculum): the siblings are found and loaded."""
    from kgtools.graph.build import build_graph
    from kgtools.ontology import load_ontology

    head = ("@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
            "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n@prefix ex: <http://example.org/> .\n")
    (tmp_path / "core.ttl").write_text(head + "<http://example.org/core> a owl:Ontology .\n"
                                       "ex:Subject a owl:Class ; rdfs:label \"subject\" .\n", "utf-8")
    (tmp_path / "maths.ttl").write_text(head + "<http://example.org/maths> a owl:Ontology ;\n"
                                        "  owl:imports <http://example.org/core/> .\n"
                                        "ex:Maths a owl:Class ; rdfs:subClassOf ex:Subject ; rdfs:label \"mathematics\" .\n",
                                        "utf-8")
    (tmp_path / "unrelated.ttl").write_text(head + "<http://example.org/other> a owl:Ontology .\n"
                                            "ex:Other a owl:Class ; rdfs:label \"other\" .\n", "utf-8")
    loaded = load_ontology([tmp_path / "maths.ttl"])
    assert loaded.unresolved_imports == {}
    assert sorted(f.path.name for f in loaded.files) == ["core.ttl", "maths.ttl"]
    kg, _ = build_graph(loaded.graph, prefixes=loaded.prefixes)
    assert kg.label("ex:Subject") == "subject" and "ex:Other" not in kg.g
