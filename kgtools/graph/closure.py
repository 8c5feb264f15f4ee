"""What a knowledge graph entails but does not state: a bounded, sound closure whose every inferred fact
carries the facts it follows from.

Rules (each fact a triple of the kg; ``premises`` are ``"s|r|o"`` keys, asserted or inferred before):

``inherited``     A is_a B, B r some X          → A r some X      (restrictions hold for every subclass)
``transitive``    a r b, b r c, r transitive    → a r c
``chain``         a p b, b q c, p ∘ q ⊑ r       → a r c           (owl:propertyChainAxiom, OBO holds_over_chain)
``sub_property``  a p b, p ⊑ q                  → a q b
``inverse``       a p b, p inverse of q         → b q a           (between individuals or SKOS concepts only)
``symmetric``     a p b, p symmetric            → b p a           (idem; ``skos:related`` by the SKOS reference)
``domain``        a p b, p has domain D         → a is_a D (a class) / a instance_of D (an individual)
``range``         a p b, p has range R          → b instance_of R  (individuals only)

Why not an OWL reasoner: OWL 2 RL (owlrl, reasonable) cannot chain through ``someValuesFrom`` in class
axioms, which is how OBO and FIBO state almost every relation (``A ⊑ ∃part_of.B``), and owlrl does not
terminate on some RO chains. This closure reads those existentials as EL does — A ⊑ ∃p.B and B ⊑ ∃q.C give
A ⊑ ∃(p∘q).C — which is sound. Inverses are applied to assertions only, because A ⊑ ∃p.B does not
entail B ⊑ ∃p⁻.A. A range applies to assertions only, because A ⊑ ∃p.B with range R says nothing new
about a named class. Domain and range typing is one pass at the end, not fed back into inheritance: the
closure is sound and bounded (``max_rounds``), not complete.

A conclusion is not recorded when the subject already has a more specific value for the relation
(``X has symptom fever`` when X has ``high fever``): it is entailed, but no expert would list it.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import networkx as nx

from kgtools.graph.model import INSTANCE_OF, IS_A, NOT_FACTS, KnowledgeGraph, stated

log = logging.getLogger(__name__)

RULES = ("inherited", "transitive", "chain", "sub_property", "inverse", "symmetric", "domain", "range")
CLASS_PROVENANCE = frozenset({"restriction", "equivalentClass"})  # C ⊑ ∃r.X (or an intersection's part)
ASSERTION_PROVENANCE = frozenset({"assertion", "skos"})  # a r b between individuals or SKOS concepts
SUBCLASS_PROVENANCE = frozenset({"subClassOf", "equivalentClass"})  # is_a that restrictions inherit down

Triple = tuple[str, str, str]


def key(t: Triple) -> str:
    return f"{t[0]}|{t[1]}|{t[2]}"


@dataclass(frozen=True)
class Inferred:
    """One inferred fact: ``rule`` applied to ``premises`` (keys of asserted or earlier inferred facts),
    ``axiom`` the property axiom used (empty for inheritance), ``depth`` the number of rule applications."""

    s: str
    r: str
    o: str
    rule: str
    depth: int
    premises: tuple[str, ...]
    level: str  # "class" (A ⊑ ∃r.X) or "assertion" (a r b)
    axiom: str = ""

    @property
    def key(self) -> str:
        return f"{self.s}|{self.r}|{self.o}"


@dataclass
class Closure:
    facts: list[Inferred]
    justification: dict[str, tuple[str, ...]]  # inferred key → the asserted facts it rests on, sorted
    stats: dict[str, Any]


def _collector(found: list[Triple]):
    """``put(t)``: append ``t`` to ``found`` unless it is None (a conclusion already known)."""
    def put(t: Triple | None) -> None:
        if t is not None:
            found.append(t)
    return put


def entail(kg: KnowledgeGraph, *, rules: Iterable[str] = RULES, max_rounds: int = 4,
           max_facts: int = 5_000_000) -> Closure:
    """The inferred facts of ``kg`` under ``rules``, with ``kg.meta['relations']`` (relations.json) as the
    property axioms. Rounds of transitive/chain/sub-property/inverse/symmetric stop at a fixpoint or after
    ``max_rounds``; the whole stops (and says so in ``stats['truncated']``) past ``max_facts``."""
    run = _Entailment(kg, frozenset(rules), max_facts)
    if "inherited" in run.rules:
        run.inherit()
    run.property_rounds(max_rounds)
    if {"domain", "range"} & run.rules:
        run.domains_and_ranges()
    return run.closure()


class _Entailment:
    """One closure: the stated facts indexed (by subject and relation, by relation and object, is_a parents),
    the inferred ones added rule by rule (each once, with its premises), then justified down to stated facts."""

    def __init__(self, kg: KnowledgeGraph, rules: frozenset[str], max_facts: int) -> None:
        self.rules, self.max_facts = rules, max_facts
        self.axioms: dict[str, dict[str, Any]] = kg.meta.get("relations") or {}
        g = kg.g
        self.kind = {n: d.get("kind") for n, d in g.nodes(data=True)}
        self.label = {r: a.get("label") or r for r, a in self.axioms.items()}
        self.level: dict[Triple, str] = {}  # every known fact → "class" / "assertion"
        self.out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.inn: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.parents: dict[str, list[str]] = defaultdict(list)  # is_a, any provenance: for ancestors
        self.sub_parents: dict[str, list[str]] = defaultdict(list)  # is_a that restrictions inherit down
        self.types: dict[str, list[str]] = defaultdict(list)
        for s, o, r, d in g.edges(keys=True, data=True):
            if r == IS_A:
                self.parents[s].append(o)
                if d["provenance"] in SUBCLASS_PROVENANCE:
                    self.sub_parents[s].append(o)
                continue
            if r == INSTANCE_OF:
                self.types[s].append(o)
                continue
            if r in NOT_FACTS or not stated(d["qualifier"]):
                continue
            if d["provenance"] in CLASS_PROVENANCE:
                lv = "class"
            elif d["provenance"] in ASSERTION_PROVENANCE:
                lv = "assertion"
            else:
                continue
            self.level[(s, r, o)] = lv
            self.out[s][r].add(o)
            self.inn[(r, o)].add(s)
            self.label.setdefault(r, d["rel_label"])
        self.derived: dict[Triple, Inferred] = {}
        self.stats: Counter[str] = Counter()
        self.truncated = False
        self.ancestors = cache(self._ancestors)

    def _ancestors(self, n: str) -> frozenset[str]:
        seen: set[str] = set()
        stack = list(self.parents.get(n, ()))
        while stack:
            x = stack.pop()
            if x not in seen:
                seen.add(x)
                stack.extend(self.parents.get(x, ()))
        return frozenset(seen)

    def depth(self, t: Triple) -> int:
        d = self.derived.get(t)
        return d.depth if d is not None else 0

    def add(self, t: Triple, rule: str, premises: tuple[Triple, ...], lv: str, axiom: str = "") -> Triple | None:
        """Record ``t`` as inferred (returned) unless it is known, trivial, redundant or past ``max_facts``."""
        s, r, o = t
        if s == o or t in self.level or self.truncated:
            return None
        if r not in (IS_A, INSTANCE_OF) and any(o in self.ancestors(x) for x in self.out[s].get(r, ())):
            self.stats["redundant"] += 1  # s already has a more specific value: entailed, never worth saying
            return None
        self.level[t] = lv
        self.derived[t] = Inferred(s, r, o, rule, 1 + max(self.depth(p) for p in premises),
                                   tuple(key(p) for p in premises), lv, axiom)
        self.stats[rule] += 1
        if r not in (IS_A, INSTANCE_OF):
            self.out[s][r].add(o)
            self.inn[(r, o)].add(s)
        if len(self.derived) >= self.max_facts:
            self.truncated = True
            log.warning("closure stopped at %d inferred facts (kg.entailment.max_facts)", self.max_facts)
        return t

    def inherit(self) -> None:
        """Restrictions inherited down is_a, parents before children."""
        sub = nx.DiGraph((p, c) for c, ps in self.sub_parents.items() for p in ps)
        try:
            order = list(nx.topological_sort(sub))
        except nx.NetworkXUnfeasible:
            order = []
            self.stats["inheritance_skipped_is_a_cycle"] += 1
        for child in order:
            if self.kind.get(child) != "class":
                continue
            for parent in sorted(self.sub_parents.get(child, ())):
                isa = (child, IS_A, parent)
                for r, objs in list(self.out.get(parent, {}).items()):
                    for o in sorted(objs):
                        if self.level.get((parent, r, o)) == "class":
                            self.add((child, r, o), "inherited", (isa, (parent, r, o)), "class")

    def _chains(self) -> tuple[dict[str, list[tuple[str, str, str]]], dict[str, list[tuple[str, str, str]]]]:
        """Transitivity and two-step chains as (p → (q, result, axiom)) and (q → (p, result, axiom))."""
        first: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        second: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for r, a in self.axioms.items():
            if a.get("transitive") and "transitive" in self.rules:
                first[r].append((r, r, f"{r} transitive"))
                second[r].append((r, r, f"{r} transitive"))
            for chain in a.get("chains") or () if "chain" in self.rules else ():
                if len(chain) != 2:
                    self.stats["chain_longer_than_two_not_applied"] += 1
                    continue
                p, q = chain
                first[p].append((q, r, f"{p} o {q} -> {r}"))
                second[q].append((p, r, f"{p} o {q} -> {r}"))
        return first, second

    def property_rounds(self, max_rounds: int) -> None:
        """Transitive, chain, sub-property, inverse and symmetric rules, round by round over the facts the
        round before found, to a fixpoint or ``max_rounds``."""
        chains_first, chains_second = self._chains()
        rule_of = lambda axiom: "transitive" if axiom.endswith(" transitive") else "chain"  # noqa: E731
        level, out, inn, add, rules = self.level, self.out, self.inn, self.add, self.rules
        frontier = list(level)
        for round_no in range(max_rounds):
            new: list[Triple] = []
            put = _collector(new)
            for t in frontier:
                a, p, b = t
                lv = level[t]
                ax = self.axioms.get(p) or {}
                for q, r, axiom in chains_first.get(p, ()):
                    for c in sorted(out.get(b, {}).get(q, ())):
                        put(add((a, r, c), rule_of(axiom), (t, (b, q, c)), lv, axiom))
                for pp, r, axiom in chains_second.get(p, ()):
                    for x in sorted(inn.get((pp, a), ())):
                        put(add((x, r, b), rule_of(axiom), ((x, pp, a), t), level[(x, pp, a)], axiom))
                if "sub_property" in rules:
                    for q in ax.get("sub_property_of") or ():
                        put(add((a, q, b), "sub_property", (t,), lv, f"{p} subPropertyOf {q}"))
                if lv == "assertion":
                    if "inverse" in rules:
                        for q in ax.get("inverse_of") or ():
                            put(add((b, q, a), "inverse", (t,), lv, f"{p} inverseOf {q}"))
                    if "symmetric" in rules and ax.get("symmetric"):
                        put(add((b, p, a), "symmetric", (t,), lv, f"{p} symmetric"))
            self.stats["rounds"] = round_no + 1
            if not new or self.truncated:
                break
            frontier = new

    def domains_and_ranges(self) -> None:
        """Domain and range typing, one pass over every fact known by now."""
        kind, ancestors, rules = self.kind, self.ancestors, self.rules

        @cache
        def typed(n: str) -> frozenset[str]:
            return frozenset(x for t in self.types.get(n, ()) for x in (t, *ancestors(t)))

        for t in list(self.level):
            a, p, b = t
            ax = self.axioms.get(p)
            if not ax or t[1] in (IS_A, INSTANCE_OF):
                continue
            lv = self.level[t]
            if "domain" in rules:
                for dom in ax.get("domain") or ():
                    if (kind.get(a) == "class" and dom != a and dom not in ancestors(a) and a not in ancestors(dom)
                            and lv == "class"):  # (a class above a is no new fact, one below it a cycle)
                        self.add((a, IS_A, dom), "domain", (t,), "class", f"{p} domain {dom}")
                    elif kind.get(a) == "individual" and dom not in typed(a):
                        self.add((a, INSTANCE_OF, dom), "domain", (t,), "assertion", f"{p} domain {dom}")
            if "range" in rules and lv == "assertion" and kind.get(b) == "individual":
                for rng in ax.get("range") or ():
                    if rng not in typed(b):
                        self.add((b, INSTANCE_OF, rng), "range", (t,), "assertion", f"{p} range {rng}")

    def closure(self) -> Closure:
        facts = sorted(self.derived.values(), key=lambda f: (f.s, f.r, f.o))
        justification = _justify(facts)
        by_rule = Counter(f.rule for f in facts)
        stats = self.stats
        return Closure(facts, justification, {
            "inferred": len(facts),
            "by_rule": dict(sorted(by_rule.items())),
            "max_depth": max((f.depth for f in facts), default=0),
            "redundant_not_recorded": stats["redundant"],
            "rounds": stats["rounds"],
            "truncated": self.truncated,
            **{k: v for k, v in stats.items() if k.endswith(("_not_applied", "_cycle"))},
            "relation_labels": {r: self.label[r] for r in sorted({f.r for f in facts}) if r in self.label},
        })


def _justify(facts: list[Inferred]) -> dict[str, tuple[str, ...]]:
    """Each inferred fact's key → the asserted facts under it (its premises, followed down through the inferred
    ones), sorted."""
    by_key = {f.key: f for f in facts}
    leaves: dict[str, tuple[str, ...]] = {}
    for f in facts:
        if f.key in leaves:
            continue
        stack = [f.key]
        while stack:  # iterative post-order: deep hierarchies outgrow Python's recursion limit
            top = stack[-1]
            pending = [p for p in by_key[top].premises if p in by_key and p not in leaves]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            found: set[str] = set()
            for p in by_key[top].premises:
                found.update(leaves[p] if p in by_key else (p,))
            leaves[top] = tuple(sorted(found))
    return {f.key: leaves[f.key] for f in facts}
