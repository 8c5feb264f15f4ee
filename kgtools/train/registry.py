"""The training stages by name. Each is a module with the same members, so the stage runner
(:mod:`kgtools.train.stage`) never dispatches on a stage's name:

- ``OBJECTIVE``: what ``measure`` returns (the stage's own held-out objective, before and after training);
- ``REQUIRES``: the stages whose adapter it must start from (empty: the first stage, which starts from the base),
  and ``REQUIRES_WHY``, said when that is missing;
- ``READS``: the splits of the instruction data it trains on;
- ``prepare(train, heldout, tokenizer, opt, seed=)`` → (training rows, held-out rows, data report);
- ``measure(model, heldout_rows, tokenizer, opt)``;
- ``make_trainer(model, rows, tokenizer, opt, work, **kwargs)``: a transformers/TRL trainer.

A new stage is its module, its line here, and its settings (``train.<stage>``) in :mod:`kgtools.config`, whose
``TRAIN_STAGES`` (the order stages run in) must name the same stages (a test checks)."""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {
    "kg_sft": "kgtools.train.kg_sft",
    "distill": "kgtools.train.distill",
    "reinforce": "kgtools.train.reinforce",
}


def stage_module(name: str) -> ModuleType:
    return importlib.import_module(MODULES[name])
