"""A kg artifact read back from parquet is the same graph that was built: every node field, every edge."""

from __future__ import annotations

import pytest

from kgtools.config import KgConfig
from kgtools.graph.build import build_graph
from kgtools.graph.io import load_graph, save_graph
from kgtools.graph.model import EDGE_FIELDS, KnowledgeGraph
from kgtools.graph.stage import build_kg
from kgtools.ontology import load_ontology

from ..conftest import BUNDLED, shared_path


def assert_same_graph(a: KnowledgeGraph, b: KnowledgeGraph) -> None:
    assert a.nodes() == b.nodes()
    for n in a.nodes():
        assert a.node(n) == b.node(n), n
    key = lambda e: tuple(e[f] for f in EDGE_FIELDS)  # noqa: E731
    assert sorted(map(key, a.edges())) == sorted(map(key, b.edges()))
    assert a.g.number_of_edges() == b.g.number_of_edges()


@pytest.mark.parametrize("source", ["medical", "finance", "doid", "maxo-obo", "fibo"])
def test_save_load_roundtrip(source, tmp_path):
    paths = {
        "medical": lambda: BUNDLED / "medical.ttl",
        "finance": lambda: BUNDLED / "finance.ttl",
        "doid": lambda: shared_path("doid", "DO_infectious_disease_slim.owl"),
        "maxo-obo": lambda: shared_path("maxo", "maxo-base.obo"),
        "fibo": lambda: shared_path("fibo"),
    }
    loaded = load_ontology([paths[source]()])
    kg, _ = build_graph(loaded.graph, prefixes=loaded.prefixes, declared_in=loaded.declared_in)
    save_graph(kg, tmp_path)
    assert_same_graph(kg, load_graph(tmp_path))


def test_stage_output_is_deterministic(tmp_path):
    """Two builds of the same input give byte-identical tables (blank-node ids are random inside)."""
    from kgtools.artifacts import ArtifactStore

    cfg = KgConfig(ontologies=[BUNDLED / "medical.ttl"])
    a = build_kg(cfg, ArtifactStore(tmp_path / "a"))
    b = build_kg(cfg, ArtifactStore(tmp_path / "b"))
    for name in ("nodes.parquet", "edges.parquet"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes()
    assert a.path.name == b.path.name  # same content address
