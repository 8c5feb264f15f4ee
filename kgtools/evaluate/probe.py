"""Asking a model: greedy answers under its chat template (batched, left-padded), the log-likelihood of
given answers (multiple choice, true/false), and perplexity of plain text (retention)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kgtools.chat import encode


def _device(model):
    return next(model.parameters()).device


def generate(model, tokenizer, prompts: Sequence[list[dict[str, str]]], *, max_new_tokens: int = 48,
             batch_size: int = 16) -> list[tuple[str, float]]:
    """Greedy answers and the mean probability of their tokens (the model's confidence)."""
    import torch

    model.eval()
    device = _device(model)
    out: list[tuple[str, float]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = [encode(tokenizer, p, "")[0] for p in prompts[start:start + batch_size]]
        width = max(len(c) for c in chunk)
        pad = tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(c)) + c for c in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk], device=device)
        with torch.no_grad():
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, output_scores=True,
                                 return_dict_in_generate=True)
        new = gen.sequences[:, width:]
        probs = torch.stack([torch.softmax(s.float(), -1) for s in gen.scores], 1)  # [B, T, V]
        chosen = probs.gather(-1, new.unsqueeze(-1)).squeeze(-1)
        for row, p in zip(new.tolist(), chosen.tolist(), strict=True):
            end = row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
            text = tokenizer.decode(row[:end], skip_special_tokens=True).strip()
            conf = sum(p[: max(end, 1)]) / max(end, 1)
            out.append((text, conf))
    return out


def answer_logprobs(model, tokenizer, items: Sequence[tuple[list[dict[str, str]], str]], *,
                    batch_size: int = 32, max_length: int = 512) -> list[tuple[float, int]]:
    """(summed log-probability, number of tokens) of each answer given its prompt."""
    import torch
    import torch.nn.functional as F

    model.eval()
    device = _device(model)
    out: list[tuple[float, int]] = []
    for start in range(0, len(items), batch_size):
        enc = []
        for prompt, answer in items[start:start + batch_size]:
            p, a = encode(tokenizer, prompt, answer)
            ids = (p + a)[-max_length:]
            enc.append((ids, min(len(a), len(ids) - 1)))
        width = max(len(ids) for ids, _ in enc)
        pad = tokenizer.pad_token_id
        batch = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in enc], device=device)
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in enc], device=device)
        with torch.no_grad():
            logits = model(input_ids=batch, attention_mask=mask).logits.float()
        logp = F.log_softmax(logits[:, :-1], -1).gather(-1, batch[:, 1:].unsqueeze(-1)).squeeze(-1)
        for i, (ids, n) in enumerate(enc):
            end = len(ids) - 1
            out.append((float(logp[i, end - n:end].sum()), n))
    return out


def choose(model, tokenizer, prompt: list[dict[str, str]], choices: Sequence[str], **kw: Any) -> tuple[int, list[float]]:
    """The choice with the highest length-normalised log-likelihood, and every choice's score."""
    scores = [lp / max(n, 1) for lp, n in answer_logprobs(model, tokenizer, [(prompt, c) for c in choices], **kw)]
    return max(range(len(scores)), key=scores.__getitem__), scores


def perplexity(model, tokenizer, text: str, *, window: int = 256, batch_size: int = 8) -> float:
    """Token perplexity of ``text`` in non-overlapping windows (the same windows for every model)."""
    import torch
    import torch.nn.functional as F

    ids = [t for para in text.split("\n\n") if para.strip()  # paragraph by paragraph: no over-length warning
           for t in tokenizer(para.strip() + "\n\n", add_special_tokens=False)["input_ids"]]
    windows = [ids[i:i + window] for i in range(0, len(ids), window) if len(ids[i:i + window]) > 1]
    model.eval()
    device = _device(model)
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        chunk = windows[start:start + batch_size]
        width = max(len(w) for w in chunk)
        batch = torch.tensor([w + [tokenizer.pad_token_id] * (width - len(w)) for w in chunk], device=device)
        mask = torch.tensor([[1] * len(w) + [0] * (width - len(w)) for w in chunk], device=device)
        with torch.no_grad():
            logits = model(input_ids=batch, attention_mask=mask).logits[:, :-1].float()
        nll = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")
        keep = mask[:, 1:].bool()
        total += float(nll[keep].sum())
        count += int(keep.sum())
    return math.exp(total / max(count, 1))
