"""Pods admitted before their Pod Identity association propagates never get credentials: whatever waits
for an association waits for its propagation too (components/core/common.py), over every AWS variant."""

from __future__ import annotations

import pytest

from components.core.common import POD_IDENTITY_PROPAGATION_SECONDS
from harness.urns import VARIANTS, evaluate

ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
AWS_VARIANTS = [v for v in VARIANTS if VARIANTS[v][0] != "local"]


@pytest.mark.parametrize("variant", AWS_VARIANTS)
def test_every_user_of_an_association_waits_for_its_propagation(variant):
    rec = evaluate(variant)
    waits = [c for c in rec.of_type("command:local:Command")
             if c.inputs.get("create") == f"sleep {POD_IDENTITY_PROPAGATION_SECONDS}"]
    late = []
    for association in rec.of_type(ASSOCIATION):
        # the wait follows the association and runs again when it is replaced (its id is the trigger)
        wait = next((c for c in waits if association.urn in c.dependencies), None)
        assert wait is not None and len(wait.inputs["triggers"]) == 1, association.name
        users = [r for r in rec if r.custom and r is not wait and association.urn in r.dependencies]
        late += [f"{r.name} waits for {association.name}, not for its propagation"
                 for r in users if not rec.waits_for(r, wait)]
        assert users, association.name
    assert late == []


def test_the_controllers_with_pod_identity_start_after_the_wait():
    rec = evaluate("dev")
    waits = {c.name for c in rec.of_type("command:local:Command")}
    assert {"dev-ebs-csi-pod-identity-propagation", "dev-karpenter-pod-identity-propagation"} <= waits
    karpenter = rec.one("kubernetes:helm.sh/v3:Release", "dev-karpenter-controller")
    wait = rec.one("command:local:Command", "dev-karpenter-pod-identity-propagation")
    assert rec.waits_for(karpenter, wait)


def test_irsa_has_no_association_and_no_wait():
    rec = evaluate("staging-irsa-fargate")
    assert rec.of_type(ASSOCIATION) == []
    assert not any(c.name.endswith("-pod-identity-propagation") for c in rec.of_type("command:local:Command"))
