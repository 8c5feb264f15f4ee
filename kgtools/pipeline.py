"""A whole pipeline from one YAML file: ontology → graph → corpus → instructions → dedupe → three-stage
fine-tune → evaluation. Each stage is cached by the content hash of its config and inputs, so re-running an
unchanged pipeline builds nothing, and a change re-runs that stage and what follows. Only this module and
the CLI know every stage."""

from __future__ import annotations

import graphlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

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
    key_error,
    parse_config,
    read_yaml,
)
from kgtools.errors import ConfigError

STAGES = ("kg", "corpus", "synth", "dedupe", *TRAIN_STAGES, "evaluate")
DOMAIN_STAGES = ("kg", "synth", "dedupe", "domain_base", *TRAIN_STAGES, "evaluate", "eval_domains")
UPDATE_BASELINES = ("no_replay", "retrain")
DOMAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*(_[A-Za-z0-9-]+)*$")


class DomainSection(StageConfig):
    """One domain of a pipeline with several (`domains:`): its ontologies, and its own synth settings over the
    pipeline's `synth` section where they differ. Every domain trains on one shared base."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kg: KgConfig
    synth: SynthConfig | None = Field(None, description="this domain's synth settings (merged over the pipeline's)")
    from_: str | None = Field(None, alias="from", description=(
        "transfer: another domain's name; this domain's first stage starts from that domain's tuned model "
        "(train.lora.layers keeps the lower layers frozen)"))


class UpdateSection(StageConfig):
    """A pipeline's knowledge updates: the later releases of the ontology its `kg` section names, each moved into
    the model tuned on the one before (kg → kg_diff → synth_update → train from the previous model → evaluate)."""

    releases: list[list[Path]] = Field(min_length=1, description="each later release's ontology files, oldest first")
    base: Path | None = Field(None, description=(
        "the model to update: a train artifact folder tuned on the release `kg` names (the pipeline's own synth, "
        "train and evaluate are then skipped), or a pipeline YAML, run or reused, whose `kg` and last train stage "
        "are used (this pipeline's `kg` section then only says how later releases are read); default: this "
        "pipeline's own last train stage"))
    stages: list[str] = Field(default_factory=lambda: ["kg_sft", "reinforce"], min_length=1,
                              description="the training stages of each update, kg_sft first")
    train: TrainConfig | None = Field(None, description="the update's training settings, over the pipeline's `train`")
    baselines: list[str] = Field(default_factory=list, description=(
        "also train and evaluate, per release: no_replay (the changed facts without replay, from the same old "
        "model), retrain (the whole chain from the base model on the new release)"))

    @field_validator("releases", mode="before")
    @classmethod
    def _one_file_is_a_release(cls, value: Any) -> Any:
        return [[r] if isinstance(r, str | Path) else r for r in value] if isinstance(value, list) else value

    @field_validator("stages")
    @classmethod
    def _kg_sft_first(cls, value: list[str]) -> list[str]:
        if value[0] != "kg_sft" or any(s not in TRAIN_STAGES for s in value) or len(set(value)) != len(value):
            raise ValueError(f"an update trains kg_sft first, then any of {', '.join(TRAIN_STAGES[1:])}; got {value}")
        return value

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, value: list[str]) -> list[str]:
        bad = sorted(set(value) - set(UPDATE_BASELINES))
        if bad:
            raise ValueError(f"unknown baseline {bad[0]!r}; allowed: {', '.join(UPDATE_BASELINES)}")
        return value


class PipelineConfig(StageConfig):
    """The `pipelines/*.yaml` schema: one section per stage; `corpus` and `dedupe` may be left out."""

    name: str = "pipeline"
    artifacts: Path = Field(Path("artifacts"), description="artifact store root (relative to the YAML file)")
    kg: KgConfig | None = Field(None, description="the ontologies (required unless `domains` names several)")
    domains: dict[str, DomainSection] | None = Field(None, description=(
        "several domains on one model, each with its own kg (and synth): one shared base, one adapter chain per "
        "domain, each domain's evaluation and the cross-domain one (eval_domains)"))
    domain_experts: str = Field("shared", description=(
        "with domains: shared (every domain's LoRA may use every expert) or disjoint (each MoE layer's routed "
        "experts split between the domains by their routing on the base; ESFT on each domain's own)"))
    corpus: CorpusConfig | None = None
    synth: SynthConfig = SynthConfig()
    dedupe: DedupeConfig | None = None
    train: TrainConfig = TrainConfig()
    evaluate: EvalConfig | None = EvalConfig()
    update: UpdateSection | None = None

    @model_validator(mode="after")
    def _domains(self) -> PipelineConfig:
        """A pipeline reads one ontology (`kg`) or several domains (`domains`), and the settings that only a
        several-domain pipeline has are checked here, before anything runs."""
        if self.domains is None:
            if self.kg is None:
                raise key_error("kg", "required: the ontologies to read (or `domains`, each with its own kg)")
            if self.domain_experts != "shared":
                raise key_error("domain_experts", "only with `domains`")
            return self
        if self.kg is not None:
            raise key_error("kg", "give the ontologies under each domain (domains.<name>.kg), not both")
        for what in ("update", "corpus"):
            if getattr(self, what) is not None:
                raise key_error(what, "not supported together with `domains` yet; run it as its own pipeline")
        if len(self.domains) < 2:
            raise key_error("domains", "name two or more domains (one domain is a plain pipeline with `kg`)")
        for name, d in self.domains.items():
            if not DOMAIN_NAME.match(name):
                raise key_error(f"domains.{name}", "a domain's name is letters, digits, - and single _, starting with "
                                "a letter (it names adapters and artifacts)")
            if d.from_ is not None and d.from_ not in self.domains:
                raise key_error(f"domains.{name}.from", f"{d.from_!r} is not a domain of this pipeline "
                                f"({', '.join(self.domains)})")
        try:
            self.domain_order()
        except graphlib.CycleError as exc:
            raise key_error("domains", f"`from` goes round in a circle: {' → '.join(exc.args[1])}") from None
        if self.domain_experts not in ("shared", "disjoint"):
            raise key_error("domain_experts", f"{self.domain_experts!r}; allowed: shared, disjoint")
        if self.domain_experts == "disjoint" and "routed_experts" not in self.train.lora.targets:
            raise key_error("domain_experts", "disjoint expert sets need LoRA on the routed experts; add "
                            "'routed_experts' to train.lora.targets")
        if self.train.from_ is not None:
            raise key_error("train.from", "with `domains`, say which domain starts from which (domains.<name>.from)")
        return self

    @model_validator(mode="after")
    def _stage_order(self) -> PipelineConfig:
        """Stages that need an earlier stage's adapter (distill, reinforce) without it fail here, before kg runs."""
        from kgtools.train.stage import check_order

        if self.train.from_ is None and (self.update is None or self.update.base is None):
            try:
                check_order(self.train.stages, None)
            except ConfigError as exc:
                raise key_error("train.stages", str(exc).removeprefix("train.stages: ")) from None
        return self

    def domain_order(self) -> list[str]:
        """The domains in training order: a domain after the one it transfers from, else as written."""
        assert self.domains is not None
        order = graphlib.TopologicalSorter({n: [d.from_] if d.from_ else [] for n, d in self.domains.items()})
        return list(order.static_order())

    @model_validator(mode="after")
    def _inputs_exist(self) -> PipelineConfig:
        kgs = [(f"domains.{n}.kg", d.kg) for n, d in (self.domains or {}).items()] + ([("kg", self.kg)] if self.kg else [])
        problems = [f"{where}.ontologies.{i}: {p}: no such file or folder" for where, kg in kgs
                    for i, p in enumerate(kg.ontologies) if not p.exists()]
        problems += [f"{where}.catalogs.{i}: {p}: no such file" for where, kg in kgs
                     for i, p in enumerate(kg.catalogs) if not p.is_file()]
        if self.update is not None:
            problems += [f"update.releases.{i}.{j}: {p}: no such file or folder"
                         for i, files in enumerate(self.update.releases) for j, p in enumerate(files) if not p.exists()]
            if self.update.base is not None and not self.update.base.exists():
                problems.append(f"update.base: {self.update.base}: no such train artifact or pipeline file")
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
        if self.domains is not None:
            skip = {"dedupe"} if self.dedupe is None else set()
            skip |= {"evaluate", "eval_domains"} if self.evaluate is None else set()
            skip |= set(TRAIN_STAGES) - set(self.train.stages)
            return [s for s in DOMAIN_STAGES if s not in skip]
        if self.update is not None and self.update.base is not None:
            # the model to update comes from elsewhere: a train artifact, tuned on the release `kg` names, or a
            # pipeline file, whose own kg is used
            return [] if self.update.base.is_file() else ["kg"]
        skip = {"corpus"} if self.corpus is None else set()
        skip |= {"dedupe"} if self.dedupe is None else set()
        skip |= {"evaluate"} if self.evaluate is None else set()
        skip |= set(TRAIN_STAGES) - set(self.train.stages)
        return [s for s in STAGES if s not in skip]


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto ``base`` (mappings merge key by key; anything else replaces)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _resolve(value: Any, base: Path) -> Any:
    """A path relative to the pipeline file; ``$VAR`` / ``${VAR}`` from the environment first (a shared data folder)."""
    if isinstance(value, str) and value:
        value = os.path.expandvars(value)
        unset = re.search(r"\$\{?(\w+)", value)
        if unset:
            raise ConfigError(f"{value}: the environment variable {unset.group(1)} is not set")
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
    for section, keys in (("kg", ("ontologies", "catalogs")), ("corpus", ("texts",)), ("evaluate", ("retention_text",)),
                          ("update", ("releases", "base"))):
        if isinstance(data.get(section), dict):
            try:
                data[section] = {**data[section], **{k: _resolve(data[section][k], base) for k in keys if k in data[section]}}
            except ConfigError as exc:
                raise ConfigError(f"{path}: {section}: {exc}") from None
    domains = data.get("domains")
    if isinstance(domains, dict):
        data["domains"] = {name: _domain_section(path, name, d, base, data.get("synth")) for name, d in domains.items()}
    train = data.get("train")
    if isinstance(train, dict) and isinstance(train.get("model"), str) and train["model"] not in PRESETS:
        data["train"] = {**train, "model": _resolve(train["model"], base)}
    update = data.get("update")
    if isinstance(update, dict) and isinstance(update.get("train"), dict):  # over the pipeline's own train section
        data["update"] = {**update, "train": _merged(data.get("train") if isinstance(data.get("train"), dict) else {},
                                                     update["train"])}
    cfg = parse_config(PipelineConfig, data, source=str(path))
    from kgtools.models import ModelSpec

    try:
        ModelSpec.parse(cfg.train.model, cfg.train.trust_remote_code)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def _domain_section(path: Path, name: Any, section: Any, base: Path, synth: Any) -> Any:
    """A domain's section with its paths resolved and its synth settings merged over the pipeline's."""
    if not isinstance(section, dict):
        return section  # validation names it
    out = {**section}
    if isinstance(section.get("kg"), dict):
        try:
            out["kg"] = {**section["kg"], **{k: _resolve(section["kg"][k], base) for k in ("ontologies", "catalogs")
                                             if k in section["kg"]}}
        except ConfigError as exc:
            raise ConfigError(f"{path}: domains.{name}.kg: {exc}") from None
    if isinstance(synth, dict) and isinstance(section.get("synth"), dict):
        out["synth"] = _merged(synth, section["synth"])
    return out


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
    if cfg.domains is not None:
        return _run_domains(cfg, active, from_stage=from_stage, force=force, progress=progress, on_stage=on_stage)
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
    if cfg.update is not None:
        records += _run_updates(cfg, store, produced.get("kg"), trained, produced.get("corpus"), force=force,
                                progress=progress, on_stage=on_stage)
    return records


def _recorder(records: list[StageRecord], progress, on_stage) -> Callable[..., Artifact]:
    """``step(name, kind, run)``: run one stage (``run(say)`` → its result), record it, report it."""

    def step(name: str, kind: str, run: Callable[[Callable[[str], None] | None], Any]) -> Artifact:
        say = (lambda msg: progress(name, msg)) if progress else None
        started = time.perf_counter()
        result = run(say)
        record = StageRecord(name, result.artifact, result.built, time.perf_counter() - started,
                             summarise(kind, result.artifact))
        records.append(record)
        if on_stage:
            on_stage(record)
        return result.artifact

    return step


def _run_domains(cfg: PipelineConfig, active: list[str], *, from_stage: str | None, force: bool, progress,
                 on_stage) -> list[StageRecord]:
    """Several domains on one model: each domain's kg → synth (→ dedupe); the shared base (domain_base); each
    domain's train chain on it (after the domain it transfers from, if any) and its own evaluation; then the
    cross-domain evaluation of all of them (eval_domains). ``--from STAGE`` rebuilds that stage of every domain
    and everything after it."""
    from kgtools.dedupe.stage import dedupe
    from kgtools.evaluate.domains import evaluate_domains
    from kgtools.evaluate.stage import evaluate
    from kgtools.graph.stage import build_kg
    from kgtools.synth.stage import synthesize
    from kgtools.train.domains import build_domain_base, domain_configs
    from kgtools.train.stage import train_stage

    assert cfg.domains is not None
    first = active.index(from_stage) if from_stage else (0 if force else len(active))
    again = {stage: active.index(stage) >= first for stage in active}
    store = ArtifactStore(cfg.artifacts)
    records: list[StageRecord] = []
    step = _recorder(records, progress, on_stage)
    data: dict[str, Artifact] = {}
    for name, d in cfg.domains.items():
        kg = step(f"{name}/kg", "kg", lambda say, d=d: build_kg(d.kg, store, force=again["kg"], progress=say))
        synth_cfg = d.synth or cfg.synth
        data[name] = step(f"{name}/synth", "synth", lambda say, kg=kg, s=synth_cfg: synthesize(
            s, kg, store, force=again["synth"], progress=say))
        if cfg.dedupe is not None:
            data[name] = step(f"{name}/dedupe", "dedupe", lambda say, syn=data[name]: dedupe(
                cfg.dedupe, syn, store, force=again["dedupe"], progress=say))
    base = step("domain_base", "domain_base", lambda say: build_domain_base(
        cfg.train, data, store, experts=cfg.domain_experts, force=again["domain_base"], progress=say))
    train_cfgs = domain_configs(cfg.train, base, list(cfg.domains))
    chains: dict[str, list[Artifact]] = {}
    eval_cfg = None
    if cfg.evaluate is not None:
        trust = cfg.evaluate.trust_remote_code or cfg.train.trust_remote_code
        eval_cfg = cfg.evaluate.model_copy(update={"trust_remote_code": trust})
    for name in cfg.domain_order():
        source = cfg.domains[name].from_
        tcfg = train_cfgs[name]
        parent = None
        if source is not None:  # transfer: the first stage starts from that domain's tuned model
            parent = chains[source][-1]
            tcfg = tcfg.model_copy(update={"from_": str(parent.path)})
        chains[name] = []
        for stage in cfg.train.stages:
            chains[name].append(step(f"{name}/{stage}", stage, lambda say, stage=stage, tcfg=tcfg, parent=parent, name=name: train_stage(
                tcfg, stage, data[name], store, parent=parent, force=again[stage], progress=say)))
            parent = chains[name][-1]
        if eval_cfg is not None:
            step(f"{name}/evaluate", "evaluate", lambda say, name=name: evaluate(
                eval_cfg, data[name], chains[name], store, force=again["evaluate"], progress=say))
    if eval_cfg is not None:
        step("eval_domains", "eval_domains", lambda say: evaluate_domains(
            eval_cfg, {n: c[-1] for n, c in chains.items()}, data, store, force=again["eval_domains"], progress=say))
    return records


def _base_model(cfg: PipelineConfig, kg: Artifact | None, trained: list[Artifact], progress,
                on_stage) -> tuple[Artifact, Artifact, list[StageRecord]]:
    """(the kg of the release the model was tuned on, the model's train artifact, the records of the pipeline that
    trained it where the update names one) that the first update starts from."""
    base = cfg.update.base
    if base is None:
        if not trained:
            raise ConfigError("update: no model to update — this pipeline trains no stage (train.stages) and "
                              "update.base names none")
        return kg, trained[-1], []
    if base.is_file():  # the pipeline it updates: run (or reuse) it
        sub = load_pipeline(base)
        sub_records = run_pipeline(sub, progress=progress, on_stage=on_stage)
        sub_trained = [r.artifact for r in sub_records if r.stage in TRAIN_STAGES]
        if not sub_trained:
            raise ConfigError(f"update.base: {base}: that pipeline trains no stage")
        return next(r.artifact for r in sub_records if r.stage == "kg"), sub_trained[-1], sub_records
    art = Artifact.open(base)
    if not art.stage.startswith("train/"):
        raise ConfigError(f"update.base: {base}: a {art.stage!r} artifact; name a train artifact or a pipeline file")
    return kg, art, []


def _run_updates(cfg: PipelineConfig, store: ArtifactStore, kg: Artifact | None, trained: list[Artifact],
                 corpus: Artifact | None, *, force: bool, progress, on_stage) -> list[StageRecord]:
    """Each release in turn: its kg, the diff from the previous release, update data, the update's training
    from the previous model (and the baselines), and the update evaluation."""
    from kgtools.evaluate.stage import evaluate
    from kgtools.graph.stage import build_kg
    from kgtools.synth.stage import synthesize, synthesize_update
    from kgtools.train.stage import train_stage
    from kgtools.update.stage import build_diff

    u = cfg.update
    train_cfg = u.train or cfg.train
    records: list[StageRecord] = []
    step = _recorder(records, progress, on_stage)

    def chain(tag: str, stages: list[str], data: Artifact, parent: Artifact | None, tcfg: TrainConfig) -> list[Artifact]:
        out = []
        for name in stages:  # a retrain from scratch reads the corpus as the pipeline's own chain did
            out.append(step(f"{tag}/{name}", name, lambda say, name=name, parent=parent: train_stage(
                tcfg, name, data, store, parent=parent, corpus=corpus if parent is None else None, force=force,
                progress=say)))
            parent = out[-1]
        return out

    eval_cfg = None  # the update's own splits, every model closed-book
    if cfg.evaluate is not None:
        trust = cfg.evaluate.trust_remote_code or cfg.train.trust_remote_code
        eval_cfg = cfg.evaluate.model_copy(update={"trust_remote_code": trust, "splits": None, "with_context": False})
    old_kg, model, earlier = _base_model(cfg, kg, trained, progress, on_stage)
    records[:0] = earlier
    for i, files in enumerate(u.releases, 1):
        tag = f"@{i}"
        new_kg = step(f"kg{tag}", "kg", lambda say, files=files: build_kg(cfg.kg.model_copy(update={"ontologies": files}),
                                                                   store, force=force, progress=say))
        diff = step(f"kg_diff{tag}", "kg_diff", lambda say, old=old_kg, new=new_kg: build_diff(old, new, store, force=force))
        data = step(f"synth_update{tag}", "synth_update", lambda say, diff=diff: synthesize_update(cfg.synth, diff, store, force=force,
                                                                                  progress=say))
        updated = chain(f"update{tag}", u.stages, data, model, train_cfg)
        stages, labels = [model, *updated], ["before", *(f"update/{n}" for n in u.stages)]
        if "no_replay" in u.baselines:
            plain = cfg.synth.model_copy(update={"update": cfg.synth.update.model_copy(update={"replay": 0.0})})
            lone = step(f"synth_update{tag}/no_replay", "synth_update", lambda say, diff=diff, plain=plain: synthesize_update(
                plain, diff, store, force=force, progress=say))
            stages += chain(f"no_replay{tag}", u.stages, lone, model, train_cfg)
            labels += [f"no_replay/{n}" for n in u.stages]
        if "retrain" in u.baselines:
            fresh = step(f"synth{tag}/retrain", "synth", lambda say, new_kg=new_kg: synthesize(cfg.synth, new_kg, store,
                                                                                       force=force, progress=say))
            stages += chain(f"retrain{tag}", list(cfg.train.stages), fresh, None, cfg.train)
            labels += [f"retrain/{n}" for n in cfg.train.stages]
        if eval_cfg is not None:
            step(f"evaluate{tag}", "evaluate", lambda say, data=data, stages=stages, labels=labels: evaluate(
                eval_cfg, data, stages, store, force=force, progress=say, labels=labels))
        old_kg, model = new_kg, updated[-1]
    return records


def summarise(stage: str, artifact: Artifact) -> dict[str, Any]:
    """The few numbers of a stage worth a column in the final table."""
    m = artifact.manifest
    c = m.get("counts", {})
    if stage == "kg":
        return {"concepts": c.get("concepts"), "edges": c.get("edges")}
    if stage == "corpus":
        return {"verbalised": c.get("verbalised"), "linked": c.get("linked_kept")}
    if stage in ("synth", "synth_update"):
        return {"examples": c.get("examples"), "train": c.get("train")}
    if stage == "kg_diff":
        return {k.replace("_", " "): v for k, v in c.items() if v and k in ("concept_added", "relabelled", "moved",
                                                                          "fact_added", "fact_removed", "fact_changed")}
    if stage == "dedupe":
        return {"kept": c.get("kept"), "removed": c.get("removed")}
    if stage in TRAIN_STAGES:
        met = m.get("metrics", {})
        before, after = met.get("before"), met.get("after")
        if isinstance(before, dict):
            before, after = before.get("accuracy"), after.get("accuracy")
        return {"steps": c.get("steps"), "objective before": before, "after": after}
    if stage == "domain_base":
        return {k.replace("_", " "): v for k, v in c.items() if k.endswith("_experts") or k == "vocab"}
    if stage == "eval_domains":
        keep = [v for d in m.get("composition", {}).values() for v in (d.get("mcq"), d.get("open_em")) if v is not None]
        return {"composed ÷ own, lowest": min(keep) if keep else None}
    return {"goals met": f"{sum(bool(g['met']) for g in m.get('goals', []))}/{len(m.get('goals', []))}"}
