"""The one list of cluster add-ons, what each comes after, and the walk that builds them in that order.

``__main__.py`` builds the cluster (EKS or kind), then calls ``build_addons``. Ordering is declared
here, by class, in each add-on's ``Entry``: an add-on module never imports another add-on's module
(``make lint`` checks it, .importlinter). ``after``: add-ons whose component must exist first. The walk
gives the add-on a handle whose readiness includes them, so its Kubernetes objects and pod-running
resources wait for them (and are deleted before them); its IAM and other AWS-side resources do not
wait. What may be configured when, and what conflicts, is the add-ons' gates (settings/gates.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from components.autoscaling.cluster_autoscaler import ClusterAutoscalerAddOn
from components.autoscaling.karpenter import KarpenterAddOn
from components.cluster.eks_addons import CoreDnsAddOn
from components.core.addon import AddOn
from components.gitops.argocd import ArgoCdAddOn
from components.gitops.bootstrap import GitOpsBootstrapAddOn
from components.observability.logging import LoggingAddOn
from components.observability.metrics_server import MetricsServerAddOn
from components.observability.monitoring import MonitoringAddOn
from components.observability.monitoring_crds import MonitoringCrdsAddOn
from components.observability.webhook_certificates import WebhookCertificatesAddOn
from components.policy.kyverno import KyvernoAddOn
from components.storage.ebs_backup import EbsBackupAddOn
from components.storage.ebs_csi import EbsCsiAddOn
from components.storage.efs_csi import EfsCsiAddOn
from components.tenancy.teams import TeamsAddOn
from components.traffic.istio import IstioAddOn
from components.traffic.lb_controller import LoadBalancerControllerAddOn
from components.traffic.routes import RoutesAddOn

if TYPE_CHECKING:
    from components.core.handle import ClusterHandle
    from settings import Settings


@dataclass(frozen=True)
class Entry:
    """One registered add-on and the add-ons it comes after (each with the reason, in a comment)."""

    addon: type[AddOn]
    after: tuple[type[AddOn], ...] = ()
    partly_after: tuple[type[AddOn], ...] = ()
    """Add-ons that only the add-on's late parts (built with ``ClusterHandle.late_opts``) come after: the
    rest starts without waiting for them, and on destroy the late parts go before them."""


REGISTRY: tuple[Entry, ...] = (
    Entry(MonitoringCrdsAddOn),
    Entry(CoreDnsAddOn),
    Entry(EbsCsiAddOn),
    Entry(EbsBackupAddOn),
    Entry(EfsCsiAddOn),
    # Destroy deletes the NodePools (Karpenter drains their nodes) before the EBS CSI driver, so volumes
    # detach and VolumeAttachments go away instead of holding the drain forever: the pools (not the
    # controller, which starts beside the driver) come after it; its ServiceMonitor needs the monitoring
    # CRDs (when monitoring is on)
    Entry(KarpenterAddOn, after=(MonitoringCrdsAddOn,), partly_after=(EbsCsiAddOn,)),
    Entry(ClusterAutoscalerAddOn),
    # its ServiceMonitor needs the monitoring CRDs (when monitoring is on)
    Entry(MetricsServerAddOn, after=(MonitoringCrdsAddOn,)),
    # its ServiceMonitor needs the monitoring CRDs (when monitoring is on)
    Entry(LoadBalancerControllerAddOn, after=(MonitoringCrdsAddOn,)),
    # the gateway's LoadBalancer Service needs the controller on create and on delete; its monitors
    # need the monitoring CRDs (when monitoring is on); the gateway's pods do not tolerate the system
    # taint, so they run on Karpenter's nodes: the gateway (not istiod) after its NodePools
    # (tests/core/test_cold_start.py)
    Entry(IstioAddOn, after=(LoadBalancerControllerAddOn, MonitoringCrdsAddOn), partly_after=(KarpenterAddOn,)),
    # its CRDs; volumes on the gp3 class (on destroy the claims go before the driver); Grafana's ALB
    # Ingress (exposure alb) needs the load balancer controller to make it, and to delete the ALB on destroy;
    # Grafana, kube-state-metrics and the admission jobs run on Karpenter's nodes: its NodePools first
    Entry(MonitoringAddOn, after=(MonitoringCrdsAddOn, EbsCsiAddOn, LoadBalancerControllerAddOn, KarpenterAddOn)),
    # its ServiceMonitors after the CRDs; Loki's volume on the gp3 class (on destroy, the claim goes first)
    Entry(LoggingAddOn, after=(MonitoringCrdsAddOn, EbsCsiAddOn)),
    # its ServiceMonitors; and the load balancer controller for its ALB Ingress (exposure alb), which it
    # makes and deletes. What the synced workloads use is the bootstrap's concern: Argo CD starts early.
    Entry(ArgoCdAddOn, after=(MonitoringCrdsAddOn, LoadBalancerControllerAddOn)),
    # Argo CD's CRDs and controllers; and what the synced workloads use (volumes, Karpenter nodes, ALBs,
    # the mesh), so that on destroy they are removed first
    Entry(GitOpsBootstrapAddOn,
          after=(ArgoCdAddOn, EbsCsiAddOn, KarpenterAddOn, LoadBalancerControllerAddOn, IstioAddOn)),
    # the gateway and Istio's CRDs; and the Services routed to (deleted after their routes)
    Entry(RoutesAddOn, after=(IstioAddOn, MonitoringAddOn, ArgoCdAddOn)),
    # its ServiceMonitors need the prometheus-operator CRDs (when monitoring is on)
    Entry(KyvernoAddOn, after=(MonitoringCrdsAddOn,)),
    # team NodePools need Karpenter (and go first on destroy, while it drains their nodes); injected
    # namespaces and the allow rules for istiod and the gateway come once Istio runs; Kyverno's policies
    # before the teams' namespaces (and so before their workloads); on destroy the teams go first, while
    # the webhooks still answer
    Entry(TeamsAddOn, after=(KarpenterAddOn, IstioAddOn, KyvernoAddOn)),
    # the chart's ServiceMonitors and the PrometheusRule need the monitoring stack (CRDs, operator webhook)
    Entry(WebhookCertificatesAddOn, after=(MonitoringAddOn,)),
)
ADDONS: tuple[type[AddOn], ...] = tuple(e.addon for e in REGISTRY)


def ordered(registry: Sequence[Entry] = REGISTRY) -> list[Entry]:
    """The entries in an order where each comes after everything in its ``after`` (registry order
    otherwise). Raises ValueError on a cycle or an ``after`` that is not registered."""
    by_addon = {e.addon: e for e in registry}
    for entry in registry:
        missing = [a.__name__ for a in (*entry.after, *entry.partly_after) if a not in by_addon]
        if missing:
            raise ValueError(f"{entry.addon.__name__} refers to {missing}, which are not in the registry")
    done: list[Entry] = []
    visiting: list[Entry] = []

    def visit(entry: Entry) -> None:
        if entry in done:
            return
        if entry in visiting:
            cycle = [e.addon.__name__ for e in visiting[visiting.index(entry):]] + [entry.addon.__name__]
            raise ValueError(f"add-on dependency cycle: {' -> '.join(cycle)}")
        visiting.append(entry)
        for dep in (*entry.after, *entry.partly_after):
            visit(by_addon[dep])
        visiting.pop()
        done.append(entry)

    for entry in registry:
        visit(entry)
    return done


def build_addons(cluster: ClusterHandle, settings: Settings,
                 registry: Sequence[Entry] = REGISTRY) -> dict[type[AddOn], Any]:
    """Build every enabled add-on in dependency order; each waits (through its handle's readiness)
    for the enabled add-ons it comes after. Returns the components by add-on class."""
    built: dict[type[AddOn], Any] = {}
    for entry in ordered(registry):
        if not entry.addon.enabled(settings):
            continue
        handle = cluster.after(*(built[dep] for dep in entry.after if dep in built)).partly_after(
            *(built[dep] for dep in entry.partly_after if dep in built))
        built[entry.addon] = build_addon(entry.addon, handle, settings)
    return built


def build_addon(addon: type[AddOn], cluster: ClusterHandle, settings: Settings) -> Any:
    """One add-on on ``cluster``: its component ``<stack>-<key>``, and its stack outputs exported."""
    component = addon.build(f"{settings.stack}-{addon.key}", cluster, settings)
    for key, value in addon.exports(component).items():
        pulumi.export(key, value)
    return component
