"""The `eval_domains` stage: several domains' train chains on one base × each domain's test split → the
interference matrix (the base, each domain's model and the composed model, each asked every domain's questions),
retention, and the routing overlap between domains (which experts each domain's tokens use, per MoE layer, before
training and with every domain composed).

Read the matrix by rows: a domain's own column is what it learned; its other columns minus the base row are what its
adapter did to the other domains (interference); the composed row against each domain's own row is what composition
keeps (the issue's goal: ≥ 0.9× on every domain)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kgtools.artifacts import (
    Artifact,
    ArtifactStore,
    StageResult,
    artifact_key,
    file_digest,
    write_json_atomic,
)
from kgtools.chat import encode_prompt, prompt_messages
from kgtools.config import EvalConfig
from kgtools.errors import ConfigError
from kgtools.evaluate import probe
from kgtools.evaluate.stage import _entity_names, _sample, evaluate_split, inference_device, retention_path
from kgtools.progress import Steps

STAGE = "eval_domains"
MEASURES = ("mcq", "open_em", "accuracy")
ROUTING_SAMPLE = 64  # prompts per domain whose expert routing is compared


def evaluate_domains(cfg: EvalConfig, chains: dict[str, Artifact], data: dict[str, Artifact], store: ArtifactStore, *,
                     force: bool = False, progress: Callable[[Any], None] | None = None) -> StageResult:
    """Build (or reuse) the cross-domain evaluation of ``chains`` (domain → its last train artifact) on ``data``
    (domain → its synth or dedupe artifact), on the first of ``cfg.splits`` (default ``test_paraphrase``)."""
    if len(chains) < 2 or set(chains) != set(data):
        raise ConfigError(f"eval_domains: needs two or more domains, each with a train artifact and its data; got "
                          f"train for {', '.join(chains) or 'none'} and data for {', '.join(data) or 'none'}")
    for name, d in data.items():
        if d.stage not in ("synth", "dedupe"):
            raise ConfigError(f"{d.path}: domain {name!r}: a {d.stage!r} artifact; give its synth or dedupe artifact")
    text = retention_path(cfg)
    inputs = {**{f"{n}:{a.stage}": a.key for n, a in chains.items()}, **{f"{n}:{d.stage}": d.key for n, d in data.items()},
              "retention": file_digest(text)}
    key = artifact_key(STAGE, cfg.hashable(), inputs)
    say = progress or (lambda _report: None)

    def build(tmp: Path) -> dict[str, Any]:
        return _build_into(tmp, cfg, chains, data, text, say)

    artifact, built = store.build(STAGE, key, cfg.model_dump(mode="json"), inputs, build, force=force)
    return StageResult(artifact, built)


def _build_into(tmp: Path, cfg: EvalConfig, chains: dict[str, Artifact], data: dict[str, Artifact], text: Path,
                say: Callable[[Any], None]) -> dict[str, Any]:
    from datasets import load_from_disk

    from kgtools.models import load_domains, use_domains

    started = time.perf_counter()
    split = (cfg.splits or ["test_paraphrase"])[0]
    names = list(chains)
    rows, entities = {}, set()
    for name in names:
        dd = load_from_disk(str(data[name].path / "dataset"))
        if split not in dd:
            raise ConfigError(f"{data[name].path}: domain {name!r} has no split {split!r} (has: {', '.join(dd)})")
        rows[name] = _sample(dd[split].to_list(), cfg)
        entities |= _entity_names(dd)
    say("loading the base and every domain's adapters")
    model, tokenizer = load_domains(chains, trust_remote_code=cfg.trust_remote_code)
    model.to(inference_device())
    models: list[tuple[str, list[str] | None]] = [("base", None), *((n, [n]) for n in names), ("composed", names)]
    retention, matrix, routing = {}, {}, {}
    total, done = len(models) * sum(len(r) for r in rows.values()), 0
    for label, active in models:
        if active is not None:
            use_domains(model, active)
        with model.disable_adapter() if active is None else contextlib.nullcontext():
            matrix[label] = {}
            for name in names:
                say(f"asking the {label} model {name}'s {split}")
                r = evaluate_split(model, tokenizer, rows[name], entities, cfg, with_context=False)
                matrix[label][name] = {"mcq": r["mcq"]["accuracy"], "open_em": r["open_em"],
                                       "accuracy": r["accuracy"], "n": len(rows[name])}
                done += len(rows[name])
                say(Steps("eval_domains", done, total, unit="example"))
            retention[label] = probe.perplexity(model, tokenizer, text.read_text("utf-8"))
            if label in ("base", "composed"):
                routing[label] = _expert_shares(model, tokenizer, rows)
    metrics = {"split": split, "domains": names, "matrix": matrix, "retention_perplexity": retention,
               "interference": _interference(matrix, names), "composition": _composition(matrix, names),
               "routing_overlap": {label: _overlap(shares) for label, shares in routing.items()},
               "seconds": round(time.perf_counter() - started, 1)}
    write_json_atomic(tmp / "metrics.json", metrics)
    write_json_atomic(tmp / "expert_shares.json", routing)
    _heatmap(tmp / "routing_overlap.png", routing, names)
    (tmp / "report.md").write_text(_report(metrics), "utf-8")
    return {"counts": {"domains": len(names), **{f"{n}_examples": len(rows[n]) for n in names}},
            "composition": metrics["composition"], "interference": metrics["interference"]}


def _interference(matrix: dict[str, dict[str, dict[str, Any]]], names: list[str]) -> dict[str, dict[str, Any]]:
    """For each domain's model and each other domain: its accuracies there minus the base model's."""
    out: dict[str, dict[str, Any]] = {}
    for m in names:
        out[m] = {d: {k: _minus(matrix[m][d][k], matrix["base"][d][k]) for k in MEASURES} for d in names if d != m}
    return out


def _composition(matrix: dict[str, dict[str, dict[str, Any]]], names: list[str]) -> dict[str, dict[str, Any]]:
    """Per domain: the composed model's accuracy on it over the domain's own model's (the goal: ≥ 0.9)."""
    return {d: {k: (None if not matrix[d][d][k] else round(matrix["composed"][d][k] / matrix[d][d][k], 4))
                for k in MEASURES} for d in names}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def _expert_shares(model, tokenizer, rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, list[float]]]:
    """Per domain, per MoE layer: each expert's share of the routed tokens of the domain's prompts."""
    from kgtools.routing import record_routing

    out = {}
    for name, examples in rows.items():
        seqs = [encode_prompt(tokenizer, prompt_messages(ex, with_context=False)) for ex in examples[:ROUTING_SAMPLE]]
        stats = record_routing(model, seqs, pad_id=tokenizer.pad_token_id or 0)
        out[name] = {str(layer): [round(float(x), 6) for x in stats.share(layer)] for layer in sorted(stats.counts)}
    return out


def _overlap(shares: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Per pair of domains and MoE layer: Σ_e min(share_a, share_b), 1 = the same experts in the same proportions,
    0 = no expert in common."""
    names = list(shares)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            out[f"{a}|{b}"] = {layer: round(float(np.minimum(shares[a][layer], shares[b][layer]).sum()), 4)
                               for layer in shares[a]}
    return out


def _heatmap(path: Path, routing: dict[str, dict[str, dict[str, list[float]]]], names: list[str]) -> None:
    """One panel per model (base, composed) and MoE layer: domains × experts, token share."""
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    labels = list(routing)
    layers = list(next(iter(routing[labels[0]].values())))
    fig = Figure(figsize=(3.2 * len(layers), 1.2 + 0.9 * len(labels) * len(names) / 2))
    axes = fig.subplots(len(labels), len(layers), squeeze=False)
    for r, label in enumerate(labels):
        for c, layer in enumerate(layers):
            grid = np.array([routing[label][n][layer] for n in names])
            ax = axes[r][c]
            ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0)
            ax.set_yticks(range(len(names)), names)
            ax.set_xlabel("expert")
            ax.set_title(f"{label}, layer {layer}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _report(m: dict[str, Any]) -> str:
    names = m["domains"]
    lines = [f"# Several domains on one base ({m['split']})", "",
             "Rows: the model asked; columns: whose questions. Multiple choice / open exact match.", "",
             "| model | " + " | ".join(names) + " | retention ppl |", "|---|" + "---:|" * (len(names) + 1)]
    for label in ("base", *names, "composed"):
        row = m["matrix"][label]
        cells = [f"{_f(row[d]['mcq'])} / {_f(row[d]['open_em'])}" for d in names]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {m['retention_perplexity'][label]:.4g} |")
    lines += ["", "## Composition keeps (composed ÷ the domain's own model)", ""]
    lines += [f"- {d}: multiple choice {_f(v['mcq'])}, open exact match {_f(v['open_em'])}" for d, v in m["composition"].items()]
    lines += ["", "## Interference (a domain's model on another domain, minus the base)", ""]
    lines += [f"- {a} on {d}: multiple choice {_f(v['mcq'], sign=True)}, open exact match {_f(v['open_em'], sign=True)}"
              for a, other in m["interference"].items() for d, v in other.items()]
    lines += ["", "## Routing overlap (Σ min of the two domains' expert shares, per MoE layer)", ""]
    lines += [f"- {label}, {pair}: " + ", ".join(f"layer {layer} {v:.3f}" for layer, v in layers.items())
              for label, pairs in m["routing_overlap"].items() for pair, layers in pairs.items()]
    lines += ["", "![routing](routing_overlap.png)", ""]
    return "\n".join(lines)


def _f(x: float | None, sign: bool = False) -> str:
    return "–" if x is None else (f"{x:+.3f}" if sign else f"{x:.3f}")


__all__ = ["evaluate_domains"]
