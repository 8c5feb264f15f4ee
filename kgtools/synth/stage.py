"""The `synth` stage: a `kg` artifact → instruction data, as a Hugging Face DatasetDict (``dataset/``), one
parquet file per split (``parquet/``), JSONL in chat-messages, Alpaca and ShareGPT layouts (``jsonl/``) and
a ``dataset_info.json`` that LLaMA-Factory reads."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kgtools.artifacts import Artifact, ArtifactStore, artifact_key
from kgtools.config import SynthConfig
from kgtools.graph.io import load_graph
from kgtools.synth.generate import SPLITS, Synthesizer, leak_check

STAGE = "synth"
DATASET_DIR = "dataset"

_S, _LS = pa.string(), pa.list_(pa.string())
SCHEMA = pa.schema([
    ("id", _S), ("task", _S), ("split", _S), ("split_reason", _S), ("template_id", _S), ("prompt", _S),
    ("answer", _S), ("answer_ids", _LS), ("accepted_ids", _LS), ("answer_aliases", pa.list_(_LS)),
    ("choices", _LS), ("answer_index", pa.int32()), ("rejected", _S), ("negative_kind", _S),
    ("distractor_kinds", _LS), ("context", _S), ("triples", _LS), ("path", _LS), ("relation", _S),
    ("subject", _S), ("messages", pa.list_(pa.struct([("role", _S), ("content", _S)]))),
])


@dataclass
class SynthResult:
    artifact: Artifact
    built: bool

    @property
    def path(self) -> Path:
        return self.artifact.path

    def dataset(self):
        from datasets import load_from_disk

        return load_from_disk(str(self.artifact.path / DATASET_DIR))


def synthesize(cfg: SynthConfig, kg: Artifact, store: ArtifactStore, *, force: bool = False,
               progress: Callable[[str], None] | None = None) -> SynthResult:
    """Build (or reuse) the instruction data of the graph ``kg``."""
    say = progress or (lambda _msg: None)
    inputs = {f"kg:{kg.key}": kg.key}
    key = artifact_key(STAGE, cfg.hashable(), inputs)

    def build(tmp: Path) -> dict[str, Any]:
        return _build_into(tmp, cfg, kg, say)

    artifact, built = store.build(STAGE, key, cfg.model_dump(mode="json"), inputs, build, force=force)
    return SynthResult(artifact, built)


def generate_examples(cfg: SynthConfig, graph) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every example of ``graph`` under ``cfg`` after the leak check, and the generation report."""
    syn = Synthesizer(graph, cfg)
    examples, leaks = leak_check(list(syn.examples()))
    return examples, {"leakage": leaks, "generator": dict(sorted(syn.stats.items())),
                      "coverage": _coverage(syn, examples)}


def _build_into(folder: Path, cfg: SynthConfig, kg_artifact: Artifact, say: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    say("loading the graph")
    graph = load_graph(kg_artifact.path)
    say("generating examples")
    examples, report = generate_examples(cfg, graph)
    t_generate = time.perf_counter() - started
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in examples:
        by_split[e["split"]].append(e)
    say(f"writing {len(examples):,} examples")
    write_outputs(folder, by_split, cfg)
    counts = Counter(e["split"] for e in examples)
    return {
        "counts": {"examples": len(examples), **{s: counts.get(s, 0) for s in SPLITS}},
        "tasks": {s: dict(sorted(Counter(e["task"] for e in by_split[s]).items())) for s in SPLITS if by_split[s]},
        "negative_kinds": dict(sorted(Counter(e["negative_kind"] or "-" for e in examples).items())),
        **report,
        "timings": {"generate": round(t_generate, 3), "total": round(time.perf_counter() - started, 3)},
    }


def _coverage(syn: Synthesizer, examples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per relation: facts and the share asked about; and the share of concepts in at least one example."""
    asked: set[str] = set()
    seen_nodes: set[str] = set()
    for e in examples:
        asked.update(e["triples"])
        seen_nodes.update(e["path"])
        seen_nodes.update(e["answer_ids"])
        seen_nodes.add(e["subject"])
    per_rel: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in syn.facts:
        per_rel[f.r][0] += 1
        per_rel[f.r][1] += f.key in asked
    concepts = [n for n in syn.kg.concepts() if n in syn.ix.label]
    covered = sum(1 for n in concepts if n in seen_nodes)
    return {
        "relations": {r: {"label": syn.ix.rel_label.get(r, r), "facts": n, "asked": k, "share": round(k / n, 4)}
                      for r, (n, k) in sorted(per_rel.items())},
        "concepts": len(concepts),
        "concepts_in_examples": covered,
        "concept_share": round(covered / len(concepts), 4) if concepts else 0.0,
    }


def write_outputs(folder: Path, by_split: dict[str, list[dict[str, Any]]], cfg: SynthConfig) -> None:
    from datasets import Dataset, DatasetDict

    (folder / "parquet").mkdir()
    (folder / "jsonl").mkdir()
    tables = {}
    for split in SPLITS:
        rows = by_split.get(split)
        if not rows:
            continue
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        pq.write_table(table, folder / "parquet" / f"{split}.parquet")
        tables[split] = table
        _write_jsonl(folder / "jsonl", split, rows)
    DatasetDict({s: Dataset(t) for s, t in tables.items()}).save_to_disk(str(folder / DATASET_DIR))
    (folder / "dataset_info.json").write_text(json.dumps(_llama_factory_info(tables), indent=2) + "\n", "utf-8")


def _write_jsonl(out: Path, split: str, rows: list[dict[str, Any]]) -> None:
    with open(out / f"{split}.messages.jsonl", "w", encoding="utf-8") as m, \
         open(out / f"{split}.alpaca.jsonl", "w", encoding="utf-8") as a, \
         open(out / f"{split}.sharegpt.jsonl", "w", encoding="utf-8") as g:
        for r in rows:
            msgs = r["messages"]
            system = next((x["content"] for x in msgs if x["role"] == "system"), None)
            user = next(x["content"] for x in msgs if x["role"] == "user")
            reply = next(x["content"] for x in msgs if x["role"] == "assistant")
            m.write(json.dumps({"id": r["id"], "messages": msgs}, ensure_ascii=False) + "\n")
            alpaca = {"instruction": user, "input": "", "output": reply}
            if r["rejected"] is not None:
                alpaca["rejected"] = r["rejected"]
            if system:
                alpaca["system"] = system
            a.write(json.dumps(alpaca, ensure_ascii=False) + "\n")
            share = {"conversations": [{"from": "human", "value": user}, {"from": "gpt", "value": reply}]}
            if system:
                share["system"] = system
            g.write(json.dumps(share, ensure_ascii=False) + "\n")


def _llama_factory_info(tables: dict[str, pa.Table]) -> dict[str, Any]:
    """Entries for LLaMA-Factory's data/dataset_info.json, one per split and layout."""
    info: dict[str, Any] = {}
    for split in tables:
        info[f"kgtools_{split}"] = {
            "file_name": f"jsonl/{split}.sharegpt.jsonl", "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        }
        info[f"kgtools_{split}_messages"] = {
            "file_name": f"jsonl/{split}.messages.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                     "system_tag": "system"},
        }
        info[f"kgtools_{split}_alpaca"] = {
            "file_name": f"jsonl/{split}.alpaca.jsonl",
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"},
        }
    return info
