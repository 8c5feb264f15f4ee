"""Ontology loading: formats, local `owl:imports` resolution through catalogs, OBO, vocabularies."""

from __future__ import annotations

from kgtools.ontology.loader import LoadedOntology, SourceFile, expand_inputs, load_ontology

__all__ = ["LoadedOntology", "SourceFile", "expand_inputs", "load_ontology"]
