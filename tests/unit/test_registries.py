"""The synth task registry: the config's task names and default weights come from it, every task's generator
resolves, and the generation order (which fixes artifacts' content) is a total order over the tasks."""

from __future__ import annotations

from kgtools.config import TASKS, SynthConfig, TasksConfig
from kgtools.synth.registry import TASKS as SPECS
from kgtools.synth.registry import generation_order, generator


def test_config_derives_tasks_from_the_registry():
    assert TASKS == tuple(SPECS) and list(TasksConfig.model_fields) == list(SPECS)
    assert SynthConfig().tasks.active() == {name: spec.weight for name, spec in SPECS.items()}


def test_every_generator_resolves_and_the_order_is_total():
    assert sorted(spec.rank for spec in SPECS.values()) == list(range(len(SPECS)))
    assert generation_order()[:3] == ["fact_qa", "inverse_qa", "definition"]
    for name in SPECS:
        assert callable(generator(name))
