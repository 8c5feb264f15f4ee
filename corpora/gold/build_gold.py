"""Turn the hand annotation medical_terms.tsv into medical.jsonl (character offsets into each paragraph of
corpora/medical/infections.txt). Kept outside corpora/medical/ so that a corpus build over that folder does
not read the gold file as text.

    python corpora/gold/build_gold.py

Each annotated phrase is located by exact, case-insensitive, whole-word search; longer phrases claim their
text first, so "dry cough" is not also a "cough". Run it again after editing either file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from kgtools.corpus.texts import read_passages

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "medical"


def main() -> None:
    passages = list(read_passages([CORPUS / "infections.txt"], base=CORPUS))
    terms: dict[int, list[tuple[str, str]]] = {}
    for line in (HERE / "medical_terms.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            number, surface, node = line.split("\t")
            terms.setdefault(int(number), []).append((surface, node))
    with open(HERE / "medical.jsonl", "w", encoding="utf-8") as out:
        for number, (text, source) in enumerate(passages, 1):
            claimed = [False] * len(text)
            mentions = []
            for surface, node in sorted(terms.get(number, []), key=lambda t: -len(t[0])):
                pattern = re.compile(r"(?<![\w-])" + re.escape(surface) + r"(?![\w-])", re.IGNORECASE)
                hits = [m for m in pattern.finditer(text) if not any(claimed[m.start():m.end()])]
                if not hits:
                    raise SystemExit(f"paragraph {number}: {surface!r} not found")
                for m in hits:
                    claimed[m.start():m.end()] = [True] * (m.end() - m.start())
                    if node != "-":
                        mentions.append({"start": m.start(), "end": m.end(), "node_id": node, "surface": m.group()})
            mentions.sort(key=lambda m: m["start"])
            out.write(json.dumps({"source": source, "text": text, "mentions": mentions}, ensure_ascii=False) + "\n")
    print(sum(len(v) for v in terms.values()), "phrases →", HERE / "medical.jsonl")


if __name__ == "__main__":
    main()
