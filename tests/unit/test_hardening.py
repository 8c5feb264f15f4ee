"""Issue 17, the library side: artifacts that verify themselves, bounded RDF/XML entity expansion, imports
kept inside the folders given, config values checked when read, checkpoint folders diagnosed by name.
(The same failures through the real command line are in tests/integration/test_reliability.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kgtools.artifacts import MANIFEST, Artifact, ArtifactStore
from kgtools.config import EvalConfig, TrainConfig, parse_config, read_yaml
from kgtools.errors import ArtifactError, ConfigError, OntologyError
from kgtools.models import ModelSpec
from kgtools.ontology.loader import load_ontology

PREFIXES = ("@prefix owl: <http://www.w3.org/2002/07/owl#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
            "@prefix ex: <http://e.org/> .\n")
GOOD_TTL = PREFIXES + 'ex:A a owl:Class ; rdfs:label "alpha" .\n'


def _build(store: ArtifactStore, key: str = "k1"):
    def fn(tmp: Path):
        (tmp / "data.bin").write_bytes(b"0123456789" * 100)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "part.txt").write_text("hello")
        return {"counts": {"n": 1}}
    return store.build("demo", key, {}, {}, fn)


# -- artifacts ------------------------------------------------------------------------------------------
def test_manifest_records_every_file_with_size_and_hash(store: ArtifactStore):
    artifact, built = _build(store)
    files = artifact.manifest["files"]
    assert set(files) == {"data.bin", "sub/part.txt"} and built
    assert files["data.bin"]["size"] == 1000 and len(files["data.bin"]["sha256"]) == 64
    assert artifact.damage(hashes=True) == []


def test_truncated_or_deleted_file_is_damage_and_rebuilt_not_reused(store: ArtifactStore, caplog):
    artifact, _ = _build(store)
    data = artifact.path / "data.bin"
    data.write_bytes(data.read_bytes()[:500])
    with pytest.raises(ArtifactError, match=r"damaged artifact \(data.bin has 500 bytes, 1000 were written\)"):
        Artifact.open(artifact.path, "demo")
    again, built = _build(store)
    assert built and data.stat().st_size == 1000  # rebuilt in place, not reused
    (again.path / "sub" / "part.txt").unlink()
    assert store.find("demo", "k1") is None and "sub/part.txt is missing" in caplog.text


def test_same_size_different_bytes_found_by_hash_only(store: ArtifactStore):
    artifact, _ = _build(store)
    (artifact.path / "data.bin").write_bytes(b"x" * 1000)
    assert Artifact.open(artifact.path).damage() == []  # the cheap check: sizes
    assert "sha256 differs" in artifact.damage(hashes=True)[0]


def test_artifacts_without_file_list_still_open(store: ArtifactStore):
    artifact, _ = _build(store)
    manifest = json.loads((artifact.path / MANIFEST).read_text())
    del manifest["files"]
    (artifact.path / MANIFEST).write_text(json.dumps(manifest))
    (artifact.path / "data.bin").unlink()
    assert Artifact.open(artifact.path).damage() == []


# -- RDF/XML entities -----------------------------------------------------------------------------------
def _lol(levels: int) -> str:
    decls = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">'
                                       for i in range(1, levels + 1)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n' + "\n".join(decls) + "\n]>\n"
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">\n'
            f'<rdf:Description rdf:about="http://e.org/a"><rdfs:label>&lol{levels};</rdfs:label></rdf:Description>\n'
            "</rdf:RDF>\n")


def test_billion_laughs_refused_before_parsing(write):
    path = write("lol.owl", _lol(9))
    started = time.perf_counter()
    with pytest.raises(OntologyError, match=r"lol.owl: XML entity 'lol4' expands to more than 8,192 characters"):
        load_ontology([path])
    assert time.perf_counter() - started < 1.0


def test_recursive_entity_refused(write):
    path = write("self.owl", '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n<!ENTITY a "x&b;">\n<!ENTITY b "&a;">\n]>\n'
                             '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>\n')
    with pytest.raises(OntologyError, match="refers to itself"):
        load_ontology([path])


def test_namespace_entities_and_small_nesting_still_parse(write):
    """What real ontologies do: entities for namespaces, sometimes built from one another."""
    path = write("ns.owl", '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n<!ENTITY obo "http://purl.obolibrary.org/obo/">\n'
                           '<!ENTITY doid "&obo;DOID_">\n<!ENTITY rdfs "http://www.w3.org/2000/01/rdf-schema#">\n]>\n'
                           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:rdfs="&rdfs;" '
                           'xmlns:owl="http://www.w3.org/2002/07/owl#">\n'
                           '<owl:Class rdf:about="&doid;4"><rdfs:label>disease</rdfs:label></owl:Class>\n</rdf:RDF>\n')
    loaded = load_ontology([path])
    assert loaded.triples == 2


def test_oversized_literal_is_one_error(write):
    path = write("big.ttl", PREFIXES + 'ex:A rdfs:comment "' + "x" * 17_000_000 + '" .\n')
    with pytest.raises(OntologyError, match="a single literal or IRI is too large"):
        load_ontology([path])


# -- imports --------------------------------------------------------------------------------------------
def _importer(write, target: Path) -> Path:
    return write("in/a.ttl", GOOD_TTL + f"<http://e.org/o> a owl:Ontology ; owl:imports <{target.as_uri()}> .\n")


def test_file_import_outside_the_given_folders_is_not_read(write):
    secret = write("elsewhere/s.ttl", PREFIXES + 'ex:S a owl:Class ; rdfs:label "secret" .\n')
    onto = _importer(write, secret)
    loaded = load_ontology([onto])
    assert [f.path.name for f in loaded.files] == ["a.ttl"]
    assert "outside the folders given" in loaded.unresolved_imports[secret.as_uri()][0]
    allowed = load_ontology([onto], allow_outside=True)
    assert [f.path.name for f in allowed.files] == ["a.ttl", "s.ttl"]


def test_catalog_entry_outside_is_refused_unless_its_catalog_was_given(write, tmp_path):
    other = write("lib/o.ttl", PREFIXES + '<http://e.org/lib> a owl:Ontology .\nex:L a owl:Class ; rdfs:label "lib" .\n')
    onto = write("in/a.ttl", GOOD_TTL + "<http://e.org/o> a owl:Ontology ; owl:imports <http://e.org/lib> .\n")
    write("in/catalog-v001.xml", '<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">'
                                 f'<uri name="http://e.org/lib" uri="{other.as_uri()}"/></catalog>')
    found_beside = load_ontology([onto.parent])  # a catalog shipped with the ontology may not point out of it
    assert "http://e.org/lib" in found_beside.unresolved_imports
    given = write("cats/catalog.xml", '<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">'
                                      '<uri name="http://e.org/lib" uri="../lib/o.ttl"/></catalog>')
    assert "http://e.org/lib" in load_ontology([onto.parent], catalogs=[given]).unresolved_imports
    assert not load_ontology([onto.parent, other.parent]).unresolved_imports  # both folders given


def test_symlink_out_of_a_given_folder_counts_as_outside(write, tmp_path):
    secret = write("elsewhere/s.ttl", PREFIXES + 'ex:S a owl:Class ; rdfs:label "secret" .\n')
    (tmp_path / "in").mkdir()
    link = tmp_path / "in" / "s.ttl"
    link.symlink_to(secret)
    onto = write("in/a.ttl", GOOD_TTL + f"<http://e.org/o> a owl:Ontology ; owl:imports <{link.as_uri()}> .\n")
    loaded = load_ontology([onto])
    assert link.as_uri() in loaded.unresolved_imports


# -- config -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "message"), [
    ({"kg_sft": {"lr": "1e-3"}}, r"train\.kg_sft\.lr: Input should be a valid number, not the string '1e-3'"),
    ({"kg_sft": {"max_steps": -5}}, r"train\.kg_sft\.max_steps: Input should be greater than or equal to -1"),
    ({"esft": {"enabled": "yes"}}, r"train\.esft\.enabled: Input should be true or false"),
    ({"seed": "0"}, r"train\.seed: Input should be a valid number"),
])
def test_quoted_numbers_and_bad_ranges_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(TrainConfig, data, prefix="train")


def test_yaml_reads_exponents_without_a_dot_as_numbers(write):
    data = read_yaml(write("t.yaml", "train:\n  kg_sft: {lr: 1e-3, max_steps: 5}\n  reinforce: {lr: 5E-4}\n"))
    cfg = parse_config(TrainConfig, data["train"], prefix="train")
    assert cfg.kg_sft.lr == 1e-3 and cfg.reinforce.lr == 5e-4


def test_retention_text_checked_when_read(write, tmp_path):
    binary = write("r.bin", bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"evaluate\.retention_text: .*r\.bin: not UTF-8 text"):
        parse_config(EvalConfig, {"retention_text": binary}, prefix="evaluate")
    with pytest.raises(ConfigError, match="not a regular file"):
        parse_config(EvalConfig, {"retention_text": tmp_path}, prefix="evaluate")
    text = write("r.txt", "Plain text about the weather. " * 1000 + "é")
    assert parse_config(EvalConfig, {"retention_text": text}).retention_text == text


# -- checkpoint folders -------------------------------------------------------------------------------------
CONFIG = json.dumps({"model_type": "deepseek_v3"})


@pytest.mark.parametrize(("files", "message"), [
    ({"config.json": CONFIG[:12], "model.safetensors": "x", "tokenizer.json": "{}"}, r"config\.json: not valid JSON at line 1"),
    ({"config.json": CONFIG, "tokenizer.json": "{}"}, r": no weights \(none of model\.safetensors"),
    ({"config.json": CONFIG, "model.safetensors": "x"}, r": no tokenizer \(none of tokenizer\.json"),
    ({"config.json": json.dumps({"model_type": "my_moe", "auto_map": {"AutoConfig": "c.C"}}),
      "model-00001-of-00002.safetensors": "x", "tokenizer.model": "x"}, r"code inside the folder .*trust_remote_code: true"),
])
def test_checkpoint_folder_problems_named(files, message, tmp_path):
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    with pytest.raises(ConfigError, match=message):
        ModelSpec.parse(str(tmp_path))


def test_checkpoint_with_remote_code_passes_when_the_user_allows_it(tmp_path):
    for name, content in {"config.json": json.dumps({"model_type": "my_moe", "auto_map": {"AutoConfig": "c.C"}}),
                          "model.safetensors": "x", "tokenizer.json": "{}"}.items():
        (tmp_path / name).write_text(content)
    assert ModelSpec.parse(str(tmp_path), trust_remote_code=True).path == tmp_path.resolve()


def test_configurable_guards_refuse_a_file_by_name(write):
    small = write("a.ttl", PREFIXES + 'ex:A a owl:Class ; rdfs:label "alpha" ; rdfs:comment "' + "x" * 5000 + '" .\n')
    with pytest.raises(OntologyError, match=r"a\.ttl: a literal of 5,000 characters, more than kg\.max_literal_chars"):
        load_ontology([small], max_literal_chars=4000)
    with pytest.raises(OntologyError, match=r"a\.ttl: loading it would hold 3 triples, more than kg\.max_triples \(2\)"):
        load_ontology([small], max_triples=2)
    assert load_ontology([small], max_literal_chars=5000, max_triples=3).triples == 3


def test_guards_do_not_change_the_kg_key():
    from kgtools.config import KgConfig

    a = KgConfig(ontologies=[Path("x.ttl")])
    b = KgConfig(ontologies=[Path("x.ttl")], max_triples=10, max_literal_chars=10)
    assert a.hashable() == b.hashable()
