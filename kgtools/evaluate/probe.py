"""Asking a model: greedy answers under its chat template, the log-likelihood of given answers (multiple
choice, true/false) and perplexity of plain text (retention). Everything is batched across examples, rows of
similar length together (fewer pad tokens), and returned in the caller's order: the batch size changes the
speed, not the answers (a test compares batch size 1 with the default)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from kgtools.chat import encode, encode_prompt


def _device(model):
    return next(model.parameters()).device


def _by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of indices, longest first: similar lengths share a batch, and a batch that will not fit in
    memory fails at once rather than after an hour."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), max(batch_size, 1))]


def generate(model, tokenizer, prompts: Sequence[list[dict[str, str]]], *, max_new_tokens: int = 48,
             batch_size: int = 16, on_batch: Callable[[int], None] | None = None) -> list[tuple[str, float]]:
    """Greedy answers and the mean probability of their tokens (the model's confidence).

    Plain greedy decoding (no sampling, no repetition penalty or other processors a checkpoint's
    ``generation_config`` may ask for: an evaluation asks every model the same way), written out rather than
    ``model.generate`` so that a batch sheds each row once it has said its end-of-turn token — a batch of
    one-word answers does not keep computing for the one row that writes a definition. Rows are left-padded;
    the end-of-turn tokens are the tokenizer's and the checkpoint's (``generation_config.eos_token_id``).
    ``on_batch(n)`` is called after each batch of ``n`` prompts (progress)."""
    model.eval()
    device = _device(model)
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    stop = _stop_ids(model, tokenizer)
    out: list[tuple[str, float] | None] = [None] * len(prompts)
    for batch in _by_length([len(e) for e in encoded], batch_size):
        padded = _pad(tokenizer, [encoded[i] for i in batch], side="left", device=device)
        for i, (ids, probs) in zip(batch, _greedy(model, padded, max_new_tokens, stop), strict=True):
            end = next((k for k, t in enumerate(ids) if t in stop), len(ids))
            text = tokenizer.decode(ids[:end], skip_special_tokens=True).strip()
            out[i] = (text, sum(probs[: max(end, 1)]) / max(end, 1))
        if on_batch is not None:
            on_batch(len(batch))
    return out  # type: ignore[return-value]


def _stop_ids(model, tokenizer) -> set[int]:
    stop = {tokenizer.eos_token_id}
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    stop.update(eos if isinstance(eos, list | tuple) else [eos])
    stop.discard(None)
    return stop


def _greedy(model, padded, max_new_tokens: int, stop: set[int]) -> list[tuple[list[int], list[float]]]:
    """Each row's greedy tokens (up to and with its first stop token) and each token's probability."""
    import torch

    mask = padded["attention_mask"]
    rows = torch.arange(mask.shape[0], device=mask.device)  # which batch rows are still writing
    said: list[tuple[list[int], list[float]]] = [([], []) for _ in range(mask.shape[0])]
    stops = torch.tensor(sorted(stop), device=mask.device)
    position = mask.sum(1, keepdim=True)
    with torch.no_grad():
        result = model(**padded, position_ids=_positions(mask), use_cache=True, logits_to_keep=1)
        cache = _cache_of(result)
        for step in range(max_new_tokens):
            probs = torch.softmax(result.logits[:, -1].float(), -1)
            best, token = probs.max(-1)
            for row, t, p in zip(rows.tolist(), token.tolist(), best.tolist(), strict=True):
                said[row][0].append(t)
                said[row][1].append(p)
            going = ~torch.isin(token, stops)
            if step == max_new_tokens - 1 or not bool(going.any()):
                break
            if not bool(going.all()):  # drop the rows that are done from the cache and the batch
                keep = going.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                rows, mask, token, position = rows[keep], mask[keep], token[keep], position[keep]
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], 1)
            result = model(input_ids=token[:, None], attention_mask=mask, position_ids=position,
                           **_cache_arg(model, cache), use_cache=True)
            position = position + 1
    return said


def _pad(tokenizer, rows: list[list[int]], *, side: str, device):
    """A batch of token-id rows padded by the tokenizer (ids and attention mask as tensors on ``device``); a
    tokenizer without a pad token (Mixtral's) pads with its end-of-sequence token, which the mask hides."""
    before, pad = tokenizer.padding_side, tokenizer.pad_token
    tokenizer.padding_side = side
    if pad is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        batch = tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = before
        if pad is None:
            tokenizer.pad_token = None
    return {k: v.to(device) for k, v in batch.items()}


def answer_logprobs(model, tokenizer, items: Sequence[tuple[list[dict[str, str]], str]], *,
                    batch_size: int = 32, max_length: int = 512) -> list[tuple[float, int]]:
    """(summed log-probability, number of tokens) of each answer given its prompt. Items that share a prompt
    (the choices of one question) share its forward pass: the prompt runs once, its key/value cache is copied to
    each answer, and only the answers' tokens run again — a four-choice question costs about one pass, not
    four. ``batch_size`` is the number of answers per pass."""
    model.eval()
    groups: dict[tuple[int, ...], list[int]] = {}
    answers: list[list[int]] = []
    rendered: dict[str, list[int]] = {}  # the choices of a question share its prompt: render it once
    for i, (prompt, answer) in enumerate(items):
        key = repr(prompt)
        if key not in rendered:
            rendered[key] = encode_prompt(tokenizer, prompt)
        p, a = encode(tokenizer, prompt, answer, prompt_ids=rendered[key])
        answers.append(a[: max_length - 1])
        groups.setdefault(tuple(p), []).append(i)
    out: list[tuple[float, int] | None] = [None] * len(items)
    batch: list[tuple[list[int], list[int]]] = []
    for p, members in sorted(groups.items(), key=lambda g: (-len(g[0]), g[1][0])):
        longest = max(len(answers[i]) for i in members)
        prompt = list(p[-(max_length - longest):])  # an over-long prompt keeps its end (the question)
        if batch and sum(len(m) for _, m in batch) + len(members) > batch_size:
            _score_batch(model, tokenizer, batch, answers, out)
            batch = []
        batch.append((prompt, members))
    if batch:
        _score_batch(model, tokenizer, batch, answers, out)
    return out  # type: ignore[return-value]


def _score_batch(model, tokenizer, batch: list[tuple[list[int], list[int]]], answers: list[list[int]],
                 out: list[tuple[float, int] | None]) -> None:
    """One pass over the batch's prompts (left-padded), one over all their answers on the copied cache."""
    import torch
    import torch.nn.functional as F

    device = _device(model)
    padded = _pad(tokenizer, [p for p, _ in batch], side="left", device=device)
    mask = padded["attention_mask"]
    with torch.no_grad():
        first = model(**padded, position_ids=_positions(mask), use_cache=True, logits_to_keep=1)
        rows = torch.tensor([g for g, (_, members) in enumerate(batch) for _ in members], device=device)
        cache = _cache_of(first)
        cache.reorder_cache(rows)
        members = [i for _, m in batch for i in m]
        ans = _pad(tokenizer, [answers[i] for i in members], side="right", device=device)
        full = torch.cat([mask[rows], ans["attention_mask"]], 1)
        start = mask.sum(1, keepdim=True)[rows]
        positions = start + torch.arange(ans["input_ids"].shape[1], device=device)
        logits = model(input_ids=ans["input_ids"], attention_mask=full, position_ids=positions,
                       **_cache_arg(model, cache), use_cache=False).logits
    # the first answer token is predicted by the prompt's last position, the others by the answer's own
    logits = torch.cat([first.logits[rows, -1:], logits[:, :-1]], 1).float()
    logp = F.log_softmax(logits, -1).gather(-1, ans["input_ids"].unsqueeze(-1)).squeeze(-1)
    for row, i in enumerate(members):
        n = len(answers[i])
        out[i] = (float(logp[row, :n].sum()), n)


def _cache_arg(model, cache) -> dict:
    """The key/value cache as the model's forward takes it: ``cache`` (transformers ≥ 5.23), or
    ``past_key_values`` (earlier versions and a checkpoint's own modelling code)."""
    import inspect

    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    return {name: cache}


def _cache_of(result):
    cache = getattr(result, "cache", None)
    return cache if cache is not None else result.past_key_values


def _positions(mask):
    """Position ids of left-padded rows: each row's first real token is position 0."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def choose_many(model, tokenizer, questions: Sequence[tuple[list[dict[str, str]], Sequence[str]]],
                **kw) -> list[tuple[int, list[float]]]:
    """For each (prompt, choices): the choice with the highest length-normalised log-likelihood and every
    choice's score. All questions' choices are scored together, ``batch_size`` answers per forward pass."""
    flat = [(prompt, c) for prompt, choices in questions for c in choices]
    scores = [lp / max(n, 1) for lp, n in answer_logprobs(model, tokenizer, flat, **kw)]
    out, at = [], 0
    for _prompt, choices in questions:
        mine = scores[at:at + len(choices)]
        at += len(choices)
        out.append((max(range(len(mine)), key=mine.__getitem__), mine))
    return out


def choose(model, tokenizer, prompt: list[dict[str, str]], choices: Sequence[str], **kw) -> tuple[int, list[float]]:
    """The choice with the highest length-normalised log-likelihood, and every choice's score."""
    return choose_many(model, tokenizer, [(prompt, choices)], **kw)[0]


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
        padded = _pad(tokenizer, windows[start:start + batch_size], side="right", device=device)
        batch, mask = padded["input_ids"], padded["attention_mask"]
        with torch.no_grad():
            logits = model(**padded).logits[:, :-1].float()
        nll = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")
        keep = mask[:, 1:].bool()
        total += float(nll[keep].sum())
        count += int(keep.sum())
    return math.exp(total / max(count, 1))
