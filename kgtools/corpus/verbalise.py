"""The graph said in prose: one passage per concept (or several, phrased and ordered differently) with its
definition, its place in the hierarchy, its other names and each of its relations as a sentence.

Every sentence comes from a template, so the mentions it contains (the concept and the concepts it is
related to) are known exactly, with character offsets."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

from kgtools.graph.model import CONCEPT_KINDS, IS_A, NOT_FACTS, KnowledgeGraph, stated
from kgtools.graph.templates import TemplateBook, capitalise, render

_ARTICLES = ("a ", "an ", "the ")

SYNONYM_TEMPLATES = (
    "{subject} is also called {names}.",
    "Other names for {subject} are {names}.",
    "{subject} is also known as {names}.",
)
CHILDREN_TEMPLATES = (
    "Kinds of {subject} include {names}.",
    "Examples of {subject} are {names}.",
    "{subject} comprises several kinds, among them {names}.",
)


def _rng(seed: int, node_id: str, variant: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{node_id}\x00{variant}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _list_sentence(template: str, subject: tuple[str, str], items: list[tuple[str, str]]) -> tuple[str, list[dict]]:
    """A sentence listing several named things, with a mention for each."""
    head, tail = template.split("{names}")
    text, mentions = render(head + "\x00" + tail, {"subject": subject})
    cut = text.index("\x00")
    pieces, listed, pos = [], [], cut
    for i, (surface, node_id) in enumerate(items):
        sep = "" if i == 0 else (" and " if i == len(items) - 1 else ", ")
        pos += len(sep)
        if node_id is not None:
            listed.append({"start": pos, "end": pos + len(surface), "node_id": node_id, "surface": surface})
        pieces.append(sep + surface)
        pos += len(surface)
    joined = "".join(pieces)
    shift = len(joined) - 1
    mentions = [m if m["start"] < cut else {**m, "start": m["start"] + shift, "end": m["end"] + shift} for m in mentions]
    return text[:cut] + joined + text[cut + 1:], mentions + listed


def _lower_first(text: str) -> str:
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def _definition_sentence(label: str, definition: str, node_id: str, rng: random.Random) -> tuple[str, list[dict]]:
    text = definition.strip()
    if not text.endswith((".", "!", "?")):
        text += "."
    if text.lower().startswith(_ARTICLES):
        rest = " is " + _lower_first(text)
    else:
        rest = rng.choice((": " + text, " is defined as " + _lower_first(text)))
    sentence = capitalise(label + rest)
    return sentence, [{"start": 0, "end": len(label), "node_id": node_id, "surface": sentence[: len(label)]}]


def concept_passages(
    kg: KnowledgeGraph, node_id: str, book: TemplateBook, *, paraphrases: int = 1, seed: int = 0,
    include_incoming: bool = True,
) -> Iterator[dict[str, Any]]:
    """Yield ``paraphrases`` passages about one node: variant 0 in natural order (definition, parents,
    other names, relations), later variants with other phrasings and the sentences after the first shuffled."""
    node = kg.g.nodes[node_id]
    label = node.get("label")
    if not label:
        return
    me = (label, node_id)
    outgoing = [r for r in kg.relations(node_id, "out") if r["rel"] not in NOT_FACTS and stated(r["qualifier"])]
    incoming = [r for r in kg.relations(node_id, "in") if r["rel"] not in NOT_FACTS and r["rel"] != IS_A
                and stated(r["qualifier"])] if include_incoming else []
    children = [(kg.label(c), c) for c in kg.children(node_id) if kg.g.nodes[c].get("label")]
    synonyms = [(s, None) for s in node.get("synonyms") or ()]

    for variant in range(paraphrases):
        rng = _rng(seed, node_id, variant)
        sentences: list[tuple[str, list[dict]]] = []
        if node.get("definition"):
            sentences.append(_definition_sentence(label, node["definition"], node_id, rng))
        for edge in outgoing:
            other = kg.g.nodes[edge["dst"]].get("label")
            if other:
                template = rng.choice(book.get(edge["rel"]).statements)
                sentences.append(render(template, {"subject": me, "object": (other, edge["dst"])}))
        if synonyms:
            sentences.append(_list_sentence(rng.choice(SYNONYM_TEMPLATES), me, synonyms[:6]))
        if children:
            picked = children if len(children) <= 8 else rng.sample(children, 8)
            sentences.append(_list_sentence(rng.choice(CHILDREN_TEMPLATES), me, sorted(picked)))
        for edge in incoming:
            other = kg.g.nodes[edge["src"]].get("label")
            if other:
                template = rng.choice(book.get(edge["rel"]).statements)
                sentences.append(render(template, {"subject": (other, edge["src"]), "object": me}))
        if not sentences:
            continue
        if variant > 0 and len(sentences) > 2:
            rest = sentences[1:]
            rng.shuffle(rest)
            sentences = sentences[:1] + rest
        yield _join_sentences(sentences, f"kg:{node_id}#{variant}")


def _join_sentences(sentences: list[tuple[str, list[dict]]], source: str) -> dict[str, Any]:
    parts, mentions, offset = [], [], 0
    for text, ms in sentences:
        if parts:
            offset += 1  # the space between sentences
        parts.append(text)
        mentions.extend({**m, "start": m["start"] + offset, "end": m["end"] + offset, "candidates": [m["node_id"]]}
                        for m in ms)
        offset += len(text)
    return {"text": " ".join(parts), "source": source, "kind": "verbalised", "mentions": mentions}


def verbalise(
    kg: KnowledgeGraph, book: TemplateBook, *, paraphrases: int = 1, seed: int = 0, include_incoming: bool = True,
) -> Iterator[dict[str, Any]]:
    """Passages for every labelled concept and individual, in id order."""
    for node_id in kg.nodes([*CONCEPT_KINDS, "individual"]):
        yield from concept_passages(kg, node_id, book, paraphrases=paraphrases, seed=seed,
                                    include_incoming=include_incoming)
