"""Link mentions in raw text to graph concepts with spaCy: a blank English tokenizer and PhraseMatchers
built from labels and synonyms (with plural and hyphen/space variants), the longest non-overlapping match,
and graph context to choose between the concepts an ambiguous surface form may name."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import spacy
from spacy.attrs import IDX, LENGTH
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from kgtools.graph.model import CONCEPT_KINDS, KnowledgeGraph

_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&-]{1,7}$")
_SENTENCE_END = {".", "!", "?", ":", ";"}
# runs of capitalised words (or acronyms), e.g. "World Health Organization", "WHO"
_CAPITALISED = re.compile(r"\b(?:[A-Z][a-z][\w'-]*|[A-Z]{2,}[\w-]*)(?:\s+(?:[A-Z][a-z][\w'-]*|[A-Z]{2,}[\w-]*))*")


def plural(term: str) -> str:
    """English plural of a term's last word: 'antibiotic' → 'antibiotics', 'virus' → 'viruses'."""
    head, _, last = term.rpartition(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def variants(term: str) -> set[str]:
    """The term, its plural, and hyphen/space alternations ('beta-blocker' ↔ 'beta blocker')."""
    forms = {term}
    if "-" in term:
        forms.add(term.replace("-", " "))
    if " " in term and len(term.split()) == 2:
        forms.add(term.replace(" ", "-"))
    if not _ACRONYM.match(term):
        forms |= {plural(f) for f in list(forms)}
    else:
        forms.add(term + "s")  # 'ETFs'
    return forms


@dataclass
class LinkStats:
    passages: int = 0
    chars: int = 0
    kept: int = 0
    dropped_few_mentions: int = 0
    mentions: int = 0
    ambiguous_resolved: int = 0
    ambiguous_unresolved: int = 0
    mentioned: set[str] = field(default_factory=set)
    unlinked: Counter = field(default_factory=Counter)

    def prune(self, keep: int = 20_000) -> None:
        """Bound the memory of the unlinked-phrase counter on very large corpora (approximate top-k)."""
        if len(self.unlinked) > 5 * keep:
            self.unlinked = Counter(dict(self.unlinked.most_common(keep)))


class Linker:
    """Finds concept mentions in text. Build once per graph; call :meth:`link` on a stream of passages."""

    def __init__(
        self,
        kg: KnowledgeGraph,
        *,
        synonym_scopes: Sequence[str] = ("exact",),
        min_term_chars: int = 3,
        exclude_terms: Iterable[str] = (),
        context_hops: int = 2,
    ):
        self.kg = kg
        self.nlp = spacy.blank("en")
        self.context_hops = context_hops
        stop_words = self.nlp.Defaults.stop_words
        excluded = {t.casefold() for t in exclude_terms}
        # matched case-insensitively; keyed by the case-folded form, but patterns are made from the
        # spellings as written ("U.S. Securities…" tokenises differently once lower-cased)
        lower_terms: dict[str, set[str]] = {}
        spellings: dict[str, set[str]] = {}
        exact_terms: dict[str, set[str]] = {}  # acronyms: matched as written
        for node_id in kg.nodes([*CONCEPT_KINDS, "individual"]):
            data = kg.g.nodes[node_id]
            names = [data.get("label")] + [
                s for s, scope in zip(data.get("synonyms") or (), data.get("synonym_scopes") or (), strict=True)
                if scope in synonym_scopes
            ]
            for name in names:
                if not name or name.casefold() in excluded:
                    continue
                if _ACRONYM.match(name):
                    exact_terms.setdefault(name, set()).add(node_id)
                elif len(name) >= min_term_chars and not (" " not in name and name.casefold() in stop_words):
                    lower_terms.setdefault(name.casefold(), set()).add(node_id)
                    spellings.setdefault(name.casefold(), set()).add(name)
        self.terms = len(lower_terms) + len(exact_terms)
        self.surface_forms: list[str] = []  # every pattern added, variants included (benchmarks use it)
        self._candidates: dict[int, tuple[str, ...]] = {}  # match key → sorted candidate node ids
        self.lower = self._matcher(lower_terms, "LOWER", spellings)
        self.exact = self._matcher(exact_terms, "ORTH", {t: {t} for t in exact_terms})
        self._near: dict[str, frozenset[str]] = {}


    def _matcher(self, terms: dict[str, set[str]], attr: str, spellings: dict[str, set[str]]) -> PhraseMatcher:
        matcher = PhraseMatcher(self.nlp.vocab, attr=attr)
        strings = self.nlp.vocab.strings
        for term, nodes in sorted(terms.items()):
            name = f"{attr}:{term}"
            key = strings.add(name)
            self._candidates[key] = tuple(sorted(set(nodes) | set(self._candidates.get(key, ()))))
            forms = sorted({v for spelling in spellings[term] for v in variants(spelling)})
            self.surface_forms.extend(forms)
            matcher.add(name, list(self.nlp.tokenizer.pipe(forms)))
        return matcher

    # -- matching ---------------------------------------------------------------------------------
    def mentions(self, doc: Doc, text: str | None = None) -> list[dict[str, Any]]:
        """Longest non-overlapping matches in one tokenised passage, with candidates and a choice.

        Works on token indices and offsets (``doc.to_array``), not Span objects: this runs once per
        passage and dominates the linker's cost otherwise.
        """
        matches = [*self.lower(doc), *self.exact(doc)]
        if not matches:
            return []
        text = doc.text if text is None else text
        by_span: dict[tuple[int, int], tuple[str, ...]] = {}
        for key, start, end in matches:
            cands = self._candidates[key]
            prev = by_span.get((start, end))
            by_span[(start, end)] = cands if prev is None else tuple(sorted(set(prev) | set(cands)))
        chosen_spans = sorted(by_span)
        if any(chosen_spans[i][0] < chosen_spans[i - 1][1] for i in range(1, len(chosen_spans))):
            taken: set[int] = set()
            chosen_spans = []
            for start, end in sorted(by_span, key=lambda se: (se[0] - se[1], se[0])):  # longest, then leftmost
                if not taken.intersection(range(start, end)):
                    taken.update(range(start, end))
                    chosen_spans.append((start, end))
            chosen_spans.sort()
        offsets = doc.to_array([IDX, LENGTH])
        found = []
        for start, end in chosen_spans:
            begin, stop = int(offsets[start, 0]), int(offsets[end - 1, 0] + offsets[end - 1, 1])
            found.append((begin, stop, by_span[(start, end)]))
        context = {cands[0] for _, _, cands in found if len(cands) == 1}
        return [
            {"start": b, "end": e, "node_id": cands[0] if len(cands) == 1 else self._resolve(list(cands), context),
             "surface": text[b:e], "candidates": list(cands)}
            for b, e, cands in found
        ]

    def _resolve(self, candidates: list[str], context: set[str]) -> str | None:
        """The one candidate that is graph-near more of the passage's unambiguous mentions, if any."""
        scores = [(len(self._neighbourhood(c) & context), c) for c in candidates]
        scores.sort(reverse=True)
        if scores[0][0] > 0 and scores[0][0] > scores[1][0]:
            return scores[0][1]
        return None

    def _neighbourhood(self, node_id: str) -> frozenset[str]:
        near = self._near.get(node_id)
        if near is None:
            g = self.kg.g
            frontier, seen = {node_id}, {node_id}
            for _ in range(self.context_hops):
                frontier = {n for f in frontier for n in (*g.successors(f), *g.predecessors(f))} - seen
                seen |= frontier
            near = self._near[node_id] = frozenset(seen - {node_id})
        return near

    # -- streams ----------------------------------------------------------------------------------
    def link(
        self, passages: Iterable[tuple[str, str]], stats: LinkStats, *, min_mentions: int = 1,
        batch_size: int = 256, n_process: int = 1,
    ) -> Iterator[dict[str, Any]]:
        """Yield corpus records for the passages with at least ``min_mentions`` resolved mentions."""
        # The original string travels as context: rebuilding it from the Doc (doc.text) costs a Python
        # object per token, more than the matching itself.
        stream = ((text, (text, source)) for text, source in passages)
        for doc, (text, source) in self.nlp.pipe(stream, as_tuples=True, batch_size=batch_size, n_process=n_process):
            stats.passages += 1
            stats.chars += len(text)
            found = self.mentions(doc, text)
            resolved = [m for m in found if m["node_id"] is not None]
            for m in found:
                if len(m["candidates"]) > 1:
                    if m["node_id"] is None:
                        stats.ambiguous_unresolved += 1
                    else:
                        stats.ambiguous_resolved += 1
            self._count_unlinked(text, found, stats)
            if len(resolved) < min_mentions:
                stats.dropped_few_mentions += 1
                continue
            stats.kept += 1
            stats.mentions += len(resolved)
            stats.mentioned.update(m["node_id"] for m in resolved)
            yield {"text": text, "source": source, "kind": "linked", "mentions": found}

    @staticmethod
    def _count_unlinked(text: str, found: list[dict[str, Any]], stats: LinkStats) -> None:
        """Capitalised phrases not at a sentence start and not linked: candidates for new synonyms."""
        for match in _CAPITALISED.finditer(text):
            begin, end = match.span()
            if any(m["start"] < end and begin < m["end"] for m in found):
                continue
            words = match.group().split()
            before = text[:begin].rstrip()
            if not before or before[-1] in _SENTENCE_END:  # the first word is capitalised as a sentence start
                words = words[1:]
            if words:
                stats.unlinked[" ".join(words)] += 1
        stats.prune()
