"""Expert-routing statistics, shared by training (ESFT's expert selection, the routing before and after a stage)
and evaluation (routing drift of an update): forward hooks on the routers record, per layer, each expert's share
of the routed tokens, its mean gate score and the routing entropy."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgtools.models import n_experts, routers


def router_outputs(output: Any) -> tuple[Any, Any, Any]:
    """(logits, top-k weights, top-k indices) from a router's output, whatever its tuple order."""
    import torch

    items = list(output) if isinstance(output, (tuple, list)) else [output]
    indices = next((t for t in items if isinstance(t, torch.Tensor) and not t.is_floating_point()), None)
    floats = [t for t in items if isinstance(t, torch.Tensor) and t.is_floating_point()]
    logits = floats[0] if floats else None
    weights = next((t for t in floats[1:] if indices is not None and t.shape == indices.shape), None)
    return logits, weights, indices


@dataclass
class RoutingStats:
    """Accumulated counts: per layer, tokens per expert, summed gate score per expert, summed entropy."""

    experts: int
    counts: dict[int, np.ndarray] = field(default_factory=dict)
    gate: dict[int, np.ndarray] = field(default_factory=dict)
    entropy: dict[int, float] = field(default_factory=dict)
    tokens: dict[int, int] = field(default_factory=dict)

    def add(self, layer: int, logits, weights, indices, keep) -> None:
        import torch

        with torch.no_grad():  # called from hooks during training too: nothing here joins the graph
            self._add(layer, logits, weights, indices, keep)

    def _add(self, layer: int, logits, weights, indices, keep) -> None:
        import torch

        idx = indices.reshape(-1, indices.shape[-1])
        if keep is not None:
            idx = idx[keep]
        counts = torch.bincount(idx.reshape(-1), minlength=self.experts).cpu().numpy()
        self.counts[layer] = self.counts.get(layer, 0) + counts
        self.tokens[layer] = self.tokens.get(layer, 0) + idx.shape[0]
        if weights is not None:
            w = weights.reshape(-1, weights.shape[-1]).float()
            if keep is not None:
                w = w[keep]
            dense = torch.zeros(w.shape[0], self.experts, dtype=torch.float32, device=w.device)
            dense.scatter_add_(1, idx, w)
            dense = dense / dense.sum(-1, keepdim=True).clamp_min(1e-9)
            self.gate[layer] = self.gate.get(layer, 0) + dense.sum(0).cpu().numpy()
        if logits is not None:
            lg = logits.reshape(-1, logits.shape[-1]).float()
            if keep is not None:
                lg = lg[keep]
            p = torch.softmax(lg, -1)
            ent = -(p * p.clamp_min(1e-12).log()).sum(-1) / math.log(self.experts)
            self.entropy[layer] = self.entropy.get(layer, 0.0) + float(ent.sum())

    def share(self, layer: int) -> np.ndarray:
        """Token-selection share per expert (sums to 1 over the layer's experts)."""
        c = self.counts[layer].astype(float)
        return c / max(c.sum(), 1.0)

    def gate_score(self, layer: int) -> np.ndarray:
        """Mean normalised gate score per expert (sums to 1 over the layer's experts)."""
        g = np.asarray(self.gate.get(layer, self.counts[layer]), dtype=float)
        return g / max(g.sum(), 1e-12)

    def rows(self, when: str) -> list[dict[str, Any]]:
        out = []
        for layer in sorted(self.counts):
            share = self.share(layer)
            load_entropy = float(-(share[share > 0] * np.log(share[share > 0])).sum() / math.log(self.experts))
            router_entropy = self.entropy.get(layer, float("nan")) / max(self.tokens[layer], 1)
            gate = self.gate_score(layer)
            for e in range(self.experts):
                out.append({"when": when, "layer": layer, "expert": e, "tokens": int(self.counts[layer][e]),
                            "share": float(share[e]), "gate_score": float(gate[e]),
                            "load_entropy": load_entropy, "router_entropy": router_entropy})
        return out


class RoutingRecorder:
    """Context manager: while open, every router forward adds to :attr:`stats` (padding tokens excluded
    when :meth:`set_mask` is given the batch's token mask). The hooks return ``None`` so routing is unchanged."""

    def __init__(self, model):
        self.model = model
        self.stats = RoutingStats(n_experts(model))
        self._mask = None
        self._handles: list[Any] = []

    def set_mask(self, mask) -> None:
        self._mask = None if mask is None else mask.reshape(-1)

    def __enter__(self) -> RoutingRecorder:
        for layer, module in routers(self.model).items():
            self._handles.append(module.register_forward_hook(self._hook(layer)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, layer: int):
        def hook(_module, _inputs, output) -> None:
            logits, weights, indices = router_outputs(output)
            if indices is None:  # routers that return only logits: take the top-k ourselves
                import torch

                k = getattr(self.model.config, "num_experts_per_tok", 2)
                weights, indices = torch.topk(torch.softmax(logits.float(), -1), k, dim=-1)
            keep = self._mask if self._mask is not None and self._mask.numel() == indices.reshape(-1, indices.shape[-1]).shape[0] else None
            self.stats.add(layer, logits, weights, indices, keep)
            return None

        return hook


def record_routing(model, sequences: Iterable[list[int]], *, batch_size: int = 16, pad_id: int = 0) -> RoutingStats:
    """Routing statistics of ``model`` over token ``sequences`` (eval mode, no gradients)."""
    import torch

    seqs = list(sequences)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with RoutingRecorder(model) as rec, torch.no_grad():
        for start in range(0, len(seqs), batch_size):
            chunk = seqs[start:start + batch_size]
            width = max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, s in enumerate(chunk):
                ids[i, : len(s)] = torch.tensor(s)
                mask[i, : len(s)] = 1
            rec.set_mask(mask.bool().to(device))
            model(input_ids=ids.to(device), attention_mask=mask.to(device))
    model.train(was_training)
    return rec.stats
