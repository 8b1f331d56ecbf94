"""The platform's own alert rules, one group per component, as a PrometheusRule spec.

Not a component: ``components/observability/monitoring.py`` creates the PrometheusRule with the groups of the
components that are on. Every expression parses as PromQL and uses only metrics the component that
exports them documents (``tests/fixtures/metrics.yaml`` keeps each name with its source); the tests
check both.
"""

from __future__ import annotations

from typing import Any

# Deployments the platform runs; one without an available replica is an outage of that controller
# (kube-state-metrics kube_deployment_status_replicas_available).
CONTROLLERS = {
    "kube-system": ("karpenter", "aws-load-balancer-controller", "metrics-server", "coredns"),
    "istio-system": ("istiod",),
    "monitoring": ("monitoring-operator",),
    # the webhooks of team namespaces fail closed: without it, no team workload is admitted
    "kyverno": ("kyverno-admission-controller",),
}


def _rule(alert: str, expr: str, duration: str, severity: str, summary: str, runbook: str) -> dict[str, Any]:
    return {"alert": alert, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": runbook}}


def _controllers_down() -> str:
    selectors = " or ".join(
        f'kube_deployment_status_replicas_available{{namespace="{ns}",deployment=~"{"|".join(names)}"}}'
        for ns, names in CONTROLLERS.items())
    return f"({selectors}) == 0"


GROUPS: dict[str, dict[str, Any]] = {
    "platform": {"name": "platform", "rules": [
        _rule("NodeNotReady", 'kube_node_status_condition{condition="Ready",status="true"} == 0', "10m", "warning",
              "Node {{ $labels.node }} is not Ready",
              "The kubelet stopped reporting Ready. Check `kubectl describe node`; Karpenter replaces unhealthy "
              "nodes of its pools, a managed node group needs its Auto Scaling group checked."),
        _rule("PlatformControllerDown", _controllers_down(), "5m", "critical",
              "{{ $labels.namespace }}/{{ $labels.deployment }} has no available replica",
              "A platform controller is down: check its pods' events and logs (`kubectl -n {{ $labels.namespace }} "
              "describe deploy {{ $labels.deployment }}`)."),
        _rule("PersistentVolumeFillingUp",
              "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.10", "15m", "warning",
              "Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} has less than 10% free",
              "Grow the PersistentVolumeClaim (the gp3 class allows expansion) or free space."),
    ]},
    "karpenter": {"name": "karpenter", "rules": [
        _rule("KarpenterCannotSchedulePods", "sum(karpenter_scheduler_unschedulable_pods_count) > 0", "15m",
              "warning", "Karpenter has found no node for pending pods for 15 minutes",
              "Pods fit no NodePool (requirements, taints, limits) or launches fail: check "
              "`kubectl get events -A --field-selector reason=FailedScheduling` and the Karpenter logs."),
        _rule("KarpenterLaunchFailures", "sum(increase(karpenter_cloudprovider_errors_total[15m])) > 0", "0m",
              "warning", "Karpenter's EC2 calls are failing",
              "Launches or terminations fail: insufficient capacity, quotas, the Spot service-linked role, or "
              "IAM. The Karpenter logs name the error."),
        _rule("KarpenterInterruptionBacklog",
              "histogram_quantile(0.99, sum by (le) (rate(karpenter_interruption_message_queue_duration_seconds_bucket"
              "[10m]))) > 60", "10m", "warning",
              "Interruption messages wait over a minute before Karpenter handles them",
              "Spot interruptions give two minutes of notice: a slow queue means nodes go before they are drained. "
              "Check the controller's health and its SQS permissions."),
        _rule("KarpenterNodePoolNearLimit", "karpenter_nodepools_usage / karpenter_nodepools_limit > 0.9", "15m",
              "warning", "NodePool {{ $labels.nodepool }} uses over 90% of its limit",
              "Raise the pool's limits (eks-platform:karpenter.nodePools[].limits) or reduce the workload; at the "
              "limit Karpenter launches nothing more."),
    ]},
    "istio": {"name": "istio", "rules": [
        _rule("IstioHigh5xxRatio",
              'sum by (destination_service) (rate(istio_requests_total{reporter="destination",response_code=~"5.."}'
              '[5m])) / sum by (destination_service) (rate(istio_requests_total{reporter="destination"}[5m])) > 0.05',
              "10m", "warning", "{{ $labels.destination_service }} answers over 5% of requests with 5xx",
              "Look at the service's logs and the Istio dashboard for the failing route."),
    ]},
}


def certificate_rules(target_prefix: str, warn_days: int) -> dict[str, Any]:
    """The group of the webhook certificate probes (``components/observability/webhook_certificates.py``): the
    blackbox exporter's metrics of the probes whose ``target`` label starts with ``target_prefix``."""
    probes = f'{{target=~"{target_prefix}.+"}}'
    return {"name": "webhook-certificates", "rules": [
        _rule("WebhookCertificateExpiresSoon",
              f"probe_ssl_earliest_cert_expiry{probes} - time() < {warn_days} * 86400", "1h", "warning",
              "The serving certificate of {{ $labels.target }} expires in less than " f"{warn_days} days",
              "When it expires the API server refuses the webhook's answers (and fails the requests it guards, "
              "with failurePolicy Fail). The load balancer controller's certificate comes from its chart "
              "(keepTLSSecret): delete the aws-load-balancer-tls Secret and run `pulumi up` to renew it; istiod "
              "renews its own, so an old one means istiod is stuck: restart it."),
        _rule("WebhookCertificateProbeFailing", f"probe_success{probes} == 0", "15m", "warning",
              "No TLS handshake with {{ $labels.target }} for 15 minutes",
              "The webhook Service answers no TLS handshake: its pods are down or not ready, or the Service is "
              "gone. Its certificate's expiry is unknown while this fires."),
    ]}


def rule_groups(*, karpenter: bool, istio: bool) -> list[dict[str, Any]]:
    """The groups of the components that are on."""
    return [GROUPS["platform"], *([GROUPS["karpenter"]] if karpenter else []), *([GROUPS["istio"]] if istio else [])]
