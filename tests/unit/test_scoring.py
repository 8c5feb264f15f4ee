"""Scoring of model answers: normalisation, synonyms, lists, reasoning chains, true/false."""

from __future__ import annotations

from kgtools.evaluate.scoring import (
    contains_match,
    exact_match,
    final_answer,
    list_match,
    normalise,
    truth_value,
)


def test_normalise_folds_case_accents_punctuation_articles():
    assert normalise("  The Guillain–Barré Syndrome. ") == "guillain barre syndrome"
    assert normalise("an ACE-inhibitor") == "ace inhibitor"


def test_exact_match_accepts_any_synonym_and_nothing_more():
    aliases = ["fever", "pyrexia", "high temperature"]
    assert exact_match("Pyrexia.", aliases)
    assert exact_match("the high temperature", aliases)
    assert not exact_match("fever and cough", aliases)
    assert not exact_match("", aliases)
    assert contains_match("fever and cough", aliases)
    assert not contains_match("feverish", aliases)  # whole words only


def test_reasoning_chain_is_scored_on_its_final_answer():
    said = "Acyclovir is a kind of antiviral drug. Antiviral drug is a kind of drug. So the answer is drug."
    assert final_answer(said) == "drug"
    assert exact_match(said, ["drug", "medication"])
    assert not exact_match("So the answer is antiviral drug.", ["drug"])


def test_lists_are_sets_of_synonym_groups():
    gold = [["fever", "pyrexia"], ["otalgia", "ear pain"]]
    assert list_match("fever and otalgia", gold) == (True, True)
    assert list_match("ear pain, pyrexia", gold) == (True, True)
    assert list_match("fever", gold) == (False, False)
    assert list_match("fever, otalgia and cough", gold) == (False, True)


def test_truth_values():
    assert truth_value("True") is True and truth_value("yes.") is True
    assert truth_value("False") is False and truth_value("No, it is not") is False
    assert truth_value("maybe") is None and truth_value("") is None


def test_an_answer_naming_every_object_of_a_several_valued_fact_is_right():
    """'What is a symptom of osteoarthritis?' taught as 'arthralgia and joint stiffness': that answer, either
    symptom alone, or both in another order are right; a symptom and a wrong one is not."""
    from kgtools.evaluate.scoring import score_open as _score_open

    ex = {"task": "fact_qa", "template_id": "has_symptom/q0", "answer": "arthralgia and joint stiffness",
          "answer_aliases": [["arthralgia", "joint pain"], ["joint stiffness"]]}
    for said in ("arthralgia and joint stiffness", "Joint stiffness", "joint stiffness, joint pain", "joint pain"):
        assert _score_open(ex, said)[0], said
    for said in ("arthralgia and fever", "fever", ""):
        assert not _score_open(ex, said)[0], said
