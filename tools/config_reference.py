"""The stack configuration reference (docs/configuration.md), generated from the settings models' JSON schema.

    python -m tools.config_reference           # print the Markdown table
    python -m tools.config_reference --write   # replace the table in docs/configuration.md (between its markers)

One row per config key (nested keys dotted, list items as ``[]``): the tier defaults (dev /
staging / prod) or the default, what is valid (choices, ranges, the type's grammar), when the key has an
effect (``settings/applies.py``: set where it has none, it is refused), and the field's docstring.
``tests/settings/test_config_reference.py`` fails when docs/configuration.md is not current.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from harness.program import PROJECT_DIR
from settings import Settings, applies

DOC = PROJECT_DIR / "docs" / "configuration.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
HIDDEN = {"stack"}  # not a config key
DERIVED = {"Tier": "the stack name (local: dev)"}


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _variants(node: dict, defs: dict) -> list[dict]:
    node = _resolve(node, defs)
    if "anyOf" in node:
        return [_resolve(v, defs) for v in node["anyOf"] if v.get("type") != "null"]
    return [node]


def _valid(node: dict, defs: dict) -> str:
    parts = []
    for variant in _variants(node, defs):
        if "enum" in variant:
            parts.append(" / ".join(f"`{v}`" for v in variant["enum"]))
        elif "const" in variant:
            parts.append(f"`{variant['const']}`")
        elif variant.get("type") == "array":
            item = _variants(variant.get("items", {}), defs)[0]
            parts.append(f"list of {_valid(item, defs) or item.get('type', 'values')}")
        elif "minimum" in variant or "maximum" in variant:
            parts.append(f"{variant.get('minimum', '')} to {variant.get('maximum', '')}")
        elif "x-valid" in variant:
            parts.append(variant["x-valid"])
        elif variant.get("type") == "object" and "properties" not in variant:
            parts.append("map")
        elif variant.get("type"):
            parts.append(variant["type"])
    if any(v.get("type") == "null" for v in _resolve(node, defs).get("anyOf", [])):
        parts.append("null")
    return ", ".join(dict.fromkeys(p for p in parts if p))


def _default(node: dict, required: bool, defs: dict) -> str:
    if "tiers" in node:
        tiers = node["tiers"]
        values = [_short(tiers[t]) for t in ("dev", "staging", "prod")]
        return values[0] if len(set(values)) == 1 else " / ".join(values)
    if "default" in node:
        return _short(node["default"])
    if required:
        return "required"
    # a default made by a factory: an empty list or map, or a section whose keys have their own
    variants = _variants(node, defs)
    if any(v.get("type") == "array" for v in variants):
        return "[]"
    if any("properties" in v for v in variants):
        return "(section)"
    return "{}" if any(v.get("type") == "object" for v in variants) else DERIVED.get(node.get("title", ""), "none")


def rows(schema: dict | None = None) -> list[tuple[str, str, str, str]]:
    schema = schema or Settings.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    out: list[tuple[str, str, str, str]] = []

    def walk(properties: dict, prefix: str, required: set[str]) -> None:
        for key, node in properties.items():
            if key in HIDDEN and not prefix:
                continue
            name = f"{prefix}{key}"
            description = " ".join(node.get("description", "").split())
            variants = _variants(node, defs)
            model = next((v for v in variants if "properties" in v), None)
            items = next((_variants(v.get("items", {}), defs)[0] for v in variants if v.get("type") == "array"), None)
            default = _default(node, key in required, defs)
            out.append((name, default, _valid(node, defs) if model is None else "the keys below", description))
            if model is not None:
                walk(model["properties"], f"{name}.", set(model.get("required", [])))
            elif items is not None and "properties" in items:
                out[-1] = (name, default, "a list of entries with the keys below", description)
                walk(items["properties"], f"{name}[].", set(items.get("required", [])))

    # tier is filled from the stack name before validation, so no stack sets it unless it wants to
    walk(schema["properties"], "", set(schema.get("required", [])) - {"tier"})
    return out


def leaves(schema: dict | None = None) -> list[tuple[str, list[dict]]]:
    """Every leaf config key (not a section, not a list of entries) with its schema variants (null left out):
    what tests/settings/test_every_key.py breaks one key at a time."""
    schema = schema or Settings.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    out: list[tuple[str, list[dict]]] = []

    def walk(properties: dict, prefix: str) -> None:
        for key, node in properties.items():
            if key in HIDDEN and not prefix:
                continue
            variants = _variants(node, defs)
            model = next((v for v in variants if "properties" in v), None)
            items = next((_variants(v.get("items", {}), defs)[0] for v in variants if v.get("type") == "array"), None)
            if model is not None:
                walk(model["properties"], f"{prefix}{key}.")
            elif items is not None and "properties" in items:
                walk(items["properties"], f"{prefix}{key}[].")
            else:
                out.append((f"{prefix}{key}", variants))

    walk(schema["properties"], "")
    return out


def table() -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| key | default (dev / staging / prod) | valid | applies when | what |", "|---|---|---|---|---|"]
    for key, default, valid, what in rows():
        when = applies.applies_when(key) or "always"
        lines.append(f"| `{key}` | {cell(default)} | {cell(valid)} | {cell(when)} | {cell(what)} |")
    return "\n".join(lines)


def doc_section(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.config_reference", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the table in docs/configuration.md")
    args = parser.parse_args(argv)
    generated = table()
    if not args.write:
        print(generated)
        return 0
    text = DOC.read_text()
    DOC.write_text(text[:text.index(START) + len(START)] + "\n" + generated + "\n" + text[text.index(END):])
    print(f"wrote {len(generated.splitlines()) - 2} rows into {DOC.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
