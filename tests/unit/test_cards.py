"""Model and dataset cards (issue 19): what an ontology's header says about its release, license identifiers,
and a synth/dedupe artifact's dataset card that the Hub's parser and `datasets.load_dataset` read."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgtools.artifacts import ArtifactStore
from kgtools.cards import hf_license, license_metadata
from kgtools.config import KgConfig, SynthConfig
from kgtools.graph.stage import build_kg
from kgtools.ontology import load_ontology
from kgtools.synth.stage import synthesize

BUNDLED = Path(__file__).resolve().parents[2] / "ontologies"


@pytest.mark.parametrize(("text", "expected"), [
    ("https://creativecommons.org/licenses/by/4.0/", "cc-by-4.0"),
    ("http://creativecommons.org/licenses/by-nc-sa/3.0/", "cc-by-nc-sa-3.0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "cc0-1.0"),
    ("http://opendatacommons.org/licenses/odbl/1-0/", "odbl"),
    ("https://www.apache.org/licenses/LICENSE-2.0", "apache-2.0"),
    ("https://opensource.org/licenses/MIT", "mit"),
    ("Copyright (c) 2013-2025 EDM Council, Inc. Permission is hereby granted, free of charge, to any person", "mit"),
    ("http://creativecommons.org/licenses/by-sa/3.0/igo/", None),  # the IGO port is not a Hub identifier
    ("http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/", None),
    ("", None),
])
def test_license_iris_and_texts_map_to_hub_identifiers(text, expected):
    assert hf_license(text) == expected


def test_license_metadata_needs_one_listed_license():
    assert license_metadata(["https://creativecommons.org/licenses/by/4.0/"] * 2) == {"license": "cc-by-4.0"}
    mixed = license_metadata(["https://creativecommons.org/licenses/by/4.0/", "https://opensource.org/licenses/MIT"])
    assert mixed["license"] == "other" and mixed["license_link"].startswith("https://")
    assert license_metadata([None]) == {"license": "unknown"}
    igo = license_metadata(["http://creativecommons.org/licenses/by-sa/3.0/igo/"])
    assert igo == {"license": "other", "license_name": "ontology-license",
                   "license_link": "http://creativecommons.org/licenses/by-sa/3.0/igo/"}


OBO = """format-version: 1.2
data-version: demo/releases/2026-01-02/demo.owl
idspace: dce http://purl.org/dc/elements/1.1/
ontology: demo
property_value: dce:title "Demo Ontology" xsd:string
property_value: dcterms:license https://creativecommons.org/licenses/by/4.0/
property_value: owl:versionInfo "2026-01-02" xsd:string
property_value: dce:creator "Someone" xsd:string

[Term]
id: DEMO:0000001
name: thing one
"""

THESAURUS = """@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix cc: <http://creativecommons.org/ns#> .
<http://www.w3.org/2004/02/skos/core> a owl:Ontology ; dcterms:title "SKOS Vocabulary" .
<http://example.org/thesaurus> a skos:ConceptScheme ;
    dcterms:title "Example Thesaurus"@en ;
    owl:versionInfo "9.1" ;
    dcterms:rights "see cc:license" ;
    cc:license <http://opendatacommons.org/licenses/odbl/1-0/> .
<http://example.org/c1> a skos:Concept ; skos:prefLabel "economy"@en ; skos:inScheme <http://example.org/thesaurus> .
"""


def test_release_headers_of_obo_and_skos_files(write):
    obo = load_ontology([write("demo.obo", OBO)], follow_imports=False).files[0].header
    assert obo == {"iri": "http://purl.obolibrary.org/obo/demo.owl", "title": "Demo Ontology", "version": "2026-01-02",
                   "version_iri": "http://purl.obolibrary.org/obo/demo/releases/2026-01-02/demo.owl",
                   "license": "https://creativecommons.org/licenses/by/4.0/"}
    # the scheme that says the most is the release, not the SKOS ontology a thesaurus also declares; a license
    # property wins over a rights statement
    skos = load_ontology([write("thesaurus.ttl", THESAURUS)], follow_imports=False).files[0].header
    assert skos == {"iri": "http://example.org/thesaurus", "title": "Example Thesaurus", "version": "9.1",
                    "license": "http://opendatacommons.org/licenses/odbl/1-0/"}


def test_synth_writes_a_dataset_card_the_hub_and_datasets_read(tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    store = ArtifactStore(tmp_path / "artifacts")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store).artifact
    assert kg.manifest["loaded_files"][0]["header"]["license"] == "https://www.apache.org/licenses/LICENSE-2.0"
    art = synthesize(SynthConfig(), kg, store).artifact
    card = DatasetCard.load(art.path / "README.md", repo_type="dataset")
    assert card.data.license == "apache-2.0" and card.data.language == ["en"]
    assert card.data.size_categories == ["1K<n<10K"]
    counts = art.manifest["counts"]
    assert f"| train | {counts['train']:,} |" in card.text
    assert f"| test_paraphrase | {counts['test_paraphrase']:,} |" in card.text
    assert "| hierarchy |" in card.text and "kgtools medical demo ontology | 1.0 |" in card.text
    loaded = load_dataset(str(art.path))  # the card's `configs` name each split's parquet file
    assert {s: len(d) for s, d in loaded.items()} == {s: counts[s] for s in loaded}
    assert set(loaded) == {s for s, n in counts.items() if s != "examples" and n}
