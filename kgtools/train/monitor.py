"""Watching a training stage while it runs: transformers' ``report_to`` integrations, and with TensorBoard the
experts' routing as it changes — per MoE layer, every logging step, over the tokens of the steps since the
last one: the share of experts used, the busiest expert's load (1 = balanced), the load entropy and the router
entropy (both normalised to [0, 1]) — and the routing heat maps (before and after the stage) as images.
The event files are written under the stage artifact (``tensorboard/``): ``tensorboard --logdir artifacts``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from kgtools.board import writer_for
from kgtools.routing import RoutingRecorder, RoutingStats


def layer_scalars(stats: RoutingStats) -> dict[str, float]:
    """``routing/layer_<i>/<name>`` → value, for each MoE layer that routed tokens."""
    out: dict[str, float] = {}
    for layer in sorted(stats.counts):
        share = stats.share(layer)
        if share.sum() <= 0:
            continue
        used = share[share > 0]
        out[f"routing/layer_{layer}/experts_used"] = float(len(used) / stats.experts)
        out[f"routing/layer_{layer}/max_load"] = float(share.max() * stats.experts)
        out[f"routing/layer_{layer}/load_entropy"] = float(-(used * np.log(used)).sum() / math.log(stats.experts))
        if layer in stats.entropy:
            out[f"routing/layer_{layer}/router_entropy"] = stats.entropy[layer] / max(stats.tokens[layer], 1)
    return out


def callbacks(reporters: list[str], folder: Path, model) -> tuple[list[Any], list[str], Any]:
    """(callbacks for the trainer, what is left for ``TrainingArguments.report_to``, the TensorBoard writer or
    None). TensorBoard gets a writer under ``folder`` (transformers' own callback, given the writer) and the
    routing callback; any other integration is passed through to transformers."""
    others = [r for r in reporters if r != "tensorboard"]
    if "tensorboard" not in reporters:
        return [], others, None
    from transformers.integrations import TensorBoardCallback

    writer = writer_for(folder)
    return [TensorBoardCallback(tb_writer=writer), routing_callback(model, writer)], others, writer


def routing_callback(model, writer):
    """A trainer callback that records the routers during training (forward hooks that leave routing unchanged)
    and writes :func:`layer_scalars` at every logging step (main process only), then starts a new window."""
    from transformers import TrainerCallback

    class Routing(TrainerCallback):
        recorder: RoutingRecorder | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.recorder = RoutingRecorder(model).__enter__()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.recorder is None:
                return
            for name, value in layer_scalars(self.recorder.stats).items():
                writer.add_scalar(name, value, state.global_step)
            self.recorder.stats = RoutingStats(self.recorder.stats.experts)

        def on_train_end(self, args, state, control, **kwargs):
            if self.recorder is not None:
                self.recorder.__exit__(None, None, None)
                self.recorder = None
            writer.flush()

    return Routing()
