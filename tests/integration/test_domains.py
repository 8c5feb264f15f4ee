"""Several domains on one base (issue 15, composition): the medical and the finance chains trained from one shared
checkpoint, loaded side by side and switched by name or composed; the composed model's logits equal the logits of
the base with every adapter merged; `kgtools export` of several chains writes the composed model; chains of
different bases refuse to compose in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from kgtools.artifacts import ArtifactStore
from kgtools.config import KgConfig, SynthConfig, TrainConfig, parse_config
from kgtools.errors import ConfigError
from kgtools.graph.stage import build_kg
from kgtools.models import (
    ModelSpec,
    build_preset,
    domain_names,
    load_checkpoint,
    load_domains,
    load_stage_model,
    merge_adapter,
    use_domains,
)
from kgtools.synth.stage import synthesize
from kgtools.train.stage import train
from kgtools.train.tokenizer import train_tokenizer

from ..conftest import BUNDLED

pytestmark = pytest.mark.slow  # two short kg_sft runs and a third on another base, ~1 min

STEPS = {"vocab_size": 1024, "routing_sample": 8, "report_to": ["none"],
         "kg_sft": {"max_steps": 12, "max_examples": 200, "lr": 5e-3}}


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("domains")
    store = ArtifactStore(root / "artifacts")
    data = {name: synthesize(SynthConfig(), build_kg(KgConfig(ontologies=[BUNDLED / f"{name}.ttl"]), store).artifact,
                             store).artifact for name in ("medical", "finance")}
    # one base for both: a preset with a tokenizer trained on both domains' prompts and answers, saved as a checkpoint
    from datasets import load_from_disk

    texts = [t for d in data.values() for ex in load_from_disk(str(d.path / "dataset"))["train"].to_list()[:600]
             for t in (ex["prompt"], ex["answer"])]
    tokenizer = train_tokenizer(texts, 1024)
    model = build_preset(ModelSpec.parse("tiny-deepseek-moe"), len(tokenizer),
                         {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                          "eos_token_id": tokenizer.eos_token_id}, seed=0)
    base = root / "base"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    chains = {name: train(parse_config(TrainConfig, {**STEPS, "model": str(base), "stages": ["kg_sft"]}), d, store)[-1]
              .artifact for name, d in data.items()}
    return base, chains, data, store


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits.float()


def test_domains_switch_by_name_and_compose_as_the_merged_weights(domains):
    base, chains, _data, _store = domains
    model, tokenizer = load_domains(chains)
    assert domain_names(model) == ["medical", "finance"]
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What treats influenza? Which authority supervises banks?"}],
                                        add_generation_prompt=True, return_dict=True, return_tensors="pt")["input_ids"]
    assert use_domains(model, ["medical"]) == ["medical__kg_sft"]
    medical = _logits(model, ids)
    alone, _ = load_stage_model(chains["medical"])
    assert (medical - _logits(alone, ids)).abs().max() < 1e-4  # switching by name = that domain's own model
    use_domains(model, ["medical", "finance"])
    composed = _logits(model, ids)
    merged = merge_adapter(merge_adapter(load_checkpoint(base, dtype=torch.float32), chains["medical"].path),
                           chains["finance"].path)
    assert (composed - _logits(merged, ids)).abs().max() < 1e-4  # composition = both deltas in the weights
    assert (composed - medical).abs().max() > 1e-2  # and finance's adapter does change something
    with model.disable_adapter():
        assert (_logits(model, ids) - _logits(load_checkpoint(base, dtype=torch.float32), ids)).abs().max() < 1e-5
    with pytest.raises(ConfigError, match="no domain 'law'; loaded: medical, finance"):
        use_domains(model, ["law"])


def test_export_of_several_domains_and_bad_compositions(domains, tmp_path):
    base, chains, data, store = domains
    out = tmp_path / "composed"
    proc = subprocess.run([sys.executable, "-m", "kgtools.cli", "export", str(chains["medical"].path),
                           str(chains["finance"].path), str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    check = json.loads((out / "kgtools_export.json").read_text("utf-8"))["check"]
    assert check["max_abs_logit_delta"] <= check["tolerance"]
    card = (out / "README.md").read_text("utf-8")
    assert "kgtools medical demo ontology" in card and "finance" in card.lower() and "| domain |" in card
    # a chain of another base (the tiny preset's own random base and tokenizer) does not compose with these
    other = train(parse_config(TrainConfig, {**STEPS, "stages": ["kg_sft"]}), data["finance"], store)[-1].artifact
    bad = [([chains["medical"].path, other.path, tmp_path / "x"], "was trained on other base weights"),
           ([chains["medical"].path, chains["medical"].path, tmp_path / "y"], "named twice"),
           ([chains["medical"].path], "give a train artifact (or several) and then the new folder")]
    for args, message in bad:
        proc = subprocess.run([sys.executable, "-m", "kgtools.cli", "export", *map(str, args)], capture_output=True, text=True)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
        assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_transfer_starts_from_another_domains_model(domains):
    """`train.from`: finance's kg_sft starts from medical's tuned model (its chain merged under finance's adapter),
    with the lower layers frozen by lora.layers; the medical chain is part of the new lineage."""
    from kgtools.models import lineage_of

    _base, chains, data, store = domains
    cfg = parse_config(TrainConfig, {**STEPS, "model": str(_base), "stages": ["kg_sft"], "from": str(chains["medical"].path),
                                     "lora": {"layers": [2, 2]}}, prefix="train")
    moved = train(cfg, data["finance"], store)[-1].artifact
    assert [a.key for a in lineage_of(moved)] == [chains["medical"].key, moved.key]
    assert moved.manifest["inputs"]["parent"] == chains["medical"].key
    assert moved.key != chains["finance"].key
    import safetensors.torch

    names = safetensors.torch.load_file(str(moved.path / "adapter_model.safetensors")).keys()
    assert names and all(".layers.2." in n for n in names)
    with pytest.raises(ConfigError, match=r"train\.from: .*nowhere: no such train artifact"):
        train(parse_config(TrainConfig, {**STEPS, "stages": ["kg_sft"], "from": str(store.root / "nowhere")}),
              data["finance"], store)


def test_interference_matrix_composition_and_routing_overlap(domains):
    from kgtools.config import EvalConfig
    from kgtools.evaluate.domains import evaluate_domains

    _base, chains, data, store = domains
    result = evaluate_domains(EvalConfig(max_per_task=6, splits=["test_heldout"]), chains, data, store)
    m = json.loads((result.path / "metrics.json").read_text("utf-8"))
    assert set(m["matrix"]) == {"base", "medical", "finance", "composed"}
    for row in m["matrix"].values():
        assert set(row) == {"medical", "finance"} and all(0 <= v["accuracy"] <= 1 and v["n"] > 10 for v in row.values())
    # interference: a domain's model on the other domain, minus the base; composition: composed over own
    fin_on_med = m["interference"]["finance"]["medical"]["accuracy"]
    assert fin_on_med == pytest.approx(m["matrix"]["finance"]["medical"]["accuracy"] - m["matrix"]["base"]["medical"]["accuracy"], abs=1e-4)
    keeps = m["composition"]["medical"]["accuracy"]
    assert keeps == pytest.approx(m["matrix"]["composed"]["medical"]["accuracy"] / m["matrix"]["medical"]["medical"]["accuracy"], abs=1e-3)
    overlap = m["routing_overlap"]["base"]["medical|finance"]
    assert set(overlap) == {"1", "2"} and all(0 < v <= 1 for v in overlap.values())
    assert set(m["retention_perplexity"]) == {"base", "medical", "finance", "composed"}
    assert (result.path / "routing_overlap.png").stat().st_size > 1000
    assert "| composed |" in (result.path / "report.md").read_text("utf-8")
    with pytest.raises(ConfigError, match="needs two or more domains"):
        evaluate_domains(EvalConfig(), {"medical": chains["medical"]}, {"medical": data["medical"]}, store)
    # the command: the same evaluation is reused and its report printed; two domains of one name are one line
    config = store.root.parent / "eval.yaml"
    config.write_text("evaluate:\n  max_per_task: 6\n  splits: [test_heldout]\n", encoding="utf-8")
    args = [f"--domain={n}={chains[n].path},{data[n].path}" for n in ("medical", "finance")]
    proc = subprocess.run([sys.executable, "-m", "kgtools.cli", "evaluate-domains", *args, "--config", str(config),
                           "--artifacts", str(store.root)], capture_output=True, text=True)
    assert proc.returncode == 0 and "reused" in proc.stdout and "| composed |" in proc.stdout, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "kgtools.cli", "evaluate-domains", args[0], args[0],
                           "--artifacts", str(store.root)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: --domain: two domains named 'medical'; give each domain its own name"], proc.stderr


DOMAIN_PIPELINE = """\
name: two-domains
artifacts: artifacts
domains:
  finance:                 # written first, trained second: it starts from the medical model
    kg: {{ontologies: [{finance}]}}
    from: medical
  medical:
    kg: {{ontologies: [{medical}]}}
domain_experts: disjoint
train:
  model: tiny-deepseek-moe
  vocab_size: 1024
  routing_sample: 16
  report_to: [none]
  stages: [kg_sft]
  lora: {{r: 4, targets: [routed_experts, attention, embeddings], embedding_r: 16}}
  esft: {{top_p: 0.6}}
  kg_sft: {{max_steps: 6, max_examples: 200, lr: 5.0e-3}}
evaluate:
  splits: [test_paraphrase]
  max_per_task: 4
  max_new_tokens: 8
"""


def _all(store: ArtifactStore, stage: str) -> list:
    from kgtools.artifacts import Artifact

    return [Artifact.open(p) for p in sorted((store.root / stage).iterdir()) if (p / "manifest.json").is_file()]


def test_domains_pipeline_shared_base_disjoint_experts_transfer_and_composition(tmp_path):
    """`domains:` in a pipeline (issue 15): one base for both domains, disjoint expert sets given to each domain's
    ESFT (the other domain's experts get exactly zero update), finance transferred from medical, each domain's
    evaluation and eval_domains; the `embeddings` LoRA group composes as the merged weights; a rerun builds nothing."""
    from safetensors.torch import load_file

    from ..conftest import RESOURCES

    path = tmp_path / "domains.yaml"
    path.write_text(DOMAIN_PIPELINE.format(finance=BUNDLED / "finance.ttl", medical=RESOURCES / "mini_respiratory.ttl"))
    # run from the pipeline's folder with a relative path: the artifacts must still load from anywhere
    run = lambda: subprocess.run([sys.executable, "-m", "kgtools.cli", "run", path.name], capture_output=True,  # noqa: E731
                                 text=True, cwd=tmp_path, env={**__import__("os").environ, "COLUMNS": "200"})
    proc = run()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = [line.split()[1] for line in proc.stdout.splitlines() if line.strip().startswith("built ")]
    assert built == ["finance/kg", "finance/synth", "medical/kg", "medical/synth", "domain_base", "medical/kg_sft",
                     "medical/evaluate", "finance/kg_sft", "finance/evaluate", "eval_domains"]
    store = ArtifactStore(tmp_path / "artifacts")
    (base,) = _all(store, "domain_base")
    sets = json.loads((base.path / "expert_sets.json").read_text("utf-8"))
    for layer in sets["medical"]:
        assert not set(sets["medical"][layer]) & set(sets["finance"][layer])
    assert sum(len(v) for v in sets["medical"].values()) and sum(len(v) for v in sets["finance"].values())
    # each domain's ESFT trained exactly its own set
    chains = {n: a for n in ("medical", "finance") for a in _all(store, "train/kg_sft")
              if json.loads((a.path / "esft_experts.json").read_text())["experts"] == sets[n]}
    assert set(chains) == {"medical", "finance"}
    assert chains["finance"].manifest["inputs"]["parent"] == chains["medical"].key  # transferred
    assert all(a.manifest["config"]["model"] == str((base.path / "base").resolve()) for a in chains.values())
    # the other domain's experts: their LoRA B columns (r·E, expert-minor) never moved from zero
    tensors = load_file(str(chains["finance"].path / "adapter_model.safetensors"))
    n_experts, r = 8, 4
    for name, t in tensors.items():
        if "experts" in name and "shared" not in name and "lora_B" in name:
            layer = name.split(".layers.")[1].split(".")[0]
            others = [e for e in range(n_experts) if e not in sets["finance"][layer]]
            cols = [i * n_experts + e for i in range(r) for e in others]
            assert torch.count_nonzero(t[:, cols]) == 0, name
            assert torch.count_nonzero(t) > 0, name
    assert any("embed_tokens" in n for n in tensors) and not any(n.endswith("embed_tokens.weight") for n in tensors)
    # composed = the two chains merged (finance's chain holds medical's adapter: it is applied once)
    model, tokenizer = load_domains(chains)
    assert use_domains(model, ["medical", "finance"]) == ["medical__kg_sft", "finance__kg_sft"]
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is asthma? Which authority supervises banks?"}],
                                        add_generation_prompt=True, return_dict=True, return_tensors="pt")["input_ids"]
    composed = _logits(model, ids)
    merged = load_checkpoint(base.path / "base")
    for a in (chains["medical"], chains["finance"]):
        merged = merge_adapter(merged, a.path)
    assert (composed - _logits(merged, ids)).abs().max() < 1e-4
    (cross,) = _all(store, "eval_domains")
    m = json.loads((cross.path / "metrics.json").read_text("utf-8"))
    assert set(m["matrix"]) == {"base", "medical", "finance", "composed"} and m["domains"] == ["medical", "finance"]
    again = run()
    lines = [line.split()[:2] for line in again.stdout.splitlines() if line.strip().startswith(("built ", "reused "))]
    assert again.returncode == 0 and lines == [["reused", stage] for stage in built], again.stdout
    assert "| composed |" in again.stdout  # the cross-domain report ends the run
