"""The `domain_base` stage: what several domains trained on one model share before any of them trains — the
base checkpoint and, with disjoint expert sets, which routed experts each domain may train.

- A preset has no checkpoint: each domain's chain would build its own random model and train its own
  tokenizer, and adapters on different bases cannot be composed or compared. The stage builds the preset once,
  with one tokenizer trained on every domain's data, and saves both as a checkpoint (``base/``) that every
  domain's training then names as its ``train.model``. A real checkpoint is used as it is (nothing is copied).
- ``disjoint``: each domain's training examples routed through the base; in each MoE layer every routed expert
  goes to the domain that routes to it most, and each domain keeps its own experts up to ESFT's cumulative share
  (:func:`kgtools.train.routing.disjoint_experts`) — ``expert_sets.json``, given to each domain's
  ``train.esft.experts``, so one domain's adapter never touches another's experts.

``ROOT/domain_base/<key>``: ``base/`` (presets only), ``expert_sets.json`` (disjoint only), the manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgtools.artifacts import Artifact, ArtifactStore, StageResult, artifact_key, write_json_atomic
from kgtools.config import TrainConfig
from kgtools.errors import ConfigError
from kgtools.models import ModelSpec

STAGE = "domain_base"
EXPERT_MODES = ("shared", "disjoint")


def build_domain_base(cfg: TrainConfig, data: dict[str, Artifact], store: ArtifactStore, *, experts: str = "shared",
                      force: bool = False, progress: Callable[[str], None] | None = None) -> StageResult:
    """Build (or reuse) the shared base of the domains ``data`` (name → synth or dedupe artifact)."""
    if experts not in EXPERT_MODES:
        raise ConfigError(f"domain_experts: {experts!r}; allowed: {', '.join(EXPERT_MODES)}")
    if len(data) < 2:
        raise ConfigError(f"domains: one base for several domains needs two or more; got {', '.join(data) or 'none'}")
    spec = ModelSpec.parse(cfg.model, cfg.trust_remote_code)
    config: dict[str, Any] = {"base": spec.fingerprint(), "trust_remote_code": cfg.trust_remote_code, "experts": experts}
    if spec.preset is not None:
        config |= {"seed": cfg.seed, "vocab_size": cfg.vocab_size}
    if experts == "disjoint":
        config |= {"score": cfg.esft.score, "top_p": cfg.esft.threshold(), "routing_sample": cfg.routing_sample,
                   "max_length": cfg.kg_sft.max_length, "routing_seed": cfg.seed}
    inputs = {f"{name}:{a.stage}": a.key for name, a in data.items()}
    key = artifact_key(STAGE, config, inputs)
    say = progress or (lambda _msg: None)

    def build(tmp: Path) -> dict[str, Any]:
        return _build_into(tmp, cfg, spec, data, experts, say)

    artifact, built = store.build(STAGE, key, config, inputs, build, force=force)
    return StageResult(artifact, built)


def _build_into(tmp: Path, cfg: TrainConfig, spec: ModelSpec, data: dict[str, Artifact], experts: str,
                say: Callable[[str], None]) -> dict[str, Any]:
    from kgtools.train.stage import load_examples, load_tokenizer

    examples = {name: load_examples(a)["train"] for name, a in data.items()}
    counts: dict[str, Any] = {f"{name}_train_examples": len(rows) for name, rows in examples.items()}
    say(f"the tokenizer and the base model ({spec.name})")
    pooled = [ex for rows in examples.values() for ex in rows]
    tokenizer, source = load_tokenizer(cfg, None, pooled, None)  # a preset's: trained on every domain's data
    model = None
    if spec.preset is not None:
        from kgtools.models import build_preset

        special = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                   "eos_token_id": tokenizer.eos_token_id}
        model = build_preset(spec, len(tokenizer), special, cfg.seed)
        model.save_pretrained(str(tmp / "base"))
        tokenizer.save_pretrained(str(tmp / "base"))
        counts["vocab"] = len(tokenizer)
    out: dict[str, Any] = {"counts": counts, "base": "base" if spec.preset is not None else str(spec.path),
                           "tokenizer": source}
    if experts == "disjoint":
        sets = _disjoint_sets(cfg, spec, model, tokenizer, examples, say)
        write_json_atomic(tmp / "expert_sets.json", {name: {str(k): v for k, v in s.items()} for name, s in sets.items()})
        counts |= {f"{name}_experts": sum(len(v) for v in s.values()) for name, s in sets.items()}
    return out


def _disjoint_sets(cfg: TrainConfig, spec: ModelSpec, model, tokenizer, examples: dict[str, list[dict[str, Any]]],
                   say: Callable[[str], None]) -> dict[str, dict[int, list[int]]]:
    from kgtools.models import load_checkpoint
    from kgtools.routing import record_routing
    from kgtools.train.routing import disjoint_experts
    from kgtools.train.stage import routing_sequences

    if model is None:
        model = load_checkpoint(spec.path, trust_remote_code=cfg.trust_remote_code)
    stats = {}
    for name, rows in examples.items():
        seqs = routing_sequences(rows, tokenizer, cfg)
        say(f"routing {len(seqs)} of {name}'s training examples through the base")
        stats[name] = record_routing(model, seqs, pad_id=tokenizer.pad_token_id)
    return disjoint_experts(stats, score=cfg.esft.score, top_p=cfg.esft.threshold())


def domain_configs(cfg: TrainConfig, base: Artifact, names: list[str]) -> dict[str, TrainConfig]:
    """Each domain's training settings on the shared ``base``: its checkpoint as ``model`` (a preset's saved
    one) and, with disjoint sets, ESFT on that domain's experts only."""
    # absolute: the train artifacts name their base in their config, read later from any working folder
    model = str((base.path / "base").resolve()) if (base.path / "base").is_dir() else cfg.model
    sets_file = base.path / "expert_sets.json"
    sets = json.loads(sets_file.read_text("utf-8")) if sets_file.is_file() else None
    out = {}
    for name in names:
        update: dict[str, Any] = {"model": model}
        if sets is not None:
            given = {int(k): v for k, v in sets[name].items()}
            update["esft"] = cfg.esft.model_copy(update={"enabled": True, "experts": given})
        out[name] = cfg.model_copy(update=update)
    return out
