"""Benchmark of the `kg` stage: raw parse with rdflib, raw parse with oxrdflib, and a full `kg build`, per
ontology, as ratios measured in one run, plus peak memory.

Each measurement runs in a fresh Python process (so that peak RSS is its own and no cache is warm) and
times only the work, not the interpreter start or imports. Goals (issue 2): the conversion adds at most
50 % on top of the fastest raw parse, and `kg build` on FIBO is at least 3× faster than plain rdflib.

    python benchmarks/bench_kg.py                      # shared ontologies + generated 200,000 classes
    python benchmarks/bench_kg.py --only fibo --repeat 5
    python benchmarks/bench_kg.py --classes 50000      # a smaller generated ontology
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KGTOOLS_SHARED_ONTOLOGIES", ROOT.parent / "shared" / "ontologies"))
CASES = {
    "doid": "doid/DO_infectious_disease_slim.owl",
    "doid-obo": "doid/DO_infectious_disease_slim.obo",
    "symp": "symp",
    "maxo": "maxo/maxo-base.owl",
    "stw": "stw",
    "unesco": "unesco",
    "dfe-curriculum": "dfe-curriculum",
    "fibo": "fibo",
}
RDFLIB = {".owl": "xml", ".rdf": "xml", ".ttl": "turtle", ".nt": "nt"}
OXRDFLIB = {".owl": "ox-xml", ".rdf": "ox-xml", ".ttl": "ox-turtle", ".nt": "ox-ntriples"}


# -- one measurement, in a child process ------------------------------------------------------------
def measure(kind: str, target: str) -> dict:
    import logging

    logging.disable(logging.CRITICAL)  # rdflib logs a traceback per malformed literal (FIBO)
    import rdflib

    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig
    from kgtools.graph.stage import build_kg
    from kgtools.ontology import expand_inputs

    files = expand_inputs([target])
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if kind == "rdflib":
        g = rdflib.Graph()
        for f in files:
            if f.suffix == ".obo":
                import pronto

                pronto.Ontology(str(f))
            else:
                g.parse(f, format=RDFLIB[f.suffix])
        size = len(g)
    elif kind == "oxrdflib":
        g = rdflib.Graph(store="Oxigraph")
        for f in files:
            if f.suffix == ".obo":
                import fastobo

                fastobo.load(str(f))
            else:
                g.parse(f, format=OXRDFLIB[f.suffix])
        size = len(g.store._inner)
    elif kind == "kg":
        with tempfile.TemporaryDirectory() as tmp:
            result = build_kg(KgConfig(ontologies=[target]), ArtifactStore(tmp), force=True)
            size = result.artifact.manifest["counts"]["concepts"]
            timings = result.artifact.manifest["timings"]
    else:
        raise ValueError(kind)
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "size": size, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "base_rss_mb": base_rss / 1024}
    if kind == "kg":
        out["timings"] = timings
    return out


def run_child(kind: str, target: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(target)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} on {target} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- a generated ontology -----------------------------------------------------------------------------
def generate(path: Path, classes: int, seed: int = 0) -> None:
    """A Turtle ontology of ``classes`` classes: an 8-ary tree with some second parents, label, synonym and
    definition on every class, and one existential restriction on every fifth class over 20 properties."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("@prefix g: <https://example.org/generated#> .\n@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
                 "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
                 "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n")
        for p in range(20):
            fh.write(f'g:rel{p} a owl:ObjectProperty ; rdfs:label "relation {p}"@en .\n')
        for i in range(classes):
            parents = f" ; rdfs:subClassOf g:C{(i - 1) // 8}" if i else ""  # an 8-ary tree
            if i > 10 and i % 10 == 0:
                parents += f" , g:C{rng.randrange(i // 8)}"  # and some polyhierarchy, never a cycle
            fh.write(f'g:C{i} a owl:Class{parents} ; rdfs:label "concept {i}"@en ; skos:altLabel "term {i}"@en ;\n'
                     f'    skos:definition "Generated concept number {i} for the benchmark."@en')
            if i % 5 == 0 and i:
                fh.write(f" ;\n    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty g:rel{rng.randrange(20)} ;"
                         f" owl:someValuesFrom g:C{rng.randrange(classes)} ]")
            fh.write(" .\n")


# -- report -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", help=f"cases to run (of {', '.join(CASES)}, generated)")
    parser.add_argument("--classes", type=int, default=200_000, help="size of the generated ontology (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement on the shared ontologies (best kept)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return

    cases: dict[str, Path] = {}
    for name, rel in CASES.items():
        if (args.only is None or name in args.only) and (SHARED / rel).exists():
            cases[name] = SHARED / rel
    tmp = tempfile.TemporaryDirectory()
    if args.classes and (args.only is None or "generated" in args.only):
        gen = Path(tmp.name) / f"generated-{args.classes}.ttl"
        generate(gen, args.classes)
        cases[f"generated-{args.classes // 1000}k"] = gen
    if not cases:
        sys.exit(f"no ontology found under {SHARED}")

    header = (f"{'ontology':<16}{'rdflib s':>9}{'oxrdflib s':>11}{'kg build s':>11}{'conversion':>11}"
              f"{'vs rdflib':>10}{'peak MB rdflib/ox/kg':>23}  kg split parse/build/write s")
    print(header)
    print("-" * len(header))
    for name, target in cases.items():
        big = name.startswith("generated")
        repeat = 1 if big else args.repeat
        best = {}
        for kind in ("rdflib", "oxrdflib", "kg"):
            runs = [run_child(kind, target) for _ in range(repeat)]
            best[kind] = min(runs, key=lambda r: r["seconds"])
            best[kind]["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
        fastest = min(best["rdflib"]["seconds"], best["oxrdflib"]["seconds"])
        kg = best["kg"]
        conversion = (kg["seconds"] - fastest) / fastest  # what the kg build adds on top of the fastest parse
        speedup = best["rdflib"]["seconds"] / kg["seconds"]
        t = kg["timings"]
        print(f"{name:<16}{best['rdflib']['seconds']:>9.2f}{best['oxrdflib']['seconds']:>11.2f}{kg['seconds']:>11.2f}"
              f"{conversion:>+10.0%} {speedup:>9.1f}×{best['rdflib']['peak_rss_mb']:>9.0f}/{best['oxrdflib']['peak_rss_mb']:.0f}"
              f"/{kg['peak_rss_mb']:.0f}  {t['parse']:.2f}/{t['build']:.2f}/{t['write']:.2f}  ({kg['size']:,} concepts)")
    print("\nconversion = (kg build − fastest raw parse) / fastest raw parse; goal ≤ +50 %.")
    print("vs rdflib = rdflib parse time / kg build time; goal ≥ 3× on FIBO. Peak RSS includes ~"
          f"{best['kg']['base_rss_mb']:.0f} MB of imports.")


if __name__ == "__main__":
    main()
