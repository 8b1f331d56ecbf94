"""One list of the namespaces Kubernetes, kind and the platform own (settings/types.PLATFORM_NAMESPACES):
every namespace the program creates for itself is on it, and Kyverno excludes only listed namespaces.
Teams, gitops/ workload destinations and mesh opt-ins are refused there (their own tests)."""

from __future__ import annotations

import pytest

from components.policy.kyverno import excluded_namespaces
from harness.fakes import fake_eks_handle, fake_kind_handle
from harness.urns import VARIANTS, evaluate
from settings.types import PLATFORM_NAMESPACES


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_namespace_the_platform_creates_for_itself_is_listed(variant):
    _, overrides = VARIANTS[variant]
    rec = evaluate(variant)
    # namespaces made for users: teams, and the mesh opt-ins of traffic.istio.injectedNamespaces
    users = {t["name"] for t in overrides.get("eks-platform:teams", [])}
    users |= set((overrides.get("eks-platform:traffic") or {}).get("istio", {}).get("injectedNamespaces", []))
    created = {r.inputs["metadata"]["name"] for r in rec.of_type("kubernetes:core/v1:Namespace")}
    assert created - users <= set(PLATFORM_NAMESPACES), created - users - set(PLATFORM_NAMESPACES)
    assert created & users == users


def test_kyverno_excludes_only_platform_namespaces():
    for handle in (fake_eks_handle(), fake_kind_handle()):
        assert set(excluded_namespaces(handle)) <= set(PLATFORM_NAMESPACES)
