"""Summary figures of a KnowledgeGraph: sizes, relations, hierarchy shape, coverage of labels and definitions."""

from __future__ import annotations

from collections import Counter
from typing import Any

import networkx as nx

from kgtools.graph.model import HIERARCHY, KnowledgeGraph


def graph_stats(kg: KnowledgeGraph) -> dict[str, Any]:
    """Concepts, edges per relation, hierarchy depth, roots, orphans and components."""
    g = kg.g
    concepts = kg.concepts()
    concept_set = set(concepts)
    kinds = Counter(k for _, k in g.nodes(data="kind"))

    rel_counts: Counter[str] = Counter()
    rel_labels: dict[str, str] = {}
    provenance: Counter[str] = Counter()
    for _, _, key, data in g.edges(keys=True, data=True):
        rel_counts[key] += 1
        rel_labels[key] = data["rel_label"]
        provenance[data["provenance"]] += 1

    h = nx.DiGraph()  # child → parent among concepts
    h.add_nodes_from(concepts)
    h.add_edges_from((s, d) for s, d, k in g.edges(keys=True) if k in HIERARCHY and s in concept_set and d in concept_set)
    roots = [n for n in concepts if h.out_degree(n) == 0]
    depth = nx.dag_longest_path_length(h) if nx.is_directed_acyclic_graph(h) and h.number_of_edges() else 0
    orphans = [n for n in concepts if g.degree(n) == 0]
    components = nx.number_weakly_connected_components(g.subgraph(concepts)) if concepts else 0

    def share(field: str) -> float:
        if not concepts:
            return 0.0
        return round(sum(1 for n in concepts if g.nodes[n].get(field)) / len(concepts), 4)

    return {
        "nodes": g.number_of_nodes(),
        "concepts": len(concepts),
        "kinds": dict(sorted(kinds.items())),
        "edges": g.number_of_edges(),
        "relations": [
            {"rel": rel, "label": rel_labels[rel], "edges": n}
            for rel, n in sorted(rel_counts.items(), key=lambda x: (-x[1], x[0]))
        ],
        "qualifiers": dict(sorted(Counter(q or "-" for _, _, q in g.edges(data="qualifier")).items())),
        "provenance": dict(sorted(provenance.items())),
        "hierarchy_depth": depth,
        "roots": len(roots),
        "orphans": len(orphans),
        "components": components,
        "largest_component": max((len(c) for c in nx.weakly_connected_components(g.subgraph(concepts))), default=0),
        "with_label": share("label"),
        "with_definition": share("definition"),
        "with_synonyms": share("synonyms"),
        "synonyms": sum(len(g.nodes[n].get("synonyms") or ()) for n in concepts),
        "mean_parents": round(h.number_of_edges() / len(concepts), 3) if concepts else 0.0,
    }
