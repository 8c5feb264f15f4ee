"""Typed configuration, one model per stage, validated at load; every error names its key path."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kgtools.errors import ConfigError
from kgtools.synth.registry import TASKS as TASK_SPECS

_NUMERIC = (int, float, bool, int | None, float | None, bool | None)


class StageConfig(BaseModel):
    """Base of every stage's config: unknown keys are errors, not silently ignored; a number or a switch
    written as a quoted string (``lr: "1e-3"``) is an error, not converted behind the user's back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_quoted_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, str) and annotation in _NUMERIC:
            what = "true or false" if annotation in (bool, bool | None) else "a valid number"
            raise ValueError(f"Input should be {what}, not the string {value!r} (write it without quotes)")
        return value

    def hashable(self) -> dict[str, Any]:
        """The part of the config that decides the artifact's content (inputs enter as file hashes)."""
        return self.model_dump(mode="json")


ENTAILMENT_RULES = ("inherited", "transitive", "chain", "sub_property", "inverse", "symmetric", "domain", "range")


class EntailmentConfig(StageConfig):
    """The closure the kg stage computes (kgtools.graph.closure): inferred facts with their premises."""

    enabled: bool = True
    rules: list[str] = Field(default_factory=lambda: list(ENTAILMENT_RULES), description="rules applied")
    max_rounds: int = Field(4, ge=1, le=50, description="rounds of transitive/chain/sub-property/inverse rules")
    max_facts: int = Field(5_000_000, ge=1, description="stop (and say so in the manifest) past this many inferred facts")

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        return _only(value, ENTAILMENT_RULES, "entailment rule")


class KgConfig(StageConfig):
    """Ontologies → knowledge graph."""

    ontologies: list[Path] = Field(min_length=1, description="ontology files or folders")
    catalogs: list[Path] = Field(default_factory=list, description="extra OASIS catalogs for owl:imports")
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1, description="label languages, preferred first")
    include_deprecated: bool = False
    follow_imports: bool = True
    strict_imports: bool = Field(False, description="an unresolved owl:imports is an error, not a warning")
    allow_imports_outside: bool = Field(False, description="owl:imports and catalog entries may name files outside "
                                        "the folders of the inputs and catalogs given")
    max_literal_chars: int = Field(1_000_000, ge=1, description="a file with a longer literal is refused")
    max_triples: int = Field(50_000_000, ge=1, description="loading more triples than this (all files) is refused: "
                             "a guard against one file exhausting a shared machine's memory")
    skos_hierarchy: bool = Field(True, description="skos:broader/narrower become is_a edges")
    allow_cycles: bool = Field(False, description="accept is_a cycles instead of failing")
    name_individuals: bool = Field(False, description="an individual without a label is named from its type and "
                                   "identifier ('HMDA disposition: application denied') instead of left unnamed")
    prefixes: dict[str, str] = Field(default_factory=dict, description="extra CURIE prefixes, prefix → namespace")
    entailment: EntailmentConfig = EntailmentConfig()

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
        data.pop("max_literal_chars")  # guards: they refuse a build, never change what one writes
        data.pop("max_triples")
        return data


def _only(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    """Validator body: every value must be one of ``allowed``; the message lists them."""
    bad = sorted(set(values) - set(allowed))
    if bad:
        raise ValueError(f"unknown {what} {bad[0]!r}; allowed: {', '.join(allowed)}")
    return values


def key_error(key: str, message: str) -> PydanticCustomError:
    """An error of a check across fields (a model validator), blamed on ``key`` relative to the model."""
    return PydanticCustomError("kgtools_key", "{key}: {message}", {"key": key, "message": message})


def format_validation_error(exc: ValidationError, prefix: str = "", source: str | None = None) -> str:
    """One line per problem: ``file: key.path: message``."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "kgtools_key":  # a check across fields names the key it blames
            path, msg = ".".join(p for p in (path, err["ctx"]["key"]) if p), err["ctx"]["message"]
        lines.append(f"{path or '<root>'}: {msg}")
    head = f"{source}: " if source else ""
    return head + "invalid configuration — " + "; ".join(lines)


def parse_config(model: type[StageConfig], data: Any, *, prefix: str = "", source: str | None = None) -> Any:
    """Validate ``data`` against ``model``, raising :class:`ConfigError` that lists every bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix, source)) from None


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; YAML 1.2 and every user read it as a number. A key given
    twice in one mapping (two domains of one name, a section repeated) is an error, not the last one winning."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (first on line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
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


SYNONYM_SCOPES = ("exact", "abbreviation", "related", "narrow", "broad")


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


TASKS = tuple(TASK_SPECS)  # the synth tasks (kgtools.synth.registry), in the order the training defaults list them


class TaskConfig(StageConfig):
    """One task: on or off, and its weight — the expected number of examples per eligible fact group
    (fractions are drawn deterministically per group)."""

    enabled: bool = True
    weight: float = Field(1.0, ge=0)


class _Tasks(StageConfig):
    def active(self) -> dict[str, float]:
        return {name: getattr(self, name).weight for name in TASKS if getattr(self, name).enabled}


# one field per registered task, with the task's default weight
TasksConfig = create_model("TasksConfig", __base__=_Tasks, __doc__="Each synth task: on or off, and its weight.",
                           **{name: (TaskConfig, TaskConfig(weight=spec.weight)) for name, spec in TASK_SPECS.items()})


# `stale`: what an older release stated and the new one corrects (kgtools.synth.update), false by the curators' word
NEGATIVE_KINDS = ("disjoint", "hierarchy", "functional", "cardinality", "stale", "unasserted")
SURE_NEGATIVE_KINDS = ("disjoint", "hierarchy", "functional", "cardinality", "stale")  # false by the ontology's own axioms
# Ontology plumbing: upper-ontology classes (BFO), the information-artifact and metadata vocabularies whose
# terms are curation statuses and annotation values (IAO, OMO), and owl:Thing.
PLUMBING = ("owl:Thing", "http://www.w3.org/2002/07/owl#Thing", "BFO:*", "http://purl.obolibrary.org/obo/BFO_*",
            "IAO:*", "http://purl.obolibrary.org/obo/IAO_*", "OMO:*", "http://purl.obolibrary.org/obo/OMO_*")


class NegativesConfig(StageConfig):
    """Which kinds of negative each use may draw on (see kgtools.synth.facts), and how many extra
    corrupted statements the reinforce stage gets."""

    yes_no: list[str] = Field(default_factory=lambda: list(NEGATIVE_KINDS))
    mcq: list[str] = Field(default_factory=lambda: list(NEGATIVE_KINDS))
    rejected: list[str] = Field(default_factory=lambda: ["disjoint", "hierarchy", "functional"])
    preference: int = Field(0, ge=0, le=32, description=(
        "extra corrupted statements per trained true/false statement, in the `preference` split that only the "
        "reinforce stage reads; never a corrupted triple that an evaluation split asks about"))
    preference_kinds: list[str] = Field(default_factory=lambda: ["disjoint", "hierarchy", "functional"], description=(
        "kinds the `preference` split draws on: by default never `unasserted` (open world: merely not stated "
        "is not known to be false, and reinforce pushes hardest)"))

    @field_validator("yes_no", "mcq", "rejected", "preference_kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        return _only(value, NEGATIVE_KINDS, "negative kind")


class SplitsConfig(StageConfig):
    heldout: float = Field(0.1, ge=0, lt=1, description="share of facts never trained (test_heldout)")
    paraphrase: float = Field(0.2, ge=0, lt=1, description="share of trained fact groups asked in test_paraphrase")
    validation: float = Field(0.25, ge=0, le=1, description="share of those paraphrase questions sent to validation")
    novel_template: float = Field(0.2, ge=0, le=1, description="share of trained groups asked with a held-out template")
    entity_disjoint: bool = Field(False, description="hold out whole subjects instead of single facts")


class UpdateDataConfig(StageConfig):
    """Update data from a kg diff (`kgtools synth update`, kgtools.synth.update): what changed, asked in
    several phrasings, with replay of unchanged facts and the evaluation splits of a knowledge edit."""

    templates_per_fact: int = Field(3, ge=1, le=20, description="training phrasings per changed fact group")
    replay: float = Field(1.0, ge=0, description="replayed examples of unchanged facts per changed-fact training example")
    near_hops: int = Field(2, ge=1, le=4, description="a concept this many edges from a change (either way) is near")
    near_weight: float = Field(4.0, ge=1, description="how much likelier a near concept's example is replayed than a far one's")
    max_locality: int = Field(500, ge=1, description="at most this many examples in each locality split")


class LiteralsConfig(StageConfig):
    """Which codes and values the `literal` task asks (see kgtools.synth.literals)."""

    xrefs: bool = Field(True, description=(
        "cross-references (oboInOwl:hasDbXref, literal skos:exactMatch), one kind per code system: 'What ICD-10-CM "
        "identifier is cholera mapped to?'; citations (PMID, DOI, URLs) are never asked"))
    notation: bool = Field(True, description="skos:notation values: 'What is the notation of X?'")
    properties: dict[str, str | None] = Field(default_factory=dict, description=(
        "annotation or datatype properties (id, IRI or label) → the noun naming their value ('CVX code'); null: "
        "the property's label without a leading 'has'"))
    max_values: int = Field(3, ge=1, description=(
        "a concept with more values of one kind is not asked about it (no single answer to learn)"))

    @field_validator("properties")
    @classmethod
    def _nouns(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for key, noun in value.items():
            if not key.strip() or (noun is not None and not noun.strip()):
                raise ValueError(f"{key!r}: give a property and the noun that names its value, or null")
        return value


class InferredConfig(StageConfig):
    """How the facts the graph entails (the kg's inferred.parquet) are asked (kgtools.graph.closure)."""

    rules: list[str] = Field(default_factory=lambda: list(ENTAILMENT_RULES), description=(
        "the rules whose inferred facts are asked like stated facts; [] asks none"))
    heldout: float = Field(0.3, ge=0, le=1, description=(
        "share of the inferred facts whose every premise is trained that are held out, to measure whether the "
        "model infers what it was not told (evaluation: inferred EM / inferred choice)"))

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        return _only(value, ENTAILMENT_RULES, "entailment rule")


class DiagnosisConfig(StageConfig):
    """Which relations the `diagnosis` task asks and how many clues a question may give (kgtools.synth.diagnosis)."""

    relations: list[str] = Field(default_factory=list, description=(
        "relations (ids or labels) whose values are the clues ('has symptom'); empty: every relation for which "
        "min_subjects subjects have min_clues values or more"))
    min_clues: int = Field(2, ge=2, description="fewer clues are an inverse question, not a diagnosis")
    max_clues: int = Field(5, ge=2, description="a subject that needs more clues to be told apart is not asked")
    min_subjects: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _range(self) -> DiagnosisConfig:
        if self.max_clues < self.min_clues:
            raise ValueError(f"max_clues ({self.max_clues}) is below min_clues ({self.min_clues})")
        return self


class SynthConfig(StageConfig):
    """Knowledge graph → instruction data from graph paths, every answer checked against the graph."""

    seed: int = 0
    tasks: TasksConfig = TasksConfig()
    negatives: NegativesConfig = NegativesConfig()
    literals: LiteralsConfig = LiteralsConfig()
    diagnosis: DiagnosisConfig = DiagnosisConfig()
    inferred: InferredConfig = InferredConfig()
    splits: SplitsConfig = SplitsConfig()
    update: UpdateDataConfig = UpdateDataConfig()
    templates_per_fact: int = Field(2, ge=1, le=20, description="training phrasings per fact group")
    mcq_choices: int = Field(4, ge=2, le=10)
    mcq_max_per_answer: int | None = Field(8, ge=1, description=(
        "at most this many multiple-choice questions share one correct answer: a concept that answers hundreds "
        "of them ('viral infectious disease') would be guessed right by answer frequency alone; null: no cap"))
    list_max_items: int = Field(8, ge=2)
    max_hops: int = Field(3, ge=2, le=3)
    context_facts: int = Field(3, ge=0, description="neighbouring facts added to the supporting ones in `context`")
    relations: list[str] = Field(default_factory=list, description="only these relations (ids or labels); all if empty")
    exclude: list[str] = Field(default_factory=lambda: list(PLUMBING), description=(
        "ids or IRIs (shell patterns) of ontology plumbing never used as subject, answer or noun: upper-ontology "
        "roots, curation-status and annotation individuals; [] keeps everything"))
    multi_hop_taxonomic: bool = Field(False, description="allow multi-hop chains made of is_a edges only")
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


TRAIN_STAGES = ("kg_sft", "distill", "reinforce")
SFT_TASKS = TASKS  # every synth task trains


class LoraSettings(StageConfig):
    r: int = Field(8, ge=1, description="LoRA rank (PEFT multiplies it by the number of experts on fused experts)")
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1, description="must be 0 when routed experts are targeted")
    targets: list[str] = Field(default_factory=lambda: ["attention", "shared_experts", "routed_experts"], min_length=1)
    train_embeddings: bool | None = Field(None, description="also train the token embeddings and LM head in full; "
                                          "default: on for the randomly initialised presets, off for checkpoints")
    embedding_r: int | None = Field(None, ge=1, description=(
        "the rank of the 'embeddings' target group (a random preset's embeddings need a high one, e.g. half the "
        "hidden size); null: r"))
    layers: list[int] | None = Field(None, min_length=2, max_length=2, description=(
        "[from, to], both included, counted from 0: LoRA (and a trained router) only on these decoder layers — "
        "the lower layers stay frozen; null: every layer"))

    @field_validator("targets")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        from kgtools.models import TARGET_GROUPS

        return _only(value, TARGET_GROUPS, "target group")

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and not 0 <= value[0] <= value[1]:
            raise ValueError(f"[from, to] with 0 <= from <= to; got {value}")
        return value


class EsftSettings(StageConfig):
    """Expert-specialised fine-tuning (DeepSeek's ESFT): train only the experts the domain data uses most."""

    enabled: bool = False
    score: str = Field("token_share", description="token_share or gate_score")
    top_p: float | None = Field(None, description="cumulative score to reach per layer; default 0.2 (token_share) or 0.1 (gate_score)")
    sample: int = Field(256, ge=1, description="domain examples scored")
    experts: dict[int, list[int]] | None = Field(None, description=(
        "the routed experts to train, per MoE layer ({layer: [expert ids]}; a layer left out trains none), given "
        "instead of chosen from this domain's routing — e.g. a disjoint share of the experts computed over several "
        "domains by kgtools.train.routing.disjoint_experts; null: ESFT chooses"))

    @field_validator("score")
    @classmethod
    def _score(cls, value: str) -> str:
        return _only([value], ("token_share", "gate_score"), "ESFT score")[0]

    @field_validator("top_p")
    @classmethod
    def _top_p(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError(f"must be in (0, 1], got {value}")
        return value

    def threshold(self) -> float:
        return self.top_p if self.top_p is not None else (0.2 if self.score == "token_share" else 0.1)

    @field_validator("experts")
    @classmethod
    def _experts(cls, value: dict[int, list[int]] | None) -> dict[int, list[int]] | None:
        if value is not None and any(layer < 0 or any(e < 0 for e in ids) for layer, ids in value.items()):
            raise ValueError("layers and expert ids count from 0")
        return None if value is None else {int(k): sorted(set(v)) for k, v in value.items()}


# speed and memory settings of a training stage: the same weights come out (to rounding), so they are not part of
# the artifact's key
SPEED_SETTINGS = ("gradient_checkpointing", "compile")


class OptimSettings(StageConfig):
    epochs: float = Field(3, gt=0)
    max_steps: int = Field(-1, ge=-1, description="stop after this many steps (overrides epochs when > 0; -1: no limit)")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_length: int = Field(256, ge=16, description="tokens per (packed) row")
    max_examples: int | None = Field(None, ge=1, description="use at most this many training examples")
    tasks: list[str] = Field(default_factory=lambda: list(SFT_TASKS), min_length=1)
    save_steps: int = Field(50, ge=1, description="checkpoint every N steps (a killed run resumes from the last)")
    gradient_checkpointing: bool = Field(False, description=(
        "recompute activations in the backward pass: less memory for long rows or large models, more time "
        "(benchmarks/bench_train.py measures both)"))
    compile: bool = Field(False, description="torch.compile the model (TrainingArguments.torch_compile); pays off only on long runs")

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: list[str]) -> list[str]:
        return _only(value, SFT_TASKS, "task")


class SftSettings(OptimSettings):
    packing: bool = Field(True, description="pack several examples per row (no attention across them)")
    context_share: float = Field(0.3, ge=0, le=1, description="share of prompts that carry the example's graph facts")


class DistillSettings(OptimSettings):
    temperature: float = Field(2.0, gt=0)
    label_weight: float = Field(0.0, ge=0, le=1, description="weight of the label loss mixed with the KL")
    tasks: list[str] = Field(default_factory=lambda: list(SFT_TASKS), min_length=1)


class ReinforceSettings(OptimSettings):
    beta: float = Field(0.1, gt=0)
    loss_type: list[str] = Field(default_factory=lambda: ["sigmoid", "sft"], min_length=1)
    lr: float = Field(5e-4, gt=0)
    epochs: float = Field(1, gt=0)
    tasks: list[str] = Field(default_factory=lambda: ["fact_qa", "inverse_qa", "synonym", "literal", "yes_no", "mcq"], min_length=1)
    negative_kinds: list[str] = Field(default_factory=lambda: list(SURE_NEGATIVE_KINDS), description=(
        "kinds of corrupted fact a training pair may reject; `unasserted` (merely not stated) is left out by "
        "default: in an open-world ontology it may be true"))

    @field_validator("negative_kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        return _only(value, NEGATIVE_KINDS, "negative kind")


class TrainConfig(StageConfig):
    """Instruction data → an MoE model that knows the graph: kg_sft → distill → reinforce, LoRA through PEFT."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    model: str = Field("tiny-deepseek-moe", description="a preset (tiny-deepseek-moe, small-deepseek-moe) or a local checkpoint folder")
    trust_remote_code: bool = False
    seed: int = 0
    vocab_size: int = Field(4096, ge=300, description="tokenizer trained for presets")
    dtype: str = Field("auto", description="auto (bf16 on GPU, fp32 on CPU), float32 or bfloat16")
    stages: list[str] = Field(default_factory=lambda: list(TRAIN_STAGES), min_length=1)
    lora: LoraSettings = LoraSettings()
    esft: EsftSettings = EsftSettings()
    balance_loss: float = Field(0.01, ge=0, description="load-balancing loss weight, used only when the router is trained")
    routing_sample: int = Field(128, ge=1, description="domain examples on which routing is recorded")
    from_: str | None = Field(None, alias="from", description=(
        "transfer: a train artifact (another domain's tuned model) that the first stage starts from instead of the "
        "base — its chain merged under this domain's adapters (lora.layers keeps the lower layers frozen); its key, "
        "not its path, enters this artifact's key"))
    report_to: list[str] = Field(default_factory=lambda: ["auto"], description=(
        "where the training logs go besides the artifact (transformers' report_to): auto (TensorBoard under the "
        "stage artifact's tensorboard/ when the tensorboard package is installed: pip install kgtools[tensorboard]), "
        "none, tensorboard, mlflow, wandb, …; not part of the artifact's key"))
    kg_sft: SftSettings = SftSettings()
    distill: DistillSettings = DistillSettings()
    reinforce: ReinforceSettings = ReinforceSettings()

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: list[str]) -> list[str]:
        _only(value, TRAIN_STAGES, "stage")
        order = [TRAIN_STAGES.index(s) for s in value]
        if order != sorted(set(order)):
            raise ValueError(f"stages run in the order {', '.join(TRAIN_STAGES)}, each once; got {value}")
        return value

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        return _only([value], ("auto", "float32", "bfloat16"), "dtype")[0]

    @field_validator("report_to")
    @classmethod
    def _report_to(cls, value: list[str]) -> list[str]:
        from importlib.util import find_spec

        known = ("auto", "none", "tensorboard", "mlflow", "wandb", "comet_ml", "neptune", "clearml", "dvclive",
                 "codecarbon", "swanlab", "trackio")
        _only(value, known, "report_to value")
        if "tensorboard" in value and find_spec("tensorboard") is None:
            raise ValueError("tensorboard is not installed: pip install 'kgtools[tensorboard]', or leave it out")
        others = [v for v in value if v not in ("auto", "none", "tensorboard")]
        if others:  # transformers is imported only then: reading a config never loads torch
            from transformers.integrations import get_available_reporting_integrations

            others = [v for v in others if v not in get_available_reporting_integrations()]
        missing = others
        if missing:
            raise ValueError(f"{missing[0]} is not installed (pip install {missing[0]}), or leave it out")
        return value

    def reporters(self) -> list[str]:
        """``report_to`` resolved: ``auto`` is TensorBoard when its package is installed, else nothing."""
        from importlib.util import find_spec

        out = [v for v in self.report_to if v not in ("auto", "none")]
        if "auto" in self.report_to and find_spec("tensorboard") is not None and "tensorboard" not in out:
            out.append("tensorboard")
        return [] if "none" in self.report_to else out

    @model_validator(mode="after")
    def _together(self) -> TrainConfig:
        """Settings that contradict each other, found when the config is read (before a pipeline's first
        stage), not when training starts."""
        mlp = sorted({"routed_experts", "shared_experts", "dense_mlp"} & set(self.lora.targets))
        if self.lora.dropout > 0 and mlp:
            raise key_error("lora.dropout", f"must be 0 when {', '.join(mlp)} are targeted (PEFT target_parameters "
                            "has no dropout); set it to 0 or target only attention")
        if self.lora.train_embeddings and "embeddings" in self.lora.targets:
            raise key_error("lora.train_embeddings", "'embeddings' in lora.targets is a low-rank update of the "
                            "embeddings, train_embeddings trains them in full; choose one")
        if self.esft.enabled and "routed_experts" not in self.lora.targets:
            raise key_error("esft.enabled", "ESFT trains selected routed experts; add 'routed_experts' to lora.targets")
        for name in TRAIN_STAGES:
            if getattr(self, name).gradient_checkpointing and "router" in self.lora.targets:
                raise key_error(f"{name}.gradient_checkpointing", "the router's balance loss reads the routers through "
                                "hooks, which fire twice when activations are recomputed; turn one of them off")
        return self

    def hashable(self) -> dict[str, Any]:
        data = super().hashable()
        data.pop("stages")
        data.pop("report_to")  # where logs go changes no weight
        data.pop("from_")  # the artifact started from enters as an input (its key)
        for section, key in (("lora", "layers"), ("lora", "embedding_r"), ("esft", "experts")):  # newer settings, unset: earlier keys stay valid
            if data[section][key] is None:
                data[section].pop(key)
        for name in TRAIN_STAGES:
            for key in SPEED_SETTINGS:
                data[name].pop(key)
        return data


class AuditConfig(StageConfig):
    """`kgtools audit`: which of a graph's facts a model knows (kgtools.audit)."""

    tasks: list[str] = Field(default_factory=lambda: ["fact_qa", "mcq"], min_length=1,
                             description="how facts are asked: synth tasks (fact_qa: closed-book open, mcq: multiple choice, …)")
    max_per_relation: int | None = Field(50, ge=1, description="at most this many facts per task and relation (sampled); null: all")
    batch_size: int = Field(32, ge=1, description="answers per forward pass (generation and answer scoring); the metrics do not depend on it")
    max_new_tokens: int = Field(48, ge=1)
    confident: float = Field(0.5, gt=0, lt=1)
    trust_remote_code: bool = Field(False, description="allow a checkpoint's own Python code to run")
    seed: int = 0

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: list[str]) -> list[str]:
        return _only(value, TASKS, "task")

    def hashable(self) -> dict[str, Any]:
        data = super().hashable()
        data.pop("batch_size")
        data.pop("trust_remote_code")
        return data


EVAL_SPLITS = ("validation", "test_paraphrase", "test_novel_template", "test_heldout")
# the evaluation splits of update data (kgtools.synth.update): changed facts in unseen phrasings, corrected facts
# to reject, one-hop consequences of a change, unchanged facts near a change and far from one
DEFAULT_EVAL_SPLITS = ("test_paraphrase", "test_novel_template", "test_heldout")  # what `eval` reads unless told
UPDATE_EVAL_SPLITS = ("test_changed", "test_removed", "test_portability", "test_locality_near", "test_locality_far")
# what the fine-tune reads: `train` for every stage, `preference` (extra corrupted statements) for reinforce only
TRAINING_SPLITS = ("train", "preference")


class EvalConfig(StageConfig):
    """Fine-tuned stages → what they learned: closed-book QA, multiple choice, negatives, retention."""

    splits: list[str] | None = Field(None, min_length=1, description=(
        "the splits to evaluate; default: test_paraphrase, test_novel_template and test_heldout, or on update data "
        "(synth update) test_changed, test_removed, test_portability, test_locality_near and test_locality_far"))
    max_per_task: int | None = Field(200, ge=1, description="at most this many examples per split and task (sampled)")
    batch_size: int = Field(32, ge=1, description="answers per forward pass (generation and answer scoring); the metrics do not depend on it")
    max_new_tokens: int = Field(48, ge=1)
    with_context: bool = Field(True, description="also evaluate the kg_sft model with the graph facts in the prompt")
    include_base: bool = Field(True, description="also evaluate the model before fine-tuning")
    retention_text: Path | None = Field(None, description="text not about the domain for the retention perplexity; default: the bundled one")
    confident: float = Field(0.5, gt=0, lt=1, description="mean token probability above which a wrong answer counts as confident")
    trust_remote_code: bool = Field(False, description="allow a checkpoint's own Python code to run; never taken from an artifact")
    seed: int = 0

    @field_validator("splits")
    @classmethod
    def _splits(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _only(value, (*EVAL_SPLITS, *UPDATE_EVAL_SPLITS), "split")

    @field_validator("retention_text")
    @classmethod
    def _text_file(cls, value: Path | None) -> Path | None:
        """Checked when the config is read, not after the training it follows: a readable UTF-8 text file."""
        if value is None:
            return value
        if not value.is_file():
            raise ValueError(f"{value}: no such file" if not value.exists() else f"{value}: not a regular file")
        try:
            with open(value, "rb") as fh:
                head = fh.read(1 << 20)
            if b"\0" in head:
                raise UnicodeDecodeError("utf-8", head, head.index(b"\0"), head.index(b"\0") + 1, "NUL byte")
            codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < (1 << 20))
        except UnicodeDecodeError:
            raise ValueError(f"{value}: not UTF-8 text (a binary file?)") from None
        except OSError as exc:
            raise ValueError(f"{value}: cannot read ({exc.strerror or exc})") from None
        return value

    def hashable(self) -> dict[str, Any]:
        data = super().hashable()
        data.pop("batch_size")
        data.pop("retention_text")
        data.pop("trust_remote_code")  # permission, not a setting: the same models give the same metrics
        return data
