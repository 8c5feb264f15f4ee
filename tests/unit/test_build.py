"""RDF → KnowledgeGraph on small hand-written graphs: each OWL/SKOS construct and what it becomes."""

from __future__ import annotations

import pytest
import rdflib

from kgtools.errors import OntologyError
from kgtools.graph.build import BuildOptions, IdMinter, build_graph, humanize
from kgtools.ontology import load_ontology

PREFIXES = """
@prefix : <http://example.org/med#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
@prefix oio: <http://www.geneontology.org/formats/oboInOwl#> .
"""


@pytest.fixture
def kg_of(write):
    def _kg(body: str, **options):
        path = write("onto.ttl", PREFIXES + body)
        loaded = load_ontology([path])
        kg, report = build_graph(loaded.graph, options=BuildOptions(**options), prefixes=loaded.prefixes,
                                 declared_in=loaded.declared_in)
        return kg, report

    return _kg


def edges(kg, rel=None):
    return {(e["src"], e["rel"], e["dst"], e["qualifier"]) for e in kg.edges(rel)}


def test_restrictions_become_labelled_edges(kg_of):
    kg, report = kg_of("""
        @prefix ex: <http://example.org/med#> .
        ex:hasSymptom a owl:ObjectProperty ; rdfs:label "has symptom"@en .
        ex:causedBy a owl:ObjectProperty .
        ex:treatedBy a owl:ObjectProperty ; rdfs:label "treated by" .
        ex:Disease a owl:Class . ex:Fever a owl:Class . ex:Virus a owl:Class . ex:Drug a owl:Class . ex:Cough a owl:Class .
        ex:Flu a owl:Class ; rdfs:subClassOf ex:Disease ,
            [ a owl:Restriction ; owl:onProperty ex:hasSymptom ; owl:someValuesFrom ex:Fever ] ,
            [ a owl:Restriction ; owl:onProperty ex:causedBy ; owl:onClass ex:Virus ; owl:qualifiedCardinality "1"^^xsd:nonNegativeInteger ] ,
            [ a owl:Restriction ; owl:onProperty ex:treatedBy ; owl:allValuesFrom ex:Drug ] ,
            [ a owl:Restriction ; owl:onProperty ex:hasSymptom ; owl:onClass ex:Cough ; owl:minQualifiedCardinality "2"^^xsd:nonNegativeInteger ] ,
            [ a owl:Restriction ; owl:onProperty ex:hasSymptom ; owl:onClass ex:Drug ; owl:maxQualifiedCardinality "0"^^xsd:nonNegativeInteger ] ,
            [ a owl:Restriction ; owl:onProperty ex:causedBy ; owl:someValuesFrom xsd:string ] .
    """)
    assert edges(kg) == {
        ("ex:Flu", "is_a", "ex:Disease", ""),
        ("ex:Flu", "ex:hasSymptom", "ex:Fever", "some"),
        ("ex:Flu", "ex:causedBy", "ex:Virus", "exactly 1"),
        ("ex:Flu", "ex:treatedBy", "ex:Drug", "only"),
        ("ex:Flu", "ex:hasSymptom", "ex:Cough", "min 2"),
    }
    assert {e["provenance"] for e in kg.edges() if e["rel"] != "is_a"} == {"restriction"}
    assert kg.relation_labels()["ex:treatedBy"] == "treated by"
    assert report.skipped["negative_or_unqualified_cardinality"] == 1  # "max 0" states an absence
    assert report.skipped["edge_to_builtin"] == 1  # a datatype filler is not a concept


def test_ids_are_curies_and_relation_labels_fall_back(kg_of):
    kg, _ = kg_of("""
        @prefix ex: <http://example.org/med#> .
        ex:hasSymptom a owl:ObjectProperty ; rdfs:label "has symptom"@en .
        ex:isCausedBy a owl:ObjectProperty .
        ex:Disease a owl:Class . ex:Fever a owl:Class . ex:Virus a owl:Class .
        ex:Flu a owl:Class ; rdfs:subClassOf ex:Disease ,
            [ a owl:Restriction ; owl:onProperty ex:hasSymptom ; owl:someValuesFrom ex:Fever ] ,
            [ a owl:Restriction ; owl:onProperty ex:isCausedBy ; owl:someValuesFrom ex:Virus ] .
        obo:DOID_0050012 a owl:Class ; rdfs:subClassOf obo:DOID_934 . obo:DOID_934 a owl:Class .
        obo:MAXO_1 a owl:Class ; rdfs:subClassOf [ a owl:Restriction ; owl:onProperty obo:RO_0002233 ; owl:someValuesFrom obo:DOID_934 ] .
    """)
    assert edges(kg) >= {
        ("ex:Flu", "is_a", "ex:Disease", ""),
        ("ex:Flu", "ex:hasSymptom", "ex:Fever", "some"),
        ("ex:Flu", "ex:isCausedBy", "ex:Virus", "some"),
        ("DOID:0050012", "is_a", "DOID:934", ""),
        ("MAXO:1", "RO:0002233", "DOID:934", "some"),
    }
    labels = kg.relation_labels()
    assert labels["ex:hasSymptom"] == "has symptom"  # rdfs:label
    assert labels["ex:isCausedBy"] == "is caused by"  # local name, humanised
    assert labels["RO:0002233"] == "has input"  # OBO relation table: RO is used unlabelled by OBO base modules


def test_equivalent_class_intersection_and_unions(kg_of):
    kg, report = kg_of("""
        @prefix ex: <http://example.org/med#> .
        ex:partOf a owl:ObjectProperty ; rdfs:label "part of" .
        ex:Disease a owl:Class . ex:Lung a owl:Class . ex:Heart a owl:Class . ex:A a owl:Class . ex:B a owl:Class .
        ex:LungDisease a owl:Class ; owl:equivalentClass [ a owl:Class ; owl:intersectionOf ( ex:Disease
            [ a owl:Restriction ; owl:onProperty ex:partOf ; owl:someValuesFrom ex:Lung ] ) ] .
        ex:CardioPulmonary a owl:Class ; rdfs:subClassOf [ a owl:Class ; owl:unionOf ( ex:Heart ex:Lung ) ] ,
            [ a owl:Restriction ; owl:onProperty ex:partOf ; owl:someValuesFrom [ owl:unionOf ( ex:Heart ex:Lung ) ] ] ,
            [ a owl:Restriction ; owl:onProperty ex:partOf ; owl:someValuesFrom [ owl:intersectionOf ( ex:A ex:B ) ] ] .
        ex:Same a owl:Class ; owl:equivalentClass ex:A .
    """)
    got = {(s, r, d, p) for s, r, d, p in ((e["src"], e["rel"], e["dst"], e["provenance"]) for e in kg.edges())}
    assert ("ex:LungDisease", "is_a", "ex:Disease", "equivalentClass") in got
    assert ("ex:LungDisease", "ex:partOf", "ex:Lung", "equivalentClass") in got
    # C ⊑ (Heart ⊔ Lung) says neither C ⊑ Heart nor C ⊑ Lung: nothing is asserted
    assert not any(s == "ex:CardioPulmonary" and d in ("ex:Heart", "ex:Lung") for s, _, d, _ in got)
    # R some (A ⊓ B) implies R some A and R some B
    assert ("ex:CardioPulmonary", "ex:partOf", "ex:A", "restriction") in got
    assert ("ex:CardioPulmonary", "ex:partOf", "ex:B", "restriction") in got
    assert ("ex:Same", "equivalent_to", "ex:A", "equivalentClass") in got
    assert report.skipped["union_or_complement_superclass"] == 1 and report.skipped["union_filler"] == 1


def test_labels_synonyms_definitions_by_language(kg_of):
    body = """
        @prefix ex: <http://example.org/med#> .
        ex:Flu a owl:Class ;
            rdfs:label "Grippe"@de , "influenza"@en ;
            oio:hasExactSynonym "flu"@en ; oio:hasRelatedSynonym "grippe" ; oio:hasBroadSynonym "viral fever" ;
            skos:altLabel "Virusgrippe"@de ;
            obo:IAO_0000115 "A viral respiratory infection."@en ;
            rdfs:comment "Not the definition." ;
            skos:definition "Eine Virusinfektion."@de .
        ex:Other a owl:Class ; rdfs:comment "Only a comment that defines it."@en-GB ; rdfs:label "other"@en-GB .
        ex:NoLabel a owl:Class .
    """
    kg, _ = kg_of(body)
    flu = kg.node("ex:Flu")
    assert flu["label"] == "influenza"
    assert flu["definition"] == "A viral respiratory infection."
    assert list(zip(flu["synonyms"], flu["synonym_scopes"], strict=True)) == [
        ("flu", "exact"), ("grippe", "related"), ("viral fever", "broad")]
    assert kg.node("ex:Other")["definition"] == "Only a comment that defines it."  # en matches en-GB
    assert kg.node("ex:Other")["label"] == "other"
    assert kg.node("ex:NoLabel")["label"] is None
    de, _ = kg_of(body, languages=["de"])
    assert de.node("ex:Flu")["label"] == "Grippe"
    assert de.node("ex:Flu")["definition"] == "Eine Virusinfektion."
    assert "Virusgrippe" in de.node("ex:Flu")["synonyms"] and "influenza" not in de.node("ex:Flu")["synonyms"]


def test_alternative_terms_and_abbreviations_are_synonyms_with_their_scope(kg_of):
    kg, _ = kg_of("""
        @prefix ex: <http://example.org/med#> .
        @prefix cmns-av: <https://www.omg.org/spec/Commons/AnnotationVocabulary/> .
        ex:Mi a owl:Class ; rdfs:label "myocardial infarction" ; obo:IAO_0000118 "heart attack" ;
            skos:hiddenLabel "myocardial infraction" .
        ex:Spv a owl:Class ; rdfs:label "special purpose vehicle" ; cmns-av:synonym "special purpose entity" ;
            cmns-av:abbreviation "SPV" ; cmns-av:acronym "SPE" .
    """)
    assert list(zip(kg.node("ex:Mi")["synonyms"], kg.node("ex:Mi")["synonym_scopes"], strict=True)) == [
        ("heart attack", "exact")]  # a hidden label (a misspelling kept for search) is no name to teach
    assert list(zip(kg.node("ex:Spv")["synonyms"], kg.node("ex:Spv")["synonym_scopes"], strict=True)) == [
        ("special purpose entity", "exact"), ("SPV", "abbreviation"), ("SPE", "abbreviation")]


def test_codes_and_property_values_are_kept_per_node_with_their_property(kg_of, tmp_path):
    from kgtools.graph.io import load_graph, save_graph

    kg, _ = kg_of("""
        @prefix ex: <http://example.org/vax#> .
        @prefix oio: <http://www.geneontology.org/formats/oboInOwl#> .
        ex:cvx a owl:AnnotationProperty ; rdfs:label "has CVX code" .
        ex:note a owl:AnnotationProperty ; rdfs:label "editor note" .
        ex:licensed a owl:DatatypeProperty ; rdfs:label "licensed on" .
        ex:Vaccine a owl:Class ; rdfs:label "vaccine" .
        ex:Flu a owl:Class ; rdfs:subClassOf ex:Vaccine ; rdfs:label "influenza vaccine" ; ex:cvx "88" ;
            oio:hasDbXref "MESH:D007252" ; skos:exactMatch "UMLS_CUI:C0021403" ; skos:notation "V-01" ;
            ex:note "%s" ; ex:cvx "grippe"@fr .
        ex:lot1 a owl:NamedIndividual, ex:Flu ; rdfs:label "lot 1" ; ex:licensed "2023-04-11"^^xsd:date .
    """ % ("x" * 500))
    flu = kg.node("ex:Flu")
    assert sorted(flu["xrefs"]) == ["MESH:D007252", "UMLS_CUI:C0021403"]  # a literal exactMatch is a mapping too
    assert list(zip(flu["literal_properties"], flu["literal_values"], strict=True)) == [
        ("ex:cvx", "88"), ("skos:notation", "V-01")]  # prose (the 500-character note) and French stay out
    assert kg.node("ex:lot1")["literal_values"] == ["2023-04-11"]
    assert kg.meta["properties"] == {
        "ex:cvx": {"iri": "http://example.org/vax#cvx", "label": "has CVX code"},
        "ex:licensed": {"iri": "http://example.org/vax#licensed", "label": "licensed on"},
        "skos:notation": {"iri": "http://www.w3.org/2004/02/skos/core#notation", "label": "notation"}}
    save_graph(kg, tmp_path)
    back = load_graph(tmp_path)
    assert back.meta["properties"] == kg.meta["properties"]
    assert back.node("ex:Flu")["literal_values"] == ["88", "V-01"]


def test_deprecated_skipped_unless_asked(kg_of):
    body = """
        @prefix ex: <http://example.org/med#> .
        ex:A a owl:Class . ex:Old a owl:Class ; owl:deprecated true ; rdfs:subClassOf ex:A .
        ex:B a owl:Class ; rdfs:subClassOf ex:Old .
    """
    kg, report = kg_of(body)
    assert "ex:Old" not in kg and report.skipped["deprecated"] == 1 and report.skipped["edge_to_deprecated"] == 1
    kept, _ = kg_of(body, include_deprecated=True)
    assert kept.node("ex:Old")["deprecated"] is True and kept.parents("ex:B") == ["ex:Old"]


def test_skos_broader_and_narrower_fold_into_one_hierarchy(kg_of):
    kg, report = kg_of("""
        @prefix ex: <http://example.org/t/> .
        ex:econ a skos:Concept ; skos:prefLabel "economics"@en ; skos:narrower ex:fin .
        ex:fin a skos:Concept ; skos:prefLabel "finance"@en ; skos:broader ex:econ ; skos:related ex:bank .
        ex:bank a skos:Concept ; skos:prefLabel "banking"@en ; skos:broader ex:fin , ex:econ ; skos:scopeNote "Banks."@en .
        ex:group a skos:Collection ; skos:member ex:fin .
    """)
    assert kg.concepts() == ["ex:bank", "ex:econ", "ex:fin"]  # the collection is not a concept
    assert kg.parents("ex:bank") == ["ex:econ", "ex:fin"]  # polyhierarchy kept
    assert len(list(kg.edges("is_a"))) == 3 and report.skipped["duplicate_edge"] == 1
    assert kg.node("ex:bank")["definition"] == "Banks."
    assert ("ex:fin", "skos:related", "ex:bank", "") in edges(kg)


def test_individuals_and_property_assertions(kg_of):
    kg, _ = kg_of("""
        @prefix ex: <http://example.org/f#> .
        ex:regulatedBy a owl:ObjectProperty ; rdfs:label "regulated by"@en .
        ex:Exchange a owl:Class . ex:Regulator a owl:Class .
        ex:NYSE a owl:NamedIndividual , ex:Exchange ; rdfs:label "New York Stock Exchange" ; ex:regulatedBy ex:SEC .
        ex:SEC a ex:Regulator ; rdfs:label "SEC" .
    """)
    assert kg.node("ex:NYSE")["kind"] == "individual" and kg.node("ex:SEC")["kind"] == "individual"
    assert ("ex:NYSE", "ex:regulatedBy", "ex:SEC", "") in edges(kg)
    assert ("ex:NYSE", "instance_of", "ex:Exchange", "") in edges(kg)
    assert kg.concepts() == ["ex:Exchange", "ex:Regulator"]


def test_disjointness_and_implicit_classes(kg_of):
    kg, _ = kg_of("""
        @prefix ex: <http://example.org/d#> .
        ex:A a owl:Class . ex:B a owl:Class . ex:C a owl:Class .
        [] a owl:AllDisjointClasses ; owl:members ( ex:A ex:B ex:C ) .
        ex:Sub rdfs:subClassOf ex:A .
        ex:Schema rdfs:subClassOf skos:Concept .
    """)
    assert {(s, d) for s, _, d, _ in edges(kg, "disjoint_with")} == {("ex:A", "ex:B"), ("ex:A", "ex:C"), ("ex:B", "ex:C")}
    assert "ex:Sub" in kg.concepts()  # rdfs:subClassOf implies a class
    assert "ex:Schema" not in kg  # a subclass of a vocabulary class only is vocabulary


def test_is_a_cycle_is_an_error_naming_it(kg_of):
    body = """
        @prefix ex: <http://example.org/c#> .
        ex:A a owl:Class ; rdfs:label "alpha" ; rdfs:subClassOf ex:B .
        ex:B a owl:Class ; rdfs:subClassOf ex:C . ex:C a owl:Class ; rdfs:subClassOf ex:A .
        ex:D a owl:Class ; rdfs:subClassOf ex:D .
    """
    with pytest.raises(OntologyError, match=r"is_a cycle: .*ex:A \(alpha\)"):
        kg_of(body)
    kg, report = kg_of(body, allow_cycles=True)
    assert report.skipped["self_loop"] == 1
    from kgtools.graph.stats import graph_stats

    assert graph_stats(kg)["hierarchy_depth"] == 0  # the cycle counts as one step: nothing above or below it


def test_no_concepts_is_an_error(kg_of):
    with pytest.raises(OntologyError, match="no concepts found"):
        kg_of("<http://example.org/a> <http://example.org/p> 'x' .")


def test_rdflib_graph_without_oxigraph_gives_the_same_graph(write):
    path = write("o.ttl", PREFIXES + """
        @prefix ex: <http://example.org/med#> .
        ex:p a owl:ObjectProperty ; rdfs:label "p" .
        ex:A a owl:Class ; rdfs:label "a"@en ; rdfs:subClassOf ex:B , [ a owl:Restriction ; owl:onProperty ex:p ; owl:someValuesFrom ex:B ] .
        ex:B a owl:Class ; rdfs:label "b" ; skos:altLabel "bee"@en .
    """)
    loaded = load_ontology([path])
    fast, _ = build_graph(loaded.graph, prefixes=loaded.prefixes)
    plain = rdflib.Graph().parse(path)
    slow, _ = build_graph(plain, prefixes={p: str(ns) for p, ns in plain.namespaces()})
    assert edges(fast) == edges(slow)
    assert [fast.node(n) for n in fast.nodes()] == [dict(slow.node(n), source=None) for n in slow.nodes()]


def test_id_minter_and_humanize():
    mint = IdMinter({"fibo": "https://spec.edmcouncil.org/fibo/ontology/FND/", "stw": "http://zbw.eu/stw/"})
    assert mint("http://purl.obolibrary.org/obo/DOID_0050012") == "DOID:0050012"
    assert mint("http://purl.obolibrary.org/obo/doid#has_symptom") == "http://purl.obolibrary.org/obo/doid#has_symptom"
    assert mint("http://zbw.eu/stw/descriptor/10001-6") == "stw:descriptor/10001-6"
    assert mint("http://unknown.org/x") == "http://unknown.org/x"
    assert humanize("isGovernedBy") == "is governed by"
    assert humanize("has_symptom") == "has symptom"
    assert humanize("RO_0002233") == "RO_0002233"


def test_unlabelled_individuals_are_named_from_type_and_identifier_when_asked(kg_of):
    body = """
    :Disposition a owl:Class ; rdfs:label "HMDA disposition" .
    :Identifier a owl:Class ; rdfs:label "legal entity identifier" .
    :Disposition-ApplicationDenied a owl:NamedIndividual, :Disposition .
    :LEI-5493001KJTIIGC8Y1R12 a owl:NamedIndividual, :Identifier .
    :Opaque a owl:NamedIndividual .
    :Named a owl:NamedIndividual, :Disposition ; rdfs:label "loan originated" .
    """
    kg, _ = kg_of(body)
    assert kg.g.nodes["http://example.org/med#Disposition-ApplicationDenied"]["label"] is None  # off by default: nothing invented
    kg, report = kg_of(body, name_individuals=True)
    label = lambda n: kg.g.nodes[f"http://example.org/med#{n}"]["label"]  # noqa: E731
    assert label("Disposition-ApplicationDenied") == "HMDA disposition: application denied"
    assert label("LEI-5493001KJTIIGC8Y1R12") == "legal entity identifier: LEI-5493001KJTIIGC8Y1R12"
    assert label("Opaque") == "Opaque" and label("Named") == "loan originated"
    assert report.skipped["individual_named_from_identifier"] == 3
