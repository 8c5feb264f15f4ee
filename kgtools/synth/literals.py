"""The literal task: codes and values an ontology attaches to its concepts, asked both ways.

Two sources, chosen in ``synth.literals``:

- **cross-references** (``oboInOwl:hasDbXref`` and literal ``skos:exactMatch``), one kind of knowledge per code
  system: "What ICD-10-CM identifier is cholera mapped to?" / "Which disease is mapped to ICD-10-CM A00?". Version
  stamps in prefixes are dropped (``SNOMEDCT_US_2025_09_01`` is SNOMED CT); citations and links (PMID, DOI,
  URLs) are not codes of the concept and are never asked.
- **annotation and datatype properties** (``skos:notation`` by default, any other by id, IRI or label with the
  noun phrase that names its value): "What is the CVX code of Fluzone?", "What is the start date of …?".

A value is asked back ("Which … has …?") only when it identifies one concept: a code, or the value of a property
whose values are mostly unique (not dates), and only a value no other concept holds. Answers are graded exactly after normalisation;
dates are answered as ISO dates and also accepted in words ("11 April 2023"). A value that the concept's name
already contains ("N.03.04 Peoples and ethnic groups" has notation N.03.04) is not asked, nor a kind of which
one concept holds more than ``max_values`` values (the question would have no answer to learn).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kgtools.errors import ConfigError
from kgtools.graph.model import normalise_term
from kgtools.graph.templates import capitalise

if TYPE_CHECKING:  # the generator imports this module
    from kgtools.synth.generate import Synthesizer

NOTATION = "skos:notation"
NOTATION_IRI = "http://www.w3.org/2004/02/skos/core#notation"

# The last phrasing of each list is the one held out of training (test_novel_template).
XREF_FORWARD = ("What {system} identifier is {subject} mapped to?", "Give the {system} cross-reference of {subject}.",
                "Which {system} identifier does {subject} cross-reference?")
XREF_INVERSE = ("Which {type} is mapped to {code}?", "{code} is the cross-reference of which {type}?",
                "Which {type} cross-references {code}?")
VALUE_FORWARD = ("What is the {what} of {subject}?", "Give the {what} of {subject}.", "State the {what} of {subject}.")
VALUE_INVERSE = ("Which {type} has the {what} {value}?", "The {what} {value} belongs to which {type}?",
                 "Name the {type} whose {what} is {value}.")

# Code systems as their users write them; any other prefix is used as written ("EFO", "KEGG").
SYSTEMS = {
    "MESH": "MeSH", "ICD10CM": "ICD-10-CM", "ICD10": "ICD-10", "ICD10WHO": "ICD-10", "ICD9CM": "ICD-9-CM",
    "ICD9": "ICD-9", "ICD11": "ICD-11", "ICDO": "ICD-O", "UMLS_CUI": "UMLS", "UMLS": "UMLS", "SNOMEDCT_US": "SNOMED CT",
    "SNOMEDCT": "SNOMED CT", "SCTID": "SNOMED CT", "NCI": "NCI Thesaurus", "NCIT": "NCI Thesaurus", "MIM": "OMIM",
    "OMIM": "OMIM", "ORDO": "Orphanet", "ORPHA": "Orphanet", "ORPHANET": "Orphanet", "GARD": "GARD", "MEDDRA": "MedDRA",
    "CHEBI": "ChEBI", "LOINC": "LOINC", "RXNORM": "RxNorm", "RXCUI": "RxNorm", "ATC": "ATC", "CVX": "CVX",
    "HP": "HPO", "MONDO": "MONDO", "UBERON": "UBERON", "GO": "GO", "DRUGBANK": "DrugBank", "WIKIDATA": "Wikidata",
}
# Systems whose numeric codes are written alone ("ICD-9-CM 482.9", "SNOMED CT 38362002"); a numeric code of any
# other system is written as its CURIE ("CHEBI:50857", "OBI:0002652"), as the ontologies that mint them do.
PLAIN_NUMBERS = frozenset({"ICD9CM", "ICD9", "ICD10", "ICDO", "SNOMEDCT_US", "SNOMEDCT", "SCTID", "MIM", "OMIM", "ORDO",
                           "ORPHA", "ORPHANET", "GARD", "MEDDRA", "RXNORM", "RXCUI", "CVX", "LOINC", "ATC", "UMLS_CUI"})
# References to a source, not codes of the concept.
CITATIONS = frozenset({"URL", "HTTP", "HTTPS", "PMID", "PMCID", "DOI", "ISBN", "ISSN", "WIKIPEDIA", "NCBIBOOK",
                       "ORCID", "GITHUB", "FTP", "MAILTO", "URN"})
_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):([A-Za-z0-9][A-Za-z0-9._-]{0,39})$")
_VERSION = re.compile(r"_\d{4}(?:_\d{2}_\d{2})?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")
MAX_VALUE_CHARS = 80
IDENTIFYING = 0.9  # a kind is asked back when at least this share of its values belong to one concept only


@dataclass
class LiteralKind:
    """One kind of literal knowledge: its coverage key, how questions name it, and each concept's values."""

    key: str  # "xref:ICD10CM", "literal:VO:0001818"
    what: str  # "ICD-10-CM" for a code system, "CVX code" for a property
    xref: bool
    prefix: str = ""  # a code system's prefix as the ontology writes it ("CHEBI")
    values: dict[str, list[str]] = field(default_factory=dict)  # concept → values, in the ontology's order
    identifying: bool = False
    holders: dict[str, list[str]] = field(default_factory=dict)  # normalised value → concepts


def code_system(prefix: str) -> tuple[str, str] | None:
    """``(key, name)`` of a cross-reference prefix (``SNOMEDCT_US_2025_09_01`` → ``SNOMEDCT_US``, "SNOMED CT"), or
    None for citations."""
    key = _VERSION.sub("", prefix).upper()
    if key in CITATIONS:
        return None
    return key, SYSTEMS.get(key, _VERSION.sub("", prefix).replace("_", " "))


def code_forms(kind: LiteralKind, local: str) -> tuple[str, list[str]]:
    """How a code is said ("A00", "CHEBI:50857") and every form graded right (the local part and the CURIE)."""
    curie = f"{kind.prefix}:{local}"
    plain = not local.isdigit() or kind.key.removeprefix("xref:") in PLAIN_NUMBERS
    return (local if plain else curie), [local, curie]


def answer_forms(value: str) -> tuple[str, list[str]]:
    """The answer to train and every form graded right: an ISO date-time is answered as its date and also
    accepted in words; any other value as written."""
    m = _DATE.match(value)
    if not m:
        return value, [value]
    try:
        day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return value, [value]
    iso = day.isoformat()
    return iso, list(dict.fromkeys([iso, value, f"{day.day} {day:%B} {day.year}", f"{day:%B} {day.day}, {day.year}"]))


def literal_kinds(syn: Synthesizer) -> list[LiteralKind]:
    """Every kind of literal knowledge that ``synth.literals`` enables, with the values worth asking."""
    cfg, kg = syn.cfg.literals, syn.kg
    props = kg.meta.get("properties") or {}
    wanted: dict[str, str] = {}  # property id → noun phrase
    if cfg.notation and NOTATION in props:
        wanted[NOTATION] = "notation"
    for ref, what in cfg.properties.items():
        pid = _resolve_property(ref, props)
        wanted[pid] = what or _noun(props[pid].get("label") or pid)
    kinds: dict[str, LiteralKind] = {}
    for n in syn.ix.labelled:
        data = kg.g.nodes[n]
        if data.get("kind") == "external":
            continue
        if cfg.xrefs:
            for x in data.get("xrefs") or ():
                m = _PREFIX.match(x)
                system = code_system(m.group(1)) if m else None
                if system is None:
                    continue
                kind = kinds.setdefault(f"xref:{system[0]}", LiteralKind(f"xref:{system[0]}", system[1], xref=True,
                                                                           prefix=m.group(1)))  # type: ignore[union-attr]
                kind.values.setdefault(n, []).append(m.group(2))  # type: ignore[union-attr]
        for pid, value in zip(data.get("literal_properties") or (), data.get("literal_values") or (), strict=True):
            if pid in wanted:
                kind = kinds.setdefault(f"literal:{pid}", LiteralKind(f"literal:{pid}", wanted[pid], xref=False))
                kind.values.setdefault(n, []).append(" ".join(value.split()))
    out = []
    for key in sorted(kinds):
        kind = kinds[key]
        for n in list(kind.values):
            values, why = _askable(syn.name(n), kind.values[n], cfg.max_values)
            if why:
                syn.stats[f"literal_skipped_{why}"] += 1
                del kind.values[n]
            else:
                kind.values[n] = values
        holders: dict[str, list[str]] = defaultdict(list)
        for n, values in kind.values.items():
            for v in values:
                holders[normalise_term(v)].append(n)
        kind.holders = dict(holders)
        unique = sum(1 for ns in holders.values() if len(ns) == 1)
        # a code identifies an entry of its code system; a property's values must show it (dates never do)
        kind.identifying = kind.xref or (bool(holders) and unique / len(holders) >= IDENTIFYING and not any(
            _DATE.match(v) for vs in kind.values.values() for v in vs))
        if kind.values:
            out.append(kind)
    return out


def _askable(name: str, values: list[str], max_values: int) -> tuple[list[str], str | None]:
    values = list(dict.fromkeys(v for v in values if 0 < len(v) <= MAX_VALUE_CHARS))
    if not values:
        return values, "long_value"
    if len(values) > max_values:
        return values, "many_values"
    said = f" {normalise_term(name)} "
    if any(f" {normalise_term(v)} " in said or normalise_term(v) in said.split() for v in values):
        return values, "value_in_name"
    return values, None


def _resolve_property(ref: str, props: dict[str, dict[str, Any]]) -> str:
    if ref in props:
        return ref
    for pid, p in props.items():
        if ref == p.get("iri") or normalise_term(ref) == normalise_term(p.get("label") or ""):
            return pid
    listing = ", ".join(sorted(props)[:12]) or "none"
    raise ConfigError(f"synth.literals.properties: no annotation or datatype property {ref!r} with values in the graph "
                      f"(a property must be declared owl:AnnotationProperty, owl:DatatypeProperty or rdf:Property); "
                      f"properties with values: {listing}")


def _noun(label: str) -> str:
    """A property label as the noun of its value: 'has CVX code' → 'CVX code'."""
    words = label.split()
    return " ".join(words[1:]) if len(words) > 1 and words[0].lower() in ("has", "hasa") else label


def literal_examples(syn: Synthesizer) -> Iterator[dict[str, Any]]:
    """Every literal example of the graph (see the module docstring)."""
    for kind in syn.literal_kinds:
        for n, values in kind.values.items():
            status = "heldout" if syn._h("heldout-literal", kind.key, n) < syn.cfg.splits.heldout else "train"
            yield from _forward(syn, kind, n, values, status)
            if not kind.identifying:
                continue
            for value in values:
                if kind.holders.get(normalise_term(value)) != [n]:
                    syn.stats["literal_not_asked_back"] += 1
                    continue
                yield from _inverse(syn, kind, n, value, status)


def _fields(kind: LiteralKind) -> dict[str, str]:
    return {"system": kind.what} if kind.xref else {"what": kind.what}


def _forms(kind: LiteralKind, value: str) -> tuple[str, list[str]]:
    return code_forms(kind, value) if kind.xref else answer_forms(value)


def _said(kind: LiteralKind, value: str) -> str:
    """A code as the prompt names it: 'ICD-10-CM A00', 'CHEBI:50857'."""
    code, _ = code_forms(kind, value)
    return f"{kind.what} {code}" if code == value else code


def _forward(syn: Synthesizer, kind: LiteralKind, n: str, values: list[str], status: str) -> Iterator[dict[str, Any]]:
    phrasings = XREF_FORWARD if kind.xref else VALUE_FORWARD
    templates = [(f"{kind.key}/q{i}", t) for i, t in enumerate(phrasings)]
    accepted = list(dict.fromkeys(form for v in values for form in _forms(kind, v)[1]))
    rejected = _other_value(syn, kind, n, values) if kind.identifying and _functional_ok(syn) else None
    for i, (split, tid, tpl, reason) in enumerate(syn.plan("literal", (kind.key, n), templates, status).entries):
        answer = _forms(kind, values[i % len(values)])[0]
        prompt = capitalise(tpl.format(subject=syn.name(n), **_fields(kind)))
        yield syn.example("literal", split, reason, tid, prompt, answer, [n], support=[], subject=n, relation=kind.key,
                          rejected=rejected, negative_kind="functional" if rejected else None, aliases=[accepted])


def _inverse(syn: Synthesizer, kind: LiteralKind, n: str, value: str, status: str) -> Iterator[dict[str, Any]]:
    phrasings = XREF_INVERSE if kind.xref else VALUE_INVERSE
    templates = [(f"{kind.key}/iq{i}", t) for i, t in enumerate(phrasings)]
    data = syn.kg.g.nodes[n]
    names = list(dict.fromkeys([syn.name(n), data["label"], *(data.get("synonyms") or ())]))
    other = next((c for c in syn.ix.similar(n) if not syn.ix.same_name(c, n)), None) if _functional_ok(syn) else None
    for split, tid, tpl, reason in syn.plan("literal", (kind.key, n, value), templates, status).entries:
        prompt = capitalise(tpl.format(value=value, code=_said(kind, value), type=_type_word(syn, n), **_fields(kind)))
        yield syn.example("literal", split, reason, tid, prompt, syn.name(n), [n], support=[], subject=n,
                          relation=kind.key, rejected=syn.name(other) if other else None,
                          negative_kind="functional" if other else None, aliases=[names])


def _functional_ok(syn: Synthesizer) -> bool:
    """Another concept's code is false by function (a code names one entry): used where the config allows it."""
    return "functional" in syn.cfg.negatives.rejected


def _type_word(syn: Synthesizer, n: str) -> str:
    """What kind of thing the answer is: an individual's own class ('currency'), else the concept's root."""
    if syn.kg.g.nodes[n].get("kind") == "individual":
        for t in syn.kg.g.nodes[n].get("types") or ():
            if t in syn.ix.label and t != n:
                return syn.ix.label[t]
    return syn.ix.type_label(n)


def _other_value(syn: Synthesizer, kind: LiteralKind, n: str, values: list[str]) -> str | None:
    """A similar concept's value of the same kind that is not one of ``n``'s: the near-miss answer."""
    own = {normalise_term(v) for v in values}
    for c in syn.ix.similar(n):
        for v in kind.values.get(c, ()):
            if normalise_term(v) not in own:
                return _forms(kind, v)[0]
    return None
