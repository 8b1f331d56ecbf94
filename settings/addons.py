"""Settings of the cluster add-ons installed from Helm charts: Cluster Autoscaler and metrics-server.

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from settings.base import Model, invalid, tiered
from settings.types import CpuQuantity, Memory, between, duration

Expander = Literal["least-waste", "random", "most-pods"]


class ClusterAutoscalerSettings(Model):
    """The Kubernetes Cluster Autoscaler (autoscaling: cluster-autoscaler), scaling the managed node groups.

    Flags: cluster-autoscaler/FAQ.md "What are the parameters to CA?"; chart values ``extraArgs``.
    """

    replicas: between(1, 3) = tiered(dev=1, staging=1, prod=2)
    """Pods (1 to 3). One leader scales; the others only stand by for a faster failover."""
    expander: Expander = "least-waste"
    """How to pick the group to grow: least-waste, random or most-pods."""
    balance_similar_node_groups: bool = True
    """Keep similar groups (for example one per zone) at the same size."""
    skip_nodes_with_system_pods: bool = False
    """Never remove a node that runs kube-system pods (other than DaemonSets). Off: the system group
    holds only kube-system pods, so on it would never shrink; their PDBs still guard each eviction."""
    skip_nodes_with_local_storage: bool = False
    """Never remove a node whose pods use emptyDir or hostPath. Off: the platform keeps data on EBS
    volumes, and emptyDir (metrics-server's /tmp, for one) is scratch space."""
    scale_down_enabled: bool = True
    """Remove nodes that stay underused; false only grows groups."""
    scale_down_unneeded_time: duration("1m", "24h") = tiered(dev="5m", staging="10m", prod="10m")
    """How long a node must be underused before it is removed (1m to 24h)."""
    scale_down_delay_after_add: duration("0s", "24h") = "10m"
    """How long after a scale-up before scale-down is considered again (0s to 24h)."""
    scale_down_utilization_threshold: float = 0.5
    """Requested share of a node's CPU and memory below which it counts as underused (above 0, below 1)."""
    # an EC2 node needs a few minutes to boot and join; below 5m groups are declared failed falsely
    max_node_provision_time: duration("5m", "1h") = "15m"
    """How long a new node may take to register before the group is considered failed (5m to 1h)."""
    cpu: CpuQuantity = "100m"
    """CPU request of each pod (no CPU limit, so it is never throttled)."""
    memory: Memory = tiered(dev="300Mi", staging="300Mi", prod="600Mi")
    """Memory request and limit of each pod; it holds every pod and node in memory, so it grows with
    the cluster (EKS best practices, Cluster Autoscaler: "vertically autoscale")."""

    @field_validator("scale_down_utilization_threshold")
    @classmethod
    def _threshold(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError("must be a fraction above 0 and below 1, like 0.5")
        return v


class MetricsServerSettings(Model):
    """metrics-server: the resource metrics API behind kubectl top, HPA and VPA."""

    replicas: between(1, 5) = tiered(dev=1, staging=1, prod=2)
    """Pods (1 to 5), each on its own node; two or more for a highly available metrics API."""
    min_available: int | None = tiered(dev=None, staging=None, prod=1)
    """PodDisruptionBudget minAvailable (below replicas); null for no PodDisruptionBudget."""
    cpu: CpuQuantity = "100m"
    """CPU request of each pod (the chart's default)."""
    memory: Memory = "200Mi"
    """Memory request and limit of each pod (the chart's default request)."""

    @model_validator(mode="after")
    def _budget(self) -> MetricsServerSettings:
        if self.min_available is None:
            return self
        if self.min_available < 1:
            raise invalid("minAvailable", "must be at least 1, or null for no PodDisruptionBudget")
        if self.min_available >= self.replicas:
            # a budget nothing may be evicted under blocks every node drain and node group update
            raise invalid("minAvailable", "must be below replicas ({replicas}), or null for no "
                          "PodDisruptionBudget: otherwise no pod may ever be evicted and node drains hang",
                          replicas=self.replicas)
        return self

    @property
    def pdb(self) -> bool:
        return self.min_available is not None
