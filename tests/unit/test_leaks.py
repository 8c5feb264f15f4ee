"""The leak check of the synth stage and its audit: the audit counts evaluation prompts found among the training
prompts in the files as written (so the synth tests' `test_prompts_in_train == 0` can fail), and the guard drops
such a prompt while generating."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from kgtools.synth.generate import leak_check
from kgtools.synth.stage import leaked_prompts


def _write(folder, split, prompts):
    pq.write_table(pa.table({"prompt": prompts, "answer": ["x"] * len(prompts)}), folder / f"{split}.parquet")


def test_audit_counts_a_planted_leak(tmp_path):
    _write(tmp_path, "train", ["What is asthma?", "What treats gout?"])
    _write(tmp_path, "preference", ["Is gout a bone disease?"])
    _write(tmp_path, "test_paraphrase", ["What is asthma?", "Name a treatment of gout.", "Is gout a bone disease?"])
    _write(tmp_path, "test_heldout", ["What is eczema?"])
    splits = ["train", "preference", "test_paraphrase", "test_heldout"]
    assert leaked_prompts(tmp_path, splits) == 2
    _write(tmp_path, "test_paraphrase", ["Name a treatment of gout."])
    assert leaked_prompts(tmp_path, splits) == 0


def test_guard_drops_an_evaluation_prompt_seen_in_training():
    rows = [{"split": "train", "prompt": "What is asthma?", "template_id": "t1"},
            {"split": "test_paraphrase", "prompt": "What is asthma?", "template_id": "t2"},
            {"split": "test_paraphrase", "prompt": "Define asthma.", "template_id": "t1"},
            {"split": "test_heldout", "prompt": "What is eczema?", "template_id": "t3"}]
    kept, report = leak_check(rows)
    assert [r["prompt"] for r in kept] == ["What is asthma?", "Define asthma.", "What is eczema?"]
    assert report["dropped_as_leaks"] == {"test_paraphrase": 1}
    assert report["template_seen_in_train_share"] == {"test_heldout": 0.0, "test_paraphrase": 1.0}
