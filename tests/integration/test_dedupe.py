"""The dedupe stage on a synthetic set made from DOID, with planted duplicates; bad inputs."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from kgtools.artifacts import Artifact, ArtifactStore
from kgtools.config import DedupeConfig, KgConfig, SynthConfig
from kgtools.dedupe.stage import DedupeInputError, dedupe
from kgtools.graph.stage import build_kg
from kgtools.synth.stage import synthesize

from ..conftest import BUNDLED, shared_path


def fake_synth(store: ArtifactStore, rows_by_split: dict[str, list[dict]]) -> Artifact:
    """A synth-stage artifact holding the given rows (a real DatasetDict in a real artifact folder)."""
    from datasets import Dataset, DatasetDict

    def build(tmp):
        DatasetDict({s: Dataset.from_list(r) for s, r in rows_by_split.items()}).save_to_disk(str(tmp / "dataset"))
        return {}

    key = str(abs(hash(tuple((s, len(r)) for s, r in rows_by_split.items()))))[:16]
    return store.build("synth", key, {}, {}, build)[0]


@pytest.fixture(scope="module")
def doid_rows(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("doid")
    store = ArtifactStore(tmp)
    kg = build_kg(KgConfig(ontologies=[shared_path("doid", "DO_infectious_disease_slim.owl")]), store)
    synth = synthesize(SynthConfig(tasks={"yes_no": {"enabled": False}, "mcq": {"enabled": False},
                                          "definition": {"enabled": False}, "list": {"enabled": False},
                                          "multi_hop": {"enabled": False}, "inverse_qa": {"enabled": False}},
                                   templates_per_fact=1), kg.artifact, store)
    return synth.dataset()["train"].to_list(), kg.graph()


def test_planted_duplicates_found_and_different_facts_never_merged(doid_rows, tmp_path):
    rows, kg = doid_rows
    base = [r for r in rows if r["task"] == "fact_qa" and r["template_id"] == "is_a/q0"][:40]
    assert len(base) == 40
    planted, expected = [], {}
    for n, r in enumerate(base):
        label = kg.label(r["subject"])
        variants = {
            "exact": r["prompt"],
            "respaced": "  ".join(r["prompt"].split(" ")),
            "recased": r["prompt"].upper(),
            "paraphrase": f"{label} is a type of what?",  # the same fact asked with a second template
        }
        kind = list(variants)[n % 4]
        copy = {**r, "id": f"planted-{n}", "prompt": variants[kind]}
        planted.append(copy)
        expected[copy["id"]] = r["id"]
    # the template trap: same template, names that differ by a prefix, different facts
    trap = [dict(base[0], id="trap-a", prompt="Which symptom does influenza cause in most patients?",
                 triples=["trap:flu|has_symptom|trap:fever"]),
            dict(base[0], id="trap-b", prompt="Which symptom does parainfluenza cause in most patients?",
                 triples=["trap:parainfluenza|has_symptom|trap:fever"])]
    source = fake_synth(ArtifactStore(tmp_path / "src"), {"train": rows + planted + trap})
    result = dedupe(DedupeConfig(threshold=0.85), source, ArtifactStore(tmp_path / "out"), cache_dir=tmp_path / "cache")
    removed = pq.read_table(result.path / "removed.parquet").to_pylist()
    by_id = {r["id"]: r for r in removed}
    missed = [i for i in expected if i not in by_id and expected[i] not in by_id]
    assert not missed, missed
    for planted_id, original in expected.items():
        gone = by_id.get(planted_id) or by_id[original]
        assert {gone["id"], gone["kept_id"]} <= {planted_id, original} | {gone["kept_id"]}
    assert "trap-a" not in by_id and "trap-b" not in by_id
    manifest = result.artifact.manifest
    assert manifest["splits"]["train"]["different_facts_above_threshold"] >= 1  # the trap pair, counted
    assert (result.path / "nn_similarity.png").stat().st_size > 1000
    kept_ids = set(result.dataset()["train"]["id"])
    assert {"trap-a", "trap-b"} <= kept_ids


def test_second_run_embeds_nothing_new(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "finance.ttl"]), store)
    synth = synthesize(SynthConfig(), kg.artifact, store)
    first = dedupe(DedupeConfig(), synth.artifact, store, cache_dir=tmp_path / "cache")
    second = dedupe(DedupeConfig(threshold=0.9), synth.artifact, store, cache_dir=tmp_path / "cache")
    assert first.artifact.manifest["counts"]["embedded_now"] > 1000
    assert second.artifact.manifest["counts"]["embedded_now"] == 0
    decon = first.artifact.manifest["decontamination"]
    assert decon["removed_from_train"] == decon.get("decontam_exact", 0) + decon.get("decontam_ngram", 0) + decon.get(
        "decontam_embedding", 0)
    assert set(first.dataset()) == set(synth.dataset())
    # issue 19: the deduplicated data's card counts what was kept and loads with `datasets`
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(first.artifact.path / "README.md", repo_type="dataset")
    kept = first.dataset()
    assert f"| train | {len(kept['train']):,} |" in card.text
    assert f"{first.artifact.manifest['counts']['removed']:,} records removed" in card.text
    assert {s: len(d) for s, d in load_dataset(str(first.artifact.path)).items()} == {s: len(d) for s, d in kept.items()}


def test_bad_inputs(tmp_path):
    store = ArtifactStore(tmp_path)
    from datasets import Dataset, DatasetDict, Features, List, Value

    def build_empty(tmp):
        features = Features({"id": Value("string"), "prompt": Value("string"), "triples": List(Value("string"))})
        DatasetDict({"train": Dataset.from_dict({"id": [], "prompt": [], "triples": []}, features=features)}
                    ).save_to_disk(str(tmp / "dataset"))
        return {}

    empty = store.build("synth", "empty", {}, {}, build_empty)[0]
    with pytest.raises(DedupeInputError, match="empty dataset"):  # "unreadable or empty dataset"
        dedupe(DedupeConfig(), empty, store)
    src = fake_synth(ArtifactStore(tmp_path / "b"), {"train": [{"id": "x", "prompt": "p", "triples": []}]})
    with pytest.raises(DedupeInputError, match=r"no field 'answer'"):
        dedupe(DedupeConfig(field="answer"), src, store)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    result = subprocess.run([sys.executable, "-m", "kgtools.cli", "dedupe", "--synth", str(src.path), "--out",
                             str(tmp_path / "out"), "--model", str(tmp_path / "no-model")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2 and "no such model folder" in result.stderr and "Traceback" not in result.stderr


def test_corpora_are_deduped_the_same_way(tmp_path):
    from kgtools.config import CorpusConfig
    from kgtools.corpus.stage import build_corpus

    from ..conftest import ROOT

    store = ArtifactStore(tmp_path)
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store)
    corpus = build_corpus(CorpusConfig(texts=[ROOT / "corpora" / "medical"], paraphrases=2), kg.artifact, store)
    result = dedupe(DedupeConfig(threshold=0.97), corpus.artifact, store, cache_dir=tmp_path / "cache")
    before, after = len(corpus.dataset()), len(result.dataset())
    removed = pq.read_table(result.path / "removed.parquet").to_pylist()
    assert after + len(removed) == before and after > 0.5 * before
    assert result.artifact.manifest["splits"]["all"]["records"] == before
