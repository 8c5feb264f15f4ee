"""LoRA through PEFT on the parts of an MoE model named by target groups, expert-specialised training
(ESFT: only the selected routed experts learn), an optionally trained router with the load-balancing
loss that transformers does not add for DeepSeek-V3, and loading a chain of stage adapters."""

from __future__ import annotations

import logging
import re
from typing import Any

from kgtools.config import TrainConfig
from kgtools.errors import ConfigError
from kgtools.models import embedding_modules, group_targets, n_experts, routers

log = logging.getLogger(__name__)
ADAPTER = "default"


def add_lora(model, cfg: TrainConfig, experts: dict[int, list[int]] | None = None, *, random_base: bool = False):
    """Wrap ``model`` in a fresh PEFT LoRA adapter on ``cfg.lora.targets``. With ``experts`` (layer →
    expert ids, from ESFT) the routed-expert LoRA of every other expert gets zero gradient."""
    from peft import LoraConfig, get_peft_model

    groups = list(cfg.lora.targets)
    if cfg.esft.enabled and "routed_experts" not in groups:
        raise ConfigError("train.esft.enabled: ESFT trains selected routed experts; add 'routed_experts' to train.lora.targets")
    modules, parameters, router_params = group_targets(model, groups)
    if any("experts" in p and "shared" not in p for p in parameters) and cfg.lora.dropout > 0:
        raise ConfigError("train.lora.dropout: must be 0 when routed experts are targeted (PEFT target_parameters)")
    if parameters and cfg.lora.dropout > 0:
        raise ConfigError("train.lora.dropout: must be 0 for the MLP groups (they go through PEFT target_parameters)")
    # A randomly initialised preset has no token meanings to keep: its embeddings and head learn in full
    # (PEFT's modules_to_save keeps a trained copy in the adapter and the original for the reference model).
    # A low-rank update of them ("embeddings" in the targets) replaces that.
    train_embeddings = (cfg.lora.train_embeddings if cfg.lora.train_embeddings is not None
                        else random_base and "embeddings" not in groups)
    gates = ["gate"] if router_params else []
    embeddings = embedding_modules(model) if "embeddings" in groups else []
    modules = [m for m in modules if m not in embeddings]
    if cfg.lora.layers is not None:  # the embeddings sit below every layer: a layer range does not remove them
        modules, parameters, gates = _in_layers(model, cfg.lora.layers, modules, parameters, gates)
    to_save = gates + (embedding_modules(model) if train_embeddings else [])
    lora = LoraConfig(
        r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout, task_type="CAUSAL_LM",
        target_modules=[*modules, *embeddings] or None, target_parameters=parameters or None,
        modules_to_save=to_save or None,
        rank_pattern={m: cfg.lora.embedding_r for m in embeddings} if cfg.lora.embedding_r else {},
    )
    peft_model = get_peft_model(model, lora)
    if experts is not None:
        mask_experts(peft_model, experts)
    return peft_model


def _in_layers(model, layers: list[int], modules: list[str], parameters: list[str],
               gates: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The targets (name suffixes) as full names inside the decoder layers ``layers`` = [from, to]: PEFT matches
    a full name exactly, so the layers outside get no adapter at all. A range outside the model is an error."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    first, last = layers
    if count is not None and last >= count:
        raise ConfigError(f"train.lora.layers: [{first}, {last}] is outside the model, whose decoder layers are "
                          f"0 to {count - 1}")
    inside = lambda name: (n := _layer_of(name)) is not None and first <= n <= last  # noqa: E731
    full_modules = [n for n, _ in model.named_modules() if inside(n) and n.rsplit(".", 1)[-1] in modules]
    full_params = [n for n, _ in model.named_parameters() if inside(n) and n.endswith(tuple(f".{p}" for p in parameters))]
    full_gates = [n for n, _ in model.named_modules() if inside(n) and n.rsplit(".", 1)[-1] in gates]
    if not full_modules and not full_params and not full_gates:
        raise ConfigError(f"train.lora.layers: no {', '.join(sorted(set(modules) | set(parameters))) or 'target'} "
                          f"in decoder layers {first} to {last}; widen the range or change train.lora.targets")
    return full_modules, full_params, full_gates


def mask_experts(peft_model, experts: dict[int, list[int]]) -> int:
    """Zero the gradients of the routed-expert LoRA factors of experts not in ``experts[layer]``. PEFT lays
    the factors out as A: [E·r, in] (expert-major rows) and B: [out, r·E] (expert-minor columns). B starts
    at zero and never gets a gradient for a masked expert, so that expert's weight delta stays exactly 0.
    Returns the number of masked tensors."""
    import torch

    total = n_experts(peft_model)
    masked = 0
    for name, module in peft_model.named_modules():
        if getattr(module, "num_experts", 1) != total or ADAPTER not in getattr(module, "lora_A", {}):
            continue
        layer = _layer_of(name)
        if layer is None or layer not in experts:
            continue
        keep = torch.zeros(total, dtype=torch.float32)
        keep[experts[layer]] = 1.0
        a, b = module.lora_A[ADAPTER].weight, module.lora_B[ADAPTER].weight
        rank = a.shape[0] // total
        a_mask = keep.repeat_interleave(rank).unsqueeze(1).to(a.device, a.dtype)  # rows e*r … e*r+r-1
        b_mask = keep.repeat(rank).unsqueeze(0).to(b.device, b.dtype)  # columns i*E + e
        a.register_hook(lambda g, m=a_mask: g * m)
        b.register_hook(lambda g, m=b_mask: g * m)
        masked += 2
    if not masked:
        raise ConfigError("train.esft: the model has no LoRA on its routed experts to select from")
    return masked


def expert_delta_norms(peft_model) -> dict[int, list[float]]:
    """Per layer, the norm of each routed expert's LoRA weight delta (summed over the fused tensors)."""
    out: dict[int, list[float]] = {}
    total = n_experts(peft_model)
    for name, module in peft_model.named_modules():
        if getattr(module, "num_experts", 1) != total or ADAPTER not in getattr(module, "lora_A", {}):
            continue
        layer = _layer_of(name)
        delta = module.get_delta_weight(ADAPTER).detach().float()
        norms = delta.reshape(total, -1).norm(dim=1).tolist()
        prev = out.get(layer, [0.0] * total)
        out[layer] = [p + n for p, n in zip(prev, norms, strict=True)]
    return out


def _layer_of(name: str) -> int | None:
    """The decoder layer a module or parameter name is in (``model.layers.<i>.…``), or None."""
    m = re.search(r"(?:^|\.)layers\.(\d+)(?:\.|$)", name)
    return int(m.group(1)) if m else None


class BalanceLoss:
    """Switch-Transformer load-balancing loss over every MoE layer, E · Σ_e f_e · P_e (f: share of routed
    tokens, P: mean router probability), collected by hooks during the training forward. transformers
    returns no aux loss for DeepSeek-V3, so a trained router would otherwise be free to collapse."""

    def __init__(self, model, weight: float):
        self.weight = weight
        self.experts = n_experts(model)
        self._terms: list[Any] = []
        self._handles = [m.register_forward_hook(self._hook) for m in routers(model).values()]

    def _hook(self, module, _inputs, output) -> None:
        import torch

        from kgtools.routing import router_outputs

        if not module.training:
            return None
        logits, _w, indices = router_outputs(output)
        if logits is None or indices is None or not logits.requires_grad:
            return None
        probs = torch.softmax(logits.float().reshape(-1, logits.shape[-1]), -1)
        share = torch.bincount(indices.reshape(-1), minlength=self.experts).float()
        share = share / share.sum().clamp_min(1)
        self._terms.append(self.experts * (share.detach() * probs.mean(0)).sum())
        return None

    def pop(self):
        terms, self._terms = self._terms, []
        if not terms:
            return None
        return self.weight * sum(terms) / len(terms)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def trainable_summary(model) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": int(trainable), "total_parameters": int(total)}
