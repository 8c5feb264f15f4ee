"""The `train` stages: a synth (or dedupe) artifact → one artifact per fine-tuning stage under
``ROOT/train/<stage>/<key>``: the PEFT adapter (safetensors), ``tokenizer/``, ``trainer_state.json``,
``log_history.json``, ``routing.parquet`` + ``routing.png`` (before and after the stage) and ``metrics.json``
(the stage's objective before and after, on held-out examples).

Each stage trains a fresh LoRA adapter on top of the base model with the earlier stages' adapters merged
in (in memory); its manifest names its parent, so any stage's model is base → merge parents → adapter, and
``export`` writes that as a standalone checkpoint. A killed stage resumes from its last checkpoint in
``ROOT/train/<stage>/.work-<key>``."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgtools.artifacts import (
    Artifact,
    ArtifactStore,
    StageResult,
    artifact_key,
    input_paths,
    write_json_atomic,
)
from kgtools.config import TRAIN_STAGES, TrainConfig
from kgtools.errors import ArtifactError, ConfigError, KgtoolsError
from kgtools.models import ModelSpec, lineage_of
from kgtools.train.registry import stage_module

log = logging.getLogger(__name__)
PREFIX = "train"
SHARED_KEYS = ("model", "trust_remote_code", "seed", "vocab_size", "dtype", "lora", "esft", "balance_loss", "routing_sample")


class TrainInputError(KgtoolsError):
    """Instruction data the fine-tune cannot use."""


@dataclass
class TrainResult(StageResult):
    """One stage's artifact."""

    @property
    def name(self) -> str:
        return self.artifact.stage.split("/", 1)[1]

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / "metrics.json").read_text("utf-8"))


def stage_dir(name: str) -> str:
    return f"{PREFIX}/{name}"


def train(cfg: TrainConfig, data: Artifact, store: ArtifactStore, *, parent: Artifact | None = None,
          corpus: Artifact | None = None, force: bool = False, progress: Callable[[str], None] | None = None,
          callbacks: Sequence[Any] = ()) -> list[TrainResult]:
    """Run ``cfg.stages`` in order, each from the one before (the first from ``parent`` if given, else from
    ``train.from`` — transfer from another domain's tuned model — if set)."""
    if parent is None and cfg.from_ is not None:
        parent = transfer_source(cfg.from_)
    check_order(cfg.stages, parent, update=data.stage == "synth_update", transfer=cfg.from_ is not None)
    results = []
    for name in cfg.stages:
        result = train_stage(cfg, name, data, store, parent=parent, corpus=corpus, force=force,
                             progress=progress, callbacks=callbacks)
        results.append(result)
        parent = result.artifact
    return results


def transfer_source(path: str) -> Artifact:
    """The train artifact named by ``train.from``."""
    folder = Path(path).expanduser()
    if not (folder / "manifest.json").is_file():
        raise ConfigError(f"train.from: {path}: no such train artifact (artifacts/train/<stage>/<key>)")
    source = Artifact.open(folder)
    if not source.stage.startswith("train/"):
        raise ConfigError(f"train.from: {path} is a {source.stage!r} artifact; transfer starts from a train artifact")
    return source


def check_order(stages: Sequence[str], parent: Artifact | None, *, update: bool = False, transfer: bool = False) -> None:
    """A stage needs the adapter of the stage it builds on: distill the kg_sft model (its teacher), reinforce
    a fine-tuned model (its reference). ``update``: the data is a knowledge update (synth_update), whose kg_sft
    starts from the tuned model of the old release and adds an adapter to its chain; ``transfer``: kg_sft starts
    from another domain's tuned model (``train.from``)."""
    if parent is not None and not parent.stage.startswith("train/"):
        raise ConfigError(f"--from: {parent.path} is a {parent.stage!r} artifact; a training stage starts from a "
                          "train artifact (artifacts/train/<stage>/<key>)")
    before = parent.stage.split("/", 1)[1] if parent is not None else None
    for name in stages:
        module = stage_module(name)
        if module.REQUIRES and before not in module.REQUIRES:
            needed = " or ".join(module.REQUIRES)
            raise ConfigError(f"train.stages: '{name}' needs the {needed} adapter ({module.REQUIRES_WHY}); put "
                              f"{module.REQUIRES[0]} before it or start from a {needed} artifact (--from)")
        if not module.REQUIRES and before is not None and not ((update or transfer) and name == stages[0]):
            raise ConfigError(f"train.stages: '{name}' is the first stage; it cannot start from another stage's "
                              "adapter (except on update data, `kgtools synth update`, from the old release's model, "
                              "and for transfer from another domain, train.from)")
        before = name


def stage_key(cfg: TrainConfig, name: str, data: Artifact, parent: Artifact | None, corpus: Artifact | None) -> tuple[str, dict[str, str], dict]:
    spec = ModelSpec.parse(cfg.model, cfg.trust_remote_code)
    full = cfg.hashable()
    config = {k: full[k] for k in SHARED_KEYS} | {name: full[name], "base": spec.fingerprint()}
    inputs = {f"{data.stage}:{data.key}": data.key}
    if parent is not None:
        inputs["parent"] = parent.key
    if corpus is not None and name == "kg_sft":
        inputs["corpus"] = corpus.key
    return artifact_key(stage_dir(name), config, inputs), inputs, config


def train_stage(cfg: TrainConfig, name: str, data: Artifact, store: ArtifactStore, *, parent: Artifact | None = None,
                corpus: Artifact | None = None, force: bool = False, progress: Callable[[str], None] | None = None,
                callbacks: Sequence[Any] = ()) -> TrainResult:
    """Build (or reuse) the artifact of stage ``name``."""
    if name not in TRAIN_STAGES:
        raise ConfigError(f"train.stages: unknown stage {name!r}; allowed: {', '.join(TRAIN_STAGES)}")
    if data.stage not in ("synth", "synth_update", "dedupe"):
        raise TrainInputError(f"{data.path}: a {data.stage!r} artifact; training takes a synth, synth_update or dedupe "
                              "artifact")
    check_order([name], parent, update=data.stage == "synth_update",
                transfer=cfg.from_ is not None and name == cfg.stages[0] and parent is not None)
    say = progress or (lambda _msg: None)
    key, inputs, config = stage_key(cfg, name, data, parent, corpus)
    final = store.path_for(stage_dir(name), key)
    work = final.parent / f".work-{key}"

    def build(tmp: Path) -> dict[str, Any]:
        return _build_into(tmp, final, work, cfg, name, data, parent, corpus, say, callbacks)

    from accelerate import PartialState

    state = PartialState()  # one process, or one of several under `accelerate launch` / torchrun
    if not state.is_main_process:
        return _follow_main_process(state, store, name, key, build)
    artifact, built = store.build(stage_dir(name), key, config, inputs, build, force=force)
    if built:
        shutil.rmtree(work, ignore_errors=True)
    state.wait_for_everyone()  # the others read the artifact once it is complete
    return TrainResult(artifact, built)


def _follow_main_process(state, store: ArtifactStore, name: str, key: str, build: Callable[[Path], Any]) -> TrainResult:
    """Under several processes every one trains (the gradient exchange needs all of them), but only the main
    process writes the artifact: the others build into a scratch folder that is thrown away, then wait at
    accelerate's barrier until the main process has written it."""
    import tempfile

    if store.find(stage_dir(name), key) is None:
        with tempfile.TemporaryDirectory() as scratch:
            build(Path(scratch))
    state.wait_for_everyone()
    if (existing := store.find(stage_dir(name), key)) is None:
        raise ArtifactError(f"{store.path_for(stage_dir(name), key)}: the main process did not write the artifact")
    return TrainResult(existing, False)


# --------------------------------------------------------------------------------------------- building


def load_examples(data: Artifact) -> dict[str, list[dict[str, Any]]]:
    from datasets import DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(data.path / "dataset"))
    except Exception as exc:  # noqa: BLE001 - datasets raises several types for a missing/empty folder
        raise TrainInputError(f"{data.path / 'dataset'}: cannot load the instruction dataset ({type(exc).__name__})") from None
    if not isinstance(loaded, DatasetDict) or "train" not in loaded:
        raise TrainInputError(f"{data.path}: no 'train' split to train on")
    for needed in ("messages", "task", "context", "rejected"):
        if needed not in loaded["train"].column_names:
            raise TrainInputError(f"{data.path}: the instruction data has no {needed!r} column")
    return {split: ds.to_list() for split, ds in loaded.items()}


def select(examples: list[dict[str, Any]], tasks: Sequence[str], limit: int | None, seed: int) -> list[dict[str, Any]]:
    chosen = [e for e in examples if e["task"] in tasks]
    if limit is not None and len(chosen) > limit:
        chosen = random.Random(seed).sample(chosen, limit)
    return chosen


def _build_into(tmp: Path, final: Path, work: Path, cfg: TrainConfig, name: str, data: Artifact,
                parent: Artifact | None, corpus: Artifact | None, say: Callable[[str], None],
                callbacks: Sequence[Any]) -> dict[str, Any]:
    """One stage: its examples → rows; the model (base + earlier adapters) with a fresh adapter; routing and the
    held-out objective before; the fit (resumed from the last checkpoint if any); the same after; the files."""
    import torch

    from kgtools.routing import record_routing
    from kgtools.train.adapters import expert_delta_norms, trainable_summary

    started = time.perf_counter()
    opt, module = getattr(cfg, name), stage_module(name)
    splits, train_ex, heldout = _stage_examples(data, cfg, name)
    say(f"{name}: loading the tokenizer and the model")
    tokenizer, tok_source = load_tokenizer(cfg, parent, splits["train"], corpus)
    model, lineage = load_model(cfg, parent, tokenizer, tmp if name == "kg_sft" else None)
    tokenizer.save_pretrained(tmp / "tokenizer")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    rows, eval_rows, data_report = module.prepare(train_ex, heldout, tokenizer, opt, seed=cfg.seed)
    if not rows:
        raise TrainInputError(f"{data.path}: nothing to train {name} on ({data_report})")

    routing_seqs = routing_sequences(splits["train"], tokenizer, cfg)
    say(f"{name}: recording expert routing on {len(routing_seqs)} domain examples")
    before = record_routing(model, routing_seqs, pad_id=tokenizer.pad_token_id)
    model, experts = _with_adapter(model, cfg, before, tmp)
    metric_before = module.measure(model, eval_rows, tokenizer, opt) if eval_rows else None
    fit = _fit(model, rows, tokenizer, cfg, name, tmp, work, say, callbacks)
    trainer, resume = fit.trainer, fit.resume
    metric_after = module.measure(model, eval_rows, tokenizer, opt) if eval_rows else None

    say(f"{name}: saving the adapter and the routing statistics")
    # the base's embedding matrices stay out of the adapter (PEFT would copy them whole when the embeddings carry
    # LoRA, in case the vocabulary was resized: kgtools never resizes it)
    model.save_pretrained(str(tmp), save_embedding_layers=False)
    after = record_routing(model, routing_seqs, pad_id=tokenizer.pad_token_id)
    _write_routing(tmp, name, before.rows("before") + after.rows("after"), fit)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    metrics = {
        "stage": name, "objective": module.OBJECTIVE, "before": metric_before, "after": metric_after,
        "heldout_examples": len(eval_rows), "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None, "train_loss": fit.output.training_loss,
        "steps": trainer.state.global_step, "resumed_from": Path(resume).name if resume else None,
        "fit_seconds": round(fit.seconds, 2),
        "tokens_per_second": _tokens_per_second(name, data_report, opt, trainer, fit.seconds, resume),
        "trained_tokens": _trained_tokens(data_report, opt, trainer), "device": device, "bf16": trainer.args.bf16,
    }
    if experts is not None:
        metrics["esft_experts"] = {str(k): v for k, v in experts.items()}
        metrics["expert_delta_norms"] = {str(k): v for k, v in expert_delta_norms(model).items()}
    write_json_atomic(tmp / "metrics.json", metrics)
    return {
        "counts": {**{k: v for k, v in data_report.items() if isinstance(v, int)}, "steps": trainer.state.global_step},
        "data": data_report,
        "metrics": {k: metrics[k] for k in ("objective", "before", "after", "final_loss")},
        "parent": os.path.relpath(parent.path, final) if parent is not None else None,
        "input_paths": input_paths(final, data, corpus), "lineage": lineage, "tokenizer": tok_source,
        **trainable_summary(model),
        "build_seconds": round(time.perf_counter() - started, 2), "fit_seconds": metrics["fit_seconds"],
        "trained_tokens": metrics["trained_tokens"],
    }


def _stage_examples(data: Artifact, cfg: TrainConfig, name: str):
    """(every split's examples, the stage's training examples, its held-out examples)."""
    splits = load_examples(data)
    opt = getattr(cfg, name)
    pool = [ex for split in stage_module(name).READS for ex in splits.get(split, [])]
    train_ex = select(pool, opt.tasks, opt.max_examples, cfg.seed)
    # held out: validation, else paraphrases, else (update data) the changed facts in unseen phrasings
    heldout = select(splits.get("validation", []) or splits.get("test_paraphrase", []) or splits.get("test_changed", []),
                     opt.tasks, None, cfg.seed)
    if not train_ex:
        raise TrainInputError(f"{data.path}: no training examples of the tasks {opt.tasks} (train.{name}.tasks)")
    return splits, train_ex, heldout


def _with_adapter(model, cfg: TrainConfig, before, tmp: Path):
    """(the model with a fresh LoRA adapter, ESFT's experts or None): ESFT chooses from the routing ``before``
    (or takes the given sets) and writes its choice."""
    from transformers import set_seed

    from kgtools.train.adapters import add_lora
    from kgtools.train.routing import given_experts, select_experts

    experts = None
    if cfg.esft.enabled:
        experts = (given_experts(before, cfg.esft.experts) if cfg.esft.experts is not None
                   else select_experts(before, score=cfg.esft.score, top_p=cfg.esft.threshold()))
        write_json_atomic(tmp / "esft_experts.json", {"score": cfg.esft.score, "top_p": cfg.esft.threshold(),
                                                      "experts": {str(k): v for k, v in experts.items()}})
    set_seed(cfg.seed)  # LoRA's A matrices are drawn from the global generator
    random_base = ModelSpec.parse(cfg.model, cfg.trust_remote_code).preset is not None
    return add_lora(model, cfg, experts, random_base=random_base), experts


@dataclass
class _Fit:
    trainer: Any
    output: Any  # what trainer.train() returned
    resume: str | None  # the checkpoint resumed from
    seconds: float
    board: Any  # the TensorBoard writer, or None


def _fit(model, rows, tokenizer, cfg: TrainConfig, name: str, tmp: Path, work: Path, say, callbacks) -> _Fit:
    """Train, resuming from the last checkpoint in ``work`` if there is one."""
    from transformers.trainer_callback import PrinterCallback

    from kgtools.board import TENSORBOARD_DIR
    from kgtools.train import monitor
    from kgtools.train.adapters import BalanceLoss
    from kgtools.train.loop import last_checkpoint, progress_callback

    balance = BalanceLoss(model, cfg.balance_loss) if "router" in cfg.lora.targets and cfg.balance_loss > 0 else None
    watch, report_to, board = monitor.callbacks(cfg.reporters(), tmp / TENSORBOARD_DIR, model)
    work.mkdir(parents=True, exist_ok=True)
    trainer = stage_module(name).make_trainer(
        model, rows, tokenizer, getattr(cfg, name), work, seed=cfg.seed, dtype=cfg.dtype, balance=balance,
        report_to=report_to, callbacks=[progress_callback(name, say), *watch, *callbacks])
    trainer.remove_callback(PrinterCallback)  # progress goes through `say`, not print
    resume = last_checkpoint(work)
    if resume:
        say(f"{name}: resuming from {Path(resume).name}")
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    if balance is not None:
        balance.remove()
    return _Fit(trainer, output, resume, seconds, board)


def _write_routing(tmp: Path, name: str, rows: list[dict[str, Any]], fit: _Fit) -> None:
    """routing.parquet/.png, the heat maps on TensorBoard, the trainer's state and log history."""
    from kgtools.board import add_heatmaps
    from kgtools.train.routing import write_routing

    write_routing(rows, tmp, name)
    if fit.board is not None:
        add_heatmaps(fit.board, rows, name, fit.trainer.state.global_step)
        fit.board.close()
    fit.trainer.state.save_to_json(str(tmp / "trainer_state.json"))
    write_json_atomic(tmp / "log_history.json", fit.trainer.state.log_history)


def _trained_tokens(report, opt, trainer) -> int | None:
    """Tokens the optimiser saw (data tokens × epochs run); None for preference pairs, which count no tokens."""
    if "tokens" not in report:
        return None
    epochs = trainer.state.global_step * opt.batch_size * opt.grad_accum / max(report["rows"], 1)
    return round(report["tokens"] * epochs)


def _tokens_per_second(name, report, opt, trainer, seconds, resume) -> float | None:
    if resume or seconds <= 0 or name == "reinforce":
        return None
    epochs = trainer.state.global_step * opt.batch_size * opt.grad_accum / max(report["rows"], 1)
    return round(report["tokens"] * epochs / seconds, 1)


def routing_sequences(train_examples: list[dict[str, Any]], tokenizer, cfg: TrainConfig) -> list[list[int]]:
    from kgtools.train.data import encode, prompt_messages

    sample = random.Random(cfg.seed + 1).sample(train_examples, min(cfg.routing_sample, len(train_examples)))
    seqs = []
    for ex in sample:
        p, a = encode(tokenizer, prompt_messages(ex, with_context=False), ex["messages"][-1]["content"])
        seqs.append((p + a)[-cfg.kg_sft.max_length:])
    return seqs


# --------------------------------------------------------------------------------------------- loading


def load_tokenizer(cfg: TrainConfig, parent: Artifact | None, train_examples, corpus: Artifact | None):
    """The parent stage's tokenizer; else a checkpoint's own; else one trained on this pipeline's data."""
    from transformers import AutoTokenizer

    if parent is not None:
        return AutoTokenizer.from_pretrained(str(parent.path / "tokenizer")), "parent"
    spec = ModelSpec.parse(cfg.model, cfg.trust_remote_code)
    if spec.path is not None:
        tok = AutoTokenizer.from_pretrained(str(spec.path), trust_remote_code=cfg.trust_remote_code, local_files_only=True)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if not tok.chat_template:
            raise ConfigError(f"train.model: {spec.path}: the tokenizer has no chat template; use an instruct/chat checkpoint")
        return tok, "checkpoint"
    from kgtools.train.tokenizer import train_tokenizer

    texts = [m["content"] for ex in train_examples for m in ex["messages"]]
    texts += [ex["context"] for ex in train_examples if ex.get("context")]
    if corpus is not None:
        from datasets import load_from_disk

        texts += list(load_from_disk(str(corpus.path / "dataset"))["text"])
    return train_tokenizer(texts, cfg.vocab_size), "trained"


def load_model(cfg: TrainConfig, parent: Artifact | None, tokenizer, save_base_to: Path | None):
    """The model a stage starts from: the base with the adapters of every earlier stage merged in.
    Returns (model, lineage: the adapters merged, oldest first)."""
    import torch

    from kgtools.models import build_preset, load_checkpoint, merge_adapter

    chain = lineage_of(parent) if parent is not None else []
    spec = ModelSpec.parse(cfg.model, cfg.trust_remote_code)
    dtype = torch.bfloat16 if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and torch.cuda.is_available()) else torch.float32
    if spec.preset is not None:
        if chain:
            model = load_checkpoint(chain[0].path / "base", dtype=torch.float32)
        else:
            special = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                       "eos_token_id": tokenizer.eos_token_id}
            model = build_preset(spec, len(tokenizer), special, cfg.seed)
            if save_base_to is not None:
                model.save_pretrained(str(save_base_to / "base"))
        model = model.to(dtype)
    else:
        model = load_checkpoint(spec.path, trust_remote_code=cfg.trust_remote_code, dtype=dtype)
    for artifact in chain:
        model = merge_adapter(model, artifact.path)
    return model, [a.stage.split("/", 1)[1] + ":" + a.key for a in chain]
