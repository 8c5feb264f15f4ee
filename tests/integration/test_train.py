"""The three-stage fine-tune on the tiny DeepSeek-V3 preset, on instruction data from the bundled medical
ontology: each stage lowers its own objective on held-out examples, adapters reload exactly, a killed
stage resumes to the same result, ESFT leaves unselected experts untouched, bad configs fail in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from kgtools.artifacts import ArtifactStore
from kgtools.config import KgConfig, SynthConfig, TrainConfig, parse_config
from kgtools.errors import ConfigError
from kgtools.graph.stage import build_kg
from kgtools.models import load_stage_model
from kgtools.synth.stage import synthesize
from kgtools.train.stage import train, train_stage

from ..conftest import BUNDLED

SMALL = {
    "vocab_size": 1024, "routing_sample": 32,
    "kg_sft": {"max_steps": 60, "max_examples": 600, "lr": 1e-2, "save_steps": 20},
    "distill": {"max_steps": 30, "max_examples": 300, "lr": 1e-3},
    "reinforce": {"max_steps": 40, "max_examples": 400, "lr": 5e-3, "tasks": ["yes_no", "mcq", "fact_qa"]},
}


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    torch.set_num_threads(2)
    store = ArtifactStore(tmp_path_factory.mktemp("data") / "artifacts")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store).artifact
    # every paraphrase question goes to validation: the held-out measures of each stage get ~4x the rows
    return synthesize(SynthConfig(splits={"validation": 1.0}), kg, store).artifact


@pytest.fixture(scope="module")
def chain(synth_data, tmp_path_factory):
    store = ArtifactStore(tmp_path_factory.mktemp("train") / "artifacts")
    return store, train(parse_config(TrainConfig, SMALL), synth_data, store)


def test_each_stage_lowers_its_objective(chain):
    _store, (sft, distill, reinforce) = chain
    m = sft.metrics()
    assert m["after"] < m["before"] - 1.0, m  # held-out answer cross-entropy, nats per token
    assert m["final_loss"] < m["first_loss"]
    k = distill.metrics()
    assert k["after"] < 0.7 * k["before"], k  # the student's KL to the context-carrying teacher
    p = reinforce.metrics()
    assert p["after"]["pairs"] >= 30
    # held-out preference pairs (sure negatives only): the DPO margin grows clearly; the share ranked right
    # may move by noise only (162 pairs; 40-120 steps gave -0.03..+0.04 here) — the pipeline's evaluation
    # measures what reinforcement does to the acceptance of corrupted facts
    assert p["after"]["margin"] > 1.3 * p["before"]["margin"], p
    assert p["after"]["accuracy"] > p["before"]["accuracy"] - 0.05, p


def test_artifacts_hold_adapter_tokenizer_state_and_routing(chain):
    import pyarrow.parquet as pq

    _store, results = chain
    for r in results:
        for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer/tokenizer.json",
                     "trainer_state.json", "routing.parquet", "routing.png", "metrics.json", "manifest.json"):
            assert (r.path / name).is_file(), (r.name, name)
        routing = pq.read_table(r.path / "routing.parquet").to_pylist()
        assert {x["when"] for x in routing} == {"before", "after"}
        assert {x["layer"] for x in routing} == {1, 2}  # layer 0 is the dense layer
        for when in ("before", "after"):
            for layer in (1, 2):
                share = sum(x["share"] for x in routing if x["when"] == when and x["layer"] == layer)
                assert share == pytest.approx(1.0)
        assert 0 < routing[0]["load_entropy"] <= 1
    assert results[1].artifact.manifest["parent"].endswith(results[0].path.name)
    assert results[2].artifact.manifest["lineage"] == [f"kg_sft:{results[0].artifact.key}", f"distill:{results[1].artifact.key}"]


def test_rerun_reuses_every_stage(chain, synth_data):
    store, results = chain
    again = train(parse_config(TrainConfig, SMALL), synth_data, store)
    assert [r.built for r in again] == [False, False, False]
    assert [r.path for r in again] == [r.path for r in results]


def test_adapter_reload_and_merge_give_the_trained_logits(chain):
    _store, results = chain
    x = torch.randint(5, 1000, (2, 24))
    adapter_model, _tok = load_stage_model(results[2].artifact, merge=False)
    merged, _tok = load_stage_model(results[2].artifact, merge=True)
    again, _tok = load_stage_model(results[2].artifact, merge=False)
    with torch.no_grad():
        a, b, c = adapter_model(x).logits, merged(x).logits, again(x).logits
    assert torch.equal(a, c)  # same files, fresh base: identical
    # merging folds B·A into the base weight: float32 rounds it differently (measured up to 1.6e-4 on logits
    # of magnitude 9), so the tolerance is relative as well as absolute
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
    with torch.no_grad(), adapter_model.disable_adapter():
        ref = adapter_model(x).logits
    assert not torch.allclose(a, ref, atol=1e-3)  # the reinforce adapter does change the model


@pytest.mark.slow  # ~15 s; tests/unit/test_probe.py checks the same at the function level in the fast suite
def test_batched_evaluation_gives_the_metrics_of_one_example_at_a_time(chain, synth_data):
    """Issue 16: the evaluation batches generation and answer scoring across examples; every metric and every
    per-example outcome is what asking one example at a time gives."""
    import json

    from datasets import load_from_disk

    from kgtools.config import EvalConfig
    from kgtools.evaluate.stage import _entity_names, _sample, evaluate_split

    _store, (_sft, _distill, reinforce) = chain
    model, tokenizer = load_stage_model(reinforce.artifact)
    dd = load_from_disk(str(synth_data.path / "dataset"))
    rows = _sample(dd["validation"].to_list() + dd["test_heldout"].to_list(), EvalConfig(max_per_task=10))
    assert {"mcq", "yes_no", "fact_qa", "definition"} <= {r["task"] for r in rows}
    entities = _entity_names(dd)
    runs = {}
    for batch_size in (1, 16):
        record: list = []
        metrics = evaluate_split(model, tokenizer, rows, entities, EvalConfig(batch_size=batch_size),
                                 with_context=False, record=record)
        runs[batch_size] = (json.dumps(metrics, sort_keys=True), record)
    assert runs[1][0] == runs[16][0]
    assert runs[1][1] == runs[16][1]


def test_export_writes_a_standalone_checkpoint(chain, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _store, results = chain
    out = tmp_path / "exported"
    proc = subprocess.run([sys.executable, "-m", "kgtools.cli", "export", str(results[2].path), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    merged, _ = load_stage_model(results[2].artifact, merge=True)
    ids = tok.apply_chat_template([{"role": "user", "content": "What treats influenza?"}], add_generation_prompt=True,
                                  return_dict=True, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, merged(ids).logits, atol=1e-5)
    again = subprocess.run([sys.executable, "-m", "kgtools.cli", "export", str(results[2].path), str(out)],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "not empty" in again.stderr
    # issue 16: checked against the adapter chain on disk, and loadable by transformers' pipeline unchanged
    check = json.loads((out / "kgtools_export.json").read_text("utf-8"))["check"]
    assert check["dtype"] == "float32" and 0 <= check["max_abs_logit_delta"] <= check["tolerance"] == 1e-3
    assert check["tokens"] > 20
    gen = json.loads((out / "generation_config.json").read_text("utf-8"))
    assert gen["eos_token_id"] == tok.eos_token_id == tok.convert_tokens_to_ids("<|end|>")
    assert gen["pad_token_id"] == tok.pad_token_id
    from transformers import pipeline

    chat = [{"role": "user", "content": "What treats influenza?"}]
    said = pipeline("text-generation", model=str(out), device="cpu")(chat, max_new_tokens=8, do_sample=False)
    reply = said[0]["generated_text"][-1]
    assert reply["role"] == "assistant" and "<|" not in reply["content"]  # the template's turn end stops it
    # issue 19: a model card in the Hub's format, with the ontology's license and release and each stage
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md", repo_type="model")
    assert card.data.license == "apache-2.0"  # medical.ttl's dcterms:license, as a Hub identifier
    assert card.data.library_name == "transformers" and "kgtools" in card.data.tags
    assert "kgtools medical demo ontology | 1.0 |" in card.text
    for stage in ("kg_sft", "distill", "reinforce"):
        assert f"| {stage} | {results[['kg_sft', 'distill', 'reinforce'].index(stage)].artifact.key} |" in card.text
    assert f"max |Δ logit| {check['max_abs_logit_delta']}" in card.text


def test_audit_asks_every_relation_of_the_graph(chain, tmp_path):
    """`kgtools audit` of the tuned model (a train artifact): sampled per task and relation, counted, reported."""
    import pandas as pd

    from kgtools.audit.stage import audit
    from kgtools.config import AuditConfig

    _store, results = chain
    store = ArtifactStore(tmp_path / "artifacts")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store).artifact
    cfg = AuditConfig(max_per_relation=3)
    result = audit(cfg, results[2].path, kg, store)
    rows = pd.read_parquet(result.path / "audit.parquet")
    assert set(rows.asked) == {"open", "mcq"} and rows.ok.dtype == bool
    per = rows.groupby(["task", "relation"]).size()
    assert per.max() <= 3 and len(per) >= 5  # sampled per task and relation, many relations asked
    assert not rows.duplicated(["task", "prompt"]).any()
    m = result.artifact.manifest
    assert m["counts"]["questions"] == len(rows) and m["counts"]["right"] == int(rows.ok.sum())
    assert (result.path / "heatmap.png").stat().st_size > 0
    report = (result.path / "report.md").read_text("utf-8")
    assert "## By relation" in report and "## Concepts most often wrong" in report
    with pytest.raises(ConfigError, match="MODEL: .*nowhere: no such folder"):
        audit(cfg, tmp_path / "nowhere", kg, store)


@pytest.mark.slow
def test_audit_of_an_exported_checkpoint_matches_its_train_artifact(chain, tmp_path):
    """`kgtools audit` on the same weights exported as a plain checkpoint: the same questions and (within argmax
    ties) the same right/wrong per question; a missing MODEL is one line."""
    import pandas as pd

    from kgtools.audit.stage import audit
    from kgtools.config import AuditConfig

    _store, results = chain
    store = ArtifactStore(tmp_path / "artifacts")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store).artifact
    rows = pd.read_parquet(audit(AuditConfig(max_per_relation=3), results[2].path, kg, store).path / "audit.parquet")
    exported = tmp_path / "exported"
    assert subprocess.run([sys.executable, "-m", "kgtools.cli", "export", str(results[2].path), str(exported)],
                          capture_output=True, text=True).returncode == 0
    proc = _cli("audit", str(exported), "--kg", str(kg.path), "--artifacts", str(tmp_path / "artifacts"),
                "--config", str(_yaml(tmp_path, "audit:\n  max_per_relation: 3\n")))
    assert proc.returncode == 0, proc.stderr
    other = pd.read_parquet(ArtifactStore(tmp_path / "artifacts").latest("audit").path / "audit.parquet")
    assert list(other.id) == list(rows.id)
    assert (other.ok.values == rows.ok.values).mean() >= 0.95
    bad = _cli("audit", str(tmp_path / "nowhere"), "--kg", str(kg.path), "--artifacts", str(tmp_path / "artifacts"))
    assert bad.returncode == 2 and "MODEL:" in bad.stderr and "no such folder" in bad.stderr


def _yaml(folder, text: str):
    path = folder / "audit.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class Interrupt(Exception):
    pass


@pytest.mark.slow  # 23 s; test_reliability kills demo-fast at four points too
def test_killed_stage_resumes_to_the_same_loss(synth_data, tmp_path):
    from transformers import TrainerCallback

    cfg = parse_config(TrainConfig, {**SMALL, "kg_sft": {**SMALL["kg_sft"], "max_steps": 24, "save_steps": 8}})

    class KillAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 13:
                raise Interrupt

    interrupted = ArtifactStore(tmp_path / "a")
    with pytest.raises(Interrupt):
        train_stage(cfg, "kg_sft", synth_data, interrupted, callbacks=[KillAt()])
    assert not list((interrupted.root / "train" / "kg_sft").glob("*/manifest.json"))  # nothing half-written
    resumed = train_stage(cfg, "kg_sft", synth_data, interrupted)
    assert resumed.metrics()["resumed_from"] == "checkpoint-8"
    straight = train_stage(cfg, "kg_sft", synth_data, ArtifactStore(tmp_path / "b"))
    assert straight.metrics()["resumed_from"] is None
    assert resumed.metrics()["final_loss"] == pytest.approx(straight.metrics()["final_loss"], rel=1e-3)
    assert resumed.metrics()["after"] == pytest.approx(straight.metrics()["after"], rel=1e-3)
    assert not (interrupted.root / "train" / "kg_sft" / f".work-{resumed.artifact.key}").exists()


@pytest.mark.slow  # 17 s: keeps make test under 5 minutes on 2 cores (5:09 with it in the fast suite)
def test_gradient_checkpointing_trains_the_same_weights(synth_data, tmp_path):
    """A speed/memory option: the same losses and the same artifact key as without it."""
    runs = {}
    for on in (False, True):
        cfg = parse_config(TrainConfig, {**SMALL, "stages": ["kg_sft"], "kg_sft": {
            **SMALL["kg_sft"], "max_steps": 4, "max_examples": 64, "gradient_checkpointing": on}})
        result = train_stage(cfg, "kg_sft", synth_data, ArtifactStore(tmp_path / str(on)))
        runs[on] = result
    assert runs[True].path.name == runs[False].path.name  # not part of the key
    losses = {on: [h["loss"] for h in json.loads((r.path / "log_history.json").read_text("utf-8")) if "loss" in h]
              for on, r in runs.items()}
    assert len(losses[True]) == 4 and losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_esft_trains_only_the_selected_experts(synth_data, tmp_path):
    cfg = parse_config(TrainConfig, {**SMALL, "stages": ["kg_sft"], "lora": {"targets": ["routed_experts"]},
                                     "esft": {"enabled": True, "score": "token_share", "top_p": 0.3},
                                     "kg_sft": {**SMALL["kg_sft"], "max_steps": 10}})
    (result,) = train(cfg, synth_data, ArtifactStore(tmp_path / "a"))
    m = result.metrics()
    chosen = {int(k): v for k, v in m["esft_experts"].items()}
    assert set(chosen) == {1, 2} and all(1 <= len(v) < 8 for v in chosen.values())
    for layer, norms in m["expert_delta_norms"].items():
        for e, norm in enumerate(norms):
            if e in chosen[int(layer)]:
                assert norm > 0, (layer, e)
            else:
                assert norm == 0.0, (layer, e)  # exactly untouched
    assert json.loads((result.path / "esft_experts.json").read_text())["top_p"] == 0.3


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("train:\n  model: /no/such/checkpoint\n", "train.model: '/no/such/checkpoint' is neither a preset"),
    ("train:\n  esft:\n    top_p: 1.5\n", "train.esft.top_p: must be in (0, 1], got 1.5"),
    ("train:\n  esft:\n    top_p: 0\n", "train.esft.top_p: must be in (0, 1], got 0"),
    ("train:\n  stages: [kg_sft, reinforce, distill]\n", "train.stages: stages run in the order"),
    ("train:\n  stages: [distill, reinforce]\n", "train.stages: 'distill' needs the kg_sft adapter"),
    ("train:\n  lora:\n    targets: [experts]\n", "train.lora.targets: unknown target group 'experts'"),
    ("train:\n  kg_sft:\n    lr: -1\n", "train.kg_sft.lr"),
    ("train:\n  lora:\n    dropout: 0.1\n", "train.lora.dropout: must be 0"),
])
def test_bad_train_config_is_one_line(synth_data, tmp_path, yaml_text, expected):
    (tmp_path / "train.yaml").write_text(yaml_text)
    proc = _cli("train", "--data", str(synth_data.path), "--artifacts", str(tmp_path / "out"), "--config", str(tmp_path / "train.yaml"))
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out").glob("train/*/*/manifest.json"))


def test_target_group_the_model_lacks(tmp_path, synth_data):
    """A Mixtral checkpoint has no shared experts: asking for them names the group."""
    from transformers import AutoModelForCausalLM, MixtralConfig

    from kgtools.train.tokenizer import train_tokenizer

    tok = train_tokenizer(["influenza is treated with oseltamivir"] * 50, 300)
    cfg = MixtralConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)
    ckpt = tmp_path / "mixtral"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    (tmp_path / "train.yaml").write_text(f"train:\n  model: {ckpt}\n  lora:\n    targets: [attention, shared_experts]\n")
    proc = _cli("train", "--data", str(synth_data.path), "--artifacts", str(tmp_path / "out"), "--config", str(tmp_path / "train.yaml"))
    assert proc.returncode == 2, proc.stderr
    assert "train.lora.targets: MixtralForCausalLM has no 'shared_experts'" in proc.stderr


@pytest.mark.slow
def test_update_training_adds_an_adapter_to_the_old_chain(chain, synth_data, tmp_path):
    """A knowledge update: the old release's tuned model (the chain above) learns a new release's changes —
    kg_sft then reinforce on `synth update` data, starting from the old reinforce adapter, same stages and code."""
    from kgtools.graph.stage import kg_of
    from kgtools.synth.stage import synthesize_update
    from kgtools.update.stage import build_diff

    store, (_, _, old_model) = chain
    text = (BUNDLED / "medical.ttl").read_text(encoding="utf-8")
    new_text = text.replace('rdfs:label "influenza"@en', 'rdfs:label "seasonal influenza"@en') + (
        '\nmed:AvianInfluenza a owl:Class ; rdfs:subClassOf med:Influenza ; rdfs:label "avian influenza"@en ;\n'
        '    skos:definition "An influenza of birds that sometimes infects people."@en .\n')
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "medical.ttl").write_text(new_text, encoding="utf-8")
    diff = build_diff(kg_of(BUNDLED / "medical.ttl", store), kg_of(tmp_path / "new" / "medical.ttl", store), store)
    data = synthesize_update(SynthConfig(update={"replay": 0.5}), diff.artifact, store).artifact
    cfg = parse_config(TrainConfig, {**SMALL, "stages": ["kg_sft", "reinforce"],
                                     "kg_sft": {**SMALL["kg_sft"], "max_steps": 20},
                                     "reinforce": {**SMALL["reinforce"], "max_steps": 8}})
    sft, reinforce = train(cfg, data, store, parent=old_model.artifact)
    lineage = sft.artifact.manifest["lineage"]
    assert len(lineage) == 3 and lineage[-1].startswith("reinforce:")  # the old chain, merged under the new adapter
    m = sft.metrics()
    assert m["after"] < m["before"], m  # answer cross-entropy on the changed facts in unseen phrasings
    assert reinforce.metrics()["after"]["pairs"] > 0
    with pytest.raises(ConfigError, match="'kg_sft' is the first stage"):  # plain synth data: no kg_sft on a chain
        train(cfg, synth_data, store, parent=old_model.artifact)
    # an update of a model whose earlier stages are gone (the old reinforce adapter copied away alone): one line
    lone = tmp_path / "lone" / "reinforce"
    shutil.copytree(old_model.path, lone)
    before = sorted(p.name for p in (store.root / "train" / "kg_sft").iterdir())
    proc = _cli("train", "--data", str(data.path), "--from", str(lone), "--stages", "kg_sft",
                "--artifacts", str(store.root))
    assert proc.returncode == 2 and "its parent stage" in proc.stderr and "is gone" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 3
    assert sorted(p.name for p in (store.root / "train" / "kg_sft").iterdir()) == before  # nothing written

    # update evaluation: the old release's model against the update's, on the update's own splits
    import pandas as pd

    from kgtools.config import EvalConfig
    from kgtools.evaluate.stage import evaluate

    result = evaluate(EvalConfig(max_per_task=4, with_context=False, include_base=False), data,
                      [old_model.artifact, sft.artifact, reinforce.artifact], store)
    metrics = result.metrics()
    assert list(metrics["stages"]) == ["reinforce", "update/kg_sft", "update/reinforce"]  # no name collision
    assert set(metrics["splits"]) <= {"test_changed", "test_removed", "test_portability", "test_locality_near",
                                      "test_locality_far"} and "test_changed" in metrics["splits"]
    u = metrics["update"]
    assert (u["before"], u["after"]) == ("reinforce", "update/reinforce")
    outcomes = pd.read_parquet(result.path / "outcomes.parquet")
    for where, loc in u["locality"].items():  # recomputed from the per-example outcomes
        split = outcomes[outcomes.split == f"test_locality_{where}"]
        right = set(split[(split.model == "reinforce") & split.ok].id)
        kept = set(split[(split.model == "update/reinforce") & split.ok].id) & right
        assert (loc["right_before"], loc["kept"]) == (len(right), len(kept))
    changed = outcomes[(outcomes.split == "test_changed") & (outcomes.model == "update/reinforce")]
    assert len(changed) == u["models"]["update/reinforce"]["efficacy_n"] > 0
    assert u["cost"]["update"]["stages"] == ["kg_sft", "reinforce"]
    assert u["cost"]["old_chain"]["stages"] == ["kg_sft", "distill", "reinforce"]
    assert u["cost"]["update"]["sft_trained_tokens"] > 0
    assert 0 <= u["routing_drift"]["changed"] <= 1 and 0 <= u["routing_drift"]["unchanged"] <= 1
    assert any("locality near" in g["goal"] for g in metrics["goals"])
    assert "## Knowledge update" in (result.path / "report.md").read_text("utf-8")


def test_tensorboard_logs_loss_and_expert_routing(chain):
    """issue 19: with tensorboard installed (the dev extra), each stage writes its loss, per-layer routing
    scalars every logging step and the before/after routing heat maps under the artifact's tensorboard/."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _store, results = chain
    for r in results:
        name = r.artifact.stage.split("/", 1)[1]
        events = EventAccumulator(str(r.path / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
        events.Reload()
        scalars, images = set(events.Tags()["scalars"]), set(events.Tags()["images"])
        assert "train/loss" in scalars, scalars
        # the tiny preset's MoE layers are 1 and 2 (layer 0 is dense)
        for layer in (1, 2):
            for what in ("experts_used", "max_load", "load_entropy", "router_entropy"):
                assert f"routing/layer_{layer}/{what}" in scalars, (name, sorted(scalars))
        entropy = [e.value for e in events.Scalars("routing/layer_1/load_entropy")]
        used = [e.value for e in events.Scalars("routing/layer_1/experts_used")]
        assert len(entropy) >= 3 and all(0 < v <= 1 for v in entropy) and all(0 < v <= 1 for v in used)
        assert {f"routing/{name}/before", f"routing/{name}/after"} <= images


@pytest.mark.slow  # exports, runs lm-eval and a kgtools evaluation on 279 questions
def test_lm_eval_scores_the_exported_tasks_as_kgtools_does(chain, synth_data, tmp_path):
    """issue 19: `kgtools export-tasks` → lm-evaluation-harness on the exported model. Same questions and choices:
    lm-eval's log-likelihood of each choice is kgtools' log-probability of that answer's tokens without the
    end-of-turn token, plus one constant per question (lm-eval scores the newline that ends the template's
    assistant header as part of each choice); the accuracies differ only by the scoring rule (lm-eval `acc`:
    summed log-probability; kgtools: per token, end-of-turn included), recomputed here from the same numbers."""
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    from kgtools.chat import encode, prompt_messages
    from kgtools.config import EvalConfig
    from kgtools.evaluate.stage import evaluate

    store, results = chain
    model_dir, tasks = tmp_path / "model", tmp_path / "tasks"
    for args in (["export", str(results[2].path), str(model_dir)], ["export-tasks", str(synth_data.path), str(tasks)]):
        proc = subprocess.run([sys.executable, "-m", "kgtools.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    names = {"kgtools_medical_test_heldout_mcq": "mcq", "kgtools_medical_test_heldout_truefalse": "yes_no"}
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32", device="cpu",
                                  tasks=list(names), task_manager=TaskManager(include_path=str(tasks)),
                                  apply_chat_template=True, log_samples=True, batch_size=16)
    ours = evaluate(EvalConfig(splits=["test_heldout"], include_base=False, with_context=False), synth_data,
                    [results[2].artifact], store)
    import pandas as pd
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(ours.path / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    board.Reload()  # the evaluation's accuracies and routing heat maps in TensorBoard
    assert {"eval/test_heldout/multiple_choice", "eval/test_heldout/true_false"} <= set(board.Tags()["scalars"])
    assert {"routing/evaluate/before", "routing/evaluate/reinforce"} <= set(board.Tags()["images"])
    kg_ok = pd.read_parquet(ours.path / "outcomes.parquet").set_index("id")["ok"]
    model, tokenizer = load_stage_model(results[2].artifact)
    model.eval()
    rows = {ex["id"]: ex for ex in synth_data_rows(synth_data, "test_heldout")}
    for task, kind in names.items():
        samples = out["samples"][task]
        assert len(samples) == sum(1 for ex in rows.values() if ex["task"] == kind and (ex["choices"] or ex["rejected"]))
        lm_right = kg_right = 0
        for s in samples:
            doc = s["doc"]
            lls = [float(r[0]) for r in s["filtered_resps"]]
            total, norm = [], []
            for choice in doc["choices"]:
                p, a = encode(tokenizer, prompt_messages(rows[doc["id"]], with_context=False), choice)
                with torch.no_grad():
                    logp = torch.log_softmax(model(torch.tensor([p + a])).logits[0, len(p) - 1:-1].float(), -1)
                token_lp = logp.gather(-1, torch.tensor(a)[:, None]).squeeze(-1)
                total.append(float(token_lp[:-1].sum()))  # without the end-of-turn token
                norm.append(float(token_lp.sum()) / len(a))
            # lm-eval moves the context's trailing whitespace (the newline after the template's assistant header)
            # into each choice: one and the same log-probability added to every choice of a question
            shift = [ll - t for ll, t in zip(lls, total, strict=True)]
            assert max(shift) - min(shift) < 2e-3 and max(shift) <= 1e-3, (doc["question"], lls, total)
            lm_pick, kg_pick = max(range(len(lls)), key=lls.__getitem__), max(range(len(norm)), key=norm.__getitem__)
            assert s["acc"] == float(lm_pick == doc["label"])
            assert bool(kg_ok[doc["id"]]) == (kg_pick == doc["label"])  # kgtools' own evaluation, same numbers
            lm_right += lm_pick == doc["label"]
            kg_right += kg_pick == doc["label"]
        assert out["results"][task]["acc,none"] == pytest.approx(lm_right / len(samples))
        print(f"{task}: lm-eval acc {lm_right / len(samples):.4f}, kgtools {kg_right / len(samples):.4f} "
              f"({len(samples)} questions)")


def synth_data_rows(artifact, split: str) -> list[dict]:
    from datasets import load_from_disk

    return load_from_disk(str(artifact.path / "dataset"))[split].to_list()


@pytest.mark.slow  # one short kg_sft through the command, ~25 s
def test_training_progress_is_logged_when_the_output_is_a_file(synth_data, tmp_path):
    """issue 19: `kgtools train` with stdout to a file (not a terminal) writes timestamped progress lines — the
    first step, every logging step with the loss and the time left, the last step (the line every N seconds
    inside a long step is tests/unit/test_progress.py's)."""
    import os
    import re

    config = tmp_path / "train.yaml"
    config.write_text("train:\n  vocab_size: 1024\n  routing_sample: 8\n  report_to: [none]\n"
                      "  kg_sft: {max_steps: 24, max_examples: 200}\n", encoding="utf-8")
    log = tmp_path / "train.log"
    with log.open("w") as out:
        proc = subprocess.run([sys.executable, "-m", "kgtools.cli", "train", "--data", str(synth_data.path),
                               "--config", str(config), "--stages", "kg_sft", "--artifacts", str(tmp_path / "a")],
                              stdout=out, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "KGTOOLS_PROGRESS_SECONDS": "1"})
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text("utf-8").splitlines()
    steps = [line for line in lines if re.match(r"\[\d\d:\d\d:\d\d\] kg_sft: step \d+/24 ", line)]
    assert steps[0].split("] ")[1].startswith("kg_sft: step 1/24 (4%)")
    assert steps[-1].split("] ")[1].startswith("kg_sft: step 24/24 (100%), loss ")
    logged = [line for line in steps if ", loss " in line and " left" in line]
    assert len(logged) >= 3, lines  # logging_steps is 1 for 24 steps: a line per step, with loss and time left
    assert any("kg_sft: loading the tokenizer and the model" in line for line in lines)
    trained = next((tmp_path / "a" / "train" / "kg_sft").glob("*/manifest.json")).parent
    assert not (trained / "tensorboard").exists()  # report_to: [none]
