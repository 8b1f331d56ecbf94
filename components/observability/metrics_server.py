"""metrics-server: the resource metrics API (metrics.k8s.io) behind kubectl top, HPA and VPA.

Works on any cluster handle, EKS or kind; needs no AWS identity. Comes after compute: its pods need
nodes, and the chart's APIService reports unavailable until they run.

Facts relied on (kubernetes-sigs/metrics-server, charts/metrics-server @ 3.13.1 and README.md):
- chart values ``replicas``, ``args`` (appended after ``defaultArgs``), ``podDisruptionBudget.enabled``/
  ``minAvailable``, ``resources``, ``nodeSelector``, ``tolerations``, ``affinity``, ``updateStrategy``;
- high availability means more than one replica, one per node, with ``maxUnavailable: 1`` rollouts and a
  ``minAvailable: 1`` budget (manifests/components/high-availability);
- ``serviceMonitor.enabled`` makes the chart's ServiceMonitor only together with ``metrics.enabled``,
  which also adds ``--authorization-always-allow-paths=/metrics`` so Prometheus scrapes without a
  token (templates/servicemonitor.yaml, deployment.yaml); it needs the monitoring CRDs first;
- ``--kubelet-insecure-tls`` skips verifying kubelet serving certificates, which kind's kubelets sign
  themselves (README "Requirements"; for test clusters only, so never on EKS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

import versions
from components.core import helm
from components.core.addon import AddOn
from components.core.common import PlatformComponent
from components.core.handle import ClusterHandle
from settings import gates
from settings.addons import MetricsServerSettings

TYPE = "platform:observability:MetricsServer"
CHART = "metrics-server"
NAMESPACE = "kube-system"
# the chart's selector labels (templates/_helpers.tpl) for a release named after the chart
SELECTOR = {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": CHART}


@dataclass(frozen=True, kw_only=True)
class MetricsServerArgs:
    cluster: ClusterHandle
    """The cluster, EKS or kind."""
    settings: MetricsServerSettings
    """Replicas, disruption budget and resources."""
    kubelet_insecure_tls: bool = False
    """Skip verifying kubelet certificates: only for kind, whose kubelet certificates are self-signed."""
    service_monitor: bool = False
    """Let the chart create a ServiceMonitor (monitoring is on and its CRDs come first)."""

    def __post_init__(self) -> None:
        if self.kubelet_insecure_tls and self.cluster.aws is not None:
            raise ValueError("MetricsServerArgs.kubelet_insecure_tls: EKS kubelets have CA-signed serving "
                             "certificates; skipping their verification is for kind only")


def chart_values(args: MetricsServerArgs) -> dict[str, Any]:
    s, cluster = args.settings, args.cluster
    values: dict[str, Any] = {
        "replicas": s.replicas,
        "args": ["--kubelet-insecure-tls"] if args.kubelet_insecure_tls else [],
        "podDisruptionBudget": {"enabled": s.pdb, **({"minAvailable": s.min_available} if s.pdb else {})},
        "resources": {"requests": {"cpu": s.cpu, "memory": s.memory}, "limits": {"memory": s.memory}},
        "nodeSelector": dict(cluster.system_node_selector),
        "tolerations": list(cluster.system_tolerations),
        "metrics": {"enabled": args.service_monitor},
        "serviceMonitor": {"enabled": args.service_monitor},
    }
    if s.replicas > 1:
        # one replica per node, so losing a node leaves the API up; a rollout then replaces pods in
        # place, since a surge pod would find no free node
        values["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": dict(SELECTOR)}, "topologyKey": "kubernetes.io/hostname"}]}}
        values["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    return values


class MetricsServer(PlatformComponent):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        self.release = helm.release(f"{name}-release", self, args.cluster, CHART, namespace=NAMESPACE,
                                    values=chart_values(args))
        self.register_outputs({
            "chart_version": versions.CHARTS[CHART].version,
            "replicas": args.settings.replicas,
            "pod_disruption_budget": args.settings.pdb,
        })


class MetricsServerAddOn(AddOn):
    """The resource metrics API (kubectl top, HPA), on EKS and kind."""

    key = "metrics-server"
    gate = gates.METRICS_SERVER

    @classmethod
    def build(cls, name, cluster, settings):
        return MetricsServer(name, MetricsServerArgs(cluster=cluster, settings=settings.metrics_server,
                                                     kubelet_insecure_tls=cluster.target == "kind",
                                                     service_monitor=settings.observability.metrics.enabled))
