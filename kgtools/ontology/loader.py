"""Load ontology files, folders and their `owl:imports` closure into one rdflib graph, never over the network.

Files are parsed by Oxigraph (through pyoxigraph, the engine behind oxrdflib) into an Oxigraph-backed
``rdflib.Graph``: rdflib stays the API, Oxigraph does the parsing (FIBO: 0.25 s instead of 2.9–4.7 s).
A file Oxigraph rejects is retried with rdflib's own parser before it is reported. Imports are resolved
through OASIS catalogs and through the ontology IRIs the loaded files declare; what cannot be resolved
is reported by IRI (a warning, or an error with ``strict``).
"""

from __future__ import annotations

import html
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pyoxigraph as ox
import rdflib
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from kgtools.artifacts import absolute
from kgtools.errors import OntologyError
from kgtools.ontology import formats as F
from kgtools.ontology import vocab as V
from kgtools.ontology.catalog import CATALOG_NAME, find_catalogs, read_catalog
from kgtools.ontology.obo import obo_quads

log = logging.getLogger(__name__)

_OX_FORMAT = {
    F.TURTLE: ox.RdfFormat.TURTLE,
    F.NTRIPLES: ox.RdfFormat.N_TRIPLES,
    F.N3: ox.RdfFormat.N3,
    F.RDFXML: ox.RdfFormat.RDF_XML,
    F.JSONLD: ox.RdfFormat.JSON_LD,
}
_RDFLIB_FORMAT = {F.TURTLE: "turtle", F.NTRIPLES: "nt", F.N3: "n3", F.RDFXML: "xml", F.JSONLD: "json-ld"}

_RDF_TYPE = ox.NamedNode(V.RDF_TYPE)
_OWL_ONTOLOGY = ox.NamedNode(V.OWL_ONTOLOGY)
_OWL_IMPORTS = ox.NamedNode(V.OWL_IMPORTS)
_OWL_VERSION_IRI = ox.NamedNode(V.OWL_VERSION_IRI)
_RELEASE_TYPES = (ox.NamedNode(V.OWL_ONTOLOGY), ox.NamedNode(V.SKOS_CONCEPT_SCHEME))
_HEADER = {ox.NamedNode(p): key for key, preds in V.HEADER_PROPERTIES.items() for p in preds}

_XML_ENTITY = re.compile(r'<!ENTITY\s+([\w.-]+)\s+"([^"]*)"\s*>')
_XMLNS = re.compile(r'xmlns:([\w.-]+)\s*=\s*"([^"]*)"')


@dataclass
class SourceFile:
    """One parsed file and what it declares."""

    path: Path
    format: str
    via: str  # "input", "catalog" or "import"
    triples: int = 0
    seconds: float = 0.0
    ontology_iris: list[str] = field(default_factory=list)  # ontology IRIs and version IRIs
    imports: list[str] = field(default_factory=list)
    parser: str = "oxigraph"
    header: dict[str, str] = field(default_factory=dict)  # the ontology's title, version, license (V.HEADER_PROPERTIES)


@dataclass
class LoadedOntology:
    """The merged RDF graph of all loaded files, and what the loader learnt on the way."""

    graph: rdflib.Graph
    files: list[SourceFile]
    prefixes: dict[str, str]  # prefix → namespace, first declaration wins
    declared_in: dict[str, str]  # IRI of each typed subject → the file that first typed it
    unresolved_imports: dict[str, list[str]]  # import IRI → files importing it
    catalogs: list[Path]

    @property
    def triples(self) -> int:
        return len(self.graph.store._inner)  # pyoxigraph counts natively; rdflib's len() runs a query


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files named directly, and the ontology files inside named folders (recursively, sorted)."""
    if not paths:
        raise OntologyError(None, "no ontology file or folder given")
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in F.ONTOLOGY_EXTENSIONS
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                exts = " ".join(F.ONTOLOGY_EXTENSIONS)
                raise OntologyError(p, f"folder holds no ontology file (looked for {exts})")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise OntologyError(p, "not a regular file (a FIFO, socket or device); give a file or folder"
                                if p.exists() else "no such file or folder")
    unique = list(dict.fromkeys(absolute(f) for f in files))
    return unique


def load_ontology(
    paths: Sequence[str | Path] | str | Path,
    *,
    catalogs: Iterable[str | Path] = (),
    follow_imports: bool = True,
    strict: bool = False,
    allow_outside: bool = False,
    max_literal_chars: int | None = None,
    max_triples: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadedOntology:
    """Parse ``paths`` (files or folders) and, if ``follow_imports``, the local files they import.

    An ontology may come from someone else: its ``file:`` imports and the entries of the catalogs found
    beside it are followed only to files inside the folders given (the folders named, the folders of the
    files named, and of the catalogs named) unless ``allow_outside``; the others stay unresolved, with the
    reason. ``max_literal_chars`` and ``max_triples`` bound what one file and all of them together may hold:
    past them the file is refused with one error naming it, before its triples join the graph.

    ``progress`` is called with a short message before each file (the CLI shows it).
    """
    if isinstance(paths, (str, Path)):  # one path, not the characters of one
        paths = [paths]
    inputs = expand_inputs(paths)
    catalog_files = sorted({absolute(c) for c in catalogs} | set(find_catalogs([Path(p) for p in paths])))
    catalog: dict[str, Path] = {}
    for cat in catalog_files:
        if not cat.is_file():
            raise OntologyError(cat, "no such catalog file")
        for iri, target in read_catalog(cat).items():
            catalog.setdefault(iri, target)

    graph = rdflib.Graph(store="Oxigraph", identifier=DATASET_DEFAULT_GRAPH_ID)
    store: ox.Store = graph.store._inner  # the pyoxigraph store oxrdflib wraps
    loaded = LoadedOntology(graph, [], {}, {}, {}, catalog_files)
    by_path: dict[Path, SourceFile] = {}

    def load(path: Path, via: str) -> SourceFile:
        if progress is not None:
            progress(f"parsing {path.name} ({len(loaded.files) + 1} files)")
        fmt = F.detect_format(path)
        started = time.perf_counter()
        quads, prefixes, parser = _parse(path, fmt)
        _check_limits(path, quads, sum(f.triples for f in loaded.files), max_literal_chars, max_triples)
        store.extend(quads)
        source = SourceFile(path=path, format=fmt, via=via, triples=len(quads), parser=parser)
        _scan(quads, source, loaded.declared_in, str(path))
        source.seconds = time.perf_counter() - started
        for prefix, ns in prefixes.items():
            if prefix and ns and prefix not in loaded.prefixes:
                loaded.prefixes[prefix] = ns
        loaded.files.append(source)
        by_path[path] = source
        log.debug("parsed %s (%s, %d triples, %.2fs)", path, fmt, len(quads), source.seconds)
        return source

    for path in inputs:
        load(path, "input")

    if follow_imports:
        folders = sorted({p.parent for p in inputs})
        roots = None if allow_outside else _allowed_roots(paths, catalogs)
        _resolve_imports(loaded, by_path, catalog, load, lambda: _sibling_ontologies(folders, by_path), roots)

    if loaded.unresolved_imports:
        iris = sorted(loaded.unresolved_imports)
        shown = ", ".join(iris[:5]) + (f" and {len(iris) - 5} more" if len(iris) > 5 else "")
        if strict:
            where = ", ".join(str(p) for p in paths)
            raise OntologyError(where, f"{len(iris)} owl:imports cannot be resolved locally ({shown}); "
                                "pass the imported files or a catalog-v001.xml, or leave out --strict")
        log.warning("%d owl:imports not resolved locally (pass the files or a catalog): %s", len(iris), shown)
    return loaded


def _check_limits(path: Path, quads: list[ox.Quad], held: int, max_literal_chars: int | None,
                  max_triples: int | None) -> None:
    """The configurable guards of `kg build` (kg.max_triples, kg.max_literal_chars)."""
    if max_triples is not None and held + len(quads) > max_triples:
        raise OntologyError(path, f"loading it would hold {held + len(quads):,} triples, more than kg.max_triples "
                            f"({max_triples:,}); raise kg.max_triples if this machine has the memory")
    if max_literal_chars is not None:
        longest = max((len(q.object.value) for q in quads if isinstance(q.object, ox.Literal)), default=0)
        if longest > max_literal_chars:
            raise OntologyError(path, f"a literal of {longest:,} characters, more than kg.max_literal_chars "
                                f"({max_literal_chars:,}); shorten it or raise kg.max_literal_chars")


def _norm(iri: str) -> str:
    """Ontology IRIs are compared without a trailing '/' or '#', as most tools do."""
    return iri.rstrip("/#")


def _allowed_roots(paths: Sequence[str | Path], catalogs: Iterable[str | Path]) -> list[Path]:
    """The folders imports may be read from: each folder given, the folder of each file and catalog given."""
    roots = {absolute(p) if Path(p).is_dir() else absolute(p).parent for p in paths}
    roots |= {absolute(c).parent for c in catalogs}
    return sorted(roots)


def _inside(path: Path, roots: list[Path]) -> bool:
    real = Path(os.path.realpath(path))  # a symlink inside a given folder that points out of it is outside
    return any(real.is_relative_to(os.path.realpath(r)) for r in roots)


def _resolve_imports(loaded: LoadedOntology, by_path: dict[Path, SourceFile], catalog: dict[str, Path], load,
                     siblings: Callable[[], dict[str, Path]], roots: list[Path] | None = None) -> None:
    declared = {_norm(iri) for f in loaded.files for iri in f.ontology_iris}
    pending = [(imp, f) for f in loaded.files for imp in f.imports]
    found_beside: dict[str, Path] | None = None
    while pending:
        iri, importer = pending.pop(0)
        if _norm(iri) in declared:
            continue
        target = catalog.get(iri) or catalog.get(_norm(iri)) or catalog.get(_norm(iri) + "/")
        if target is None and iri.startswith("file:"):
            target = absolute(url2pathname(urlparse(iri).path))
        if target is None:  # a file beside the inputs that declares this ontology IRI
            if found_beside is None:
                found_beside = siblings()
            target = found_beside.get(_norm(iri))
        if target is not None and roots is not None and not _inside(target, roots):
            loaded.unresolved_imports.setdefault(iri, []).append(
                f"{importer.path}; {target} is outside the folders given (kg.allow_imports_outside / "
                "--allow-imports-outside reads it, for ontologies you trust)")
            continue
        if target is not None and target.is_file():
            if target in by_path:  # a catalog maps the IRI to a file already loaded under another IRI
                declared.add(_norm(iri))
                continue
            source = load(target, "catalog" if iri in catalog else "import")
            declared.add(_norm(iri))
            declared.update(_norm(x) for x in source.ontology_iris)
            pending.extend((imp, source) for imp in source.imports)
            continue
        reason = str(importer.path)
        if target is not None:
            reason += f"; catalog points at missing {target}"
        loaded.unresolved_imports.setdefault(iri, []).append(reason)


_SIBLING_LIMIT = 500  # files looked at beside the inputs; a folder that large should come with a catalog


def _sibling_ontologies(folders: list[Path], loaded: dict[Path, SourceFile]) -> dict[str, Path]:
    """Ontology IRI (and version IRI) → file, for the ontology files directly inside the folders of the
    inputs that are not loaded yet: `owl:imports` between files of one folder resolve without a catalog.
    Only those folders are looked at (never a path an ontology names). A file that cannot be read or
    parsed here is left alone: if it is imported, the import stays unresolved and is reported."""
    found: dict[str, Path] = {}
    files = [f for folder in folders for f in sorted(folder.iterdir())
             if f.is_file() and f.suffix.lower() in F.ONTOLOGY_EXTENSIONS and absolute(f) not in loaded]
    for path in files[:_SIBLING_LIMIT]:
        try:
            fmt = F.detect_format(path)
            if fmt == F.OBO:
                continue
            source = SourceFile(path=absolute(path), format=fmt, via="import")
            quads = ox.parse(path=path, format=_OX_FORMAT[fmt], base_iri=path.as_uri(), lenient=True)
            _scan(list(quads), source, {}, str(path))
        except (OntologyError, SyntaxError, OSError, ValueError):
            continue
        for iri in source.ontology_iris:
            found.setdefault(_norm(iri), absolute(path))
    return found


def _parse(path: Path, fmt: str) -> tuple[list[ox.Quad], dict[str, str], str]:
    """Quads (default graph, blank nodes renamed apart) and declared prefixes of one file."""
    if fmt == F.OBO:
        quads, prefixes = obo_quads(path)
        return quads, prefixes, "fastobo"
    if fmt == F.RDFXML:
        _check_entities(path)
    try:
        parser = ox.parse(
            path=path,
            format=_OX_FORMAT[fmt],
            base_iri=path.as_uri(),
            rename_blank_nodes=True,
            lenient=True,
        )
        quads = list(parser)  # the formats read here have no named graphs: every quad is in the default graph
        prefixes = dict(parser.prefixes)
        if fmt == F.RDFXML:
            prefixes.update(_rdfxml_prefixes(path))
        return quads, prefixes, "oxigraph"
    except SyntaxError as exc:
        ox_error = exc
    except OSError as exc:
        raise OntologyError(path, f"cannot read file ({exc.strerror or exc})") from None
    except MemoryError as exc:  # Oxigraph's bound on one token (a literal or IRI): 16 MiB
        raise OntologyError(path, f"a single literal or IRI is too large to parse ({exc}); split or shorten it") from None
    if fmt == F.JSONLD:
        # No rdflib retry for JSON-LD: rdflib's parser fetches remote `@context` documents over HTTP, which
        # would make a file kgtools is given send requests and build from content outside the cache key.
        hint = ("; kgtools never fetches a remote @context: inline the context in the file"
                if "context" in _ox_message(ox_error).lower() else "")
        line = ox_error.lineno if isinstance(ox_error.lineno, int) else None
        raise OntologyError(path, f"JSON-LD error: {_ox_message(ox_error)}{hint}", line) from None
    # Oxigraph is stricter than rdflib in places (odd encodings, some RDF/XML shapes): try rdflib once.
    try:
        fallback = rdflib.Graph()
        fallback.parse(path, format=_RDFLIB_FORMAT[fmt])
    except Exception as rdflib_error:  # noqa: BLE001 - any rdflib failure: report Oxigraph's error
        line = ox_error.lineno if isinstance(ox_error.lineno, int) else _rdflib_line(rdflib_error)
        raise OntologyError(path, f"{F.describe(fmt)} syntax error: {_ox_message(ox_error)}", line) from None
    log.info("%s: parsed by rdflib after Oxigraph refused it (%s)", path, _ox_message(ox_error))
    data = fallback.serialize(format="nt", encoding="utf-8")
    quads = list(ox.parse(input=data, format=ox.RdfFormat.N_TRIPLES, rename_blank_nodes=True, lenient=True))
    prefixes = {p: str(ns) for p, ns in fallback.namespace_manager.namespaces()}
    return quads, prefixes, "rdflib"


_DOCTYPE_SCAN = 1 << 20  # the internal DTD subset comes before the root element: read at most 1 MiB of it
_ENTITY_DECL = re.compile(r"""<!ENTITY\s+(%\s+)?([\w.:-]+)\s+(?:"([^"]*)"|'([^']*)'|(SYSTEM|PUBLIC)\b)""")
_ENTITY_REF = re.compile(r"&([\w.:-]+);")
ENTITY_EXPANSION_LIMIT = 8192  # characters one entity may expand to; a namespace IRI is well under 200


def _check_entities(path: Path) -> None:
    """Refuse an RDF/XML file whose DTD declares entities that expand without bound ("billion laughs":
    entities nesting others, ten at a time, which Oxigraph would expand into gigabytes) or that refer to
    themselves. Ontologies declare entities for namespace IRIs (``<!ENTITY obo "http://…/obo/">``): those
    expand to a few dozen characters and pass. Read before parsing, in bounded time and memory."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_DOCTYPE_SCAN).decode("utf-8", errors="replace")
    except OSError as exc:
        raise OntologyError(path, f"cannot read file ({exc.strerror or exc})") from None
    start = head.find("<!DOCTYPE")
    if start < 0:
        return
    declared: dict[str, str] = {}
    for m in _ENTITY_DECL.finditer(head, start):
        if m.group(1) is None and m.group(5) is None:  # general internal entities; external ones are not fetched
            declared.setdefault(m.group(2), m.group(3) if m.group(3) is not None else m.group(4))
    sizes: dict[str, int] = {}

    def size(name: str, stack: tuple[str, ...]) -> int:
        if name in stack:
            raise OntologyError(path, f"XML entity '{name}' refers to itself; refused (entity expansion is bounded)")
        if name not in sizes:
            value = declared[name]
            total = len(_ENTITY_REF.sub("", value))
            for ref in _ENTITY_REF.findall(value):
                total += size(ref, (*stack, name)) if ref in declared else len(ref) + 2
                if total > ENTITY_EXPANSION_LIMIT:
                    break
            sizes[name] = total
        return sizes[name]

    for name in declared:
        if size(name, ()) > ENTITY_EXPANSION_LIMIT:
            raise OntologyError(path, f"XML entity '{name}' expands to more than {ENTITY_EXPANSION_LIMIT:,} "
                                "characters (nested entities, as in a 'billion laughs' file); refused")


def _rdflib_line(exc: Exception) -> int | None:
    """The line rdflib's parsers report (expat's SAX errors, notation3's BadSyntax), if any."""
    getter = getattr(exc, "getLineNumber", None)
    if callable(getter):
        return getter()
    line = getattr(exc, "lines", None)
    return line + 1 if isinstance(line, int) else None


def _ox_message(exc: SyntaxError) -> str:
    msg = exc.msg or str(exc)
    return re.sub(r"^Parser error (at|between) line \d+ column \d+( and line \d+ column \d+)?: ", "", msg)


def _rdfxml_prefixes(path: Path) -> dict[str, str]:
    """xmlns declarations of an RDF/XML file (Oxigraph does not report them), entities expanded."""
    with open(path, "rb") as fh:
        head = fh.read(65536).decode("utf-8", errors="replace")
    end = head.find(">", head.find("<rdf:RDF"))
    head = head[: end if end > 0 else None]
    entities = {name: value for name, value in _XML_ENTITY.findall(head)}

    def expand(value: str) -> str:
        value = re.sub(r"&([\w.-]+);", lambda m: entities.get(m.group(1), m.group(0)), value)
        return html.unescape(value)

    return {prefix: expand(ns) for prefix, ns in _XMLNS.findall(head)}


def _scan(quads: list[ox.Quad], source: SourceFile, declared_in: dict[str, str], name: str) -> None:
    """Ontology IRIs, imports, the release's header, and which file first typed each named subject."""
    releases: list[ox.NamedNode] = []  # owl:Ontology and skos:ConceptScheme subjects, in file order
    said: dict[ox.NamedNode, dict[ox.NamedNode, str]] = {}
    for q in quads:
        pred = q.predicate
        if pred == _RDF_TYPE:
            subj = q.subject
            if isinstance(subj, ox.NamedNode):
                declared_in.setdefault(subj.value, name)
                if q.object == _OWL_ONTOLOGY:
                    source.ontology_iris.append(subj.value)
                if q.object in _RELEASE_TYPES:
                    releases.append(subj)
        elif pred == _OWL_IMPORTS and isinstance(q.object, ox.NamedNode):
            source.imports.append(q.object.value)
        if pred in _HEADER and isinstance(q.subject, ox.NamedNode) and not isinstance(q.object, ox.BlankNode):
            said.setdefault(q.subject, {}).setdefault(pred, " ".join(q.object.value.split()))
            if pred == _OWL_VERSION_IRI and isinstance(q.object, ox.NamedNode):
                source.ontology_iris.append(q.object.value)
    source.header = _header(releases, said)


def _header(releases: list[ox.NamedNode], said: dict[ox.NamedNode, dict[ox.NamedNode, str]]) -> dict[str, str]:
    """The header of the file's release: of its owl:Ontology and skos:ConceptScheme subjects, the one that says
    the most (a thesaurus may declare the SKOS ontology too), the first on a tie; each key's first property."""
    headers = []
    for subject in dict.fromkeys(releases):
        values = said.get(subject, {})
        header = {"iri": subject.value}
        for key, preds in V.HEADER_PROPERTIES.items():
            found = next((values[ox.NamedNode(p)] for p in preds if ox.NamedNode(p) in values), None)
            if found:
                header[key] = found
        headers.append(header)
    return max(headers, key=len, default={})


__all__ = ["CATALOG_NAME", "LoadedOntology", "SourceFile", "expand_inputs", "load_ontology"]
