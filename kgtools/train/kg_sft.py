"""Stage 1, ``kg_sft``: supervised fine-tuning on the synthetic instructions.

Features and the settings (``train.kg_sft.*``) that control them:
- loss on the answer tokens only (the chat template's assistant turn, end-of-turn token included);
- ``context_share`` of the prompts carry the example's graph facts as a system turn, so the model learns
  the facts and to use graph context (stage 2 then moves that context into the weights);
- ``packing``: several examples per row of ``max_length`` tokens, first-fit; positions restart per example
  so attention never crosses examples. Off: one example per row, padded to the batch's longest;
- ``tasks``, ``max_examples``, ``epochs``/``max_steps``, ``lr``, ``batch_size``, ``grad_accum``, ``save_steps``.

Written on the transformers ``Trainer`` with our collator rather than TRL's ``SFTTrainer``: stage 2 needs
the same rows paired with their context-carrying twins, and one collator for both keeps the encodings
identical (TRL's padding-free packing would be the same idea)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from kgtools.config import SftSettings
from kgtools.train.data import IGNORE, Segment, encode, join, pack, prompt_messages
from kgtools.train.loop import answer_nll, per_token_mean, row_trainer

OBJECTIVE = "answer cross-entropy (held-out, no context)"
REQUIRES: tuple[str, ...] = ()  # the first stage: starts from the base (or a transfer / update source)
READS = ("train",)


def prepare(train: list[dict[str, Any]], heldout: list[dict[str, Any]], tokenizer, opt: SftSettings, *,
            seed: int) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """(training rows, held-out rows — closed-book, unpacked — and the data report)."""
    rows, report = build_rows(train, tokenizer, opt, seed=seed)
    held, _ = build_rows(heldout, tokenizer, opt, seed=seed, context_share=0.0, packing=False)
    return rows, held, report


def measure(model, rows: list[dict], tokenizer, opt: SftSettings) -> float:
    return mean_answer_loss(model, rows, tokenizer.pad_token_id)


def build_rows(examples: list[dict[str, Any]], tokenizer, opt: SftSettings, *, seed: int,
               context_share: float | None = None, packing: bool | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Token rows for training (or evaluation) and counts: examples, with context, rows, tokens."""
    share = opt.context_share if context_share is None else context_share
    rng = random.Random(seed)
    segments = []
    with_context = 0
    for ex in examples:
        use_ctx = bool(ex.get("context")) and rng.random() < share
        with_context += use_ctx
        p, a = encode(tokenizer, prompt_messages(ex, with_context=use_ctx), ex["messages"][-1]["content"])
        segments.append(Segment.of(p, a, opt.max_length))
    do_pack = opt.packing if packing is None else packing
    if do_pack:
        groups = pack([len(s.ids) for s in segments], opt.max_length, seed=seed)
    else:
        groups = [[i] for i in range(len(segments))]
        random.Random(seed).shuffle(groups)
    rows = [join([segments[i] for i in g]) for g in groups]
    tokens = sum(len(s.ids) for s in segments)
    return rows, {"examples": len(segments), "with_context": with_context, "rows": len(rows), "tokens": tokens,
                  "answer_tokens": sum(sum(1 for x in s.labels if x != IGNORE) for s in segments)}


def objective(model, inputs: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    nll, n = answer_nll(model, inputs)
    return nll / max(n, 1), {}


def mean_answer_loss(model, rows: list[dict], pad_id: int, batch_size: int = 16) -> float:
    """Token-weighted answer cross-entropy of ``model`` on ``rows`` (the stage's objective, for before/after)."""
    return per_token_mean(model, rows, pad_id, answer_nll, batch_size)


def make_trainer(model, rows: list[dict], tokenizer, opt: SftSettings, work: Path, **kwargs):
    return row_trainer(objective, model, rows, tokenizer, opt, work, **kwargs)
