"""The synth tasks by name: what generates each task's examples, its default weight, and where it comes in the
order of generation. The config derives its allowed task names and the defaults of ``synth.tasks`` from here, and
:meth:`kgtools.synth.generate.Synthesizer.examples` runs the generators in ``rank`` order.

A generator is a function of the :class:`~kgtools.synth.generate.Synthesizer` that yields example dicts
(``syn.example(...)``): ``"module:function"``, or ``".method"`` for one of the Synthesizer's own. A new task is
its module (its generator and its test) and one line here.

This module imports nothing of the generators (the config reads it)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskSpec:
    generator: str
    weight: float  # default: the expected number of examples per eligible fact group
    rank: int  # generation order; it fixes the order of the examples in every split, so an artifact's content


# In the config's order: the training stages' default `tasks` list them so (their order enters artifact keys).
TASKS: dict[str, TaskSpec] = {
    "fact_qa": TaskSpec(".fact_qa", 1.0, 0),
    "inverse_qa": TaskSpec(".inverse_qa", 1.0, 1),
    "definition": TaskSpec(".definition", 1.0, 2),
    "synonym": TaskSpec("kgtools.synth.names:synonym_examples", 0.5, 7),
    "literal": TaskSpec("kgtools.synth.literals:literal_examples", 0.5, 8),
    "cardinality": TaskSpec("kgtools.synth.cardinality:cardinality_examples", 0.5, 10),
    "property_schema": TaskSpec("kgtools.synth.schema:schema_examples", 0.5, 11),
    "multi_hop": TaskSpec(".multi_hop", 0.5, 3),
    "diagnosis": TaskSpec("kgtools.synth.diagnosis:diagnosis_examples", 0.5, 9),
    "mcq": TaskSpec(".mcq", 1.0, 4),
    "yes_no": TaskSpec(".yes_no", 1.0, 5),
    "list": TaskSpec(".lists", 0.5, 6),
}


def generation_order() -> list[str]:
    return sorted(TASKS, key=lambda name: TASKS[name].rank)


def generator(name: str) -> Callable[[Any], Iterator[dict[str, Any]]]:
    """The function that yields task ``name``'s examples from a Synthesizer."""
    where = TASKS[name].generator
    if where.startswith("."):
        return lambda syn: getattr(syn, where[1:])()
    module, function = where.split(":")
    return getattr(importlib.import_module(module), function)
