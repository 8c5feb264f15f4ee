"""Stage 2, ``distill``: context distillation.

The teacher is the stage-1 model *with* the example's graph facts in its prompt; the student is the same
model *without* them, trained to match the teacher's distribution over the answer tokens. Each stage trains
a fresh adapter on top of the previous stages merged into the base, so the teacher is this very model with
its adapter switched off (``disable_adapter``): no second copy of the model in memory.

Settings (``train.distill.*``):
- ``temperature``: both distributions are softened by it; the KL is scaled by T² (Hinton et al.);
- ``label_weight``: mixes the answer's cross-entropy into the loss, ``(1 - w)·KL + w·CE``;
- ``tasks``: examples without graph context are skipped (nothing to distil);
- rows pack student and teacher twins example by example (by the teacher's length), so the answer tokens
  of both line up in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgtools.config import DistillSettings
from kgtools.train.data import IGNORE, Segment, encode, join, pack, prompt_messages
from kgtools.train.loop import per_token_mean, row_trainer

OBJECTIVE = "KL(teacher with context ‖ student without), per answer token"
REQUIRES = ("kg_sft",)
REQUIRES_WHY = "its teacher is the stage-1 model"
READS = ("train",)


def prepare(train: list[dict[str, Any]], heldout: list[dict[str, Any]], tokenizer, opt: DistillSettings, *,
            seed: int) -> tuple[list[dict], list[dict], dict[str, Any]]:
    rows, report = build_rows(train, tokenizer, opt, seed=seed)
    held, _ = build_rows(heldout, tokenizer, opt, seed=seed)
    return rows, held, report


def measure(model, rows: list[dict], tokenizer, opt: DistillSettings) -> float:
    return mean_kl(model, rows, tokenizer.pad_token_id)


def build_rows(examples: list[dict[str, Any]], tokenizer, opt: DistillSettings, *, seed: int) -> tuple[list[dict], dict[str, Any]]:
    """Rows holding the student's tokens and, under ``teacher_*``, the same examples with their context."""
    students, teachers = [], []
    skipped = {"no_context": 0, "too_long": 0}
    for ex in examples:
        if not ex.get("context"):
            skipped["no_context"] += 1
            continue
        answer = ex["messages"][-1]["content"]
        sp, answer_ids = encode(tokenizer, prompt_messages(ex, with_context=False), answer)
        tp, _ = encode(tokenizer, prompt_messages(ex, with_context=True), answer)
        if len(tp) + len(answer_ids) > opt.max_length:
            skipped["too_long"] += 1
            continue
        students.append(Segment.of(sp, answer_ids, opt.max_length))
        teachers.append(Segment.of(tp, answer_ids, opt.max_length))
    groups = pack([len(t.ids) for t in teachers], opt.max_length, seed=seed)
    rows = []
    for g in groups:
        row = join([students[i] for i in g])
        row.update({f"teacher_{k}": v for k, v in join([teachers[i] for i in g]).items()})
        rows.append(row)
    return rows, {"examples": len(students), "rows": len(rows), "skipped": skipped,
                  "tokens": sum(len(t.ids) + len(s.ids) for s, t in zip(students, teachers, strict=True))}


def kl_terms(model, inputs: dict[str, Any], temperature: float):
    """(summed KL(teacher ‖ student) over answer tokens ·T², summed label NLL, number of answer tokens)."""
    import torch
    import torch.nn.functional as F

    student = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"],
                    attention_mask=inputs["attention_mask"]).logits[:, :-1]
    inner = getattr(model, "module", model)  # under DDP (several processes) the PEFT model is wrapped
    with torch.no_grad(), inner.disable_adapter():
        teacher = inner(input_ids=inputs["teacher_input_ids"], position_ids=inputs["teacher_position_ids"],
                        attention_mask=inputs["teacher_attention_mask"]).logits[:, :-1]
    s_labels = inputs["labels"][:, 1:]
    t_mask = inputs["teacher_labels"][:, 1:] != IGNORE
    s_mask = s_labels != IGNORE
    s = student[s_mask].float()
    t = teacher[t_mask].float()
    if s.shape != t.shape:
        raise RuntimeError(f"distill: {s.shape[0]} student answer tokens but {t.shape[0]} teacher answer tokens")
    log_s = F.log_softmax(s / temperature, -1)
    log_t = F.log_softmax(t / temperature, -1)
    kl = (log_t.exp() * (log_t - log_s)).sum() * temperature**2
    nll = F.cross_entropy(s, s_labels[s_mask], reduction="sum")
    return kl, nll, int(s_mask.sum())


def objective_for(opt: DistillSettings):
    def objective(model, inputs: dict[str, Any]) -> tuple[Any, dict[str, float]]:
        kl, nll, n = kl_terms(model, inputs, opt.temperature)
        kl, nll = kl / max(n, 1), nll / max(n, 1)
        loss = (1 - opt.label_weight) * kl + opt.label_weight * nll
        return loss, {"kl": float(kl.detach()), "label_loss": float(nll.detach())}

    return objective


def mean_kl(model, rows: list[dict], pad_id: int, temperature: float = 1.0, batch_size: int = 16) -> float:
    """The student's mean KL to the teacher per answer token on ``rows`` (before/after this stage)."""

    def term(model, batch):
        kl, _nll, n = kl_terms(model, batch, temperature)
        return kl / temperature**2, n

    return per_token_mean(model, rows, pad_id, term, batch_size)


def make_trainer(model, rows: list[dict], tokenizer, opt: DistillSettings, work: Path, **kwargs):
    return row_trainer(objective_for(opt), model, rows, tokenizer, opt, work, **kwargs)
