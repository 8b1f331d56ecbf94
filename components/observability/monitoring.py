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
  ``api_url_file``), so the URL is never in the chart's values either;
- an SNS topic (EKS) is Alertmanager's ``sns_configs`` with ``sigv4`` (prometheus.io, Alertmanager
  configuration, ``<sns_config>``), signed with the credentials of ``alertmanager.serviceAccount``'s role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

import versions
from components.core import helm
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts, policy_document, statement, workload_identity
from components.core.handle import ClusterHandle
from components.core.names import EBS_STORAGE_CLASS as STORAGE_CLASS
from components.core.names import KIND_STORAGE_CLASS, LOKI_URL, MONITORING_NAMESPACE, MONITORING_RELEASE
from components.observability import dashboards
from components.observability.alert_rules import rule_groups
from components.traffic.ingress import alb_ingress_annotations
from settings import gates
from settings.observability import ObservabilitySettings

TYPE = "platform:observability:Monitoring"
CHART = "kube-prometheus-stack"
NAMESPACE, RELEASE = MONITORING_NAMESPACE, MONITORING_RELEASE
GRAFANA_SECRET, SLACK_SECRET = "grafana-admin", "alertmanager-slack"
ALERTMANAGER_SA = f"{RELEASE}-alertmanager"  # the chart's own name for it (<fullname>-alertmanager)


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


def chart_values(cluster: ClusterHandle, s: ObservabilitySettings, loki_url: str | None = None,
                 alertmanager_annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    m = s.metrics
    system = {"nodeSelector": dict(cluster.system_node_selector), "tolerations": list(cluster.system_tolerations)}
    storage_class = STORAGE_CLASS if cluster.aws is not None else KIND_STORAGE_CLASS
    prometheus: dict[str, Any] = {
        "retention": m.retention,
        "replicas": m.replicas,
        "storageSpec": {"volumeClaimTemplate": {"spec": {
            "storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{m.storage_gib}Gi"}}}}},
        # the claims go with the StatefulSet when the release is uninstalled, while the EBS CSI driver (this
        # release comes after it) still runs to delete their volumes; kept on a scale-down (Kubernetes
        # StatefulSet PVC retention, GA in 1.32; kube-prometheus-stack 88.5.3 values.yaml, prometheusSpec)
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
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
    receiver = s.alerts.receiver if s.alerts.receiver != "none" else "null"
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    alertmanager_spec: dict[str, Any] = {**system}
    if receiver == "sns":
        assert cluster.aws is not None  # settings refuse sns on kind
        # Alertmanager's sns_configs signs with SigV4 from the pod's AWS credentials (Pod Identity or IRSA:
        # alertmanager.serviceAccount); the ARN stays a secret in the values
        receivers.append({"name": "sns", "sns_configs": [{
            "topic_arn": pulumi.Output.secret(s.alerts.sns_topic_arn), "sigv4": {"region": cluster.aws.region},
            "send_resolved": True}]})
    if receiver == "slack":
        slack: dict[str, Any] = {"api_url_file": f"/etc/alertmanager/secrets/{SLACK_SECRET}/url",
                                 "send_resolved": True}
        if s.alerts.slack_channel:
            slack["channel"] = s.alerts.slack_channel
        receivers.append({"name": "slack", "slack_configs": [slack]})
        alertmanager_spec["secrets"] = [SLACK_SECRET]
    # Grafana, its two sidecars (dashboards, datasources: on in kube-prometheus-stack 88.5.3) and kube-state-metrics
    # request what their charts' commented examples do (grafana 12.11.1 values.yaml resources 100m/128Mi,
    # sidecar.resources 50m/50Mi; kube-state-metrics 8.4.0 values.yaml resources 10m/32Mi): the charts request
    # nothing, which leaves them BestEffort and lets the scheduler stack them anywhere
    shared = {"tolerations": list(cluster.shared_tolerations)} if cluster.shared_tolerations else {}
    grafana: dict[str, Any] = {"admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user",
                                         "passwordKey": "admin-password"},
                               "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                               "sidecar": {"resources": {"requests": {"cpu": "50m", "memory": "50Mi"}}},
                               **shared}
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
            "serviceAccount": {"name": ALERTMANAGER_SA, "annotations": dict(alertmanager_annotations or {})},
            "config": {"route": {"receiver": receiver, "group_by": ["alertname", "namespace"]},
                       "receivers": receivers},
        },
        "grafana": grafana,
        # the admission webhook's patch Jobs (Helm hooks) run once per install or upgrade; on shared system nodes
        # they run there too instead of waking a Karpenter node (values.yaml prometheusOperator.admissionWebhooks.patch)
        "prometheusOperator": {**system, **({"admissionWebhooks": {"patch": shared}} if shared else {})},
        # node labels on kube_node_labels, for the overview dashboard (a value of the kube-state-metrics subchart)
        "kube-state-metrics": {"metricLabelsAllowlist": dashboards.kube_state_metrics_allowlist(),
                               "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}, **shared},
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
        annotations: dict[str, Any] = {}
        if s.alerts.receiver == "sns":
            identity = self._sns_identity(name, cluster, s.alerts.sns_topic_arn)
            secrets += identity.ready
            annotations = identity.service_account_annotations
        self.release = helm.release(
            f"{name}-release", self, cluster, CHART, namespace=namespace.metadata.name, release_name=RELEASE,
            values=chart_values(cluster, s, args.loki_url, annotations), skip_crds=True, timeout_seconds=900,
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


    def _sns_identity(self, name: str, cluster: ClusterHandle, topic_arn: str | None):
        """Alertmanager's role: publish to the one topic (SNS API reference, Publish)."""
        facts = cluster.aws
        assert facts is not None and topic_arn is not None
        policy = aws.iam.Policy(
            f"{name}-alertmanager-sns", description=f"Alertmanager of {cluster.physical_name}: publish alerts",
            policy=policy_document(statement("PublishAlerts", ["sns:Publish"], pulumi.Output.secret(topic_arn))),
            tags=facts.tags, opts=child_opts(self))
        return workload_identity(f"{name}-alertmanager", self, cluster_name=cluster.name, namespace=NAMESPACE,
                                 service_account=ALERTMANAGER_SA, mode=facts.identity, oidc=facts.oidc,
                                 policy_arns={"policy": policy.arn}, tags=facts.tags)


class MonitoringAddOn(AddOn):
    """Prometheus, Alertmanager and Grafana, on EKS and kind."""

    key = "monitoring"
    gate = gates.MONITORING

    @classmethod
    def build(cls, name, cluster, settings):
        return Monitoring(name, MonitoringArgs(
            cluster=cluster, settings=settings.observability,
            karpenter=settings.is_aws and settings.autoscaling == "karpenter",
            istio=settings.traffic.istio.enabled,
            loki_url=LOKI_URL if settings.logs_backend == "loki" else None))

    @classmethod
    def exports(cls, component):
        return {"grafanaAdminPassword": component.grafana_password}
