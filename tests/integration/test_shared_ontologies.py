"""Every public ontology in ../shared/ontologies builds, and its concepts equal an independent count made
here with rdflib's own parsers and SPARQL (or pronto / fastobo for OBO), plus hand-picked facts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import rdflib

from kgtools.config import KgConfig
from kgtools.graph.build import BuildOptions, build_graph
from kgtools.graph.model import KnowledgeGraph
from kgtools.graph.stage import build_kg
from kgtools.ontology import expand_inputs, load_ontology
from kgtools.ontology.vocab import RESERVED_NAMESPACES

from ..conftest import shared_path

INDEPENDENT = """
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?c WHERE {
  { ?c a owl:Class } UNION { ?c a skos:Concept }
  FILTER(isIRI(?c))
  FILTER NOT EXISTS { ?c owl:deprecated true }
  FILTER NOT EXISTS { ?c owl:deprecated "true" }
}"""
RDFLIB_FORMAT = {".owl": "xml", ".rdf": "xml", ".ttl": "turtle"}


def independent_concepts(paths: list[Path]) -> set[str]:
    """Non-deprecated named owl:Class / skos:Concept IRIs, outside the W3C vocabularies, by plain rdflib."""
    logging.getLogger("rdflib.term").setLevel(logging.CRITICAL)  # FIBO's malformed xsd:dateTime
    g = rdflib.Graph()
    for path in paths:
        g.parse(path, format=RDFLIB_FORMAT[path.suffix])
    return {str(row.c) for row in g.query(INDEPENDENT) if not str(row.c).startswith(RESERVED_NAMESPACES)}


def build(path: Path, **options) -> tuple[KnowledgeGraph, object]:
    loaded = load_ontology([path])
    kg, report = build_graph(loaded.graph, options=BuildOptions(**options), prefixes=loaded.prefixes,
                             declared_in=loaded.declared_in)
    return kg, loaded


def concept_iris(kg: KnowledgeGraph) -> set[str]:
    return {kg.node(n)["iri"] for n in kg.concepts()}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("doid/DO_infectious_disease_slim.owl", 536),
        ("symp", 895),
        ("maxo/maxo-base.owl", 2571),
        ("stw", 6246),
        ("unesco", 4482),
        ("dfe-curriculum", None),
        ("fibo", 2981),
    ],
)
def test_concepts_equal_an_independent_count(name, expected):
    path = shared_path(*name.split("/"))
    kg, loaded = build(path)
    files = expand_inputs([path])
    independent = independent_concepts(files)
    assert concept_iris(kg) == independent
    if expected is not None:
        assert len(kg.concepts()) == expected
    assert loaded.triples > 0


def test_doid_facts_and_obo_twin_parity():
    owl_kg, _ = build(shared_path("doid", "DO_infectious_disease_slim.owl"))
    obo_kg, _ = build(shared_path("doid", "DO_infectious_disease_slim.obo"))
    chik = owl_kg.node("DOID:0050012")
    assert chik["label"] == "chikungunya" and owl_kg.parents("DOID:0050012") == ["DOID:934"]
    assert owl_kg.label("DOID:934") == "viral infectious disease"
    assert ("Chikungunya fever", "exact") in zip(chik["synonyms"], chik["synonym_scopes"], strict=True)
    assert chik["definition"].startswith("A viral infectious disease that results_in infection located_in joint")
    assert "GARD:6038" in chik["xrefs"]
    # The OBO twin of the same release gives the same concepts, labels and hierarchy.
    assert owl_kg.concepts() == obo_kg.concepts()
    assert {(e["src"], e["dst"]) for e in owl_kg.edges("is_a")} == {(e["src"], e["dst"]) for e in obo_kg.edges("is_a")}
    assert all(owl_kg.label(n) == obo_kg.label(n) for n in owl_kg.concepts())


def test_obo_concepts_equal_what_pronto_reports():
    import pronto

    path = shared_path("doid", "DO_infectious_disease_slim.obo")
    onto = pronto.Ontology(str(path))
    expected = {t.id for t in onto.terms() if not t.obsolete}
    kg, _ = build(path)
    assert set(kg.concepts()) == expected and len(expected) == 536


def test_maxo_obo_read_where_pronto_fails_and_matches_fastobo():
    import fastobo

    path = shared_path("maxo", "maxo-base.obo")
    doc = fastobo.load(str(path))
    terms = {str(f.id) for f in doc if isinstance(f, fastobo.term.TermFrame)
             and not any(type(c).__name__ == "IsObsoleteClause" and c.obsolete for c in f)}
    kg, _ = build(path)
    assert set(kg.concepts()) == terms
    edge = next(e for e in kg.edges("RO:0002233") if e["src"] == "MAXO:0000019")
    assert edge["dst"] == "UBERON:0001043" and edge["rel_label"] == "has input"  # RO unlabelled in the file
    assert kg.node("UBERON:0001043")["kind"] == "external"


def test_symp_skips_deprecated():
    kg, _ = build(shared_path("symp"))
    fever = kg.node(kg.resolve("fever"))
    assert fever["id"] == "SYMP:0000613" and fever["synonyms"] == ["pyrexia"]
    assert not any(kg.node(n)["deprecated"] for n in kg.nodes())
    with_deprecated, _ = build(shared_path("symp"), include_deprecated=True)
    assert len(with_deprecated.concepts()) == 1020


def test_stw_languages_and_folded_hierarchy():
    path = shared_path("stw")
    en, _ = build(path)
    de, _ = build(path, languages=["de"])
    node = en.resolve("Inflation")
    assert node == "stw:descriptor/11506-6"
    assert de.node(node)["label"] == "Inflation"  # same in German; check one that differs:
    money = en.resolve("Monetary policy")
    assert de.label(money) == "Geldpolitik"
    # broader and narrower are both written out: each hierarchy edge appears once
    pairs = [(e["src"], e["dst"]) for e in en.edges("is_a")]
    assert len(pairs) == len(set(pairs)) and len(pairs) > 12000
    assert len(en.parents(node)) >= 2  # polyhierarchy


def test_unesco_collections_are_not_concepts_and_languages():
    path = shared_path("unesco")
    en, loaded = build(path)
    fr, _ = build(path, languages=["fr"])
    c10 = "http://vocabularies.unesco.org/thesaurus/concept10"
    assert en.label(c10) == "Right to education" and fr.label(c10) == "Droit à l'éducation"
    assert not any("skos:Collection" in (en.node(n)["types"] or []) for n in en.nodes())
    # UNESCO writes its definitions as skos:scopeNote; every concept with an English one gets it
    with_note = {str(r.c) for r in loaded.graph.query(
        'PREFIX skos: <http://www.w3.org/2004/02/skos/core#> '
        'SELECT DISTINCT ?c WHERE { ?c skos:scopeNote|skos:definition ?n . FILTER(lang(?n) = "en") }')}
    assert {n for n in en.concepts() if en.node(n)["definition"]} == with_note and len(with_note) > 600


def test_dfe_curriculum_imports_individuals_and_assertions(caplog):
    path = shared_path("dfe-curriculum")
    kg, loaded = build(path)
    assert len(loaded.unresolved_imports) == 13
    assert "https://w3id.org/uk/curriculum/core/" in loaded.unresolved_imports
    assert not any("sh:" in t for n in kg.nodes() for t in kg.node(n)["types"])  # SHACL shapes are not nodes
    assertions = {(e["src"], e["rel_label"], e["dst"]) for e in kg.edges() if e["provenance"] == "assertion"}
    assert ("eng:key-stage-1", "is key stage of", "eng:phase-primary") in assertions


def test_fibo_folder_with_catalogs_restrictions_and_unresolved_imports():
    path = shared_path("fibo")
    kg, loaded = build(path)
    assert len(loaded.files) == 291 and loaded.catalogs
    unresolved = loaded.unresolved_imports
    assert len(unresolved) == 105
    assert "https://www.omg.org/spec/Commons/Classifiers/" in unresolved
    contract = kg.resolve("contract")
    assert contract == "fibo-fnd-agr-ctr:Contract"
    rels = {(r["rel_label"], r["dst"], r["qualifier"]) for r in kg.relations(contract)}
    assert ("has contractual element", "fibo-fnd-agr-ctr:ContractualElement", "some") in rels
    proceeding = kg.resolve("legal proceeding")
    governed = [r for r in kg.relations(proceeding) if r["rel_label"] == "is governed by"]
    assert governed and governed[0]["dst"] == "cmns-rga:Jurisdiction"  # a property of the missing OMG Commons
    assert kg.node("cmns-rga:Jurisdiction")["kind"] == "external"
    assert kg.node(contract)["source"].endswith("fibo/FND/Agreements/Contracts.rdf")


def test_fibo_single_file_follows_imports_through_the_catalog():
    path = shared_path("fibo", "FND", "Agreements", "Contracts.rdf")
    loaded = load_ontology([path], catalogs=[shared_path("fibo", "catalog-v001.xml")])
    vias = {f.via for f in loaded.files}
    assert len(loaded.files) > 5 and vias == {"input", "catalog"}
    assert all(iri.startswith("https://www.omg.org/") for iri in loaded.unresolved_imports)


def test_fibo_through_the_stage_and_reuse(store):
    cfg = KgConfig(ontologies=[shared_path("fibo")])
    first = build_kg(cfg, store)
    second = build_kg(cfg, store)
    assert first.built and not second.built and first.path == second.path
    manifest = first.artifact.manifest
    assert manifest["counts"]["concepts"] == 2981 and manifest["counts"]["files"] == 291
    assert len(manifest["unresolved_imports"]) == 105
    saved = first.graph()
    assert saved.node("fibo-fnd-agr-ctr:Contract")["source"] == "FND/Agreements/Contracts.rdf"  # relative


def test_dfe_single_file_finds_its_sibling_imports():
    """history-schemes.ttl, given alone, imports history-subject and history-knowledge-taxonomy by ontology
    IRI; both sit beside it without a catalog. The core ontology (another folder) stays unresolved."""
    folder = shared_path("dfe-curriculum", "data", "national-curriculum-for-england", "subjects", "history")
    loaded = load_ontology([folder / "history-schemes.ttl"])
    names = sorted(f.path.name for f in loaded.files)
    assert names == ["history-knowledge-taxonomy.ttl", "history-schemes.ttl", "history-subject.ttl"]
    unresolved = set(loaded.unresolved_imports)
    assert "https://w3id.org/uk/curriculum/england/history-subject" not in unresolved
    assert "https://w3id.org/uk/curriculum/core/" in unresolved
