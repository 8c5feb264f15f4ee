"""Every supported MoE family as a checkpoint folder, the way users bring them (issue 16, item 1): each family's
real config layout scaled down (MLA or not, shared experts or not, dense first layers, top-k, norm_topk_prob),
saved with ``save_pretrained``, with a tokenizer trained here and the family's chat template
(``tests/resources/chat_templates``). The default run loads each one, finds its LoRA groups and routers and asks
it a question; the slow run takes each through kg_sft → distill → reinforce (with ESFT) → evaluate → export on
the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from kgtools.artifacts import ArtifactStore
from kgtools.config import KgConfig, SynthConfig
from kgtools.graph.stage import build_kg
from kgtools.synth.stage import synthesize

from ..conftest import BUNDLED, RESOURCES

COMMON = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=512, tie_word_embeddings=False)
MLA = dict(kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, num_key_value_heads=4)
# family → config class, its layout, special tokens, and what kgtools must find in it
FAMILIES = {
    "deepseek_v2": dict(config="DeepseekV2Config", layout=dict(
        MLA, q_lora_rank=None, moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=2,
        first_k_dense_replace=1, n_group=1, topk_group=1, topk_method="greedy", norm_topk_prob=False),
        bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>", pad="<｜end▁of▁sentence｜>", markers=[],
        groups=["attention", "shared_experts", "routed_experts", "dense_mlp"], moe_layers=[1, 2], experts=8),
    "deepseek_v3": dict(config="DeepseekV3Config", layout=dict(
        MLA, q_lora_rank=16, moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        first_k_dense_replace=1, n_group=2, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.5),
        bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>", pad="<｜end▁of▁sentence｜>",
        markers=["<｜User｜>", "<｜Assistant｜>"], groups=["attention", "shared_experts", "routed_experts", "dense_mlp"],
        moe_layers=[1, 2], experts=8),
    "qwen2_moe": dict(config="Qwen2MoeConfig", layout=dict(
        moe_intermediate_size=32, shared_expert_intermediate_size=64, num_experts=8, num_experts_per_tok=2,
        norm_topk_prob=False, decoder_sparse_step=1),
        bos=None, eos="<|im_end|>", pad="<|endoftext|>", markers=["<|im_start|>"],
        groups=["attention", "shared_experts", "routed_experts"], moe_layers=[0, 1, 2], experts=8),
    "qwen3_moe": dict(config="Qwen3MoeConfig", layout=dict(
        moe_intermediate_size=32, num_experts=8, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
        head_dim=16),
        bos=None, eos="<|im_end|>", pad="<|endoftext|>", markers=["<|im_start|>", "<think>", "</think>"],
        groups=["attention", "routed_experts"], moe_layers=[0, 1, 2], experts=8),
    "olmoe": dict(config="OlmoeConfig", layout=dict(num_experts=8, num_experts_per_tok=2, norm_topk_prob=False),
                  bos="<|endoftext|>", eos="<|endoftext|>", pad="<|padding|>", markers=["<|user|>", "<|assistant|>", "<|system|>"],
                  groups=["attention", "routed_experts"], moe_layers=[0, 1, 2], experts=8),
    "mixtral": dict(config="MixtralConfig", layout=dict(num_local_experts=4, num_experts_per_tok=2),
                    bos="<s>", eos="</s>", pad=None, markers=[],
                    groups=["attention", "routed_experts"], moe_layers=[0, 1, 2], experts=4),
}
ABSENT = {"shared_experts", "dense_mlp"}  # asked of a family without them: one line naming the group


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    store = ArtifactStore(tmp_path_factory.mktemp("data") / "artifacts")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store).artifact
    return synthesize(SynthConfig(), kg, store).artifact


@pytest.fixture(scope="module")
def base_tokenizer(synth_data):
    from datasets import load_from_disk

    from kgtools.train.tokenizer import train_tokenizer

    train = load_from_disk(str(synth_data.path / "dataset"))["train"]
    return train_tokenizer([m["content"] for msgs in train.select(range(1500))["messages"] for m in msgs], 700)


def write_checkpoint(family: str, folder: Path, base_tokenizer) -> Path:
    """A scaled-down checkpoint of ``family`` in ``folder``: config.json, safetensors weights, tokenizer files
    with the family's special tokens and chat template — what a user's local copy holds."""
    import copy

    import transformers

    spec = FAMILIES[family]
    tok = copy.deepcopy(base_tokenizer)
    special = {"eos_token": spec["eos"], "additional_special_tokens": spec["markers"]}
    if spec["bos"]:
        special["bos_token"] = spec["bos"]
    if spec["pad"]:
        special["pad_token"] = spec["pad"]
    tok.add_special_tokens(special)
    if not spec["pad"]:  # Mixtral ships no pad token
        tok.pad_token = None
    tok.chat_template = (RESOURCES / "chat_templates" / f"{family}.jinja").read_text("utf-8").strip()
    ids = {"eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id,
           "bos_token_id": tok.bos_token_id if spec["bos"] else None}
    config = getattr(transformers, spec["config"])(vocab_size=len(tok), **{**COMMON, **spec["layout"]}, **ids)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_loads_with_its_groups_routers_and_template(family, base_tokenizer, tmp_path):
    from kgtools.chat import encode
    from kgtools.evaluate import probe
    from kgtools.models import ModelSpec, group_targets, layout_of, load_checkpoint, n_experts, routers

    spec = FAMILIES[family]
    folder = write_checkpoint(family, tmp_path / family, base_tokenizer)
    assert ModelSpec.parse(str(folder)).path == folder.resolve()
    model = load_checkpoint(folder)
    assert model.config.model_type == family
    assert sorted(routers(model)) == spec["moe_layers"] and n_experts(model) == spec["experts"]
    modules, parameters, _ = group_targets(model, spec["groups"])
    assert modules and any("experts" in p for p in parameters)
    layout = layout_of(model)  # the one table of architecture facts agrees with the checkpoint
    assert (layout.shared is not None) == ("shared_experts" in spec["groups"])
    assert (layout.attention == "MLA") == ("kv_a_proj_with_mqa" in modules)
    dense = getattr(model.config, layout.dense_first, 0) if layout.dense_first else 0
    assert list(range(dense, model.config.num_hidden_layers)) == spec["moe_layers"]
    for group in ABSENT - set(spec["groups"]):
        with pytest.raises(Exception, match=f"has no '{group}'"):
            group_targets(model, [group])
    # the family's template, with the graph facts as a system turn (Mixtral's refuses one: folded into the user turn)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    turns = [{"role": "system", "content": "Facts: asthma affects the lung."},
             {"role": "user", "content": "Which organ does asthma affect?"}]
    prompt, answer = encode(tok, turns, "lung")
    assert answer[-1] == tok.eos_token_id and "lung" in tok.decode(answer)
    assert "Facts: asthma" in tok.decode(prompt) and "Which organ" in tok.decode(prompt)
    (best, _), = probe.choose_many(model, tok, [(turns, ["lung", "liver"])])
    said = probe.generate(model, tok, [turns], max_new_tokens=4)
    assert best in (0, 1) and len(said) == 1


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"})


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_through_the_three_stages_evaluation_and_export(family, synth_data, base_tokenizer, tmp_path):
    spec = FAMILIES[family]
    folder = write_checkpoint(family, tmp_path / "checkpoint", base_tokenizer)
    store = tmp_path / "artifacts"
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "train": {"model": str(folder), "routing_sample": 16, "lora": {"targets": spec["groups"]},
                  "esft": {"enabled": True, "top_p": 0.5, "sample": 32},
                  "kg_sft": {"max_steps": 6, "max_examples": 120, "context_share": 0.5},
                  "distill": {"max_steps": 3, "max_examples": 60}, "reinforce": {"max_steps": 3, "max_examples": 60}},
        "evaluate": {"max_per_task": 3, "splits": ["test_paraphrase"], "include_base": True}}), "utf-8")
    trained = _cli("train", "--data", str(synth_data.path), "--artifacts", str(store), "--config", str(config), cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    stages = [next((store / "train" / s).glob("[0-9a-f]*")) for s in ("kg_sft", "distill", "reinforce")]
    for stage in stages:
        import pandas as pd

        routing = pd.read_parquet(stage / "routing.parquet")
        assert sorted(routing.layer.unique()) == spec["moe_layers"], family
        chosen = json.loads((stage / "esft_experts.json").read_text("utf-8"))
        assert chosen and all(0 < len(v) <= spec["experts"] for v in chosen["experts"].values()), chosen
    evaluated = _cli("evaluate", "--data", str(synth_data.path), *[a for s in stages for a in ("--stage", str(s))],
                     "--artifacts", str(store), "--config", str(config), cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads(next((store / "eval").glob("[0-9a-f]*/metrics.json")).read_text("utf-8"))
    assert set(metrics["stages"]) == {"base", "kg_sft+context", "kg_sft", "distill", "reinforce"}
    assert metrics["stages"]["reinforce"]["test_paraphrase"]["mcq"]["n"] > 0
    out = tmp_path / "exported"
    exported = _cli("export", str(stages[-1]), str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    check = json.loads((out / "kgtools_export.json").read_text("utf-8"))["check"]
    assert check["max_abs_logit_delta"] <= check["tolerance"]
    assert json.loads((out / "config.json").read_text("utf-8"))["model_type"] == family
    gen = json.loads((out / "generation_config.json").read_text("utf-8"))
    from transformers import AutoTokenizer

    assert gen["eos_token_id"] == AutoTokenizer.from_pretrained(out).convert_tokens_to_ids(spec["eos"])
