"""YAML parsed with libyaml when PyYAML has it: the pure-Python loader is five to ten times slower, and the
harness, the tools and the tests parse many megabytes (rendered charts, CRDs, Kyverno's test cases).
Same safe schema as ``yaml.safe_load``: the C loader only replaces the scanner and parser."""

from __future__ import annotations

from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """One YAML document (``yaml.safe_load``)."""
    return yaml.load(text, Loader=LOADER)


def load_all(text: str) -> list[Any]:
    """Every document of a YAML stream (``yaml.safe_load_all``), as a list."""
    return list(yaml.load_all(text, Loader=LOADER))
