"""The whole pipeline from one YAML file on a miniature ontology: every stage's artifact, the report, a
second run that does nothing, a changed setting that re-runs only what follows it, a run killed mid-stage
that resumes, and one-line errors for bad pipeline files. Every shipped pipeline validates."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgtools.errors import ConfigError
from kgtools.pipeline import load_pipeline

from ..conftest import RESOURCES, ROOT, shared_path

STAGES = ["kg", "corpus", "synth", "dedupe", "kg_sft", "distill", "reinforce", "evaluate"]


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mini")
    for name in ("mini_pipeline.yaml", "mini_respiratory.ttl"):
        shutil.copy(RESOURCES / name, folder / name)
    shutil.copytree(RESOURCES / "texts", folder / "texts")
    return folder / "mini_pipeline.yaml"


@pytest.fixture(scope="module")
def first_run(mini):
    proc = _cli("run", str(mini))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _built(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.strip().startswith("built ")]


def test_every_stage_runs_and_reports(first_run, mini):
    assert _built(first_run.stdout) == STAGES
    root = mini.parent / "artifacts"
    (report_dir,) = [p for p in (root / "eval").iterdir() if (p / "manifest.json").is_file()]
    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert set(metrics["stages"]) == {"base", "kg_sft+context", "kg_sft", "distill", "reinforce"}
    for label, per in metrics["stages"].items():
        for split in ("test_paraphrase", "test_novel_template", "test_heldout"):
            s = per[split]
            assert s["mcq"]["n"] > 0 and 0 <= s["mcq"]["accuracy"] <= 1, (label, split)
            assert s["yes_no"]["n"] > 0
        assert per["retention"]["perplexity"] > 1
    report = (report_dir / "report.md").read_text()
    for heading in ("## Goals (test_paraphrase)", "## test_heldout", "## Retention", "![accuracy_by_stage.png]"):
        assert heading in report
    for png in ("accuracy_by_stage.png", "routing_before_after.png", "loss_curves.png"):
        assert (report_dir / png).stat().st_size > 5000
    assert "goals met" in first_run.stdout and "test_paraphrase" in first_run.stdout


def test_second_run_does_nothing(first_run, mini):
    proc = _cli("run", str(mini))
    assert proc.returncode == 0, proc.stderr
    assert _built(proc.stdout) == []
    assert proc.stdout.count("reused") >= len(STAGES)


@pytest.mark.slow  # 21 s; --from (below) covers a partial rebuild in the fast suite
def test_changed_dedupe_threshold_reruns_dedupe_and_what_follows(first_run, mini, tmp_path):
    changed = mini.with_name("mini_changed.yaml")
    changed.write_text(mini.read_text().replace("threshold: 0.95", "threshold: 0.9"))
    proc = _cli("run", str(changed))
    assert proc.returncode == 0, proc.stderr
    assert _built(proc.stdout) == ["dedupe", "kg_sft", "distill", "reinforce", "evaluate"]


def test_from_stage_rebuilds_it_and_what_follows(first_run, mini):
    proc = _cli("run", str(mini), "--from", "reinforce")
    assert proc.returncode == 0, proc.stderr
    assert _built(proc.stdout) == ["reinforce", "evaluate"]
    bad = _cli("run", str(mini), "--from", "pretrain")
    assert bad.returncode == 2 and "--from: 'pretrain' is not a stage" in bad.stderr


@pytest.mark.slow  # with test_reliability's kill -9 at four points of demo-fast, in `make test-slow`
def test_killed_run_resumes_without_corruption(first_run, mini):
    """SIGKILL while kg_sft trains (after a checkpoint), then run again: it resumes from the checkpoint
    and finishes; nothing half-written is ever read."""
    killed = mini.with_name("mini_killed.yaml")
    killed.write_text(mini.read_text().replace("max_steps: 12", "max_steps: 40").replace("artifacts: artifacts", "artifacts: killed"))
    root = mini.parent / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "kgtools.cli", "run", str(killed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        if list(root.glob("train/kg_sft/.work-*/checkpoint-8/trainer_state.json")):
            break
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(root.glob("train/kg_sft/*/manifest.json"))
    again = _cli("run", str(killed))
    assert again.returncode == 0, again.stderr
    assert _built(again.stdout) == ["kg_sft", "distill", "reinforce", "evaluate"]
    (sft,) = [p for p in (root / "train" / "kg_sft").iterdir() if (p / "manifest.json").is_file()]
    assert json.loads((sft / "metrics.json").read_text())["resumed_from"].startswith("checkpoint-")
    assert not list(root.glob("**/.tmp-*"))


_DOMAINS = "domains:\n  a:\n    kg: {ontologies: [mini_respiratory.ttl]}\n  b:\n    kg: {ontologies: [mini_respiratory.ttl]}\n"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.replace("seed: 0\ndedupe", "seed: 0\n  sedd: 1\ndedupe"), "synth.sedd: unknown key"),
    (lambda t: t.replace("threshold: 0.95", "threshold: high"), "dedupe.threshold: Input should be a valid number"),
    (lambda t: t.replace("[mini_respiratory.ttl]", "[missing.ttl]"), "kg.ontologies.0:"),
    (lambda t: t.replace("texts: [texts]", "texts: [no_texts]"), "corpus.texts.0:"),
    (lambda t: t.replace("model: tiny-deepseek-moe", "model: ./no-such-checkpoint"), "train.model:"),
    (lambda t: t.replace("max_per_task: 8", "max_per_task: 0"), "evaluate.max_per_task"),
    (lambda t: t + "extras: 1\n", "extras: unknown key"),
    (lambda t: t + "update:\n  releases: [r9.ttl]\n", "update.releases.0.0:"),
    (lambda t: t + "update:\n  releases: [mini_respiratory.ttl]\n  stages: [reinforce]\n", "an update trains kg_sft first"),
    (lambda t: t + "update:\n  releases: [mini_respiratory.ttl]\n  baselines: [scratch]\n", "unknown baseline 'scratch'"),
    (lambda t: t + "update:\n  releases: [mini_respiratory.ttl]\n  train: {kg_sft: {lr: fast}}\n", "update.train.kg_sft.lr"),
    (lambda t: t + "update:\n  releases: [$NO_SUCH_VARIABLE/r.ttl]\n", "NO_SUCH_VARIABLE is not set"),
    # several domains (issue 15)
    (lambda t: t.replace("kg:\n  ontologies: [mini_respiratory.ttl]\ncorpus:\n  texts: [texts]\n", _DOMAINS + "  a:\n"
                         "    kg: {ontologies: [mini_respiratory.ttl]}\n"), "bad.yaml:9: invalid YAML (the key 'a' is given twice (first on line 5))"),
    (lambda t: t.replace("kg:\n  ontologies: [mini_respiratory.ttl]\ncorpus:\n  texts: [texts]\n", _DOMAINS.replace(
        "b:\n    kg", "b:\n    from: c\n    kg")), "domains.b.from: 'c' is not a domain of this pipeline"),
    (lambda t: t.replace("kg:\n  ontologies: [mini_respiratory.ttl]\ncorpus:\n  texts: [texts]\n", _DOMAINS.replace(
        "b:\n    kg", "b:\n    from: a\n    kg").replace("a:\n    kg", "a:\n    from: b\n    kg")), "`from` goes round in a circle"),
    (lambda t: t.replace("corpus:\n  texts: [texts]\n", _DOMAINS), "kg: give the ontologies under each domain"),
    (lambda t: t.replace("kg:\n  ontologies: [mini_respiratory.ttl]\n", _DOMAINS), "corpus: not supported together with `domains`"),
    (lambda t: t.replace("kg:\n  ontologies: [mini_respiratory.ttl]\ncorpus:\n  texts: [texts]\n", _DOMAINS.replace(
        "[mini_respiratory.ttl]}\n  b", "[nope.ttl]}\n  b")), "domains.a.kg.ontologies.0:"),
    (lambda t: t.replace("kg:\n  ontologies: [mini_respiratory.ttl]\ncorpus:\n  texts: [texts]\n",
                         _DOMAINS + "domain_experts: disjoint\n").replace("routing_sample: 16", "lora: {targets: [attention]}"),
     "domain_experts: disjoint expert sets need LoRA on the routed experts"),
    (lambda t: t.replace("kg:\n  ontologies: [mini_respiratory.ttl]\ncorpus:\n  texts: [texts]\n", ""), "kg: required"),
    # the stage order, checked before kg runs
    (lambda t: t.replace("routing_sample: 16", "routing_sample: 16\n  stages: [distill, reinforce]"),
     "train.stages: 'distill' needs the kg_sft adapter"),
])
def test_bad_pipeline_is_one_line(mini, tmp_path, edit, expected):
    bad = mini.with_name("bad.yaml")
    bad.write_text(edit(mini.read_text()))
    proc = _cli("run", str(bad))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr and "bad.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3  # one message (rich may wrap it)


@pytest.mark.parametrize("path", sorted((ROOT / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_pipelines_validate(path, monkeypatch):
    if "update-demo" in path.name:  # the shared DOID releases, named through KGTOOLS_SHARED_ONTOLOGIES
        monkeypatch.setenv("KGTOOLS_SHARED_ONTOLOGIES", str(shared_path("doid", "versions")).removesuffix("/doid/versions"))
        cfg = load_pipeline(path)
        assert [p.parent.name for files in cfg.update.releases for p in files] == ["2025-10-31", "doid"]
        assert cfg.update.baselines == ["no_replay", "retrain"] and cfg.update.train.kg_sft.max_steps < cfg.train.kg_sft.max_steps
        monkeypatch.delenv("KGTOOLS_SHARED_ONTOLOGIES")
        with pytest.raises(ConfigError, match="the environment variable KGTOOLS_SHARED_ONTOLOGIES is not set"):
            load_pipeline(path)
        return
    if "deepseek-checkpoint" in path.name:  # an example: points at files this machine lacks
        with pytest.raises(ConfigError) as err:
            load_pipeline(path)
        assert "kg.ontologies.0: /data/ontologies/fibo" in str(err.value)
        assert "corpus.texts.0" in str(err.value)
        return
    cfg = load_pipeline(path)
    kgs = [d.kg for d in cfg.domains.values()] if cfg.domains else [cfg.kg]
    assert all(kg.ontologies and all(p.exists() for p in kg.ontologies) for kg in kgs)


def _release(text: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.mark.slow
def test_update_pipeline_chains_releases_with_baselines_and_reuses_everything(tmp_path):
    """`update:` in a pipeline: two later releases of the miniature ontology, each moved into the model tuned on
    the one before (kg → kg_diff → synth_update → kg_sft, reinforce from the previous model → evaluate), beside
    the two baselines; a second run builds nothing."""
    for name in ("mini_pipeline.yaml", "mini_respiratory.ttl"):
        shutil.copy(RESOURCES / name, tmp_path / name)
    shutil.copytree(RESOURCES / "texts", tmp_path / "texts")
    text = (RESOURCES / "mini_respiratory.ttl").read_text("utf-8")
    r1 = _release(text, ("owl:someValuesFrom resp:ChestPain ] ,\n        [ a owl:Restriction ; owl:onProperty resp:locatedIn ; "
                         "owl:someValuesFrom resp:Lung ] ,\n        [ a owl:Restriction ; owl:onProperty resp:treatedBy ; "
                         "owl:someValuesFrom resp:Amoxicillin ]",
                         "owl:someValuesFrom resp:ChestPain ] ,\n        [ a owl:Restriction ; owl:onProperty resp:locatedIn ; "
                         "owl:someValuesFrom resp:Lung ] ,\n        [ a owl:Restriction ; owl:onProperty resp:treatedBy ; "
                         "owl:someValuesFrom resp:Doxycycline ]"),
                  ('rdfs:label "influenza"@en', 'rdfs:label "seasonal influenza"@en'))
    r1 += ('\nresp:Bronchiolitis a owl:Class ; rdfs:subClassOf resp:RespiratoryDisease ; rdfs:label "bronchiolitis"@en ;\n'
           '    skos:definition "Inflammation of the small airways of the lung."@en ;\n'
           '    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty resp:hasSymptom ; owl:someValuesFrom resp:Wheezing ] .\n')
    r2 = _release(r1, ("resp:Tiotropium a owl:Class ; rdfs:subClassOf resp:Bronchodilator",
                       "resp:Tiotropium a owl:Class ; rdfs:subClassOf resp:Drug"))
    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    (tmp_path / "r1" / "respiratory.ttl").write_text(r1, "utf-8")
    (tmp_path / "r2" / "respiratory.ttl").write_text(r2, "utf-8")
    pipeline = tmp_path / "mini_pipeline.yaml"
    pipeline.write_text(pipeline.read_text("utf-8").replace("dedupe:\n  threshold: 0.95\n", "").replace(
        "max_per_task: 8", "max_per_task: 4") + (
        "update:\n  releases: [r1/respiratory.ttl, r2/respiratory.ttl]\n  baselines: [no_replay, retrain]\n"
        "  train:\n    kg_sft: {max_steps: 8}\n    reinforce: {max_steps: 4}\n"), "utf-8")
    proc = _cli("run", str(pipeline), timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("kg_diff@1", "synth_update@2", "update@2/reinforce", "no_replay@1/kg_sft", "retrain@2/distill", "evaluate@2"):
        assert name in proc.stdout, name
    root = tmp_path / "artifacts"
    evals = [json.loads((p / "metrics.json").read_text()) for p in sorted((root / "eval").iterdir()) if p.is_dir()]
    updates = [m for m in evals if "update" in m]
    assert len(updates) == 2
    for m in updates:
        assert set(m["stages"]) == {"base", "before", "update/kg_sft", "update/reinforce", "no_replay/kg_sft",
                                    "no_replay/reinforce", "retrain/kg_sft", "retrain/distill", "retrain/reinforce"}
        u = m["update"]
        assert (u["before"], u["after"]) == ("before", "update/reinforce")
        assert u["baselines"] == {"no_replay": "no_replay/reinforce", "retrain": "retrain/reinforce"}
        assert u["cost"]["against"] == "retrain" and u["cost"]["retrain"]["stages"] == ["kg_sft", "distill", "reinforce"]
        assert u["cost"]["update"]["stages"] == ["kg_sft", "reinforce"]  # this release's update only, not the one before
        assert all(set(g["baselines"]) == {"no_replay", "retrain"} for g in u["goals"])
    again = _cli("run", str(pipeline))
    assert again.returncode == 0, again.stderr[-2000:]
    assert " built " not in again.stdout and "reused" in again.stdout
    # the second release's update starts from the first's: under its reinforce adapter, the base chain (3), the
    # first update (2) and its own kg_sft
    lineages = [json.loads(p.read_text())["lineage"] for p in (root / "train" / "reinforce").glob("*/manifest.json")]
    assert sorted(len(x) for x in lineages) == [2, 2, 2, 4, 4, 6, 6], lineages  # base, 2 retrains; no_replay beside
    # a pipeline naming the model it updates — a train artifact, or the pipeline that trained it — finds the same
    # artifacts (same inputs, same keys) and builds nothing
    base_text = pipeline.read_text("utf-8").split("update:\n")[0]
    (tmp_path / "base.yaml").write_text(base_text, "utf-8")
    from kgtools.pipeline import run_pipeline

    records = run_pipeline(load_pipeline(tmp_path / "base.yaml"))
    assert not any(r.built for r in records)
    first_model = next(r.artifact.path for r in records if r.stage == "reinforce")
    tail = ("update:\n  releases: [r1/respiratory.ttl]\n"
            "  train:\n    kg_sft: {max_steps: 8}\n    reinforce: {max_steps: 4}\n")
    for base in ("base.yaml", str(first_model)):
        other = tmp_path / "other.yaml"
        other.write_text(base_text.replace("evaluate:\n  max_per_task: 4\n  max_new_tokens: 12\n", "evaluate: null\n")
                         + tail + f"  base: {base}\n", "utf-8")
        proc = _cli("run", str(other))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert " built " not in proc.stdout and "update@1/reinforce" in proc.stdout, proc.stdout
    bad = pipeline.read_text("utf-8").replace("baselines: [no_replay, retrain]", "baselines: [from_scratch]")
    (tmp_path / "bad.yaml").write_text(bad, "utf-8")
    proc = _cli("run", str(tmp_path / "bad.yaml"))
    assert proc.returncode == 2 and "update.baselines" in proc.stderr and "from_scratch" in proc.stderr
