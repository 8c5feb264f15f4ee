"""English helpers: identifiers into words, articles by sound, markup removed, comments that are notes."""

from __future__ import annotations

import sys

import pytest

from kgtools.graph import english as E


@pytest.mark.parametrize(("text", "words"), [
    ("MusicEvent", ["music", "event"]),
    ("startDate", ["start", "date"]),
    ("has_symptom", ["has", "symptom"]),
    ("hasCDOOriginationObjective", ["has", "CDO", "origination", "objective"]),
    ("mRNA", None), ("pH", None), ("iPhone", None), ("influenza", None), ("X-ray", None), ("dry cough", None),
    ("co-maker", None), ("long-term", None), ("HbA1c", None),
])
def test_split_identifier(text, words):
    assert E.split_identifier(text) == words


@pytest.mark.parametrize(("phrase", "expected"), [
    ("hour", "an"), ("university", "a"), ("MRI scan", "an"), ("FDA approval", "an"), ("symptom", "a"),
    ("input", "an"), ("user", "a"), ("8-K filing", "an"), ("SEC filing", "an"), ("euro", "a"), ("one", "a"),
])
def test_article_by_sound(phrase, expected):
    assert E.article(phrase) == expected


def test_morphology_comes_from_lemminflect():
    assert E.verb_lemma("immunizes") == "immunize"
    assert E.verb_lemma("identifies") == "identify"
    assert E.verb_lemma("disease") is None
    assert E.past_participle("identify") == "identified"
    assert E.participle_lemma("caused") == "cause"
    assert E.singular("uses") == "use" and E.singular("criteria") == "criterion" and E.singular("HIV") == "HIV"


def test_lemminflect_does_not_drag_in_torch():
    import subprocess

    code = ("import sys; from kgtools.graph import english as E; E.verb_lemma('treats'); "
            "print('torch' in sys.modules, 'spacy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_clean_text_strips_markup():
    assert E.clean_text("A <b>viral</b> [[Infection|infection]] of the [lung](https://x.org/lung).") == \
        "A viral infection of the lung."
    assert E.clean_text("Fever &amp; chills  \n seen") == "Fever & chills seen"


def test_clean_text_reads_relation_identifiers_in_prose_as_words():
    """DOID writes logical definitions with relation names ("has_material_basis_in"); a reader sees words.
    Symbols, CURIEs and URLs keep their underscores."""
    assert E.clean_text("A bartonellosis that has_material_basis_in Bartonella henselae, which results_in "
                        "infection located_in lymph node.") == ("A bartonellosis that has material basis in "
                                                               "Bartonella henselae, which results in infection "
                                                               "located in lymph node.")
    for kept in ("TP53_HUMAN is a protein.", "See obo:has_part and http://e.org/a_b_c for more."):
        assert E.clean_text(kept) == kept


@pytest.mark.parametrize(("comment", "is_definition"), [
    ("A disease caused by a virus of the family Orthomyxoviridae.", True),
    ("Product Name: Fluzone High-Dose", False),
    ("See also the other term.", False),
    ("Imported from MeSH.", False),
    ("Short note", False),
    ("https://example.org/page", False),
])
def test_reads_like_definition(comment, is_definition):
    assert E.reads_like_definition(comment) is is_definition


@pytest.mark.parametrize(("label", "joined"), [
    ("c d o securitization process", "CDO securitization process"),
    ("pass through m b s securitization process", "pass through MBS securitization process"),
    ("a b s securitization process", "ABS securitization process"),
    ("vitamin a", None), ("type a b", None), ("influenza", None), ("x-ray", None),
])
def test_join_spelled_acronyms(label, joined):
    assert E.join_spelled_acronyms(label) == joined
