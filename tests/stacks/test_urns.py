"""No refactor may replace a deployed resource: every URN in tests/golden/urns/ must still exist, or
be named by an alias of a resource that does. New URNs need a deliberate refresh of the golden file
(`python -m tools.urns --write`), so the next rename is caught too."""

from __future__ import annotations

import pytest

from harness.urns import VARIANTS, golden_path
from tools.urns import missing


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_deployed_urn_disappears_without_an_alias(variant):
    assert golden_path(variant).exists(), f"no golden file for {variant}: run python -m tools.urns --write"
    gone, new = missing(variant)
    assert not gone, f"{variant}: these resources would be replaced; add aliases that name them:\n" + "\n".join(gone)
    assert not new, (f"{variant}: new URNs not in {golden_path(variant).name}; if they are meant, refresh with "
                     "python -m tools.urns --write:\n" + "\n".join(new))


def test_a_removal_is_accepted_only_for_a_named_dev_stack(capsys):
    from tools import urns as urns_tool

    with pytest.raises(SystemExit) as exit_:
        urns_tool.main(["--write", "--accept-removed", "prod"])
    assert exit_.value.code == 2
    assert "add an alias instead" in capsys.readouterr().err
