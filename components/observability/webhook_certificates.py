"""Expiry of the admission webhooks' serving certificates: the Prometheus blackbox exporter probes each
webhook Service with a TLS handshake, and a PrometheusRule alerts before a certificate expires.

Comes after the monitoring stack: the chart's ServiceMonitors need the prometheus-operator CRDs, and
the operator's admission webhook validates the PrometheusRule, so both wait for kube-prometheus-stack
(on destroy they go first). The webhooks themselves may come later: a probe of a missing Service
just fails until it exists. On when monitoring is on and at least one probed webhook runs: the load
balancer controller's (EKS) and istiod's.

Why a probe: the API server exposes no metric of a webhook's serving certificate, and the
certificates live in Secrets or in memory (istiod signs its own), so the one check that sees what
the API server sees is a TLS handshake with the Service.

Facts relied on:
- prometheus-community/helm-charts charts/prometheus-blackbox-exporter 11.17.2 (blackbox_exporter
  v0.28.0) values.yaml: ``config.modules``, ``serviceMonitor.enabled``/``defaults``/``targets`` (one
  ServiceMonitor per target, scraping ``/probe`` with ``module`` and ``target`` params and setting
  the ``target`` label to the target's name: templates/servicemonitor.yaml), ``networkPolicy.enabled``,
  ``allowMonitoringNamespace`` and ``monitoringNamespaceName`` (ingress to the exporter from that
  namespace only: templates/networkpolicy.yaml), ``fullnameOverride``, ``resources``,
  ``nodeSelector``, ``tolerations``;
- prometheus/blackbox_exporter v0.28.0: the ``tcp`` prober with ``tls: true`` reports
  ``probe_ssl_earliest_cert_expiry`` (the earliest ``NotAfter`` of the certificates the server sends,
  prober/query_response.go and tls.go) and every probe ``probe_success`` (prober/handler.go).
  ``insecure_skip_verify``: the webhooks' CAs are private (the controller's chart generates one,
  istiod is its own), the probe only reads the certificates' dates and sends nothing;
- the webhook Services: ``aws-load-balancer-webhook-service`` in kube-system, port 443
  (kubernetes-sigs/aws-load-balancer-controller v3.5.0 helm templates/service.yaml and _helpers.tpl,
  no nameOverride); ``istiod`` in istio-system, port 443 ``https-webhook`` (istio release-1.31
  istio-discovery templates/service.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

import versions
from components.core import helm
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from components.core.names import ISTIO_NAMESPACE, LBC_NAMESPACE
from components.core.names import MONITORING_NAMESPACE as NAMESPACE
from components.observability.alert_rules import certificate_rules
from settings import gates

TYPE = "platform:observability:WebhookCertificates"
CHART = "prometheus-blackbox-exporter"
RELEASE = "blackbox-exporter"
MODULE = "tls_connect"
DNS_LABEL, ADDRESS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), re.compile(r"^[a-z0-9.-]+:\d{1,5}$")
TARGET_PREFIX = "webhook-"  # the alert rules select the probes by this prefix of their target label
# by the gate of the add-on that serves the webhook (probed only when it is on)
TARGETS = {
    gates.LOAD_BALANCER_CONTROLLER: ("aws-load-balancer-controller",
                                  f"aws-load-balancer-webhook-service.{LBC_NAMESPACE}.svc:443"),
    gates.ISTIO: ("istiod", f"istiod.{ISTIO_NAMESPACE}.svc:443"),
}


@dataclass(frozen=True, kw_only=True)
class WebhookCertificatesArgs:
    cluster: ClusterHandle
    """The cluster, EKS or kind."""
    targets: Mapping[str, str]
    """Webhook Services to probe: a stable name (the alert's ``target`` label, after ``webhook-``) to ``host:port``."""
    warn_days: int = 14
    """Alert when a certificate expires in fewer days than this."""

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("WebhookCertificatesArgs.targets: name at least one webhook Service to probe")
        bad = [name for name, address in self.targets.items()
               if not DNS_LABEL.match(name) or not ADDRESS.match(address)]
        if bad:
            raise ValueError(f"WebhookCertificatesArgs.targets: {bad} need a DNS-label name and a host:port address")


def chart_values(args: WebhookCertificatesArgs) -> dict[str, Any]:
    cluster = args.cluster
    return {
        "fullnameOverride": RELEASE,
        "config": {"modules": {MODULE: {"prober": "tcp", "timeout": "5s",
                                        "tcp": {"tls": True, "tls_config": {"insecure_skip_verify": True}}}}},
        "serviceMonitor": {
            "enabled": True,
            "defaults": {"module": MODULE, "interval": "1m", "scrapeTimeout": "30s"},
            # sorted by name: the chart makes one ServiceMonitor per entry, named after it
            "targets": [{"name": f"{TARGET_PREFIX}{name}", "url": address}
                        for name, address in sorted(args.targets.items())],
        },
        # the exporter probes whatever it is asked: only Prometheus's namespace may ask
        "networkPolicy": {"enabled": True, "allowMonitoringNamespace": True, "monitoringNamespaceName": NAMESPACE},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "nodeSelector": dict(cluster.system_node_selector),
        "tolerations": list(cluster.system_tolerations),
    }


class WebhookCertificates(PlatformComponent):
    release: k8s.helm.v3.Release
    rules: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: WebhookCertificatesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster = args.cluster
        # the namespace is the monitoring stack's, which this add-on comes after
        self.release = helm.release(f"{name}-release", self, cluster, CHART, namespace=NAMESPACE,
                                    release_name=RELEASE, values=chart_values(args))
        self.rules = k8s.apiextensions.CustomResource(
            f"{name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata={"name": "webhook-certificates", "namespace": NAMESPACE},
            spec={"groups": [certificate_rules(TARGET_PREFIX, args.warn_days)]},
            opts=child_opts(self, cluster.k8s_opts()))
        self.register_outputs({"chart_version": versions.CHARTS[CHART].version,
                               "targets": sorted(args.targets)})


def webhook_targets(settings: Any) -> dict[str, str]:
    """The webhook Services of the add-ons that are on."""
    return dict(TARGETS[gate] for gate in TARGETS if gate.on(settings))


class WebhookCertificatesAddOn(AddOn):
    """Alerts before a webhook's serving certificate expires, on EKS and kind."""

    key = "webhook-certificates"
    gate = gates.WEBHOOK_CERTIFICATES

    @classmethod
    def enabled(cls, settings):
        return super().enabled(settings) and bool(webhook_targets(settings))

    @classmethod
    def build(cls, name, cluster, settings):
        return WebhookCertificates(name, WebhookCertificatesArgs(cluster=cluster, targets=webhook_targets(settings)))
