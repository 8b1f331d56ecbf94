"""URN lists of every stack, to prove that a refactor replaces nothing that is deployed.

``VARIANTS`` names the configurations whose URNs are kept in ``tests/golden/urns/``: every stack
file as it is, plus variants that reach code the stack files do not (access entries, Cluster
Autoscaler, IRSA, Fargate). ``python -m tools.urns --write`` refreshes the files; a refresh that
drops a URN is a rename and needs an alias (``tests/test_urns.py`` says which).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.mocks import Recording
from harness.program import PROJECT_DIR, run_stack, stack_names

GOLDEN_DIR = PROJECT_DIR / "tests" / "golden" / "urns"
ADMIN = "arn:aws:iam::123456789012:role/PlatformAdmin"
ADMIN2 = "arn:aws:iam::123456789012:role/BreakGlass"
VIEWER = "arn:aws:iam::123456789012:role/ReadOnly"

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
