"""A whole pipeline from one YAML file: ontology → graph → corpus → instructions → dedupe → three-stage
fine-tune → evaluation. Each stage is cached by the content hash of its config and inputs, so re-running an
unchanged pipeline builds nothing, and a change re-runs that stage and what follows. Only this module and
the CLI know every stage."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from kgtools.artifacts import Artifact, ArtifactStore
from kgtools.config import (
    TRAIN_STAGES,
    CorpusConfig,
    DedupeConfig,
    EvalConfig,
    KgConfig,
    StageConfig,
    SynthConfig,
    TrainConfig,
    parse_config,
    read_yaml,
)
from kgtools.errors import ConfigError

STAGES = ("kg", "corpus", "synth", "dedupe", *TRAIN_STAGES, "evaluate")


class PipelineConfig(StageConfig):
    """The `pipelines/*.yaml` schema: one section per stage; `corpus` and `dedupe` may be left out."""

    name: str = "pipeline"
    artifacts: Path = Field(Path("artifacts"), description="artifact store root (relative to the YAML file)")
    kg: KgConfig
    corpus: CorpusConfig | None = None
    synth: SynthConfig = SynthConfig()
    dedupe: DedupeConfig | None = None
    train: TrainConfig = TrainConfig()
    evaluate: EvalConfig | None = EvalConfig()

    @model_validator(mode="after")
    def _inputs_exist(self) -> PipelineConfig:
        problems = [f"kg.ontologies.{i}: {p}: no such file or folder" for i, p in enumerate(self.kg.ontologies) if not p.exists()]
        problems += [f"kg.catalogs.{i}: {p}: no such file" for i, p in enumerate(self.kg.catalogs) if not p.is_file()]
        if self.corpus is not None:
            problems += [f"corpus.texts.{i}: {p}: no such file or folder" for i, p in enumerate(self.corpus.texts) if not p.exists()]
        if self.evaluate is not None and self.evaluate.retention_text is not None and not self.evaluate.retention_text.is_file():
            problems.append(f"evaluate.retention_text: {self.evaluate.retention_text}: no such file")
        if self.corpus is not None and self.corpus.texts and not problems:
            from kgtools.corpus.texts import CorpusInputError, check_texts, text_files

            try:  # the first passages of each text file, so a wrong file is reported before kg runs
                check_texts(text_files(self.corpus.texts), self.corpus.text_field)
            except CorpusInputError as exc:
                problems.append(f"corpus.texts: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def active_stages(self) -> list[str]:
        skip = {"corpus"} if self.corpus is None else set()
        skip |= {"dedupe"} if self.dedupe is None else set()
        skip |= {"evaluate"} if self.evaluate is None else set()
        skip |= set(TRAIN_STAGES) - set(self.train.stages)
        return [s for s in STAGES if s not in skip]


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value and not Path(value).is_absolute():
        return os.path.normpath(base / value)
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    return value


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline file; relative paths are relative to the file. Every problem is listed
    in one error that names the file and the key."""
    from kgtools.models import PRESETS

    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline file is a mapping with the sections kg, corpus, synth, dedupe, train, evaluate")
    base = path.parent
    data = {**data}
    data["artifacts"] = _resolve(data.get("artifacts", "artifacts"), base)
    for section, keys in (("kg", ("ontologies", "catalogs")), ("corpus", ("texts",)), ("evaluate", ("retention_text",))):
        if isinstance(data.get(section), dict):
            data[section] = {**data[section], **{k: _resolve(data[section][k], base) for k in keys if k in data[section]}}
    train = data.get("train")
    if isinstance(train, dict) and isinstance(train.get("model"), str) and train["model"] not in PRESETS:
        data["train"] = {**train, "model": _resolve(train["model"], base)}
    cfg = parse_config(PipelineConfig, data, source=str(path))
    from kgtools.models import ModelSpec

    try:
        ModelSpec.parse(cfg.train.model, cfg.train.trust_remote_code)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


@dataclass
class StageRecord:
    stage: str
    artifact: Artifact
    built: bool
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


def run_pipeline(cfg: PipelineConfig, *, from_stage: str | None = None, force: bool = False,
                 progress: Callable[[str, str], None] | None = None,
                 on_stage: Callable[[StageRecord], None] | None = None) -> list[StageRecord]:
    """Run every active stage in order. ``from_stage`` rebuilds that stage and all after it; ``force``
    rebuilds everything. ``progress(stage, message)`` reports what a stage is doing."""
    from kgtools.corpus.stage import build_corpus
    from kgtools.dedupe.stage import dedupe
    from kgtools.evaluate.stage import evaluate
    from kgtools.graph.stage import build_kg
    from kgtools.synth.stage import synthesize
    from kgtools.train.stage import train_stage

    active = cfg.active_stages()
    if from_stage is not None and from_stage not in active:
        raise ConfigError(f"--from: {from_stage!r} is not a stage of this pipeline; its stages: {', '.join(active)}")
    first_forced = active.index(from_stage) if from_stage else (0 if force else len(active))
    store = ArtifactStore(cfg.artifacts)
    records: list[StageRecord] = []
    produced: dict[str, Artifact] = {}
    trained: list[Artifact] = []

    for i, stage in enumerate(active):
        say = (lambda msg, stage=stage: progress(stage, msg)) if progress else None
        rebuild = i >= first_forced
        started = time.perf_counter()
        if stage == "kg":
            result = build_kg(cfg.kg, store, force=rebuild, progress=say)
        elif stage == "corpus":
            result = build_corpus(cfg.corpus, produced["kg"], store, force=rebuild, progress=say)
        elif stage == "synth":
            result = synthesize(cfg.synth, produced["kg"], store, force=rebuild, progress=say)
        elif stage == "dedupe":
            result = dedupe(cfg.dedupe, produced["synth"], store, force=rebuild, progress=say)
        elif stage in TRAIN_STAGES:
            data = produced.get("dedupe") or produced["synth"]
            result = train_stage(cfg.train, stage, data, store, parent=trained[-1] if trained else None,
                                 corpus=produced.get("corpus"), force=rebuild, progress=say)
            trained.append(result.artifact)
        else:
            data = produced.get("dedupe") or produced["synth"]
            # The user's own pipeline file allowing remote code for training allows it for evaluation too.
            trust = cfg.evaluate.trust_remote_code or bool(cfg.train and cfg.train.trust_remote_code)
            eval_cfg = cfg.evaluate.model_copy(update={"trust_remote_code": trust})
            result = evaluate(eval_cfg, data, trained, store, force=rebuild, progress=say)
        produced[stage] = result.artifact
        record = StageRecord(stage, result.artifact, result.built, time.perf_counter() - started,
                             summarise(stage, result.artifact))
        records.append(record)
        if on_stage:
            on_stage(record)
    return records


def summarise(stage: str, artifact: Artifact) -> dict[str, Any]:
    """The few numbers of a stage worth a column in the final table."""
    m = artifact.manifest
    c = m.get("counts", {})
    if stage == "kg":
        return {"concepts": c.get("concepts"), "edges": c.get("edges")}
    if stage == "corpus":
        return {"verbalised": c.get("verbalised"), "linked": c.get("linked_kept")}
    if stage == "synth":
        return {"examples": c.get("examples"), "train": c.get("train")}
    if stage == "dedupe":
        return {"kept": c.get("kept"), "removed": c.get("removed")}
    if stage in TRAIN_STAGES:
        met = m.get("metrics", {})
        before, after = met.get("before"), met.get("after")
        if isinstance(before, dict):
            before, after = before.get("accuracy"), after.get("accuracy")
        return {"steps": c.get("steps"), "objective before": before, "after": after}
    return {"goals met": f"{sum(bool(g['met']) for g in m.get('goals', []))}/{len(m.get('goals', []))}"}
