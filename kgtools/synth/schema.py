"""Property schemas (the kg's schema.json): what a property applies to, what value it expects, which property
it specialises and which is its inverse — "Which types can have the property "start date"?", "What kind of
value does the property "has legal address" take?".

A domain or range from ``rdfs:domain`` / ``rdfs:range`` is what every subject / value of the property is
(a union names its alternatives, answered "A, B or C"), and is asked as such ("what is the domain of …"); one from
schema.org's ``domainIncludes`` / ``rangeIncludes`` names some types among others, so it is asked with
"can" and never as the complete answer of "what is the domain". A datatype is answered in words ("date and
time" for ``xsd:dateTime``; its name is accepted too). Properties are named in quotes, as a curator writes
them, so that "has part" reads as a name and not as a verb; a property whose label another property of the
graph shares is not asked (the question would have two answers). The reverse question ("Which properties
have Subject as their domain?") lists the properties that name a class in their domain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kgtools.graph.model import normalise_term
from kgtools.graph.templates import capitalise

if TYPE_CHECKING:  # the generator imports this module
    from kgtools.synth.generate import Synthesizer

# The last phrasing of each list is the one held out of training (test_novel_template).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "domain": ('What kind of thing does the property "{p}" apply to?',
               'In this ontology, what is the domain of the property "{p}"?',
               'The property "{p}" describes what kind of thing?'),
    "domain_includes": ('Which types can have the property "{p}"?', 'The property "{p}" can be used on which types?',
                        'On which types is the property "{p}" expected to be used?'),
    "range": ('What kind of value does the property "{p}" take?',
              'In this ontology, what is the range of the property "{p}"?',
              'The values of the property "{p}" are of what type?'),
    "range_includes": ('What types of value can the property "{p}" take?',
                       'The property "{p}" expects values of which types?',
                       'Which types are expected as values of the property "{p}"?'),
    "super_property": ('Which more general property is "{p}" a sub-property of?',
                       'The property "{p}" specialises which property?', 'What is the parent property of "{p}"?'),
    "inverse": ('What is the inverse of the property "{p}"?', 'Which property is the inverse of "{p}"?',
                'Which property relates the same things as "{p}", read the other way round?'),
    "properties_of": ('Which properties does the ontology define for {c}?', 'Name the properties whose domain includes {c}.',
                      'Which properties can be used on {c}?'),
}
KINDS = ("domain", "range", "super_property", "inverse", "properties_of")


def schema_examples(syn: Synthesizer) -> Iterator[dict[str, Any]]:
    """Every property-schema example of the graph (see the module docstring)."""
    schema: dict[str, dict[str, Any]] = syn.kg.meta.get("schema") or {}
    by_label: dict[str, list[str]] = defaultdict(list)
    for pid, e in schema.items():
        by_label[normalise_term(e["label"])].append(pid)
    askable = {pid for pid, e in schema.items() if len(by_label[normalise_term(e["label"])]) == 1}
    syn.stats["schema_skipped_shared_label"] += len(schema) - len(askable)
    limit = syn.cfg.list_max_items
    defined_on: dict[str, list[str]] = defaultdict(list)  # domain class → properties naming it
    for pid in sorted(askable):
        e = schema[pid]
        facts: list[tuple[str, list[dict[str, str]] | list[str], str]] = [
            ("domain_includes" if e["domain_includes"] else "domain", e["domain"], "or" if e.get("domain_union") else "and"),
            ("range_includes" if e["range_includes"] else "range", e["range"], "or" if e.get("range_union") else "and"),
            ("super_property", [s for s in e["super_properties"] if s in askable], "and"),
            ("inverse", [s for s in e["inverse_of"] if s in askable], "and")]
        for d in e["domain"]:
            if d["kind"] == "node" and d["id"] in syn.ix.label:
                defined_on[d["id"]].append(pid)
        for key, targets, conjunction in facts:
            if not targets:
                continue
            names = [_target(syn, schema, t) for t in targets]
            if len(names) > limit:
                syn.stats["schema_skipped_many_values"] += 1
                continue
            yield from _ask(syn, key, pid, e["label"], names, [pid], conjunction)
    for c, pids in sorted(defined_on.items()):
        if len(pids) > limit:
            syn.stats["schema_skipped_many_values"] += 1
            continue
        names = [(schema[p]["label"], [schema[p]["label"]]) for p in pids]
        yield from _ask(syn, "properties_of", c, syn.name(c), names, pids)


def _target(syn: Synthesizer, schema: dict[str, dict[str, Any]], t: dict[str, str] | str) -> tuple[str, list[str]]:
    """A domain, range or property as the answer says it, with every form graded right."""
    if isinstance(t, str):  # another property
        return schema[t]["label"], [schema[t]["label"]]
    if t["kind"] == "node" and t["id"] in syn.ix.display:
        return syn.name(t["id"]), syn.aliases([t["id"]])[0]
    local = t["id"].split(":", 1)[-1]
    return t["label"], list(dict.fromkeys([t["label"], local, t["id"]]))


def _ask(syn: Synthesizer, key: str, subject: str, said: str, names: list[tuple[str, list[str]]],
         path: list[str], conjunction: str = "and") -> Iterator[dict[str, Any]]:
    kind = key.replace("_includes", "")
    syn.schema_facts[kind].add(subject)
    unit = ("heldout", subject) if syn.cfg.splits.entity_disjoint else ("heldout-schema", key, subject)
    status = "heldout" if syn._h(*unit) < syn.cfg.splits.heldout else "train"
    templates = [(f"schema:{key}/q{i}", t) for i, t in enumerate(TEMPLATES[key])]
    answer = names[0][0] if len(names) == 1 else ", ".join(n for n, _ in names[:-1]) + f" {conjunction} " + names[-1][0]
    for split, tid, tpl, reason in syn.plan("property_schema", (key, subject), templates, status).entries:
        prompt = capitalise(tpl.format(p=said, c=said))
        yield syn.example("property_schema", split, reason, tid, prompt, answer, [], support=[], subject=subject,
                          relation=f"schema:{kind}", aliases=[forms for _, forms in names], path=path)
