"""Pieces of the fine-tune on a tiny in-memory model: packing, the chat encoding, routing hooks, ESFT's
expert choice and its gradient masks, LoRA target groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgtools.config import EsftSettings, LoraSettings, TrainConfig, parse_config
from kgtools.errors import ConfigError
from kgtools.models import ModelSpec, build_preset, group_targets
from kgtools.routing import RoutingStats, record_routing
from kgtools.train.adapters import add_lora
from kgtools.train.data import IGNORE, Segment, encode, join, pack, pad_rows, prompt_messages
from kgtools.train.routing import select_experts
from kgtools.train.tokenizer import train_tokenizer

TEXTS = ["Influenza is treated with oseltamivir.", "What treats influenza?", "Asthma affects the lung.",
         "Facts from the knowledge graph:", "Which organ does asthma affect?"] * 40


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS, 400)


@pytest.fixture
def model(tok):
    spec = ModelSpec.parse("tiny-deepseek-moe")
    return build_preset(spec, len(tok), {"pad_token_id": tok.pad_token_id}, seed=0)


def test_pack_fills_rows_without_overflow():
    lengths = [90, 10, 60, 40, 30, 100, 5, 70]
    rows = pack(lengths, 100, seed=1)
    assert sorted(i for r in rows for i in r) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= 100 for r in rows)
    assert len(rows) == 5  # 405 tokens need ≥ 5 rows of 100


def test_join_restarts_positions_and_masks_prompts(tok):
    ex = {"messages": [{"role": "user", "content": "What treats influenza?"}, {"role": "assistant", "content": "oseltamivir"}],
          "context": "Influenza is treated with oseltamivir."}
    p, a = encode(tok, prompt_messages(ex, with_context=False), "oseltamivir")
    assert tok.decode(a).startswith("oseltamivir") and a[-1] == tok.eos_token_id
    pc, ac = encode(tok, prompt_messages(ex, with_context=True), "oseltamivir")
    assert ac == a and len(pc) > len(p) and "Influenza is treated" in tok.decode(pc)
    row = join([Segment.of(p, a, 64), Segment.of(pc, ac, 64)])
    assert row["position_ids"][len(p) + len(a)] == 0
    assert sum(x != IGNORE for x in row["labels"]) == 2 * len(a)
    batch = pad_rows([row, join([Segment.of(p, a, 64)])], tok.pad_token_id)
    assert batch["input_ids"].shape == (2, len(row["input_ids"]))
    assert batch["position_ids"][1, len(p) + len(a)] == 0  # the padding is a segment of its own


def test_packed_examples_do_not_see_each_other(model, tok):
    """Logits of an example are the same alone and packed after another one."""
    a = tok("Influenza is treated with oseltamivir.")["input_ids"]
    b = tok("Asthma affects the lung.")["input_ids"]
    seg = lambda ids: Segment(ids, ids)  # noqa: E731
    model.eval()
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([b])).logits[0]
        batch = pad_rows([join([seg(a), seg(b)]), join([seg(b)])], tok.pad_token_id)
        out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                    attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(alone, out[0, len(a):], atol=1e-5)  # packed after another example
    assert torch.allclose(alone, out[1, : len(b)], atol=1e-5)  # followed by padding


def test_routing_shares_sum_to_one_and_hooks_leave_outputs_unchanged(model, tok):
    ids = [tok(t)["input_ids"] for t in TEXTS[:10]]
    x = torch.tensor([ids[0]])
    with torch.no_grad():
        plain = model(x).logits
    stats = record_routing(model, ids, pad_id=tok.pad_token_id)
    with torch.no_grad():
        assert torch.equal(model(x).logits, plain)
    assert sorted(stats.counts) == [1, 2]
    tokens = sum(len(s) for s in ids)
    for layer in (1, 2):
        assert stats.counts[layer].sum() == tokens * 2  # top-2, padding excluded
        assert stats.share(layer).sum() == pytest.approx(1.0)
        assert stats.gate_score(layer).sum() == pytest.approx(1.0)


def test_select_experts_reaches_top_p_per_layer():
    stats = RoutingStats(4, counts={1: np.array([50, 30, 15, 5]), 2: np.array([1, 1, 1, 97])})
    assert select_experts(stats, score="token_share", top_p=0.6) == {1: [0, 1], 2: [3]}
    assert select_experts(stats, score="token_share", top_p=1.0) == {1: [0, 1, 2, 3], 2: [0, 1, 2, 3]}
    assert select_experts(stats, score="token_share", top_p=0.01) == {1: [0], 2: [3]}


def test_esft_masks_gradients_of_unselected_experts(model):
    cfg = parse_config(TrainConfig, {"lora": {"targets": ["routed_experts"]}, "esft": {"enabled": True}})
    chosen = {1: [0, 3], 2: [5]}
    peft_model = add_lora(model, cfg, chosen)
    for p in peft_model.parameters():  # B starts at zero; give it values so A gets gradients too
        if p.requires_grad and p.dim() == 2 and not p.any():
            torch.nn.init.normal_(p, std=0.05)
    peft_model(torch.randint(5, 300, (2, 32))).logits.pow(2).mean().backward()
    seen = 0
    for name, module in peft_model.named_modules():
        if getattr(module, "num_experts", 1) != 8 or "default" not in getattr(module, "lora_A", {}):
            continue
        layer = int(name.split("layers.")[1].split(".")[0])
        ga = module.lora_A["default"].weight.grad.reshape(8, -1, module.lora_A["default"].weight.shape[-1])
        gb = module.lora_B["default"].weight.grad
        gb = gb.reshape(gb.shape[0], -1, 8)
        for e in range(8):
            if e in chosen[layer]:
                assert ga[e].abs().sum() > 0 and gb[:, :, e].abs().sum() > 0
            else:
                assert ga[e].abs().sum() == 0 and gb[:, :, e].abs().sum() == 0
        seen += 1
    assert seen == 4  # gate_up and down, two MoE layers


def test_target_groups_reach_the_shared_experts(model):
    modules, parameters, router = group_targets(model, ["attention", "shared_experts", "routed_experts", "router"])
    assert "q_a_proj" in modules and "kv_b_proj" in modules
    assert "shared_experts.gate_proj.weight" in parameters and "mlp.experts.gate_up_proj" in parameters
    assert router == ["model.layers.1.mlp.gate.weight", "model.layers.2.mlp.gate.weight"]
    cfg = parse_config(TrainConfig, {"lora": {"targets": ["shared_experts"]}})
    peft_model = add_lora(model, cfg)
    trained = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("shared_experts.gate_proj" in n and "lora_A" in n for n in trained)
    assert not any("mlp.experts" in n for n in trained)


def test_esft_needs_routed_experts(model):
    """Refused when the config is read (before any stage of a pipeline runs), and again by add_lora for a
    config built around the validation."""
    with pytest.raises(ConfigError, match=r"train\.esft\.enabled: ESFT trains selected routed experts"):
        parse_config(TrainConfig, {"lora": {"targets": ["attention"]}, "esft": {"enabled": True}}, prefix="train")
    cfg = TrainConfig.model_construct(**{**dict(TrainConfig()), "lora": LoraSettings(targets=["attention"]),
                                         "esft": EsftSettings(enabled=True)})
    with pytest.raises(ConfigError, match="train.esft.enabled"):
        add_lora(model, cfg, {1: [0]})


def _yes_no(answer: str, i: int) -> dict:
    rejected = {"True": "False", "False": "True"}[answer]
    return {"task": "yes_no", "answer": answer, "rejected": rejected, "context": "", "prompt": f"statement {i}",
            "messages": [{"role": "user", "content": f"True or false: statement {i}"},
                         {"role": "assistant", "content": answer}]}


def test_preference_pairs_balance_true_and_false_by_repeating_the_minority():
    from kgtools.train.reinforce import pairs

    examples = [_yes_no("True", i) for i in range(3)] + [_yes_no("False", 10 + i) for i in range(8)]
    rows = pairs(examples, seed=0)
    chosen = [r["chosen"][0]["content"] for r in rows]
    assert chosen.count("True") == chosen.count("False") == 8  # every corrupted statement is kept
    true_prompts = [r["prompt"][-1]["content"] for r in rows if r["chosen"][0]["content"] == "True"]
    assert set(true_prompts) == {f"True or false: statement {i}" for i in range(3)}
    assert pairs(examples, seed=0) == rows  # seeded


def test_preference_pairs_drop_unsure_negatives_and_uncontrasted_relations():
    """Merely unasserted corruptions are left out by default; then a relation whose every corruption was
    unasserted keeps no true statement either, or DPO would learn "true" for all of that relation."""
    from kgtools.train.reinforce import pairs

    def ex(answer, i, relation, kind=None):
        return {**_yes_no(answer, i), "relation": relation, "negative_kind": kind}

    examples = ([ex("True", i, "is_a") for i in range(3)] + [ex("False", 10 + i, "is_a", "hierarchy") for i in range(3)]
                + [ex("True", 20 + i, "has_symptom") for i in range(4)]
                + [ex("False", 30 + i, "has_symptom", "unasserted") for i in range(4)])
    rows = pairs(examples, seed=0, kinds=["disjoint", "hierarchy", "functional"])
    prompts = {r["prompt"][-1]["content"] for r in rows}
    assert prompts == {f"True or false: statement {i}" for i in (0, 1, 2, 10, 11, 12)}
    everything = pairs(examples, seed=0)  # no kinds given: every pair, both relations
    assert len(everything) == 14


def test_acceptance_goal_is_paired_with_balanced_accuracy():
    from kgtools.evaluate.stage import goals

    def stage(true, corrupted):
        yes_no = {"acceptance_of_true": true, "acceptance_of_corrupted": corrupted}
        return {"test_paraphrase": {"mcq": {"accuracy": 0.9}, "open_em": 0.7, "open_entity_em": 0.6, "accuracy": 0.7,
                                    "yes_no": yes_no}, "retention": {"perplexity": 10.0}}

    def met(reinforce):
        got = {g["goal"].split(" after")[0]: g["met"] for g in goals({"distill": stage(0.7, 0.5), "reinforce": reinforce})}
        return got["corrupted facts accepted"], got["true/false balanced accuracy"]

    assert met(stage(0.7, 0.2)) == (True, True)    # rejects corruptions, still accepts the truth
    assert met(stage(0.05, 0.0)) == (True, False)  # "false" to everything: acceptance alone would pass
    assert met(stage(0.9, 0.4)) == (False, True)


def test_lora_on_a_layer_range_leaves_the_other_layers_frozen(model):
    """issue 15: `lora.layers: [from, to]` — the seed design's "freeze the lower layers"."""
    cfg = parse_config(TrainConfig, {"lora": {"targets": ["attention", "shared_experts", "routed_experts", "router"],
                                              "layers": [2, 2]}, "balance_loss": 0.01})
    peft_model = add_lora(model, cfg)
    trained = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trained and all(".layers.2." in n for n in trained), trained
    for part in ("self_attn.q_a_proj.lora_A", "shared_experts.gate_proj.lora_A", "mlp.experts.lora_A", "mlp.gate"):
        assert any(part in n for n in trained), part
    whole = add_lora(build_preset(ModelSpec.parse("tiny-deepseek-moe"), model.config.vocab_size, {}, seed=0),
                     parse_config(TrainConfig, {"lora": {"targets": ["attention"]}}))
    assert {n.split(".layers.")[1].split(".")[0] for n, p in whole.named_parameters() if p.requires_grad} == {"0", "1", "2"}


def test_a_layer_range_outside_the_model_is_one_line(model):
    with pytest.raises(ConfigError, match=r"train\.lora\.layers: \[1, 5\] is outside the model, whose decoder layers are 0 to 2"):
        add_lora(model, parse_config(TrainConfig, {"lora": {"layers": [1, 5]}}))
    with pytest.raises(ConfigError, match=r"train\.lora\.layers"):
        parse_config(TrainConfig, {"lora": {"layers": [2, 1]}}, prefix="train")
    with pytest.raises(ConfigError, match=r"train\.lora\.layers"):
        parse_config(TrainConfig, {"lora": {"layers": [1]}}, prefix="train")
    # the dense first layer has no routed experts: nothing to adapt there
    with pytest.raises(ConfigError, match=r"train\.lora\.layers: no mlp\.experts\.down_proj"):
        add_lora(model, parse_config(TrainConfig, {"lora": {"targets": ["routed_experts"], "layers": [0, 0]}}))


def test_disjoint_expert_sets_and_their_gradients(model):
    """issue 15: each layer's experts go to the domain that routes to them most; a domain trained on its set
    gives the other domain's experts exactly zero gradient."""
    from kgtools.train.routing import disjoint_experts, given_experts

    stats = {"medical": RoutingStats(4, counts={1: np.array([50, 30, 15, 5]), 2: np.array([10, 10, 10, 70])}),
             "finance": RoutingStats(4, counts={1: np.array([10, 60, 20, 10]), 2: np.array([40, 40, 10, 10])})}
    sets = disjoint_experts(stats, top_p=0.6)
    # layer 1: medical owns expert 0 (0.5 of its tokens; finance 0.1), finance 1, 2 and 3 and reaches 0.6 with 1;
    # layer 2: medical owns 2 (a tie) and 3 and reaches 0.6 with 3, finance owns 0 and 1 and needs both
    assert sets == {"medical": {1: [0], 2: [3]}, "finance": {1: [1], 2: [0, 1]}}
    assert disjoint_experts(stats, top_p=1.0) == {"medical": {1: [0], 2: [2, 3]}, "finance": {1: [1, 2, 3], 2: [0, 1]}}
    # on the tiny model, from two kinds of token sequences
    real = {name: record_routing(model, [[int(t) for t in torch.randint(lo, lo + 100, (24,))] for _ in range(16)])
            for name, lo in (("medical", 5), ("finance", 200))}
    sets = disjoint_experts(real, top_p=0.5)
    for layer in (1, 2):
        assert not set(sets["medical"][layer]) & set(sets["finance"][layer])
    assert given_experts(real["medical"], sets["medical"]) == sets["medical"]
    cfg = parse_config(TrainConfig, {"lora": {"targets": ["routed_experts"]},
                                     "esft": {"enabled": True, "experts": sets["medical"]}})
    peft_model = add_lora(model, cfg, given_experts(real["medical"], cfg.esft.experts))
    for p in peft_model.parameters():  # B starts at zero; give it values so A gets gradients too
        if p.requires_grad and p.dim() == 2 and not p.any():
            torch.nn.init.normal_(p, std=0.05)
    peft_model(torch.randint(5, 300, (2, 32))).logits.pow(2).mean().backward()
    for name, module in peft_model.named_modules():
        if getattr(module, "num_experts", 1) != 8 or "default" not in getattr(module, "lora_A", {}):
            continue
        layer = int(name.split("layers.")[1].split(".")[0])
        ga = module.lora_A["default"].weight.grad.reshape(8, -1, module.lora_A["default"].weight.shape[-1])
        gb = module.lora_B["default"].weight.grad
        gb = gb.reshape(gb.shape[0], -1, 8)
        for e in sets["finance"][layer]:
            assert ga[e].abs().sum() == 0 and gb[:, :, e].abs().sum() == 0
        assert sum(float(gb[:, :, e].abs().sum()) for e in sets["medical"][layer]) > 0 or not sets["medical"][layer]


def test_given_experts_are_checked_against_the_model(model):
    from kgtools.train.routing import given_experts

    stats = record_routing(model, [[5, 6, 7, 8]])
    with pytest.raises(ConfigError, match=r"train\.esft\.experts: layer 0 is not an MoE layer of the model \(MoE layers: 1, 2\)"):
        given_experts(stats, {0: [1]})
    with pytest.raises(ConfigError, match=r"train\.esft\.experts: layer 2 names expert 8; the model has 8 routed experts"):
        given_experts(stats, {2: [8]})
    assert given_experts(stats, {1: [3, 1]}) == {1: [1, 3], 2: []}


def test_training_stage_registry_matches_the_config():
    """Every training stage is one module with the same members; the config's stage order names the same stages."""
    from kgtools.config import TRAIN_STAGES
    from kgtools.train.registry import MODULES, stage_module

    assert set(MODULES) == set(TRAIN_STAGES)
    for name in TRAIN_STAGES:
        module = stage_module(name)
        for member in ("OBJECTIVE", "REQUIRES", "READS", "prepare", "measure", "make_trainer"):
            assert hasattr(module, member), f"{name}: no {member}"
        assert all(TRAIN_STAGES.index(r) < TRAIN_STAGES.index(name) for r in module.REQUIRES)
        assert not module.REQUIRES or module.REQUIRES_WHY
