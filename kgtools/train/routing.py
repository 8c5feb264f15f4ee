"""ESFT's expert selection from routing statistics, and the routing files of a train artifact (the statistics
themselves are kgtools.routing, which evaluation reads too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kgtools.routing import RoutingStats


def select_experts(stats: RoutingStats, *, score: str, top_p: float) -> dict[int, list[int]]:
    """ESFT's choice: per layer, the highest-scoring experts until their cumulative (layer-normalised) score
    reaches ``top_p`` — at least one expert per layer."""
    chosen: dict[int, list[int]] = {}
    for layer in sorted(stats.counts):
        values = stats.share(layer) if score == "token_share" else stats.gate_score(layer)
        order = np.argsort(-values, kind="stable")
        total, keep = 0.0, []
        for e in order:
            keep.append(int(e))
            total += float(values[e])
            if total >= top_p - 1e-12:
                break
        chosen[layer] = sorted(keep)
    return chosen


def write_routing(rows: list[dict[str, Any]], folder: Path, title: str) -> None:
    """``routing.parquet`` and ``routing.png`` (token share per layer × expert, one panel per moment)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), folder / "routing.parquet")
    moments = list(dict.fromkeys(r["when"] for r in rows))
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    fig = Figure(figsize=(4.5 * len(moments), 3))
    axes = fig.subplots(1, len(moments), squeeze=False)
    for ax, when in zip(axes[0], moments, strict=True):
        sel = [r for r in rows if r["when"] == when]
        layers = sorted({r["layer"] for r in sel})
        experts = max(r["expert"] for r in sel) + 1
        grid = np.zeros((len(layers), experts))
        for r in sel:
            grid[layers.index(r["layer"]), r["expert"]] = r["share"]
        im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0)
        ax.set_yticks(range(len(layers)), [str(x) for x in layers])
        ax.set_xlabel("expert")
        ax.set_ylabel("layer")
        ax.set_title(f"{title}: {when}")
        fig.colorbar(im, ax=ax, label="token share")
    fig.tight_layout()
    fig.savefig(folder / "routing.png", dpi=110)
