"""Benchmark of the corpus stage's linking: throughput against a bare spaCy PhraseMatcher over the same
texts and terms (measured in the same run), and peak memory while streaming a large generated corpus.

    python benchmarks/bench_corpus.py                 # 5 MB for throughput, 20 MB and 200 MB for memory
    python benchmarks/bench_corpus.py --big-mb 50     # a quicker memory check

Goals (issue 3): linking ≥ 0.8× the bare matcher's characters per second; memory flat while streaming.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kg_graph(tmp: Path):
    from kgtools.artifacts import ArtifactStore
    from kgtools.config import KgConfig
    from kgtools.graph.stage import build_kg

    return build_kg(KgConfig(ontologies=[ROOT / "ontologies" / "medical.ttl"]), ArtifactStore(tmp / "arts"))


def corpus_paragraphs() -> list[str]:
    from kgtools.corpus.texts import read_passages, text_files

    return [t for t, _ in read_passages(text_files([ROOT / "corpora" / "medical"]))]


def throughput(mb: float, repeat: int) -> None:
    import spacy
    from spacy.matcher import PhraseMatcher

    from kgtools.corpus.link import Linker, LinkStats

    with tempfile.TemporaryDirectory() as tmp:
        kg = kg_graph(Path(tmp)).graph()
    paragraphs = corpus_paragraphs()
    texts, size = [], 0
    rng = random.Random(0)
    while size < mb * 1e6:
        t = rng.choice(paragraphs)
        texts.append(t)
        size += len(t)
    linker = Linker(kg)

    # the bare baseline: the same tokenizer, one PhraseMatcher (LOWER) with the same surface forms
    nlp = spacy.blank("en")
    bare = PhraseMatcher(nlp.vocab, attr="LOWER")
    terms = sorted(set(linker.surface_forms))
    bare.add("TERM", list(nlp.tokenizer.pipe(terms)))

    def run_bare() -> int:
        found = 0
        for doc in nlp.pipe(texts, batch_size=256):
            found += len(bare(doc))
        return found

    def run_linker() -> int:
        stats = LinkStats()
        return sum(len(r["mentions"]) for r in linker.link(((t, "bench") for t in texts), stats, min_mentions=0))

    best = {}
    for name, fn in (("bare PhraseMatcher", run_bare), ("kgtools Linker", run_linker)):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            n = fn()
            times.append(time.perf_counter() - start)
        best[name] = (min(times), n)
    chars = sum(map(len, texts))
    print(f"throughput on {chars / 1e6:.1f} MB ({len(texts):,} passages, {len(terms):,} surface forms), best of {repeat}:")
    for name, (secs, n) in best.items():
        print(f"  {name:<20} {chars / secs / 1e6:6.2f} MB/s   ({n:,} matches/mentions)")
    ratio = best["bare PhraseMatcher"][0] / best["kgtools Linker"][0]
    print(f"  ratio linker/bare: {ratio:.2f} (goal ≥ 0.8)")


class _PeakMemory:
    """Samples /proc/self/status: anonymous memory (what streaming must keep flat) separately from
    file-backed pages (memory-mapped Arrow files that datasets reads back; the kernel can drop them)."""

    def __init__(self, every: float = 0.1):
        import threading

        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            for line in open("/proc/self/status"):
                key = line.split(":")[0]
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], int(line.split()[1]) // 1024)
            self._stop.wait(every)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return self.peak


def child_memory(path: str, kg_path: str) -> dict:
    """Run the corpus stage (linking only) over one file; report time and peak memory."""
    from kgtools.artifacts import Artifact, ArtifactStore
    from kgtools.config import CorpusConfig
    from kgtools.corpus.stage import build_corpus

    probe = _PeakMemory()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = build_corpus(CorpusConfig(texts=[path], verbalise=False), Artifact.open(kg_path, "kg"),
                              ArtifactStore(tmp))
        counts = result.artifact.manifest["counts"]
    seconds = time.perf_counter() - start
    peak = probe.stop()
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_anon_mb": peak["RssAnon"], "peak_file_mb": peak["RssFile"],
            "passages": counts["linked_passages_read"], "kept": counts["linked_kept"]}


def memory(sizes_mb: list[float]) -> None:
    paragraphs = corpus_paragraphs()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kg_path = kg_graph(tmp).path
        print("streaming memory (corpus stage, linking only, fresh process each):")
        for mb in sizes_mb:
            path = tmp / f"corpus-{mb:g}mb.txt"
            with open(path, "w", encoding="utf-8") as fh:
                written = 0
                while written < mb * 1e6:
                    para = " ".join(rng.sample(paragraphs, 2))
                    fh.write(para + "\n\n")
                    written += len(para) + 2
            proc = subprocess.run([sys.executable, __file__, "--child", str(path), str(kg_path)],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-2000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  {mb:6g} MB: {r['passages']:>9,} passages in {r['seconds']:7.1f} s "
                  f"({mb / r['seconds']:.2f} MB/s), peak anonymous memory {r['peak_anon_mb']} MB, "
                  f"peak file-backed {r['peak_file_mb']} MB, peak RSS {r['peak_rss_mb']:.0f} MB")
            path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--mb", type=float, default=5, help="text size for the throughput comparison")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small-mb", type=float, default=20)
    parser.add_argument("--big-mb", type=float, default=200)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_memory(*args.child)))
        return
    throughput(args.mb, args.repeat)
    memory([args.small_mb, args.big_mb])


if __name__ == "__main__":
    main()
