"""tools/deploy_time.py and harness/graph.py critical_path: the cold-deploy critical path."""

from __future__ import annotations

import copy
import itertools

import pytest

from harness import run_stack
from harness.graph import critical_path, edges
from harness.urns import VARIANTS
from tools import deploy_time


@pytest.fixture(scope="module")
def dev() -> dict:
    return deploy_time.estimate(run_stack("dev"))


def test_every_duration_has_a_source_and_an_ordered_range():
    table = deploy_time.load_durations()
    rows = [table["default"], *table["types"].values(), *table["addons"].values(), *table["charts"].values()]
    for row in rows:
        assert row["source"].strip(), row
        assert 0 < row["low"] <= row["typical"] <= row["high"], row


def test_the_critical_path_follows_real_edges():
    rec = run_stack("dev")
    graph = edges(rec)
    schedule = critical_path(rec, deploy_time.duration_of(deploy_time.load_durations()))
    path = schedule.path
    assert not graph[path[0].resource.urn]  # it starts at something that waits for nothing
    for before, after in itertools.pairwise(path):
        assert before.resource.urn in graph[after.resource.urn], (before.resource.name, after.resource.name)
        assert after.start == pytest.approx(before.finish)
    # nothing finishes after the path's end, and every resource starts after all it waits for
    assert max(s.finish for s in schedule.steps.values()) == pytest.approx(schedule.total)
    for urn, step in schedule.steps.items():
        assert all(schedule.steps[d].finish <= step.start + 1e-9 for d in graph[urn])


def test_dev_path_goes_through_the_control_plane_a_node_group_and_prometheus(dev):
    types = [s["type"] for s in dev["path"]]
    assert types.index("aws:eks/cluster:Cluster") < types.index("aws:eks/addon:Addon") \
        < types.index("aws:eks/nodeGroup:NodeGroup")
    # kube-prometheus-stack, then the webhook-certificate probes in its namespace
    assert [s["row"] for s in dev["path"][-3:]] == ["chart kube-prometheus-stack", "default",
                                                     "chart prometheus-blackbox-exporter"]
    # 24.1 since Grafana, kube-state-metrics and the gateway wait for the NodePools they run on
    assert dev["minutes"] == pytest.approx(24.1, abs=0.05)
    assert dev["range"][0] < dev["minutes"] < dev["range"][1]


def test_dev_is_within_15_percent_of_its_floor(dev):
    assert dev["floorMinutes"] <= dev["minutes"]
    assert dev["overFloor"] <= deploy_time.FLOOR_TARGET - 1


def test_a_change_in_durations_changes_the_path():
    rec = run_stack("dev")
    table = copy.deepcopy(deploy_time.load_durations())
    table["charts"]["kube-prometheus-stack"]["typical"] = 0.1
    table["charts"]["gateway"]["typical"] = 20
    est = deploy_time.estimate(rec, table)
    labels = [s["resource"] for s in est["path"]]
    # the gateway waits for istiod, istiod for the CNI agent and base, and the add-on for the load balancer
    # controller; the
    # GitOps bootstrap (its AppProjects) waits for the gateway
    assert labels[-8:] == ["dev-nodes-system", "dev-load-balancer-controller-release", "dev-istio-system",
                           "dev-istio-base", "dev-istio-cni", "dev-istio-istiod", "dev-istio-gateway",
                           "dev-gitops-project-platform-workloads"]
    assert est["minutes"] > deploy_time.estimate(rec)["minutes"]


def test_fargate_profiles_are_created_one_at_a_time():
    # a configured profile plus Karpenter's own (the variant the URN test evaluates anyway)
    stack, overrides = VARIANTS["staging-irsa-fargate"]
    est = deploy_time.estimate(run_stack(stack, overrides=overrides))
    profiles = [s for s in est["path"] if s["type"] == deploy_time.FARGATE_PROFILE]
    assert [p["resource"] for p in profiles] == ["staging-fargate-batch", "staging-fargate-karpenter"]
    for before, after in itertools.pairwise(profiles):
        assert after["start"] == pytest.approx(before["finish"])


def test_the_floor_leaves_out_waits_between_add_ons():
    rec = run_stack("dev")
    graph = edges(rec)
    floor = deploy_time.floor_graph(rec, graph)
    by_name = {r.name: r.urn for r in rec}
    namespace, lbc = by_name["dev-istio-system"], by_name["dev-load-balancer-controller-release"]
    assert lbc in graph[namespace] and lbc not in floor[namespace]
    assert by_name["dev-nodes-system"] in floor[namespace]  # compute stays
    assert by_name["dev-istio-base"] in floor[by_name["dev-istio-istiod"]]  # inside one add-on the order stays


def test_text_and_markdown_name_the_path_and_the_sources(dev):
    text = "\n".join(deploy_time.render_text(dev))
    assert "critical path: 24.1 min" in text and "dev-cluster-eks (aws:eks/cluster:Cluster)" in text
    assert "CreateCluster" in text  # the cluster row's source
    md = "\n".join(deploy_time.render_markdown(dev))
    assert md.startswith("### Deploy time") and "| start | finish | resource |" in md
    assert deploy_time.estimate(run_stack("local"))["minutes"] > 0
