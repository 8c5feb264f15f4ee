"""Pure scoring of model answers against the graph's answers: normalisation, exact and contains matches
where any synonym of the answer concept counts, lists as sets, and the final answer of a reasoning chain."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]|_")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})
_FINAL = re.compile(r"(?:so )?the answer is[:\s]+(.+?)\.?\s*$", re.IGNORECASE | re.DOTALL)
_LIST_SPLIT = re.compile(r"\s*(?:,|;|\band\b|\n)\s*")
TRUE_WORDS = {"true", "yes"}
FALSE_WORDS = {"false", "no"}


def normalise(text: str) -> str:
    """Lower case, accents folded, punctuation and articles removed, whitespace collapsed."""
    text = _NON_WORD.sub(" ", unicodedata.normalize("NFKD", text or ""))  # any punctuation, dashes included
    text = text.encode("ascii", "ignore").decode()
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return _SPACE.sub(" ", text).strip()


def final_answer(text: str) -> str:
    """The answer of a reasoning chain ('… So the answer is X.'), or the text itself."""
    m = _FINAL.search(text or "")
    return m.group(1).strip() if m else (text or "").strip()


def exact_match(prediction: str, aliases: Iterable[str]) -> bool:
    pred = normalise(final_answer(prediction))
    return bool(pred) and any(pred == normalise(a) for a in aliases if a)


def contains_match(prediction: str, aliases: Iterable[str]) -> bool:
    pred = f" {normalise(prediction)} "
    return any(f" {normalise(a)} " in pred for a in aliases if normalise(a))


def list_items(prediction: str) -> list[str]:
    return [p for p in (normalise(x) for x in _LIST_SPLIT.split(final_answer(prediction))) if p]


def list_match(prediction: str, gold: Sequence[Sequence[str]]) -> tuple[bool, bool]:
    """(exact: the predicted items are exactly the gold items, any synonym each; contains: every gold item
    appears in the prediction)."""
    items = list_items(prediction)
    alias_sets = [{normalise(a) for a in aliases} for aliases in gold]
    matched = [any(i in s for s in alias_sets) for i in items]
    covered = [any(i in s for i in items) for s in alias_sets]
    exact = bool(items) and all(matched) and all(covered) and len(items) == len(alias_sets)
    contains = all(contains_match(prediction, aliases) for aliases in gold)
    return exact, contains


def any_two_match(prediction: str, gold: Sequence[Sequence[str]]) -> tuple[bool, bool]:
    """For "Name two." questions over a large answer set: (exact: two or more items, each a member of the
    set, no member named twice; contains: at least one member appears in the prediction)."""
    items = list_items(prediction)
    alias_sets = [{normalise(a) for a in aliases} for aliases in gold]
    hits = [next((j for j, s in enumerate(alias_sets) if i in s), None) for i in items]
    exact = len(items) >= 2 and None not in hits and len(set(hits)) == len(hits)
    contains = any(contains_match(prediction, aliases) for aliases in gold)
    return exact, contains


def truth_value(text: str) -> bool | None:
    words = normalise(text).split()
    if not words:
        return None
    if words[0] in TRUE_WORDS:
        return True
    if words[0] in FALSE_WORDS:
        return False
    return None


def score_open(ex: dict[str, Any], text: str) -> tuple[bool, bool]:
    """(exact match, contains match) of an answer to an open question (a synth example's ``task``,
    ``template_id``, ``answer`` and ``answer_aliases``): lists as sets, "name two" as any two, a definition
    against its text, any synonym of the answer concept otherwise."""
    if ex["task"] == "list":
        return list_match(text, ex["answer_aliases"])
    if ex["task"] == "property_schema" and len(ex["answer_aliases"]) > 1:  # every type named: "A, B and C" / "A, B or C"
        return list_match(re.sub(r"\s+or\s+", ", ", final_answer(text)), ex["answer_aliases"])
    if ex["task"] == "definition":
        gold = [ex["answer"]]
        return exact_match(text, gold), contains_match(text, gold)
    if ex["template_id"].endswith("/two"):  # "Name two.": any two members of the answer set
        return any_two_match(text, ex["answer_aliases"])
    aliases = [a for group in ex["answer_aliases"] for a in group] or [ex["answer"]]
    em, contains = exact_match(text, aliases), contains_match(text, aliases)
    if len(ex["answer_aliases"]) > 1 and not em:  # "What is a symptom of X?": any one of them, or all (as taught)
        em = list_match(text, ex["answer_aliases"])[0]
    return em, contains
