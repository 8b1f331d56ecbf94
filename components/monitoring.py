"""Metrics and alerting: the prometheus-operator CRDs, then kube-prometheus-stack (Prometheus,
Alertmanager, Grafana, kube-state-metrics, node-exporter), on EKS and kind.

Comes after compute and, on EKS, after the EBS CSI driver: Prometheus and Alertmanager keep their
data on gp3 volumes, and on destroy their claims go before the driver. The CRDs are an add-on of
their own (``MonitoringCrdsAddOn``: ``versions.PROMETHEUS_OPERATOR_CRDS``, applied server-side by
Pulumi) that this stack and every chart with a ServiceMonitor come after; the chart skips them.

Facts relied on (prometheus-community/helm-charts, charts/kube-prometheus-stack 88.5.3 values.yaml):
- ``prometheus.prometheusSpec.{serviceMonitor,podMonitor,rule}SelectorNilUsesHelmValues`` false,
  so monitors and rules of other releases (Karpenter, the load balancer controller, Istio) are
  selected, not only this release's;
- ``kubeControllerManager``, ``kubeScheduler``, ``kubeEtcd`` and ``kubeProxy`` are off: EKS does not
  expose the first three, and kube-proxy's metrics listen on 127.0.0.1 on EKS and on kind alike
  (kind's control-plane components bind 127.0.0.1 too);
- Grafana's admin credentials come from a Secret (``grafana.admin.existingSecret`` with the keys
  ``admin-user`` and ``admin-password``); the password is a ``pulumi_random`` RandomPassword, stable
  across runs and a secret in state and outputs; no password is ever in the chart's values;
- a Slack webhook reaches Alertmanager as a mounted Secret (``alertmanagerSpec.secrets``, read with
  ``api_url_file``), so the URL is never in the chart's values either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

import versions
from components import dashboards, helm
from components.addon import AddOn
from components.alert_rules import rule_groups
from components.common import PlatformComponent, child_opts
from components.ebs_csi import STORAGE_CLASS, EbsCsiAddOn
from components.handle import ClusterHandle
from components.lb_controller import LoadBalancerControllerAddOn, alb_ingress_annotations
from components.monitoring_crds import MonitoringCrdsAddOn
from settings.observability import ObservabilitySettings

TYPE = "platform:observability:Monitoring"
CHART = "kube-prometheus-stack"
NAMESPACE = "monitoring"
RELEASE = "monitoring"  # with fullnameOverride, objects are named monitoring-prometheus, ...
GRAFANA_SECRET, SLACK_SECRET = "grafana-admin", "alertmanager-slack"
KIND_STORAGE_CLASS = "standard"  # kind's local-path provisioner


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    cluster: ClusterHandle
    """EKS (gp3 volumes, zone spread) or kind (kind's standard class, one replica)."""
    settings: ObservabilitySettings
    """Retention, volume size, replicas and the alert receiver."""
    karpenter: bool = False
    """Karpenter runs: add its alert rules."""
    istio: bool = False
    """Istio runs: add its alert rules."""
    loki_url: str | None = None
    """Loki's URL when the log backend is loki: Grafana gets it as a data source."""


def chart_values(cluster: ClusterHandle, s: ObservabilitySettings, loki_url: str | None = None) -> dict[str, Any]:
    m = s.metrics
    system = {"nodeSelector": dict(cluster.system_node_selector), "tolerations": list(cluster.system_tolerations)}
    storage_class = STORAGE_CLASS if cluster.aws is not None else KIND_STORAGE_CLASS
    prometheus: dict[str, Any] = {
        "retention": m.retention,
        "replicas": m.replicas,
        "storageSpec": {"volumeClaimTemplate": {"spec": {
            "storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{m.storage_gib}Gi"}}}}},
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        **system,
    }
    if m.replicas > 1:
        # replicas in different zones: losing a zone keeps one Prometheus
        prometheus["podAntiAffinity"] = "hard"
        prometheus["podAntiAffinityTopologyKey"] = "topology.kubernetes.io/zone"
    receiver = "slack" if s.alerts.receiver == "slack" else "null"
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    alertmanager_spec: dict[str, Any] = {**system}
    if receiver == "slack":
        slack: dict[str, Any] = {"api_url_file": f"/etc/alertmanager/secrets/{SLACK_SECRET}/url",
                                 "send_resolved": True}
        if s.alerts.slack_channel:
            slack["channel"] = s.alerts.slack_channel
        receivers.append({"name": "slack", "slack_configs": [slack]})
        alertmanager_spec["secrets"] = [SLACK_SECRET]
    grafana: dict[str, Any] = {"admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user",
                                         "passwordKey": "admin-password"}}
    if s.grafana.exposure == "alb":
        # the chart's Ingress (its values: grafana.ingress.{enabled, ingressClassName, annotations, hosts, path})
        grafana["ingress"] = {"enabled": True, "ingressClassName": "alb", "hosts": [s.grafana.hostname], "path": "/",
                              "annotations": alb_ingress_annotations(s.grafana, health_path="/api/health")}
    if loki_url:
        grafana["additionalDataSources"] = [{"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy",
                                             "url": loki_url}]
    return {
        "fullnameOverride": RELEASE,
        "crds": {"enabled": False},
        "prometheus": {"prometheusSpec": prometheus},
        "alertmanager": {
            "alertmanagerSpec": alertmanager_spec,
            "config": {"route": {"receiver": receiver, "group_by": ["alertname", "namespace"]},
                       "receivers": receivers},
        },
        "grafana": grafana,
        "prometheusOperator": {**system},
        # node labels on kube_node_labels, for the overview dashboard (a value of the kube-state-metrics subchart)
        "kube-state-metrics": {"metricLabelsAllowlist": dashboards.kube_state_metrics_allowlist()},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
    }


class Monitoring(PlatformComponent):
    release: k8s.helm.v3.Release
    rules: k8s.apiextensions.CustomResource
    dashboards: dict[str, k8s.core.v1.ConfigMap]
    grafana_password: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, s = args.cluster, args.settings
        # node-exporter uses the host's network, PID namespace and paths, which only privileged allows
        namespace = helm.namespace(f"{name}-namespace", self, cluster, NAMESPACE,
                                   labels=helm.pod_security("privileged"))
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=child_opts(self))
        self.grafana_password = pulumi.Output.secret(password.result)
        secrets: list[pulumi.Resource] = [k8s.core.v1.Secret(
            f"{name}-grafana-admin", metadata={"name": GRAFANA_SECRET, "namespace": namespace.metadata.name},
            string_data={"admin-user": "admin", "admin-password": self.grafana_password},
            opts=child_opts(self, cluster.k8s_opts()))]
        if s.alerts.receiver == "slack":
            secrets.append(k8s.core.v1.Secret(
                f"{name}-alertmanager-slack", metadata={"name": SLACK_SECRET, "namespace": namespace.metadata.name},
                string_data={"url": pulumi.Output.secret(s.alerts.slack_webhook_url)},
                opts=child_opts(self, cluster.k8s_opts())))
        self.release = helm.release(
            f"{name}-release", self, cluster, CHART, namespace=namespace.metadata.name, release_name=RELEASE,
            values=chart_values(cluster, s, args.loki_url), skip_crds=True, timeout_seconds=900,
            # (the CRDs come first through the registry); the secrets the pods mount before they start
            opts=pulumi.ResourceOptions(depends_on=secrets))
        # the operator's admission webhook validates rules: after the release
        self.rules = k8s.apiextensions.CustomResource(
            f"{name}-platform-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata={"name": "platform", "namespace": NAMESPACE},
            spec={"groups": rule_groups(karpenter=args.karpenter, istio=args.istio)},
            opts=child_opts(self, cluster.k8s_opts(pulumi.ResourceOptions(depends_on=[self.release]))))
        self.dashboards = dashboards.config_maps(name, self, cluster, namespace.metadata.name,
                                                 karpenter_on=args.karpenter, istio_on=args.istio)
        self.register_outputs({"chart_version": versions.CHARTS[CHART].version, "namespace": NAMESPACE,
                               "grafana_admin_password": self.grafana_password, "dashboards": list(self.dashboards)})


class MonitoringAddOn(AddOn):
    """Prometheus, Alertmanager and Grafana, on EKS and kind."""

    key = "monitoring"
    # its CRDs; volumes on the gp3 class (on destroy the claims go before the driver); and Grafana's ALB
    # Ingress (exposure alb) needs the load balancer controller to make it, and to delete the ALB on destroy
    after = (MonitoringCrdsAddOn, EbsCsiAddOn, LoadBalancerControllerAddOn)
    config_keys = ("observability.metrics",)
    enabled_by = ("observability.metrics.enabled", True)

    @classmethod
    def build(cls, name, cluster, settings):
        from components.logging import LOKI_URL  # (logging imports this module for the CRDs add-on)

        return Monitoring(name, MonitoringArgs(
            cluster=cluster, settings=settings.observability,
            karpenter=settings.is_aws and settings.autoscaling == "karpenter",
            istio=settings.traffic.istio.enabled,
            loki_url=LOKI_URL if settings.logs_backend == "loki" else None))

    @classmethod
    def exports(cls, component):
        return {"grafanaAdminPassword": component.grafana_password}
