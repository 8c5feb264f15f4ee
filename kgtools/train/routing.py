"""ESFT's expert selection from routing statistics, and the routing files of a train artifact (the statistics
themselves are kgtools.routing, which evaluation reads too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kgtools.board import share_panel
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


def given_experts(stats: RoutingStats, experts: dict[int, list[int]]) -> dict[int, list[int]]:
    """``train.esft.experts`` checked against the model (its MoE layers and expert count): every MoE layer gets
    an entry, [] where none is given (that layer's routed experts stay frozen)."""
    from kgtools.errors import ConfigError

    layers = sorted(stats.counts)
    outside = sorted(set(experts) - set(layers))
    if outside:
        raise ConfigError(f"train.esft.experts: layer {outside[0]} is not an MoE layer of the model (MoE layers: "
                          f"{', '.join(map(str, layers))})")
    too_big = [(layer, e) for layer, ids in experts.items() for e in ids if e >= stats.experts]
    if too_big:
        raise ConfigError(f"train.esft.experts: layer {too_big[0][0]} names expert {too_big[0][1]}; the model has "
                          f"{stats.experts} routed experts per layer (0 to {stats.experts - 1})")
    return {layer: sorted(experts.get(layer, [])) for layer in layers}


def disjoint_experts(stats: dict[str, RoutingStats], *, score: str = "token_share",
                     top_p: float = 0.2) -> dict[str, dict[int, list[int]]]:
    """Per domain, ESFT's expert choice made disjoint across domains: in each MoE layer each expert belongs to
    the domain whose tokens use it most (its share of the domain's routing, ``score``; a tie goes to the domain
    named first), and each domain takes its own experts, highest first, until their cumulative score reaches
    ``top_p`` (or it runs out of experts: a domain may own none in a layer). Give the result to
    ``train.esft.experts`` of each domain's training."""
    names = list(stats)
    layers = sorted(set.intersection(*(set(s.counts) for s in stats.values())))
    out: dict[str, dict[int, list[int]]] = {name: {} for name in names}
    for layer in layers:
        values = np.stack([stats[n].share(layer) if score == "token_share" else stats[n].gate_score(layer) for n in names])
        owner = np.argmax(values, axis=0)  # first maximum: ties go to the domain named first
        for d, name in enumerate(names):
            own = [int(e) for e in np.argsort(-values[d], kind="stable") if owner[e] == d]
            total, keep = 0.0, []
            for e in own:
                if total >= top_p - 1e-12:
                    break
                keep.append(e)
                total += float(values[d][e])
            out[name][layer] = sorted(keep)
    return out


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
        share_panel(fig, ax, [r for r in rows if r["when"] == when], f"{title}: {when}")
    fig.tight_layout()
    fig.savefig(folder / "routing.png", dpi=110)
