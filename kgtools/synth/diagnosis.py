"""The diagnosis task: multi-constraint inverse questions that exactly one concept answers.

"A patient presents with fever, dry cough and myalgia. Which disease is most consistent with these findings?"
For a subject and a relation (symptoms of diseases, indications of drugs, exposures of instruments), the clues
are a minimal set of the subject's values — asserted on it or inherited from its ancestors — that no other
concept holds all of, inheritance included (a concept holds a clue when the graph entails ``x r some clue``,
the same truth every other task uses). The set is found greedily (the clue that leaves the fewest rivals
first) and then made irredundant (a clue whose removal keeps the answer unique is dropped), so every clue is
needed. Where fewer than ``min_clues`` suffice (one telling value is an inverse question, not a diagnosis),
the subject's most common other values are added, as a presentation has common findings too; the question
stays unique, since a concept that holds them all holds the telling ones. A concept with subclasses is never the answer: its subclasses inherit every clue.

Each question is asked open and as multiple choice, whose distractors are the rivals that hold the most
clues (each lacks at least one: the ontology does not entail it, an open-world negative, marked
``unasserted``). A question is trained only when every fact its clues rest on is trained; otherwise it is
a held-out test question.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kgtools.errors import ConfigError
from kgtools.graph.english import with_article
from kgtools.graph.model import INSTANCE_OF, IS_A
from kgtools.graph.templates import capitalise, render
from kgtools.synth.facts import Fact

if TYPE_CHECKING:  # the generator imports this module
    from kgtools.synth.generate import Synthesizer

# Relations whose values are findings: their questions are said as a clinical presentation.
FINDINGS = frozenset({"symptom", "sign", "finding", "clinical feature", "feature", "phenotype", "manifestation",
                      "clinical manifestation", "phenotypic feature"})
CLINICAL = ("A patient presents with {clues}. Which {subject_type} is most consistent with these findings?",
            "Which {subject_type} presents with all of the following: {clues}?",
            "Which {subject_type} has all of the following as {a_noun}: {clues}?")
GENERIC_NOUN = ("Which {subject_type} has all of the following as {a_noun}: {clues}?",
                "{clues}: which {subject_type} has each of these as {a_noun}?",
                "Name the {subject_type} that has {every_clue} as {a_noun}.")
LETTERS = "ABCDEFGHIJ"
RIVAL_SAMPLE = 512


def diagnosis_relations(syn: Synthesizer) -> list[str]:
    """The relations asked: ``synth.diagnosis.relations`` (ids or labels) or, by default, every relation but
    is_a (those that fewer than ``min_subjects`` subjects have ``min_clues`` values of are skipped later)."""
    cfg = syn.cfg.diagnosis
    ix = syn.ix
    present = {r for (_, r) in syn.fwd}  # the relations synth.relations allows
    if cfg.relations:
        found = []
        for x in cfg.relations:
            match = [r for r in ix.relations if x.casefold() in (r.casefold(), ix.rel_label[r].casefold())]
            if not match:
                known = ", ".join(f"{r} ({ix.rel_label[r]})" for r in ix.relations[:10])
                raise ConfigError(f"synth.diagnosis.relations: the graph has no relation {x!r} (it has: {known} …)")
            found.extend(r for r in match if r in present and r not in found)
        return found
    return [r for r in ix.relations if r in present and r not in (IS_A, INSTANCE_OF)]


class _Relation:
    """What holds for one relation: each concept's most specific values (its own and inherited), and for
    every value the concepts that hold it (entailment: subclasses inherit, a value's ancestors hold too)."""

    def __init__(self, syn: Synthesizer, r: str):
        ix = syn.ix
        self.r = r
        direct = {s for (s, rel) in syn.fwd if rel == r}
        subjects = set(direct)
        for s in direct:
            subjects |= ix.descendants(s)
        self.subjects = sorted(n for n in subjects if n in ix.label)
        self.syn = syn
        self._holders: dict[str, set[str]] | None = None
        self._sorted: dict[str, list[str]] = {}

    @property
    def holders(self) -> dict[str, set[str]]:
        if self._holders is None:
            self._holders = defaultdict(set)
            for x in self.subjects:
                for o in self.syn.ix._closure(x, self.r):  # uncached: this pass touches every subject once
                    self._holders[o].add(x)
        return self._holders

    def clues(self, s: str) -> dict[str, Fact]:
        """The most specific values of (s, r), each with the fact that states it (on s or an ancestor)."""
        syn = self.syn
        stated: dict[str, Fact] = {}
        for x in (s, *sorted(syn.ix.ancestors(s))):
            for f in syn.fwd.get((x, self.r), ()):
                stated.setdefault(f.o, f)
        return {o: f for o, f in sorted(stated.items())
                if not any(o in syn.ix.ancestors(w) for w in stated if w != o)}

    def distinguishing(self, s: str, clues: list[str]) -> list[str] | None:
        """A minimal set of ``clues`` that only ``s`` holds all of, or None when there is none."""
        # the first clue is the rarest: its holders are the rivals left (never a pass over every subject,
        # which would make this quadratic in the graph)
        first = min(clues, key=lambda c: (len(self.holders[c]), c))
        rivals = self.holders[first] - {s}
        chosen = [first]
        left = [c for c in clues if c != first]
        while rivals and left:
            best = min(left, key=lambda c: (len(rivals & self.holders[c]), c))
            if len(rivals & self.holders[best]) == len(rivals):
                break  # no clue narrows it further
            chosen.append(best)
            left.remove(best)
            rivals &= self.holders[best]
        if rivals:
            return None
        for c in list(chosen):  # irredundant: drop a clue the others make unnecessary
            rest = [x for x in chosen if x != c]
            if rest and set.intersection(*(self.holders[x] for x in rest)) == {s}:
                chosen = rest
        return chosen

    def pad(self, chosen: list[str], clues: list[str], size: int) -> list[str]:
        """``chosen`` and, up to ``size``, the subject's most common other values (a single telling value
        is an inverse question; a presentation has several findings, the common ones among them)."""
        others = sorted((c for c in clues if c not in chosen), key=lambda c: (-len(self.holders[c]), c))
        return chosen + others[: max(0, size - len(chosen))]

    def rivals(self, s: str, clues: list[str]) -> list[tuple[int, str]]:
        """Other concepts that hold some of the clues: (minus clues held, concept), most first. A common
        clue's holders are sampled (the first ``RIVAL_SAMPLE`` in id order), so this stays bounded per question
        on a graph where thousands of concepts share a value."""
        held: dict[str, int] = defaultdict(int)
        for c in clues:
            for x in self.sorted_holders(c)[:RIVAL_SAMPLE]:
                held[x] += 1
        return sorted((-k, x) for x, k in held.items() if x != s)

    def sorted_holders(self, c: str) -> list[str]:
        found = self._sorted.get(c)
        if found is None:
            found = self._sorted[c] = sorted(self.holders[c])
        return found


def diagnosis_examples(syn: Synthesizer) -> Iterator[dict[str, Any]]:
    cfg = syn.cfg.diagnosis
    for r in syn.diagnosis_relations:
        rel = _Relation(syn, r)
        members = set(rel.subjects)
        eligible = {}
        for s in rel.subjects:
            if s in syn.ix.excluded or any(c in members for c in syn.ix.children.get(s, ())):
                continue  # a concept with subclasses: they hold every clue too (every member's are members)
            if len(stated := rel.clues(s)) >= cfg.min_clues:
                eligible[s] = stated
        if len(eligible) < cfg.min_subjects:
            continue
        noun = relation_noun(syn, r)  # once per relation, not per question
        templates = _templates(syn, r, noun)
        if not templates:
            syn.stats["diagnosis_relation_without_phrasing"] += 1
            continue
        for s, stated in eligible.items():
            chosen = rel.distinguishing(s, list(stated))
            if chosen is None:
                syn.stats["diagnosis_skipped_not_unique"] += 1
                continue
            if len(chosen) < cfg.min_clues:
                syn.stats["diagnosis_padded"] += 1
                chosen = rel.pad(chosen, list(stated), cfg.min_clues)
            if len(chosen) > cfg.max_clues:
                syn.stats["diagnosis_skipped_many_clues"] += 1
                continue
            chosen.sort(key=lambda c: syn._h("clue-order", s, r, c))
            syn.diagnosable.add(f"{s}|{r}")
            support = [stated[c] for c in chosen]
            yield from _ask(syn, rel, s, chosen, support, templates, noun)


def relation_noun(syn: Synthesizer, r: str) -> str:
    """The noun a relation names its values by ("has symptom" → "symptom"), from its definite description
    ("the symptom of {subject}"); "" for verb relations ("treated by")."""
    m = re.fullmatch(r"the (.+) of \{subject\}", syn.book.description(r, "{subject}", "{object_type}"))
    return m.group(1) if m and r != IS_A else ""


def _templates(syn: Synthesizer, r: str, noun: str) -> list[tuple[str, str]]:
    written = syn.book.get(r).source in ("builtin", "override")  # phrasings a person wrote: "related to"
    if noun.casefold() in FINDINGS:
        chosen = CLINICAL
    elif noun and not written:
        chosen = GENERIC_NOUN
    else:  # a verb or passive relation: its own inverse questions, asked of every clue at once
        # its own inverse questions, the object slot filled with every clue ("What does both A and B treat?");
        # not those that open with the object, whose verb would have to agree with a plural ("A and B is …")
        chosen = tuple(t.replace("{object}", "{every_clue}") for t in syn.book.get(r).inverse_questions
                       if "{object}" in t and not t.startswith("{object}"))
    return [(f"diagnosis/{r}/q{i}", t) for i, t in enumerate(chosen)]


def _ask(syn: Synthesizer, rel: _Relation, s: str, clues: list[str], support: list[Fact],
         templates: list[tuple[str, str]], noun: str) -> Iterator[dict[str, Any]]:
    r = rel.r
    status = "train" if all(syn.is_train(f) for f in support) else "heldout"
    every = ("both " if len(clues) == 2 else "all of ") + syn.join(clues)  # "What does both A and B treat?"
    values = {"clues": (syn.join(clues), None), "every_clue": (every, None), "subject_type": (syn.ix.type_label(s), None),
              "object_type": (syn.ix.type_label(clues[0]), None),
              "a_noun": (with_article(noun) if noun else "", None)}
    root = syn.ix.root(s)
    rivals = [x for _, x in rel.rivals(s, clues)
              if not syn.ix.same_name(x, s) and syn.ix.root(x) == root and x not in syn.ix.ancestors(s)]
    # an open-world negative: a rejected answer only where synth.negatives lets that kind be one
    near = rivals[0] if rivals and "unasserted" in syn.cfg.negatives.rejected else None
    as_choice = "unasserted" in syn.cfg.negatives.mcq
    k = syn.cfg.mcq_choices
    for split, tid, tpl, reason in syn.plan("diagnosis", (s, r), templates, status).entries:
        prompt = capitalise(render(tpl, values)[0])
        yield syn.example("diagnosis", split, reason, tid, prompt, syn.name(s), [s], support=support, subject=s,
                          relation=r, rejected=syn.name(near) if near else None,
                          negative_kind="unasserted" if near else None)
        if not as_choice:
            continue
        if len(rivals) < k - 1:
            syn.stats["diagnosis_mcq_skipped_few_rivals"] += 1
            continue
        options = [s, *rivals[: k - 1]]
        options.sort(key=lambda c: syn._h("shuffle", s, r, tid, c))
        listing = "\n".join(f"{LETTERS[i]}) {syn.name(c)}" for i, c in enumerate(options))
        yield syn.example("mcq", split, reason, tid.replace("/q", "/mcq-q"), prompt + "\n" + listing, syn.name(s), [s],
                          support=support, subject=s, relation=r, choices=[syn.name(c) for c in options],
                          answer_index=options.index(s), rejected=syn.name(rivals[0]), negative_kind="unasserted",
                          distractor_kinds=["unasserted"] * (k - 1))

