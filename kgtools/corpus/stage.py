"""The `corpus` stage: a `kg` artifact (+ raw domain text) → `corpus` artifact, a Hugging Face dataset of
verbalised and linked passages with their mentions, plus coverage and unlinked-phrase reports."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kgtools.artifacts import Artifact, ArtifactStore, DatasetResult, absolute, artifact_key, files_digest
from kgtools.config import CorpusConfig
from kgtools.corpus.texts import CorpusInputError, check_texts, read_passages, text_files
from kgtools.errors import KgtoolsError
from kgtools.graph.io import load_graph
from kgtools.graph.templates import TemplateBook

log = logging.getLogger(__name__)

STAGE = "corpus"
DATASET_DIR = "dataset"


def features():
    """The corpus schema (DESIGN.md): text, source, kind, mentions[{start, end, node_id, surface, candidates}]."""
    from datasets import Features, List, Value

    mention = {"start": Value("int32"), "end": Value("int32"), "node_id": Value("string"),
               "surface": Value("string"), "candidates": List(Value("string"))}
    return Features({"text": Value("string"), "source": Value("string"), "kind": Value("string"),
                     "mentions": List(mention)})


class CorpusResult(DatasetResult):
    """The corpus artifact; ``.dataset()`` loads it."""



def build_corpus(
    cfg: CorpusConfig, kg: Artifact, store: ArtifactStore, *, force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> CorpusResult:
    """Build (or reuse) the corpus of the graph ``kg`` and the raw texts in ``cfg.texts``."""
    if not cfg.verbalise and not cfg.texts:
        raise CorpusInputError("corpus: nothing to build — verbalise is off and no texts are given")
    files = text_files(cfg.texts) if cfg.texts else []
    check_texts(files, cfg.text_field)
    inputs = {f"kg:{kg.key}": kg.key, **files_digest(files)}
    key = artifact_key(STAGE, cfg.hashable(), inputs)
    say = progress or (lambda _msg: None)

    def build(tmp: Path) -> dict[str, Any]:
        return _build_into(tmp, key, cfg, kg, files, say)

    artifact, built = store.build(STAGE, key, cfg.model_dump(mode="json"), inputs, build, force=force)
    return CorpusResult(artifact, built)


def _build_into(folder: Path, key: str, cfg: CorpusConfig, kg_artifact: Artifact, files: list[Path],
                say: Callable[[str], None]) -> dict[str, Any]:
    from datasets import Dataset
    from datasets.exceptions import DatasetGenerationError

    from kgtools.corpus.link import LinkStats

    started = time.perf_counter()
    kg = load_graph(kg_artifact.path)
    book = TemplateBook(kg.relation_labels(), cfg.template_overrides(), key="corpus.templates",
                         phrasing=kg.meta.get("phrasing"))
    counts: dict[str, int] = {"verbalised": 0}
    stats = LinkStats()
    linker_terms = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal linker_terms
        if cfg.verbalise:
            from kgtools.corpus.verbalise import verbalise

            say("verbalising the graph")
            for record in verbalise(kg, book, paraphrases=cfg.paraphrases, seed=cfg.seed,
                                    include_incoming=cfg.include_incoming):
                counts["verbalised"] += 1
                yield record
        if files:
            from kgtools.corpus.link import Linker

            linker = Linker(kg, synonym_scopes=cfg.synonym_scopes, min_term_chars=cfg.min_term_chars,
                            exclude_terms=cfg.exclude_terms)
            linker_terms = linker.terms
            base = _common_parent(files)
            for record in linker.link(read_passages(files, cfg.text_field, base), stats,
                                      min_mentions=cfg.min_mentions, batch_size=cfg.batch_size,
                                      n_process=cfg.n_process):
                if stats.passages % 1000 == 0:
                    say(f"linking: {stats.passages:,} passages, {stats.kept:,} kept")
                yield record

    cache = folder / ".hf-cache"
    try:
        # from_generator writes Arrow in batches to the cache: memory stays flat for any corpus size
        # fingerprint= spares datasets from hashing the generator (it would pickle the graph and the linker)
        try:
            ds = Dataset.from_generator(records, features=features(), cache_dir=str(cache), fingerprint=key)
        except DatasetGenerationError as exc:
            if isinstance(exc.__cause__, KgtoolsError):  # a bad input file met while streaming
                raise exc.__cause__ from None
            raise
        except ValueError:
            if counts["verbalised"] + stats.kept == 0:  # datasets refuses a generator that yields nothing
                ds = None
            else:
                raise
        if files and stats.passages == 0:
            raise CorpusInputError(f"{', '.join(map(str, cfg.texts))}: empty corpus (no non-blank passage)")
        if ds is None or len(ds) == 0:
            raise CorpusInputError("corpus: no passage was kept (lower min_mentions, or check the texts)")
        say(f"saving {len(ds):,} passages")
        ds.save_to_disk(str(folder / DATASET_DIR))
        del ds
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    concepts = len(kg.concepts())
    linked_concepts = len(stats.mentioned & set(kg.concepts()))
    return {
        "counts": {
            **counts,
            "linked_passages_read": stats.passages,
            "linked_kept": stats.kept,
            "linked_dropped_few_mentions": stats.dropped_few_mentions,
            "linked_mentions": stats.mentions,
            "ambiguous_resolved": stats.ambiguous_resolved,
            "ambiguous_unresolved": stats.ambiguous_unresolved,
            "chars_linked": stats.chars,
            "terms": linker_terms,
        },
        "coverage": {
            "concepts": concepts,
            "mentioned_in_texts": linked_concepts,
            "share": round(linked_concepts / concepts, 4) if concepts else 0.0,
        },
        "unlinked_capitalised": [{"phrase": p, "count": n} for p, n in stats.unlinked.most_common(30)],
        "timings": {"total": round(time.perf_counter() - started, 3)},
    }


def _common_parent(files: list[Path]) -> Path:
    return Path(os.path.commonpath([str(absolute(f).parent) for f in files]))
