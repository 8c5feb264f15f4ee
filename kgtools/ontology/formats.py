"""Which serialisation a file is in: from its extension, and from its first bytes when that is ambiguous."""

from __future__ import annotations

import re
from pathlib import Path

from kgtools.errors import OntologyError

TURTLE = "turtle"
NTRIPLES = "ntriples"
RDFXML = "rdfxml"
JSONLD = "jsonld"
N3 = "n3"
OBO = "obo"

_NAMES = {TURTLE: "Turtle", NTRIPLES: "N-Triples", RDFXML: "RDF/XML", JSONLD: "JSON-LD", N3: "N3", OBO: "OBO"}


def describe(fmt: str) -> str:
    """The human name of a format."""
    return _NAMES.get(fmt, fmt)


# Extensions that name one format for certain.
_BY_EXTENSION = {
    ".ttl": TURTLE,
    ".turtle": TURTLE,
    ".nt": NTRIPLES,
    ".ntriples": NTRIPLES,
    ".n3": N3,
    ".rdf": RDFXML,
    ".rdfs": RDFXML,
    ".jsonld": JSONLD,
    ".json-ld": JSONLD,
    ".obo": OBO,
}
# Extensions used for several formats (".owl" is RDF/XML, Turtle or OWL/XML in the wild): sniff them.
_AMBIGUOUS = {".owl", ".xml", ".json", ".ofn", ".owx", ""}

# What a folder is searched for. ".xml" and ".json" are left out: folders hold catalogs and configs.
ONTOLOGY_EXTENSIONS = (".owl", ".rdf", ".rdfs", ".ttl", ".turtle", ".nt", ".ntriples", ".n3", ".jsonld", ".json-ld", ".obo")

_NT_LINE = re.compile(r"^(<[^>]*>|_:\S+)\s+<[^>]*>\s+.+\.\s*$")


def detect_format(path: Path) -> str:
    """The format of ``path``; raises :class:`OntologyError` when it cannot be told or is unsupported."""
    ext = path.suffix.lower()
    if ext in _BY_EXTENSION:
        return _BY_EXTENSION[ext]
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        raise OntologyError(path, f"cannot read file ({exc.strerror})") from None
    try:
        sniffed = sniff_format(head)
    except OntologyError as exc:
        raise OntologyError(path, exc.message) from None
    if sniffed is None:
        known = ", ".join(sorted(_BY_EXTENSION))
        what = f"unknown extension {ext!r}" if ext not in _AMBIGUOUS else f"ambiguous extension {ext!r}"
        raise OntologyError(
            path,
            f"{what} and the content is not recognisably RDF/XML, Turtle, N-Triples, JSON-LD or OBO "
            f"(known extensions: {known})",
        )
    return sniffed


def sniff_format(head: bytes) -> str | None:
    """Guess a format from the first bytes of a file; ``None`` if unrecognisable."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [ln.strip() for ln in text.splitlines()]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body:
        return None
    first = body[0]
    if first.startswith("<?xml") or first.startswith("<!DOCTYPE") or first.startswith("<rdf:RDF"):
        if "<rdf:RDF" in text or "rdf-syntax-ns#" in text:
            return RDFXML
        if "<Ontology" in text:
            raise OntologyError(
                None,
                "OWL/XML is not supported; convert it to RDF/XML or Turtle first (e.g. `robot convert`)",
            )
        return None
    if first.startswith("{") or first.startswith("["):
        if first.startswith("[Term]") or first.startswith("[Typedef]"):
            return OBO
        return JSONLD
    if first.startswith("format-version:") or any(ln.startswith("[Term]") for ln in body[:200]):
        return OBO
    lowered = first.lower()
    if lowered.startswith(("@prefix", "@base", "prefix ", "base ")):
        return TURTLE
    if first.startswith(("Prefix(", "Ontology(")):
        raise OntologyError(
            None, "OWL functional syntax is not supported; convert it to RDF/XML or Turtle first"
        )
    if _NT_LINE.match(first):
        return NTRIPLES
    return None
