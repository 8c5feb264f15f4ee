"""The reliability suite (issue 17): every failure a user can cause, driven through the real `kgtools`
command as a subprocess. Each case ends in exactly one line on stderr that names the file, key or line,
the documented exit status (2; 130 for Ctrl-C), no traceback, and no artifact but those that were there.
Cases that must succeed (a damaged artifact rebuilt, a damaged cache re-embedded) check that instead.

Every case is one row of a table; the slow marker keeps the suite out of the default `make test`."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import BUNDLED, RESOURCES, ROOT

pytestmark = pytest.mark.slow

PREFIXES = ("@prefix owl: <http://www.w3.org/2002/07/owl#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
            "@prefix ex: <http://e.org/> .\n")
GOOD_TTL = PREFIXES + ('ex:A a owl:Class ; rdfs:label "alpha disease" .\n'
                       'ex:B a owl:Class ; rdfs:label "beta disease" ; rdfs:subClassOf ex:A .\n')


def lol(levels: int) -> str:
    """A 'billion laughs' RDF/XML file: each entity ten of the one before."""
    decls = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">' for i in range(1, levels + 1)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n' + "\n".join(decls) + "\n]>\n"
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">\n'
            f'<rdf:Description rdf:about="http://e.org/a"><rdfs:label>&lol{levels};</rdfs:label></rdf:Description>\n'
            "</rdf:RDF>\n")


def run(*args: str | Path, cwd: Path | None = None, limit_fsize: int | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess:
    def limits() -> None:
        if limit_fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))

    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env, preexec_fn=limits)


def artifacts_in(root: Path) -> set[str]:
    """Finished artifact folders and temporary debris under a store."""
    if not root.exists():
        return set()
    found = {str(p.parent.relative_to(root)) for p in root.rglob("manifest.json")}
    found |= {str(p.relative_to(root)) for p in root.rglob(".tmp-*")}
    return found


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Path]:
    """A store with a kg (bundled medical ontology), a synth and a corpus artifact, built once."""
    root = tmp_path_factory.mktemp("reliability")
    store = root / "store"
    for args in (("kg", "build", BUNDLED / "medical.ttl", "-a", store),
                 ("synth", "build", "--kg", store, "-a", store),
                 ("corpus", "build", "--kg", store, "-a", store, "--no-verbalise", "-t", RESOURCES / "texts")):
        proc = run(*args)
        assert proc.returncode == 0, proc.stderr
    kg = next(p.parent for p in (store / "kg").glob("*/manifest.json"))
    synth = next(p.parent for p in (store / "synth").glob("*/manifest.json"))
    corpus = next(p.parent for p in (store / "corpus").glob("*/manifest.json"))
    return {"root": root, "store": store, "kg": kg, "synth": synth, "corpus": corpus}


@dataclass
class Case:
    """``make(tmp, base)`` writes what the case needs and returns the command's arguments."""

    make: Callable[[Path, dict[str, Path]], list]
    pattern: str  # regex the one stderr line must match
    code: int = 2
    fsize: int | None = None


def w(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def kg_build(name: str, content: str | bytes, *extra: str) -> Callable:
    return lambda tmp, b: ["kg", "build", w(tmp, name, content), "-a", tmp / "arts", *extra]


def fifo(tmp: Path, name: str) -> Path:
    path = tmp / name
    os.mkfifo(path)
    return path


def yaml_cfg(tmp: Path, text: str) -> Path:
    return w(tmp, "cfg.yaml", text)


def train_model_dir(tmp: Path, files: dict[str, str | bytes]) -> Path:
    folder = tmp / "ckpt"
    folder.mkdir()
    for name, content in files.items():
        w(folder, name, content)
    return folder


CONFIG = json.dumps({"model_type": "deepseek_v3", "hidden_size": 64})
TOKENIZER = json.dumps({"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0}}})

ONTOLOGY_CASES: dict[str, Case] = {
    "missing file": Case(lambda t, b: ["kg", "build", t / "nope.ttl", "-a", t / "arts"], r"nope\.ttl: no such file"),
    "unknown extension": Case(kg_build("notes.xyz", "words\n"), r"notes\.xyz: unknown extension"),
    "malformed turtle": Case(kg_build("bad.ttl", PREFIXES + 'ex:a ex:b "open .\n'), r"bad\.ttl:\d+: Turtle syntax error"),
    "turtle undefined prefix": Case(kg_build("pfx.ttl", "zz:a zz:b zz:c .\n"), r"pfx\.ttl:1: Turtle syntax error"),
    "malformed n-triples": Case(kg_build("bad.nt", "<http://e/a> <http://e/b> .\n"), r"bad\.nt:1: N-Triples syntax error"),
    "malformed n3": Case(kg_build("bad.n3", "@prefix ex: <http://e/> .\nex:a ex:b [ .\n"), r"bad\.n3"),
    "malformed rdf/xml": Case(kg_build("bad.rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n<rdf:Description rdf:about="http://e/a">\n</rdf:RDF>\n'), r"bad\.rdf"),
    "rdf/xml that is html": Case(kg_build("page.owl", "<html><body><h1>502 Bad Gateway</h1></body></html>\n"), r"page\.owl"),
    "malformed json-ld": Case(kg_build("bad.jsonld", '{"@id": "http://e/a", '), r"bad\.jsonld.*JSON-LD"),
    "json-ld remote context": Case(kg_build("remote.jsonld", '{"@context": "http://127.0.0.1:9/ctx.jsonld", "@id": "http://e/a", "name": "x"}'), r"remote\.jsonld: .*never fetches a remote @context"),
    "malformed obo": Case(kg_build("bad.obo", "format-version: 1.2\n\n[Term]\nid: X:1\nname: a\nis_a X:2 !\n"), r"bad\.obo"),
    "obo bad header": Case(kg_build("hdr.obo", "this is not obo\n[Term\n"), r"hdr\.obo"),
    "empty turtle": Case(kg_build("empty.ttl", ""), r"empty\.ttl.*no concepts found|no concepts found"),
    "empty owl": Case(kg_build("empty.owl", ""), r"empty\.owl"),
    "only prefixes": Case(kg_build("prefixes.ttl", PREFIXES), r"no concepts found"),
    "is_a cycle": Case(kg_build("cycle.ttl", PREFIXES + "ex:A a owl:Class ; rdfs:subClassOf ex:B .\nex:B a owl:Class ; rdfs:subClassOf ex:A .\n"), r"is_a cycle"),
    "latin-1 bytes": Case(kg_build("latin1.ttl", b'@prefix ex: <http://e/> .\nex:a ex:b "caf\xe9" .\n'), r"latin1\.ttl:2: .*UTF-8"),
    "binary as turtle": Case(kg_build("random.ttl", bytes(range(256)) * 8), r"random\.ttl"),
    "gzip as turtle": Case(kg_build("packed.ttl", b"\x1f\x8b\x08\x00" + bytes(64)), r"packed\.ttl"),
    "folder without ontology": Case(lambda t, b: ["kg", "build", w(t, "d/readme.txt", "x").parent, "-a", t / "arts"], r"folder holds no ontology file"),
    "fifo as ontology": Case(lambda t, b: ["kg", "build", fifo(t, "pipe.ttl"), "-a", t / "arts"], r"pipe\.ttl: not a regular file"),
    "billion laughs": Case(kg_build("lol.owl", lol(9)), r"lol\.owl: XML entity 'lol\d' expands to more than"),
    "self-referencing entity": Case(kg_build("self.owl", '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n<!ENTITY a "&b;">\n<!ENTITY b "&a;">\n]>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>\n'), r"self\.owl: XML entity '\w' refers to itself"),
    "50 MB literal": Case(lambda t, b: ["kg", "build", w(t, "big.ttl", PREFIXES + 'ex:A a owl:Class ; rdfs:label "a" ; rdfs:comment "' + "x" * 50_000_000 + '" .\n'), "-a", t / "arts"], r"big\.ttl: a single literal or IRI is too large"),
    "malformed catalog": Case(lambda t, b: ["kg", "build", w(t, "o/a.ttl", GOOD_TTL), "-a", t / "arts", "--catalog", w(t, "cat.xml", "<catalog><uri")], r"cat\.xml.*malformed XML catalog"),
    "missing catalog": Case(lambda t, b: ["kg", "build", w(t, "o/a.ttl", GOOD_TTL), "-a", t / "arts", "--catalog", t / "none.xml"], r"none\.xml: no such catalog file"),
    "strict unresolved import": Case(kg_build("imp.ttl", GOOD_TTL + "<http://e.org/o> a owl:Ontology ; owl:imports <http://e.org/other> .\n", "--strict"), r"owl:imports cannot be resolved locally"),
    "strict import outside folders": Case(lambda t, b: ["kg", "build", w(t, "in/a.ttl", GOOD_TTL + f"<http://e.org/o> a owl:Ontology ; owl:imports <file://{w(t, 'elsewhere/s.ttl', GOOD_TTL)}> .\n"), "-a", t / "arts", "--strict"], r"owl:imports cannot be resolved locally"),
    "bad language tag": Case(kg_build("lang.ttl", GOOD_TTL, "--lang", "e n"), r"kg\.languages.*not language tags"),
    "store path is a file": Case(lambda t, b: ["kg", "build", w(t, "a.ttl", GOOD_TTL), "-a", w(t, "file-not-folder", "x")], r"file-not-folder.*(not a folder|file)"),
    "store under a file": Case(lambda t, b: ["kg", "build", w(t, "a.ttl", GOOD_TTL), "-a", w(t, "plain", "x") / "sub"], r"plain.*(not a folder|file)"),
    "disk full while writing": Case(lambda t, b: ["kg", "build", BUNDLED / "medical.ttl", "-a", t / "arts"], r"file too large|no space", fsize=20_000),
}


def _synth_cfg(text: str) -> Callable:
    return lambda t, b: ["synth", "build", "--kg", b["kg"], "-a", t / "arts", "-c", yaml_cfg(t, text)]


def _truncated_kg(t: Path, b: dict[str, Path]) -> list:
    copy = t / "store"
    shutil.copytree(b["store"], copy)
    kg = copy / "kg" / b["kg"].name
    data = (kg / "nodes.parquet").read_bytes()
    (kg / "nodes.parquet").write_bytes(data[: len(data) // 2])
    return ["synth", "build", "--kg", kg, "-a", t / "arts"]


def _deleted_kg_file(t: Path, b: dict[str, Path]) -> list:
    copy = t / "store"
    shutil.copytree(b["store"], copy)
    kg = copy / "kg" / b["kg"].name
    (kg / "edges.parquet").unlink()
    return ["kg", "show", "influenza", "--kg", kg]


STAGE_CASES: dict[str, Case] = {
    "synth: kg missing": Case(lambda t, b: ["synth", "build", "--kg", t / "none", "-a", t / "arts"], r"none"),
    "synth: kg is a synth artifact": Case(lambda t, b: ["synth", "build", "--kg", b["synth"], "-a", t / "arts"], r"is a 'synth' artifact, expected a 'kg'"),
    "synth: truncated nodes.parquet": Case(_truncated_kg, r"nodes\.parquet has \d+ bytes, \d+ were written"),
    "synth: unknown key": Case(_synth_cfg("synth:\n  sedd: 1\n"), r"synth\.sedd: unknown key|sedd"),
    "synth: quoted number": Case(_synth_cfg("synth:\n  seed: \"3\"\n"), r"synth\.seed: Input should be a valid number, not the string"),
    "synth: invalid yaml": Case(_synth_cfg("synth: [\n"), r"cfg\.yaml:\d+: invalid YAML"),
    "synth: config not a mapping": Case(_synth_cfg("- a\n- b\n"), r"cfg\.yaml"),
    "synth: unknown task": Case(_synth_cfg("synth:\n  tasks: {poetry: {weight: 1}}\n"), r"synth\.tasks"),
    "synth: negative weight": Case(_synth_cfg("synth:\n  tasks: {mcq: {weight: -1}}\n"), r"synth\.tasks\.mcq\.weight"),
    "synth: unknown relation": Case(_synth_cfg("synth:\n  relations: [no_such_relation]\n"), r"synth\.relations\[0\]: the graph has no relation"),
    "synth: template bad placeholder": Case(_synth_cfg("synth:\n  templates:\n    has symptom:\n      questions: ['What is {nothing}?']\n"), r"synth\.templates\.has symptom\.questions\[0\]"),
    "synth: template unknown relation": Case(_synth_cfg("synth:\n  templates:\n    no such rel:\n      statements: ['{subject} x {object}.']\n"), r"synth\.templates\.no such rel: the graph has no relation"),
    "synth: split share out of range": Case(_synth_cfg("synth:\n  splits: {heldout: 2}\n"), r"synth\.splits\.heldout"),
    "synth: config file missing": Case(lambda t, b: ["synth", "build", "--kg", b["kg"], "-a", t / "arts", "-c", t / "nope.yaml"], r"nope\.yaml: no such config file"),
    "synth: disk full": Case(lambda t, b: ["synth", "build", "--kg", b["kg"], "-a", t / "arts"], r"file too large|no space", fsize=200_000),
    "kg show: deleted edges.parquet": Case(_deleted_kg_file, r"edges\.parquet is missing"),
    "kg show: unknown concept": Case(lambda t, b: ["kg", "show", "no such concept at all", "--kg", b["kg"]], r"no such concept at all"),
    "kg stats: not an artifact": Case(lambda t, b: ["kg", "stats", w(t, "d/x.txt", "x").parent], r"d"),
    "kg stats: empty store": Case(lambda t, b: ["kg", "stats", t / "empty"], r"empty"),
    "corpus: texts missing": Case(lambda t, b: ["corpus", "build", "--kg", b["kg"], "-a", t / "arts", "-t", t / "none.txt"], r"none\.txt"),
    "corpus: broken jsonl line": Case(lambda t, b: ["corpus", "build", "--kg", b["kg"], "-a", t / "arts", "--no-verbalise", "-t", w(t, "t.jsonl", '{"text": "a"}\n{"text": \n')], r"t\.jsonl:2"),
    "corpus: jsonl wrong field": Case(lambda t, b: ["corpus", "build", "--kg", b["kg"], "-a", t / "arts", "--no-verbalise", "-t", w(t, "t.jsonl", '{"body": "a"}\n')], r"t\.jsonl.*text"),
    "corpus: binary text": Case(lambda t, b: ["corpus", "build", "--kg", b["kg"], "-a", t / "arts", "--no-verbalise", "-t", w(t, "t.txt", bytes(range(256)) * 4)], r"t\.txt"),
    "corpus: fifo text": Case(lambda t, b: ["corpus", "build", "--kg", b["kg"], "-a", t / "arts", "--no-verbalise", "-t", fifo(t, "t.txt")], r"t\.txt: not a regular file"),
    "corpus: kg is a synth artifact": Case(lambda t, b: ["corpus", "build", "--kg", b["synth"], "-a", t / "arts", "-t", RESOURCES / "texts"], r"is a 'synth' artifact, expected a 'kg'"),
    "dedupe: source is a kg artifact": Case(lambda t, b: ["dedupe", "--synth", b["kg"], "-a", t / "arts"], r"'kg' artifact"),
    "dedupe: threshold out of range": Case(lambda t, b: ["dedupe", "--synth", b["synth"], "-a", t / "arts", "--threshold", "1.5"], r"dedupe\.threshold"),
    "dedupe: unknown field": Case(lambda t, b: ["dedupe", "--synth", b["synth"], "-a", t / "arts", "--field", "nothing"], r"dedupe\.field|nothing"),
    "verify: truncated file": Case(lambda t, b: ["verify", _copy_truncated(t, b, "kg", "edges.parquet")], r"damaged"),
}


def _copy_truncated(t: Path, b: dict[str, Path], stage: str, name: str) -> Path:
    copy = t / stage
    shutil.copytree(b[stage], copy)
    data = (copy / name).read_bytes()
    (copy / name).write_bytes(data[:-10])
    return copy


def _train_cfg(text: str, *extra: str) -> Callable:
    return lambda t, b: ["train", "--data", b["synth"], "-a", t / "arts", "-c", yaml_cfg(t, text), *extra]


def _ckpt(files: dict[str, str | bytes], *, trust: bool = False) -> Callable:
    def make(t: Path, b: dict[str, Path]) -> list:
        folder = train_model_dir(t, files)
        return ["train", "--data", b["synth"], "-a", t / "arts", "--model", folder]
    return make


TRAIN_CASES: dict[str, Case] = {
    "train: --from a kg artifact": Case(lambda t, b: ["train", "--data", b["synth"], "-a", t / "arts", "--stages", "distill", "--from", b["kg"]], r"--from: .* is a 'kg' artifact"),
    "train: --data a kg artifact": Case(lambda t, b: ["train", "--data", b["kg"], "-a", t / "arts"], r"'kg'"),
    "train: model folder missing": Case(lambda t, b: ["train", "--data", b["synth"], "-a", t / "arts", "--model", t / "none"], r"train\.model: .* neither a preset"),
    "train: checkpoint without config": Case(_ckpt({"model.safetensors": b"x"}), r"train\.model: .* has no config\.json"),
    "train: truncated config.json": Case(_ckpt({"config.json": CONFIG[:20], "model.safetensors": b"x", "tokenizer.json": TOKENIZER}), r"config\.json: not valid JSON at line 1"),
    "train: no weights": Case(_ckpt({"config.json": CONFIG, "tokenizer.json": TOKENIZER}), r"train\.model: .*: no weights"),
    "train: no tokenizer": Case(_ckpt({"config.json": CONFIG, "model.safetensors": b"x"}), r"train\.model: .*: no tokenizer"),
    "train: remote code needed": Case(_ckpt({"config.json": json.dumps({"model_type": "my_moe", "auto_map": {"AutoConfig": "conf.MyConfig"}}), "model.safetensors": b"x", "tokenizer.json": TOKENIZER}), r"trust_remote_code: true"),
    "train: quoted lr": Case(_train_cfg("train:\n  kg_sft: {lr: \"1e-3\"}\n"), r"train\.kg_sft\.lr: Input should be a valid number, not the string '1e-3'"),
    "train: negative max_steps": Case(_train_cfg("train:\n  kg_sft: {max_steps: -5}\n"), r"train\.kg_sft\.max_steps"),
    "train: zero lr": Case(_train_cfg("train:\n  kg_sft: {lr: 0}\n"), r"train\.kg_sft\.lr"),
    "train: unknown stage": Case(lambda t, b: ["train", "--data", b["synth"], "-a", t / "arts", "--stages", "pretrain"], r"train\.stages"),
    "train: stages out of order": Case(lambda t, b: ["train", "--data", b["synth"], "-a", t / "arts", "--stages", "distill,kg_sft"], r"train\.stages"),
    "train: distill alone": Case(lambda t, b: ["train", "--data", b["synth"], "-a", t / "arts", "--stages", "distill"], r"'distill' needs the kg_sft adapter"),
    "train: unknown lora group": Case(_train_cfg("train:\n  lora: {targets: [everything]}\n"), r"train\.lora\.targets"),
    "train: lora dropout 1": Case(_train_cfg("train:\n  lora: {dropout: 1}\n"), r"train\.lora\.dropout"),
    "train: bad dtype": Case(_train_cfg("train:\n  dtype: float8\n"), r"train\.dtype"),
    "train: quoted switch": Case(_train_cfg("train:\n  esft: {enabled: \"yes\"}\n"), r"train\.esft\.enabled: Input should be true or false"),
    "train: esft top_p out of range": Case(_train_cfg("train:\n  esft: {top_p: 3}\n"), r"train\.esft\.top_p"),
    "train: tiny vocab": Case(_train_cfg("train:\n  vocab_size: 10\n"), r"train\.vocab_size"),
    "train: unknown task": Case(_train_cfg("train:\n  kg_sft: {tasks: [poetry]}\n"), r"train\.kg_sft\.tasks"),
    "train: unknown negative kind": Case(_train_cfg("train:\n  reinforce: {negative_kinds: [maybe]}\n"), r"train\.reinforce\.negative_kinds"),
    **{f"train: {key} {value}": Case(_train_cfg(f"train:\n  {section}: {{{key}: {value}}}\n"), rf"train\.{section}\.{key}")
       for section, key, value in [("kg_sft", "batch_size", 0), ("kg_sft", "grad_accum", 0), ("kg_sft", "warmup_ratio", 1),
                                   ("kg_sft", "epochs", 0), ("kg_sft", "max_length", 8), ("lora", "r", 0),
                                   ("reinforce", "beta", 0), ("distill", "temperature", 0),
                                   ("kg_sft", "context_share", 2), ("distill", "label_weight", -1),
                                   ("kg_sft", "save_steps", 0), ("kg_sft", "max_examples", 0)]},
    "export: stage is a kg artifact": Case(lambda t, b: ["export", b["kg"], t / "out"], r"is a 'kg' artifact; export takes a train artifact"),
    "export: stage missing": Case(lambda t, b: ["export", t / "none", t / "out"], r"none: no such artifact folder"),
    "export: stage not an artifact": Case(lambda t, b: ["export", w(t, "d/x", "x").parent, t / "out"], r"not a finished artifact"),
    "evaluate: retention text binary": Case(lambda t, b: ["evaluate", "--data", b["synth"], "-a", t / "arts", "-c", yaml_cfg(t, f"evaluate:\n  retention_text: {w(t, 'r.bin', bytes(range(256)) * 8)}\n")], r"evaluate\.retention_text: .*r\.bin: not UTF-8 text"),
    "evaluate: retention text missing": Case(lambda t, b: ["evaluate", "--data", b["synth"], "-a", t / "arts", "-c", yaml_cfg(t, f"evaluate:\n  retention_text: {t / 'none.txt'}\n")], r"evaluate\.retention_text: .*none\.txt: no such file"),
    "evaluate: unknown split": Case(lambda t, b: ["evaluate", "--data", b["synth"], "-a", t / "arts", "-c", yaml_cfg(t, "evaluate:\n  splits: [train2]\n")], r"evaluate\.splits"),
    "evaluate: zero per task": Case(lambda t, b: ["evaluate", "--data", b["synth"], "-a", t / "arts", "-c", yaml_cfg(t, "evaluate:\n  max_per_task: 0\n")], r"evaluate\.max_per_task"),
    **{f"evaluate: {key} {value}": Case(lambda t, b, key=key, value=value: ["evaluate", "--data", b["synth"], "-a", t / "arts", "-c", yaml_cfg(t, f"evaluate:\n  {key}: {value}\n")], rf"evaluate\.{key}")
       for key, value in [("confident", 1), ("batch_size", 0), ("max_new_tokens", 0), ("with_context", '"no"')]},
    "evaluate: stage is a kg artifact": Case(lambda t, b: ["evaluate", "--data", b["synth"], "-a", t / "arts", "--stage", b["kg"]], r"'kg'"),
    "evaluate: no train artifact": Case(lambda t, b: ["evaluate", "--data", b["synth"], "-a", t / "arts"], r"train|artifact"),
}


PIPELINE = """name: t
artifacts: arts
kg:
  ontologies: [{onto}]
synth:
  seed: 0
train:
  model: tiny-deepseek-moe
  kg_sft: {{max_steps: 2, lr: 1.0e-2}}
  distill: {{max_steps: 1}}
  reinforce: {{max_steps: 1}}
evaluate:
  max_per_task: 4
"""


BROKEN_JSONL = '{"text": "a"}\n{oops\n'


def _pipeline(edit: Callable[[str], str]) -> Callable:
    def make(t: Path, b: dict[str, Path]) -> list:
        onto = w(t, "o.ttl", GOOD_TTL)
        return ["run", w(t, "p.yaml", edit(PIPELINE.format(onto=onto)))]
    return make


PIPELINE_CASES: dict[str, Case] = {
    "run: pipeline missing": Case(lambda t, b: ["run", t / "none.yaml"], r"none\.yaml: no such config file"),
    "run: invalid yaml": Case(_pipeline(lambda p: p + "train: [\n"), r"p\.yaml:\d+: invalid YAML"),
    "run: not a mapping": Case(lambda t, b: ["run", w(t, "p.yaml", "- kg\n")], r"p\.yaml: a pipeline file is a mapping"),
    "run: unknown section": Case(_pipeline(lambda p: p + "extras: 1\n"), r"extras: unknown key"),
    "run: quoted lr": Case(_pipeline(lambda p: p.replace("lr: 1.0e-2", 'lr: "1e-2"')), r"train\.kg_sft\.lr: Input should be a valid number"),
    "run: negative max_steps": Case(_pipeline(lambda p: p.replace("max_steps: 2", "max_steps: -5")), r"train\.kg_sft\.max_steps"),
    "run: retention text binary": Case(lambda t, b: ["run", w(t, "p.yaml", PIPELINE.format(onto=w(t, "o.ttl", GOOD_TTL)) + f"  retention_text: {w(t, 'r.bin', bytes(range(256)) * 8)}\n")], r"evaluate\.retention_text: .*not UTF-8 text"),
    "run: ontology missing": Case(lambda t, b: ["run", w(t, "p.yaml", PIPELINE.format(onto=t / "none.ttl"))], r"kg\.ontologies\.0"),
    "run: model folder missing": Case(_pipeline(lambda p: p.replace("model: tiny-deepseek-moe", "model: ./no-ckpt")), r"train\.model"),
    "run: unknown stage order": Case(_pipeline(lambda p: p.replace("  model: tiny-deepseek-moe", "  model: tiny-deepseek-moe\n  stages: [reinforce, kg_sft]")), r"train\.stages"),
    "run: --from unknown stage": Case(lambda t, b: ["run", w(t, "p.yaml", PIPELINE.format(onto=w(t, "o.ttl", GOOD_TTL))), "--from", "pretrain"], r"--from: 'pretrain' is not a stage"),
    "run: broken ontology": Case(lambda t, b: ["run", w(t, "p.yaml", PIPELINE.format(onto=w(t, "o.ttl", PREFIXES + "ex:a ex:b\n")))], r"o\.ttl:\d+: Turtle syntax error"),
    "run: artifacts path is a file": Case(lambda t, b: ["run", w(t, "p.yaml", PIPELINE.format(onto=w(t, "o.ttl", GOOD_TTL)).replace("artifacts: arts", f"artifacts: {w(t, 'afile', 'x')}"))], r"afile"),
    "run: broken text file found before any stage": Case(lambda t, b: ["run", w(t, "p.yaml", PIPELINE.format(onto=w(t, "o.ttl", GOOD_TTL)) + "corpus:\n  texts: [" + str(w(t, "c.jsonl", BROKEN_JSONL)) + "]\n")], r"corpus\.texts: .*c\.jsonl:2: invalid JSON"),
    "run: lora dropout with experts": Case(_pipeline(lambda p: p.replace("  model: tiny-deepseek-moe", "  model: tiny-deepseek-moe\n  lora: {dropout: 0.1}")), r"train\.lora\.dropout: must be 0"),
    "run: esft without routed experts": Case(_pipeline(lambda p: p.replace("  model: tiny-deepseek-moe", "  model: tiny-deepseek-moe\n  esft: {enabled: true}\n  lora: {targets: [attention]}")), r"train\.esft\.enabled"),
    "run: kg.max_triples guard": Case(_pipeline(lambda p: p.replace("  ontologies:", "  max_triples: 2\n  ontologies:")), r"o\.ttl: loading it would hold \d+ triples, more than kg\.max_triples"),
    "run: billion laughs": Case(lambda t, b: ["run", w(t, "p.yaml", PIPELINE.format(onto=w(t, "o.owl", lol(9))))], r"o\.owl: XML entity"),
}

ALL = {**ONTOLOGY_CASES, **STAGE_CASES, **TRAIN_CASES, **PIPELINE_CASES}


@pytest.mark.parametrize("name", list(ALL))
def test_one_clear_line(name: str, tmp_path: Path, base: dict[str, Path]) -> None:
    case = ALL[name]
    args = case.make(tmp_path, base)
    before = artifacts_in(base["store"]) | artifacts_in(tmp_path / "arts")
    proc = run(*args, cwd=tmp_path, limit_fsize=case.fsize)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith(("WARNING", " "))]
    assert proc.returncode == case.code, (name, proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert re.search(case.pattern, errors[0]), (case.pattern, errors[0])
    after = artifacts_in(base["store"]) | artifacts_in(tmp_path / "arts")
    assert after == before, f"{name}: artifacts written or debris left: {sorted(after - before)}"


# ------------------------------------------------------------------------------ cases that must succeed
def test_deleted_file_in_a_kg_artifact_is_rebuilt_not_reused(tmp_path: Path) -> None:
    arts = tmp_path / "arts"
    assert run("kg", "build", BUNDLED / "medical.ttl", "-a", arts).returncode == 0
    (kg,) = [p.parent for p in (arts / "kg").glob("*/manifest.json")]
    (kg / "nodes.parquet").unlink()
    again = run("kg", "build", BUNDLED / "medical.ttl", "-a", arts)
    assert again.returncode == 0, again.stderr
    assert "reused" not in again.stdout and "nodes.parquet is missing" in again.stderr
    assert (kg / "nodes.parquet").is_file()
    assert run("verify", kg).returncode == 0


def test_truncated_synth_split_is_refused_by_evaluate_and_verify(tmp_path: Path, base: dict[str, Path]) -> None:
    copy = tmp_path / "synth"
    shutil.copytree(base["synth"], copy)
    arrow = sorted(copy.rglob("*.arrow"))[0]
    arrow.write_bytes(arrow.read_bytes()[:100])
    proc = run("verify", copy)
    assert proc.returncode == 2 and "damaged" in proc.stderr and arrow.name in proc.stderr
    proc = run("evaluate", "--data", copy, "-a", tmp_path / "arts")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "damaged artifact" in proc.stderr and arrow.name in proc.stderr


def test_damaged_embedding_cache_shard_is_embedded_again(tmp_path: Path, base: dict[str, Path]) -> None:
    arts = tmp_path / "arts"
    first = run("dedupe", "--synth", base["synth"], "-a", arts)
    assert first.returncode == 0, first.stderr
    shards = sorted(arts.rglob("*.npy"))
    assert shards, "the dedupe stage wrote no embedding cache"
    shards[0].write_bytes(shards[0].read_bytes()[:200])
    again = run("dedupe", "--synth", base["synth"], "-a", arts, "--force")
    assert again.returncode == 0, again.stderr
    assert "damaged embedding-cache shard" in again.stderr


def test_interrupt_is_one_line_exit_130_and_no_debris(tmp_path: Path) -> None:
    """Ctrl-C while a kg artifact is being written (its temporary folder exists): one line, exit 130, no
    temporary folder left, no artifact."""
    onto = w(tmp_path, "big.ttl", PREFIXES + "".join(
        f'ex:C{i} a owl:Class ; rdfs:label "condition number {i}" ; rdfs:subClassOf ex:C{i // 10} .\n'
        for i in range(1, 60_000)))
    arts = tmp_path / "arts"
    proc = subprocess.Popen([sys.executable, "-m", "kgtools.cli", "kg", "build", onto, "-a", arts],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(arts.glob("kg/.tmp-*")):
        time.sleep(0.02)
    assert proc.poll() is None, "the build ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("error: ")] == [
        "error: interrupted; finished artifacts are kept and the next run resumes from them"]
    assert not list(arts.rglob(".tmp-*")) and not list(arts.rglob("manifest.json"))


def test_imports_stay_inside_the_given_folders(tmp_path: Path) -> None:
    secret = w(tmp_path, "elsewhere/secret.ttl", PREFIXES + 'ex:S a owl:Class ; rdfs:label "secret class" .\n')
    onto = w(tmp_path, "in/a.ttl", GOOD_TTL + f"<http://e.org/o> a owl:Ontology ; owl:imports <{secret.as_uri()}> .\n")
    arts = tmp_path / "arts"
    proc = run("kg", "build", onto.parent, "-a", arts)
    assert proc.returncode == 0, proc.stderr
    (kg,) = [p.parent for p in (arts / "kg").glob("*/manifest.json")]
    manifest = json.loads((kg / "manifest.json").read_text())
    assert "outside the folders given" in manifest["unresolved_imports"][secret.as_uri()][0]
    assert "secret class" not in (kg / "nodes.parquet").read_bytes().decode("latin-1")
    allowed = run("kg", "build", onto.parent, "-a", tmp_path / "arts2", "--allow-imports-outside")
    assert allowed.returncode == 0, allowed.stderr
    (kg2,) = [p.parent for p in (tmp_path / "arts2" / "kg").glob("*/manifest.json")]
    assert "secret class" in (kg2 / "nodes.parquet").read_bytes().decode("latin-1")


def test_billion_laughs_refused_fast_and_small(tmp_path: Path) -> None:
    """Refused in under a second with under 200 MB, in a child process so its memory is its own."""
    path = w(tmp_path, "lol.owl", lol(9))
    code = ("import time\nfrom kgtools.ontology.loader import load_ontology\n"
            "from kgtools.errors import OntologyError\nt = time.perf_counter()\n"
            f"try:\n    load_ontology([{str(path)!r}])\nexcept OntologyError as e:\n    print('refused', e)\n"
            "print(time.perf_counter() - t)\n"
            # VmHWM: this process's own peak; ru_maxrss would count the forked pytest's pages
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    out = proc.stdout.split("\n")
    assert out[0].startswith("refused"), proc.stdout + proc.stderr
    seconds, peak_kb = float(out[1]), int(out[2])
    assert seconds < 1.0 and peak_kb < 200 * 1024, (seconds, peak_kb)


def test_no_command_opens_a_socket(tmp_path: Path) -> None:
    """An audit hook refuses every socket.connect while kg build, corpus, synth, dedupe, train and evaluate
    run on a tiny pipeline; the run must succeed (nothing tried to connect) and the hook must be live."""
    onto = w(tmp_path, "o.ttl", GOOD_TTL + "".join(
        f'ex:C{i} a owl:Class ; rdfs:label "condition {i}" ; rdfs:subClassOf ex:{"A" if i % 2 else "B"} .\n'
        for i in range(12)))
    pipeline = w(tmp_path, "p.yaml", PIPELINE.format(onto=onto).replace(
        "  seed: 0\n", f"  seed: 0\ncorpus:\n  texts: [{RESOURCES / 'texts'}]\ndedupe:\n  threshold: 0.95\n"))
    code = ("import sys, socket\n"
            "def hook(event, args):\n"
            "    if event == 'socket.connect' and args[1] and not (isinstance(args[1], str)):\n"
            "        raise PermissionError(f'kgtools tried to connect to {args[1]!r}')\n"
            "sys.addaudithook(hook)\n"
            "s = socket.socket()\n"
            "try:\n    s.connect(('127.0.0.1', 9))\n    raise SystemExit('audit hook not live')\n"
            "except PermissionError:\n    pass\nfinally:\n    s.close()\n"
            "from kgtools.cli import app\n"
            f"sys.argv = ['kgtools', 'run', {str(pipeline)!r}]\n"
            "app()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "tried to connect" not in proc.stderr
    built = [line.split()[1] for line in proc.stdout.splitlines() if line.strip().startswith("built ")]
    assert built == ["kg", "corpus", "synth", "dedupe", "kg_sft", "distill", "reinforce", "evaluate"], proc.stdout


# ------------------------------------------------------------------ kill -9 anywhere, resume, same metrics
KILL_POINTS = [  # (what, a path pattern under the store that exists only while that stage is under way)
    ("synth", "synth/.tmp-*"),
    ("kg_sft", "train/kg_sft/.work-*/checkpoint-*/trainer_state.json"),
    ("reinforce", "train/reinforce/.work-*"),
    ("evaluate", "eval/.tmp-*"),
]


def _demo_fast(tmp: Path, name: str) -> Path:
    text = (ROOT / "pipelines" / "demo-fast.yaml").read_text()
    text = text.replace("artifacts: ../artifacts-fast", f"artifacts: {tmp / name}")
    text = text.replace("../ontologies/", f"{ROOT / 'ontologies'}/").replace("../corpora/", f"{ROOT / 'corpora'}/")
    return w(tmp, f"{name}.yaml", text)


def _metrics(root: Path) -> dict:
    (report,) = [p for p in (root / "eval").iterdir() if (p / "manifest.json").is_file()]
    metrics = json.loads((report / "metrics.json").read_text())
    metrics.pop("seconds", None)
    return metrics


def test_kill_9_at_four_points_then_resume_gives_identical_metrics(tmp_path: Path) -> None:
    """pipelines/demo-fast.yaml run through; then again in a fresh store, killed with SIGKILL during synth,
    kg_sft, reinforce and evaluate in turn, resumed after each kill: the final metrics.json is identical."""
    whole = run("run", _demo_fast(tmp_path, "whole"), timeout=1800)
    assert whole.returncode == 0, whole.stderr[-3000:]
    pipeline, root = _demo_fast(tmp_path, "killed"), tmp_path / "killed"
    killed_at = []
    for what, pattern in KILL_POINTS:
        proc = subprocess.Popen([sys.executable, "-m", "kgtools.cli", "run", str(pipeline)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 1200
        while time.time() < deadline and proc.poll() is None and not list(root.glob(pattern)):
            time.sleep(0.05)
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it reached {what}: " + proc.stderr.read().decode()[-2000:])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at.append(what)
    assert killed_at == [k for k, _ in KILL_POINTS]
    resumed = run("run", pipeline, timeout=1800)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _metrics(root) == _metrics(tmp_path / "whole")
    keys = {p.parent.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("manifest.json")}
    assert keys == {p.parent.relative_to(root) for p in root.rglob("manifest.json")}
    assert not list(root.rglob(".tmp-*"))
