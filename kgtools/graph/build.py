"""RDF (OWL, SKOS, OBO-as-OWL) → KnowledgeGraph: concepts with labels and definitions, and the relations
stated by subclass axioms, OWL restrictions, equivalent-class intersections, SKOS links and property
assertions. A pure function of the RDF graph and the options: no files are read here."""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pyoxigraph as ox
import rdflib
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from kgtools.errors import OntologyError
from kgtools.graph.english import humanize, join_spelled_acronyms, reads_like_definition, split_identifier
from kgtools.graph.model import CONCEPT_KINDS, INSTANCE_OF, IS_A, KnowledgeGraph
from kgtools.ontology import vocab as V

log = logging.getLogger(__name__)


# A literal is a plain (lexical form, lower-case language tag or "") tuple: cheaper to make than a
# NamedTuple on the hot path. Datatypes are dropped on purpose: rdflib reads plain literals where
# Oxigraph reads ``^^xsd:string``.
Lit = tuple[str, str]
Term = str | Lit  # IRIs are str, blank nodes are "_:…" str, literals are Lit


def _is_iri(term: Term) -> bool:
    return type(term) is str and term[:2] != "_:"


def _is_blank(term: Term) -> bool:
    return type(term) is str and term[:2] == "_:"


def _reserved(iri: str) -> bool:
    return iri.startswith(V.RESERVED_NAMESPACES)


class _Triples:
    """Subject/object pairs per predicate, read straight from Oxigraph when the graph is Oxigraph-backed
    (10× faster than going through rdflib terms), else through the rdflib API."""

    def __init__(self, graph: rdflib.Graph):
        inner = getattr(graph.store, "_inner", None)
        self._store = inner if isinstance(inner, ox.Store) else None
        self._graph = graph
        ident = graph.identifier
        if ident == DATASET_DEFAULT_GRAPH_ID:
            self._gname: object = ox.DefaultGraph()
        else:
            self._gname = ox.NamedNode(str(ident)) if isinstance(ident, rdflib.URIRef) else ox.BlankNode(str(ident))

    def pairs(self, predicate: str) -> list[tuple[Term, Term]]:
        if self._store is not None:
            conv = _from_ox
            quads = self._store.quads_for_pattern(None, ox.NamedNode(predicate), None, self._gname)
            return [(conv(q.subject), conv(q.object)) for q in quads]
        conv = _from_rdflib
        return [(conv(s), conv(o)) for s, o in self._graph.subject_objects(rdflib.URIRef(predicate))]


def _from_ox(term: object) -> Term:
    kind = type(term)
    if kind is ox.NamedNode:
        return term.value  # type: ignore[attr-defined]
    if kind is ox.BlankNode:
        return "_:" + term.value  # type: ignore[attr-defined]
    lang = term.language  # type: ignore[attr-defined]
    return (term.value, lang.lower() if lang else "")  # type: ignore[attr-defined]


def _from_rdflib(term: object) -> Term:
    if isinstance(term, rdflib.Literal):
        return (str(term), (term.language or "").lower())
    if isinstance(term, rdflib.BNode):
        return "_:" + str(term)
    return str(term)


# -- identifiers --------------------------------------------------------------------------------------
_OBO_LOCAL = re.compile(r"([A-Za-z][A-Za-z0-9]*)_([A-Za-z0-9_]+)$")  # used with match(iri, pos)
_SPLIT = re.compile(r"[/#]")


class IdMinter:
    """Stable ids: ``PREFIX:LOCAL`` CURIEs (OBO PURLs as ``DOID:0050012``), the IRI where no prefix fits."""

    def __init__(self, prefixes: Mapping[str, str]):
        by_ns: dict[str, str] = {}
        for prefix, ns in prefixes.items():
            if prefix and ns and ns not in by_ns and ns != V.OBO:
                by_ns[ns] = prefix
        self._by_ns = by_ns
        self._cache: dict[str, str] = {}

    def __call__(self, iri: str) -> str:
        cached = self._cache.get(iri)
        if cached is not None:
            return cached
        curie = iri
        if iri.startswith(V.OBO) and (m := _OBO_LOCAL.match(iri, len(V.OBO))):
            curie = f"{m.group(1)}:{m.group(2)}"
        else:
            # Try the namespace ending at each '/' or '#', longest first.
            end = len(iri)
            while (pos := max(iri.rfind("/", 0, end), iri.rfind("#", 0, end))) >= 0:
                prefix = self._by_ns.get(iri[: pos + 1])
                local = iri[pos + 1:]
                if prefix is not None and local and "#" not in local and not local.startswith("/"):
                    curie = f"{prefix}:{local}"
                    break
                end = pos
        self._cache[iri] = curie
        return curie


def individual_name(iri: str, types: Sequence[tuple[str, str | None]]) -> str:
    """A readable name for an individual the ontology left unlabelled: its identifier, the type's own name
    taken off its front and an identifier-like rest read as words, after its type's label —
    'HMDA-Disposition-ApplicationDenied' of type 'HMDA disposition' → 'HMDA disposition: application denied';
    a code stays as written ('legal entity identifier: 5493001KJTIIGC8Y1R12'); no labelled type: the identifier."""
    local = local_name(iri)
    for type_local, type_label in types:
        if type_label is None:
            continue
        rest = local
        if type_local and local.casefold().startswith(type_local.casefold()) and len(local) > len(type_local):
            rest = local[len(type_local):].lstrip("-_./ ") or local
        words = split_identifier(rest)
        said = " ".join(words) if words is not None else rest.replace("_", " ")
        return f"{type_label}: {said}"
    return local


def local_name(iri: str) -> str:
    return _SPLIT.split(iri.rstrip("/#"))[-1] or iri


# -- language-aware choice --------------------------------------------------------------------------
def _lang_rank(lang: str, languages: Sequence[str]) -> int:
    """0.. for the wanted languages in order, len(languages) for untagged, len+1 for any other."""
    if not lang:
        return len(languages)
    for i, want in enumerate(languages):
        if lang == want or lang.startswith(want + "-"):
            return i
    return len(languages) + 1


@dataclass
class BuildOptions:
    languages: Sequence[str] = ("en",)
    include_deprecated: bool = False
    max_value_chars: int = 200  # longer annotation values are prose (notes, comments), not values to ask
    skos_hierarchy: bool = True  # skos:broader / narrower become is_a
    allow_cycles: bool = False
    name_individuals: bool = False  # an unlabelled individual is named from its type and identifier


@dataclass
class BuildReport:
    counts: dict[str, int] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)


_LABEL_PREDICATES = (V.SKOS_PREF_LABEL, V.RDFS_LABEL)
# skos:hiddenLabel stays out on purpose: SKOS keeps misspellings there, names no one should be taught.
_SYNONYM_PREDICATES = (V.OBO_EXACT_SYNONYM, V.SKOS_ALT_LABEL, V.IAO_ALTERNATIVE_TERM, V.COMMONS_SYNONYM,
                       V.COMMONS_ABBREVIATION, V.COMMONS_ACRONYM, V.OBO_RELATED_SYNONYM, V.OBO_NARROW_SYNONYM,
                       V.OBO_BROAD_SYNONYM)
_DEFINITION_PREDICATES = (V.IAO_DEFINITION, V.SKOS_DEFINITION, V.RDFS_COMMENT, V.SKOS_SCOPE_NOTE)
_LITERAL_PREDICATES = (*_LABEL_PREDICATES, *_SYNONYM_PREDICATES, *_DEFINITION_PREDICATES, V.OBO_XREF)


def build_graph(
    graph: rdflib.Graph,
    *,
    options: BuildOptions | None = None,
    prefixes: Mapping[str, str] | None = None,
    declared_in: Mapping[str, str] | None = None,
) -> tuple[KnowledgeGraph, BuildReport]:
    """Turn an RDF graph into a KnowledgeGraph. ``declared_in`` maps IRIs to the file that declared them."""
    return _Builder(graph, options or BuildOptions(), prefixes or {}, declared_in or {}).build()


class _Builder:
    """One build, in the order a reader follows it: what is what (classes, SKOS concepts, properties,
    individuals, what is deprecated) → each subject's literals (label, synonyms, definition, xrefs, values) →
    class expressions and cardinalities (:class:`_Expressions`) → raw edges → nodes and edges → the tables
    beside them (relation axioms, cardinalities, property schema, what was obsoleted)."""

    def __init__(self, graph: rdflib.Graph, opts: BuildOptions, prefixes: Mapping[str, str],
                 declared_in: Mapping[str, str]) -> None:
        self.opts = opts
        self.languages = [lang.lower() for lang in opts.languages]
        self.report = BuildReport()
        self.skipped = self.report.skipped
        self.t = _Triples(graph)
        self.mint = IdMinter({**V.WELL_KNOWN_PREFIXES, **prefixes})
        self.declared_in = declared_in
        self.node_ids: dict[str, str] = {}
        self.node_rows: list[tuple[str, dict]] = []
        self.rel_labels: dict[str, str] = dict(_SPECIAL_RELATIONS)

    def build(self) -> tuple[KnowledgeGraph, BuildReport]:
        self._classify()
        self._read_literals()
        self._read_values()
        self.x = _Expressions(self.t, self.skipped)
        card_raw = self.x.cardinalities(self.subclass_pairs)
        raw = self._raw_edges()
        for iri in sorted(self.kinds):
            self._add_node(iri, self.kinds[iri])
        edges = self._edges(raw)
        cards = self._cardinality_rows(card_raw)
        relations = _relation_axioms(self.t, self.types, self.properties, self.x.rdf_list, self.rel_id_label,
                                     self.node_ids, self.kinds, {rid for _, rid, *_ in edges})
        obsolete = self._obsolete()
        schema = self._property_schema()
        held = {pid for _, data in self.node_rows for pid in data["literal_properties"]}
        kg = KnowledgeGraph({"properties": {  # the properties some node holds a value of, for synth.literals
            self.mint(p): {"iri": p, "label": self.best_label(p) or humanize(local_name(p))}
            for p in self.value_props if self.mint(p) in held},
            "relations": relations, "cardinalities": cards, "schema": schema, "obsolete": obsolete})
        self.node_rows.sort(key=lambda row: row[0])
        kg.add_nodes(self.node_rows)
        self.skipped["duplicate_edge"] = kg.add_edges(edges)
        return kg, self._finish(kg, edges, schema)

    # ------------------------------------------------------------------------------------- what is what
    def _classify(self) -> None:
        t = self.t
        types: dict[str, set[str]] = defaultdict(set)
        for s, o in t.pairs(V.RDF_TYPE):
            if _is_iri(s) and _is_iri(o):
                types[s].add(o)
        self.types = types
        self.subclass_pairs = t.pairs(V.RDFS_SUBCLASSOF)
        classes = {s for s, ts in types.items() if V.OWL_CLASS in ts or V.RDFS + "Class" in ts}
        # rdfs:subClassOf implies a class, for files that never declare one (a schema's own subclasses of
        # skos:Concept, as in STW's zbwext:Descriptor, are vocabulary and stay out).
        supers: dict[str, list[Term]] = defaultdict(list)
        for s, o in self.subclass_pairs:
            if _is_iri(s):
                supers[s].append(o)
        classes.update(s for s, os_ in supers.items() if not all(_is_iri(o) and _reserved(o) for o in os_))
        self.classes = {c for c in classes if not _reserved(c)}
        self.skos_concepts = {s for s, ts in types.items() if V.SKOS_CONCEPT in ts and not _reserved(s)}
        self.properties = {s for s, ts in types.items() if ts & V.OBJECT_PROPERTY_TYPES}
        deprecated = {s for s, o in t.pairs(V.OWL_DEPRECATED) if isinstance(o, tuple) and o[0].lower() in ("true", "1")}
        self.deprecated = deprecated | {s for s, ts in types.items() if V.OWL_DEPRECATED_CLASS in ts}
        non_individual = (self.classes | self.skos_concepts | self.properties
                          | {s for s, ts in types.items() if V.OWL_ONTOLOGY in ts})
        self.individuals = {
            s for s, ts in types.items()
            if s not in non_individual and not _reserved(s)
            and (V.OWL_NAMED_INDIVIDUAL in ts or any(ty in self.classes for ty in ts))
        }
        kinds: dict[str, str] = {}
        for iri in self.individuals:
            kinds[iri] = "individual"
        for iri in self.skos_concepts:
            kinds[iri] = "concept"
        for iri in self.classes:
            kinds[iri] = "class"
        self.skipped["deprecated"] = sum(1 for iri in kinds if not self.keep(iri))
        self.kinds = {iri: k for iri, k in kinds.items() if self.keep(iri)}

    def keep(self, iri: str) -> bool:
        return iri not in self.deprecated or self.opts.include_deprecated

    # ------------------------------------------------------------------------------------- literals
    def _read_literals(self) -> None:
        """One list per subject of (predicate index, language rank, text), so that each node's label, synonyms
        and definition are chosen from a handful of entries; xrefs (literal and IRI) apart."""
        self.limit = len(self.languages)  # ranks up to this are the wanted languages or untagged
        rank_of: dict[str, int] = {}
        self.by_subject: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self.xref_lits: dict[str, set[str]] = defaultdict(set)
        for i, pred in enumerate(_LITERAL_PREDICATES):
            for s, o in self.t.pairs(pred):
                if not isinstance(o, tuple) or not _is_iri(s):
                    continue
                text, lang = o[0].strip(), o[1]
                if not text:
                    continue
                if pred == V.OBO_XREF:
                    self.xref_lits[s].add(text)
                    continue
                rank = rank_of.get(lang)
                if rank is None:
                    rank = rank_of[lang] = _lang_rank(lang, self.languages)
                self.by_subject[s].append((i, rank, text))
        self.xref_iris: dict[str, list[str]] = defaultdict(list)
        for s, o in self.t.pairs(V.SKOS_EXACT_MATCH):
            if _is_iri(s) and _is_iri(o):
                self.xref_iris[s].append(o)
            elif _is_iri(s) and isinstance(o, tuple) and o[0].strip():
                self.xref_lits[s].add(o[0].strip())  # DOID writes its mappings as 'UMLS_CUI:C0017409' strings

    def describe(self, iri: str) -> tuple[str | None, list[str], list[str], str | None]:
        """Label, synonyms, their scopes, and definition of one node."""
        n_label, n_syn = len(_LABEL_PREDICATES), len(_SYNONYM_PREDICATES)
        entries = sorted(self.by_subject.get(iri, ()))
        labels = [(rank, i, text) for i, rank, text in entries if i < n_label]
        label = min(labels)[2] if labels else None
        seen = {label.casefold()} if label else set()
        names, scopes = [], []
        if label and (words := split_identifier(label)) is not None:
            # 'MusicEvent' is read as 'music event'; the identifier stays a name of the concept
            names.append(label)
            scopes.append("exact")
            label = " ".join(words)
            seen.add(label.casefold())
        elif label and (joined := join_spelled_acronyms(label)) is not None:
            names.append(label)  # 'c d o securitization process' is read 'CDO securitization process'
            scopes.append("exact")
            label = joined
            seen.add(label.casefold())
        for i, rank, text in entries:
            if i >= n_label + n_syn or rank > self.limit or text.casefold() in seen:
                continue
            seen.add(text.casefold())
            names.append(text)
            scopes.append("exact" if i < n_label else V.SYNONYM_SCOPES[_SYNONYM_PREDICATES[i - n_label]])
        definition = None
        for i, rank, text in entries:  # sorted by predicate priority, then language rank, then text
            if i >= n_label + n_syn and rank <= self.limit:
                if _LITERAL_PREDICATES[i] == V.RDFS_COMMENT and not reads_like_definition(text):
                    continue  # an editor's note or 'Key: value' metadata, not a definition
                definition = text
                break
        return label, names, scopes, definition

    def best_label(self, iri: str) -> str | None:
        return self.describe(iri)[0]

    def _read_values(self) -> None:
        """Values of annotation and datatype properties (codes, dates, notations), kept per node as (property,
        value) pairs for synth.literals; prose (long values) and other languages stay out. Labels, synonyms,
        definitions and xrefs have their own fields."""
        self.value_props = sorted({p for p, ts in self.types.items() if ts & V.VALUE_PROPERTY_TYPES and not _reserved(p)}
                                  - set(_LITERAL_PREDICATES) | {V.SKOS_NOTATION})
        self.values: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for prop in self.value_props:
            for s, o in self.t.pairs(prop):
                if not isinstance(o, tuple) or not _is_iri(s) or not 0 < len(text := o[0].strip()) <= self.opts.max_value_chars:
                    continue
                if o[1] and _lang_rank(o[1], self.languages) > self.limit:
                    continue
                self.values[s].append((prop, text))

    # ------------------------------------------------------------------------------------- raw edges
    def _raw_edges(self) -> list[tuple[str, str, str, str, str]]:
        """(src, rel, dst, provenance, qualifier) of every axiom and assertion that becomes an edge."""
        t, x = self.t, self.x
        raw: list[tuple[str, str, str, str, str]] = []
        for s, o in self.subclass_pairs:
            if not _is_iri(s):
                continue
            if _is_iri(o):
                raw.append((s, IS_A, o, "subClassOf", ""))
            elif _is_blank(o):
                raw.extend((s, rel, dst, "subClassOf" if rel == IS_A else "restriction", q) for rel, dst, q in x.expression(o))
        for s, o in t.pairs(V.OWL_EQUIVALENT_CLASS):
            if not _is_iri(s):
                continue
            if _is_iri(o):
                raw.append((s, "equivalent_to", o, "equivalentClass", ""))
            elif _is_blank(o):
                raw.extend((s, rel, dst, "equivalentClass", q) for rel, dst, q in x.expression(o))
        for s, o in t.pairs(V.OWL_DISJOINT_WITH):
            if _is_iri(s) and _is_iri(o):
                raw.append((s, "disjoint_with", o, "disjointWith", ""))
        for _, head in x.bnode_map(V.OWL_MEMBERS).items():  # owl:AllDisjointClasses
            members = [m for m in x.rdf_list(head) if _is_iri(m)]
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    raw.append((a, "disjoint_with", b, "disjointWith", ""))
        raw += self._skos_edges()
        for s, ts in self.types.items():
            if self.kinds.get(s) == "individual":
                raw.extend((s, INSTANCE_OF, ty, "type", "") for ty in ts if ty in self.classes)
        named = ("individual", "concept")
        for prop in sorted(self.properties):
            if _reserved(prop):
                continue
            for s, o in t.pairs(prop):
                if _is_iri(s) and _is_iri(o) and self.kinds.get(s) in named and self.kinds.get(o) in named:
                    raw.append((s, prop, o, "assertion", ""))
        return raw

    def _skos_edges(self) -> list[tuple[str, str, str, str, str]]:
        t = self.t
        broader = [(s, o) for s, o in t.pairs(V.SKOS_BROADER) if _is_iri(s) and _is_iri(o)]
        narrower = [(o, s) for s, o in t.pairs(V.SKOS_NARROWER) if _is_iri(s) and _is_iri(o)]
        if self.opts.skos_hierarchy:
            raw = [(s, IS_A, o, "skos:broader", "") for s, o in broader] + [(s, IS_A, o, "skos:narrower", "") for s, o in narrower]
        else:
            raw = [(s, V.SKOS_BROADER, o, "skos", "") for s, o in [*broader, *narrower]]
        return raw + [(s, V.SKOS_RELATED, o, "skos", "") for s, o in t.pairs(V.SKOS_RELATED) if _is_iri(s) and _is_iri(o)]

    # ------------------------------------------------------------------------------------- nodes and edges
    def _add_node(self, iri: str, kind: str) -> str:
        mint, types, values = self.mint, self.types, self.values
        node_id = mint(iri)
        label, synonyms, scopes, definition = self.describe(iri)
        if label is None and kind == "individual" and self.opts.name_individuals:
            label = individual_name(iri, [(local_name(ty), self.best_label(ty)) for ty in sorted(types.get(iri, ()))])
            self.skipped["individual_named_from_identifier"] += 1
        xrefs = sorted(self.xref_lits.get(iri, set()) | {mint(x) for x in self.xref_iris.get(iri, ())})
        node_types = sorted(mint(ty) for ty in types.get(iri, ()) if ty != V.OWL_NAMED_INDIVIDUAL)
        self.node_rows.append((node_id, {
            "iri": iri, "label": label, "synonyms": synonyms, "synonym_scopes": scopes, "definition": definition,
            "xrefs": xrefs, "types": node_types, "kind": kind, "deprecated": iri in self.deprecated,
            "source": self.declared_in.get(iri),
            "literal_properties": [mint(p) for p, _ in sorted(set(values.get(iri, ())))],
            "literal_values": [v for _, v in sorted(set(values.get(iri, ())))],
        }))
        self.node_ids[iri] = node_id
        return node_id

    def rel_id_label(self, rel: str) -> tuple[str, str]:
        if rel in _SPECIAL_RELATIONS:
            return rel, self.rel_labels[rel]
        rid = self.mint(rel)
        if rid not in self.rel_labels:
            label = self.best_label(rel)  # identifier-like labels ('startDate') are already split into words
            if label is None:
                label = V.OBO_RELATION_LABELS.get(rid) or humanize(local_name(rel))
            self.rel_labels[rid] = label
        return rid, self.rel_labels[rid]

    def _edges(self, raw: list[tuple[str, str, str, str, str]]) -> list[tuple[str, str, str, str, str, str]]:
        """Edges between nodes (an edge's unknown target becomes an ``external`` node), sorted."""
        skipped, node_ids = self.skipped, self.node_ids
        edges = []
        for src, rel, dst, prov, qual in raw:
            if src == dst:
                skipped["self_loop"] += 1
                continue
            if src not in node_ids:
                skipped["edge_from_skipped_node" if src in self.deprecated or _reserved(src) else "edge_from_unknown_node"] += 1
                continue
            if dst not in node_ids:
                if _reserved(dst):
                    skipped["edge_to_builtin"] += 1  # owl:Thing, xsd datatypes …
                    continue
                if dst in self.deprecated and not self.opts.include_deprecated:
                    skipped["edge_to_deprecated"] += 1
                    continue
                self._add_node(dst, "external")
            rid, rlabel = self.rel_id_label(rel)
            edges.append((node_ids[src], rid, node_ids[dst], rlabel, prov, qual))
        edges.sort()
        return edges

    def _cardinality_rows(self, card_raw: list[tuple[str, str, str, int, Term | None, str]]) -> list[dict[str, Any]]:
        """The cardinality table: one row per class, property, word and number, with its filler's kind."""
        node_ids, cards = self.node_ids, []
        for cls_iri, prop, word, n, filler, via in sorted(card_raw, key=lambda c: (c[0], c[1], c[2], c[3], str(c[4]))):
            if cls_iri not in node_ids or self.kinds.get(cls_iri) != "class":
                continue
            if filler is None or filler == V.OWL_THING:
                fid, fkind = "", ""
            elif _is_iri(filler) and filler in node_ids:
                fid, fkind = node_ids[filler], "class"
            elif _is_iri(filler) and _reserved(filler):
                fid, fkind = self.mint(filler), "datatype"  # xsd:string, rdfs:Literal …
            elif _is_iri(filler):
                fid, fkind = self.mint(filler), "external"
            else:
                self.skipped["cardinality_over_an_expression"] += 1
                continue
            rid, rlabel = self.rel_id_label(prop)
            cards.append({"src": node_ids[cls_iri], "rel": rid, "rel_label": rlabel, "word": word, "n": n,
                          "filler": fid, "filler_kind": fkind, "via": via})
        return cards

    def _obsolete(self) -> dict[str, dict[str, Any]]:
        """What a release obsoleted, for `kg diff`: each deprecated class or individual with what replaces it
        and what to consider instead."""
        mint, obsolete = self.mint, {}
        successors: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"replaced_by": set(), "consider": set()})
        for key, preds in (("replaced_by", (V.IAO_REPLACED_BY, V.DCTERMS_REPLACED_BY)), ("consider", (V.OBO_CONSIDER,))):
            for pred in preds:
                for s_, o in self.t.pairs(pred):
                    if s_ in self.deprecated and _is_iri(o):
                        successors[s_][key].add(mint(o))  # type: ignore[arg-type]
        for iri in sorted(self.deprecated):
            ts = self.types.get(iri, set())
            if not (iri in self.classes or iri in self.skos_concepts or iri in self.individuals) or _reserved(iri):
                continue
            obsolete[mint(iri)] = {
                "iri": iri, "label": self.best_label(iri),
                "replaced_by": sorted(successors[iri]["replaced_by"]) if iri in successors else [],
                "consider": sorted(successors[iri]["consider"]) if iri in successors else [],
                "kind": "individual" if iri in self.individuals and not ts & {V.OWL_CLASS} else "class"}
        return obsolete

    # ------------------------------------------------------------------------------------- property schema
    def _property_schema(self) -> dict[str, dict[str, Any]]:
        """Each property the files describe (RDFS and schema.org style as well as OWL), as a concept of kind
        ``property``: label, definition, domains, ranges, super-properties and inverses, keyed by relation id.

        ``rdfs:domain`` / ``rdfs:range`` say what every subject / value is (a union names the alternatives);
        ``*_union`` says the one statement was a union (any one of the types); several statements say all of
        them. ``schema:domainIncludes`` / ``rangeIncludes`` name some of the types that may carry / be the value, so
        the synth task words them "can" and never reads them as exhaustive. A property with nothing of these
        to say is left out (its label alone is not a fact)."""
        t, rel_id_label = self.t, self.rel_id_label
        prop_types = V.OBJECT_PROPERTY_TYPES | V.VALUE_PROPERTY_TYPES
        props = {p for p, ts in self.types.items() if ts & prop_types and not _reserved(p) and self.keep(p)}
        for pred in (V.RDFS_DOMAIN, V.RDFS_RANGE, *V.SCHEMA_DOMAIN_INCLUDES, *V.SCHEMA_RANGE_INCLUDES):
            props.update(p for p, _ in t.pairs(pred) if _is_iri(p) and not _reserved(p) and self.keep(p))  # type: ignore[misc]
        out: dict[str, dict[str, Any]] = {}

        def entry(p: str) -> dict[str, Any]:
            if p not in out:
                rid, label = rel_id_label(p)
                out[p] = {"id": rid, "iri": p, "label": label, "definition": self.describe(p)[3],
                          "kind": self._property_kind(p), "domain": [], "domain_includes": False,
                          "domain_union": False, "range": [], "range_includes": False, "range_union": False,
                          "super_properties": [], "inverse_of": []}
            return out[p]

        for key, preds, includes in (("domain", (V.RDFS_DOMAIN,), False), ("range", (V.RDFS_RANGE,), False),
                                     ("domain", V.SCHEMA_DOMAIN_INCLUDES, True), ("range", V.SCHEMA_RANGE_INCLUDES, True)):
            for pred in preds:
                for p, o in t.pairs(pred):
                    if p in props and (found := self._schema_target(o)):
                        e = entry(p)  # type: ignore[arg-type]
                        # one union: any one of its members; several statements: all of them at once
                        e[f"{key}_union"] = not e[key] and _is_blank(o) and len(found) > 1
                        e[key].extend(found)
                        e[f"{key}_includes"] |= includes
        for a, b in t.pairs(V.RDFS_SUBPROPERTYOF):
            if a in props and b in props and a != b:
                entry(a)["super_properties"].append(rel_id_label(b)[0])  # type: ignore[arg-type]
        for a, b in t.pairs(V.OWL_INVERSE_OF):
            if a in props and b in props and a != b:
                entry(a)["inverse_of"].append(rel_id_label(b)[0])  # type: ignore[arg-type]
                entry(b)["inverse_of"].append(rel_id_label(a)[0])  # type: ignore[arg-type]
        schema: dict[str, dict[str, Any]] = {}
        for e in out.values():
            for key in ("domain", "range"):
                e[key] = sorted({x["id"]: x for x in e[key]}.values(), key=lambda x: x["id"])
            for key in ("super_properties", "inverse_of"):
                e[key] = sorted(set(e[key]))
            schema[e.pop("id")] = e
        return dict(sorted(schema.items()))

    def _property_kind(self, p: str) -> str:
        ts = self.types.get(p, set())
        if ts & V.OBJECT_PROPERTY_TYPES:
            return "object"
        if V.OWL_DATATYPE_PROPERTY in ts:
            return "datatype"
        return "annotation" if V.OWL_ANNOTATION_PROPERTY in ts else "property"

    def _schema_target(self, term: Term) -> list[dict[str, str]]:
        """The named types a domain or range stands for (the members of a union), each with its words."""
        if _is_blank(term) and term in self.x.union_of:
            return [x for m in self.x.rdf_list(self.x.union_of[term]) for x in self._schema_target(m)]  # type: ignore[index]
        if not _is_iri(term):
            return []
        iri: str = term  # type: ignore[assignment]
        if iri in self.node_ids:
            return [{"id": self.node_ids[iri], "label": self.describe(iri)[0] or humanize(local_name(iri)), "kind": "node"}]
        if _reserved(iri):
            word = V.DATATYPE_WORDS.get(local_name(iri))
            if word is None or iri == V.OWL_THING:
                return []  # owl:Thing says nothing
            return [{"id": self.mint(iri), "label": word, "kind": "datatype"}]
        return [{"id": self.mint(iri), "label": self.describe(iri)[0] or humanize(local_name(iri)), "kind": "external"}]

    def _finish(self, kg: KnowledgeGraph, edges: list[tuple], schema: dict[str, Any]) -> BuildReport:
        """The checks on the whole graph (concepts found, is_a acyclic) and the report's counts."""
        node_rows = self.node_rows
        n_concepts = sum(1 for _, data in node_rows if data["kind"] in CONCEPT_KINDS)
        if not n_concepts:
            raise OntologyError(None, "no concepts found (no named owl:Class or skos:Concept that is not deprecated)")
        if not self.opts.allow_cycles:
            _check_acyclic(kg, [(s, d) for s, r, d, *_ in edges if r == IS_A])
        kind_counts = Counter(data["kind"] for _, data in node_rows)
        self.report.counts = {
            "nodes": len(kg), "concepts": n_concepts, "classes": kind_counts["class"],
            "skos_concepts": kind_counts["concept"], "individuals": kind_counts["individual"],
            "external": kind_counts["external"], "edges": kg.g.number_of_edges(), "properties": len(schema),
        }
        self.report.skipped = Counter({k: v for k, v in self.skipped.items() if v})
        return self.report


_SPECIAL_RELATIONS = {IS_A: "is a", INSTANCE_OF: "instance of", "equivalent_to": "equivalent to",
                      "disjoint_with": "disjoint with"}


class _Expressions:
    """OWL class expressions over blank nodes: restrictions (some, only, value, qualified cardinality),
    intersections, RDF lists — what ``C ⊑ expression`` implies as edges, and the cardinalities beside them."""

    def __init__(self, t: _Triples, skipped: Counter) -> None:
        self.t, self.skipped = t, skipped
        self.on_property = self.bnode_map(V.OWL_ON_PROPERTY)
        self.some, self.only = self.bnode_map(V.OWL_SOME), self.bnode_map(V.OWL_ALL)
        self.has_value = self.bnode_map(V.OWL_HAS_VALUE)
        self.on_class = self.bnode_map(V.OWL_ON_CLASS)
        self.cardinality = {
            "exactly": self.bnode_map(V.OWL_QUALIFIED_CARD),
            "min": self.bnode_map(V.OWL_MIN_QUALIFIED_CARD),
            "max": self.bnode_map(V.OWL_MAX_QUALIFIED_CARD),
        }
        self.intersection_of, self.union_of = self.bnode_map(V.OWL_INTERSECTION_OF), self.bnode_map(V.OWL_UNION_OF)
        self.first, self.rest = self.bnode_map(V.RDF_FIRST), self.bnode_map(V.RDF_REST)

    def bnode_map(self, pred: str) -> dict[str, Term]:
        return {s: o for s, o in self.t.pairs(pred) if _is_blank(s)}

    def rdf_list(self, head: Term) -> list[Term]:
        items: list[Term] = []
        seen: set[Term] = set()
        while _is_blank(head) and head in self.first and head not in seen:
            seen.add(head)
            items.append(self.first[head])
            head = self.rest.get(head, V.RDF_NIL)
        return items

    def named_fillers(self, filler: Term) -> list[str]:
        """Named classes a filler stands for; ``R some (A and B)`` implies ``R some A`` and ``R some B``."""
        if _is_iri(filler):
            return [filler]
        if filler in self.intersection_of:
            return [m for m in self.rdf_list(self.intersection_of[filler]) if _is_iri(m)]
        self.skipped["union_filler" if filler in self.union_of else "nested_expression_filler"] += 1
        return []

    def restriction(self, node: str) -> list[tuple[str, str, str]]:
        prop = self.on_property[node]
        if not _is_iri(prop):
            self.skipped["inverse_property_restriction"] += 1
            return []
        if node in self.some:
            filler, qualifier = self.some[node], "some"
        elif node in self.only:
            filler, qualifier = self.only[node], "only"
        elif node in self.has_value:
            filler, qualifier = self.has_value[node], "value"
        elif node in self.on_class:
            filler, qualifier = self.on_class[node], ""
            for word, table in self.cardinality.items():
                if node in table and isinstance(table[node], tuple):
                    qualifier = f"{word} {table[node][0]}"
            if qualifier in ("", "max 0", "exactly 0"):
                self.skipped["negative_or_unqualified_cardinality"] += 1
                return []
        else:
            self.skipped["restriction_without_class_filler"] += 1
            return []
        return [(prop, dst, qualifier) for dst in self.named_fillers(filler)]

    def expression(self, node: Term) -> list[tuple[str, str, str]]:
        """(relation IRI or IS_A, target IRI, qualifier) implied by ``C ⊑ node``."""
        if node in self.on_property:
            return self.restriction(node)  # type: ignore[arg-type]
        if node in self.intersection_of:
            out: list[tuple[str, str, str]] = []
            for member in self.rdf_list(self.intersection_of[node]):
                if _is_iri(member):
                    out.append((IS_A, member, ""))
                elif _is_blank(member):
                    out.extend(self.expression(member))
            return out
        self.skipped["union_or_complement_superclass"] += 1  # C ⊑ A ⊔ B implies neither C ⊑ A nor C ⊑ B
        return []

    def cardinalities(self, subclass_pairs) -> list[tuple[str, str, str, int, Term | None, str]]:
        """(class, property, word, n, filler, via) of every "exactly 1", "max 1", "min 2", qualified or not, over
        classes or data ranges, on a superclass or equivalent-class expression. Kept as their own table (a number
        is not an edge); ``min 0`` says nothing and is left out."""
        card_maps = [(word, self.bnode_map(pred)) for word, pred in (
            ("exactly", V.OWL_QUALIFIED_CARD), ("exactly", V.OWL_CARDINALITY), ("min", V.OWL_MIN_QUALIFIED_CARD),
            ("min", V.OWL_MIN_CARDINALITY), ("max", V.OWL_MAX_QUALIFIED_CARD), ("max", V.OWL_MAX_CARDINALITY))]
        on_data_range = self.bnode_map(V.OWL_ON_DATA_RANGE)
        out: list[tuple[str, str, str, int, Term | None, str]] = []
        for pred, via in ((V.RDFS_SUBCLASSOF, "subClassOf"), (V.OWL_EQUIVALENT_CLASS, "equivalentClass")):
            for s, node in (subclass_pairs if pred == V.RDFS_SUBCLASSOF else self.t.pairs(pred)):
                if not (_is_iri(s) and _is_blank(node)):
                    continue
                members = [node] + (self.rdf_list(self.intersection_of[node]) if node in self.intersection_of else [])
                for m in members:
                    prop = self.on_property.get(m)  # type: ignore[call-overload]
                    if prop is None or not _is_iri(prop):
                        continue
                    for word, table in card_maps:
                        value = table.get(m)  # type: ignore[call-overload]
                        if isinstance(value, tuple) and value[0].strip().isdigit() and (word, int(value[0])) != ("min", 0):
                            out.append((s, prop, word, int(value[0]), self.on_class.get(m) or on_data_range.get(m), via))  # type: ignore[arg-type]
        return out


def _relation_axioms(
    t: _Triples,
    types: Mapping[str, set[str]],
    properties: set[str],
    rdf_list: Callable[[Term], list[Term]],
    rel_id_label: Callable[[str], tuple[str, str]],
    node_ids: Mapping[str, str],
    kinds: Mapping[str, str],
    used: set[str],
) -> dict[str, dict[str, Any]]:
    """What the loaded files say of each object property, for the closure (kgtools.graph.closure):
    characteristics, inverses, super-properties, chains, and named-class domains and ranges; plus what RO
    says of the RO relations a file uses without importing RO, and the SKOS reference's symmetric
    ``skos:related``. Keyed by relation id; properties with nothing to say are left out."""
    out: dict[str, dict[str, Any]] = {}

    def entry(iri: str) -> dict[str, Any]:
        rid, label = rel_id_label(iri)
        return out.setdefault(rid, {"iri": iri, "label": label, "transitive": False, "symmetric": False,
                                    "inverse_of": [], "sub_property_of": [], "chains": [], "domain": [],
                                    "range": [], "source": "ontology"})

    def ok(iri: Term) -> bool:
        return _is_iri(iri) and iri in properties and not _reserved(iri)

    def cls(iri: Term) -> str | None:
        return node_ids.get(iri) if _is_iri(iri) and kinds.get(iri) == "class" else None  # type: ignore[arg-type]

    for p in sorted(q for q in properties if ok(q)):
        if V.OWL_TRANSITIVE_PROPERTY in types.get(p, ()):
            entry(p)["transitive"] = True
        if V.OWL_SYMMETRIC_PROPERTY in types.get(p, ()):
            entry(p)["symmetric"] = True
    for a, b in t.pairs(V.OWL_INVERSE_OF):
        if ok(a) and ok(b) and a != b:
            entry(a)["inverse_of"].append(rel_id_label(b)[0])  # type: ignore[arg-type]
            entry(b)["inverse_of"].append(rel_id_label(a)[0])  # type: ignore[arg-type]
    for a, b in t.pairs(V.RDFS_SUBPROPERTYOF):
        if ok(a) and ok(b) and a != b:
            entry(a)["sub_property_of"].append(rel_id_label(b)[0])  # type: ignore[arg-type]
            entry(b)  # type: ignore[arg-type]  # listed too: the closure may conclude facts of it
    for p, head in t.pairs(V.OWL_PROPERTY_CHAIN):
        links = rdf_list(head)
        if ok(p) and len(links) >= 2 and all(ok(x) for x in links):
            entry(p)["chains"].append([entry(x) and rel_id_label(x)[0] for x in links])  # type: ignore[arg-type]
    for key, pred in (("domain", V.RDFS_DOMAIN), ("range", V.RDFS_RANGE)):
        for p, c in t.pairs(pred):
            if ok(p) and (nid := cls(c)) is not None:
                entry(p)[key].append(nid)  # type: ignore[arg-type]
    for rid, axioms in V.RO_AXIOMS.items():
        if rid in used and rid not in out:
            entry(V.OBO + rid.replace(":", "_")).update(axioms, source="Relation Ontology (not imported; built in)")
    if any(r == "skos:related" for r in used) and "skos:related" not in out:
        entry(V.SKOS_RELATED).update(symmetric=True, source="SKOS reference")
    for e in out.values():
        for key in ("inverse_of", "sub_property_of", "domain", "range"):
            e[key] = sorted(set(e[key]))
        e["chains"] = sorted(map(list, {tuple(c) for c in e["chains"]}))
    return dict(sorted(out.items()))


def _check_acyclic(kg: KnowledgeGraph, is_a: list[tuple[str, str]]) -> None:
    """Raise on an is_a cycle, naming it (child → parent edges; networkx's depth-first cycle search)."""
    try:
        edges = nx.find_cycle(nx.DiGraph(is_a))
    except nx.NetworkXNoCycle:
        return
    cycle = [u for u, _ in edges] + [edges[0][0]]
    chain = " → ".join(f"{n} ({kg.label(n)})" if kg.g.nodes[n].get("label") else n for n in cycle)
    raise OntologyError(None, f"is_a cycle: {chain}; fix the subclass axioms (or allow_cycles: true)")
