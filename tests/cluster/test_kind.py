"""platform:kind:Cluster: the generated kind config, the commands and what replaces the cluster, the
handle, metrics-server on kind, the local stack as a whole, and bad config."""

from __future__ import annotations

import pytest
from pulumi.runtime import rpc

import versions
from components.cluster.kind import (
    HTTP_NODE_PORT,
    HTTPS_NODE_PORT,
    TYPE,
    KindCluster,
    KindClusterArgs,
    create_command,
    delete_command,
    kind_config,
)
from harness import run_stack, yamlio
from tests.conftest import assert_config_error, make_settings, run

COMMAND = "command:local:Command"


def args(**kind) -> KindClusterArgs:
    return KindClusterArgs(cluster_name="eks-platform-local", settings=make_settings("local", kind=kind).kind)


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_config_has_one_control_plane_and_the_workers_on_the_pinned_image(workers):
    config = kind_config(args(workers=workers))
    assert (config["apiVersion"], config["kind"], config["name"]) == ("kind.x-k8s.io/v1alpha4", "Cluster",
                                                                      "eks-platform-local")
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", *["worker"] * workers]
    image = versions.KIND_NODE_IMAGES["1.35"]
    assert all(n["image"] == image for n in config["nodes"]) and "@sha256:" in image
    assert image.startswith("kindest/node:v1.35.")


def test_the_control_plane_owns_the_ingress_ports_on_localhost_and_is_labelled_for_them():
    control_plane = kind_config(args())["nodes"][0]
    assert control_plane["extraPortMappings"] == [
        {"containerPort": HTTP_NODE_PORT, "hostPort": 80, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        {"containerPort": HTTPS_NODE_PORT, "hostPort": 443, "listenAddress": "127.0.0.1", "protocol": "TCP"}]
    (patch,) = control_plane["kubeadmConfigPatches"]
    assert yamlio.load(patch) == {"kind": "InitConfiguration",
                                     "nodeRegistration": {"kubeletExtraArgs": {"node-labels": "ingress-ready=true"}}}
    workers = kind_config(args(workers=2))["nodes"][1:]
    assert not any("extraPortMappings" in w or "kubeadmConfigPatches" in w for w in workers)


def test_custom_ports_and_version():
    config = kind_config(args(httpPort=8080, httpsPort=8443, allowPrivilegedPorts=False, version="1.36"))
    assert [m["hostPort"] for m in config["nodes"][0]["extraPortMappings"]] == [8080, 8443]
    assert config["nodes"][0]["image"] == versions.KIND_NODE_IMAGES["1.36"]


def test_commands_are_idempotent():
    create = create_command("eks-platform-local")
    assert create.startswith("kind get clusters 2>/dev/null | grep -qx eks-platform-local || ")
    assert create.endswith("kind create cluster --name eks-platform-local --config=- --wait 5m")
    assert delete_command("eks-platform-local") == "kind delete cluster --name eks-platform-local"
    # a name is quoted for the shell
    assert "'a b'" in create_command("a b")


def build(**kind):
    def program():
        KindCluster("local-kind", args(**kind))

    return run(program, stack="local")


def test_cluster_command_feeds_the_config_on_stdin_and_any_config_change_replaces_it():
    rec = build(workers=1)
    cluster = rec.named("local-kind-cluster")
    assert cluster.type == COMMAND
    assert yamlio.load(cluster.inputs["stdin"]) == kind_config(args(workers=1))
    assert cluster.inputs["triggers"] == ["eks-platform-local", cluster.inputs["stdin"]]
    assert cluster.delete_before_replace is True
    other = build(workers=3).named("local-kind-cluster")
    assert other.inputs["triggers"] != cluster.inputs["triggers"]


def test_kubeconfig_is_read_after_the_cluster_as_a_secret_and_feeds_the_provider():
    rec = build()
    kubeconfig = rec.named("local-kind-kubeconfig")
    cluster = rec.named("local-kind-cluster")
    assert kubeconfig.inputs["create"] == "kind get kubeconfig --name eks-platform-local"
    assert rec.depends_on(kubeconfig, cluster)
    assert kubeconfig.inputs["triggers"] == [cluster.outputs.get("id", f"{cluster.name}-id")]
    provider = rec.one("pulumi:providers:kubernetes")
    assert provider.parent == rec.one(TYPE).urn
    secret = provider.inputs["kubeconfig"]
    # Pulumi's wire form of a secret value
    assert secret[rpc._special_sig_key] == rpc._special_secret_sig
    assert "kind-eks-platform-local" in secret["value"]


def test_handle_has_no_aws_facts_and_waits_for_the_cluster():
    box = {}

    def program():
        box["handle"] = KindCluster("local-kind", args()).handle()

    run(program, stack="local")
    handle = box["handle"]
    assert handle.aws is None and handle.target == "kind" and handle.az_count == 1
    assert handle.system_node_selector == {} and handle.system_tolerations == []
    assert handle.physical_name == "eks-platform-local" and handle.version == "1.35"
    assert [r._name for r in handle.readiness] == ["local-kind-cluster"]


@pytest.fixture(scope="module")
def local():
    return run_stack("local")


def test_local_stack_is_the_kind_cluster_and_metrics_server_with_insecure_kubelet_tls(local):
    assert not [r for r in local if r.type.startswith("aws:")]
    components = sorted(r.type for r in local if not r.custom)
    # (no load balancer controller, Karpenter, EBS or CoreDNS add-on on kind)
    assert components == ["kubernetes:yaml/v2:ConfigGroup", "platform:gitops:ArgoCd", "platform:gitops:Bootstrap",
                          "platform:kind:Cluster",
                          "platform:observability:MetricsServer",
                          "platform:observability:Monitoring", "platform:observability:MonitoringCrds",
                          "platform:observability:WebhookCertificates", "platform:policy:Kyverno",
                          "platform:traffic:Istio"]
    release = next(r for r in local.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "metrics-server")
    assert release.inputs["values"]["args"] == ["--kubelet-insecure-tls"]
    assert release.inputs["values"]["nodeSelector"] == {} and release.inputs["values"]["tolerations"] == []
    assert local.depends_on(release, local.named("local-kind-cluster"))
    assert release.provider.startswith(local.one("pulumi:providers:kubernetes").urn)
    assert local.exports["kubeContext"] == "kind-eks-platform-local"


def test_eks_metrics_server_never_skips_kubelet_tls():
    release = next(r for r in run_stack("dev").of_type("kubernetes:helm.sh/v3:Release")
                   if r.inputs["chart"] == "metrics-server")
    assert release.inputs["values"]["args"] == []


@pytest.mark.parametrize(("raw", "key", "valid"), [
    ({"kind": {"workers": -1}}, "eks-platform:kind.workers", "from 0 to 5"),
    ({"kind": {"workers": 6}}, "eks-platform:kind.workers", "from 0 to 5"),
    ({"kind": {"httpPort": 8443, "httpsPort": 8443}}, "eks-platform:kind.httpsPort", "must differ from httpPort"),
    ({"kind": {"allowPrivilegedPorts": False}}, "eks-platform:kind.httpPort", "like 8080 and 8443"),
    ({"kind": {"allowPrivilegedPorts": False, "httpPort": 8080}}, "eks-platform:kind.httpsPort", "privileged"),
    ({"kind": {"httpPort": 70000}}, "eks-platform:kind.httpPort", "from 1 to 65535"),
    ({"kind": {"version": "1.34"}}, "eks-platform:kind.version", "'1.35', '1.36'"),
    ({"kind": {"name": "Local_Cluster"}}, "eks-platform:kind.name", "DNS label"),
    ({"karpenter": {}}, "eks-platform:karpenter", "only apply to the aws target"),
    ({"clusterAutoscaler": {}}, "eks-platform:clusterAutoscaler", "only apply to the aws target"),
    ({"nodeGroups": []}, "eks-platform:nodeGroups", "only apply to the aws target"),
    ({"fargateProfiles": []}, "eks-platform:fargateProfiles", "only apply to the aws target"),
    ({"cluster": {"version": "1.35"}}, "eks-platform:cluster", "only apply to the aws target"),
])
def test_bad_kind_config_names_the_key(raw, key, valid):
    assert_config_error("local", raw, key, valid)
