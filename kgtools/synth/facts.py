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

import fnmatch
import hashlib
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from kgtools.config import NEGATIVE_KINDS  # noqa: F401 - re-exported: the kinds are defined with their config
from kgtools.graph.model import INSTANCE_OF, IS_A, NOT_FACTS, KnowledgeGraph, stated


@dataclass(frozen=True, order=True)
class Fact:
    s: str
    r: str
    o: str
    qualifier: str = ""
    # entailed, not stated (kgtools.graph.closure); not part of the identity of the fact
    inferred: bool = field(default=False, compare=False)

    @cached_property  # written to the instance's __dict__, which a frozen dataclass allows
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


@lru_cache(maxsize=65536)
def _plain(text: str) -> str:
    """Lower case, every run of non-word characters one space: for whole-word containment tests."""
    return " ".join(re.findall(r"\w+", text.casefold()))


@lru_cache(maxsize=65536)
def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z0-9]+", text.casefold()) if len(w) > 2)


def _distance(a: tuple[int, int, float], b: tuple[int, int, float]) -> float:
    """How differently two choices look to a surface guesser: overlap with the question, length, and how
    often each is an answer."""
    return abs(a[0] - b[0]) * 2 + abs(a[1] - b[1]) / max(a[1], b[1], 1) + 2 * abs(a[2] - b[2])


def excluded_nodes(kg: KnowledgeGraph, patterns: Sequence[str]) -> frozenset[str]:
    """Nodes whose id or IRI matches one of ``patterns`` (shell-style: 'BFO:*', 'owl:Thing'), and the
    individuals whose every type is excluded (IAO's curation-status values)."""
    if not patterns:
        return frozenset()
    exact = {p for p in patterns if not any(c in p for c in "*?[")}
    wild = [p for p in patterns if p not in exact]
    out = set()
    for n, d in kg.g.nodes(data=True):
        names = (n, d.get("iri") or "")
        if any(x in exact for x in names) or any(fnmatch.fnmatchcase(x, p) for p in wild for x in names):
            out.add(n)
    for n, d in kg.g.nodes(data=True):
        if d.get("kind") == "individual":
            types = [dst for _, dst, r in kg.g.out_edges(n, keys=True) if r == INSTANCE_OF]
            if types and all(t in out for t in types):
                out.add(n)
    return frozenset(out)


def display_names(label: dict[str, str], parents: dict[str, list[str]]) -> dict[str, str]:
    """How each concept is named in questions and choices: its label, or — where several concepts share a
    label — the label and its parent's ("parent (relationship role)"), so no two concepts read alike."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for n, text in label.items():
        by_name[text.casefold()].append(n)
    shown = {n: _inline(text) for n, text in label.items()}
    for group in by_name.values():
        if len(group) < 2:
            continue
        for n in group:
            parent = next((label[p] for p in sorted(parents.get(n, ())) if p in label
                           and label[p].casefold() != label[n].casefold()), None)
            if parent is not None:
                shown[n] = f"{_inline(label[n])} ({_inline(parent)})"
    return shown


def _inline(label: str) -> str:
    """A label as it reads inside a sentence: whitespace collapsed (labels written over several lines), and
    the full stop of a sentence-like label (four words or more) dropped, so no sentence ends in '..'."""
    text = " ".join(label.split())
    if text.endswith(".") and len(text.split()) >= 4 and not text.endswith(("etc.", "Inc.", "Ltd.", "Co.")):
        text = text[:-1]
    return text


def _rotated(pool: tuple[str, ...], u: float) -> list[str]:
    """The pool (in a fixed shuffled order) starting at a position drawn from ``u``: one hash per draw
    instead of one per candidate."""
    if not pool:
        return []
    start = int(u * len(pool))
    return [*pool[start:], *pool[:start]]


def _alike_relations(kg: KnowledgeGraph) -> dict[str, tuple[str, ...]]:
    """Relations that read alike are one relation to a reader: FIBO has two "produces" and two "has
    counterparty" in different namespaces, so "X produces Y" is true if either says it, and "the concept that X
    produces" names one thing only if both together give one value. Relation → every relation read alike."""
    by_reading: dict[str, list[str]] = defaultdict(list)
    for r, text in kg.relation_labels().items():
        by_reading[" ".join(text.casefold().split())].append(r)
    return {r: tuple(sorted(g_)) for g_ in by_reading.values() if len(g_) > 1 for r in g_}


class FactIndex:
    """Facts (labelled subject and object, an asserting qualifier) and the lookups generation needs."""

    def __init__(self, kg: KnowledgeGraph, exclude: Sequence[str] = ()):
        self.kg = kg
        self.answer_counts: Counter[str] | None = None  # set by the MCQ generator: examples per answer
        self.surface_misses = 0
        g = kg.g
        self.excluded: frozenset[str] = excluded_nodes(kg, exclude)
        # an excluded node (ontology plumbing) is never a subject, an answer or a noun of a question
        self.label: dict[str, str] = {n: d["label"] for n, d in g.nodes(data=True)
                                      if d.get("label") and n not in self.excluded}
        self.rel_label: dict[str, str] = {}
        self.parents: dict[str, list[str]] = defaultdict(list)
        self.children: dict[str, list[str]] = defaultdict(list)
        self.disjoint: dict[str, set[str]] = defaultdict(set)
        self.types: dict[str, list[str]] = defaultdict(list)  # individual → its classes
        self.exactly_one: set[tuple[str, str]] = set()
        self.out_count: Counter[tuple[str, str]] = Counter()
        self.all_out: dict[tuple[str, str], list[str]] = defaultdict(list)
        # what the graph states, then what it entails (inferred.parquet): true like what it states, and asked
        # like it; an inferred is_a / instance_of (from a domain or range) joins the hierarchy, so no negative
        # denies it
        self.inferred: dict[str, dict] = {}
        facts, out, inn = self._index(kg)
        for lst in (*self.parents.values(), *self.children.values()):
            lst.sort()
        self.alike = _alike_relations(kg)
        self.facts: list[Fact] = sorted(facts)
        self.out = {k: sorted(v) for k, v in sorted(out.items())}
        self.inn = {k: sorted(v) for k, v in sorted(inn.items())}
        self.relations = sorted(self.rel_label)
        self.labelled = sorted(self.label)
        objects: dict[str, set[str]] = defaultdict(set)
        for r, o in self.inn:
            objects[r].add(o)
        self.objects_of: dict[str, tuple[str, ...]] = {r: tuple(sorted(os_)) for r, os_ in objects.items()}
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
        self.sibling_pool = lru_cache(maxsize=None)(self._sibling_pool)
        self.same_type_objects = lru_cache(maxsize=None)(self._same_type_objects)
        self.type_members = lru_cache(maxsize=None)(self._type_members)
        self.disjoint_above = lru_cache(maxsize=None)(self._disjoint_above)
        self.exactly_one_values = lru_cache(maxsize=None)(self._exactly_one_values)
        self.with_word = lru_cache(maxsize=None)(self._with_word)
        self._word_index: dict[str, tuple[str, ...]] | None = None
        self.display = display_names(self.label, self.parents)

    def _index(self, kg: KnowledgeGraph) -> tuple[list[Fact], dict, dict]:
        """Fill the hierarchy, types and per-relation counts from every edge; return the facts (labelled ends,
        an asserting qualifier) with their (subject, relation) → objects and (relation, object) → subjects."""
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        inn: dict[tuple[str, str], list[str]] = defaultdict(list)
        facts = []
        for s, r, o, rel_label, qualifier, row in self._edges(kg):
            if r == IS_A:
                self.parents[s].append(o)
                self.children[o].append(s)
            elif r == INSTANCE_OF:
                self.types[s].append(o)
            if r in NOT_FACTS or not stated(qualifier):
                continue
            self.out_count[(s, r)] += 1  # all values, labelled or not: "the X that s …" must name one thing
            self.all_out[(s, r)].append(o)
            if s not in self.label or o not in self.label:
                continue
            if row is None:
                self.rel_label[r] = rel_label
            else:
                self.rel_label.setdefault(r, rel_label)
            if qualifier == "exactly 1":
                self.exactly_one.add((s, r))
            fact = Fact(s, r, o, qualifier, inferred=row is not None)
            if row is not None:
                self.inferred[fact.key] = row
            facts.append(fact)
            out[(s, r)].append(o)
            inn[(r, o)].append(s)
        return facts, out, inn

    def _edges(self, kg: KnowledgeGraph):
        """(s, r, o, relation label, qualifier, inferred row or None): the stated edges (disjointness kept
        aside), then the inferred facts between nodes that are not excluded."""
        for s, o, r, data in kg.g.edges(keys=True, data=True):
            if r == "disjoint_with":
                self.disjoint[s].add(o)
                self.disjoint[o].add(s)
                continue
            yield s, r, o, data["rel_label"], data["qualifier"], None
        for row in kg.meta.get("inferred") or ():
            s, o = row["src"], row["dst"]
            if s not in self.excluded and o not in self.excluded and s in kg.g and o in kg.g:
                yield s, row["rel"], o, row["rel_label"], "", row

    # -- hierarchy --------------------------------------------------------------------------------
    def _ancestors(self, n: str) -> frozenset[str]:
        return _reachable(n, self.parents)

    def _descendants(self, n: str) -> frozenset[str]:
        return _reachable(n, self.children)

    def _root(self, n: str) -> str:
        """The top-most labelled ancestor that is not excluded plumbing (the first in id order when there
        are several): the node's type. Under BFO that is 'material entity' or 'process', not 'continuant'."""
        ancestors = self.ancestors(n)
        tops = sorted(a for a in ancestors if a in self.label
                      and not any(p in self.label for p in self.parents.get(a, ())))
        return tops[0] if tops else n

    def type_label(self, n: str) -> str:
        """A noun for what kind of thing ``n`` is ("disease", "drug"), for {subject_type}/{object_type}."""
        root = self.root(n)
        if root == n:  # an individual: the kind of thing its class is
            typed = sorted(t for t in self.types.get(n, ()) if t in self.label)
            return self.type_label(typed[0]) if typed and typed[0] != n else "concept"
        return self.label.get(root, "concept")

    # -- truth ------------------------------------------------------------------------------------
    def _closure(self, s: str, r: str) -> frozenset[str]:
        """Everything the graph entails as an object of (s, r): asserted on s or inherited from its
        ancestors, and every ancestor of those (``s r some X`` entails ``s r some Y`` for Y ⊒ X).
        For is_a, the ancestors of s."""
        if r == IS_A:
            return self.ancestors(s)
        found: set[str] = set()
        for subject, r_ in itertools.product((s, *self.ancestors(s)), self.alike.get(r, (r,))):
            for o in self.out.get((subject, r_), ()):
                found.add(o)
                found |= self.ancestors(o)
                for t in self.types.get(o, ()):  # "NNA registers v" and v is a Telekurs Id: it registers one
                    found.add(t)
                    found |= self.ancestors(t)
        return frozenset(found)

    def holds(self, s: str, r: str, o: str) -> bool:
        return o in self.closure(s, r)

    def unique_value(self, s: str, r: str) -> str | None:
        """The one most specific value of (s, r), asserted on s or inherited from its ancestors, labelled
        or not; ``None`` when there are several (then "the r of s" would be ambiguous) or none."""
        if r == IS_A:
            values = set(self.parents.get(s, ()))
        else:  # an individual inherits what its classes say ("some regional government represents it")
            sources = {s, *self.ancestors(s)}
            for t in self.types.get(s, ()):
                sources |= {t, *self.ancestors(t)}
            values = {o for x in sources for r_ in self.alike.get(r, (r,)) for o in self.all_out.get((x, r_), ())}
        specific = {v for v in values if not any(v in self.ancestors(w) for w in values if w != v)}
        return next(iter(specific)) if len(specific) == 1 else None

    def has_exactly_one(self, s: str, r: str) -> bool:
        return bool(self.exactly_one) and bool(self.exactly_one_values(s, r))

    def _exactly_one_values(self, s: str, r: str) -> frozenset[str]:
        """The values of (s, r) asserted on s or an ancestor that say 'exactly 1' (cached per pair)."""
        return frozenset(v for x in (s, *self.ancestors(s)) if (x, r) in self.exactly_one
                         for v in self.out.get((x, r), ()))

    def _disjoint_above(self, s: str) -> frozenset[str]:
        """Every class declared disjoint with s or one of its ancestors (cached per subject)."""
        found: set[str] = set()
        for a in (s, *self.ancestors(s)):
            found |= self.disjoint.get(a, set())
        return frozenset(found)

    def negative_kind(self, s: str, r: str, o: str) -> str | None:
        """How surely (s, r, o) is false; None if the graph entails it."""
        if self.holds(s, r, o):
            return None
        if r == IS_A:
            if o == s:
                return None
            if self.disjoint:
                clash = self.disjoint_above(s)
                if o in clash or not clash.isdisjoint(self.ancestors(o)):
                    return "disjoint"
            return "hierarchy"
        if self.exactly_one and (only := self.exactly_one_values(s, r)):
            if not any(o in self.descendants(t) or t in self.descendants(o) for t in only):
                return "functional"
        return "unasserted"

    def same_name(self, a: str, b: str) -> bool:
        return bool(self.names.get(a, frozenset()) & self.names.get(b, frozenset()))

    # -- corruptions ------------------------------------------------------------------------------
    def object_corruptions(self, fact: Fact, allowed: tuple[str, ...], k: int, seed: object,
                           surface: str | None = None) -> list[tuple[str, str]]:
        """Up to ``k`` (o', negative_kind) that replace the object by a concept of the answer's kind — a
        sibling, another object of the same relation of the same type, a concept of the same type — that
        the graph does not link to the subject by the relation (inheritance included). The surest
        negatives come first (:data:`NEGATIVE_KINDS` order); among equally sure ones, when ``surface``
        (the question's subject) is given, those that look as much like the answer as possible, so that
        word overlap with the question or length gives the answer away no more than chance.
        Descendants of true objects are never used: they are not entailed, but not clearly false."""
        possible = set(allowed)  # which kinds this fact can have at all
        functional = fact.r != IS_A and self.has_exactly_one(fact.s, fact.r)
        if fact.r != IS_A:
            possible -= {"disjoint", "hierarchy"}
            if not functional:
                possible.discard("functional")
        if not possible:
            return []
        true = self.closure(fact.s, fact.r) | {fact.o}
        excluded = set(true)
        if fact.r == IS_A:  # "X is a Y" is false for anything not above X: siblings are good distractors
            excluded |= {fact.s} | self.descendants(fact.s)
        else:  # "X has symptom dry cough" when X has cough (or inherits it) is not entailed, nor clearly false
            for x in (fact.s, *self.ancestors(fact.s)):
                for t in (t for r_ in self.alike.get(fact.r, (fact.r,)) for t in self.all_out.get((x, r_), ())):
                    excluded |= self.descendants(t)
        true_names = frozenset().union(*(self.names.get(t, frozenset()) for t in true))
        found: list[tuple[int, str, str]] = []
        budget = k * 4 + 8 if surface is None else k * 12 + 12
        # outside is_a, only an exactly-one relation can give a surer kind than `unasserted`
        if surface is None and fact.r != IS_A and not functional:
            budget = k
        seen_names: set[str] = set()
        sure = 0
        for order, cand in enumerate(self._pool(fact, seed, surface)):
            if cand in excluded or self.names.get(cand, frozenset()) & true_names:
                continue
            kind = self.negative_kind(fact.s, fact.r, cand)
            if kind is None or kind not in allowed:
                continue
            shown = self.display.get(cand, cand).casefold()
            if shown in seen_names:  # two concepts shown alike would make two identical choices
                continue
            seen_names.add(shown)
            found.append((order, cand, kind))
            sure += kind != "unasserted"
            if len(found) >= budget or (surface is None and sure >= k):
                break
        if surface is None:
            found.sort(key=lambda x: (NEGATIVE_KINDS.index(x[2]), x[0]))
        else:
            return self._match_surface(found, k, surface, fact)
        return [(cand, kind) for _, cand, kind in found[:k]]

    def _match_surface(self, found: list[tuple[int, str, str]], k: int, surface: str,
                       fact: Fact) -> list[tuple[str, str]]:
        """k distractors such that, for each thing a guesser could go by (words shared with the question,
        how often a concept is an answer, length), some distractor has at least as much of it as the
        answer: then no surface rule singles the answer out. The rest are those that look most like it."""
        target = self._look(surface, fact.o, fact.r)
        looks = {cand: self._look(surface, cand, fact.r) for _, cand, _ in found}
        unsure = NEGATIVE_KINDS.index("unasserted")
        rank = {cand: (NEGATIVE_KINDS.index(kind) >= unsure, _distance(looks[cand], target), order)
                for order, cand, kind in found}
        kinds = {cand: kind for _, cand, kind in found}
        chosen: list[str] = []
        for f in range(3):
            if len(chosen) >= k or any(looks[c][f] >= target[f] for c in chosen):
                continue
            able = [c for c in kinds if c not in chosen and looks[c][f] >= target[f]]
            if able:
                chosen.append(min(able, key=lambda c: (rank[c][0], looks[c][f] - target[f], rank[c][1:])))
        rest = sorted((c for c in kinds if c not in chosen), key=lambda c: rank[c])
        chosen += rest[: k - len(chosen)]
        if target[0] >= 2 and not any(looks[c][0] >= target[0] for c in chosen):
            return []  # the answer shares two words or more with the question and no distractor does: no question
        if not all(any(looks[c][f] >= target[f] for c in chosen) for f in (0, 2)):
            self.surface_misses += 1  # the answer stands out a little by its words or how often it answers
        return [(c, kinds[c]) for c in chosen]

    def _pool(self, fact: Fact, seed: object, surface: str | None = None) -> list[str]:
        """Candidates of the answer's kind: its siblings or same-type concepts, then other objects of the
        same relation that share its type (as often an answer as the answer is), then — for multiple
        choice — concepts of that type that share a word with the question's subject (as close to it in
        wording as the answer may be)."""
        pool = _rotated(self.similar(fact.o), unit_hash(seed, fact.key))
        root = self.root(fact.o)
        same_rel = [o for o in _rotated(self.same_type_objects(fact.r, root), unit_hash(seed, "rel", fact.key))[:48]
                    if o != fact.o]
        if surface is None:
            have = set(pool)
            return pool + [o for o in same_rel if o not in have]
        near: list[str] = []
        for word in sorted(_words(surface)):
            found = _rotated(self.with_word(word), unit_hash(seed, "word", word, fact.key))
            near += [o for o in found[:16] if o != fact.o and self.root(o) == root]
        # interleaved, so that a small scan budget sees every source
        merged = [x for trio in itertools.zip_longest(near, pool, same_rel) for x in trio if x is not None]
        return list(dict.fromkeys(merged))

    def _with_word(self, word: str) -> tuple[str, ...]:
        if self._word_index is None:
            index: dict[str, list[str]] = defaultdict(list)
            for n in self.labelled:
                for w in _words(self.display.get(n, n)):
                    index[w].append(n)
            self._word_index = {w: tuple(ns) for w, ns in index.items()}
        return self._word_index.get(word, ())

    def _same_type_objects(self, r: str, root: str) -> tuple[str, ...]:
        """The objects of relation ``r`` whose type (root) is ``root``, in a fixed shuffled order."""
        found = [o for o in self.objects_of.get(r, ()) if self.root(o) == root]
        return tuple(sorted(found, key=lambda c: unit_hash("rel-pool", r, c)))

    def _look(self, surface: str, node: str, r: str) -> tuple[int, int, float]:
        """What a no-knowledge guesser sees of a choice: words shared with the question's subject, length
        in words, and how often it is an answer of the relation (log scale)."""
        shown = self.display.get(node, node)
        if self.answer_counts is not None:  # how often the data will show it as the answer
            answers = self.answer_counts.get(node, 0)
        else:
            answers = len(self.inn.get((r, node), ()))
        return len(_words(shown) & _words(surface)), len(shown.split()), math.log1p(answers)

    def subject_corruption(self, fact: Fact, allowed: tuple[str, ...], seed: object) -> tuple[str, str] | None:
        """A sibling (or same-type concept) s' for which (s', r, o) does not hold, the surest kind first."""
        best: tuple[str, str] | None = None
        tried = 0
        for cand in _rotated(self.similar(fact.s), unit_hash(seed, "subject", fact.key)):
            if cand == fact.s or self.same_name(cand, fact.s):
                continue
            kind = self.negative_kind(cand, fact.r, fact.o)
            if kind is not None and kind in allowed:
                if kind != "unasserted":
                    return cand, kind
                best = best or (cand, kind)
            tried += 1
            if tried >= 16:
                break
        return best

    def _similar(self, n: str, limit: int = 64) -> tuple[str, ...]:
        """Siblings first (from each parent's children, shuffled once per parent and read from a position
        drawn for ``n``: one hash per node, not one per pair of siblings); if fewer than a handful, then a
        window of the other labelled nodes of the same type."""
        merged = [c for p in self.parents.get(n, ()) for c in self.sibling_pool(p) if c != n]
        sibs = _rotated(tuple(dict.fromkeys(merged)), unit_hash("similar", n))
        if len(sibs) >= 6:
            return tuple(sibs)
        root = self.root(n)
        same_type: list[str] = []
        if root != n:  # a window of the type's members, shuffled once per type: one hash per node, not one per member
            members = _rotated(self.type_members(root), unit_hash("pool", n))
            same_type = [d for d in members[: limit + 1] if d != n][:limit]
        return tuple(dict.fromkeys([*sibs, *same_type]))

    def _sibling_pool(self, parent: str) -> tuple[str, ...]:
        """The labelled children of ``parent``, in a fixed shuffled order."""
        return tuple(sorted((c for c in self.children.get(parent, ()) if c in self.label),
                            key=lambda c: unit_hash("siblings", parent, c)))

    def _type_members(self, root: str) -> tuple[str, ...]:
        """The labelled descendants of a type's root, in a fixed shuffled order."""
        return tuple(sorted((d for d in self.descendants(root) if d in self.label),
                            key=lambda c: unit_hash("pool", root, c)))

    def names_in(self, name: str, text: str) -> bool:
        """Whether ``name`` occurs in ``text`` as whole words, case-insensitively (no regex per name)."""
        return f" {_plain(name)} " in f" {_plain(text)} "
