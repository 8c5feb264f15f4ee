"""Benchmark of `kg diff`: the time to diff two releases (load both kg artifacts, compare, write the table and
the summary) against the time to build their two knowledge graphs, measured in the same run (issue 14's goal:
diff ≤ 1.5× the two builds).

    python benchmarks/bench_update.py                   # DOID and MAxO releases (../shared) and a generated pair
    python benchmarks/bench_update.py --classes 50000   # a smaller generated pair (0: skip it)

The generated pair is bench_kg's generated ontology with two seeds: the same classes, labels and tree, with
different second parents and restrictions (about a tenth of is_a and every restriction differ).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
SHARED = Path(os.environ.get("KGTOOLS_SHARED_ONTOLOGIES", ROOT.parent / "shared" / "ontologies"))


def measure(old: Path, new: Path, tmp: Path) -> dict:
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig
    from kgtools.graph.stage import build_kg
    from kgtools.update.stage import build_diff

    store = ArtifactStore(tmp)
    t0 = time.perf_counter()
    a = build_kg(KgConfig(ontologies=[old]), store).artifact
    b = build_kg(KgConfig(ontologies=[new]), store).artifact
    t2 = time.perf_counter()
    diff = build_diff(a, b, store)
    t3 = time.perf_counter()
    m = diff.artifact.manifest
    return {"build_s": t2 - t0, "diff_s": t3 - t2, "rows": sum(m["counts"].values()), "timings": m["timings"],
            "counts": {k: v for k, v in m["counts"].items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=200_000, help="size of the generated pair (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        pairs = {}
        doid = SHARED / "doid"
        if doid.exists():
            pairs["DOID 2025-01 → 2026-07"] = (doid / "versions/2025-01-31/DO_infectious_disease_slim.owl",
                                               doid / "DO_infectious_disease_slim.owl")
            pairs["DOID 2025-10 → 2026-07"] = (doid / "versions/2025-10-31/DO_infectious_disease_slim.owl",
                                               doid / "DO_infectious_disease_slim.owl")
        if (SHARED / "maxo").exists():
            pairs["MAxO 2023-06 → 2024-07"] = (SHARED / "maxo/versions/2023-06-06/maxo-base.owl", SHARED / "maxo/maxo-base.owl")
        if args.classes:
            from bench_kg import generate

            for seed in (0, 1):
                (tmp / f"gen{seed}").mkdir()
                generate(tmp / f"gen{seed}" / "generated.ttl", args.classes, seed=seed)
            pairs[f"generated {args.classes // 1000}k, seed 0 → 1"] = (tmp / "gen0/generated.ttl", tmp / "gen1/generated.ttl")
        print(f"{'releases':<30}{'2 kg builds s':>14}{'diff s':>9}{'ratio':>8}{'changes':>10}  by kind")
        for i, (name, (old, new)) in enumerate(pairs.items()):
            r = measure(old, new, tmp / f"store{i}")  # a store per pair: no release reused from another pair
            kinds = ", ".join(f"{k} {v:,}" for k, v in r["counts"].items())
            print(f"{name:<30}{r['build_s']:>14.2f}{r['diff_s']:>9.2f}{r['diff_s'] / r['build_s']:>7.2f}×{r['rows']:>10,}  {kinds}")
        print("\nratio = diff time (load both kg artifacts, compare, write) / time to build the two graphs; goal ≤ 1.5×.")


if __name__ == "__main__":
    main()
