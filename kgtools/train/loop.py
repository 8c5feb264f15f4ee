"""What the three stages share: training arguments (bf16 on GPU, fp32 on CPU), a transformers ``Trainer``
whose loss is the stage's objective plus the router's balance loss when the router trains, progress
reporting, and resuming from the last checkpoint of a killed run."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kgtools.config import OptimSettings
from kgtools.train.data import IGNORE


def use_bf16(dtype: str) -> bool:
    import torch

    if dtype == "bfloat16":
        return True
    return dtype == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def steps_for(n_rows: int, opt: OptimSettings) -> int:
    per_step = opt.batch_size * opt.grad_accum
    return opt.max_steps if opt.max_steps > 0 else max(1, math.ceil(opt.epochs * math.ceil(n_rows / per_step)))


def arguments_kwargs(opt: OptimSettings, work: Path, *, seed: int, dtype: str, n_rows: int,
                     report_to: Sequence[str] = ()) -> dict[str, Any]:
    """Keyword arguments shared by ``TrainingArguments`` and TRL's ``DPOConfig``. ``report_to``: transformers'
    integrations besides TensorBoard (kgtools gives TensorBoard its own writer, see kgtools.train.monitor)."""
    import torch

    steps = steps_for(n_rows, opt)
    return dict(
        output_dir=str(work), per_device_train_batch_size=opt.batch_size, gradient_accumulation_steps=opt.grad_accum,
        max_steps=steps, learning_rate=opt.lr, warmup_steps=int(round(opt.warmup_ratio * steps)),
        lr_scheduler_type="cosine", weight_decay=opt.weight_decay, logging_steps=max(1, min(10, steps // 20)),
        save_strategy="steps", save_steps=opt.save_steps, save_total_limit=2, seed=seed, data_seed=seed,
        bf16=use_bf16(dtype), use_cpu=not torch.cuda.is_available(), report_to=list(report_to), disable_tqdm=True,
        remove_unused_columns=False, dataloader_num_workers=0,
        save_only_model=False, logging_first_step=True,
        # non-reentrant checkpointing needs no gradient on the (frozen) inputs of a LoRA model
        gradient_checkpointing=opt.gradient_checkpointing, gradient_checkpointing_kwargs={"use_reentrant": False},
        torch_compile=opt.compile,
    )


def last_checkpoint(work: Path) -> str | None:
    """The newest complete checkpoint a killed run left in ``work`` (transformers writes ``trainer_state.json``
    last, so a half-written checkpoint is skipped)."""
    done = [p for p in work.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.split("-")[-1])))


def progress_callback(stage: str, say: Callable[[Any], None]):
    """Reports each optimiser step as :class:`kgtools.progress.Steps` (step, total, the latest loss and the
    stage's own numbers); the trainer's log steps are marked ``logged``."""
    from transformers import TrainerCallback

    from kgtools.progress import Steps

    shown = ("loss", "kl", "rewards/accuracies", "rewards/margins", "balance_loss")

    class Progress(TrainerCallback):
        numbers: dict[str, float] = {}

        def on_step_end(self, args, state, control, **kwargs):
            say(Steps(stage, state.global_step, state.max_steps, dict(self.numbers)))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.numbers = {k: float(v) for k, v in logs.items() if k in shown}
                say(Steps(stage, state.global_step, state.max_steps, dict(self.numbers), logged=True))

    return Progress()


def stage_trainer(objective: Callable[..., tuple[Any, dict[str, float]]], balance=None):
    """A ``Trainer`` class whose loss is ``objective(model, inputs)`` (+ the balance loss), with the
    objective's extra numbers averaged into the training logs."""
    from transformers import Trainer

    class StageTrainer(Trainer):
        _sums: dict[str, float]
        _n = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, extra = objective(model, inputs)
            if balance is not None and (aux := balance.pop()) is not None:
                loss = loss + aux
                extra["balance_loss"] = float(aux)
            if model.training:
                sums = getattr(self, "_sums", {})
                for k, v in extra.items():
                    sums[k] = sums.get(k, 0.0) + v
                self._sums, self._n = sums, self._n + 1
            return (loss, None) if return_outputs else loss

        def log(self, logs, *args, **kwargs):
            if getattr(self, "_sums", None) and "loss" in logs:
                logs.update({k: v / self._n for k, v in self._sums.items()})
                self._sums, self._n = {}, 0
            super().log(logs, *args, **kwargs)

    return StageTrainer


def answer_nll(model, batch: dict[str, Any]) -> tuple[Any, int]:
    """Summed negative log-likelihood of the answer tokens and their number."""
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                   attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return nll, int((labels != IGNORE).sum())


def to_device(batch: dict[str, Any], device) -> dict[str, Any]:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def per_token_mean(model, rows: list[dict], pad_id: int, term: Callable[[Any, dict[str, Any]], tuple[Any, int]],
                   batch_size: int = 16) -> float:
    """Σ term / Σ tokens over ``rows`` in eval mode without gradients; ``term(model, batch)`` returns
    (summed value, number of answer tokens). The stages' before/after objectives."""
    import torch

    from kgtools.train.data import RowCollator

    collate = RowCollator(pad_id)
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            value, n = term(model, to_device(collate(rows[start:start + batch_size]), device))
            total, count = total + float(value), count + n
    model.train(was)
    return total / max(count, 1)


def row_trainer(objective: Callable[..., tuple[Any, dict[str, float]]], model, rows: list[dict], tokenizer,
                opt: OptimSettings, work: Path, *, seed: int, dtype: str, balance=None, callbacks=(), report_to=()):
    """A :func:`stage_trainer` over pre-built token rows, batched by the shared collator."""
    from datasets import Dataset
    from transformers import TrainingArguments

    from kgtools.train.data import RowCollator

    args = TrainingArguments(**arguments_kwargs(opt, work, seed=seed, dtype=dtype, n_rows=len(rows), report_to=report_to))
    trainer_cls = stage_trainer(objective, balance)
    return trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(rows),
                       data_collator=RowCollator(tokenizer.pad_token_id), callbacks=list(callbacks))
