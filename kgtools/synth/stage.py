"""The `synth` stage: a `kg` artifact → instruction data, as a Hugging Face DatasetDict (``dataset/``), one
parquet file per split (``parquet/``), JSONL in chat-messages, Alpaca and ShareGPT layouts (``jsonl/``) and
a ``dataset_info.json`` that LLaMA-Factory reads."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kgtools import cards
from kgtools.artifacts import Artifact, ArtifactStore, DatasetResult, artifact_key, input_paths
from kgtools.config import TRAINING_SPLITS, UPDATE_EVAL_SPLITS, SynthConfig
from kgtools.errors import ArtifactError
from kgtools.graph.io import load_graph
from kgtools.graph.model import INSTANCE_OF, IS_A
from kgtools.synth.baselines import mcq_baselines
from kgtools.synth.generate import SPLITS, LeakGuard, Synthesizer, leak_check
from kgtools.synth.names import askable_synonyms

STAGE = "synth"
DATASET_DIR = "dataset"

_S, _LS = pa.string(), pa.list_(pa.string())
SCHEMA = pa.schema([
    ("id", _S), ("task", _S), ("split", _S), ("split_reason", _S), ("template_id", _S), ("prompt", _S),
    ("answer", _S), ("answer_ids", _LS), ("accepted_ids", _LS), ("answer_aliases", pa.list_(_LS)),
    ("choices", _LS), ("answer_index", pa.int32()), ("rejected", _S), ("negative_kind", _S),
    ("distractor_kinds", _LS), ("context", _S), ("triples", _LS), ("path", _LS), ("relation", _S),
    ("subject", _S), ("messages", pa.list_(pa.struct([("role", _S), ("content", _S)]))),
    ("inferred", pa.bool_()), ("justification", _LS),
])


class SynthResult(DatasetResult):
    """The synth artifact; ``.dataset()`` loads it."""



def synthesize(cfg: SynthConfig, kg: Artifact, store: ArtifactStore, *, force: bool = False,
               progress: Callable[[str], None] | None = None) -> SynthResult:
    """Build (or reuse) the instruction data of the graph ``kg``."""
    say = progress or (lambda _msg: None)
    inputs = {f"kg:{kg.key}": kg.key}
    key = artifact_key(STAGE, cfg.hashable(), inputs)

    def build(tmp: Path) -> dict[str, Any]:
        return {**_build_into(tmp, cfg, kg, say), "input_paths": input_paths(store.path_for(STAGE, key), kg)}

    artifact, built = store.build(STAGE, key, cfg.model_dump(mode="json"), inputs, build, force=force)
    return SynthResult(artifact, built)


UPDATE_STAGE = "synth_update"


def synthesize_update(cfg: SynthConfig, diff: Artifact, store: ArtifactStore, *, force: bool = False,
                      progress: Callable[[str], None] | None = None) -> SynthResult:
    """Build (or reuse) the update data of a `kg_diff` artifact (kgtools.synth.update): written like synth
    data, so the train stages read it unchanged, with the update's evaluation splits."""
    if diff.stage != "kg_diff":
        raise ArtifactError(f"{diff.path}: a {diff.stage!r} artifact, not a kg_diff artifact (kgtools kg diff)")
    say = progress or (lambda _msg: None)
    releases = diff.manifest["releases"]
    inputs = {f"kg_diff:{diff.key}": diff.key}
    key = artifact_key(UPDATE_STAGE, cfg.hashable(), inputs)

    def build(tmp: Path) -> dict[str, Any]:
        from kgtools.synth.update import update_examples

        started = time.perf_counter()
        say("loading both releases")
        old_kg, new_kg = (load_graph(Artifact.open(releases[w]["path"], "kg").path) for w in ("old", "new"))
        changes = pq.read_table(diff.path / "changes.parquet").to_pylist()
        say("synthesising the new release")
        examples, report = update_examples(cfg, new_kg, old_kg, changes)
        with _SplitWriters(tmp, cfg.negatives.preference_kinds + ["stale"]) as out:
            for e in examples:
                out.add(e)
        say("saving the DatasetDict")
        _save_dataset(tmp, out.splits)
        info = _llama_factory_info(out.splits, system=bool(cfg.system_prompt), pairs=out.pair_splits)
        (tmp / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n", "utf-8")
        counts = Counter(e["split"] for e in examples)
        tasks = {s_: dict(sorted(Counter(e["task"] for e in examples if e["split"] == s_).items())) for s_ in out.splits}
        kinds = dict(sorted(Counter(e["negative_kind"] or "-" for e in examples).items()))
        new = Artifact.open(releases["new"]["path"], "kg")
        _write_card(tmp, cfg, new, {s_: counts.get(s_, 0) for s_ in out.splits}, tasks, kinds, kind="synth_update",
                    notes=[f"An update from the release in `{releases['old']['path']}` to the one in "
                           f"`{releases['new']['path']}`: what changed, with replay of unchanged facts."])
        return {"counts": {"examples": len(examples), **{s_: counts.get(s_, 0) for s_ in out.splits}},
                "tasks": tasks, "negative_kinds": kinds,
                "releases": releases, **report, "timings": {"total": round(time.perf_counter() - started, 3)}}

    artifact, built = store.build(UPDATE_STAGE, key, cfg.model_dump(mode="json"), inputs, build, force=force)
    return SynthResult(artifact, built)


def generate_examples(cfg: SynthConfig, graph) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every example of ``graph`` under ``cfg`` after the leak check, and the generation report (in memory:
    for tests and small graphs; the stage itself streams)."""
    syn = Synthesizer(graph, cfg)
    examples, leaks = leak_check(list(syn.examples()))
    seen = {e["prompt"] for e in examples if e["split"] in TRAINING_SPLITS}
    leaks["test_prompts_in_train"] = sum(e["split"] not in TRAINING_SPLITS and e["prompt"] in seen for e in examples)
    tally = _Tally(syn.name)
    for e in examples:
        tally.add(e)
    return examples, {"leakage": leaks, "generator": dict(sorted(syn.stats.items())), "coverage": tally.coverage(syn),
                      "quality": tally.quality()}


class _Tally:
    """Counts and coverage, accumulated example by example (bounded by the graph's size)."""

    def __init__(self, name: Callable[[str], str]) -> None:
        self.name = name
        self.mcq: list[dict[str, Any]] = []
        self.uses: dict[str, Counter] = defaultdict(Counter)
        self.answer_words: list[int] = []
        self.splits: Counter = Counter()
        self.tasks: dict[str, Counter] = defaultdict(Counter)
        self.kinds: Counter = Counter()
        self.asked: dict[str, set[str]] = {"train": set(), "evaluation": set()}  # triple keys
        self.about: dict[str, dict[str, set[str]]] = {  # concepts whose definition / synonyms are asked
            task: {"train": set(), "evaluation": set()} for task in ("definition", "synonym")}
        self.literals: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"train": set(), "evaluation": set()})
        self.seen: set[str] = set()

    def add(self, e: dict[str, Any]) -> None:
        self.splits[e["split"]] += 1
        self.tasks[e["split"]][e["task"]] += 1
        self.kinds[e["negative_kind"] or "-"] += 1
        self.answer_words.append(len(e["answer"].split()))
        if e["task"] == "mcq":
            # what a guesser sees of the question: its subject, or for a diagnosis (whose subject is the answer)
            # the clues it gives
            seen = e["prompt"].split("\n")[0] if e["template_id"].startswith("diagnosis/") else self.name(e["subject"])
            self.mcq.append({"subject": seen, "choices": e["choices"],
                             "answer_index": e["answer_index"], "split": e["split"]})
            for kind in e["distractor_kinds"]:
                self.uses["mcq"][kind] += 1
        elif e["negative_kind"]:
            use = "preference" if e["split"] == "preference" else (
                "yes_no" if e["task"] == "yes_no" else "rejected")
            self.uses[use][e["negative_kind"]] += 1
        where = "train" if e["split"] in TRAINING_SPLITS else "evaluation"
        self.asked[where].update(e["triples"])
        if e["task"] in self.about:
            self.about[e["task"]][where].add(e["subject"])
        elif e["task"] == "literal":
            self.literals[e["relation"]][where].add(e["subject"])
        elif e["task"] == "cardinality":
            self.literals["cardinality"][where].add(f"{e['subject']}|{e['relation']}|{e['path'][-1]}")
        elif e["task"] == "diagnosis":
            self.literals["diagnosis"][where].add(f"{e['subject']}|{e['relation']}")
        elif e["task"] == "property_schema":
            self.literals[e["relation"]][where].add(e["subject"])
        self.seen.update(e["path"])
        self.seen.update(e["answer_ids"])
        self.seen.add(e["subject"])

    def quality(self) -> dict[str, Any]:
        """MCQ no-knowledge baselines against chance, each use's share of negative kinds, answer lengths."""
        words = sorted(self.answer_words)
        return {
            "mcq_baselines": mcq_baselines(self.mcq),
            "negative_kind_shares": {use: {k: round(v / sum(c.values()), 4) for k, v in sorted(c.items())}
                                     for use, c in sorted(self.uses.items())},
            "answer_words": {"median": words[len(words) // 2] if words else 0, "max": words[-1] if words else 0},
        }

    def coverage(self, syn: Synthesizer) -> dict[str, Any]:
        """Per kind of knowledge (is_a, each relation, definitions, synonyms): how much the graph has and how
        much of it reaches train and an evaluation split; and the share of concepts in at least one example."""
        kinds: dict[str, dict[str, Any]] = {}
        per_rel: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # facts, in train, in evaluation, in either
        per_rule: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # inferred facts, by rule
        for f in syn.facts:
            row = per_rule[syn.ix.inferred[f.key]["rule"]] if f.inferred else per_rel[f.r]
            in_train, in_eval = f.key in self.asked["train"], f.key in self.asked["evaluation"]
            row[0] += 1
            row[1] += in_train
            row[2] += in_eval
            row[3] += in_train or in_eval
        for r, (n, train, evaluation, _) in sorted(per_rel.items()):
            name = r if r in (IS_A, INSTANCE_OF) else f"relation:{syn.ix.rel_label.get(r, r)}"
            kinds[name] = _share(n, train, evaluation) | {"id": r}
        for rule, (n, train, evaluation, _) in sorted(per_rule.items()):
            kinds[f"inferred:{rule}"] = _share(n, train, evaluation) | {"probes": sum(
                1 for k in syn.inferred_probe if syn.ix.inferred[k]["rule"] == rule)}
        concepts = [n for n in syn.kg.concepts() if n in syn.ix.label]
        for task, has in (("definition", _has_definition), ("synonym", _has_synonym)):
            having = [n for n in syn.ix.labelled if has(syn.kg.g.nodes[n])]
            asked = self.about[task]
            kinds[task] = _share(len(having), sum(1 for n in having if n in asked["train"]),
                                 sum(1 for n in having if n in asked["evaluation"]))
        for kind in syn.literal_kinds:  # facts: concepts holding values of that kind worth asking
            asked = self.literals[kind.key]
            kinds[kind.key] = _share(len(kind.values), sum(1 for n in kind.values if n in asked["train"]),
                                     sum(1 for n in kind.values if n in asked["evaluation"])) | {"name": kind.what}
        if syn.weights.get("cardinality"):  # facts: the cardinality restrictions on named classes
            asked = self.literals["cardinality"]
            kinds["cardinality"] = _share(len(syn.cardinalities_asked), len(asked["train"] & syn.cardinalities_asked.keys()),
                                          len(asked["evaluation"] & syn.cardinalities_asked.keys()))
        if syn.weights.get("diagnosis"):  # facts: subject–relation pairs a minimal set of clues tells apart
            asked = self.literals["diagnosis"]
            kinds["diagnosis"] = _share(len(syn.diagnosable), len(asked["train"] & syn.diagnosable),
                                        len(asked["evaluation"] & syn.diagnosable))
        for kind, asked_of in sorted(syn.schema_facts.items()):  # facts: properties (classes) with that to ask
            asked = self.literals[f"schema:{kind}"]
            kinds[f"schema:{kind}"] = _share(len(asked_of), len(asked["train"] & asked_of), len(asked["evaluation"] & asked_of))
        covered = sum(1 for n in concepts if n in self.seen)
        return {
            "kinds": kinds,
            "relations": {r: {"label": syn.ix.rel_label.get(r, r), "facts": n, "asked": k, "share": round(k / n, 4)}
                          for r, (n, _, _, k) in sorted(per_rel.items())},
            "concepts": len(concepts),
            "concepts_in_examples": covered,
            "concept_share": round(covered / len(concepts), 4) if concepts else 0.0,
        }


def _share(n: int, train: int, evaluation: int) -> dict[str, Any]:
    return {"facts": n, "train": train, "evaluation": evaluation,
            "train_share": round(train / n, 4) if n else None, "evaluation_share": round(evaluation / n, 4) if n else None}


def _has_definition(data: dict[str, Any]) -> bool:
    return bool(data.get("definition")) and data.get("kind") != "external"


def _has_synonym(data: dict[str, Any]) -> bool:
    """A concept with at least one name worth asking (spelling variants of its label and identifiers are not)."""
    if data.get("kind") == "external" or not data.get("synonyms"):
        return False
    return bool(askable_synonyms(data["label"], list(data["synonyms"]), list(data.get("synonym_scopes") or ()))[0])


def _build_into(folder: Path, cfg: SynthConfig, kg_artifact: Artifact, say: Callable[[str], None]) -> dict[str, Any]:
    """Stream: training examples are written as they come; evaluation examples (a minority) wait until
    every training prompt is known, for the leak check. Memory stays flat in the number of examples."""
    started = time.perf_counter()
    say("loading the graph")
    syn = Synthesizer(load_graph(kg_artifact.path), cfg)
    guard, tally = LeakGuard(), _Tally(syn.name)
    held: list[dict[str, Any]] = []
    with _SplitWriters(folder, cfg.negatives.preference_kinds) as out:
        for i, e in enumerate(syn.examples(), 1):
            if e["split"] in TRAINING_SPLITS:
                guard.see_train(e)
                tally.add(e)
                out.add(e)
            else:
                held.append(e)
            if i % 50_000 == 0:
                say(f"generated {i:,} examples")
        for e in held:
            if guard.admit(e):
                tally.add(e)
                out.add(e)
        del held
    say("saving the DatasetDict")
    _save_dataset(folder, out.splits)
    leakage = {**guard.report(), "test_prompts_in_train": leaked_prompts(folder / "parquet", out.splits)}
    info = _llama_factory_info(out.splits, system=bool(cfg.system_prompt), pairs=out.pair_splits)
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n", "utf-8")
    tasks = {s: dict(sorted(tally.tasks[s].items())) for s in SPLITS if tally.tasks.get(s)}
    _write_card(folder, cfg, kg_artifact, {s: tally.splits[s] for s in out.splits}, tasks, dict(sorted(tally.kinds.items())))
    return {
        "counts": {"examples": sum(tally.splits.values()), **{s: tally.splits.get(s, 0) for s in SPLITS}},
        "tasks": tasks,
        "negative_kinds": dict(sorted(tally.kinds.items())),
        "leakage": leakage,
        "generator": dict(sorted(syn.stats.items())),
        "coverage": tally.coverage(syn),
        "quality": tally.quality(),
        "timings": {"total": round(time.perf_counter() - started, 3)},
    }


def _write_card(folder: Path, cfg: SynthConfig, kg: Artifact, splits: dict[str, int],
                tasks: dict[str, dict[str, int]], kinds: dict[str, int], *, kind: str = "synth",
                notes: list[str] = ()) -> None:
    """README.md: the dataset card (Hugging Face format) over the parquet files."""
    sources = cards.ontology_sources(kg)
    cards.write(folder, cards.dataset_card(
        title=f"Instructions from {cards.data_title(sources, kg.key)}", kind=kind, splits=splits, tasks=tasks,
        negative_kinds=kinds, notes=list(notes), sources=sources, data_files={s: f"parquet/{s}.parquet" for s in splits},
        language=cards.languages(kg), config=cfg.model_dump(mode="json")))


class _SplitWriters:
    """parquet/<split>.parquet and jsonl/<split>.{messages,alpaca,sharegpt}.jsonl, written in batches."""

    BATCH = 10_000

    def __init__(self, folder: Path, pair_kinds: list[str]):
        self.folder = folder
        self.pair_kinds = set(pair_kinds)
        self.pair_splits: list[str] = []
        (folder / "parquet").mkdir()
        (folder / "jsonl").mkdir()
        self.parquet: dict[str, pq.ParquetWriter] = {}
        self.buffers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.splits: list[str] = []

    def __enter__(self) -> _SplitWriters:
        return self

    def add(self, e: dict[str, Any]) -> None:
        split = e["split"]
        if split not in self.parquet:
            self.parquet[split] = pq.ParquetWriter(self.folder / "parquet" / f"{split}.parquet", SCHEMA)
            self.splits.append(split)
        self.buffers[split].append(e)
        if len(self.buffers[split]) >= self.BATCH:
            self._flush(split)

    def _flush(self, split: str) -> None:
        rows = self.buffers.pop(split, [])
        if rows:
            self.parquet[split].write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
            _write_jsonl(self.folder / "jsonl", split, rows)
            if split in TRAINING_SPLITS and _write_pairs(self.folder / "jsonl", split, rows, self.pair_kinds) \
                    and split not in self.pair_splits:
                self.pair_splits.append(split)

    def __exit__(self, *exc: object) -> None:
        for split in list(self.buffers):
            self._flush(split)
        for writer in self.parquet.values():
            writer.close()
        self.splits.sort(key=(*SPLITS, *UPDATE_EVAL_SPLITS).index)


def leaked_prompts(parquet: Path, splits: list[str]) -> int:
    """The evaluation prompts that are also training prompts, counted in the files as written (the audit of the
    leak check, which drops them while generating: a count above 0 is a bug)."""
    import pyarrow.parquet as pq

    def prompts(split: str) -> set[str]:
        return set(pq.read_table(parquet / f"{split}.parquet", columns=["prompt"]).column("prompt").to_pylist())

    seen = set().union(*(prompts(s) for s in splits if s in TRAINING_SPLITS))
    return sum(len(prompts(s) & seen) for s in splits if s not in TRAINING_SPLITS)


def _save_dataset(folder: Path, splits: list[str]) -> None:
    from datasets import Dataset, DatasetDict

    cache = folder / ".hf-cache"
    try:
        parts = {s: Dataset.from_parquet(str(folder / "parquet" / f"{s}.parquet"), cache_dir=str(cache))
                 for s in splits}
        DatasetDict(parts).save_to_disk(str(folder / DATASET_DIR))
        del parts
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _write_jsonl(out: Path, split: str, rows: list[dict[str, Any]]) -> None:
    with open(out / f"{split}.messages.jsonl", "a", encoding="utf-8") as m, \
         open(out / f"{split}.alpaca.jsonl", "a", encoding="utf-8") as a, \
         open(out / f"{split}.sharegpt.jsonl", "a", encoding="utf-8") as g:
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


def _write_pairs(out: Path, split: str, rows: list[dict[str, Any]], kinds: set[str]) -> int:
    """Preference pairs (chosen = the graph's answer, rejected = a corrupted one) in LLaMA-Factory's
    ranking layout; a pair whose rejected side is of a kind not in ``kinds`` (by default ``unasserted``,
    merely not stated) is left out, as the reinforce stage does. Returns the number written."""
    lines = []
    for r in rows:
        chosen = r["messages"][-1]["content"]
        if r["rejected"] is None or r["rejected"].strip().casefold() == chosen.strip().casefold():
            continue
        if r["negative_kind"] is not None and r["negative_kind"] not in kinds:
            continue
        row = {"instruction": r["prompt"], "input": "", "chosen": chosen, "rejected": r["rejected"]}
        system = next((x["content"] for x in r["messages"] if x["role"] == "system"), None)
        if system:
            row["system"] = system
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    if lines:
        with open(out / f"{split}.pairs.jsonl", "a", encoding="utf-8") as fh:
            fh.writelines(lines)
    return len(lines)


def _llama_factory_info(tables: list[str], *, system: bool, pairs: list[str]) -> dict[str, Any]:
    """Entries for LLaMA-Factory's data/dataset_info.json, one per split and layout, plus a ranking entry
    (DPO and other preference methods) per training split with pairs. LLaMA-Factory's converter reads every
    declared column from every row, so ``system`` is declared only when the rows carry one."""
    info: dict[str, Any] = {}
    for split in tables:
        sharegpt_columns = {"messages": "conversations", **({"system": "system"} if system else {})}
        info[f"kgtools_{split}"] = {
            "file_name": f"jsonl/{split}.sharegpt.jsonl", "formatting": "sharegpt", "columns": sharegpt_columns,
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        }
        info[f"kgtools_{split}_messages"] = {
            "file_name": f"jsonl/{split}.messages.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                     "system_tag": "system"},
        }
        info[f"kgtools_{split}_alpaca"] = {
            "file_name": f"jsonl/{split}.alpaca.jsonl",
            "columns": {"prompt": "instruction", "query": "input", "response": "output",
                        **({"system": "system"} if system else {})},
        }
    for split in pairs:
        info[f"kgtools_{split}_pairs"] = {
            "file_name": f"jsonl/{split}.pairs.jsonl", "ranking": True,
            "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                        **({"system": "system"} if system else {})},
        }
    return info
