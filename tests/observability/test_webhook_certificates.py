"""platform:observability:WebhookCertificates: a blackbox exporter that probes each running webhook
Service with a TLS handshake, a rule on the certificates' expiry, after the monitoring stack, present
exactly when monitoring and a probed webhook are on."""

from __future__ import annotations

import pytest

import versions
from components.observability.alert_rules import certificate_rules
from components.observability.webhook_certificates import TYPE, WebhookCertificatesAddOn, WebhookCertificatesArgs
from harness import run_stack
from harness.fakes import fake_kind_handle
from tests.conftest import build_addon

RELEASE = "kubernetes:helm.sh/v3:Release"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
LBC = "aws-load-balancer-webhook-service.kube-system.svc:443"
ISTIOD = "istiod.istio-system.svc:443"
METRICS_OFF = {"eks-platform:observability": {"metrics": {"enabled": False}}}
NO_ISTIO = {"eks-platform:traffic": {"istio": {"enabled": False}}}


def release(rec, chart="prometheus-blackbox-exporter"):
    return next(r for r in rec.of_type(RELEASE) if r.inputs["chart"] == chart)


def probed(rec) -> dict[str, str]:
    if not rec.of_type(TYPE):
        return {}
    targets = release(rec).inputs["values"]["serviceMonitor"]["targets"]
    return {t["name"]: t["url"] for t in targets}


@pytest.mark.parametrize(("stack", "overrides", "expected"), [
    ("dev", None, {"webhook-aws-load-balancer-controller": LBC, "webhook-istiod": ISTIOD}),
    ("prod", None, {"webhook-aws-load-balancer-controller": LBC, "webhook-istiod": ISTIOD}),
    ("dev", NO_ISTIO, {"webhook-aws-load-balancer-controller": LBC}),
    ("local", None, {"webhook-istiod": ISTIOD}),
    ("local", NO_ISTIO, {}),
    ("dev", METRICS_OFF, {}),
])
def test_probes_exactly_the_webhooks_that_run_when_monitoring_is_on(stack, overrides, expected):
    # the targets follow from the settings alone, and the probes are the add-on's own: built by itself
    raw = {k.removeprefix("eks-platform:"): v for k, v in (overrides or {}).items()}
    rec = build_addon(WebhookCertificatesAddOn, stack, **raw)
    assert probed(rec) == expected
    assert bool(rec.of_type(TYPE)) == bool(expected)


def test_the_exporter_does_a_tls_handshake_and_answers_only_prometheus():
    rec = run_stack("prod")
    chart = release(rec)
    pinned = versions.CHARTS["prometheus-blackbox-exporter"]
    assert (chart.inputs["chart"], chart.inputs["version"]) == ("prometheus-blackbox-exporter", "11.17.2") == (
        pinned.name, pinned.version)
    assert chart.inputs["namespace"] == "monitoring"
    values = chart.inputs["values"]
    module = values["config"]["modules"]["tls_connect"]
    assert module["prober"] == "tcp" and module["tcp"] == {"tls": True, "tls_config": {"insecure_skip_verify": True}}
    assert values["serviceMonitor"]["enabled"] is True and values["serviceMonitor"]["defaults"]["module"] == "tls_connect"
    assert values["networkPolicy"] == {"enabled": True, "allowMonitoringNamespace": True,
                                       "monitoringNamespaceName": "monitoring"}
    assert values["nodeSelector"] == {"platform.eks/node-group": "system"} and values["resources"]["limits"]
    assert release(run_stack("local")).inputs["values"]["nodeSelector"] == {}


def test_after_the_monitoring_stack_with_its_rule():
    rec = run_stack("dev")
    (component,) = rec.of_type(TYPE)
    kps = release(rec, "kube-prometheus-stack")
    (rule,) = [r for r in rec.of_type(RULE) if r.parent == component.urn]
    assert rec.depends_on(release(rec), kps) and rec.depends_on(rule, kps)
    assert rule.inputs["metadata"] == {"name": "webhook-certificates", "namespace": "monitoring"}
    assert rule.inputs["spec"]["groups"] == [certificate_rules("webhook-", 14)]
    assert all(r.parent == component.urn for r in rec.children(component))


@pytest.mark.parametrize(("targets", "message"), [
    ({}, "at least one"),
    ({"istiod": "istiod.istio-system.svc"}, "host:port"),
    ({"Istiod": "istiod.istio-system.svc:443"}, "DNS-label"),
])
def test_bad_targets_are_refused(targets, message):
    with pytest.raises(ValueError, match=message):
        WebhookCertificatesArgs(cluster=fake_kind_handle(), targets=targets)
