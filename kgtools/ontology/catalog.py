"""OASIS XML catalogs (`catalog-v001.xml`, as Protégé and FIBO write them): import IRI → local file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlparse

from kgtools.artifacts import absolute
from kgtools.errors import OntologyError

CATALOG_NAME = "catalog-v001.xml"


def read_catalog(path: Path) -> dict[str, Path]:
    """``{IRI: absolute file path}`` for every ``<uri name=… uri=…>`` entry, paths relative to the catalog.

    Entries whose file does not exist are kept: the loader reports them as unresolved with the reason.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise OntologyError(path, f"malformed XML catalog ({exc.msg if hasattr(exc, 'msg') else exc})", line) from None
    except OSError as exc:
        raise OntologyError(path, f"cannot read catalog ({exc.strerror})") from None
    mapping: dict[str, Path] = {}
    for elem in root.iter():
        if elem.tag.rsplit("}", 1)[-1] != "uri":
            continue
        name, target = elem.get("name"), elem.get("uri")
        if not name or not target:
            continue
        if target.startswith("file:"):
            target_path = Path(unquote(urlparse(target).path))
        elif "://" in target:
            continue  # a catalog entry pointing at the network is not a local resolution
        else:
            target_path = path.parent / unquote(target)
        mapping.setdefault(name, absolute(target_path))
    return mapping


def find_catalogs(paths: list[Path]) -> list[Path]:
    """Catalogs inside the given folders, and beside the given files (where Protégé writes them)."""
    found: set[Path] = set()
    for p in paths:
        if p.is_dir():
            found.update(absolute(c) for c in p.rglob(CATALOG_NAME))
        elif (p.parent / CATALOG_NAME).is_file():
            found.add(absolute(p.parent / CATALOG_NAME))
    return sorted(found)
