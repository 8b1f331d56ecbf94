"""The cluster handle: the contract between a cluster (EKS or kind) and every add-on.

An add-on takes a ``ClusterHandle`` and nothing else about the cluster. AWS-only add-ons read
``handle.aws``; on kind it is ``None`` and those add-ons are not enabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.common import IrsaFacts

# Where cluster-critical controllers run: the tainted system node group.
SYSTEM_NODE_LABEL = {"platform.eks/node-group": "system"}
SYSTEM_TOLERATIONS = [{"key": "CriticalAddonsOnly", "operator": "Exists"}]


@dataclass(frozen=True, kw_only=True)
class AwsFacts:
    """What AWS-side add-ons need to know about the EKS cluster."""

    region: str
    partition: str
    account_id: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    vpc_id: pulumi.Output[str]
    private_subnet_ids: Sequence[pulumi.Output[str]]
    cluster_security_group_id: pulumi.Output[str]
    node_role_arn: pulumi.Output[str] | None
    """Role of the managed node groups (None when the stack has none)."""
    oidc: IrsaFacts | None
    """The IAM OIDC provider, when cluster.irsa is on."""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ClusterHandle:
    physical_name: str
    """The cluster's name as plain text (tag keys, chart values known before deployment)."""
    name: pulumi.Output[str]
    """The cluster's name as an output of the cluster: use it to carry the ordering."""
    version: str
    endpoint: pulumi.Output[str]
    provider: k8s.Provider
    """Kubernetes provider; it waits for the cluster and its access entries."""
    aws: AwsFacts | None
    az_count: int
    """Zones the nodes span: decides replica counts of zone-spread controllers."""
    system_node_selector: dict[str, str] = field(default_factory=lambda: dict(SYSTEM_NODE_LABEL))
    system_tolerations: list[dict[str, Any]] = field(default_factory=lambda: list(SYSTEM_TOLERATIONS))

    def k8s_opts(self, extra: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """Options for a Kubernetes object or Helm release on this cluster."""
        return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(provider=self.provider), extra)
