"""Cardinalities in words (the kg's cardinalities.parquet): "A legal entity has exactly one legal address."

Each OWL cardinality restriction on a class — ``exactly n``, ``min n`` (n ≥ 1), ``max n``, qualified by a
class or a data range or not at all — is asked three ways: an open question ("How many legal addresses does
legal entity have?" → "exactly one"; "Collar comprises how many call options?"), multiple choice among
quantities, and true/false, whose false statement gives a quantity the axiom rules out ("… has exactly two
legal addresses" where it says exactly one: a sure negative, ``negative_kind: cardinality``). Distractors
and false quantities always contradict the axiom: "at least one" is never offered against "exactly one".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kgtools.graph.english import is_noun, participle_lemma, plural, singular, uncountable, with_article
from kgtools.graph.templates import capitalise
from kgtools.synth.diagnosis import relation_noun

if TYPE_CHECKING:
    from kgtools.synth.generate import Synthesizer

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# the quantities a distractor or a false statement may say, each as (word, n)
CANDIDATES = (("exactly", 1), ("exactly", 2), ("exactly", 3), ("min", 1), ("min", 2), ("min", 3), ("max", 0),
              ("max", 1), ("max", 2))
YES_NO = (("True or false: {statement}", "True", "False"), ("Is the following statement correct? {statement}", "Yes", "No"))


def number_word(n: int) -> str:
    return NUMBERS[n] if 0 < n < len(NUMBERS) else str(n)


def quantity(word: str, n: int) -> str:
    """'exactly one', 'at least two', 'at most one', 'none' (max 0)."""
    if word == "max" and n == 0:
        return "none"
    return {"exactly": "exactly", "min": "at least", "max": "at most"}[word] + " " + number_word(n)


def answer_forms(word: str, n: int) -> list[str]:
    """Every way of saying the quantity that grading accepts."""
    w = number_word(n)
    if word == "max" and n == 0:
        return ["none", "no", "zero", "0"]
    if word == "exactly":
        return [f"exactly {w}", f"exactly {n}", w, str(n)]
    if word == "min":
        return [f"at least {w}", f"at least {n}", f"{w} or more", f"{n} or more"]
    return [f"at most {w}", f"at most {n}", f"no more than {w}", f"no more than {n}", f"up to {w}"]


def interval(word: str, n: int) -> tuple[float, float]:
    return {"exactly": (n, n), "min": (n, math.inf), "max": (0, n)}[word]


def contradicts(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """No number of values satisfies both (so saying ``b`` where the ontology says ``a`` is false)."""
    (lo1, hi1), (lo2, hi2) = interval(*a), interval(*b)
    return hi1 < lo2 or hi2 < lo1


def cardinality_examples(syn: Synthesizer) -> Iterator[dict[str, Any]]:
    """Each cardinality axiom a sentence can say: asked open, as multiple choice among quantities it rules out,
    and as a true and a false statement."""
    rows = [c for c in syn.kg.meta.get("cardinalities") or () if c["src"] in syn.ix.label]
    per_pair: dict[tuple[str, str], int] = defaultdict(int)
    for c in rows:
        per_pair[(c["src"], c["rel"])] += 1
    nouns: dict[str, str] = {}
    for c in rows:
        ax = _phrase(syn, c, nouns, per_pair[(c["src"], c["rel"])])
        if ax is None:
            continue
        yield from _open(syn, ax)
        yield from _choices(syn, ax)
        yield from _true_false(syn, ax)
        syn.cardinalities_asked[f"{ax.s}|{ax.r}|{ax.path[-1]}"] = ax.status


@dataclass
class _Axiom:
    """One cardinality axiom with its words: the sentence (``{q}`` for the quantity), the questions, what it
    counts, the held-out status, the quantities that contradict it (shuffled per axiom)."""

    s: str
    r: str
    key: str
    truth: tuple[str, int]
    said: str
    questions: list[str]
    counted: str
    noun: str
    filler: str | None
    subject: str
    verb: str
    status: str
    path: list[str]
    wrong: list[tuple[str, int]]

    def common(self) -> dict[str, Any]:
        return {"support": [], "subject": self.s, "relation": self.r, "path": self.path}


def _phrase(syn: Synthesizer, c: dict[str, Any], nouns: dict[str, str], on_pair: int) -> _Axiom | None:
    """The axiom ``c`` in words, or None (counted in ``syn.stats``) when no unambiguous sentence says it."""
    s, r, word, n = c["src"], c["rel"], c["word"], c["n"]
    if r not in nouns:  # a datatype property has no phrasing in the book: "has open date" → "open date"
        label = c["rel_label"]
        nouns[r] = relation_noun(syn, r) if r in syn.book.labels else (
            label[4:] if label.startswith("has ") and len(label.split()) > 1 else "")
    noun = nouns[r]
    filler = syn.ix.label.get(c["filler"]) if c["filler_kind"] == "class" else None
    if c["filler_kind"] == "class" and filler is None:
        syn.stats["cardinality_skipped_unnamed_class"] += 1
        return None
    if not filler and not noun:  # "statistical measure is estimate how many values?": no sentence to say it in
        syn.stats["cardinality_skipped_no_noun"] += 1
        return None
    counted = filler or noun
    if not countable(counted) or (noun and not countable(noun)):
        # "how many Vibrio choleraes", "how many parameterses": a plural lemminflect does not know is a guess
        syn.stats["cardinality_skipped_no_plural"] += 1
        return None
    many = n != 1
    # the thing counted, in the number the quantity needs ("exactly one call option", "no parties")
    thing = plural(counted) if many else counted
    subject = syn.name(s)
    own = not filler or filler.casefold() == noun.casefold() or not noun
    if noun and own and on_pair == 1:
        said = f"{subject} has {{q}} {plural(noun) if many else noun}."
        questions = [f"How many {plural(noun)} does {subject} have?", f"{subject} has how many {plural(noun)}?",
                     f"What number of {plural(noun)} does {subject} have?"]
    elif noun and filler:
        said = f"{subject} has {{q}} {thing} as {plural(noun) if many else with_article(noun)}."
        questions = [f"How many {plural(filler)} does {subject} have as {plural(noun)}?",
                     f"{subject} has how many {plural(filler)} as {plural(noun)}?",
                     f"What number of {plural(filler)} does {subject} have as {plural(noun)}?"]
    elif not noun:
        label = _verb(c["rel_label"])
        said = f"{subject} {label} {{q}} {thing}."
        questions = [f"{subject} {label} how many {plural(counted)}?",
                     f"In this ontology, {subject} {label} how many {plural(counted)}?",
                     f"By definition, {subject} {label} how many {plural(counted)}?"]
    else:  # several cardinalities on one noun relation, one not qualified: not askable without ambiguity
        syn.stats["cardinality_skipped_ambiguous"] += 1
        return None
    truth = (word, n)
    key = f"{s}|{r}|{c['filler']}|{word}{n}"
    # held out with its class when whole subjects are (splits.entity_disjoint), else on its own
    unit = ("heldout", s) if syn.cfg.splits.entity_disjoint else ("heldout-cardinality", key)
    status = "heldout" if syn._h(*unit) < syn.cfg.splits.heldout else "train"
    wrong = [q for q in CANDIDATES if contradicts(truth, q)]
    wrong.sort(key=lambda q: syn._h("cardinality-wrong", key, *q))
    return _Axiom(s, r, key, truth, said, questions, counted, noun, filler, subject, _verb(c["rel_label"]), status,
                  [s, c["filler"]] if c["filler"] else [s], wrong)


def _open(syn: Synthesizer, ax: _Axiom) -> Iterator[dict[str, Any]]:
    answer, forms, wrong = quantity(*ax.truth), answer_forms(*ax.truth), ax.wrong
    templates = [(f"cardinality/q{i}", t) for i, t in enumerate(ax.questions)]
    for split, tid, tpl, reason in syn.plan("cardinality", ax.key, templates, ax.status).entries:
        yield syn.example("cardinality", split, reason, tid, capitalise(tpl), answer, [], aliases=[forms],
                          rejected=quantity(*wrong[0]) if wrong else None,
                          negative_kind="cardinality" if wrong else None, **ax.common())


def _choices(syn: Synthesizer, ax: _Axiom) -> Iterator[dict[str, Any]]:
    """Multiple choice among quantities that contradict the axiom."""
    k = syn.cfg.mcq_choices
    if len(ax.wrong) < k - 1 or not syn.weights.get("mcq"):
        return
    truth, key = ax.truth, ax.key
    options = [truth, *ax.wrong[: k - 1]]
    options.sort(key=lambda q: syn._h("cardinality-shuffle", key, *q))
    choices = [quantity(*q) for q in options]
    mcq_templates = [(f"cardinality/mcq-q{i}", t) for i, t in enumerate(ax.questions)]
    for split, tid, tpl, reason in syn.plan("mcq", ("cardinality", key), mcq_templates, ax.status).entries:
        prompt = capitalise(tpl) + "\n" + "\n".join(f"{'ABCDEFGHIJ'[i]}) {ch}" for i, ch in enumerate(choices))
        yield syn.example("mcq", split, reason, tid, prompt, quantity(*truth), [], aliases=[answer_forms(*truth)],
                          choices=choices, answer_index=options.index(truth),
                          rejected=choices[(options.index(truth) + 1) % k], negative_kind="cardinality",
                          distractor_kinds=["cardinality"] * (k - 1), **ax.common())


def _true_false(syn: Synthesizer, ax: _Axiom) -> Iterator[dict[str, Any]]:
    """The axiom as a true statement, and a quantity it rules out as a false one."""
    if not syn.weights.get("yes_no") or not ax.wrong:
        return
    statements = [(f"cardinality/s{i}", str(i)) for i in range(len(YES_NO))]
    for split, tid, index, reason in syn.plan("yes_no", ("cardinality", ax.key), statements, ax.status).entries:
        form, yes, no = YES_NO[int(index)]
        true_text = capitalise(ax.said.format(q=_quantity_in_sentence(ax.truth)))
        false_q = ax.wrong[int(syn._h("cardinality-false", ax.key, tid) * len(ax.wrong))]
        false_text = capitalise(_said_with(false_q, ax.counted, ax.noun, ax.filler, ax.subject, ax.verb))
        yield syn.example("yes_no", split, reason, f"{tid}/yn", form.format(statement=true_text), yes, [],
                          aliases=[[yes]], rejected=no, **ax.common())
        yield syn.example("yes_no", split, reason, f"{tid}/yn-neg", form.format(statement=false_text), no, [],
                          aliases=[[no]], rejected=yes, negative_kind="cardinality", **ax.common())


def countable(noun_phrase: str) -> bool:
    """Whether a noun phrase can be counted in words: its head a lower-case singular noun lemminflect knows
    (not a taxon, an acronym or a plural already)."""
    words = noun_phrase.split()
    head = words[-1] if words else ""
    if len(words) > 1 and words[0][:1].isupper() and head.endswith(_LATIN):  # "Mycobacterium tuberculosis"
        return False
    return bool(head) and head.islower() and is_noun(head) and singular(head) == head and not uncountable(noun_phrase)


_LATIN = ("is", "us", "um", "ae", "a", "i", "ii")  # endings of a binomial's epithet


def _verb(label: str) -> str:
    """A relation label as a finite verb phrase: 'caused by' → 'is caused by' (a bare participle)."""
    first = label.split()[0] if label.split() else ""
    if first not in ("is", "are", "has", "have") and participle_lemma(first) and not third_person_form(first):
        return f"is {label}"
    return label


def third_person_form(word: str) -> bool:
    return word.endswith("s") and not word.endswith("ss")


def _quantity_in_sentence(q: tuple[str, int]) -> str:
    """'none' reads 'no' inside a sentence ('has no shareholders')."""
    return "no" if q == ("max", 0) else quantity(*q)


def _said_with(other: tuple[str, int], counted: str, noun: str, filler: str | None, subject: str, label: str) -> str:
    """The statement with another quantity, its nouns in the number that quantity needs."""
    many = other[1] != 1
    thing = plural(counted) if many else counted
    if noun and (not filler or filler.casefold() == noun.casefold()):
        return f"{subject} has {_quantity_in_sentence(other)} {plural(noun) if many else noun}."
    if noun and filler:
        return f"{subject} has {_quantity_in_sentence(other)} {thing} as {plural(noun) if many else with_article(noun)}."
    return f"{subject} {label} {_quantity_in_sentence(other)} {thing}."
