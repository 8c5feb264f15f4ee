"""The `dedupe` stage: a `synth` (or `corpus`) artifact → the same schema without exact and near
duplicates, with the training split decontaminated against the evaluation splits, plus ``removed.parquet``
and the histogram of nearest-neighbour similarities (PNG and numbers) to choose the threshold from data."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kgtools import cards
from kgtools.artifacts import Artifact, ArtifactStore, DatasetResult, artifact_key, input_paths
from kgtools.config import EVAL_SPLITS, TRAINING_SPLITS, DedupeConfig
from kgtools.dedupe.embed import Embedder, EmbeddingCache
from kgtools.dedupe.groups import find_duplicates, normalise_text
from kgtools.dedupe.index import neighbours
from kgtools.errors import KgtoolsError

STAGE = "dedupe"
# evaluation splits whose overlap with train is intended: the same fact, asked with another template
PARAPHRASE_SPLITS = ("validation", "test_paraphrase", "test_novel_template")
_WORD = re.compile(r"\w+")


class DedupeInputError(KgtoolsError):
    """An input dataset the dedupe stage cannot use (wrong field, empty)."""


class DedupeResult(DatasetResult):
    """The dedupe artifact; ``.dataset()`` loads it."""


def dedupe(cfg: DedupeConfig, source: Artifact, store: ArtifactStore, *, force: bool = False,
           progress: Callable[[str], None] | None = None, cache_dir: str | Path | None = None) -> DedupeResult:
    """Dedupe (and decontaminate) the dataset of a synth or corpus artifact."""
    if source.stage not in ("synth", "corpus"):
        raise DedupeInputError(f"{source.path}: a {source.stage!r} artifact; dedupe takes a synth or corpus artifact")
    inputs = {f"{source.stage}:{source.key}": source.key}
    key = artifact_key(STAGE, {**cfg.hashable(), "source_stage": source.stage}, inputs)
    say = progress or (lambda _msg: None)
    cache = Path(cache_dir) if cache_dir else store.root / ".embeddings"

    def build(tmp: Path) -> dict[str, Any]:
        return {**_build_into(tmp, cfg, source, cache, say), "input_paths": input_paths(store.path_for(STAGE, key), source)}

    artifact, built = store.build(STAGE, key, cfg.model_dump(mode="json"), inputs, build, force=force)
    return DedupeResult(artifact, built)


def texts_of(rows: dict[str, list], field: str, where: str) -> list[str]:
    if field == "prompt+answer":
        missing = [f for f in ("prompt", "answer") if f not in rows]
        if missing:
            raise DedupeInputError(f"{where}: no field {missing[0]!r} (has: {', '.join(rows)}); set dedupe.field")
        return [f"{p}\n{a}" for p, a in zip(rows["prompt"], rows["answer"], strict=True)]
    if field not in rows:
        raise DedupeInputError(f"{where}: no field {field!r} (has: {', '.join(rows)}); set dedupe.field")
    return [t or "" for t in rows[field]]


def _build_into(folder: Path, cfg: DedupeConfig, source: Artifact, cache_dir: Path,
                say: Callable[[str], None]) -> dict[str, Any]:
    from datasets import Dataset, DatasetDict, load_from_disk

    started = time.perf_counter()
    try:
        loaded = load_from_disk(str(source.path / "dataset"))
    except Exception as exc:  # noqa: BLE001 - datasets cannot even open a dataset saved with no rows
        raise DedupeInputError(f"{source.path / 'dataset'}: unreadable or empty dataset ({type(exc).__name__})") from None
    parts = dict(loaded) if isinstance(loaded, DatasetDict) else {"all": loaded}
    if not any(len(ds) for ds in parts.values()):
        raise DedupeInputError(f"{source.path}: empty dataset, nothing to dedupe")
    field = "text" if source.stage == "corpus" and cfg.field == "prompt" else cfg.field
    say("loading the embedder")
    embedder = Embedder(cfg.model, batch_size=cfg.batch_size)
    cache = EmbeddingCache(cache_dir)
    removed_rows: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    groups: dict[str, list[dict]] = {}
    nearest_all: list[np.ndarray] = []
    embedded = computed = 0
    kept_parts: dict[str, Dataset] = {}
    vectors_of: dict[str, np.ndarray] = {}
    for split, ds in parts.items():
        columns = ds.to_dict()
        texts = texts_of(columns, field, f"{source.path} [{split}]")
        triples = facts_of(columns, len(texts))
        ids = columns.get("id") or [f"{split}:{i}" for i in range(len(texts))]
        say(f"embedding {len(texts):,} {split} records")
        total = len(texts)

        def embedding_progress(done: int, split: str = split, total: int = total) -> None:
            say(f"embedding {split}: {done:,} new texts embedded ({total:,} records)")

        vectors, n_new = cache.embed(embedder, texts, progress=embedding_progress)
        embedded, computed = embedded + len(texts), computed + n_new
        near = neighbours(vectors, k=cfg.neighbours, exact_below=cfg.exact_below)
        nearest_all.append(near.nearest())
        result = find_duplicates(texts, triples, vectors, near, threshold=cfg.threshold)
        for r in result.removed:
            removed_rows.append({"id": ids[r.index], "kept_id": ids[r.kept], "similarity": round(r.similarity, 6),
                                 "reason": r.reason, "split": split})
        counts[split] = {"records": len(texts), **result.counts(), "index": near.method}
        groups[split] = [{**g, "kept": ids[g["kept"]]} for g in result.largest_groups]
        kept_parts[split] = ds.select(result.keep)
        vectors_of[split] = vectors[result.keep]

    decontam: dict[str, Any] = {}
    decontam_other: dict[str, Any] = {}
    for part in TRAINING_SPLITS:  # `preference` (reinforce's extra negatives) is training data too
        if cfg.decontaminate and part in kept_parts and any(s in kept_parts for s in EVAL_SPLITS):
            say(f"decontaminating {part} against the evaluation splits")
            kept_parts[part], drops, stats = _decontaminate(kept_parts, vectors_of, field, cfg, part)
            if part == "train":
                decontam = stats
            else:
                decontam_other[part] = stats
            removed_rows.extend(drops)

    say("writing")
    out = DatasetDict(kept_parts) if isinstance(loaded, DatasetDict) else kept_parts["all"]
    out.save_to_disk(str(folder / "dataset"))
    pq.write_table(pa.Table.from_pylist(removed_rows, schema=pa.schema([
        ("id", pa.string()), ("kept_id", pa.string()), ("similarity", pa.float64()), ("reason", pa.string()),
        ("split", pa.string())])), folder / "removed.parquet")
    histogram = _histogram(np.concatenate(nearest_all) if nearest_all else np.zeros(0), cfg.threshold, folder)
    if source.stage == "synth" and isinstance(loaded, DatasetDict):
        _write_card(folder, source, kept_parts, len(removed_rows), cfg)
    return {
        "counts": {"records": embedded, "kept": sum(len(d) for d in kept_parts.values()),
                   "removed": len(removed_rows), "embedded_now": computed, "embedded_from_cache": embedded - computed},
        "splits": counts,
        "largest_groups": groups,
        "decontamination": decontam,
        **({f"decontamination_{k}": v for k, v in decontam_other.items()}),
        "removed_by_reason": dict(Counter(r["reason"] for r in removed_rows)),
        "nearest_neighbour_histogram": histogram,
        "embedder": {"model": str(embedder.path), "model_id": embedder.model_id, "dim": embedder.dim},
        "timings": {"total": round(time.perf_counter() - started, 3)},
    }


def _write_card(folder: Path, source: Artifact, kept: dict[str, Any], removed: int, cfg: DedupeConfig) -> None:
    """README.md: the dataset card of the deduplicated instruction data (Hugging Face format)."""
    kg = cards.upstream(source, "kg")
    sources = cards.ontology_sources(kg)
    tasks = {s: dict(sorted(Counter(ds["task"]).items())) for s, ds in kept.items() if "task" in ds.column_names}
    kinds = Counter(k or "-" for ds in kept.values() if "negative_kind" in ds.column_names for k in ds["negative_kind"])
    cards.write(folder, cards.dataset_card(
        title=f"Instructions from {cards.data_title(sources, source.key)}, deduplicated", kind="dedupe",
        splits={s: len(ds) for s, ds in kept.items()}, tasks=tasks, negative_kinds=dict(sorted(kinds.items())),
        sources=sources, data_files={s: f"dataset/{s}/*.arrow" for s in kept}, language=cards.languages(kg),
        config=source.manifest.get("config", {}),
        notes=[f"Deduplicated from the synth artifact {source.key}: {removed:,} records removed as near-duplicates "
               f"(cosine ≥ {cfg.threshold} on `{cfg.field}`) or as training records too close to an evaluation "
               f"record (decontamination: {'on' if cfg.decontaminate else 'off'})."]))


def facts_of(columns: dict[str, list], n: int) -> list[frozenset[str] | None]:
    """What each record is about: its triples; for a record about one concept only (a definition), that
    concept; None for records without provenance (corpus passages)."""
    if "triples" not in columns:
        return [None] * n
    subjects = columns.get("subject") or [None] * n
    return [frozenset(t) if t else (frozenset({f"concept:{s}"}) if s else frozenset())
            for t, s in zip(columns["triples"], subjects, strict=True)]


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _decontaminate(parts: dict[str, Any], vectors_of: dict[str, np.ndarray], field: str,
                   cfg: DedupeConfig, part: str = "train") -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    """Remove ``part`` (a training split) records whose text is an exact, n-gram or embedding near-duplicate of an evaluation
    record about a shared fact — except the intended overlap (same fact, another template) of the
    paraphrase splits. Near-duplicates about different facts are counted, not removed."""
    import faiss

    train = parts[part].to_dict()
    train_texts = texts_of(train, field, part)
    train_triples = [f or frozenset() for f in facts_of(train, len(train_texts))]
    evals: list[tuple[str, str, frozenset[str], str]] = []  # (split, text, triples, id)
    eval_vectors = []
    for split in EVAL_SPLITS:
        if split not in parts:
            continue
        rows = parts[split].to_dict()
        split_texts = texts_of(rows, field, split)
        for text, facts, ident in zip(split_texts, facts_of(rows, len(split_texts)), rows["id"], strict=True):
            evals.append((split, text, facts or frozenset(), ident))
        eval_vectors.append(vectors_of[split])
    by_norm: dict[str, list[int]] = {}
    by_gram: dict[tuple[str, ...], list[int]] = {}
    gram_counts = []
    for j, (_, text, _, _) in enumerate(evals):
        by_norm.setdefault(normalise_text(text), []).append(j)
        grams = _ngrams(text, cfg.ngram)
        gram_counts.append(len(grams))
        for g in grams:
            by_gram.setdefault(g, []).append(j)
    index = faiss.IndexFlatIP(eval_vectors[0].shape[1])
    index.add(np.ascontiguousarray(np.vstack(eval_vectors), dtype=np.float32))
    sims, nn = index.search(np.ascontiguousarray(vectors_of[part], dtype=np.float32), min(5, len(evals)))

    drop: dict[int, tuple[str, str, float]] = {}
    reasons: Counter = Counter()
    for i, text in enumerate(train_texts):
        candidates: dict[int, tuple[str, float]] = {}
        for j in by_norm.get(normalise_text(text), ()):
            candidates[j] = ("decontam_exact", 1.0)
        hits = Counter(j for g in _ngrams(text, cfg.ngram) for j in by_gram.get(g, ()))
        for j, shared in hits.items():
            if j not in candidates and gram_counts[j] and shared / gram_counts[j] >= cfg.ngram_overlap:
                candidates[j] = ("decontam_ngram", shared / gram_counts[j])
        for s, j in zip(sims[i], nn[i], strict=True):
            if j >= 0 and s >= cfg.decontam_similarity and int(j) not in candidates:
                candidates[int(j)] = ("decontam_embedding", float(s))
        for j, (reason, score) in sorted(candidates.items()):
            split, _, eval_triples, ident = evals[j]
            same_fact = bool(train_triples[i] & eval_triples)
            if reason != "decontam_exact" and not same_fact:
                reasons["near_but_different_facts"] += 1
                continue
            if reason != "decontam_exact" and split in PARAPHRASE_SPLITS:  # same fact, another template
                reasons["intended_paraphrase_overlap"] += 1
                continue
            drop[i] = (reason, ident, score)
            reasons[reason] += 1
            break
    keep = [i for i in range(len(train_texts)) if i not in drop]
    rows = [{"id": train["id"][i], "kept_id": ident, "similarity": round(score, 6), "reason": reason, "split": part}
            for i, (reason, ident, score) in sorted(drop.items())]
    return parts[part].select(keep), rows, {f"removed_from_{part}": len(drop), **dict(sorted(reasons.items()))}


def _histogram(nearest: np.ndarray, threshold: float, folder: Path) -> dict[str, Any]:
    """Counts of each record's highest similarity to another record, in bins of 0.05, and a PNG."""
    values = nearest[nearest > -1]
    edges = np.round(np.linspace(-1.0, 1.0, 41), 2)
    counts, _ = np.histogram(values, bins=edges)
    data = {"bins": edges.tolist(), "counts": counts.tolist(), "threshold": threshold,
            "above_threshold": int((values >= threshold).sum()), "records": int(values.size)}
    (folder / "nn_similarity.json").write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    from matplotlib.figure import Figure  # the object API: a notebook user's pyplot backend is left alone

    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.bar(edges[:-1], counts, width=0.05, align="edge", color="#4a78a8")
    ax.axvline(threshold, color="#c0392b", linestyle="--", label=f"threshold {threshold}")
    ax.set_xlabel("cosine similarity to the nearest other record")
    ax.set_ylabel("records")
    ax.set_xlim(max(-0.2, float(values.min()) - 0.05) if values.size else 0, 1.0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "nn_similarity.png", dpi=120)
    return data

