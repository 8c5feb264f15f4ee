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

    ontology, idspaces, imports, header = _read_header(doc, path.stem)
    ids = _Ids(ontology, idspaces, _typedef_aliases(doc))
    w = _Quads(ids)
    onto = ox.NamedNode(f"{V.OBO}{ontology}.owl")
    w.add(onto, V.RDF_TYPE, ox.NamedNode(V.OWL_ONTOLOGY))
    for target in imports:
        w.add(onto, V.OWL_IMPORTS, ox.NamedNode(target if "://" in target else f"{V.OBO}{target}.owl"))
    for prop, value in header:
        if (triple := _header_triple(prop, value, idspaces)) is not None:
            w.add(onto, *triple)
    for frame in doc:
        if isinstance(frame, fastobo.term.TermFrame | fastobo.typedef.TypedefFrame):  # instance frames carry no classes
            w.frame(frame)
    return w.quads, dict(idspaces)


def _read_header(doc, default_name: str) -> tuple[str, dict[str, str], list[str], list[tuple[str, object]]]:
    """(the ontology's name, its idspaces, its imports, the (property, value) pairs said of it: version,
    license, title)."""
    ontology = default_name
    idspaces: dict[str, str] = {}
    imports: list[str] = []
    header: list[tuple[str, object]] = []
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
    return ontology, idspaces, imports, header


def _typedef_aliases(doc) -> dict[str, str]:
    """A typedef written with a local id and an xref to RO/BFO ("part_of" xref BFO:0000050) means that xref."""
    alias: dict[str, str] = {}
    for frame in doc:
        if isinstance(frame, fastobo.typedef.TypedefFrame) and ":" not in str(frame.id):
            for clause in frame:
                if isinstance(clause, fastobo.typedef.XrefClause) and ":" in str(clause.xref.id):
                    alias[str(frame.id)] = str(clause.xref.id)
                    break
    return alias


class _Quads:
    """The quads of one OBO document, frame by frame, as the OWL mapping of the OBO 1.4 guide writes them."""

    def __init__(self, ids: _Ids) -> None:
        self.ids = ids
        self.quads: list[ox.Quad] = []

    def add(self, s: ox.NamedNode | ox.BlankNode, p: str, o: ox.NamedNode | ox.BlankNode | ox.Literal) -> None:
        self.quads.append(ox.Quad(s, ox.NamedNode(p), o))

    def iri(self, ref: object) -> ox.NamedNode:
        return ox.NamedNode(self.ids.iri(ref))

    def restriction(self, prop: object, filler: object) -> ox.BlankNode:
        node = ox.BlankNode()
        self.add(node, V.RDF_TYPE, ox.NamedNode(V.OWL_RESTRICTION))
        self.add(node, V.OWL_ON_PROPERTY, self.iri(prop))
        self.add(node, V.OWL_SOME, self.iri(filler))
        return node

    def rdf_list(self, items: list[ox.NamedNode | ox.BlankNode]) -> ox.NamedNode | ox.BlankNode:
        head: ox.NamedNode | ox.BlankNode = ox.NamedNode(V.RDF_NIL)
        for item in reversed(items):
            cell = ox.BlankNode()
            self.add(cell, V.RDF_FIRST, item)
            self.add(cell, V.RDF_REST, head)
            head = cell
        return head

    def frame(self, frame) -> None:
        is_term = isinstance(frame, fastobo.term.TermFrame)
        subject = self.iri(frame.id)
        self.add(subject, V.RDF_TYPE, ox.NamedNode(V.OWL_CLASS if is_term else V.OWL_OBJECT_PROPERTY))
        intersection: list[ox.NamedNode | ox.BlankNode] = []
        for clause in frame:
            kind = type(clause).__name__
            if self._annotation(subject, kind, clause, is_term):
                continue
            if not is_term:  # a typedef's structure is about properties: `is_a` means rdfs:subPropertyOf
                self._typedef_clause(subject, kind, clause)
            elif kind == "IntersectionOfClause":
                intersection.append(self.iri(clause.term) if clause.typedef is None
                                    else self.restriction(clause.typedef, clause.term))
            else:
                self._term_clause(subject, kind, clause)
        if intersection:
            expr = ox.BlankNode()
            self.add(expr, V.RDF_TYPE, ox.NamedNode(V.OWL_CLASS))
            self.add(expr, V.OWL_INTERSECTION_OF, self.rdf_list(intersection))
            self.add(subject, V.OWL_EQUIVALENT_CLASS, expr)

    def _annotation(self, subject: ox.NamedNode, kind: str, clause, is_term: bool) -> bool:
        """Names, definitions, synonyms, xrefs, comments, obsoletion: True if ``clause`` was one of them."""
        L = ox.Literal
        if kind == "NameClause":
            self.add(subject, V.RDFS_LABEL, L(str(clause.name)))
        elif kind == "DefClause":
            self.add(subject, V.IAO_DEFINITION, L(str(clause.definition)))
        elif kind == "SynonymClause":
            syn = clause.synonym
            self.add(subject, _SCOPE.get(str(syn.scope), V.OBO_RELATED_SYNONYM), L(str(syn.desc)))
        elif kind == "XrefClause":
            self.add(subject, V.OBO_XREF, L(str(clause.xref.id)))
        elif kind == "CommentClause":
            self.add(subject, V.RDFS_COMMENT, L(str(clause.comment)))
        elif kind == "IsObsoleteClause" and clause.obsolete:
            self.add(subject, V.OWL_DEPRECATED, L("true", datatype=ox.NamedNode(V.XSD + "boolean")))
        elif kind in ("ReplacedByClause", "ConsiderClause") and is_term:
            self.add(subject, V.IAO_REPLACED_BY if kind == "ReplacedByClause" else V.OBO_CONSIDER, self.iri(clause.term))
        else:
            return False
        return True

    def _typedef_clause(self, subject: ox.NamedNode, kind: str, clause) -> None:
        if kind == "IsAClause":
            self.add(subject, V.RDFS_SUBPROPERTYOF, self.iri(clause.typedef))
        elif kind == "InverseOfClause":
            self.add(subject, V.OWL_INVERSE_OF, self.iri(clause.typedef))
        elif kind == "IsTransitiveClause" and clause.transitive:
            self.add(subject, V.RDF_TYPE, ox.NamedNode(V.OWL_TRANSITIVE_PROPERTY))
        elif kind == "IsSymmetricClause" and clause.symmetric:
            self.add(subject, V.RDF_TYPE, ox.NamedNode(V.OWL_SYMMETRIC_PROPERTY))
        elif kind == "HoldsOverChainClause":  # the OBO 1.4 guide: a property chain axiom
            self.add(subject, V.OWL_PROPERTY_CHAIN, self.rdf_list([self.iri(clause.first), self.iri(clause.last)]))
        elif kind == "TransitiveOverClause":  # X r Y, Y t Z → X r Z: the chain r o t
            self.add(subject, V.OWL_PROPERTY_CHAIN, self.rdf_list([subject, self.iri(clause.typedef)]))
        elif kind in ("DomainClause", "RangeClause"):
            self.add(subject, V.RDFS_DOMAIN if kind == "DomainClause" else V.RDFS_RANGE,
                     self.iri(clause.domain if kind == "DomainClause" else clause.range))

    def _term_clause(self, subject: ox.NamedNode, kind: str, clause) -> None:
        if kind == "IsAClause":
            self.add(subject, V.RDFS_SUBCLASSOF, self.iri(clause.term))
        elif kind == "RelationshipClause":
            self.add(subject, V.RDFS_SUBCLASSOF, self.restriction(clause.typedef, clause.term))
        elif kind == "EquivalentToClause":
            self.add(subject, V.OWL_EQUIVALENT_CLASS, self.iri(clause.term))
        elif kind == "DisjointFromClause":
            self.add(subject, V.OWL_DISJOINT_WITH, self.iri(clause.term))
