"""Summary figures of a KnowledgeGraph: sizes, relations, hierarchy shape, coverage of labels and definitions."""

from __future__ import annotations

from collections import Counter
from typing import Any

import networkx as nx
from networkx.utils import UnionFind

from kgtools.graph.model import CONCEPT_KINDS, HIERARCHY, KnowledgeGraph


def graph_stats(kg: KnowledgeGraph) -> dict[str, Any]:
    """Concepts, edges per relation, hierarchy depth, roots, orphans and components (one pass over edges)."""
    g = kg.g
    concepts: list[str] = []
    kinds: Counter[str] = Counter()
    filled: Counter[str] = Counter()
    n_synonyms = 0
    for node, data in g.nodes(data=True):
        kinds[data.get("kind")] += 1
        if data.get("kind") in CONCEPT_KINDS:
            concepts.append(node)
            n_synonyms += len(data.get("synonyms") or ())
            for field in ("label", "definition", "synonyms"):
                if data.get(field):
                    filled[field] += 1
    concepts.sort()
    is_concept = set(concepts)

    rel_counts: Counter[str] = Counter()
    rel_labels: dict[str, str] = {}
    provenance: Counter[str] = Counter()
    qualifiers: Counter[str] = Counter()
    parents: dict[str, list[str]] = {n: [] for n in concepts}
    touched: set[str] = set()
    dsu = UnionFind(concepts)
    for src, dst, key, data in g.edges(keys=True, data=True):
        rel_counts[key] += 1
        rel_labels[key] = data["rel_label"]
        provenance[data["provenance"]] += 1
        qualifiers[data["qualifier"] or "-"] += 1
        touched.add(src)
        touched.add(dst)
        if src in is_concept and dst in is_concept:
            dsu.union(src, dst)
            if key in HIERARCHY:
                parents[src].append(dst)

    sizes = Counter(dsu[n] for n in concepts)

    def share(field: str) -> float:
        return round(filled[field] / len(concepts), 4) if concepts else 0.0

    return {
        "nodes": g.number_of_nodes(),
        "concepts": len(concepts),
        "kinds": dict(sorted(kinds.items())),
        "edges": sum(rel_counts.values()),
        "relations": [
            {"rel": rel, "label": rel_labels[rel], "edges": n}
            for rel, n in sorted(rel_counts.items(), key=lambda x: (-x[1], x[0]))
        ],
        "qualifiers": dict(sorted(qualifiers.items())),
        "provenance": dict(sorted(provenance.items())),
        "hierarchy_depth": _depth(parents),
        "roots": sum(1 for n in concepts if not parents[n]),
        "orphans": sum(1 for n in concepts if n not in touched),
        "components": len(sizes),
        "largest_component": max(sizes.values(), default=0),
        "with_label": share("label"),
        "with_definition": share("definition"),
        "with_synonyms": share("synonyms"),
        "synonyms": n_synonyms,
        "mean_parents": round(sum(map(len, parents.values())) / len(concepts), 3) if concepts else 0.0,
    }


def _depth(parents: dict[str, list[str]]) -> int:
    """Longest is_a chain (in edges) among concepts. The hierarchy is acyclic once built; with
    ``kg.allow_cycles`` each cycle counts as one step (the longest path of the condensation)."""
    g = nx.DiGraph((c, p) for c, ps in parents.items() for p in ps)
    if not nx.is_directed_acyclic_graph(g):
        g = nx.condensation(g)
    return nx.dag_longest_path_length(g)
