"""platform:observability:MetricsServer: replicas and PDB per tier, kind's kubelet TLS, scheduling, order."""

from __future__ import annotations

import pulumi
import pytest

import versions
from components.cluster.eks import ClusterArgs, EksCluster
from components.cluster.node_groups import NodeGroups, NodeGroupsArgs
from components.observability.metrics_server import SELECTOR, TYPE, MetricsServer, MetricsServerArgs
from harness import run_stack
from harness.fakes import fake_kind_handle
from tests.conftest import make_settings, run

RELEASE = "kubernetes:helm.sh/v3:Release"


def build_eks(stack: str = "dev", **metrics_server):
    settings = make_settings(stack, metricsServer=metrics_server) if metrics_server else make_settings(stack)

    def program():
        eks = EksCluster("c", ClusterArgs(cluster_name="c1", region="us-east-1", settings=settings.cluster,
                                          vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], az_count=2, api_access_cidrs=["10.0.0.0/16"]))
        cluster = eks.handle()
        nodes = NodeGroups("n", NodeGroupsArgs(cluster=cluster, groups=settings.node_groups))
        cluster = cluster.with_aws(node_role_arn=nodes.role.arn, node_groups=nodes.groups).after(nodes)
        ms = MetricsServer("ms", MetricsServerArgs(cluster=cluster, settings=settings.metrics_server))
        pulumi.export("status", ms.release.status)

    return run(program, stack=stack)


def build_kind():
    settings = make_settings("local")

    def program():
        MetricsServer("ms", MetricsServerArgs(cluster=fake_kind_handle(), settings=settings.metrics_server,
                                              kubelet_insecure_tls=True))

    return run(program, stack="local")


def values(rec):
    return rec.one(RELEASE).inputs["values"]


def test_dev_runs_one_replica_without_budget_on_the_system_nodes():
    rec = build_eks("dev")
    release = rec.one(RELEASE)
    pinned = versions.CHARTS["metrics-server"]
    assert (release.inputs["chart"], release.inputs["version"]) == (pinned.name, pinned.version) == (
        "metrics-server", "3.13.1")
    assert release.inputs["repositoryOpts"]["repo"] == "https://kubernetes-sigs.github.io/metrics-server/"
    assert release.inputs["namespace"] == "kube-system"
    v = values(rec)
    assert v["replicas"] == 1
    assert v["podDisruptionBudget"] == {"enabled": False}
    assert v["args"] == []
    assert "affinity" not in v and "updateStrategy" not in v
    assert v["nodeSelector"] == {"platform.eks/node-group": "system"}
    assert v["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    assert v["resources"] == {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "200Mi"}}


def test_staging_is_like_dev():
    v = values(build_eks("staging"))
    assert v["replicas"] == 1 and v["podDisruptionBudget"] == {"enabled": False}


def test_prod_runs_two_replicas_on_separate_nodes_with_a_budget():
    v = values(build_eks("prod"))
    assert v["replicas"] == 2
    assert v["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    (term,) = v["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"labelSelector": {"matchLabels": SELECTOR}, "topologyKey": "kubernetes.io/hostname"}
    # the chart labels its pods app.kubernetes.io/name + instance (= the release name)
    assert SELECTOR == {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"}
    assert v["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    assert v["args"] == []


def test_settings_reach_the_values():
    v = values(build_eks("dev", replicas=3, minAvailable=2, memory="256Mi"))
    assert v["replicas"] == 3 and v["podDisruptionBudget"] == {"enabled": True, "minAvailable": 2}
    assert v["resources"]["limits"]["memory"] == "256Mi"


def test_kind_skips_kubelet_tls_verification_and_follows_the_handle():
    rec = build_kind()
    v = values(rec)
    assert v["args"] == ["--kubelet-insecure-tls"]
    assert v["nodeSelector"] == {} and v["tolerations"] == []
    assert not [r for r in rec if r.type.startswith("aws:")]
    assert rec.one(RELEASE).provider.startswith(rec.one("pulumi:providers:kubernetes", "kind").urn)


def test_kubelet_tls_is_always_verified_on_eks():
    box = {}

    def program():
        eks = EksCluster("c", ClusterArgs(cluster_name="c1", region="us-east-1", settings=make_settings().cluster,
                                          vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], az_count=2, api_access_cidrs=["10.0.0.0/16"]))
        box["handle"] = eks.handle()

    run(program)
    settings = make_settings().metrics_server
    MetricsServerArgs(cluster=box["handle"], settings=settings)
    with pytest.raises(ValueError, match="kind only"):
        MetricsServerArgs(cluster=box["handle"], settings=settings, kubelet_insecure_tls=True)


def test_parent_tree_order_and_outputs():
    rec = build_eks()
    (component,) = rec.of_type(TYPE)
    assert [r.type for r in rec.children(component)] == [RELEASE]
    mine = [r for r in rec if r.name.startswith("ms-")]
    assert mine and all(r.parent == component.urn for r in mine)
    # after compute: the component's depends_on reaches the release
    release = rec.one(RELEASE)
    assert rec.depends_on(release, rec.one("aws:eks/nodeGroup:NodeGroup"))
    assert release.provider.startswith(rec.one("pulumi:providers:kubernetes").urn)
    assert rec.exports["status"]["status"] == "deployed"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_program_installs_metrics_server_after_compute_on_every_aws_stack(stack):
    rec = run_stack(stack)
    (release,) = [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "metrics-server"]
    assert release.inputs["values"]["replicas"] == {"dev": 1, "prod": 2}[stack]
    assert release.inputs["values"]["args"] == []
    for group in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert rec.depends_on(release, group)


def test_the_chart_serves_its_service_monitor_after_the_crds_only_with_monitoring_on():
    rec = run_stack("prod")
    (release,) = [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "metrics-server"]
    # the chart renders its ServiceMonitor only when both are on (templates/servicemonitor.yaml @ 3.13.1)
    assert release.inputs["values"]["metrics"] == {"enabled": True} == release.inputs["values"]["serviceMonitor"]
    assert rec.depends_on(release, rec.one("kubernetes:yaml/v2:ConfigGroup"))
    off = run_stack("prod", overrides={"eks-platform:observability": {"metrics": {"enabled": False}}})
    (release,) = [r for r in off.of_type(RELEASE) if r.inputs["chart"] == "metrics-server"]
    assert release.inputs["values"]["metrics"] == {"enabled": False} == release.inputs["values"]["serviceMonitor"]
    assert values(build_eks())["serviceMonitor"] == {"enabled": False}
