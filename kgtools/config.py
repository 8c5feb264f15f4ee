"""Typed configuration, one model per stage, validated at load; every error names its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kgtools.errors import ConfigError


class StageConfig(BaseModel):
    """Base of every stage's config: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def hashable(self) -> dict[str, Any]:
        """The part of the config that decides the artifact's content (inputs enter as file hashes)."""
        return self.model_dump(mode="json")


class KgConfig(StageConfig):
    """Ontologies → knowledge graph."""

    ontologies: list[Path] = Field(min_length=1, description="ontology files or folders")
    catalogs: list[Path] = Field(default_factory=list, description="extra OASIS catalogs for owl:imports")
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1, description="label languages, preferred first")
    include_deprecated: bool = False
    follow_imports: bool = True
    strict_imports: bool = Field(False, description="an unresolved owl:imports is an error, not a warning")
    skos_hierarchy: bool = Field(True, description="skos:broader/narrower become is_a edges")
    allow_cycles: bool = Field(False, description="accept is_a cycles instead of failing")
    prefixes: dict[str, str] = Field(default_factory=dict, description="extra CURIE prefixes, prefix → namespace")

    @field_validator("languages")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not v or not v.replace("-", "").isalnum()]
        if bad:
            raise ValueError(f"not language tags: {bad}")
        return [v.lower() for v in value]

    def hashable(self) -> dict[str, Any]:
        data = super().hashable()
        data.pop("ontologies")
        data.pop("catalogs")
        return data


def _only(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    """Validator body: every value must be one of ``allowed``; the message lists them."""
    bad = sorted(set(values) - set(allowed))
    if bad:
        raise ValueError(f"unknown {what} {bad[0]!r}; allowed: {', '.join(allowed)}")
    return values


def format_validation_error(exc: ValidationError, prefix: str = "", source: str | None = None) -> str:
    """One line per problem: ``file: key.path: message``."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{path or '<root>'}: {msg}")
    head = f"{source}: " if source else ""
    return head + "invalid configuration — " + "; ".join(lines)


def parse_config(model: type[StageConfig], data: Any, *, prefix: str = "", source: str | None = None) -> Any:
    """Validate ``data`` against ``model``, raising :class:`ConfigError` that lists every bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix, source)) from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None


class RelationTemplateConfig(StageConfig):
    """Phrasings of one relation (placeholders {subject}, {object}, {subject_type}, {object_type})."""

    statements: list[str] = Field(default_factory=list)
    questions: list[str] = Field(default_factory=list)
    inverse_questions: list[str] = Field(default_factory=list)


def template_overrides(templates: dict[str, RelationTemplateConfig]) -> dict[str, dict[str, list[str]]]:
    """Per-relation template overrides as plain dicts, for graph.templates.TemplateBook."""
    return {rel: t.model_dump() for rel, t in templates.items()}


SYNONYM_SCOPES = ("exact", "related", "narrow", "broad")


class CorpusConfig(StageConfig):
    """Knowledge graph (+ raw domain text) → corpus of verbalised and linked passages."""

    texts: list[Path] = Field(default_factory=list, description="raw text files or folders (.txt, .jsonl, .parquet)")
    text_field: str = Field("text", min_length=1, description="field holding the text in .jsonl/.parquet")
    verbalise: bool = True
    paraphrases: int = Field(1, ge=1, le=50, description="verbalised passages per concept, each phrased differently")
    include_incoming: bool = Field(True, description="passages also state the relations that point at the concept")
    seed: int = 0
    min_mentions: int = Field(1, ge=0, description="linked passages with fewer resolved mentions are dropped")
    synonym_scopes: list[str] = Field(default_factory=lambda: ["exact"], description="synonyms used for linking")
    min_term_chars: int = Field(3, ge=1, description="shorter terms are not matched, except upper-case acronyms")
    exclude_terms: list[str] = Field(default_factory=list, description="terms never matched (case-insensitive)")
    n_process: int = Field(1, ge=1, description="spaCy worker processes for linking")
    batch_size: int = Field(256, ge=1)
    templates: dict[str, RelationTemplateConfig] = Field(default_factory=dict, description="per-relation phrasings")

    @field_validator("synonym_scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        return _only(value, SYNONYM_SCOPES, "scope")

    def hashable(self) -> dict[str, Any]:
        data = super().hashable()
        data.pop("texts")
        data.pop("n_process")  # how many workers does not change the result
        data.pop("batch_size")
        return data

    def template_overrides(self) -> dict[str, dict[str, list[str]]]:
        return template_overrides(self.templates)


TASKS = ("fact_qa", "inverse_qa", "definition", "multi_hop", "mcq", "yes_no", "list")


class TaskConfig(StageConfig):
    """One task: on or off, and its weight — the expected number of examples per eligible fact group
    (fractions are drawn deterministically per group)."""

    enabled: bool = True
    weight: float = Field(1.0, ge=0)


class TasksConfig(StageConfig):
    fact_qa: TaskConfig = TaskConfig()
    inverse_qa: TaskConfig = TaskConfig()
    definition: TaskConfig = TaskConfig()
    multi_hop: TaskConfig = TaskConfig(weight=0.5)
    mcq: TaskConfig = TaskConfig()
    yes_no: TaskConfig = TaskConfig()
    list: TaskConfig = TaskConfig(weight=0.5)

    def active(self) -> dict[str, float]:
        return {name: getattr(self, name).weight for name in TASKS if getattr(self, name).enabled}


NEGATIVE_KINDS = ("disjoint", "hierarchy", "functional", "unasserted")


class NegativesConfig(StageConfig):
    """Which kinds of negative each use may draw on (see kgtools.synth.facts)."""

    yes_no: list[str] = Field(default_factory=lambda: list(NEGATIVE_KINDS))
    mcq: list[str] = Field(default_factory=lambda: list(NEGATIVE_KINDS))
    rejected: list[str] = Field(default_factory=lambda: ["disjoint", "hierarchy", "functional"])

    @field_validator("yes_no", "mcq", "rejected")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        return _only(value, NEGATIVE_KINDS, "negative kind")


class SplitsConfig(StageConfig):
    heldout: float = Field(0.1, ge=0, lt=1, description="share of facts never trained (test_heldout)")
    paraphrase: float = Field(0.2, ge=0, lt=1, description="share of trained fact groups asked in test_paraphrase")
    validation: float = Field(0.25, ge=0, le=1, description="share of those paraphrase questions sent to validation")
    novel_template: float = Field(0.2, ge=0, le=1, description="share of trained groups asked with a held-out template")
    entity_disjoint: bool = Field(False, description="hold out whole subjects instead of single facts")


class SynthConfig(StageConfig):
    """Knowledge graph → instruction data from graph paths, every answer checked against the graph."""

    seed: int = 0
    tasks: TasksConfig = TasksConfig()
    negatives: NegativesConfig = NegativesConfig()
    splits: SplitsConfig = SplitsConfig()
    templates_per_fact: int = Field(2, ge=1, le=20, description="training phrasings per fact group")
    mcq_choices: int = Field(4, ge=2, le=10)
    list_max_items: int = Field(8, ge=2)
    max_hops: int = Field(3, ge=2, le=3)
    context_facts: int = Field(3, ge=0, description="neighbouring facts added to the supporting ones in `context`")
    relations: list[str] = Field(default_factory=list, description="only these relations (ids or labels); all if empty")
    templates: dict[str, RelationTemplateConfig] = Field(default_factory=dict)
    system_prompt: str | None = None

    @field_validator("tasks")
    @classmethod
    def _weights(cls, value: TasksConfig) -> TasksConfig:
        if sum(value.active().values()) <= 0:
            raise ValueError("the weights of the enabled tasks sum to 0: enable a task or raise a weight")
        return value

    def template_overrides(self) -> dict[str, dict[str, list[str]]]:
        return template_overrides(self.templates)


class DedupeConfig(StageConfig):
    """Synthetic instructions (or a corpus) → the same, without exact and near duplicates, and with the
    training split decontaminated against the evaluation splits."""

    field: str = Field("prompt", description="text to compare: prompt, answer, prompt+answer (synth) or text (corpus)")
    model: str | None = Field(None, description="local sentence-transformers folder; default all-MiniLM-L6-v2")
    threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity above which records are near-duplicates")
    neighbours: int = Field(10, ge=1, le=100)
    exact_below: int = Field(50_000, ge=0, description="use the exact FAISS index below this many records")
    batch_size: int = Field(64, ge=1)
    decontaminate: bool = True
    ngram: int = Field(8, ge=1, description="word n-gram length for the overlap test")
    ngram_overlap: float = Field(0.8, gt=0, le=1, description="share of an evaluation prompt's n-grams found in a train prompt")
    decontam_similarity: float = Field(0.9, gt=0, le=1)

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        if value not in ("prompt", "answer", "prompt+answer", "text"):
            raise ValueError("use prompt, answer, prompt+answer or text")
        return value

    def hashable(self) -> dict[str, Any]:
        data = super().hashable()
        data.pop("batch_size")
        return data
