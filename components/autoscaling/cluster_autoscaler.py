"""The Kubernetes Cluster Autoscaler for the EKS managed node groups (``autoscaling: cluster-autoscaler``).

Builds a least-privilege IAM policy, its role for kube-system/cluster-autoscaler (Pod Identity or
IRSA) and the ``cluster-autoscaler`` chart. Comes after compute: it runs on the system nodes and
scales the managed node groups. Never together with Karpenter (settings make the two exclusive).

Facts relied on:
- EKS managed node groups tag their Auto Scaling groups for Cluster Autoscaler auto-discovery
  (EKS user guide, managed-node-groups: "Amazon EKS tags managed node group resources so that they
  are configured to use the Kubernetes Cluster Autoscaler"); the tags are
  ``k8s.io/cluster-autoscaler/enabled`` and ``k8s.io/cluster-autoscaler/<cluster>`` = ``owned``
  (EKS best practices guide, Cluster Autoscaler, "least privileged access"). So no tags are added here.
- The chart discovers exactly those two tag keys from ``autoDiscovery.clusterName`` (chart values.yaml
  ``autoDiscovery.tags``, kubernetes/autoscaler cluster-autoscaler/charts @ 9.59.0).
- IAM actions: cloudprovider/aws/README.md "Full Cluster Autoscaler Features Policy"; the two write
  actions scoped by tag as the README and the EKS best practices guide recommend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

import versions
from components.core import helm
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts, policy_document, statement, workload_identity
from components.core.handle import ClusterHandle
from settings import gates
from settings.addons import ClusterAutoscalerSettings
from settings.aws import NodeGroupSettings

TYPE = "platform:autoscaling:ClusterAutoscaler"
CHART = "cluster-autoscaler"
NAMESPACE, SERVICE_ACCOUNT = "kube-system", "cluster-autoscaler"

# Read-only calls, which IAM cannot scope to a resource. DescribeTags is left out: auto-discovery
# filters DescribeAutoScalingGroups by tag, and the AWS provider (cloudprovider/aws/*.go at the
# 1.35/1.36 branches) never calls DescribeTags.
READ_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    # labels and taints of a managed node group at zero nodes (README, "eks:DescribeNodegroup")
    "eks:DescribeNodegroup",
)
WRITE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")


@dataclass(frozen=True, kw_only=True)
class ScaledGroup:
    """A managed node group the autoscaler may resize, and the Auto Scaling groups EKS made for it."""

    name: str
    min_size: int
    max_size: int
    asg_names: pulumi.Input[Sequence[str]]

    @property
    def scalable(self) -> bool:
        return self.max_size > self.min_size


def scaled_groups(groups: Sequence[NodeGroupSettings],
                  node_groups: dict[str, aws.eks.NodeGroup]) -> list[ScaledGroup]:
    """``ScaledGroup`` facts from the node group settings and the ``NodeGroups`` component's groups."""
    return [ScaledGroup(name=g.name, min_size=g.min_size, max_size=g.max_size,
                        asg_names=node_groups[g.name].resources.apply(_asg_names)) for g in groups]


def _asg_names(resources: Any) -> list[str]:
    """Names from ``NodeGroup.resources`` (typed output objects, or plain dicts)."""
    def get(obj: Any, attr: str, key: str) -> Any:
        return getattr(obj, attr) if hasattr(type(obj), attr) else obj.get(key)

    return [get(asg, "name", "name") for res in resources or []
            for asg in get(res, "autoscaling_groups", "autoscalingGroups") or []]


@dataclass(frozen=True, kw_only=True)
class ClusterAutoscalerArgs:
    cluster: ClusterHandle
    """The EKS cluster: its AWS facts, identity mode (Pod Identity or IRSA) and tags."""
    settings: ClusterAutoscalerSettings
    """Scaling flags, replicas and resources."""
    groups: Sequence[ScaledGroup]
    """The managed node groups; at least one must have maxSize > minSize."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("ClusterAutoscalerArgs.cluster: the Cluster Autoscaler is AWS-only (it resizes "
                             "EC2 Auto Scaling groups); the cluster handle has no AWS facts")
        if self.cluster.version not in versions.CLUSTER_AUTOSCALER_IMAGE_TAGS:
            raise ValueError(f"ClusterAutoscalerArgs.cluster: no Cluster Autoscaler image pinned for Kubernetes "
                             f"{self.cluster.version} in versions.CLUSTER_AUTOSCALER_IMAGE_TAGS")
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"ClusterAutoscalerArgs.groups: node group names must be unique, got {names}")
        if not any(g.scalable for g in self.groups):
            raise ValueError("ClusterAutoscalerArgs.groups: no node group has maxSize > minSize, so there is "
                             "nothing to scale (eks-platform:autoscaling)")


def iam_statements(cluster_name: str) -> list[dict]:
    """The policy: describe anything, but resize or shrink only this cluster's tagged groups."""
    return [
        statement("Describe", READ_ACTIONS),
        statement("ScaleThisClustersNodeGroups", WRITE_ACTIONS, condition={"StringEquals": {
            f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}),
    ]


def extra_args(s: ClusterAutoscalerSettings) -> dict[str, Any]:
    """Flags merged into the chart's own ``extraArgs`` (logtostderr, stderrthreshold, v)."""
    return {
        "expander": s.expander,
        "balance-similar-node-groups": s.balance_similar_node_groups,
        "skip-nodes-with-system-pods": s.skip_nodes_with_system_pods,
        "skip-nodes-with-local-storage": s.skip_nodes_with_local_storage,
        "scale-down-enabled": s.scale_down_enabled,
        "scale-down-unneeded-time": s.scale_down_unneeded_time,
        "scale-down-delay-after-add": s.scale_down_delay_after_add,
        "scale-down-utilization-threshold": s.scale_down_utilization_threshold,
        "max-node-provision-time": s.max_node_provision_time,
    }


class ClusterAutoscaler(PlatformComponent):
    policy: aws.iam.Policy
    role: aws.iam.Role
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, s = args.cluster, args.settings
        facts = cluster.aws
        assert facts is not None  # checked by the args

        # The tag key holds the cluster name, so it must be plain text: physical_name.
        self.policy = aws.iam.Policy(
            f"{name}-policy", description=f"Cluster Autoscaler for EKS cluster {cluster.physical_name}",
            policy=policy_document(*iam_statements(cluster.physical_name)), tags=facts.tags,
            opts=child_opts(self))
        identity = workload_identity(
            name, self, cluster_name=cluster.name, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
            mode=facts.identity, oidc=facts.oidc, policy_arns={"policy": self.policy.arn}, tags=facts.tags)
        self.role = identity.role
        # the autoscaler exits at start when its first AWS calls are denied: the release waits for
        # its permissions and (Pod Identity) its association
        waits_for = identity.ready

        values: dict[str, Any] = {
            "cloudProvider": "aws",
            "awsRegion": facts.region,
            "autoDiscovery": {"clusterName": cluster.name},
            "image": {"tag": versions.CLUSTER_AUTOSCALER_IMAGE_TAGS[cluster.version]},
            "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT,
                                        "annotations": identity.service_account_annotations}},
            "replicaCount": s.replicas,
            "podDisruptionBudget": {"maxUnavailable": 1},
            # It runs on the system group it also scales: it must not remove its own node.
            "podAnnotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
            "resources": {"requests": {"cpu": s.cpu, "memory": s.memory}, "limits": {"memory": s.memory}},
            "nodeSelector": dict(cluster.system_node_selector),
            "tolerations": list(cluster.system_tolerations),
            "extraArgs": extra_args(s),
        }
        self.release = helm.release(f"{name}-release", self, cluster, CHART, namespace=NAMESPACE, values=values,
                                    opts=pulumi.ResourceOptions(depends_on=waits_for))
        self.autoscaling_group_names = pulumi.Output.all(*[g.asg_names for g in args.groups if g.scalable]).apply(
            lambda lists: sorted(n for names in lists for n in names))
        self.register_outputs({
            "role_arn": self.role.arn,
            "policy_arn": self.policy.arn,
            "chart_version": versions.CHARTS[CHART].version,
            "node_groups": [g.name for g in args.groups if g.scalable],
            "autoscaling_group_names": self.autoscaling_group_names,
        })


class ClusterAutoscalerAddOn(AddOn):
    """Node autoscaling of the managed node groups; never together with Karpenter."""

    key = "cluster-autoscaler"
    gate = gates.CLUSTER_AUTOSCALER

    @classmethod
    def build(cls, name, cluster, settings):
        groups = scaled_groups(settings.node_groups, cluster.aws.node_groups)
        return ClusterAutoscaler(name, ClusterAutoscalerArgs(cluster=cluster, settings=settings.cluster_autoscaler,
                                                             groups=groups))
