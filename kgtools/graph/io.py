"""The `kg` artifact's tables: nodes.parquet and edges.parquet, written and read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kgtools.errors import ArtifactError
from kgtools.graph.closure import Closure
from kgtools.graph.model import EDGE_FIELDS, NODE_FIELDS, KnowledgeGraph

NODES_FILE = "nodes.parquet"
EDGES_FILE = "edges.parquet"
PHRASING_FILE = "phrasing.json"  # how each relation reads in English (graph.templates.phrasing_table)
PROPERTIES_FILE = "properties.json"  # annotation and datatype properties with values: id → IRI and label
CARDINALITIES_FILE = "cardinalities.parquet"  # "exactly 1", "max 1" … per class and property
INFERRED_FILE = "inferred.parquet"  # what the graph entails, each fact with its premises (graph.closure)
RELATIONS_FILE = "relations.json"  # object properties' axioms (transitive, inverses, chains …) for the closure
SCHEMA_FILE = "schema.json"  # every property as a concept of kind `property`: domains, ranges, super-properties
OBSOLETE_FILE = "obsolete.json"  # concepts the release marks obsolete: label, replaced by, consider

_STR = pa.string()
_LIST = pa.list_(pa.string())
NODE_SCHEMA = pa.schema([
    ("id", _STR), ("iri", _STR), ("label", _STR), ("synonyms", _LIST), ("synonym_scopes", _LIST),
    ("definition", _STR), ("xrefs", _LIST), ("types", _LIST), ("kind", _STR), ("deprecated", pa.bool_()),
    ("source", _STR), ("literal_properties", _LIST), ("literal_values", _LIST),
])
EDGE_SCHEMA = pa.schema([(name, _STR) for name in EDGE_FIELDS])
CARDINALITY_SCHEMA = pa.schema([
    ("src", _STR), ("rel", _STR), ("rel_label", _STR), ("word", _STR), ("n", pa.int32()), ("filler", _STR),
    ("filler_kind", _STR), ("via", _STR),
])
INFERRED_SCHEMA = pa.schema([
    ("src", _STR), ("rel", _STR), ("rel_label", _STR), ("dst", _STR), ("rule", _STR), ("depth", pa.int32()),
    ("level", _STR), ("axiom", _STR), ("premises", _LIST), ("justification", _LIST),
])
assert tuple(NODE_SCHEMA.names) == NODE_FIELDS


def node_table(kg: KnowledgeGraph) -> pa.Table:
    ids = kg.nodes()
    columns = {name: [] for name in NODE_FIELDS}
    for node_id in ids:
        data = kg.g.nodes[node_id]
        columns["id"].append(node_id)
        for name in NODE_FIELDS[1:]:
            columns[name].append(data.get(name))
    return _table(columns, NODE_SCHEMA)


def edge_table(kg: KnowledgeGraph) -> pa.Table:
    rows = sorted(kg.edges(), key=lambda e: (e["src"], e["rel"], e["dst"]))
    return _table({name: [r[name] for r in rows] for name in EDGE_FIELDS}, EDGE_SCHEMA)


def _table(columns: dict[str, list], schema: pa.Schema) -> pa.Table:
    # explicit arrow types per column, so that an all-null column still gets its declared type
    return pa.Table.from_arrays([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)


def save_graph(kg: KnowledgeGraph, folder: str | Path) -> None:
    from kgtools.graph.templates import phrasing_table

    folder = Path(folder)
    pq.write_table(node_table(kg), folder / NODES_FILE)
    pq.write_table(edge_table(kg), folder / EDGES_FILE)
    text = json.dumps(phrasing_table(kg.relation_labels()), indent=1, sort_keys=True, ensure_ascii=False)
    (folder / PHRASING_FILE).write_text(text + "\n", encoding="utf-8")
    properties = json.dumps(kg.meta.get("properties") or {}, indent=1, sort_keys=True, ensure_ascii=False)
    (folder / PROPERTIES_FILE).write_text(properties + "\n", encoding="utf-8")
    cards = kg.meta.get("cardinalities") or []
    pq.write_table(_table({f.name: [c[f.name] for c in cards] for f in CARDINALITY_SCHEMA}, CARDINALITY_SCHEMA),
                   folder / CARDINALITIES_FILE)
    for name, key in ((RELATIONS_FILE, "relations"), (SCHEMA_FILE, "schema"), (OBSOLETE_FILE, "obsolete")):
        text = json.dumps(kg.meta.get(key) or {}, indent=1, sort_keys=True, ensure_ascii=False)
        (folder / name).write_text(text + "\n", encoding="utf-8")


def load_graph(folder: str | Path) -> KnowledgeGraph:
    """Read a `kg` artifact folder (or any folder holding the two tables) into a KnowledgeGraph."""
    folder = Path(folder)
    for name in (NODES_FILE, EDGES_FILE):
        if not (folder / name).is_file():
            raise ArtifactError(f"{folder}: missing {name}; not a kg artifact")
    nodes = pq.read_table(folder / NODES_FILE).to_pylist()
    edges = pq.read_table(folder / EDGES_FILE).to_pylist()
    kg = KnowledgeGraph()
    for row in nodes:
        node_id = row.pop("id")
        kg.g.add_node(node_id, **row)
    for e in edges:
        kg.g.add_edge(e["src"], e["dst"], key=e["rel"], rel_label=e["rel_label"], provenance=e["provenance"],
                      qualifier=e["qualifier"])
    if (folder / PHRASING_FILE).is_file():  # absent in artifacts written before it was stored
        try:
            kg.meta["phrasing"] = json.loads((folder / PHRASING_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            pass  # derived again by whoever needs it
    kg.meta["inferred"] = load_inferred(folder)
    if (folder / CARDINALITIES_FILE).is_file():
        try:
            kg.meta["cardinalities"] = pq.read_table(folder / CARDINALITIES_FILE).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            raise ArtifactError(f"{folder / CARDINALITIES_FILE}: unreadable ({exc}); rebuild the kg") from None
    for name, key in ((PROPERTIES_FILE, "properties"), (RELATIONS_FILE, "relations"), (SCHEMA_FILE, "schema"),
                      (OBSOLETE_FILE, "obsolete")):
        if (folder / name).is_file():
            try:
                kg.meta[key] = json.loads((folder / name).read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise ArtifactError(f"{folder / name}: unreadable ({exc}); rebuild the kg") from None
    return kg


def save_inferred(closure: Closure, folder: str | Path) -> None:
    labels = closure.stats.get("relation_labels") or {}
    rows = closure.facts
    columns = {
        "src": [f.s for f in rows], "rel": [f.r for f in rows], "rel_label": [labels.get(f.r, f.r) for f in rows],
        "dst": [f.o for f in rows], "rule": [f.rule for f in rows], "depth": [f.depth for f in rows],
        "level": [f.level for f in rows], "axiom": [f.axiom for f in rows],
        "premises": [list(f.premises) for f in rows], "justification": [list(closure.justification[f.key]) for f in rows],
    }
    pq.write_table(_table(columns, INFERRED_SCHEMA), Path(folder) / INFERRED_FILE)


def load_inferred(folder: str | Path) -> list[dict]:
    """The inferred facts of a kg artifact (rows of inferred.parquet); empty for artifacts built without
    the closure or before it existed."""
    path = Path(folder) / INFERRED_FILE
    if not path.is_file():
        return []
    try:
        return pq.read_table(path).to_pylist()
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc}); rebuild the kg") from None
