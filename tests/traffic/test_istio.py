"""platform:traffic:Istio: base, istiod, gateway in order, after the load balancer controller on EKS;
values checked against upstream; the gateway as an NLB on EKS and a NodePort on kind; STRICT mTLS
with PERMISSIVE exceptions; custom resources valid against Istio's CRDs; bad config."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

import versions
from components.cluster.kind import HTTP_NODE_PORT, HTTPS_NODE_PORT
from components.traffic.istio import GATEWAY, TYPE, Istio, IstioArgs
from harness import PROJECT_DIR, run_stack, yamlio
from harness.fakes import fake_eks_handle, fake_kind_handle
from harness.upstream import load_yaml, missing_value_paths, schema_errors
from tests.conftest import assert_config_error, make_settings, run

RELEASE = "kubernetes:helm.sh/v3:Release"
PEER_AUTH = "kubernetes:security.istio.io/v1:PeerAuthentication"
ISTIO = {"injectedNamespaces": ["shop", "legacy"], "permissiveNamespaces": ["legacy"], "accessLogs": True}


def build(kind: bool = False, stack: str = "prod", **istio):
    settings = make_settings("local" if kind else stack, traffic={"istio": istio} if istio else {})

    def program():
        nodes = aws.eks.NodeGroup("nodes", cluster_name="c1", node_role_arn="r", subnet_ids=["s"],
                                  scaling_config={"desired_size": 1, "min_size": 1, "max_size": 1})
        cluster = fake_kind_handle(readiness=[nodes]) if kind else fake_eks_handle(readiness=[nodes])
        Istio("mesh", IstioArgs(cluster=cluster, settings=settings.traffic.istio))

    return run(program, stack="local" if kind else stack)


def releases(rec) -> dict:
    return {r.inputs["chart"]: r for r in rec.of_type(RELEASE)}


def unwrapped(name: str) -> dict:
    # the Istio charts keep their defaults under _internal_defaults_do_not_set; users set them at the top
    return load_yaml("istio", name)["_internal_defaults_do_not_set"]


@pytest.fixture(scope="module")
def rec():
    return build(**ISTIO)


def test_charts_are_pinned_at_the_new_repository_and_install_in_order(rec):
    charts = releases(rec)
    assert set(charts) == {"base", "cni", "istiod", "gateway"}
    for key, chart in (("istio-base", "base"), ("istio-cni", "cni"), ("istiod", "istiod"),
                       ("istio-gateway", "gateway")):
        assert charts[chart].inputs["version"] == versions.CHARTS[key].version == "1.31.1"
        assert charts[chart].inputs["repositoryOpts"]["repo"] == "https://blob.istio.io/istio-release/charts"
    assert rec.depends_on(charts["istiod"], charts["base"])
    # injected pods carry no istio-init (NET_ADMIN, NET_RAW) that Pod Security refuses: the CNI node agent
    # redirects their traffic, so it runs (in kube-system, for system-node-critical) before istiod injects
    assert charts["istiod"].inputs["values"]["cni"] == {"enabled": True}
    assert rec.depends_on(charts["istiod"], charts["cni"]) and rec.depends_on(charts["cni"], charts["base"])
    assert charts["cni"].inputs["namespace"] == "kube-system"
    assert rec.depends_on(charts["gateway"], charts["istiod"])
    assert charts["gateway"].inputs["namespace"] == "istio-ingress" and charts["gateway"].inputs["name"] == GATEWAY


def test_values_exist_in_the_upstream_charts(rec):
    charts = releases(rec)
    # meshConfig is Istio's MeshConfig passed through whole; resources is a Kubernetes ResourceRequirements
    # whose upstream default sets requests only
    assert missing_value_paths(charts["istiod"].inputs["values"], unwrapped("istiod-values.yaml"),
                               free_form=("meshConfig", "resources")) == []
    assert missing_value_paths(charts["gateway"].inputs["values"], unwrapped("gateway-values.yaml")) == []
    kind = releases(build(kind=True))
    assert missing_value_paths(kind["gateway"].inputs["values"], unwrapped("gateway-values.yaml")) == []


def test_istiod_is_ha_in_prod_with_access_logs_per_config(rec):
    values = releases(rec)["istiod"].inputs["values"]
    assert values["replicaCount"] == 2 and values["pdb"] == {"minAvailable": 1}
    assert values["global"]["defaultPodDisruptionBudget"] == {"enabled": True}
    assert values["meshConfig"]["accessLogFile"] == "/dev/stdout"
    assert values["resources"]["requests"] and values["nodeSelector"] == {"platform.eks/node-group": "system"}
    dev = releases(build(stack="dev"))["istiod"].inputs["values"]
    assert dev["replicaCount"] == 1 and "pdb" not in dev and dev["meshConfig"]["accessLogFile"] == ""


@pytest.mark.parametrize(("stack", "limits"), [("dev", {"cpu": "250m", "memory": "256Mi"}),
                                             ("prod", {"cpu": "500m", "memory": "512Mi"})])
def test_sidecars_are_sized_per_tier_and_come_from_the_release_images(stack, limits):
    """issue 19, defect 3: global.proxy.resources replaces the chart's 2 CPU/1Gi sidecar limits; hub and
    tag name the released images (the chart's own are placeholders: registry.istio.io/testing, latest)."""
    values = releases(build(stack=stack))["istiod"].inputs["values"]["global"]
    assert values["proxy"]["resources"]["limits"] == limits
    assert values["proxy"]["resources"]["requests"]["cpu"] in ("50m", "100m")
    chart = unwrapped("istiod-values.yaml")["global"]
    assert chart["proxy"]["resources"]["limits"] == {"cpu": "2000m", "memory": "1024Mi"}
    assert chart["hub"] == "registry.istio.io/testing"
    assert (values["hub"], values["tag"]) == ("docker.io/istio", versions.CHARTS["istiod"].version)


def test_gateway_on_eks_is_an_nlb_with_ip_targets_across_zones(rec):
    service = releases(rec)["gateway"].inputs["values"]["service"]
    annotations = service["annotations"]
    assert service["type"] == "LoadBalancer"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert "cross_zone.enabled=true" in annotations["service.beta.kubernetes.io/aws-load-balancer-attributes"]
    internal = releases(build(gatewayScheme="internal"))["gateway"].inputs["values"]["service"]
    assert internal["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


def test_gateway_on_kind_is_a_nodeport_on_the_ports_kind_maps_to_localhost():
    rec = build(kind=True)
    service = releases(rec)["gateway"].inputs["values"]["service"]
    assert service["type"] == "NodePort" and "annotations" not in service
    ports = {p["name"]: p.get("nodePort") for p in service["ports"]}
    assert ports == {"status-port": None, "http2": HTTP_NODE_PORT, "https": HTTPS_NODE_PORT}
    assert not [r for r in rec if r.type.startswith("aws:") and r.type != "aws:eks/nodeGroup:NodeGroup"]


def test_strict_mtls_mesh_wide_permissive_only_where_listed_and_injection_labels(rec):
    policies = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["mtls"]["mode"] for r in rec.of_type(PEER_AUTH)}
    assert policies == {"istio-system": "STRICT", "legacy": "PERMISSIVE"}
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"] for r in rec.of_type("kubernetes:core/v1:Namespace")}
    meshed = {"istio-injection": "enabled", "pod-security.kubernetes.io/enforce": "baseline"}
    assert namespaces["shop"] == meshed == namespaces["legacy"]
    baseline = {"pod-security.kubernetes.io/enforce": "baseline"}
    assert namespaces["istio-system"] == baseline == namespaces["istio-ingress"]
    istiod = releases(rec)["istiod"]
    for policy in rec.of_type(PEER_AUTH):
        assert rec.depends_on(policy, istiod)  # its validating webhook answers first


def test_every_istio_custom_resource_validates_against_the_crds(rec):
    for res in rec.of_type(PEER_AUTH):
        assert schema_errors(res.inputs) == [], res.name
    assert schema_errors({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                          "metadata": {"name": "x"}, "spec": {"mtls": {"mode": "SOMETIMES"}}})


def test_examples_validate_against_the_crds():
    docs = list(yamlio.load_all((PROJECT_DIR / "examples" / "istio-gateway.yaml").read_text()))
    assert {d["kind"] for d in docs} == {"Gateway", "VirtualService"}
    for doc in docs:
        assert schema_errors(doc) == [], doc["kind"]
    (ingress,) = yamlio.load_all((PROJECT_DIR / "examples" / "alb-ingress.yaml").read_text())
    assert ingress["kind"] == "Ingress" and ingress["spec"]["ingressClassName"] == "alb"


def test_in_the_program_the_gateway_comes_after_the_load_balancer_controller():
    dev = run_stack("dev")
    gateway = next(r for r in dev.of_type(RELEASE) if r.inputs["chart"] == "gateway")
    controller = next(r for r in dev.of_type(RELEASE) if r.inputs["chart"] == "aws-load-balancer-controller")
    assert dev.depends_on(gateway, controller)
    assert dev.of_type(TYPE) and run_stack("local").of_type(TYPE)


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), [
    ("dev", {"traffic": {"istio": {"gatewayScheme": "public"}}}, "eks-platform:traffic.istio.gatewayScheme",
     "'internet-facing' or 'internal'"),
    ("dev", {"traffic": {"istio": {"injectedNamespaces": ["Shop"]}}}, "eks-platform:traffic.istio.injectedNamespaces[0]",
     "DNS label"),
    ("dev", {"traffic": {"istio": {"injectedNamespaces": ["kube-system"]}}}, "eks-platform:traffic.istio.injectedNamespaces",
     "application namespaces"),
    ("dev", {"traffic": {"istio": {"injectedNamespaces": ["a"], "permissiveNamespaces": ["b"]}}},
     "eks-platform:traffic.istio.permissiveNamespaces", "not in injectedNamespaces"),
    ("staging", {"traffic": {"loadBalancerController": {"enabled": False}}},
     "eks-platform:traffic.loadBalancerController.enabled", "NLB made by the load balancer controller"),
    ("dev", {"traffic": {"istio": {"istiodReplicas": 9}}}, "eks-platform:traffic.istio.istiodReplicas", "from 1 to 5"),
])
def test_bad_config_names_the_key(stack, raw, key, valid):
    assert_config_error(stack, {"aws:region": "us-east-1", **raw}, key, valid)


SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
METRICS_OFF = {"eks-platform:observability": {"metrics": {"enabled": False}}}


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_monitors_scrape_istiod_and_every_proxy_after_the_monitoring_crds(stack):
    rec = run_stack(stack)
    (component,) = rec.of_type(TYPE)
    crds = rec.one("kubernetes:yaml/v2:ConfigGroup")
    istiod, proxies = rec.one(SERVICE_MONITOR), rec.one(POD_MONITOR)
    for monitor in (istiod, proxies):
        assert monitor.parent == component.urn and monitor.inputs["metadata"]["namespace"] == "istio-system"
        assert rec.depends_on(monitor, crds)
        assert rec.depends_on(monitor, rec.one("kubernetes:core/v1:Namespace", f"{stack}-istio-system"))
    # istiod's Service selects on istio=pilot only without a revision (service.yaml @ release-1.31)
    assert "revision" not in releases(rec)["istiod"].inputs["values"] and unwrapped("istiod-values.yaml")["revision"] == ""
    spec = istiod.inputs["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "istiod", "istio": "pilot"}}
    assert spec["namespaceSelector"] == {"matchNames": ["istio-system"]}
    assert [(e["port"], e["path"]) for e in spec["endpoints"]] == [("http-monitoring", "/metrics")]
    spec = proxies.inputs["spec"]
    assert spec["namespaceSelector"] == {"any": True}
    # Envoy's stats port, as the injection template and the gateway chart name it on istio-proxy
    assert [(e["port"], e["path"]) for e in spec["podMetricsEndpoints"]] == [("http-envoy-prom", "/stats/prometheus")]
    assert spec["selector"] == {"matchExpressions": [{"key": "istio-prometheus-ignore", "operator": "DoesNotExist"}]}


def test_no_monitors_without_monitoring_and_none_from_a_bare_istio(rec):
    off = run_stack("dev", overrides=METRICS_OFF)
    assert off.of_type(TYPE) and not off.of_type(SERVICE_MONITOR) and not off.of_type(POD_MONITOR)
    assert not rec.of_type(SERVICE_MONITOR) and not rec.of_type(POD_MONITOR)  # IstioArgs.monitors defaults off


def test_dev_gateway_has_no_load_balancer_by_default_and_one_key_gives_it_one():
    from components.traffic.istio import gateway_values
    from harness.fakes import fake_eks_handle as fake_handle

    dev = make_settings("dev").traffic.istio
    assert dev.gateway_service == "cluster-ip"
    assert make_settings("staging").traffic.istio.gateway_service == "load-balancer"
    service = gateway_values(fake_handle(), dev)["service"]
    assert service == {"type": "ClusterIP"}  # the chart's ports (15021, 80, 443) stay
    exposed = make_settings("dev", traffic={"istio": {"gatewayService": "load-balancer"}}).traffic.istio
    service = gateway_values(fake_handle(), exposed)["service"]
    assert service["type"] == "LoadBalancer"
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    # without an NLB the gateway needs no load balancer controller
    make_settings("dev", traffic={"loadBalancerController": {"enabled": False}})
