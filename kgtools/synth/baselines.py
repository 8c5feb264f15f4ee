"""No-knowledge baselines for multiple choice: how often a guesser that never read the ontology picks the
right choice by the choice's surface alone. If one of them beats chance by much, the questions test word
games rather than knowledge. Reported in the synth manifest and by ``benchmarks/bench_synth.py``."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if len(w) > 2}


def _expected(scores: list[float], answer: int) -> float:
    """The accuracy of picking the highest score, ties broken uniformly at random."""
    best = max(scores)
    tied = [i for i, x in enumerate(scores) if x == best]
    return 1.0 / len(tied) if answer in tied else 0.0


def mcq_baselines(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``rows``: ``{"subject": surface name, "choices": [...], "answer_index": i, "split": s}``. The
    frequency baseline learns answer frequencies from the train split and is scored everywhere."""
    rows = list(rows)
    if not rows:
        return {"n": 0}
    seen = Counter(r["choices"][r["answer_index"]].casefold() for r in rows if r["split"] == "train")
    totals = Counter()
    for r in rows:
        choices, answer = r["choices"], r["answer_index"]
        subject = _words(r["subject"])
        totals["chance"] += 1 / len(choices)
        totals["word_overlap"] += _expected([len(_words(c) & subject) for c in choices], answer)
        totals["longest_choice"] += _expected([len(c) for c in choices], answer)
        totals["most_frequent_answer"] += _expected([seen.get(c.casefold(), 0) for c in choices], answer)
    n = len(rows)
    return {"n": n, **{k: round(v / n, 4) for k, v in sorted(totals.items())}}
