"""The KnowledgeGraph every later stage reads: concepts and typed relations over a networkx MultiDiGraph."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import networkx as nx

from kgtools.errors import KgtoolsError

IS_A = "is_a"
INSTANCE_OF = "instance_of"
HIERARCHY = (IS_A,)

# Node kinds. Only CONCEPT_KINDS count as concepts; "external" nodes are classes other ontologies define
# that the loaded ones point at (MAxO's UBERON fillers), kept so that no edge dangles.
CONCEPT_KINDS = ("class", "concept")
NODE_KINDS = ("class", "concept", "individual", "external")

NODE_FIELDS = (
    "id", "iri", "label", "synonyms", "synonym_scopes", "definition", "xrefs", "types", "kind", "deprecated", "source",
    "literal_properties", "literal_values",
)
EDGE_FIELDS = ("src", "rel", "rel_label", "dst", "provenance", "qualifier")

_SPACES = re.compile(r"\s+")

# Relations that are bookkeeping between classes, not domain facts to state or ask about.
NOT_FACTS = frozenset({"disjoint_with", "equivalent_to"})


def stated(qualifier: str) -> bool:
    """Whether an edge with this qualifier asserts that the relation holds for its subject.

    ``some``, ``value``, ``exactly n`` and ``min n`` (n ≥ 1) do; ``only``, ``max n`` and ``min 0`` do not
    (FIBO uses ``min 0`` for "may have").
    """
    if qualifier in ("", "some", "value"):
        return True
    word, _, number = qualifier.partition(" ")
    return word in ("exactly", "min") and number.isdigit() and int(number) >= 1


def normalise_term(text: str) -> str:
    """Key for label/synonym lookup: case-folded, whitespace collapsed."""
    return _SPACES.sub(" ", text.strip()).casefold()


class ConceptNotFound(KgtoolsError):
    """A concept reference (id, IRI or label) that matches nothing, or several things."""


class KnowledgeGraph:
    """Concepts (nodes with label, synonyms, definition …) and relations (edges with label and provenance).

    Edges are keyed by relation id, so a (src, rel, dst) triple appears once whatever the number of
    axioms that state it; the first provenance is kept.
    """

    def __init__(self, meta: dict[str, Any] | None = None):
        self.g = nx.MultiDiGraph()
        self.meta: dict[str, Any] = dict(meta or {})
        self._lookup: dict[str, list[str]] | None = None
        self._by_iri: dict[str, str] | None = None

    # -- building ---------------------------------------------------------------------------------
    def add_node(self, node_id: str, **attrs: Any) -> None:
        self.g.add_node(node_id, **attrs)
        self._lookup = self._by_iri = None

    def add_nodes(self, nodes: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Add many ``(id, attributes)`` at once (networkx's batch path, much faster than one by one)."""
        self.g.add_nodes_from(nodes)
        self._lookup = self._by_iri = None

    def add_edge(self, src: str, rel: str, dst: str, rel_label: str, provenance: str, qualifier: str = "") -> bool:
        """Add ``src -rel-> dst``; returns False when that triple was already there."""
        return self.add_edges([(src, rel, dst, rel_label, provenance, qualifier)]) == 0

    def add_edges(self, edges: Iterable[tuple[str, str, str, str, str, str]]) -> int:
        """Add ``(src, rel, dst, rel_label, provenance, qualifier)`` edges; returns how many were duplicates.

        A triple stated twice is kept once with its first provenance, and with an exact cardinality if any
        statement had one (the most informative qualifier).
        """
        fresh: dict[tuple[str, str, str], dict[str, str]] = {}
        duplicates = 0
        for src, rel, dst, rel_label, provenance, qualifier in edges:
            key = (src, rel, dst)
            data = fresh.get(key)
            if data is None and self.g.has_edge(src, dst, key=rel):
                data = self.g.edges[src, dst, rel]
            if data is not None:
                duplicates += 1
                if qualifier.startswith("exactly") and not data["qualifier"].startswith("exactly"):
                    data["qualifier"] = qualifier
                continue
            fresh[key] = {"rel_label": rel_label, "provenance": provenance, "qualifier": qualifier}
        self.g.add_edges_from((s, d, r, data) for (s, r, d), data in fresh.items())
        return duplicates

    # -- reading ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.g

    def node(self, node_id: str) -> dict[str, Any]:
        """All fields of a node, ``id`` included."""
        return {"id": node_id, **self.g.nodes[node_id]}

    def label(self, node_id: str) -> str:
        """The label, or the id for nodes that have none."""
        return self.g.nodes[node_id].get("label") or node_id

    def nodes(self, kinds: Iterable[str] | None = None) -> list[str]:
        """Node ids, sorted, optionally only of the given kinds."""
        wanted = set(kinds) if kinds is not None else None
        return sorted(n for n, k in self.g.nodes(data="kind") if wanted is None or k in wanted)

    def concepts(self) -> list[str]:
        return self.nodes(CONCEPT_KINDS)

    def edges(self, rel: str | None = None) -> Iterator[dict[str, Any]]:
        """Edges as dicts with the fields of EDGE_FIELDS, in insertion order."""
        for src, dst, key, data in self.g.edges(keys=True, data=True):
            if rel is None or key == rel:
                yield {"src": src, "rel": key, "dst": dst, **data}

    def relations(self, node_id: str, direction: str = "out") -> list[dict[str, Any]]:
        """Edges leaving (``out``) or entering (``in``) a node, sorted by relation then other end."""
        if direction == "out":
            items = self.g.out_edges(node_id, keys=True, data=True)
        elif direction == "in":
            items = self.g.in_edges(node_id, keys=True, data=True)
        else:
            raise ValueError(f"direction must be 'out' or 'in', not {direction!r}")
        rows = [{"src": s, "rel": k, "dst": d, **data} for s, d, k, data in items]
        return sorted(rows, key=lambda r: (r["rel"], r["dst"] if direction == "out" else r["src"]))

    def relation_labels(self) -> dict[str, str]:
        """``{relation id: label}`` over all edges, and the properties relations.json describes (a super-property
        or an inverse that only the closure's inferred facts use)."""
        labels = {r: a["label"] for r, a in (self.meta.get("relations") or {}).items() if a.get("label")}
        labels.update({k: data["rel_label"] for _, _, k, data in self.g.edges(keys=True, data=True)})
        return labels

    # -- hierarchy --------------------------------------------------------------------------------
    def parents(self, node_id: str) -> list[str]:
        return sorted(d for _, d, k in self.g.out_edges(node_id, keys=True) if k in HIERARCHY)

    def children(self, node_id: str) -> list[str]:
        return sorted(s for s, _, k in self.g.in_edges(node_id, keys=True) if k in HIERARCHY)

    def ancestors(self, node_id: str) -> set[str]:
        """All nodes above ``node_id`` along ``is_a``."""
        return self._walk(node_id, self.parents)

    def descendants(self, node_id: str) -> set[str]:
        """All nodes below ``node_id`` along ``is_a``."""
        return self._walk(node_id, self.children)

    def siblings(self, node_id: str) -> list[str]:
        """Other children of this node's parents."""
        out = {c for p in self.parents(node_id) for c in self.children(p)}
        out.discard(node_id)
        return sorted(out)

    @staticmethod
    def _walk(start: str, step) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for nxt in step(stack.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        seen.discard(start)
        return seen

    def hierarchy(self) -> nx.DiGraph:
        """The ``is_a`` edges as a plain DiGraph (child → parent) over all nodes."""
        h = nx.DiGraph()
        h.add_nodes_from(self.g.nodes)
        h.add_edges_from((s, d) for s, d, k in self.g.edges(keys=True) if k in HIERARCHY)
        return h

    # -- paths and neighbourhoods -----------------------------------------------------------------
    def paths(self, src: str, max_hops: int = 2, rels: Iterable[str] | None = None) -> Iterator[list[tuple[str, str, str]]]:
        """Simple directed paths from ``src`` of 1..max_hops edges, as lists of (src, rel, dst).

        Deterministic order (edges sorted by relation and target); no node is visited twice in a path.
        """
        allowed = set(rels) if rels is not None else None

        def extend(path: list[tuple[str, str, str]], visited: set[str]) -> Iterator[list[tuple[str, str, str]]]:
            tail = path[-1][2] if path else src
            for edge in self.relations(tail, "out"):
                if (allowed is not None and edge["rel"] not in allowed) or edge["dst"] in visited:
                    continue
                step = path + [(tail, edge["rel"], edge["dst"])]
                yield step
                if len(step) < max_hops:
                    yield from extend(step, visited | {edge["dst"]})

        if max_hops < 1:
            return iter(())
        return extend([], {src})

    def subgraph(self, node_id: str, radius: int = 1) -> KnowledgeGraph:
        """The nodes within ``radius`` edges of ``node_id`` (either direction) and the edges among them."""
        keep = set(nx.ego_graph(self.g, node_id, radius=radius, undirected=True).nodes)
        sub = KnowledgeGraph(self.meta)
        sub.g = self.g.subgraph(keep).copy()
        return sub

    # -- lookup -----------------------------------------------------------------------------------
    def _index(self) -> None:
        lookup: dict[str, list[str]] = {}
        by_iri: dict[str, str] = {}
        for node_id, data in self.g.nodes(data=True):
            by_iri[data.get("iri") or node_id] = node_id
            terms = [data.get("label") or ""] + list(data.get("synonyms") or ())
            for term in dict.fromkeys(t for t in terms if t):
                lookup.setdefault(normalise_term(term), []).append(node_id)
        for ids in lookup.values():
            ids.sort()
        self._lookup, self._by_iri = lookup, by_iri

    def find(self, text: str) -> list[str]:
        """Nodes whose label or a synonym equals ``text`` (case and spacing ignored)."""
        if self._lookup is None:
            self._index()
        assert self._lookup is not None
        return list(self._lookup.get(normalise_term(text), ()))

    def find_property(self, ref: str) -> tuple[str, dict[str, Any]] | None:
        """A property of the schema table (id, entry) by id, IRI or label; None if none or several."""
        schema: dict[str, dict[str, Any]] = self.meta.get("schema") or {}
        if ref in schema:
            return ref, schema[ref]
        found = [(pid, e) for pid, e in schema.items()
                 if ref.strip("<>") == e["iri"] or normalise_term(ref) == normalise_term(e["label"])]
        return found[0] if len(found) == 1 else None

    def resolve(self, ref: str) -> str:
        """A node id from an id, IRI, label or synonym; raises :class:`ConceptNotFound` if none or several."""
        if ref in self.g:
            return ref
        if self._by_iri is None:
            self._index()
        assert self._by_iri is not None
        if ref in self._by_iri:
            return self._by_iri[ref]
        stripped = ref.strip("<>")
        if stripped in self._by_iri:
            return self._by_iri[stripped]
        found = self.find(ref)
        by_label = [n for n in found if normalise_term(self.g.nodes[n].get("label") or "") == normalise_term(ref)]
        if len(by_label) == 1:
            return by_label[0]
        if len(found) == 1:
            return found[0]
        if not found:
            raise ConceptNotFound(f"no concept with id, IRI, label or synonym {ref!r}")
        listing = ", ".join(f"{n} ({self.label(n)})" for n in found[:10])
        raise ConceptNotFound(f"{ref!r} is ambiguous: {listing}; use an id")
