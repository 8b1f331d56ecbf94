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


def test_a_retired_type_is_accepted_only_with_its_successor_present(monkeypatch):
    from harness import urns as harness_urns
    from tools import urns as urns_tool

    old = ("urn:pulumi:dev::eks-platform::platform:policy:Kyverno$kubernetes:kyverno.io/v1:ClusterPolicy::"
           "dev-kyverno-policy-disallow-host-path")
    assert harness_urns.successor(old) == old.replace("kubernetes:kyverno.io/v1:ClusterPolicy",
                                                      "kubernetes:policies.kyverno.io/v1:ValidatingPolicy")
    # a golden file that still lists the ClusterPolicy: accepted while the ValidatingPolicy exists...
    monkeypatch.setattr(urns_tool, "read_golden", lambda variant: [old])
    gone, _ = urns_tool.missing("dev")
    assert gone == []
    # ...and not for a name that has no successor
    orphan = old.replace("disallow-host-path", "no-such-control")
    monkeypatch.setattr(urns_tool, "read_golden", lambda variant: [orphan])
    assert urns_tool.missing("dev")[0] == [orphan]


def test_successors_are_not_aliases_of_what_they_retire():
    # an alias would make the successor an update of the retired resource: the provider would replace it
    # delete-first (a named object), leaving a moment without the policy
    from harness.urns import SUCCESSORS, evaluate

    rec = evaluate("dev")
    retired = tuple(SUCCESSORS)
    assert not [a for r in rec for a in r.aliases if any(t in a for t in retired)]
    assert "kubernetes:policies.kyverno.io/v1:ValidatingPolicy" in {r.type for r in rec}
