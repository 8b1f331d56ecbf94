"""The import contracts (.importlinter, run by ``make lint``) cover what they must: every registered add-on's
module is in the independence contract, and versions.py, which import-linter can't take as a root package,
imports only the standard library (every layer may import it)."""

from __future__ import annotations

import ast
import configparser
import sys

from components.core.registry import ADDONS
from harness import PROJECT_DIR


def _contract(name: str) -> configparser.SectionProxy:
    config = configparser.ConfigParser()
    config.read(PROJECT_DIR / ".importlinter")
    return config[f"importlinter:contract:{name}"]


def test_every_addon_module_is_in_the_independence_contract():
    listed = set(_contract("addons")["modules"].split())
    assert listed == {addon.__module__ for addon in ADDONS}


def test_versions_imports_only_the_standard_library():
    tree = ast.parse((PROJECT_DIR / "versions.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(sys.stdlib_module_names)
