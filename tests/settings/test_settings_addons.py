"""settings/addons.py and its cross-checks: Cluster Autoscaler and metrics-server config, bad config named."""

from __future__ import annotations

import pytest

from settings import parse_settings
from settings.types import MEBIBYTE, duration_seconds, quantity
from tests.conftest import assert_config_error, make_settings

R = {"aws:region": "us-east-1"}
CA = {**R, "autoscaling": "cluster-autoscaler"}
FIXED = {"name": "system", "instanceTypes": ["m7g.large"], "minSize": 2, "desiredSize": 2, "maxSize": 2}


def test_tier_defaults():
    dev, prod = make_settings("dev"), make_settings("prod")
    assert (dev.cluster_autoscaler.replicas, prod.cluster_autoscaler.replicas) == (1, 2)
    assert (dev.cluster_autoscaler.memory, prod.cluster_autoscaler.memory) == ("300Mi", "600Mi")
    assert dev.cluster_autoscaler.scale_down_unneeded_time == "5m"
    assert prod.cluster_autoscaler.scale_down_unneeded_time == "10m"
    assert dev.cluster_autoscaler.skip_nodes_with_system_pods is False
    assert (dev.metrics_server.replicas, dev.metrics_server.pdb) == (1, False)
    assert (prod.metrics_server.replicas, prod.metrics_server.min_available) == (2, 1)
    assert make_settings("staging").metrics_server.replicas == 1


def test_cluster_autoscaler_settings_with_cluster_autoscaler_mode():
    s = parse_settings({**CA, "clusterAutoscaler": {"expander": "random", "scaleDownUnneededTime": "1h30m"}}, "dev")
    assert s.autoscaling == "cluster-autoscaler"
    assert s.cluster_autoscaler.expander == "random" and s.cluster_autoscaler.scale_down_unneeded_time == "1h30m"
    assert s.cluster_autoscaler.replicas == 1  # the tier default fills what is not given


def test_prod_single_metrics_server_needs_its_budget_removed():
    s = parse_settings({**R, "metricsServer": {"replicas": 1, "minAvailable": None}}, "prod")
    assert s.metrics_server.replicas == 1 and not s.metrics_server.pdb


def test_metrics_server_settings_are_allowed_on_kind():
    s = parse_settings({"metricsServer": {"memory": "128Mi"}}, "local")
    assert s.metrics_server.memory == "128Mi"


def test_quantity_and_duration_helpers():
    assert duration_seconds("1h30m") == 5400 and duration_seconds("45s") == 45
    assert quantity("1Gi") == 1024 * MEBIBYTE and quantity("300Mi") == 300 * MEBIBYTE


BAD = [
    # (stack, raw config, the key the error must name, a phrase of what is valid)
    ("dev", {**CA, "clusterAutoscaler": {"replicas": 0}}, "eks-platform:clusterAutoscaler.replicas", "from 1 to 3"),
    ("dev", {**CA, "clusterAutoscaler": {"expander": "priority"}}, "eks-platform:clusterAutoscaler.expander",
     "'least-waste', 'random' or 'most-pods'"),
    ("dev", {**CA, "clusterAutoscaler": {"scaleDownUnneededTime": "10 minutes"}},
     "eks-platform:clusterAutoscaler.scaleDownUnneededTime", "duration like"),
    ("dev", {**CA, "clusterAutoscaler": {"scaleDownUnneededTime": "30s"}},
     "eks-platform:clusterAutoscaler.scaleDownUnneededTime", "from 1m to 24h"),
    ("dev", {**CA, "clusterAutoscaler": {"scaleDownDelayAfterAdd": "2d"}},
     "eks-platform:clusterAutoscaler.scaleDownDelayAfterAdd", "duration like"),
    ("dev", {**CA, "clusterAutoscaler": {"maxNodeProvisionTime": "2m"}},
     "eks-platform:clusterAutoscaler.maxNodeProvisionTime", "from 5m to 1h"),
    ("dev", {**CA, "clusterAutoscaler": {"scaleDownUtilizationThreshold": 1.5}},
     "eks-platform:clusterAutoscaler.scaleDownUtilizationThreshold", "above 0 and below 1"),
    ("dev", {**CA, "clusterAutoscaler": {"cpu": "lots"}}, "eks-platform:clusterAutoscaler.cpu", "100m"),
    ("dev", {**CA, "clusterAutoscaler": {"memory": "300MB"}}, "eks-platform:clusterAutoscaler.memory", "like 300Mi or 1Gi"),
    ("dev", {**CA, "clusterAutoscaler": {"memory": "32Mi"}}, "eks-platform:clusterAutoscaler.memory", "at least 64Mi"),
    ("dev", {**CA, "clusterAutoscaler": {"skipNodesWithSystemPods": "maybe"}},
     "eks-platform:clusterAutoscaler.skipNodesWithSystemPods", "valid boolean"),
    ("dev", {**CA, "clusterAutoscaler": {"scanInterval": "10s"}}, "eks-platform:clusterAutoscaler.scanInterval",
     "unknown key"),
    # never both autoscalers: Cluster Autoscaler settings while Karpenter (the default) or nothing scales
    ("dev", {**R, "clusterAutoscaler": {"replicas": 2}}, "eks-platform:clusterAutoscaler",
     "only applies when eks-platform:autoscaling is 'cluster-autoscaler', but it is 'karpenter'"),
    ("dev", {**R, "autoscaling": "karpenter", "clusterAutoscaler": {}}, "eks-platform:clusterAutoscaler",
     "'karpenter'"),
    ("dev", {**R, "autoscaling": "none", "clusterAutoscaler": {}}, "eks-platform:clusterAutoscaler", "'none'"),
    # nothing to scale
    ("dev", {**CA, "nodeGroups": [FIXED]}, "eks-platform:autoscaling", "nothing to scale"),
    ("local", {"clusterAutoscaler": {"replicas": 1}}, "eks-platform:clusterAutoscaler", "only apply to the aws target"),
    ("dev", {**R, "metricsServer": {"replicas": 0}}, "eks-platform:metricsServer.replicas", "from 1 to 5"),
    ("dev", {**R, "metricsServer": {"replicas": 2, "minAvailable": 2}}, "eks-platform:metricsServer.minAvailable",
     "must be below replicas (2)"),
    ("prod", {**R, "metricsServer": {"replicas": 1}}, "eks-platform:metricsServer.minAvailable",
     "must be below replicas (1)"),
    ("dev", {**R, "metricsServer": {"replicas": 2, "minAvailable": 0}}, "eks-platform:metricsServer.minAvailable",
     "at least 1"),
    ("dev", {**R, "metricsServer": {"replicas": 5}}, "eks-platform:metricsServer.replicas",
     "nodeGroups 'system' has maxSize 3"),
    ("dev", {**R, "metricsServer": {"memory": "1 GB"}}, "eks-platform:metricsServer.memory", "like 300Mi or 1Gi"),
    ("local", {"metricsServer": {"pdb": True}}, "eks-platform:metricsServer.pdb", "unknown key"),
]


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_config_names_the_key_and_what_is_valid(stack, raw, key, valid):
    assert_config_error(stack, raw, key, valid)


SYSTEM_ONLY = [{"name": "system", "instanceTypes": ["m7g.large"], "minSize": 2, "desiredSize": 2, "maxSize": 4,
                "taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]}]


@pytest.mark.parametrize("mode", ["cluster-autoscaler", "none"])
def test_without_karpenter_the_default_node_groups_include_untainted_workers(mode):
    for tier, (lo, hi) in {"dev": (1, 3), "staging": (1, 4), "prod": (2, 6)}.items():
        s = parse_settings({**R, "autoscaling": mode}, tier)
        system, workers = s.node_groups
        assert system.name == "system" and system.taints
        assert workers.name == "workers" and not workers.taints and (workers.min_size, workers.max_size) == (lo, hi)
    # with Karpenter its nodes take those pods: the system group alone
    assert [g.name for g in make_settings("dev").node_groups] == ["system"]


@pytest.mark.parametrize("mode", ["cluster-autoscaler", "none"])
def test_without_karpenter_only_tainted_node_groups_are_refused(mode):
    assert_config_error("staging", {**R, "autoscaling": mode, "nodeGroups": SYSTEM_ONLY}, "eks-platform:nodeGroups",
                        "add a nodeGroups entry without a NoSchedule or NoExecute taint")
    # a PreferNoSchedule taint still lets those pods in
    soft = [{**SYSTEM_ONLY[0], "taints": [{"key": "CriticalAddonsOnly", "value": "true",
                                            "effect": "PREFER_NO_SCHEDULE"}]}]
    parse_settings({**R, "autoscaling": mode, "nodeGroups": soft}, "staging")
