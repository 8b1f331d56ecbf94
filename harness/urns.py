"""URN lists of every stack, to prove that a refactor replaces nothing that is deployed.

``VARIANTS`` names the configurations whose URNs are kept in ``tests/golden/urns/``: every stack
file as it is, plus variants that reach code the stack files do not (access entries, Cluster
Autoscaler, IRSA, Fargate). ``python -m tools.urns --write`` refreshes the files; a refresh that
drops a URN is a rename and needs an alias (``tests/stacks/test_urns.py`` says which).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.mocks import Recording
from harness.program import PROJECT_DIR, run_stack, stack_names

GOLDEN_DIR = PROJECT_DIR / "tests" / "golden" / "urns"
# Types retired on purpose, each for its successor: a golden URN of the old type may disappear only while the
# same resource name exists with the new type. No alias joins them: a new type is a new resource, so Pulumi
# creates the successor during the update and deletes the retired one only after every create (no moment
# without either). A rename within one type still needs an alias.
SUCCESSORS: dict[str, tuple[str, str]] = {
    "kubernetes:kyverno.io/v1:ClusterPolicy": (
        "kubernetes:policies.kyverno.io/v1:ValidatingPolicy",
        "issue 21: Kyverno's current policy API (kyverno.io/v1 ClusterPolicy is deprecated since Kyverno 1.17)"),
    "kubernetes:kyverno.io/v2:PolicyException": (
        "kubernetes:policies.kyverno.io/v1:PolicyException",
        "issue 21: exceptions of ValidatingPolicies are policies.kyverno.io PolicyExceptions"),
}


def successor(urn: str) -> str | None:
    """The URN that retires ``urn`` (its type in ``SUCCESSORS``), or None."""
    for old, (new, _) in SUCCESSORS.items():
        if f"${old}::" in urn:
            return urn.replace(f"${old}::", f"${new}::")
    return None
ADMIN = "arn:aws:iam::123456789012:role/PlatformAdmin"
ADMIN2 = "arn:aws:iam::123456789012:role/BreakGlass"
VIEWER = "arn:aws:iam::123456789012:role/ReadOnly"
TEAM_ROLE = "arn:aws:iam::123456789012:role/Payments"
TEAM_ROLE2 = "arn:aws:iam::123456789012:role/SearchDevs"
# two teams: one restricted with a role, one baseline with a pool of its own and a role shared with the first
TEAMS = [{"name": "payments", "iamRoleArns": [TEAM_ROLE]},
         {"name": "search", "podSecurity": "baseline", "iamRoleArns": [TEAM_ROLE2, TEAM_ROLE],
          "nodePool": {"instanceCategories": ["m"], "labels": {"workload": "search"}}}]
LOCAL_TEAMS = [{"name": "payments", "users": ["alice"]},
               {"name": "search", "podSecurity": "baseline", "groups": ["search-devs"]}]

# variant name -> (stack, config overrides)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **{stack: (stack, {}) for stack in stack_names()},
    "dev-access": ("dev", {"eks-platform:cluster": {"adminPrincipalArns": [ADMIN, ADMIN2],
                                                    "viewerPrincipalArns": [VIEWER]}}),
    "dev-cluster-autoscaler": ("dev", {"eks-platform:autoscaling": "cluster-autoscaler"}),
    "staging-irsa-fargate": ("staging", {
        "eks-platform:cluster": {"irsa": True},
        "eks-platform:karpenter": {"runOn": "fargate"},
        "eks-platform:fargateProfiles": [{"name": "batch", "selectors": [{"namespace": "batch"}]}]}),
    # Argo CD's root Application and repository Secret, with the UIs routed through the gateway
    "dev-gitops": ("dev", {
        "eks-platform:argocd": {"repoUrl": "https://github.com/acme/eks-platform.git", "revision": "main",
                                "exposure": {"exposure": "istio", "hostname": "argocd.dev.example.com"}},
        "eks-platform:observability": {"grafana": {"exposure": "istio", "hostname": "grafana.dev.example.com"}}}),
    "dev-teams": ("dev", {"eks-platform:teams": TEAMS}),
    "local-teams": ("local", {"eks-platform:teams": LOCAL_TEAMS}),
    "dev-storage": ("dev", {"eks-platform:storage": {"efs": {"enabled": True}, "backup": {"enabled": True}}}),
}


def urns(recording: Recording) -> list[str]:
    return sorted(r.urn for r in recording)


def evaluate(variant: str) -> Recording:
    stack, overrides = VARIANTS[variant]
    return run_stack(stack, overrides=overrides)


def golden_path(variant: str) -> Path:
    return GOLDEN_DIR / f"{variant}.txt"


def read_golden(variant: str) -> list[str]:
    return golden_path(variant).read_text().split()


def write_golden(variant: str, recording: Recording) -> Path:
    path = golden_path(variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(urns(recording)) + "\n")
    return path
