"""Examples → token rows for the three stages: chat-template encoding with the answer tokens marked,
optional graph context in the prompt, packing of several examples per row (positions restart per example,
so attention never crosses them), and the collator the stages share."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kgtools.chat import CONTEXT_INTRO, encode, prompt_messages  # noqa: F401 - re-exported for the stages

IGNORE = -100
@dataclass
class Segment:
    """One example as tokens: ``ids`` and ``labels`` (prompt tokens masked)."""

    ids: list[int]
    labels: list[int]

    @classmethod
    def of(cls, prompt_ids: list[int], answer_ids: list[int], max_length: int) -> Segment:
        ids = prompt_ids + answer_ids
        labels = [IGNORE] * len(prompt_ids) + answer_ids
        if len(ids) > max_length:  # keep the answer: cut the prompt from the left
            cut = len(ids) - max_length
            ids, labels = ids[cut:], labels[cut:]
        return cls(ids, labels)


def pack(lengths: Sequence[int], max_length: int, *, seed: int = 0, shuffle: bool = True) -> list[list[int]]:
    """Indices grouped into rows of at most ``max_length`` tokens: first-fit over the lengths in decreasing
    order (few rows, little padding), rows then shuffled so a batch is not all long or all short."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = min(lengths[i], max_length)
        for r, free in enumerate(room):
            if free >= n:
                rows[r].append(i)
                room[r] -= n
                break
        else:
            rows.append([i])
            room.append(max_length - n)
    if shuffle:
        random.Random(seed).shuffle(rows)
    return rows


def join(segments: Sequence[Segment]) -> dict[str, list[int]]:
    """Several segments as one row; positions restart at each example (and the collator's attention mask
    keeps attention inside each example)."""
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for seg in segments:
        ids += seg.ids
        labels += seg.labels
        positions += list(range(len(seg.ids)))
    return {"input_ids": ids, "labels": labels, "position_ids": positions}


def pad_rows(rows: Sequence[dict[str, list[int]]], pad_id: int, prefix: str = "") -> dict[str, Any]:
    """Right-pad rows to the longest; the padding is a segment of its own (positions from 0, labels
    ignored). The attention mask is 4-D and block-diagonal: causal inside each example, nothing across.
    (transformers 5.23 does not infer that from restarting positions for DeepSeek-V3 under sdpa: a test
    checks that a packed example's logits equal its logits alone.)"""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids, labels, positions = [], [], []
    for r in rows:
        extra = width - len(r["input_ids"])
        ids.append(r["input_ids"] + [pad_id] * extra)
        labels.append(r["labels"] + [IGNORE] * extra)
        positions.append(r["position_ids"] + list(range(extra)))
    pos = torch.tensor(positions)
    return {
        f"{prefix}input_ids": torch.tensor(ids),
        f"{prefix}labels": torch.tensor(labels),
        f"{prefix}position_ids": pos,
        f"{prefix}attention_mask": block_causal_mask(pos),
    }


def block_causal_mask(positions):
    """[B, 1, L, L] boolean mask from per-row positions that restart at 0 for every packed example."""
    import torch

    segment = (positions == 0).cumsum(-1)
    same = segment[:, :, None] == segment[:, None, :]
    width = positions.shape[-1]
    causal = torch.ones(width, width, dtype=torch.bool, device=positions.device).tril()
    return (same & causal)[:, None]


class RowCollator:
    """Batches rows of ``input_ids``/``labels``/``position_ids`` (and, for distillation, the teacher's
    ``teacher_*`` twins)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch = pad_rows(rows, self.pad_id)
        if "teacher_input_ids" in rows[0]:
            teacher = [{k.removeprefix("teacher_"): v for k, v in r.items() if k.startswith("teacher_")} for r in rows]
            batch.update(pad_rows(teacher, self.pad_id, prefix="teacher_"))
        return batch


