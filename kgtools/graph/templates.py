"""Relation templates: how each relation of the graph is said in English — as statements (the corpus
stage) and as questions in both directions (the synthesis stage). One place, shared by both stages.

Phrasings come from, in order: the pipeline's ``templates:`` overrides (keyed by relation id or label),
a small built-in library for common relations, and a default derived from the relation's label
("has symptom" → "{subject} has {object} as a symptom."; "caused by" → "{subject} is caused by {object}.").
Placeholders: ``{subject}``, ``{object}`` and, in questions, ``{subject_type}`` / ``{object_type}``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from kgtools.errors import ConfigError

PLACEHOLDERS = frozenset({"subject", "object", "subject_type", "object_type"})
_PREPOSITIONS = {"by", "in", "on", "to", "of", "from", "with", "at", "for", "into", "as", "about", "than"}


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


def normalise_label(label: str) -> str:
    return " ".join(label.replace("_", " ").split()).casefold()


def _article(noun_phrase: str) -> str:
    return "an" if noun_phrase[:1].lower() in "aeiou" else "a"


def _base_verb(verb: str) -> str:
    """'treats' → 'treat', 'classifies' → 'classify', 'comprises' → 'comprise', 'issues' → 'issue'."""
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("sses", "shes", "ches", "xes", "zes")):
        return verb[:-2]
    return verb[:-1]


def derive(label: str) -> RelationTemplates:
    """Phrasings derived from a relation label alone."""
    words = normalise_label(label).split()
    if not words:
        raise ValueError("empty relation label")
    text = " ".join(words)
    ends_in_preposition = words[-1] in _PREPOSITIONS
    if words[0] == "has" and len(words) > 1 and not ends_in_preposition:
        np = " ".join(words[1:])
        a = _article(np)
        return RelationTemplates(
            (f"{{subject}} has {{object}} as {a} {np}.", f"{{object}} is {a} {np} of {{subject}}.",
             f"One {np} of {{subject}} is {{object}}."),
            (f"What is {a} {np} of {{subject}}?", f"Name {a} {np} of {{subject}}."),
            (f"What has {{object}} as {a} {np}?", f"{{object}} is {a} {np} of what?"),
        )
    if words[0] == "is" and len(words) > 2 and words[-1] == "of":
        np = " ".join(words[1:-1])
        a = _article(np)
        return RelationTemplates(
            (f"{{subject}} is {a} {np} of {{object}}.", f"{{object}} has {{subject}} as {a} {np}."),
            (f"What is {{subject}} {a} {np} of?", f"{{subject}} is {a} {np} of what?"),
            (f"What is {a} {np} of {{object}}?", f"Name {a} {np} of {{object}}."),
        )
    if words[0] in ("is", "are", "has", "have"):
        rest = " ".join(words[1:])
        return RelationTemplates(
            (f"{{subject}} {text} {{object}}.", f"It is stated that {{subject}} {text} {{object}}."),
            (f"What {words[0]} {{subject}} {rest}?" if words[0] in ("is", "are") else f"What {text} {{subject}}?",
             f"{{subject}} {text} what?"),
            (f"What {text} {{object}}?", f"Name something that {text} {{object}}."),
        )
    first = words[0]
    if first.endswith("s") and not first.endswith("ss") and len(first) > 3:  # a verb in the third person
        rest = " ".join(words[1:])
        ask = f"What does {{subject}} {_base_verb(first)}{(' ' + rest) if rest else ''}?"
        return RelationTemplates(
            (f"{{subject}} {text} {{object}}.", f"It is stated that {{subject}} {text} {{object}}."),
            (ask, f"{{subject}} {text} what?"),
            (f"What {text} {{object}}?", f"Name something that {text} {{object}}."),
        )
    # a participle, an adjective or a prepositional phrase: "caused by", "located in", "subject to"
    return RelationTemplates(
        (f"{{subject}} is {text} {{object}}.", f"It is stated that {{subject}} is {text} {{object}}."),
        (f"What is {{subject}} {text}?", f"{{subject}} is {text} what?"),
        (f"What is {text} {{object}}?", f"Name something that is {text} {{object}}."),
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
    """Templates for every relation of one graph: overrides, then built-ins, then derived defaults."""

    def __init__(self, relation_labels: Mapping[str, str], overrides: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                 *, key: str = "templates"):
        self.labels = dict(relation_labels)
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

    def _fallback(self, rel: str) -> RelationTemplates:
        label = normalise_label(self.labels.get(rel, rel))
        return BUILTIN.get(label) or derive(label)

    def get(self, rel: str) -> RelationTemplates:
        found = self._cache.get(rel)
        if found is None:
            found = self._cache[rel] = self._overrides.get(rel) or self._fallback(rel)
        return found


def definite_description(label: str, subject: str, object_type: str) -> str:
    """A noun phrase naming the unique object of (subject, relation), for chaining questions:
    "treated by" → "the drug that influenza is treated by"; "has symptom" → "the symptom of influenza"."""
    words = normalise_label(label).split()
    text = " ".join(words)
    if text == "is a":
        return f"the broader class of {subject}"
    if words[0] == "has" and len(words) > 1 and words[-1] not in _PREPOSITIONS:
        return f"the {' '.join(words[1:])} of {subject}"
    if words[0] == "is" and len(words) > 2 and words[-1] == "of":
        np = " ".join(words[1:-1])
        return f"the {object_type} that {subject} is {_article(np)} {np} of"
    first = words[0]
    if words[0] in ("is", "are", "has", "have") or (first.endswith("s") and not first.endswith("ss") and len(first) > 3):
        return f"the {object_type} that {subject} {text}"
    return f"the {object_type} that {subject} is {text}"


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
