"""Which records are duplicates: exact duplicates after normalising case, spacing and punctuation, and
near-duplicates by embedding similarity — guarded against the trap of template data.

"What is a symptom of influenza?" and "What is a symptom of parainfluenza?" are near in embedding space but
are different facts: two synthetic records are merged only if their triples agree (equal, or one's contain
the other's). Pairs above the threshold with different facts are counted, never removed. Connected
components can chain a whole source together at a low threshold, so every removed record must itself be
above the threshold to the record that is kept; the largest groups are reported.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kgtools.dedupe.index import Neighbours

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Case-folded, punctuation removed, whitespace collapsed."""
    stripped = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text.casefold())
    return _SPACE.sub(" ", stripped).strip()


def compatible(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    """Same facts: equal triples, or one set contains the other; records without triples (corpora) always."""
    if a is None or b is None or (not a and not b):
        return True
    return a <= b or b <= a


@dataclass
class Removal:
    index: int
    kept: int
    similarity: float
    reason: str  # "exact" or "semantic"


@dataclass
class Grouping:
    """What :func:`find_duplicates` decided: the rows kept, each removal with the row it duplicates, and the
    near-duplicates it kept because they state different facts."""

    keep: list[int]
    removed: list[Removal]
    different_facts_above_threshold: int = 0
    unverified_in_chain: int = 0
    largest_groups: list[dict] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        reasons = Counter(r.reason for r in self.removed)
        return {"kept": len(self.keep), "removed_exact": reasons["exact"], "removed_semantic": reasons["semantic"],
                "different_facts_above_threshold": self.different_facts_above_threshold,
                "unverified_in_chain": self.unverified_in_chain}


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_duplicates(
    texts: Sequence[str],
    triples: Sequence[frozenset[str] | None],
    vectors: np.ndarray | None = None,
    near: Neighbours | None = None,
    *,
    threshold: float = 0.95,
    report_groups: int = 10,
) -> Grouping:
    """Group duplicates and choose one record to keep per group: the one with the most provenance
    (triples), then the first. ``vectors`` and ``near`` enable the semantic pass."""
    n = len(texts)
    uf = _UnionFind(n)
    different = 0
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        by_text.setdefault(normalise_text(t), []).append(i)
    for members in by_text.values():
        for j in members[1:]:
            if compatible(triples[members[0]], triples[j]):
                uf.union(members[0], j)
            else:
                different += 1
    if near is not None:
        for i, j, _sim in near.pairs(threshold):
            if uf.find(i) == uf.find(j):
                continue
            if compatible(triples[i], triples[j]):
                uf.union(i, j)
            else:
                different += 1

    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(uf.find(i), []).append(i)
    keep, removed, unverified = [], [], 0
    big = []
    for members in groups.values():
        if len(members) == 1:
            keep.append(members[0])
            continue
        kept = max(members, key=lambda i: (len(triples[i] or ()), -i))
        keep.append(kept)
        norm_kept = normalise_text(texts[kept])
        for i in members:
            if i == kept:
                continue
            if normalise_text(texts[i]) == norm_kept:
                removed.append(Removal(i, kept, 1.0, "exact"))
                continue
            sim = float(vectors[i] @ vectors[kept]) if vectors is not None else 0.0
            if sim >= threshold:
                removed.append(Removal(i, kept, sim, "semantic"))
            else:  # reached through a chain only: not a duplicate of the kept record, so it stays
                keep.append(i)
                unverified += 1
        big.append({"size": len(members), "kept": kept, "removed": sum(1 for r in removed if r.kept == kept)})
    keep.sort()
    removed.sort(key=lambda r: r.index)
    big.sort(key=lambda g: (-g["size"], g["kept"]))
    return Grouping(keep, removed, different, unverified, big[:report_groups])
