"""Cluster handles without a cluster, for testing one component at a time.

Call them inside a program run (``harness.run``): they register the Kubernetes provider the handle
carries. An add-on sees nothing of the cluster but this contract, so a fake handle is all it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.core.common import IrsaFacts
from components.core.handle import AwsFacts, ClusterHandle
from harness.mocks import ACCOUNT_ID, REGION

CLUSTER = "c1"
CLUSTER_ARN = f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/{CLUSTER}"
OIDC_ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/X"
TAGS = {"Project": "eks-platform", "Stack": "dev"}


def fake_eks_handle(*, az_count: int = 3, irsa: bool = False, version: str = "1.36",
                    readiness: Sequence[pulumi.Resource] = (), node_groups: Mapping[str, Any] | None = None,
                    tags: Mapping[str, str] = TAGS) -> ClusterHandle:
    """An EKS cluster's handle: Pod Identity by default, IRSA (with an OIDC provider) when ``irsa``."""
    out = pulumi.Output.from_input
    oidc = IrsaFacts(provider_arn=out(f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC_ISSUER}"),
                     issuer=out(OIDC_ISSUER)) if irsa else None
    facts = AwsFacts(region=REGION, partition="aws", account_id=out(ACCOUNT_ID), cluster_arn=out(CLUSTER_ARN),
                     vpc_id=out("vpc-1"), private_subnet_ids=[out("subnet-a"), out("subnet-b"), out("subnet-c")],
                     cluster_security_group_id=out("sg-1"), identity="irsa" if irsa else "pod-identity",
                     oidc=oidc, tags=dict(tags), node_groups=dict(node_groups or {}))
    return ClusterHandle(physical_name=CLUSTER, name=out(CLUSTER), version=version,
                         endpoint=out(f"https://{CLUSTER}.example"), provider=k8s.Provider("k8s", kubeconfig="{}"),
                         aws=facts, az_count=az_count, readiness=tuple(readiness))


def fake_kind_handle(*, version: str = "1.36", readiness: Sequence[pulumi.Resource] = ()) -> ClusterHandle:
    """A kind cluster's handle: no AWS facts, no tainted system nodes."""
    out = pulumi.Output.from_input
    return ClusterHandle(physical_name="platform", name=out("platform"), version=version,
                         endpoint=out("https://127.0.0.1:6443"), provider=k8s.Provider("kind", kubeconfig="{}"),
                         aws=None, az_count=1, system_node_selector={}, system_tolerations=[],
                         readiness=tuple(readiness))
