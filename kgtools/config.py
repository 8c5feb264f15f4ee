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
