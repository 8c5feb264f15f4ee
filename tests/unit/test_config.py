from __future__ import annotations

import pytest

from kgtools.config import KgConfig, parse_config, read_yaml
from kgtools.errors import ConfigError


def test_all_errors_named_by_key_path():
    with pytest.raises(ConfigError) as info:
        parse_config(KgConfig, {"ontologies": [], "languages": ["en", "e n"], "colour": "blue"}, prefix="kg")
    msg = str(info.value)
    assert "kg.ontologies:" in msg and "kg.languages:" in msg and "kg.colour: unknown key" in msg


def test_hash_leaves_out_paths():
    a = parse_config(KgConfig, {"ontologies": ["/x/a.ttl"]})
    b = parse_config(KgConfig, {"ontologies": ["/y/a.ttl"], "languages": ["EN"]})
    assert a.hashable() == b.hashable() and b.languages == ["en"]


def test_yaml_errors_name_file_and_line(write):
    bad = write("p.yaml", "kg:\n  ontologies: [a.ttl\n")
    with pytest.raises(ConfigError, match=r"p\.yaml:\d+: invalid YAML"):
        read_yaml(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        read_yaml(bad.with_name("missing.yaml"))
