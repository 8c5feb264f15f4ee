"""OBO 1.2/1.4 flat files → RDF quads, following the OBO-to-OWL mapping, so that one graph builder
serves OWL and OBO alike. Parsed with fastobo (pronto's own parser), which, unlike pronto, reads
"base" modules whose parents are defined elsewhere (MAxO)."""

from __future__ import annotations

from pathlib import Path

import fastobo
import pyoxigraph as ox

from kgtools.errors import OntologyError
from kgtools.ontology import vocab as V

_SCOPE = {
    "EXACT": V.OBO_EXACT_SYNONYM,
    "RELATED": V.OBO_RELATED_SYNONYM,
    "NARROW": V.OBO_NARROW_SYNONYM,
    "BROAD": V.OBO_BROAD_SYNONYM,
}


class _Ids:
    """Maps OBO identifiers to IRIs (idspaces from the header, else the OBO PURL convention)."""

    def __init__(self, ontology: str, idspaces: dict[str, str], typedef_alias: dict[str, str]):
        self.ontology = ontology
        self.idspaces = idspaces
        self.typedef_alias = typedef_alias

    def iri(self, ident: object) -> str:
        text = str(ident)
        if text in self.typedef_alias:
            text = self.typedef_alias[text]
        if isinstance(ident, fastobo.id.Url) or text.startswith(("http://", "https://")):
            return text
        if ":" in text:
            prefix, local = text.split(":", 1)
            if prefix in self.idspaces:
                return self.idspaces[prefix] + local
            return f"{V.OBO}{prefix}_{local}"
        return f"{V.OBO}{self.ontology}#{text}"


_HEADER_PREFIXES = {"owl": V.OWL, "rdfs": V.RDFS, "dc": "http://purl.org/dc/elements/1.1/",
                    "dce": "http://purl.org/dc/elements/1.1/", "dcterms": "http://purl.org/dc/terms/",
                    "cc": "http://creativecommons.org/ns#"}
_HEADER_IRIS = {p for preds in V.HEADER_PROPERTIES.values() for p in preds}


def _header_triple(prop: str, value: object, idspaces: dict[str, str]) -> tuple[str, ox.NamedNode | ox.Literal] | None:
    """A header clause as a triple about the ontology, for the header properties kgtools reads (the release's
    title, version and license): ``data-version`` is the version IRI (the OBO-to-OWL mapping), a
    ``property_value`` keeps its property if it is one of them."""
    if prop == V.OWL_VERSION_IRI:
        text = str(value)
        return prop, ox.NamedNode(text if "://" in text else f"{V.OBO}{text}")
    prefix, _, local = prop.partition(":")
    base = "" if "://" in prop else {**_HEADER_PREFIXES, **idspaces}.get(prefix)
    iri = prop if base == "" else f"{base}{local}" if base else None
    if iri is None or iri not in _HEADER_IRIS:
        return None
    text = str(value.value).strip('"')  # type: ignore[attr-defined]
    return iri, (ox.NamedNode(text) if "://" in text and " " not in text else ox.Literal(text))


def obo_quads(path: Path) -> tuple[list[ox.Quad], dict[str, str]]:
    """Parse an OBO file into quads (default graph) and the prefixes its header declares."""
    try:
        doc = fastobo.load(str(path))
    except SyntaxError as exc:
        raise OntologyError(path, f"OBO syntax error: {exc.msg}", exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise OntologyError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise OntologyError(path, f"cannot read file ({exc.strerror or exc})") from None

    ontology = path.stem
    idspaces: dict[str, str] = {}
    imports: list[str] = []
    header: list[tuple[str, object]] = []  # (property, value) said of the ontology: version, license, title
    for clause in doc.header:
        kind = type(clause).__name__
        if kind == "OntologyClause":
            ontology = clause.ontology
        elif kind == "DataVersionClause":
            header.append((V.OWL_VERSION_IRI, str(clause.version)))
        elif kind == "PropertyValueClause":
            header.append((str(clause.property_value.relation), clause.property_value))
        elif kind == "IdspaceClause":
            idspaces[str(clause.prefix)] = str(clause.url)
        elif kind == "ImportClause":
            imports.append(str(clause.reference))

    # A typedef written with a local id and an xref to RO/BFO ("part_of" xref BFO:0000050) means that xref.
    alias: dict[str, str] = {}
    for frame in doc:
        if isinstance(frame, fastobo.typedef.TypedefFrame) and ":" not in str(frame.id):
            for clause in frame:
                if isinstance(clause, fastobo.typedef.XrefClause) and ":" in str(clause.xref.id):
                    alias[str(frame.id)] = str(clause.xref.id)
                    break
    ids = _Ids(ontology, idspaces, alias)

    quads: list[ox.Quad] = []
    N, L = ox.NamedNode, ox.Literal

    def add(s: ox.NamedNode | ox.BlankNode, p: str, o: ox.NamedNode | ox.BlankNode | ox.Literal) -> None:
        quads.append(ox.Quad(s, N(p), o))

    def restriction(prop: object, filler: object) -> ox.BlankNode:
        node = ox.BlankNode()
        add(node, V.RDF_TYPE, N(V.OWL_RESTRICTION))
        add(node, V.OWL_ON_PROPERTY, N(ids.iri(prop)))
        add(node, V.OWL_SOME, N(ids.iri(filler)))
        return node

    def rdf_list(items: list[ox.NamedNode | ox.BlankNode]) -> ox.NamedNode | ox.BlankNode:
        head: ox.NamedNode | ox.BlankNode = N(V.RDF_NIL)
        for item in reversed(items):
            cell = ox.BlankNode()
            add(cell, V.RDF_FIRST, item)
            add(cell, V.RDF_REST, head)
            head = cell
        return head

    onto = N(f"{V.OBO}{ontology}.owl")
    add(onto, V.RDF_TYPE, N(V.OWL_ONTOLOGY))
    for target in imports:
        add(onto, V.OWL_IMPORTS, N(target if "://" in target else f"{V.OBO}{target}.owl"))
    for prop, value in header:
        if (triple := _header_triple(prop, value, idspaces)) is not None:
            add(onto, *triple)

    for frame in doc:
        is_term = isinstance(frame, fastobo.term.TermFrame)
        if not is_term and not isinstance(frame, fastobo.typedef.TypedefFrame):
            continue  # instance frames carry no classes
        subject = N(ids.iri(frame.id))
        add(subject, V.RDF_TYPE, N(V.OWL_CLASS if is_term else V.OWL_OBJECT_PROPERTY))
        intersection: list[ox.NamedNode | ox.BlankNode] = []
        for clause in frame:
            kind = type(clause).__name__
            if kind == "NameClause":
                add(subject, V.RDFS_LABEL, L(str(clause.name)))
            elif kind == "DefClause":
                add(subject, V.IAO_DEFINITION, L(str(clause.definition)))
            elif kind == "SynonymClause":
                syn = clause.synonym
                add(subject, _SCOPE.get(str(syn.scope), V.OBO_RELATED_SYNONYM), L(str(syn.desc)))
            elif kind == "XrefClause":
                add(subject, V.OBO_XREF, L(str(clause.xref.id)))
            elif kind == "CommentClause":
                add(subject, V.RDFS_COMMENT, L(str(clause.comment)))
            elif kind == "IsObsoleteClause" and clause.obsolete:
                add(subject, V.OWL_DEPRECATED, L("true", datatype=N(V.XSD + "boolean")))
            elif kind in ("ReplacedByClause", "ConsiderClause") and is_term:
                add(subject, V.IAO_REPLACED_BY if kind == "ReplacedByClause" else V.OBO_CONSIDER, N(ids.iri(clause.term)))
            elif not is_term:  # a typedef's structure is about properties: `is_a` means rdfs:subPropertyOf
                if kind == "IsAClause":
                    add(subject, V.RDFS_SUBPROPERTYOF, N(ids.iri(clause.typedef)))
                elif kind == "InverseOfClause":
                    add(subject, V.OWL_INVERSE_OF, N(ids.iri(clause.typedef)))
                elif kind == "IsTransitiveClause" and clause.transitive:
                    add(subject, V.RDF_TYPE, N(V.OWL_TRANSITIVE_PROPERTY))
                elif kind == "IsSymmetricClause" and clause.symmetric:
                    add(subject, V.RDF_TYPE, N(V.OWL_SYMMETRIC_PROPERTY))
                elif kind == "HoldsOverChainClause":  # the OBO 1.4 guide: a property chain axiom
                    add(subject, V.OWL_PROPERTY_CHAIN, rdf_list([N(ids.iri(clause.first)), N(ids.iri(clause.last))]))
                elif kind == "TransitiveOverClause":  # X r Y, Y t Z → X r Z: the chain r o t
                    add(subject, V.OWL_PROPERTY_CHAIN, rdf_list([subject, N(ids.iri(clause.typedef))]))
                elif kind in ("DomainClause", "RangeClause"):
                    add(subject, V.RDFS_DOMAIN if kind == "DomainClause" else V.RDFS_RANGE,
                        N(ids.iri(clause.domain if kind == "DomainClause" else clause.range)))
            elif kind == "IsAClause":
                add(subject, V.RDFS_SUBCLASSOF, N(ids.iri(clause.term)))
            elif kind == "RelationshipClause":
                add(subject, V.RDFS_SUBCLASSOF, restriction(clause.typedef, clause.term))
            elif kind == "EquivalentToClause":
                add(subject, V.OWL_EQUIVALENT_CLASS, N(ids.iri(clause.term)))
            elif kind == "DisjointFromClause":
                add(subject, V.OWL_DISJOINT_WITH, N(ids.iri(clause.term)))
            elif kind == "IntersectionOfClause":
                if clause.typedef is None:
                    intersection.append(N(ids.iri(clause.term)))
                else:
                    intersection.append(restriction(clause.typedef, clause.term))
        if intersection:
            expr = ox.BlankNode()
            add(expr, V.RDF_TYPE, N(V.OWL_CLASS))
            add(expr, V.OWL_INTERSECTION_OF, rdf_list(intersection))
            add(subject, V.OWL_EQUIVALENT_CLASS, expr)

    prefixes = {p: url for p, url in idspaces.items()}
    return quads, prefixes
