"""Errors a user can cause. The CLI prints them as one line and exits with status 2; bugs stay tracebacks."""

from __future__ import annotations

from pathlib import Path


class KgtoolsError(Exception):
    """Base class of every error caused by input or configuration rather than by a bug."""


class OntologyError(KgtoolsError):
    """An ontology file that cannot be read, parsed or turned into a knowledge graph."""

    def __init__(self, path: str | Path | None, message: str, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.message = message
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class ConfigError(KgtoolsError):
    """A configuration value that is missing, of the wrong type or out of range; names the key path."""


class ArtifactError(KgtoolsError):
    """An artifact folder that is missing, incomplete or of the wrong stage."""


class MissingExtraError(KgtoolsError):
    """An optional dependency is not installed; the message says which `pip install` fixes it."""
