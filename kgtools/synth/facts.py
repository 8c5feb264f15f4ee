"""The facts of a knowledge graph, indexed for question generation: what holds (with is_a inheritance and
existential entailment), what does not, and how surely a corrupted fact is false.

An ontology is open-world: a fact it does not assert may still be true. So every negative carries a
``negative_kind``, from the surest to the weakest:

``disjoint``    contradicts an owl:disjointWith axiom (``X is a Y`` where X's class is disjoint with Y);
``hierarchy``   contradicts the is_a hierarchy, which is close to closed (``X is a Y`` where Y is not above X);
``functional``  replaces the only value of a relation the subject has exactly one of;
``unasserted``  merely not stated in the graph.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

from kgtools.config import NEGATIVE_KINDS  # noqa: F401 - re-exported: the kinds are defined with their config
from kgtools.graph.model import IS_A, NOT_FACTS, KnowledgeGraph, stated


@dataclass(frozen=True, order=True)
class Fact:
    s: str
    r: str
    o: str
    qualifier: str = ""

    @property
    def key(self) -> str:
        return f"{self.s}|{self.r}|{self.o}"


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) for a tuple of values (seeded by including the seed)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _reachable(start: str, step: dict[str, list[str]]) -> frozenset[str]:
    """Every node reached from ``start`` by following ``step`` (parents or children), start excluded."""
    seen: set[str] = set()
    stack = list(step.get(start, ()))
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(step.get(n, ()))
    return frozenset(seen)


def _rotated(pool: tuple[str, ...], u: float) -> list[str]:
    """The pool (in a fixed shuffled order) starting at a position drawn from ``u``: one hash per draw
    instead of one per candidate."""
    if not pool:
        return []
    start = int(u * len(pool))
    return [*pool[start:], *pool[:start]]


class FactIndex:
    """Facts (labelled subject and object, an asserting qualifier) and the lookups generation needs."""

    def __init__(self, kg: KnowledgeGraph):
        self.kg = kg
        g = kg.g
        self.label: dict[str, str] = {n: d["label"] for n, d in g.nodes(data=True) if d.get("label")}
        self.rel_label: dict[str, str] = {}
        self.parents: dict[str, list[str]] = defaultdict(list)
        self.children: dict[str, list[str]] = defaultdict(list)
        self.disjoint: dict[str, set[str]] = defaultdict(set)
        self.exactly_one: set[tuple[str, str]] = set()
        self.out_count: Counter[tuple[str, str]] = Counter()
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        inn: dict[tuple[str, str], list[str]] = defaultdict(list)
        facts = []
        for s, o, r, data in g.edges(keys=True, data=True):
            if r == "disjoint_with":
                self.disjoint[s].add(o)
                self.disjoint[o].add(s)
                continue
            if r == IS_A:
                self.parents[s].append(o)
                self.children[o].append(s)
            if r in NOT_FACTS or not stated(data["qualifier"]):
                continue
            self.out_count[(s, r)] += 1  # all values, labelled or not: "the X that s …" must name one thing
            if s not in self.label or o not in self.label:
                continue
            self.rel_label[r] = data["rel_label"]
            if data["qualifier"] == "exactly 1":
                self.exactly_one.add((s, r))
            facts.append(Fact(s, r, o, data["qualifier"]))
            out[(s, r)].append(o)
            inn[(r, o)].append(s)
        for lst in (*self.parents.values(), *self.children.values()):
            lst.sort()
        self.facts: list[Fact] = sorted(facts)
        self.out = {k: sorted(v) for k, v in sorted(out.items())}
        self.inn = {k: sorted(v) for k, v in sorted(inn.items())}
        self.relations = sorted(self.rel_label)
        self.labelled = sorted(self.label)
        # the labels of every node, for checking that a distractor is not the answer under another name
        self.names: dict[str, frozenset[str]] = {
            n: frozenset([d["label"].casefold(), *(s.casefold() for s in d.get("synonyms") or ())])
            for n, d in g.nodes(data=True) if d.get("label")
        }
        self.ancestors = lru_cache(maxsize=None)(self._ancestors)
        self.descendants = lru_cache(maxsize=None)(self._descendants)
        self.root = lru_cache(maxsize=None)(self._root)
        self.closure = lru_cache(maxsize=None)(self._closure)
        self.similar = lru_cache(maxsize=None)(self._similar)

    # -- hierarchy --------------------------------------------------------------------------------
    def _ancestors(self, n: str) -> frozenset[str]:
        return _reachable(n, self.parents)

    def _descendants(self, n: str) -> frozenset[str]:
        return _reachable(n, self.children)

    def _root(self, n: str) -> str:
        """The top-most labelled ancestor (the first in id order when there are several): the node's type."""
        tops = sorted(a for a in self.ancestors(n) if not self.parents.get(a) and a in self.label)
        return tops[0] if tops else n

    def type_label(self, n: str) -> str:
        """A noun for what kind of thing ``n`` is ("disease", "drug"), for {subject_type}/{object_type}."""
        root = self.root(n)
        if root == n:
            return "concept"
        return self.label.get(root, "concept")

    # -- truth ------------------------------------------------------------------------------------
    def _closure(self, s: str, r: str) -> frozenset[str]:
        """Everything the graph entails as an object of (s, r): asserted on s or inherited from its
        ancestors, and every ancestor of those (``s r some X`` entails ``s r some Y`` for Y ⊒ X).
        For is_a, the ancestors of s."""
        if r == IS_A:
            return self.ancestors(s)
        found: set[str] = set()
        for subject in (s, *self.ancestors(s)):
            for o in self.out.get((subject, r), ()):
                found.add(o)
                found |= self.ancestors(o)
        return frozenset(found)

    def holds(self, s: str, r: str, o: str) -> bool:
        return o in self.closure(s, r)

    def has_exactly_one(self, s: str, r: str) -> bool:
        return any((x, r) in self.exactly_one for x in (s, *self.ancestors(s)))

    def negative_kind(self, s: str, r: str, o: str) -> str | None:
        """How surely (s, r, o) is false; None if the graph entails it."""
        if self.holds(s, r, o):
            return None
        if r == IS_A:
            if o == s:
                return None
            mine = {s, *self.ancestors(s)}
            theirs = {o, *self.ancestors(o)}
            if any(self.disjoint.get(a, set()) & theirs for a in mine):
                return "disjoint"
            return "hierarchy"
        if self.has_exactly_one(s, r):
            only = {v for x in (s, *self.ancestors(s)) if (x, r) in self.exactly_one for v in self.out.get((x, r), ())}
            related = any(o in self.descendants(t) or t in self.descendants(o) for t in only)
            if not related:
                return "functional"
        return "unasserted"

    def same_name(self, a: str, b: str) -> bool:
        return bool(self.names.get(a, frozenset()) & self.names.get(b, frozenset()))

    # -- corruptions ------------------------------------------------------------------------------
    def object_corruptions(self, fact: Fact, allowed: tuple[str, ...], k: int, seed: object) -> list[tuple[str, str]]:
        """Up to ``k`` (o', negative_kind) that replace the object by a sibling or a concept of the same
        type that the graph does not link to the subject by the relation (inheritance included).
        Descendants of true objects are never used: they are not entailed, but not clearly false."""
        true = self.closure(fact.s, fact.r) | {fact.o}
        excluded = set(true)
        if fact.r == IS_A:  # "X is a Y" is false for anything not above X: siblings are good distractors
            excluded |= {fact.s} | self.descendants(fact.s)
        else:  # "X has symptom dry cough" when X has cough is not entailed, but not clearly false either
            for t in self.out.get((fact.s, fact.r), ()):
                excluded |= self.descendants(t)
        true_names = frozenset().union(*(self.names.get(t, frozenset()) for t in true))
        picked: list[tuple[str, str]] = []
        for cand in _rotated(self.similar(fact.o), unit_hash(seed, fact.key)):
            if cand in excluded or self.names.get(cand, frozenset()) & true_names:
                continue
            kind = self.negative_kind(fact.s, fact.r, cand)
            if kind is not None and kind in allowed:
                picked.append((cand, kind))
                if len(picked) == k:
                    break
        return picked

    def subject_corruption(self, fact: Fact, allowed: tuple[str, ...], seed: object) -> tuple[str, str] | None:
        """A sibling (or same-type concept) s' for which (s', r, o) does not hold."""
        for cand in _rotated(self.similar(fact.s), unit_hash(seed, "subject", fact.key)):
            if cand == fact.s or self.same_name(cand, fact.s):
                continue
            kind = self.negative_kind(cand, fact.r, fact.o)
            if kind is not None and kind in allowed:
                return cand, kind
        return None

    def _similar(self, n: str, limit: int = 64) -> tuple[str, ...]:
        """Siblings first; if fewer than a handful, other labelled nodes of the same type."""
        sibs = {c for p in self.parents.get(n, ()) for c in self.children.get(p, ()) if c != n and c in self.label}
        if len(sibs) >= 6:
            return tuple(sorted(sibs, key=lambda c: unit_hash("similar", n, c)))
        root = self.root(n)
        same_type = [d for d in sorted(self.descendants(root)) if d in self.label and d != n] if root != n else []
        if len(same_type) > limit:
            same_type = sorted(same_type, key=lambda c: unit_hash("pool", n, c))[:limit]
        return tuple(sorted(sibs | set(same_type), key=lambda c: unit_hash("similar", n, c)))
