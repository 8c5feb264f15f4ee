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
        ("has delegated control of", "{subject} has delegated control of {object}.",
         "What does {subject} have delegated control of?", "What has delegated control of {object}?"),
        # every verb of a coordinated label inflected, by lemminflect (not cut: "immuniz", "identify and records")
        ("identifies and records", "{subject} identifies and records {object}.", "What does {subject} identify and record?",
         "What identifies and records {object}?"),
        # a label that ends in its range's name: the name becomes the question's noun
        ("immunizes against disease", "{subject} immunizes against {object}.",
         "Which disease does {subject} immunize against?", "What immunizes against {object}?"),
        ("immunizes recipient", "{subject} immunizes the recipient {object}.", "Which recipient does {subject} immunize?",
         "What immunizes the recipient {object}?"),
        ("is linked to account", "{subject} is linked to {object}.", "Which account is {subject} linked to?",
         "What is linked to {object}?"),
        # a noun label: singular, with its article by sound
        ("therapeutic uses", "{subject} has {object} as a therapeutic use.", "What is a therapeutic use of {subject}?",
         "What has {object} as a therapeutic use?"),
        ("has additional information", "{subject} has {object} as additional information.",
         "What is additional information of {subject}?", "What has {object} as additional information?"),
        ("is an instrument of", "{subject} is an instrument of {object}.", "What is {subject} an instrument of?",
         "What is an instrument of {object}?"),
        # identifiers read as words, acronyms kept as written
        ("hasCDOOriginationObjective", "{subject} has {object} as a CDO origination objective.",
         "What is a CDO origination objective of {subject}?", "What has {object} as a CDO origination objective?"),
        ("startDate", "{subject} has {object} as a start date.", "What is a start date of {subject}?",
         "What has {object} as a start date?"),
        # a verb lemminflect does not know (here a typo in FIBO) is said as written, never cut
        ("facililtates remarketing", "{subject} facililtates remarketing {object}.",
         "{subject} facililtates remarketing what?", "What facililtates remarketing {object}?"),
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


def test_no_filler_statements_and_passive_forms():
    """No "It is stated that …"; a passive label gets its active form, a plain verb its passive one."""
    caused = derive("caused by")
    assert caused.statements == ("{subject} is caused by {object}.", "{object} causes {subject}.")
    assert derive("regulates").statements == ("{subject} regulates {object}.", "{object} is regulated by {subject}.")
    for label in ("is represented by", "covers discipline", "applies to", "has part", "located in"):
        assert not any("stated" in t for t in derive(label).statements), label


def test_definite_descriptions_follow_the_phrasing():
    from kgtools.graph.templates import definite_description

    assert definite_description("immunizes against disease", "X", "thing") == "the disease that X immunizes against"
    assert definite_description("has symptom", "X", "thing") == "the symptom of X"
    assert definite_description("treated by", "X", "drug") == "the drug that X is treated by"
    assert definite_description("is a", "X", "thing") == "the broader class of X"


def test_stored_phrasing_reads_as_derived_and_stale_tables_are_ignored():
    """The kg artifact stores each relation's phrasing (phrasing.json) so that synth and corpus need not load
    the morphology tables; a table gives exactly what deriving gives, and one from other code is not used."""
    from kgtools.graph.templates import phrasing_table

    labels = {"ex:imm": "immunizes against disease", "med:hasSymptom": "has symptom", "ex:tb": "treated by"}
    table = phrasing_table(labels)
    stored, derived = TemplateBook(labels, phrasing=table), TemplateBook(labels)
    for rel in labels:
        assert stored.get(rel) == derived.get(rel)
        assert stored.description(rel, "X", "drug") == derived.description(rel, "X", "drug")
    assert stored.description("ex:imm", "X", "thing") == "the disease that X immunizes against"
    table["relations"]["ex:tb"]["statements"] = ["{subject} was stored by {object}."]
    assert TemplateBook(labels, phrasing=table).get("ex:tb").statements == ("{subject} was stored by {object}.",)
    stale = {**table, "code": "0" * 16}
    assert TemplateBook(labels, phrasing=stale).get("ex:tb") == derived.get("ex:tb")
    relabelled = TemplateBook({**labels, "ex:tb": "treats"}, phrasing=table)
    assert relabelled.get("ex:tb").statements[0] == "{subject} treats {object}."
