"""TensorBoard event files inside artifacts (training stages and evaluations write them when the
``tensorboard`` extra is installed): a writer, and the expert-routing heat maps as images."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

TENSORBOARD_DIR = "tensorboard"  # inside an artifact: `tensorboard --logdir artifacts` shows every run


def available() -> bool:
    return find_spec("tensorboard") is not None


def writer_for(folder: Path):
    """A TensorBoard ``SummaryWriter`` writing into ``folder`` (created)."""
    from torch.utils.tensorboard import SummaryWriter

    folder.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(folder))


def share_panel(fig, ax, rows: list[dict[str, Any]], title: str) -> None:
    """One routing heat map on ``ax``: layer × expert token share of ``rows`` (routing.parquet rows of one moment).
    The training artifact's routing.png and the TensorBoard images draw the same panel."""
    layers = sorted({r["layer"] for r in rows})
    grid = np.zeros((len(layers), max(r["expert"] for r in rows) + 1))
    for r in rows:
        grid[layers.index(r["layer"]), r["expert"]] = r["share"]
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0)
    ax.set_yticks(range(len(layers)), [str(x) for x in layers])
    ax.set_xlabel("expert")
    ax.set_ylabel("layer")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="token share")


def add_heatmaps(writer, rows: list[dict[str, Any]], tag: str, step: int = 0) -> None:
    """The routing heat maps (layer × expert token share, one per ``when`` of ``rows``: before, after, a model)
    as TensorBoard images ``routing/<tag>/<when>`` (training and evaluation both write them)."""
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    for when in dict.fromkeys(r["when"] for r in rows):
        fig = Figure(figsize=(5, 3))
        share_panel(fig, fig.subplots(), [r for r in rows if r["when"] == when], f"{tag}: {when}")
        fig.tight_layout()
        writer.add_figure(f"routing/{tag}/{when}", fig, global_step=step)
    writer.flush()
