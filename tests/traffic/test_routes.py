"""Grafana's exposure: platform:traffic:Routes (a Gateway and VirtualServices on the Istio ingress gateway,
valid against Istio's CRDs, HTTPS with the gateway's TLS Secret), an ALB Ingress through the chart's values,
ordering, and the settings that refuse what cannot work."""

from __future__ import annotations

import pytest

from components.observability.monitoring import MonitoringAddOn
from components.traffic.routes import TYPE, RoutesAddOn
from harness import run_stack
from harness.upstream import chart_missing_paths, schema_errors
from settings import ConfigError, parse_settings
from tests.conftest import DEV_SHARED_VARIANTS, ONE_MINOR_BEHIND, build_addon

CR = ("kubernetes:networking.istio.io/v1:Gateway", "kubernetes:networking.istio.io/v1:VirtualService")
ISTIO = {"eks-platform:observability": {"grafana": {"exposure": "istio", "hostname": "grafana.dev.example.com"}}}
ALB = {"eks-platform:observability": {"grafana": {"exposure": "alb", "hostname": "grafana.dev.example.com"}}}


def custom(rec, kind):
    return [r for r in rec if r.type.endswith(f":{kind}") and r.parent_type == TYPE]


def obj(r):
    return r.k8s_object()


def chart(rec, name):
    return next(r for r in rec.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith(name))


# on dev, with a mesh-injected team too (test_teams.py reads it; Teams and Routes are outside each other's
# ordering: one evaluation for both)
@pytest.mark.parametrize(("stack", "overrides"), [("dev", DEV_SHARED_VARIANTS["routed-grafana-injected-team"]),
                                                  ("local", ISTIO)], ids=["dev", "local"])
def test_grafana_through_the_istio_gateway(stack, overrides):
    assert overrides["eks-platform:observability"] == ISTIO["eks-platform:observability"]
    rec = run_stack(stack, overrides=overrides)
    (gateway,), (route,) = custom(rec, "Gateway"), custom(rec, "VirtualService")
    assert schema_errors(obj(gateway)) == [] and schema_errors(obj(route)) == []
    assert gateway.inputs["metadata"] == {"name": "platform", "namespace": "istio-ingress"}
    assert gateway.inputs["spec"]["selector"] == {"istio": "ingressgateway"}
    (server,) = gateway.inputs["spec"]["servers"]
    assert server["port"]["number"] == 80 and server["hosts"] == ["grafana.dev.example.com"]
    assert route.inputs["metadata"]["namespace"] == "monitoring"
    assert route.inputs["spec"]["gateways"] == ["istio-ingress/platform"]
    assert route.inputs["spec"]["http"][0]["route"][0]["destination"] == {
        "host": "monitoring-grafana.monitoring.svc.cluster.local", "port": {"number": 80}}
    # after the gateway and Grafana: on destroy the routes go first
    for release in (chart(rec, "gateway"), chart(rec, "kube-prometheus-stack")):
        assert rec.waits_for(route, release) and rec.waits_for(gateway, release)


def test_with_a_tls_secret_the_gateway_serves_https_and_redirects_http():
    rec = build_addon(RoutesAddOn, "prod", observability=ISTIO["eks-platform:observability"],
                traffic={"istio": {"gatewayTlsSecret": "platform-tls"}})
    (gateway,) = custom(rec, "Gateway")
    assert schema_errors(obj(gateway)) == []
    servers = {s["port"]["number"]: s for s in gateway.inputs["spec"]["servers"]}
    assert servers[80]["tls"] == {"httpsRedirect": True}
    assert servers[443]["tls"] == {"mode": "SIMPLE", "credentialName": "platform-tls"}


def test_no_routes_by_default():
    for stack in ("dev", "prod", "local"):
        assert not run_stack(stack).of_type(TYPE)


def test_grafana_through_an_alb_ingress():
    # with the deployer as admin and a deployed cluster one minor behind, which test_cluster.py reads (orthogonal:
    # one evaluation for both)
    shared = DEV_SHARED_VARIANTS["grafana-alb-deployer-admin"]
    assert shared["eks-platform:observability"] == ALB["eks-platform:observability"]
    rec = run_stack("dev", overrides=shared, existing_clusters=ONE_MINOR_BEHIND)
    release = chart(rec, "kube-prometheus-stack")
    ingress = release.inputs["values"]["grafana"]["ingress"]
    assert ingress["enabled"] is True and ingress["ingressClassName"] == "alb"
    assert ingress["hosts"] == ["grafana.dev.example.com"]
    annotations = ingress["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}]'
    # kube-prometheus-stack's values.yaml has ingressClassName commented out ("Should be provided if Ingress is
    # enable"): the only key path of these values it does not list
    assert chart_missing_paths("kube-prometheus-stack", release.inputs["values"]) == ["grafana.ingress.ingressClassName"]
    # the controller makes the ALB, and deletes it on destroy: it comes first
    assert rec.waits_for(release, chart(rec, "aws-load-balancer-controller"))
    https = build_addon(MonitoringAddOn, "dev", observability={"grafana": {
        "exposure": "alb", "hostname": "grafana.example.com", "albScheme": "internet-facing",
        "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"}})
    annotations = chart(https, "kube-prometheus-stack").inputs["values"]["grafana"]["ingress"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")


R = {"aws:region": "us-east-1"}


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), [
    ("dev", {"observability": {"grafana": {"exposure": "istio"}}}, "observability.grafana.hostname",
     "set hostname"),
    ("dev", {"observability": {"grafana": {"exposure": "nodeport"}}}, "observability.grafana.exposure",
     "'port-forward', 'istio' or 'alb'"),
    ("dev", {"observability": {"grafana": {"exposure": "istio", "hostname": "Grafana_host"}}},
     "observability.grafana.hostname", "fully qualified lowercase DNS name"),
    ("local", {"observability": {"grafana": {"exposure": "alb", "hostname": "g.example.com"}}},
     "observability.grafana.exposure", "needs the AWS Load Balancer Controller"),
    ("dev", {"observability": {"grafana": {"exposure": "istio", "hostname": "g.example.com"}},
             "traffic": {"istio": {"enabled": False}}}, "observability.grafana.exposure", "traffic.istio.enabled is false"),
    ("prod", {"observability": {"grafana": {"exposure": "istio", "hostname": "g.example.com"}}},
     "traffic.istio.gatewayTlsSecret", "needs HTTPS on the gateway"),
    ("dev", {"observability": {"grafana": {"exposure": "alb", "hostname": "g.example.com",
                                           "albScheme": "internet-facing"}}},
     "observability.grafana.certificateArn", "an internet-facing ALB needs HTTPS"),
    ("dev", {"observability": {"grafana": {"exposure": "alb", "hostname": "g.example.com",
                                           "certificateArn": "arn:aws:iam::123456789012:role/x"}}},
     "observability.grafana.certificateArn", "ACM certificate ARN"),
    ("dev", {"observability": {"grafana": {"exposure": "istio", "hostname": "g.example.com",
                                           "albScheme": "internal"}}},
     "observability.grafana.albScheme", "only applies with exposure alb"),
    ("dev", {"observability": {"grafana": {"exposure": "istio", "hostname": "g.example.com"},
                               "metrics": {"enabled": False}}}, "observability.grafana.exposure",
     "observability.metrics, which is disabled"),
])
def test_bad_config_names_the_key(stack, raw, key, valid):
    with pytest.raises(ConfigError) as err:
        parse_settings({**(R if stack != "local" else {}), **raw}, stack)
    assert f"eks-platform:{key}" in str(err.value) and valid in str(err.value), str(err.value)
