"""Relation templates: how each relation of the graph is said in English — as statements (the corpus
stage) and as questions in both directions (the synthesis stage). One place, shared by both stages.

Phrasings come from, in order: the pipeline's ``templates:`` overrides (keyed by relation id or label),
a small built-in library for common relations, and a default derived from the relation's label
("has symptom" → "{subject} has {object} as a symptom."; "caused by" → "{subject} is caused by {object}.").
Placeholders: ``{subject}``, ``{object}`` and, in questions, ``{subject_type}`` / ``{object_type}``.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kgtools.errors import ConfigError
from kgtools.graph import english as E

PLACEHOLDERS = frozenset({"subject", "object", "subject_type", "object_type"})


@dataclass(frozen=True)
class RelationTemplates:
    """Phrasings of one relation. Statements mention both ends; questions ask for the object
    (``questions``) or for the subject (``inverse_questions``)."""

    statements: tuple[str, ...]
    questions: tuple[str, ...]
    inverse_questions: tuple[str, ...]
    source: str = "default"  # "override", "builtin" or "default"


def _t(statements: Sequence[str], questions: Sequence[str], inverse: Sequence[str]) -> RelationTemplates:
    return RelationTemplates(tuple(statements), tuple(questions), tuple(inverse), "builtin")


# Common relations, keyed by normalised label. Chosen to read naturally; each has ≥ 3 statement forms so
# that paraphrase augmentation and held-out-template splits have room.
BUILTIN: dict[str, RelationTemplates] = {
    "is a": _t(
        ["{subject} is a kind of {object}.", "{subject} is a type of {object}.", "One kind of {object} is {subject}.",
         "{subject} belongs to the class of {object}."],
        ["What kind of thing is {subject}?", "{subject} is a type of what?", "Which broader class does {subject} belong to?"],
        ["Name a kind of {object}.", "What is one type of {object}?", "Give an example of {object}."],
    ),
    "instance of": _t(
        ["{subject} is an instance of {object}.", "{subject} is one {object}.", "{subject} is an example of {object}."],
        ["What is {subject} an instance of?", "What kind of entity is {subject}?"],
        ["Name an instance of {object}.", "Give an example of {object}."],
    ),
    "has symptom": _t(
        ["{subject} has {object} as a symptom.", "{object} is a symptom of {subject}.",
         "A typical symptom of {subject} is {object}.", "Patients with {subject} commonly show {object}."],
        ["What is a symptom of {subject}?", "Name a symptom of {subject}.", "Which symptom is typical of {subject}?"],
        ["Which {subject_type} has {object} as a symptom?", "{object} is a symptom of which {subject_type}?",
         "What {subject_type} can present with {object}?"],
    ),
    "caused by": _t(
        ["{subject} is caused by {object}.", "{object} causes {subject}.", "The cause of {subject} is {object}.",
         "{subject} results from infection with {object}."],
        ["What causes {subject}?", "What is {subject} caused by?", "Which {object_type} is responsible for {subject}?"],
        ["Which {subject_type} is caused by {object}?", "What does {object} cause?", "Name a {subject_type} caused by {object}."],
    ),
    "treated by": _t(
        ["{subject} is treated with {object}.", "{object} is used to treat {subject}.", "{object} is a treatment for {subject}.",
         "A standard treatment for {subject} is {object}."],
        ["What is used to treat {subject}?", "Which {object_type} treats {subject}?", "Name a treatment for {subject}."],
        ["What does {object} treat?", "Which {subject_type} is treated with {object}?", "{object} is used to treat which {subject_type}?"],
    ),
    "located in": _t(
        ["{subject} is located in the {object}.", "{subject} affects the {object}.", "The {object} is the site of {subject}.",
         "{subject} occurs in the {object}."],
        ["Where is {subject} located?", "Which {object_type} does {subject} affect?", "What is the site of {subject}?"],
        ["Which {subject_type} is located in the {object}?", "Name a {subject_type} of the {object}."],
    ),
    "related": _t(
        ["{subject} is related to {object}.", "{object} is related to {subject}.",
         "{subject} and {object} are related concepts."],
        ["What is {subject} related to?", "Name a concept related to {subject}.", "Which concept is related to {subject}?"],
        ["What is related to {object}?", "Name a concept related to {object}."],
    ),
    "part of": _t(
        ["{subject} is part of {object}.", "{object} includes {subject}.", "{subject} is a component of {object}."],
        ["What is {subject} part of?", "{subject} is a component of what?"],
        ["What is part of {object}?", "Name a part of {object}."],
    ),
    "issued by": _t(
        ["{subject} is issued by {object}.", "{object} issues {subject}.", "The issuer of {subject} is {object}.",
         "{subject} is created and owed by {object}."],
        ["Who issues {subject}?", "What kind of {object_type} issues {subject}?", "Who is the issuer of {subject}?"],
        ["What does {object} issue?", "Which {subject_type} is issued by {object}?", "Name an instrument issued by {object}."],
    ),
    "regulated by": _t(
        ["{subject} is regulated by {object}.", "{object} regulates {subject}.", "{subject} is supervised by {object}.",
         "The regulator of {subject} is {object}."],
        ["Who regulates {subject}?", "What is {subject} regulated by?", "Which {object_type} supervises {subject}?"],
        ["What does {object} regulate?", "Which {subject_type} is regulated by {object}?", "Name something that {object} supervises."],
    ),
    "traded on": _t(
        ["{subject} is traded on {object}.", "{subject} trades on {object}.", "{object} is where {subject} is bought and sold.",
         "Investors buy and sell {subject} on {object}."],
        ["Where is {subject} traded?", "On which {object_type} is {subject} traded?", "Where do investors buy and sell {subject}?"],
        ["What is traded on {object}?", "Which {subject_type} trades on {object}?", "Name an instrument traded on {object}."],
    ),
}


BUILTIN["has related"] = BUILTIN["related"]  # skos:related's own rdfs:label in the SKOS vocabulary


def normalise_label(label: str) -> str:
    return " ".join(label.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class Phrase:
    """How a relation label reads, found with English morphology rather than by cutting strings.

    kind: ``has`` ("has symptom": noun = "symptom"), ``noun_of`` ("is part of": noun = "part"),
    ``noun`` ("therapeutic uses": noun = "therapeutic use"), ``verb`` ("identifies and records", "immunizes
    against disease": verb words, then ``prep`` and the range's ``noun``, or an opaque ``rest``),
    ``passive`` ("caused by", "is represented by": participle or adjective phrase after "is"), ``copula``
    (what is left: said with "is")."""

    kind: str
    text: str  # the label as words, case kept
    noun: str = ""
    verbs: tuple[str, ...] = ()  # third-person forms as written
    lemmas: tuple[str, ...] = ()  # their base forms
    joiner: str = "and"
    prep: str = ""
    rest: str = ""
    active: str = ""  # "{object} <active> {subject}" for "<participle> by" labels ("causes")

    def verb_text(self, form: str) -> str:
        """The verb group: 'identifies and records' (vbz), 'identify and record' (base), 'identified
        and recorded' (vbn)."""
        words = {"vbz": self.verbs, "base": self.lemmas,
                 "vbn": tuple(E.past_participle(v) or v for v in self.lemmas)}[form]
        return f" {self.joiner} ".join(words)


@lru_cache(maxsize=4096)
def analyse(label: str) -> Phrase:
    words = E.label_words(label)
    if not words:
        raise ValueError("empty relation label")
    low = [w.lower() for w in words]
    text = " ".join(words)
    last_prep = E.is_preposition(low[-1])
    if low[0] in ("has", "have") and len(words) > 1 and not last_prep:
        noun = words[2:] if low[1] in ("a", "an", "the") and len(words) > 2 else words[1:]
        return Phrase("has", text, noun=E.singular_phrase(" ".join(noun)))
    if low[0] in ("is", "are") and len(words) > 2 and low[-1] == "of" and not E.participle_lemma(low[1]):
        noun = words[2:-1] if low[1] in ("a", "an", "the") and len(words) > 3 else words[1:-1]
        return Phrase("noun_of", text, noun=" ".join(noun))
    if low[0] in ("is", "are") and len(words) > 1:
        return _passive(words[1:])
    verbs, lemmas, i, joiner = [], [], 0, "and"
    while i < len(words):
        lemma = E.verb_lemma(words[i]) if not E.is_acronym(words[i]) else None
        if lemma is None:
            break
        verbs.append(words[i])
        lemmas.append(lemma)
        i += 1
        if i + 1 < len(words) and low[i] in ("and", "or") and E.verb_lemma(words[i + 1]):
            joiner = low[i]
            i += 1
            continue
        break
    if verbs and not (len(words) == 1 and E.is_noun(words[0]) and not E.verb_lemma(words[0])):
        rest = words[i:]
        phrase = Phrase("verb", text, verbs=tuple(verbs), lemmas=tuple(lemmas), joiner=joiner)
        if not rest:
            return phrase
        if len(rest) == 1 and E.is_preposition(rest[0]):
            return Phrase(**{**phrase.__dict__, "prep": rest[0]})
        inner = rest[1:] if E.is_preposition(rest[0]) else rest
        if inner and not any(E.is_preposition(w) or w.lower() in ("and", "or") for w in inner) \
                and E.is_noun(inner[-1]):
            prep = rest[0] if inner is not rest else ""
            return Phrase(**{**phrase.__dict__, "prep": prep, "noun": " ".join(inner)})
        return Phrase(**{**phrase.__dict__, "rest": " ".join(rest)})
    if last_prep or (E.participle_lemma(low[0]) and len(words) == 1) or \
            (E.participle_lemma(low[0]) and len(words) > 2 and E.is_preposition(low[1])):
        return _passive(words)
    first = low[0]
    if len(words) > 1 and first.endswith("s") and not first.endswith("ss") and len(first) > 3 \
            and not E.is_noun(first):  # a verb lemminflect does not know (often a typo): said as written
        return Phrase("opaque_verb", text)
    if E.is_noun(words[-1]) and not E.is_preposition(low[0]):
        return Phrase("noun", text, noun=E.singular_phrase(text))
    return Phrase("passive", text)


def _passive(words: list[str]) -> Phrase:
    """'caused by' (active: 'causes'), 'linked to account' (the range 'account' after the preposition)."""
    low = [w.lower() for w in words]
    lemma = E.participle_lemma(low[0])
    if len(words) == 2 and low[1] == "by" and lemma:
        return Phrase("passive", " ".join(words), active=E.third_person(lemma) or "")
    if lemma and len(words) > 2 and E.is_preposition(low[1]) and E.is_noun(words[-1]) \
            and not any(E.is_preposition(w) for w in low[2:]):
        return Phrase("passive", " ".join(words[:2]), prep=words[1], noun=" ".join(words[2:]))
    return Phrase("passive", " ".join(words))


def derive(label: str) -> RelationTemplates:
    """Phrasings derived from a relation label alone (see :class:`Phrase` for the shapes recognised)."""
    p = analyse(label)
    if p.kind in ("has", "noun"):
        a = E.with_article(p.noun)
        statements = [f"{{subject}} has {{object}} as {a}.", f"{{object}} is {a} of {{subject}}."]
        if not E.uncountable(p.noun):
            statements.append(f"One {p.noun} of {{subject}} is {{object}}.")
        return RelationTemplates(
            tuple(statements),
            (f"What is {a} of {{subject}}?", f"Name {a} of {{subject}}."),
            (f"What has {{object}} as {a}?", f"{{object}} is {a} of what?"),
        )
    if p.kind == "noun_of":
        a = E.with_article(p.noun)
        return RelationTemplates(
            (f"{{subject}} is {a} of {{object}}.", f"{{object}} has {{subject}} as {a}."),
            (f"What is {{subject}} {a} of?", f"{{subject}} is {a} of what?"),
            (f"What is {a} of {{object}}?", f"Name {a} of {{object}}."),
        )
    if p.kind == "verb":
        return _verb_templates(p)
    if p.kind == "opaque_verb":
        return RelationTemplates((f"{{subject}} {p.text} {{object}}.",), (f"{{subject}} {p.text} what?",),
                                 (f"What {p.text} {{object}}?", f"Name something that {p.text} {{object}}."))
    if p.noun:  # "linked to account"
        a = E.with_article(p.noun)
        return RelationTemplates(
            (f"{{subject}} is {p.text} {{object}}.", f"{{object}} is {a} that {{subject}} is {p.text}."),
            (f"Which {p.noun} is {{subject}} {p.text}?", f"{{subject}} is {p.text} which {p.noun}?"),
            (f"What is {p.text} {{object}}?", f"Name something that is {p.text} {{object}}."))
    statements = [f"{{subject}} is {p.text} {{object}}."]
    if p.active:
        statements.append(f"{{object}} {p.active} {{subject}}.")
    return RelationTemplates(
        tuple(statements),
        (f"What is {{subject}} {p.text}?", f"{{subject}} is {p.text} what?"),
        (f"What is {p.text} {{object}}?", f"Name something that is {p.text} {{object}}."),
    )


def _verb_templates(p: Phrase) -> RelationTemplates:
    vbz, base = p.verb_text("vbz"), p.verb_text("base")
    if p.noun:  # "immunizes against disease", "allocates identifier": the label names the range
        a = E.with_article(p.noun)
        tail = f" {p.prep}" if p.prep else ""
        said = f"{vbz}{tail}" if p.prep else f"{vbz} the {p.noun}"
        return RelationTemplates(
            (f"{{subject}} {said} {{object}}.", f"{{object}} is {a} that {{subject}} {vbz}{tail}."),
            (f"Which {p.noun} does {{subject}} {base}{tail}?", f"{{subject}} {vbz}{tail} which {p.noun}?"),
            (f"What {said} {{object}}?", f"Name something that {said} {{object}}."),
        )
    tail = f" {p.prep or p.rest}" if (p.prep or p.rest) else ""
    statements = [f"{{subject}} {vbz}{tail} {{object}}."]
    inverse = [f"What {vbz}{tail} {{object}}?", f"Name something that {vbz}{tail} {{object}}."]
    if not tail:
        statements.append(f"{{object}} is {p.verb_text('vbn')} by {{subject}}.")
        inverse[1] = f"{{object}} is {p.verb_text('vbn')} by what?"
    return RelationTemplates(
        tuple(statements),
        (f"What does {{subject}} {base}{tail}?", f"{{subject}} {vbz}{tail} what?"),
        tuple(inverse),
    )


def check_template(template: str, where: str, *, statement: bool) -> None:
    """Raise ConfigError (naming ``where``) for unknown placeholders or a statement missing an end."""
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise ConfigError(f"{where}: malformed template {template!r} ({exc})") from None
    unknown = names - PLACEHOLDERS
    if unknown:
        raise ConfigError(f"{where}: unknown placeholder {{{sorted(unknown)[0]}}} in {template!r}; "
                          f"use {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
    if statement and not {"subject", "object"} <= names:
        raise ConfigError(f"{where}: a statement must contain both {{subject}} and {{object}}: {template!r}")


class TemplateBook:
    """Templates for every relation of one graph: overrides, then built-ins, then derived defaults.

    ``phrasing`` is the table a kg artifact stores (:func:`phrasing_table`): the built-in or derived
    phrasing of each relation, computed once when the graph was built, so that the stages reading the
    graph need not load the English morphology tables again. It is used only if it was written by this
    code (its ``code`` stamp), else phrasings are derived here as before."""

    def __init__(self, relation_labels: Mapping[str, str], overrides: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                 *, key: str = "templates", phrasing: Mapping[str, Any] | None = None):
        self.labels = dict(relation_labels)
        self._stored: Mapping[str, Any] = (phrasing or {}).get("relations", {}) if (
            phrasing and phrasing.get("code") == phrasing_code()) else {}
        by_label = {normalise_label(lab): rel for rel, lab in self.labels.items()}
        self._overrides: dict[str, RelationTemplates] = {}
        self._cache: dict[str, RelationTemplates] = {}
        for name, spec in (overrides or {}).items():
            rel = name if name in self.labels else by_label.get(normalise_label(name))
            if rel is None:
                known = ", ".join(sorted(self.labels)[:12])
                raise ConfigError(f"{key}.{name}: the graph has no relation with this id or label (it has: {known} …)")
            parts: dict[str, tuple[str, ...]] = {}
            for field in ("statements", "questions", "inverse_questions"):
                values = tuple(spec.get(field, ()) or ())
                for i, template in enumerate(values):
                    check_template(template, f"{key}.{name}.{field}[{i}]", statement=field == "statements")
                parts[field] = values
            unknown_fields = set(spec) - {"statements", "questions", "inverse_questions"}
            if unknown_fields:
                raise ConfigError(f"{key}.{name}.{sorted(unknown_fields)[0]}: unknown key "
                                  "(use statements, questions, inverse_questions)")
            base = self._fallback(rel)
            self._overrides[rel] = RelationTemplates(
                parts["statements"] or base.statements, parts["questions"] or base.questions,
                parts["inverse_questions"] or base.inverse_questions, "override",
            )

    def _stored_entry(self, rel: str) -> Mapping[str, Any] | None:
        entry = self._stored.get(rel)
        return entry if entry is not None and entry.get("label") == self.labels.get(rel, rel) else None

    def _fallback(self, rel: str) -> RelationTemplates:
        if (entry := self._stored_entry(rel)) is not None:
            return RelationTemplates(tuple(entry["statements"]), tuple(entry["questions"]),
                                     tuple(entry["inverse_questions"]), entry["source"])
        label = normalise_label(self.labels.get(rel, rel))
        return BUILTIN.get(label) or derive(label)

    def get(self, rel: str) -> RelationTemplates:
        found = self._cache.get(rel)
        if found is None:
            found = self._cache[rel] = self._overrides.get(rel) or self._fallback(rel)
        return found

    def description(self, rel: str, subject: str, object_type: str) -> str:
        """:func:`definite_description` of the relation, from the stored table when there is one."""
        if (entry := self._stored_entry(rel)) is not None:
            return entry["description"].replace("{object_type}", object_type).replace("{subject}", subject)
        return definite_description(self.labels.get(rel, rel), subject, object_type)


def phrasing_table(relation_labels: Mapping[str, str]) -> dict[str, Any]:
    """What the kg stage stores about how each relation reads (``phrasing.json``): its built-in or derived
    statements and questions and its definite description, with the stamp of the code that derived them."""
    relations = {}
    for rel, label in sorted(relation_labels.items()):
        t = BUILTIN.get(normalise_label(label)) or derive(normalise_label(label))
        relations[rel] = {"label": label, "source": t.source, "statements": list(t.statements),
                          "questions": list(t.questions), "inverse_questions": list(t.inverse_questions),
                          "description": definite_description(label, "{subject}", "{object_type}")}
    return {"code": phrasing_code(), "relations": relations}


@lru_cache(maxsize=1)
def phrasing_code() -> str:
    """A stamp of the code phrasing depends on (this module and the English helpers): a table written by
    other code is not used."""
    digest = hashlib.sha256()
    for module in (__file__, E.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:16]


def definite_description(label: str, subject: str, object_type: str) -> str:
    """A noun phrase naming the unique object of (subject, relation), for chaining questions:
    "treated by" → "the drug that influenza is treated by"; "has symptom" → "the symptom of influenza";
    "immunizes against disease" → "the disease that X immunizes against"."""
    if normalise_label(label) == "is a":
        return f"the broader class of {subject}"
    p = analyse(label)
    if p.kind in ("has", "noun"):
        return f"the {p.noun} of {subject}"
    if p.kind == "noun_of":
        return f"the {object_type} that {subject} is {E.with_article(p.noun)} of"
    if p.kind == "verb":
        tail = f" {p.prep or p.rest}" if (p.prep or p.rest) else ""
        return f"the {p.noun or object_type} that {subject} {p.verb_text('vbz')}{tail}"
    if p.kind == "opaque_verb":
        return f"the {object_type} that {subject} {p.text}"
    return f"the {p.noun or object_type} that {subject} is {p.text}"


# -- rendering ----------------------------------------------------------------------------------------
_FIELD = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=4096)
def _pieces(template: str) -> tuple[tuple[str, str | None], ...]:
    """A template split once into (literal text, following placeholder or None)."""
    out, pos = [], 0
    for match in _FIELD.finditer(template):
        out.append((template[pos:match.start()], match.group(1)))
        pos = match.end()
    out.append((template[pos:], None))
    return tuple(out)


def render(template: str, values: Mapping[str, tuple[str, str | None]]) -> tuple[str, list[dict]]:
    """Fill a template; ``values`` maps a placeholder to ``(surface text, node id or None)``.

    Returns the sentence (first letter capitalised) and the mentions it contains, with character offsets.
    """
    out: list[str] = []
    mentions: list[dict] = []
    length = 0
    for literal, name in _pieces(template):
        out.append(literal)
        length += len(literal)
        if name is None:
            continue
        surface, node_id = values[name]
        if node_id is not None:
            mentions.append({"start": length, "end": length + len(surface), "node_id": node_id, "surface": surface})
        out.append(surface)
        length += len(surface)
    text = capitalise("".join(out))
    for m in mentions:
        m["surface"] = text[m["start"]:m["end"]]
    return text, mentions


def capitalise(text: str) -> str:
    """Upper-case the first letter of a sentence unless its first word is mixed case ('mRNA', 'pH')."""
    first = text.split(" ", 1)[0]
    if text[:1].islower() and first[1:] == first[1:].lower():
        return text[0].upper() + text[1:]
    return text
