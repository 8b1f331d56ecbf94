"""The config reference (docs/configuration.md) is generated from the settings models and must be current."""

from __future__ import annotations

from settings import Settings
from tools import config_reference


def test_the_configuration_reference_is_the_generated_one():
    doc = config_reference.DOC.read_text()
    assert config_reference.doc_section(doc) == config_reference.table(), \
        "docs/configuration.md is stale: run python -m tools.config_reference --write"


def test_every_config_key_has_a_row_with_its_docstring():
    keys = {key for key, *_ in config_reference.rows()}
    for field, info in Settings.model_fields.items():
        if field == "stack":
            continue
        assert (info.alias or field) in keys, field
    rows = {key: (default, valid, what) for key, default, valid, what in config_reference.rows()}
    assert rows["network.azCount"] == ("2 / 3 / 3", "2 to 6", "How many availability zones the VPC spans (2 to 6).")
    assert rows["nodeGroups[].taints[].value"][1].startswith("label value")
    assert rows["kind.version"][0] == '"1.35"'
    assert all(what for _, _, _, what in config_reference.rows()), "a field without a docstring"
