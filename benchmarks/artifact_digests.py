"""Did a change to the code change what kgtools writes? The kg and synth artifacts of the bundled and the shared
ontologies, built from scratch, as keys and file digests — run once on the old code, once on the new, and compare:

    git worktree add /tmp/old <rev>
    PYTHONPATH=/tmp/old python benchmarks/artifact_digests.py --out /tmp/old.json
    python benchmarks/artifact_digests.py --out /tmp/new.json
    python benchmarks/artifact_digests.py --compare /tmp/old.json /tmp/new.json      # exit 1 if anything differs

A refactor must print "identical". Hugging Face's ``state.json`` (a random fingerprint per save) and the dataset card
are left out; the kg manifest's counts, skipped and stats are compared besides the files. ``--synth`` also builds
the instruction data (minutes on FIBO); ``--only NAME,...`` limits the ontologies."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KGTOOLS_SHARED_ONTOLOGIES", ROOT.parent / "shared" / "ontologies"))
CASES = {
    "medical": [ROOT / "ontologies" / "medical.ttl"],
    "finance": [ROOT / "ontologies" / "finance.ttl"],
    "doid": [SHARED / "doid" / "DO_infectious_disease_slim.owl"],
    "doid-obo": [SHARED / "doid" / "DO_infectious_disease_slim.obo"],
    "symp": [SHARED / "symp"],
    "maxo": [SHARED / "maxo" / "maxo-base.obo"],
    "stw": [SHARED / "stw"],
    "unesco": [SHARED / "unesco"],
    "dfe": [SHARED / "dfe-curriculum"],
    "fibo": [SHARED / "fibo"],
}
LEFT_OUT = ("state.json", "README.md")


def digests(names: list[str], synth: bool, work: Path) -> dict:
    logging.disable(logging.CRITICAL)
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig, SynthConfig
    from kgtools.graph.stage import build_kg
    from kgtools.synth.stage import synthesize

    out = {}
    for name in names:
        files = CASES[name]
        if not all(f.exists() for f in files):
            print(f"{name}: skipped ({files[0]} is absent)", file=sys.stderr)
            continue
        store = ArtifactStore(work / name)
        kg = build_kg(KgConfig(ontologies=files), store).artifact
        m = kg.manifest
        out[f"{name}/kg"] = {"key": kg.key, "files": _files(m), "counts": m.get("counts"),
                             "skipped": m.get("skipped"), "stats": m.get("stats")}
        if synth:
            art = synthesize(SynthConfig(negatives={"preference": 2}), kg, store).artifact
            out[f"{name}/synth"] = {"key": art.key, "files": _files(art.manifest), "counts": art.manifest.get("counts")}
        print(f"{name}: kg {kg.key}" + (f", synth {out[f'{name}/synth']['key']}" if synth else ""), file=sys.stderr)
    return out


def _files(manifest: dict) -> dict:
    return {k: v.get("sha256") for k, v in sorted(manifest.get("files", {}).items()) if not k.endswith(LEFT_OUT)}


def compare(a: dict, b: dict) -> list[str]:
    problems = [f"{k}: only in one of them" for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        for field in sorted(set(a[k]) | set(b[k])):
            if a[k].get(field) != b[k].get(field):
                which = field
                if field == "files":
                    which = "files " + ", ".join(f for f in sorted(set(a[k]["files"]) | set(b[k]["files"]))
                                                 if a[k]["files"].get(f) != b[k]["files"].get(f))
                problems.append(f"{k}: {which} differ")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the digests here")
    ap.add_argument("--synth", action="store_true", help="also build and compare the synth artifacts")
    ap.add_argument("--only", default=",".join(CASES), help="comma-separated ontologies (default: all)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"), help="compare two digest files")
    args = ap.parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text("utf-8")) for p in args.compare)
        problems = compare(a, b)
        print("\n".join(problems) if problems else f"identical ({len(a)} artifacts)")
        sys.exit(1 if problems else 0)
    if args.out is None:
        ap.error("--out FILE (or --compare OLD NEW)")
    with tempfile.TemporaryDirectory(prefix="digests-") as work:
        result = digests([n for n in args.only.split(",") if n], args.synth, Path(work))
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True), "utf-8")
    print(f"{len(result)} artifacts → {args.out}")


if __name__ == "__main__":
    main()
