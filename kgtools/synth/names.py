"""The synonym task: a concept's other names asked both ways ("What is another name for X?" / "Y is another
name for what?"), each in the words of the synonym's scope — an exact synonym is another name, an
abbreviation is a short form, a related, narrower or broader term is said to be only that.

A name is asked back ("… for what?") only when it names that one concept in the whole graph; spelling
variants of the label ('MusicEvent' for 'music event', 'Covid-19' for 'COVID 19') and identifiers written as
synonyms ('DOID:1234', URLs) are not asked at all. A concept's synonyms are held out together (test_heldout),
in both directions, so a name is never trained one way and tested the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kgtools.graph.templates import capitalise

if TYPE_CHECKING:  # the generator imports this module
    from kgtools.synth.generate import Synthesizer

# The last phrasing of each list is the one held out of training (test_novel_template) when there are 3+.
FORWARD = {
    "exact": ("What is another name for {subject}?", "{subject} is also known as what?",
              "Give another term for {subject}.", "By what other name is {subject} known?"),
    "abbreviation": ("What is the abbreviation of {subject}?", "How is {subject} abbreviated?",
                     "Give the short form of {subject}."),
    "related": ("Name a term related to {subject}.", "Which related term is sometimes used for {subject}?",
                "What term is used in connection with {subject}?"),
    "narrow": ("Name a narrower term for {subject}.", "What more specific term is used for {subject}?",
               "Give a narrower synonym of {subject}."),
    "broad": ("Name a broader term used for {subject}.", "What more general term is used for {subject}?",
              "Give a broader synonym of {subject}."),
}
INVERSE = {
    "exact": ("{synonym} is another name for what?", "Which term is also called {synonym}?",
              "What is the preferred name for {synonym}?", "Which concept does the term {synonym} refer to?"),
    "abbreviation": ("What does the abbreviation {synonym} stand for?", "What is {synonym} short for?",
                     "Expand the abbreviation {synonym}."),
    "related": ("{synonym} is a related term of which concept?", "Which concept has {synonym} as a related term?",
                "The term {synonym} is used in connection with which concept?"),
    "narrow": ("{synonym} is a narrower term for which concept?", "Which concept has {synonym} as a narrower term?",
               "The more specific term {synonym} is used for which concept?"),
    "broad": ("{synonym} is a broader term used for which concept?", "Which concept has {synonym} as a broader term?",
              "The more general term {synonym} is used for which concept?"),
}
SCOPES = tuple(FORWARD)
# an exact question is answered right by any exact name or abbreviation; the others by their own scope only
ACCEPTED_SCOPES = {"exact": ("exact", "abbreviation"), "abbreviation": ("abbreviation",)}

_IDENTIFIER = re.compile(r"^(?:[A-Za-z][\w.-]*:\S+|https?://\S+|\d+)$")
_NOT_WORD = re.compile(r"[\W_]+")
MAX_WORDS = 15


def spelling_key(text: str) -> str:
    """Case, spaces and punctuation dropped: 'MusicEvent', 'music event' and 'Music-Event' are one spelling."""
    return _NOT_WORD.sub("", text.casefold())


def askable_synonyms(label: str, synonyms: list[str], scopes: list[str]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """``{scope: [name, …]}`` of the names worth asking, in the ontology's order, and why others were not."""
    by_scope: dict[str, list[str]] = {}
    skipped: dict[str, int] = {}
    seen = {spelling_key(label)}
    for name, scope in zip(synonyms, scopes, strict=True):
        text = " ".join(name.split())
        why = None
        if scope not in FORWARD:
            why = "synonym_skipped_unknown_scope"
        elif spelling_key(text) in seen:
            why = "synonym_skipped_spelling_variant"
        elif _IDENTIFIER.match(text):
            why = "synonym_skipped_identifier"
        elif len(text.split()) > MAX_WORDS:
            why = "synonym_skipped_long"
        if why:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        seen.add(spelling_key(text))
        by_scope.setdefault(scope, []).append(text)
    return by_scope, skipped


def synonym_examples(syn: Synthesizer) -> Iterator[dict[str, Any]]:
    """Every synonym example of the graph (see the module docstring)."""
    ix, kg = syn.ix, syn.kg
    for n in ix.labelled:
        data = kg.g.nodes[n]
        if data.get("kind") == "external" or not data.get("synonyms"):
            continue
        by_scope, skipped = askable_synonyms(data["label"], list(data["synonyms"]), list(data.get("synonym_scopes") or ()))
        syn.stats.update(skipped)
        if not by_scope:
            continue
        status = "heldout" if syn._h("heldout-synonym", n) < syn.cfg.splits.heldout else "train"
        other = _other_concept(syn, n)
        for scope, names in by_scope.items():
            accepted = [x for s in ACCEPTED_SCOPES.get(scope, (scope,)) for x in by_scope.get(s, ())]
            yield from _forward(syn, n, scope, names, accepted, status, other)
            for name in names:
                if kg.find(name) != [n]:  # the name is also another concept's: asking it back is ambiguous
                    syn.stats["synonym_not_asked_back"] += 1
                    continue
                yield from _inverse(syn, n, scope, name, status, other)


def _other_concept(syn: Synthesizer, n: str) -> str | None:
    """A similar concept (a sibling first) that shares no name with ``n``: its name is the near-miss answer."""
    return next((c for c in syn.ix.similar(n) if not syn.ix.same_name(c, n)), None)


def _forward(syn: Synthesizer, n: str, scope: str, names: list[str], accepted: list[str], status: str,
             other: str | None) -> Iterator[dict[str, Any]]:
    templates = [(f"synonym/{scope}/q{i}", t) for i, t in enumerate(FORWARD[scope])]
    entries = syn.plan("synonym", (n, scope, "forward"), templates, status).entries
    rejected = _other_name(syn, other, scope) if other else None
    for i, (split, tid, tpl, reason) in enumerate(entries):
        answer = names[i % len(names)]  # each phrasing its own synonym, so that several reach training
        prompt = capitalise(tpl.format(subject=syn.name(n)))
        yield syn.example("synonym", split, reason, tid, prompt, answer, [n], support=[], subject=n,
                          relation=f"synonym:{scope}", rejected=rejected, negative_kind="hierarchy" if rejected else None,
                          aliases=[accepted])


def _inverse(syn: Synthesizer, n: str, scope: str, name: str, status: str,
             other: str | None) -> Iterator[dict[str, Any]]:
    templates = [(f"synonym/{scope}/iq{i}", t) for i, t in enumerate(INVERSE[scope])]
    data = syn.kg.g.nodes[n]
    # the asked name is not an answer to itself; the label and every other name are
    names = [x for x in dict.fromkeys([data["label"], syn.name(n), *data["synonyms"]]) if spelling_key(x) != spelling_key(name)]
    for split, tid, tpl, reason in syn.plan("synonym", (n, scope, name), templates, status).entries:
        prompt = capitalise(tpl.format(synonym=name))
        yield syn.example("synonym", split, reason, tid, prompt, syn.name(n), [n], support=[], subject=n,
                          relation=f"synonym:{scope}", rejected=syn.name(other) if other else None,
                          negative_kind="hierarchy" if other else None, aliases=[names])


def _other_name(syn: Synthesizer, other: str, scope: str) -> str:
    """The near-miss answer of a forward question: a name of the same scope of the other concept, else its name."""
    data = syn.kg.g.nodes[other]
    for name, s in zip(data.get("synonyms") or (), data.get("synonym_scopes") or (), strict=True):
        if s == scope and spelling_key(name) != spelling_key(data["label"]):
            return " ".join(name.split())
    return syn.name(other)
