"""The prometheus-operator CRDs, alone: before the monitoring stack and before every chart that makes a
ServiceMonitor, PodMonitor or PrometheusRule (Karpenter, the load balancer controller, Fluent Bit, ...).

Comes after the cluster's readiness only. ``versions.PROMETHEUS_OPERATOR_CRDS`` are applied server-side by
Pulumi (the largest exceed the client-side apply annotation limit), and kube-prometheus-stack skips its own.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

import versions
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from settings import gates

CRDS_TYPE = "platform:observability:MonitoringCrds"


class MonitoringCrds(PlatformComponent):
    """The prometheus-operator CRDs alone, so that every chart's ServiceMonitor can come after them
    without waiting for the whole monitoring stack."""

    crds: k8s.yaml.v2.ConfigGroup

    def __init__(self, name: str, cluster: ClusterHandle, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(CRDS_TYPE, name, opts)
        self.crds = k8s.yaml.v2.ConfigGroup(f"{name}-crds", files=list(versions.PROMETHEUS_OPERATOR_CRDS),
                                            opts=child_opts(self, cluster.k8s_opts()))
        self.register_outputs({"files": list(versions.PROMETHEUS_OPERATOR_CRDS)})


class MonitoringCrdsAddOn(AddOn):
    """The prometheus-operator CRDs: before the stack and before every chart that makes a ServiceMonitor."""

    key = "monitoring-crds"
    gate = gates.MONITORING_CRDS

    @classmethod
    def build(cls, name, cluster, settings):
        return MonitoringCrds(name, cluster)
