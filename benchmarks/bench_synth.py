"""Benchmark of the synth stage: examples per second and peak memory, for 100k and 1M examples, on FIBO
and on a generated 200,000-class graph.

    python benchmarks/bench_synth.py                  # FIBO (if ../shared is there) and generated 200k
    python benchmarks/bench_synth.py --classes 50000  # a smaller generated graph
    python benchmarks/bench_synth.py --quality        # per shared ontology: MCQ baselines, negatives, time vs before
    python benchmarks/bench_synth.py --closure        # the kg closure (inferred facts) against the kg build

Each measurement runs in a fresh process: generation throughput is timed over the first N examples of the
generator (single process); the whole stage (generation, leak check, parquet, JSONL, DatasetDict) is run
with weights chosen to give about N examples, and its peak memory is reported. Goals (issue 4):
≥ 20,000 examples/s single process, < 4 GB for 1M examples.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KGTOOLS_SHARED_ONTOLOGIES", ROOT.parent / "shared" / "ontologies"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def child(kind: str, kg_path: str, n: int, weight: float) -> dict:
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.config import SynthConfig
    from kgtools.graph.io import load_graph

    if kind == "generate":
        from kgtools.synth.generate import Synthesizer

        graph = load_graph(kg_path)
        start = time.perf_counter()
        syn = Synthesizer(graph, SynthConfig())
        count = sum(1 for _ in itertools.islice(syn.examples(), n))
        seconds = time.perf_counter() - start
    else:
        from kgtools.synth.stage import synthesize

        tasks = {t: {"weight": weight} for t in ("fact_qa", "inverse_qa", "definition", "mcq", "yes_no")}
        cfg = SynthConfig(tasks={**tasks, "multi_hop": {"weight": weight / 2}, "list": {"weight": weight / 2}})
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = synthesize(cfg, Artifact.open(kg_path, "kg"), ArtifactStore(tmp))
            count = result.artifact.manifest["counts"]["examples"]
        seconds = time.perf_counter() - start
    return {"examples": count, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


# Tasks the baseline generator does not have (issue 13): off for the like-for-like time, on for the full one.
NEW_TASKS = ("synonym", "literal", "diagnosis")


def quality_child(kg_path: str, off: str = "") -> dict:
    """Generate every example of one graph with the kgtools on sys.path; seconds, count and (if this
    kgtools reports it) the quality section of the report. ``off``: tasks to switch off, comma-separated."""
    import kgtools
    from kgtools.config import SynthConfig
    from kgtools.graph.io import load_graph
    from kgtools.synth.generate import Synthesizer

    graph = load_graph(kg_path)
    start = time.perf_counter()
    cfg = SynthConfig(tasks={t: {"enabled": False} for t in off.split(",") if t}) if off else SynthConfig()
    syn = Synthesizer(graph, cfg)
    examples = list(syn.examples())
    seconds = time.perf_counter() - start
    out = {"examples": len(examples), "seconds": seconds, "kgtools": kgtools.__file__}
    try:
        from kgtools.synth.stage import _Tally
    except ImportError:
        return out
    if "name" in _Tally.__init__.__code__.co_varnames:
        tally = _Tally(syn.name)
        for e in examples:
            tally.add(e)
        out["quality"] = tally.quality()
    return out


QUALITY_ONTOLOGIES = {
    "doid": ["doid/DO_infectious_disease_slim.owl"], "maxo": ["maxo/maxo-base.owl"], "fibo": ["fibo"],
    "stw": ["stw/stw-skos.ttl"], "unesco": ["unesco/unesco-thesaurus.ttl"], "dfe-curriculum": ["dfe-curriculum"],
}


def quality(baseline_ref: str, repeats: int) -> None:
    """Per shared ontology: the three MCQ no-knowledge baselines against chance, the share of each negative
    kind per use, median and maximum answer length in words, and generation time against the generator of
    ``baseline_ref`` (a git revision, checked out in a temporary worktree), each best of ``repeats`` runs
    in fresh processes."""
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig
    from kgtools.graph.stage import build_kg

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        worktree = tmp / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), baseline_ref],
                       check=True, capture_output=True)
        try:
            rows = []
            for name, parts in QUALITY_ONTOLOGIES.items():
                paths = [SHARED / p for p in parts]
                if not all(p.exists() for p in paths):
                    print(f"{name}: not found under {SHARED}, skipped")
                    continue
                kg = build_kg(KgConfig(ontologies=paths), ArtifactStore(tmp / "a")).path
                new = min((_quality_run(kg, None) for _ in range(repeats)), key=lambda r: r["seconds"])
                same = min((_quality_run(kg, None, ",".join(NEW_TASKS)) for _ in range(repeats)), key=lambda r: r["seconds"])
                old = min((_quality_run(kg, worktree) for _ in range(repeats)), key=lambda r: r["seconds"])
                rows.append((name, new, old, same))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], capture_output=True)
    print(f"\n{'ontology':<16}{'MCQ':>6}{'chance':>8}{'overlap':>9}{'longest':>9}{'frequent':>10}"
          f"{'answer words (median/max)':>27}{'examples':>10}{'s':>7}{'same tasks s':>14}{'baseline s':>12}{'ratio':>7}")
    for name, new, old, same in rows:
        b, w = new["quality"]["mcq_baselines"], new["quality"]["answer_words"]
        print(f"{name:<16}{b['n']:>6}{b['chance']:>8.3f}{b['word_overlap']:>9.3f}{b['longest_choice']:>9.3f}"
              f"{b['most_frequent_answer']:>10.3f}{w['median']:>14}/{w['max']:<12}{new['examples']:>10,}"
              f"{new['seconds']:>7.2f}{same['seconds']:>14.2f}{old['seconds']:>12.2f}{same['seconds'] / old['seconds']:>6.2f}x")
    print(f"(s: every default task; same tasks s: without {', '.join(NEW_TASKS)}, which the baseline lacks — the "
          "ratio compares that with the baseline)")
    print("\nnegative kinds, share per use (mcq distractors, yes_no statements, rejected answers, preference split):")
    for name, new, _, _ in rows:
        shares = new["quality"]["negative_kind_shares"]
        print(f"  {name:<16}" + "; ".join(f"{use}: " + ", ".join(f"{k} {v:.2f}" for k, v in kinds.items())
                                         for use, kinds in shares.items()))


def _quality_run(kg: Path, worktree: Path | None, off: str = "") -> dict:
    env = dict(os.environ)
    if worktree is not None:
        env["PYTHONPATH"] = str(worktree) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, __file__, "--quality-child", str(kg), *(["--off", off] if off else [])],
                          capture_output=True, text=True, env=env, cwd=worktree or ROOT)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = worktree or ROOT
    if not result["kgtools"].startswith(str(expected)):
        raise RuntimeError(f"the child imported {result['kgtools']}, not the kgtools of {expected}")
    return result


def closure_child(kind: str, target: str) -> dict:
    """``build``: the kg stage without the closure (parse, build, write), timed. ``closure``: load that kg and
    compute its closure, timed, with the peak memory it adds over the loaded graph."""
    import logging

    logging.disable(logging.CRITICAL)
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig
    from kgtools.graph.closure import entail
    from kgtools.graph.io import load_graph
    from kgtools.graph.stage import build_kg

    if kind == "build":
        store, source = Path(target).parent / "store", Path(target)
        start = time.perf_counter()
        art = build_kg(KgConfig(ontologies=[source], entailment={"enabled": False}), ArtifactStore(store), force=True)
        return {"seconds": time.perf_counter() - start, "path": str(art.path),
                "edges": art.artifact.manifest["counts"]["edges"]}
    kg = load_graph(target)
    before = _peak_rss_mb()
    start = time.perf_counter()
    closure = entail(kg)
    return {"seconds": time.perf_counter() - start, "added_peak_mb": max(0.0, _peak_rss_mb() - before),
            "inferred": closure.stats["inferred"], "by_rule": closure.stats["by_rule"],
            "max_depth": closure.stats["max_depth"], "truncated": closure.stats["truncated"]}


def closure_bench(classes: int, repeats: int) -> None:
    """Closure time and memory against the kg build, per shared ontology and on a generated graph (issue 13:
    closure ≤ 1× the kg build on each)."""
    from bench_kg import generate

    def child_run(kind: str, target: Path) -> dict:
        proc = subprocess.run([sys.executable, __file__, "--closure-child", kind, str(target)], capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = {name: SHARED / rel for name, rel in (("maxo", "maxo/maxo-base.owl"), ("fibo", "fibo"),
                                                      ("unesco", "unesco"), ("doid", "doid/DO_infectious_disease_slim.owl"))
                 if (SHARED / rel).exists()}
        cases["medical (bundled)"] = ROOT / "ontologies" / "medical.ttl"
        cases["finance (bundled)"] = ROOT / "ontologies" / "finance.ttl"
        if classes:
            gen = tmp / f"generated-{classes}.ttl"
            generate(gen, classes)
            cases[f"generated-{classes // 1000}k"] = gen
        print(f"{'ontology':<20}{'edges':>9}{'kg build s':>11}{'closure s':>10}{'ratio':>7}{'+peak MB':>9}{'inferred':>10}"
              f"{'depth':>6}  by rule")
        for name, target in cases.items():
            link = tmp / name.split()[0] / target.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
            reps = 1 if name.startswith("generated") else repeats
            build = min((child_run("build", link) for _ in range(reps)), key=lambda r: r["seconds"])
            clo = min((child_run("closure", Path(build["path"])) for _ in range(reps)), key=lambda r: r["seconds"])
            rules = ", ".join(f"{k} {v:,}" for k, v in clo["by_rule"].items())
            print(f"{name:<20}{build['edges']:>9,}{build['seconds']:>11.2f}{clo['seconds']:>10.2f}"
                  f"{clo['seconds'] / build['seconds']:>6.2f}×{clo['added_peak_mb']:>9.0f}{clo['inferred']:>10,}"
                  f"{clo['max_depth']:>6}  {rules}{' (truncated)' if clo['truncated'] else ''}")
        print("\nratio = closure time / kg build time (parse, build, write; same run); goal ≤ 1×.")


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). ru_maxrss would include the forked parent's pages."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(kind: str, kg_path: Path, n: int, weight: float = 1.0) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(kg_path), str(n), str(weight)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--classes", type=int, default=200_000)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--weights", type=float, nargs="*", default=[0.25, 1.0],
                        help="task weights for the whole-stage runs (0.25 gives ~1M examples on the 200k graph)")
    parser.add_argument("--no-fibo", action="store_true")
    parser.add_argument("--quality", action="store_true", help="data-quality figures per shared ontology instead")
    parser.add_argument("--baseline-ref", default="1e85f04",
                        help="git revision whose generator --quality times against (default: before issue 12)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality-child", help=argparse.SUPPRESS)
    parser.add_argument("--off", default="", help=argparse.SUPPRESS)
    parser.add_argument("--closure", action="store_true", help="the kg closure against the kg build instead")
    parser.add_argument("--closure-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.closure_child:
        print(json.dumps(closure_child(*args.closure_child)))
        return
    if args.closure:
        closure_bench(args.classes, args.repeats)
        return
    if args.quality_child:
        print(json.dumps(quality_child(args.quality_child, args.off)))
        return
    if args.quality:
        quality(args.baseline_ref, args.repeats)
        return
    if args.child:
        kind, path, n, weight = args.child
        print(json.dumps(child(kind, path, int(n), float(weight))))
        return

    from bench_kg import generate

    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig
    from kgtools.graph.stage import build_kg

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        graphs = {}
        if (SHARED / "fibo").exists() and not args.no_fibo:
            graphs["fibo"] = build_kg(KgConfig(ontologies=[SHARED / "fibo"]), ArtifactStore(tmp / "a")).path
        onto = tmp / f"generated-{args.classes}.ttl"
        generate(onto, args.classes)
        graphs[f"generated-{args.classes // 1000}k"] = build_kg(KgConfig(ontologies=[onto]), ArtifactStore(tmp / "a")).path

        print(f"{'graph':<16}{'N':>10}{'generated':>11}{'seconds':>9}{'examples/s':>12}{'peak RSS MB':>13}   (generator only)")
        for name, path in graphs.items():
            for n in args.sizes:
                r = run("generate", path, n)
                print(f"{name:<16}{n:>10,}{r['examples']:>11,}{r['seconds']:>9.1f}{r['examples'] / r['seconds']:>12,.0f}"
                      f"{r['peak_rss_mb']:>13,.0f}")
        print(f"\n{'graph':<16}{'weight':>8}{'examples':>11}{'seconds':>9}{'examples/s':>12}{'peak RSS MB':>13}   (whole stage)")
        for name, path in graphs.items():
            for weight in args.weights:
                r = run("stage", path, 0, weight)
                print(f"{name:<16}{weight:>8}{r['examples']:>11,}{r['seconds']:>9.1f}{r['examples'] / r['seconds']:>12,.0f}"
                      f"{r['peak_rss_mb']:>13,.0f}")


if __name__ == "__main__":
    main()
