from __future__ import annotations

import pytest

from kgtools.errors import ConfigError
from kgtools.graph.templates import BUILTIN, TemplateBook, capitalise, derive, render


@pytest.mark.parametrize(
    ("label", "statement", "question", "inverse"),
    [
        ("has input", "{subject} has {object} as an input.", "What is an input of {subject}?", "What has {object} as an input?"),
        ("is key stage of", "{subject} is a key stage of {object}.", "What is {subject} a key stage of?", "What is a key stage of {object}?"),
        ("is governed by", "{subject} is governed by {object}.", "What is {subject} governed by?", "What is governed by {object}?"),
        ("classifies", "{subject} classifies {object}.", "What does {subject} classify?", "What classifies {object}?"),
        ("exposed to", "{subject} is exposed to {object}.", "What is {subject} exposed to?", "What is exposed to {object}?"),
        ("has delegated control of", "{subject} has delegated control of {object}.", "What has delegated control of {subject}?",
         "What has delegated control of {object}?"),
    ],
)
def test_defaults_derived_from_labels(label, statement, question, inverse):
    t = derive(label)
    assert t.statements[0] == statement and t.questions[0] == question and t.inverse_questions[0] == inverse


def test_book_prefers_overrides_then_builtins_then_derived():
    book = TemplateBook({"med:hasSymptom": "has symptom", "ex:hedges": "hedges"},
                        {"hedges": {"statements": ["{subject} offsets {object}."]}})
    assert book.get("med:hasSymptom") == BUILTIN["has symptom"]
    hedges = book.get("ex:hedges")
    assert hedges.statements == ("{subject} offsets {object}.",) and hedges.source == "override"
    assert hedges.questions[0] == "What does {subject} hedge?"  # not overridden: derived


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cures": {"statements": ["{subject} cures {object}."]}}, r"templates\.cures: the graph has no relation"),
        ({"has symptom": {"questions": ["What is {thing}?"]}}, r"templates\.has symptom\.questions\[0\]: unknown placeholder \{thing\}"),
        ({"has symptom": {"statements": ["{subject} is ill."]}}, r"statements\[0\]: a statement must contain both"),
        ({"has symptom": {"phrasings": ["x"]}}, r"templates\.has symptom\.phrasings: unknown key"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TemplateBook({"med:hasSymptom": "has symptom"}, overrides)


def test_render_offsets_and_capitals():
    text, mentions = render("{object} is a symptom of {subject}.", {"subject": ("influenza", "A"), "object": ("fever", "B")})
    assert text == "Fever is a symptom of influenza."
    assert [(text[m["start"]:m["end"]], m["node_id"]) for m in mentions] == [("Fever", "B"), ("influenza", "A")]
    assert capitalise("mRNA vaccines work.") == "mRNA vaccines work."
    assert capitalise("pH is low.") == "pH is low."
