"""An independent check of the instruction data against the ontology files themselves.

The checker reads the OWL files with plain rdflib — not kgtools' loader, graph builder or fact index — and
re-derives every answer, the single right choice of every multiple-choice question, the falsity of every
corrupted statement and the uniqueness of every definite description ("the X of Y"). The only thing it
takes from kgtools' output is which IRI each node id names (nodes.parquet) and each relation's label.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import rdflib
from rdflib import OWL, RDF, RDFS, SKOS, BNode, Literal, URIRef

from kgtools.artifacts import ArtifactStore
from kgtools.config import KgConfig, SynthConfig
from kgtools.graph.stage import build_kg
from kgtools.synth.stage import generate_examples

from ..conftest import shared_path

YES, NO = {"True", "Yes"}, {"False", "No"}
OBOINOWL = "http://www.geneontology.org/formats/oboInOwl#"


class RdfChecker:
    """Entailment by the rules the data claims, computed from RDF: subclass and type closure, existential
    restrictions (someValuesFrom, hasValue, qualified cardinality ≥ 1, in subClassOf or in an equivalent
    intersection) inherited down the hierarchy and widened up the filler's, and property assertions."""

    def __init__(self, graph: rdflib.Graph):
        self.g = graph
        self.sup: dict[URIRef, set[URIRef]] = defaultdict(set)
        self.restr: dict[URIRef, set[tuple[URIRef, URIRef]]] = defaultdict(set)  # class → (property, filler)
        self.labels: dict[str, set[URIRef]] = defaultdict(set)
        for s, o in graph.subject_objects(RDFS.subClassOf):
            self._axiom(s, o)
        for s, o in graph.subject_objects(OWL.equivalentClass):
            self._axiom(s, o)  # C ≡ E entails C ⊑ E
        for s, o in graph.subject_objects(RDF.type):
            if isinstance(s, URIRef) and isinstance(o, URIRef) and not str(o).startswith(str(OWL)):
                self.sup[s].add(o)
        # properties: declared ones, and those restrictions use (FIBO's imports of OMG Commons declaring them
        # are not in the folder)
        self.props = {p for p in graph.subjects(RDF.type, OWL.ObjectProperty) if isinstance(p, URIRef)}
        self.props |= {p for p in graph.objects(None, OWL.onProperty) if isinstance(p, URIRef)}
        for pred in (RDFS.label, SKOS.prefLabel):
            for s, o in graph.subject_objects(pred):
                if isinstance(s, URIRef) and isinstance(o, Literal) and (o.language or "en").lower().startswith("en"):
                    self.labels[str(o)].add(s)
                    inline = " ".join(str(o).split())  # a label as a sentence shows it: one line, and
                    if inline.endswith(".") and len(inline.split()) >= 4:  # no full stop of its own
                        self.labels[inline[:-1]].add(s)
                    self.labels[inline].add(s)
                    spelled = re.sub(r"(?<![\w-])((?:[a-z] )+[a-z])(?![\w-])",  # 'c d o …' is shown 'CDO …'
                                     lambda m: m.group(1) if len(m.group(1)) == 3 and set(m.group(1).split()) & {"a", "i"}
                                     else m.group(1).replace(" ", "").upper(), inline)
                    self.labels[spelled].add(s)
                    if " " not in str(o) and re.search(r"[a-z][A-Z]", str(o)):  # 'PoolLifecycleStateSelection'
                        self.labels[re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(o)).lower()].add(s)

    def _intersection(self, node) -> list:
        lst = self.g.value(node, OWL.intersectionOf)
        return list(rdflib.collection.Collection(self.g, lst)) if lst is not None else []

    def _axiom(self, s, o) -> None:
        if not isinstance(s, URIRef):
            return
        if isinstance(o, URIRef):
            self.sup[s].add(o)
        elif isinstance(o, BNode) and self.g.value(o, OWL.intersectionOf) is not None:
            for part in self._intersection(o):  # C ⊑ A ⊓ B: C ⊑ A and C ⊑ B
                self._axiom(s, part)
        elif isinstance(o, BNode) and (self.g.value(o, OWL.onProperty)) is not None:
            prop = self.g.value(o, OWL.onProperty)
            filler = self.g.value(o, OWL.someValuesFrom) or self.g.value(o, OWL.hasValue)
            for card in (OWL.qualifiedCardinality, OWL.minQualifiedCardinality):
                n = self.g.value(o, card)
                if n is not None and int(n) >= 1:
                    filler = self.g.value(o, OWL.onClass)
            # R some (A ⊓ B) entails R some A and R some B
            fillers = [filler] if isinstance(filler, URIRef) else [
                x for x in (self._intersection(filler) if filler is not None else []) if isinstance(x, URIRef)]
            for f in fillers:
                self.restr[s].add((prop, f))

    @cache  # noqa: B019 - one checker per test
    def up(self, n: URIRef) -> frozenset[URIRef]:
        seen, stack = set(), [n]
        while stack:
            for p in self.sup.get(stack.pop(), ()):
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return frozenset(seen | {OWL.Thing})  # every class is an owl:Thing

    @cache  # noqa: B019
    def values(self, s: URIRef, prop: URIRef) -> frozenset[URIRef]:
        """What (s, prop) entails: restrictions on s and its ancestors, assertions on s, and every
        ancestor of those."""
        direct = {f for x in (s, *self.up(s)) for p, f in self.restr.get(x, ()) if p == prop}
        direct |= {o for o in self.g.objects(s, prop) if isinstance(o, URIRef)}
        return frozenset(direct | {a for f in direct for a in self.up(f)})

    def holds(self, s: URIRef, rel, o: URIRef) -> bool:
        if rel in ("is_a", "instance_of"):
            return o in self.up(s)
        return any(o in self.values(s, p) for p in rel)

    def most_specific(self, s: URIRef, rel) -> set[URIRef]:
        if rel in ("is_a", "instance_of"):
            vals = set(self.sup.get(s, ()))
        else:
            vals = {f for x in (s, *self.up(s)) for p, f in self.restr.get(x, ()) if p in rel}
            vals |= {o for p in rel for o in self.g.objects(s, p) if isinstance(o, URIRef)}
        return {v for v in vals if not any(v in self.up(w) for w in vals if w != v)}


@cache
def _prepared(name: str):
    import tempfile

    paths = {"maxo": [shared_path("maxo", "maxo-base.owl")], "fibo": [shared_path("fibo")]}[name]
    graph = rdflib.Graph()
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.rdf")))]
    for f in files:
        graph.parse(f, format="xml")
    store = ArtifactStore(tempfile.mkdtemp(prefix=f"check-{name}-"))
    kg_art = build_kg(KgConfig(ontologies=paths), store)
    table = pq.read_table(Path(kg_art.path) / "nodes.parquet", columns=["id", "iri"]).to_pydict()
    iri = dict(zip(table["id"], table["iri"], strict=True))
    kg = kg_art.graph()
    examples, _ = generate_examples(SynthConfig(), kg)
    return RdfChecker(graph), iri, kg.relation_labels(), examples


def _relation(checker: RdfChecker, rel_labels: dict[str, str], rel: str):
    """The properties a relation id may stand for: those with its label, or with its local name (FIBO has
    several `identifies` in different namespaces, and rdflib rebinds clashing prefixes, so a CURIE cannot be
    expanded reliably here). A fact holds if it holds for one of them."""
    if rel in ("is_a", "instance_of"):
        return rel
    local = rel.rpartition(":")[2]
    found = frozenset(p for p in checker.props if p in checker.labels.get(rel_labels[rel], ())
                      or re.split(r"[/#]", str(p))[-1] == local)
    assert found, (rel, rel_labels[rel])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", ["maxo", "fibo"])
def test_rdflib_rederives_every_answer_choice_and_negative(name):
    checker, iri, rel_labels, examples = _prepared(name)
    node = {k: URIRef(v) for k, v in iri.items()}
    errors: list[str] = []
    counts: dict[str, int] = defaultdict(int)
    train_answers: dict[str, set[str]] = defaultdict(set)
    for e in examples:
        if e["split"] in ("train", "preference"):
            train_answers[e["prompt"]].add(e["answer"])
        task = e["task"]
        rel = e["relation"]
        if task == "definition":
            continue
        if task in ("synonym", "literal"):  # names and codes: literals the subject's IRI carries in the files
            subject = node[e["subject"]]
            said = _literals(checker.g, subject, rel)
            back = "/iq" in e["template_id"]
            forms = said | {v.rpartition(":")[2] for v in said}  # a code is said alone or as its CURIE
            if not back and not {e["answer"], e["answer"].rpartition(":")[2]} & forms:
                errors.append(f"{rel} {e['answer']!r} is not on {subject}: {e['prompt'][:120]!r}")
            if back and not any(v.rpartition(":")[2].casefold() in e["prompt"].casefold() for v in said):
                errors.append(f"{rel}: the prompt names nothing {subject} carries: {e['prompt'][:120]!r}")
            counts[task] += 1
            continue
        prop = _relation(checker, rel_labels, rel)
        for t in e["triples"]:
            s, r, o = t.split("|")
            if not checker.holds(node[s], _relation(checker, rel_labels, r), node[o]):
                errors.append(f"not entailed: {t} in {e['prompt'][:120]!r}")
        counts["triples"] += len(e["triples"])
        if task in ("fact_qa", "list") and e["answer_ids"] and all(t.startswith(e["subject"] + "|") for t in e["triples"]):
            for a in e["answer_ids"]:
                if not checker.holds(node[e["subject"]], prop, node[a]):
                    errors.append(f"wrong answer {a}: {e['prompt'][:120]!r}")
        elif e["template_id"].startswith("diagnosis/"):  # every clue holds, and of the choices only for the answer
            clues = [node[t.split("|")[2]] for t in e["triples"]]
            if not all(checker.holds(node[e["subject"]], prop, c) for c in clues):
                errors.append(f"a clue does not hold for the answer: {e['prompt'][:160]!r}")
            if task == "mcq":
                truth = [c for c in e["choices"] if any(all(checker.holds(x, prop, c_) for c_ in clues)
                                                        for x in _named(checker, c))]
                if truth != [e["answer"]]:
                    errors.append(f"diagnosis with {len(truth)} right choices {truth}: {e['prompt'][:160]!r}")
            counts["diagnosis"] += 1
        elif task == "mcq":
            truth = [c for c in e["choices"] if any(checker.holds(node[e["subject"]], prop, x) for x in _named(checker, c))]
            if truth != [e["answer"]]:
                errors.append(f"MCQ with {len(truth)} right choices {truth}: {e['prompt'][:160]!r}")
            counts["mcq"] += 1
        elif task == "yes_no" and e["answer"] in NO:
            bad_s, bad_o = e["path"]
            if checker.holds(node[bad_s], prop, node[bad_o]):
                errors.append(f"a 'false' statement is entailed: {e['prompt'][:160]!r}")
            if e["negative_kind"] == "hierarchy" and node[bad_o] in checker.up(node[bad_s]):
                errors.append(f"hierarchy negative above the subject: {e['prompt'][:160]!r}")
            counts["negatives"] += 1
        elif task == "multi_hop":
            chain = e["path"][: len(e["path"]) - len(e["answer_ids"])]
            for a, b in zip(chain, chain[1:], strict=False):
                hops = [t.split("|")[1] for t in e["triples"] if t.startswith(f"{a}|") and t.endswith(f"|{b}")]
                hop = _relation(checker, rel_labels, hops[0])
                if checker.most_specific(node[a], hop) != {node[b]}:
                    errors.append(f"ambiguous definite description at {a} {hops[0]}: {e['prompt'][:160]!r}")
            counts["multi_hop"] += 1
    contradictory = [p for p, a in train_answers.items() if len(a) > 1]
    print(f"\n{name}: {len(examples):,} examples, {counts['triples']:,} triples, {counts['mcq']:,} MCQ, "
          f"{counts['negatives']:,} negatives, {counts['multi_hop']:,} chains, {counts['synonym']:,} synonym, "
          f"{counts['literal']:,} code and {counts['diagnosis']:,} diagnosis questions re-derived with rdflib")
    assert not errors, f"{len(errors)} errors, e.g. {errors[:5]}"
    assert not contradictory, contradictory[:3]
    assert counts["mcq"] > 500 and counts["negatives"] > 1000


SYNONYMS = [URIRef(OBOINOWL + p) for p in ("hasExactSynonym", "hasRelatedSynonym", "hasNarrowSynonym", "hasBroadSynonym")]
SYNONYMS += [SKOS.altLabel, URIRef("http://purl.obolibrary.org/obo/IAO_0000118")]
SYNONYMS += [URIRef("https://www.omg.org/spec/Commons/AnnotationVocabulary/" + p) for p in ("synonym", "abbreviation", "acronym")]
OBOINOWL_XREF = URIRef(OBOINOWL + "hasDbXref")


def _literals(g: rdflib.Graph, s: URIRef, rel: str) -> set[str]:
    """The literals of ``s`` a synonym or code question may use: its synonyms (and labels, which an inverse
    question answers with), its cross-references (``xref:…``), or any property's values (``literal:…``)."""
    if rel.startswith("synonym:"):
        preds = [*SYNONYMS, RDFS.label, SKOS.prefLabel]
    elif rel.startswith("xref:"):
        preds = [OBOINOWL_XREF, SKOS.exactMatch]
    else:
        preds = [p for p in g.predicates(s, None)]
    return {" ".join(str(o).split()) for p in preds for o in g.objects(s, p) if isinstance(o, Literal)} | {
        str(o)[:10] for p in preds for o in g.objects(s, p) if isinstance(o, Literal) and re.match(r"\d{4}-\d\d-\d\d", str(o))}


def _named(checker: RdfChecker, choice: str) -> set[URIRef]:
    """The IRIs a choice names: by label, or "label (parent label)" for concepts that share a label."""
    if choice in checker.labels:
        return checker.labels[choice]
    m = re.fullmatch(r"(.+) \((.+)\)", choice)
    if m:
        parents = checker.labels.get(m.group(2), set())
        return {n for n in checker.labels.get(m.group(1), ()) if checker.sup.get(n, set()) & parents}
    raise AssertionError(f"choice {choice!r} names no concept")
