"""The cluster handle: the contract between a cluster (EKS or kind) and every add-on.

An add-on takes a ``ClusterHandle`` and nothing else about the cluster. AWS-only add-ons read
``handle.aws``; on kind it is ``None`` and those add-ons are not enabled.

The handle also carries *readiness*: the resources a pod can run on (node groups, Fargate profiles,
kind nodes) plus whatever add-ons the holder must come after. Only Kubernetes objects
(``k8s_opts``) and AWS resources that run pods (``pods_opts``, e.g. an EKS add-on with a controller)
wait for it; an add-on's IAM roles, queues and rules start as soon as the cluster exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.core.common import IdentityMode, IrsaFacts

# Where cluster-critical controllers run: the tainted system node group.
SYSTEM_NODE_LABEL = {"platform.eks/node-group": "system"}
SYSTEM_TOLERATIONS = [{"key": "CriticalAddonsOnly", "operator": "Exists"}]


@dataclass(frozen=True, kw_only=True)
class AwsFacts:
    """What AWS-side add-ons need to know about the EKS cluster."""

    region: str
    """AWS region of the cluster."""
    partition: str
    """AWS partition (aws, aws-cn, aws-us-gov): ARNs differ per partition."""
    account_id: pulumi.Output[str]
    """Account that owns the cluster."""
    cluster_arn: pulumi.Output[str]
    """ARN of the EKS cluster."""
    vpc_id: pulumi.Output[str]
    """VPC the cluster runs in."""
    private_subnet_ids: Sequence[pulumi.Output[str]]
    """Private subnets: nodes, Fargate pods and internal load balancers."""
    cluster_security_group_id: pulumi.Output[str]
    """The security group EKS creates for the control plane and managed nodes."""
    identity: IdentityMode = "pod-identity"
    """How add-ons give their pods AWS credentials: EKS Pod Identity (default) or IRSA."""
    oidc: IrsaFacts | None = None
    """The IAM OIDC provider, when cluster.irsa is on."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every AWS resource an add-on creates."""
    node_role_arn: pulumi.Output[str] | None = None
    """Role of the managed node groups (set once compute exists)."""
    node_groups: Mapping[str, Any] = field(default_factory=dict)
    """The managed node groups by name (``aws.eks.NodeGroup``), set once compute exists."""


@dataclass(frozen=True, kw_only=True)
class ClusterHandle:
    physical_name: str
    """The cluster's name as plain text (tag keys, chart values known before deployment)."""
    name: pulumi.Output[str]
    """The cluster's name as an output of the cluster: use it to carry the ordering."""
    version: str
    """Kubernetes minor version, like 1.36."""
    endpoint: pulumi.Output[str]
    """URL of the API server."""
    provider: k8s.Provider
    """Kubernetes provider; it waits for the cluster and its access entries."""
    aws: AwsFacts | None
    """AWS facts on EKS; None on kind."""
    az_count: int
    """Zones the nodes span: decides replica counts of zone-spread controllers."""
    system_node_selector: dict[str, str] = field(default_factory=lambda: dict(SYSTEM_NODE_LABEL))
    """Node selector of cluster-critical controllers."""
    system_tolerations: list[dict[str, Any]] = field(default_factory=lambda: list(SYSTEM_TOLERATIONS))
    """Tolerations of cluster-critical controllers."""
    shared_tolerations: list[dict[str, Any]] = field(default_factory=list)
    """Tolerations of the platform's pods that need no system node (the Istio ingress gateway, Grafana,
    kube-state-metrics): the system taint's when the system nodes are shared with them
    (cluster.sharedSystemNodes), none otherwise (they run on Karpenter's or the workers' nodes)."""
    readiness: tuple[pulumi.Resource, ...] = ()
    """What Kubernetes objects and pod-running resources wait for: compute, and the add-ons the
    holder comes after."""
    late_readiness: tuple[pulumi.Resource, ...] = ()
    """What some of the holder's resources (its late parts: ``late_opts``), not all, wait for besides
    readiness: the add-ons of its registry entry's ``partly_after``."""

    @property
    def target(self) -> str:
        return "kind" if self.aws is None else "aws"

    def after(self, *resources: pulumi.Resource) -> ClusterHandle:
        """This handle, with ``resources`` added to what Kubernetes objects wait for."""
        return dataclasses.replace(self, readiness=(*self.readiness, *resources))

    def partly_after(self, *resources: pulumi.Resource) -> ClusterHandle:
        """This handle, with ``resources`` added to what its late parts (only) wait for."""
        return dataclasses.replace(self, late_readiness=(*self.late_readiness, *resources))

    def with_aws(self, **facts: Any) -> ClusterHandle:
        """This handle with some AWS facts replaced (compute adds the node role and groups)."""
        assert self.aws is not None, "with_aws on a handle without AWS facts"
        return dataclasses.replace(self, aws=dataclasses.replace(self.aws, **facts))

    def pods_opts(self, extra: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """Options for an AWS resource that runs pods (an EKS add-on with a controller): wait for readiness."""
        return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(depends_on=list(self.readiness)), extra)

    def late_opts(self, extra: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """Options for an add-on's late parts (Karpenter's NodePools, the Istio gateway): ``k8s_opts``, and
        the late readiness; on destroy they go before what they wait for."""
        return self.k8s_opts(pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(depends_on=list(self.late_readiness)), extra))

    def k8s_opts(self, extra: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """Options for a Kubernetes object or Helm release on this cluster: its provider, and readiness."""
        return pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(provider=self.provider, depends_on=list(self.readiness)), extra)
