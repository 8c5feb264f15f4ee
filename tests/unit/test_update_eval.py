"""Update evaluation: stage names that do not collide, the splits read by default, locality from per-example
outcomes and the update figures of one model."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgtools.artifacts import Artifact
from kgtools.config import EvalConfig, parse_config
from kgtools.errors import ConfigError
from kgtools.evaluate.stage import EvalInputError, eval_splits, stage_labels
from kgtools.evaluate.update import locality, per_model, routing_drift


def _art(stage: str, *inputs: str) -> Artifact:
    return Artifact(Path("/nowhere"), {"stage": stage, "key": "k", "inputs": {i: "x" for i in inputs}})


def test_update_stages_are_named_apart_from_the_old_chain():
    arts = [_art("train/kg_sft", "synth:a"), _art("train/reinforce", "synth:a", "parent"),
            _art("train/kg_sft", "synth_update:b", "parent"), _art("train/reinforce", "synth_update:b", "parent"),
            _art("train/reinforce", "synth:c")]
    assert stage_labels(arts) == ["kg_sft", "reinforce", "update/kg_sft", "update/reinforce", "reinforce#2"]


def test_default_splits_follow_the_data():
    cfg = EvalConfig()
    assert eval_splits(cfg, _art("synth"), ["train", "test_paraphrase"]) == [
        "test_paraphrase", "test_novel_template", "test_heldout"]
    # a release that corrected nothing has no test_removed: the update splits it has
    assert eval_splits(cfg, _art("synth_update"), ["train", "test_changed", "test_locality_far"]) == [
        "test_changed", "test_locality_far"]
    with pytest.raises(EvalInputError, match="without an evaluation split"):
        eval_splits(cfg, _art("synth_update"), ["train"])
    assert eval_splits(EvalConfig(splits=["test_changed"]), _art("synth"), []) == ["test_changed"]
    with pytest.raises(ConfigError, match="unknown split 'test_chnged'"):
        parse_config(EvalConfig, {"splits": ["test_chnged"]}, prefix="evaluate")


def _o(model, split, id_, ok, asked="open", says_old=None, prefers_old=None):
    return {"model": model, "split": split, "id": id_, "task": "fact_qa", "asked": asked, "ok": ok,
            "says_old": says_old, "prefers_old": prefers_old}


def test_locality_counts_only_what_was_right_before():
    outcomes = [_o("old", "test_locality_near", "a", True), _o("old", "test_locality_near", "b", True),
                _o("old", "test_locality_near", "c", False), _o("new", "test_locality_near", "a", True),
                _o("new", "test_locality_near", "b", False), _o("new", "test_locality_near", "c", True),
                _o("new", "test_locality_far", "a", True)]
    assert locality(outcomes, "old", "new", "test_locality_near") == {"right_before": 2, "kept": 1, "share": 0.5}
    assert locality(outcomes, "old", "new", "test_locality_far")["share"] is None  # nothing right before: no share


def test_stale_and_removal_rates_of_one_model():
    yes_no = {"true": 4, "acceptance_of_true": 0.75}
    split = {"mcq": {"accuracy": 1.0}, "open_em": 0.5, "yes_no": yes_no, "accuracy": 0.6}
    results = {"new": {"test_changed": split, "test_removed": split, "retention": {"perplexity": 12.345}}}
    outcomes = [_o("new", "test_changed", "q1", True, says_old=False, prefers_old=False),
                _o("new", "test_changed", "q2", False, says_old=True, prefers_old=True),
                _o("new", "test_changed", "q3", False, says_old=False, prefers_old=True),
                _o("new", "test_changed", "q4", True),  # no corrected object: not a stale question
                _o("new", "test_removed", "s1", True, asked="yes_no"), _o("new", "test_removed", "s2", False, asked="yes_no"),
                _o("old", "test_changed", "q1", False, says_old=True, prefers_old=True)]
    m = per_model(results, outcomes, "new")
    assert (m["stale_n"], m["stale_said"], m["stale_preferred"]) == (3, 0.3333, 0.6667)
    assert (m["removal_n"], m["removal"]) == (2, 0.5)
    assert (m["acceptance_of_true"], m["true_n"]) == (0.75, 4)  # the true statements of test_changed only
    assert (m["efficacy_mcq"], m["efficacy_open_em"], m["efficacy_n"]) == (1.0, 0.5, 4)
    assert m["portability"] is None and m["perplexity"] == 12.35


def test_routing_drift_is_zero_for_the_same_load_and_one_for_disjoint_experts():
    same = {"changed": {0: [0.5, 0.5, 0.0, 0.0]}, "unchanged": {0: [0.25, 0.25, 0.25, 0.25], 1: [1.0, 0, 0, 0]}}
    moved = {"changed": {0: [0.0, 0.0, 0.5, 0.5]}, "unchanged": {0: [0.25, 0.25, 0.25, 0.25], 1: [1.0, 0, 0, 0]}}
    assert routing_drift(same, same) == {"changed": 0.0, "unchanged": 0.0}
    assert routing_drift(same, moved) == {"changed": 1.0, "unchanged": 0.0}
    assert routing_drift(None, moved) is None  # a dense model has no routing to compare
