"""Stage 3, ``reinforce``: domain reinforcement by preference optimisation (DPO, through TRL's ``DPOTrainer``).

Pairs come from the graph: the prompt (without context), the chosen answer that agrees with the graph and
the ``rejected`` near-miss the synth stage made by corrupting a triple (a sibling concept, a wrong
relation, a flipped truth value). The reference model is the stage-2 model: the adapter of this stage sits
on top of the earlier stages merged into the base, and TRL scores the reference with the adapter off.

Settings (``train.reinforce.*``):
- ``beta``: DPO's KL strength; ``loss_type``: TRL loss types, default ``["sigmoid", "sft"]`` so the chosen
  answer's likelihood does not collapse while the margin grows;
- ``negative_kinds``: which corrupted facts a pair may reject, default the sure ones (``disjoint``,
  ``hierarchy``, ``functional``); ``unasserted`` (merely not stated, possibly true in an open world) is
  left out of training and of the held-out measure unless listed;
- ``tasks``, ``max_length``, ``epochs``/``max_steps``, ``lr``, ``batch_size``, ``save_steps``.
Logs TRL's reward margins and preference accuracy; before and after, the stage measures on held-out pairs
how often the model itself gives the chosen answer a higher likelihood than the rejected one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kgtools.config import ReinforceSettings
from kgtools.train.data import IGNORE, RowCollator, Segment, encode, join, prompt_messages
from kgtools.train.loop import arguments_kwargs, to_device

OBJECTIVE = "preference accuracy: chosen more likely than rejected (held-out pairs)"
REQUIRES = ("kg_sft", "distill")
REQUIRES_WHY = "a fine-tuned model is its reference"
READS = ("train", "preference")  # extra corrupted statements that SFT never sees


def prepare(train: list[dict[str, Any]], heldout: list[dict[str, Any]], tokenizer, opt: ReinforceSettings, *,
            seed: int) -> tuple[list[dict], list[dict], dict[str, Any]]:
    rows = pairs(train, seed=seed, kinds=opt.negative_kinds)
    held = pairs(heldout, seed=seed, balance=False, kinds=opt.negative_kinds)
    return rows, held, {"pairs": len(rows)}


def measure(model, rows: list[dict], tokenizer, opt: ReinforceSettings) -> dict[str, float]:
    return preference(model, rows, tokenizer, max_length=opt.max_length)


def pairs(examples: list[dict[str, Any]], *, seed: int = 0, balance: bool = True,
          kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """(prompt, chosen, rejected) in TRL's conversational layout, for examples that have a rejected answer.
    With ``balance`` (for training), true/false pairs are balanced (as many true as corrupted statements, the
    minority repeated): with more true statements DPO learns to say "true" to everything, with more false
    ones "false" to everything. With ``kinds``, a pair whose rejected side is a corrupted fact of another
    kind (by default ``unasserted``: merely not stated) is left out."""
    if kinds is not None:
        allowed = set(kinds)
        examples = [e for e in examples if not e.get("negative_kind") or e["negative_kind"] in allowed]
        # true statements of a relation left with no corrupted one (outside is_a most corruptions are merely
        # unasserted) would teach "true" for every statement of that relation: left out too
        contrasted = {e.get("relation") for e in examples if e["task"] == "yes_no" and e.get("negative_kind")}
        examples = [e for e in examples if e["task"] != "yes_no" or e.get("negative_kind")
                    or e.get("relation") in contrasted]
    out = []
    for ex in _balance_truth(examples, seed) if balance else examples:
        rejected = ex.get("rejected")
        chosen = ex["messages"][-1]["content"]
        if not rejected or rejected.strip().lower() == chosen.strip().lower():
            continue
        out.append({"prompt": prompt_messages(ex, with_context=False),
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}]})
    return out


def _balance_truth(examples: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    import random

    yes = [e for e in examples if e["task"] == "yes_no" and e["answer"].strip().lower() in ("true", "yes")]
    no = [e for e in examples if e["task"] == "yes_no" and e["answer"].strip().lower() in ("false", "no")]
    if not yes or not no or len(yes) == len(no):
        return examples
    few, many = sorted((yes, no), key=len)
    rng = random.Random(seed)
    whole, part = divmod(len(many) - len(few), len(few))
    extra = few * whole + rng.sample(few, part)
    return examples + extra  # the trainer shuffles


def preference(model, pair_rows: list[dict[str, Any]], tokenizer, *, max_length: int = 256, batch_size: int = 16) -> dict[str, float]:
    """Share of pairs whose chosen answer the model finds more likely than the rejected one (summed
    log-probability of the answer tokens), and the mean log-likelihood margin."""
    import torch

    collate = RowCollator(tokenizer.pad_token_id)
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    margins = []
    with torch.no_grad():
        for start in range(0, len(pair_rows), batch_size):
            chunk = pair_rows[start:start + batch_size]
            scores = []
            for side in ("chosen", "rejected"):
                rows = []
                for pr in chunk:
                    p, a = encode(tokenizer, pr["prompt"], pr[side][0]["content"])
                    rows.append(join([Segment.of(p, a, max_length)]))
                batch = to_device(collate(rows), device)
                scores.append(_sequence_logps(model, batch))
            margins += (scores[0] - scores[1]).tolist()
    model.train(was)
    if not margins:
        return {"pairs": 0, "accuracy": float("nan"), "margin": float("nan")}
    return {"pairs": len(margins), "accuracy": sum(m > 0 for m in margins) / len(margins),
            "margin": sum(margins) / len(margins)}


def _sequence_logps(model, batch):
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                   attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE
    logp = F.log_softmax(logits, -1).gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1)


def make_trainer(model, pair_rows: list[dict[str, Any]], tokenizer, opt: ReinforceSettings, work: Path, *, seed: int,
                 dtype: str, balance=None, callbacks=(), report_to=()):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    class _DPO(DPOTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            if balance is None or (aux := balance.pop()) is None:
                return out
            return (out[0] + aux, out[1]) if return_outputs else out + aux

    kwargs = arguments_kwargs(opt, work, seed=seed, dtype=dtype, n_rows=len(pair_rows), report_to=report_to)
    kwargs.pop("remove_unused_columns")
    # kwargs carry train.reinforce.gradient_checkpointing (default off): TRL's own default is on, ~10x slower
    # for small models
    args = DPOConfig(**kwargs, beta=opt.beta, loss_type=list(opt.loss_type), max_length=opt.max_length)
    return _DPO(model=model, ref_model=None, args=args, train_dataset=Dataset.from_list(pair_rows),
                processing_class=tokenizer, callbacks=list(callbacks))

