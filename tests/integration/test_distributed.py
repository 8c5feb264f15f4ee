"""Training under several processes (issue 16, item 3): ``accelerate launch`` with two CPU processes (DDP over
gloo; FSDP needs GPUs in accelerate's launcher) against one process with the same global batch, for kg_sft and
for distill from the same kg_sft artifact. Every process trains; only the main process writes the artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kgtools.artifacts import ArtifactStore
from kgtools.config import KgConfig, SynthConfig
from kgtools.graph.stage import build_kg
from kgtools.synth.stage import synthesize

from ..conftest import BUNDLED

pytestmark = pytest.mark.slow
TOLERANCE = 0.02  # relative; the per-process loss is a mean over that process's answer tokens, so a logged
# step loss (the mean of the two processes' means) differs slightly from one process's mean over all tokens


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    store = ArtifactStore(tmp_path_factory.mktemp("data") / "artifacts")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store).artifact
    return synthesize(SynthConfig(), kg, store).artifact


def _train(tmp: Path, data: Path, store: Path, stage: str, *, processes: int, batch: int, parent: Path | None = None):
    config = tmp / f"{stage}-{processes}.yaml"
    config.write_text(yaml.safe_dump({"train": {
        "model": "tiny-deepseek-moe", "vocab_size": 1024, "routing_sample": 16, "stages": [stage],
        stage: {"max_steps": 8, "max_examples": 240, "lr": 2e-3, "batch_size": batch}}}), "utf-8")
    launch = ([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
              if processes > 1 else [sys.executable])
    args = [*launch, "-m", "kgtools.cli", "train", "--data", str(data), "--artifacts", str(store), "--config", str(config)]
    if parent is not None:
        args += ["--from", str(parent)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(args, capture_output=True, text=True, cwd=tmp, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    folders = [p for p in (store / "train" / stage).iterdir() if p.name != "LATEST"]
    assert len(folders) == 1, folders  # one artifact: no second rank's copy, no scratch or temporary folder left
    return folders[0], json.loads((folders[0] / "metrics.json").read_text("utf-8"))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * abs(b)


def test_two_processes_train_as_one_with_the_same_global_batch(synth_data, tmp_path):
    one_sft, one = _train(tmp_path, synth_data.path, tmp_path / "one", "kg_sft", processes=1, batch=16)
    two_sft, two = _train(tmp_path, synth_data.path, tmp_path / "two", "kg_sft", processes=2, batch=8)
    assert _close(two["first_loss"], one["first_loss"]), (two, one)
    assert _close(two["after"], one["after"]), (two, one)  # held-out answer cross-entropy of the trained model
    assert two["after"] < two["before"] - 0.3
    steps = json.loads((two_sft / "manifest.json").read_text("utf-8"))["counts"]["steps"]
    assert steps == 8
    # distill from the same kg_sft model, one process against two
    _, one_d = _train(tmp_path, synth_data.path, tmp_path / "one", "distill", processes=1, batch=16, parent=one_sft)
    _, two_d = _train(tmp_path, synth_data.path, tmp_path / "two", "distill", processes=2, batch=8, parent=one_sft)
    assert _close(two_d["before"], one_d["before"]), (two_d, one_d)  # same model, same held-out rows
    assert _close(two_d["first_loss"], one_d["first_loss"]), (two_d, one_d)
    assert _close(two_d["after"], one_d["after"]), (two_d, one_d)
