"""The `audit` stage: a model (a train artifact or any local checkpoint) + a `kg` artifact → an `audit` artifact.

The graph's facts are asked as the synth stage asks them (its generator, one phrasing per fact, no split), a
sample per task and relation (``audit.max_per_relation``), closed-book: open questions answered by greedy
generation and graded by exact match against the answer and its synonyms, multiple choice and true/false by
which answer the model finds likelier. Nothing was held out for the model, so this is what it *knows* of the
graph, not a generalisation score; run it on a model before and after an update, or on the old and new release's
graph, to see which facts are stale.

Files: ``audit.parquet`` (one row per question: concept, relation, task, how it was asked, stated or inferred,
the gold answer, what the model said, right or not), ``report.md`` (accuracy per relation and kind, the concepts
most often wrong) and ``heatmap.png`` (relation × how asked and stated/inferred).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgtools.artifacts import Artifact, ArtifactStore, StageResult, artifact_key
from kgtools.config import AuditConfig, SynthConfig
from kgtools.errors import ArtifactError, ConfigError

STAGE = "audit"
COLUMNS = ("id", "subject", "subject_label", "relation", "relation_label", "task", "asked", "kind", "prompt", "gold",
           "said", "ok")


class AuditResult(StageResult):
    def rows(self) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        return pq.read_table(self.path / "audit.parquet").to_pylist()


def model_source(ref: str | Path, cfg: AuditConfig) -> tuple[dict[str, Any], Callable[[], tuple[Any, Any]]]:
    """(what identifies the model in the artifact key, a loader) for a train artifact or a checkpoint folder."""
    from kgtools.models import ModelSpec, load_checkpoint, load_stage_model

    path = Path(ref)
    if not path.is_dir():
        raise ConfigError(f"MODEL: {path}: no such folder (a train artifact or a Hugging Face checkpoint folder)")
    if (path / "manifest.json").is_file():
        art = Artifact.open(path)
        if not art.stage.startswith("train/"):
            raise ArtifactError(f"MODEL: {path}: a {art.stage!r} artifact; audit takes a train artifact or a checkpoint")
        return {"train": art.key}, lambda: load_stage_model(art, trust_remote_code=cfg.trust_remote_code)
    spec = ModelSpec.parse(str(path), cfg.trust_remote_code)

    def load():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                                  trust_remote_code=cfg.trust_remote_code)
        if not tokenizer.chat_template:
            raise ConfigError(f"MODEL: {path}: its tokenizer has no chat template; audit asks questions as chat turns")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        return load_checkpoint(spec.path, trust_remote_code=cfg.trust_remote_code), tokenizer

    return {"checkpoint": spec.fingerprint()}, load


def questions(cfg: AuditConfig, kg) -> list[dict[str, Any]]:
    """One question per fact and task (the first phrasing), sampled per task and relation."""
    from kgtools.evaluate.stage import sample_per_group
    from kgtools.synth.stage import generate_examples

    tasks = {t: {"enabled": t in cfg.tasks} for t in SynthConfig().tasks.active()}
    scfg = SynthConfig.model_validate({"seed": cfg.seed, "templates_per_fact": 1, "tasks": tasks})
    examples, _ = generate_examples(scfg, kg)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(examples, key=lambda e: e["id"]):
        fact = (e["task"], tuple(sorted(e["triples"])) or (e["prompt"],))
        if e["task"] not in cfg.tasks or fact in seen:
            continue
        seen.add(fact)
        by_group[(e["task"], e.get("relation") or "-")].append(e)
    return sample_per_group(by_group, cfg.max_per_relation, cfg.seed)


def audit(cfg: AuditConfig, model_ref: str | Path, kg: Artifact, store: ArtifactStore, *, force: bool = False,
          progress: Callable[[str], None] | None = None) -> AuditResult:
    if kg.stage != "kg":
        raise ArtifactError(f"--kg {kg.path}: a {kg.stage!r} artifact, not a kg artifact")
    say = progress or (lambda _msg: None)
    model_id, load = model_source(model_ref, cfg)
    config = {**cfg.hashable(), "model": model_id}
    key = artifact_key(STAGE, config, {"kg": kg.key})

    def build(tmp: Path) -> dict[str, Any]:
        return _build_into(tmp, cfg, kg, load, say, str(model_ref))

    artifact, built = store.build(STAGE, key, config, {"kg": kg.key}, build, force=force)
    return AuditResult(artifact, built)


def _build_into(tmp: Path, cfg: AuditConfig, kg: Artifact, load, say, model_name: str) -> dict[str, Any]:
    import pandas as pd

    from kgtools.config import EvalConfig
    from kgtools.evaluate.scoring import normalise
    from kgtools.evaluate.stage import evaluate_split, inference_device
    from kgtools.graph.io import load_graph

    started = time.perf_counter()
    say("reading the graph and asking its facts")
    graph = load_graph(kg.path)
    rows = questions(cfg, graph)
    if not rows:
        raise ConfigError(f"--kg {kg.path}: no question of the tasks {cfg.tasks} (audit.tasks) in this graph")
    say(f"loading the model and asking {len(rows):,} questions")
    model, tokenizer = load()
    model.to(inference_device())
    entities = {normalise(a) for ex in rows for group in ex["answer_aliases"] or [] for a in group}
    record: list[dict[str, Any]] = []
    ecfg = EvalConfig(batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens, confident=cfg.confident)
    scores = evaluate_split(model, tokenizer, rows, entities, ecfg, with_context=False, record=record)
    by_id = {ex["id"]: ex for ex in rows}
    rel_labels = graph.relation_labels()
    table = []
    for r in record:
        ex = by_id[r["id"]]
        table.append({"id": ex["id"], "subject": ex["subject"], "subject_label": graph.label(ex["subject"]),
                      "relation": ex.get("relation") or "", "relation_label": rel_labels.get(ex.get("relation") or "", ""),
                      "task": ex["task"], "asked": r["asked"], "kind": "inferred" if ex.get("inferred") else "stated",
                      "prompt": ex["prompt"], "gold": ex["answer"], "said": r["said"], "ok": bool(r["ok"])})
    df = pd.DataFrame(table, columns=list(COLUMNS))
    df.to_parquet(tmp / "audit.parquet", index=False)
    say("writing the report")
    from kgtools.audit.report import write_report

    summary = write_report(tmp, df, model_name, kg)
    return {"counts": {"questions": len(df), "right": int(df.ok.sum()), "concepts": int(df.subject.nunique()),
                       "relations": int(df.relation.nunique())},
            "accuracy": round(float(df.ok.mean()), 4), "by_asked": summary["by_asked"],
            "scores": {k: scores[k] for k in ("accuracy", "open_em", "mcq", "yes_no")},
            "model": model_name, "seconds": round(time.perf_counter() - started, 1)}
