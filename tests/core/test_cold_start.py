"""A cold `up` schedules every pod it waits for: pods that do not tolerate the system node group's taint
run on Karpenter's nodes, so their release comes after the NodePools (a release waits for its pods)."""

from __future__ import annotations

import pytest

from components.core.handle import SYSTEM_TOLERATIONS
from harness import charts, stack_settings
from harness.mocks import Recording
from harness.urns import VARIANTS, evaluate

POD_OWNERS = ("Deployment", "StatefulSet", "Job")  # DaemonSets run on whatever nodes there are
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
# chosen from the settings: evaluating every variant at collection cost each pytest worker seconds
KARPENTER_VARIANTS = [v for v, (stack, overrides) in VARIANTS.items()
                      if (s := stack_settings(stack, overrides)).is_aws and s.autoscaling == "karpenter"]


def tolerates_system_taint(pod: dict) -> bool:
    tolerations = pod.get("tolerations") or []
    return any(t.get("operator") == "Exists" and not t.get("key") for t in tolerations) or all(
        any(t.get("key") == s["key"] for t in tolerations) for s in SYSTEM_TOLERATIONS)


def needs_workload_nodes(rec: Recording) -> list[tuple]:
    found = []
    for release in charts.releases(rec):
        for obj in charts.render_release(release):
            if obj.get("kind") not in POD_OWNERS:
                continue
            spec = obj.get("spec") or {}
            pod = (spec.get("template") or {}).get("spec") or {}
            if not tolerates_system_taint(pod):
                found.append((release, f"{obj['kind']} {obj['metadata']['name']}"))
    return found


@pytest.mark.parametrize("variant", KARPENTER_VARIANTS)
def test_pods_for_karpenter_nodes_wait_for_the_node_pools(variant):
    rec = evaluate(variant)
    # the platform's pools (a team's own pool takes only its pods)
    pools = [p for p in rec.of_type(NODE_POOL) if p.parent_type == "platform:autoscaling:Karpenter"]
    late = [f"{release.name}: {what}" for release, what in needs_workload_nodes(rec)
            if not all(rec.waits_for(release, pool) for pool in pools)]
    assert late == []


def test_the_variants_with_node_pools_are_the_karpenter_variants():
    assert [v for v in VARIANTS if evaluate(v).of_type(NODE_POOL)] == KARPENTER_VARIANTS


def test_the_gateway_and_grafana_are_among_them_unless_the_system_nodes_are_shared():
    names = {what for _, what in needs_workload_nodes(evaluate("staging"))}
    assert {"Deployment istio-ingressgateway", "Deployment monitoring-grafana",
            "Deployment monitoring-kube-state-metrics"} <= names
    # dev shares its system nodes (cluster.sharedSystemNodes): an idle dev cluster wakes no Karpenter node,
    # not even for the monitoring release's hook Jobs
    assert needs_workload_nodes(evaluate("dev")) == []


def test_partly_after_holds_back_only_the_late_parts():
    """Karpenter's controller starts beside the EBS CSI driver, its NodePool after it (destroy drains the
    pool's nodes while the driver still detaches volumes); istiod starts without the NodePools, the gateway
    after them."""
    rec = evaluate("dev")
    driver = next(a for a in rec.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-ebs-csi-driver")
    pool = rec.one(NODE_POOL, "dev-karpenter-pool-general-purpose")
    controller = rec.one("kubernetes:helm.sh/v3:Release", "dev-karpenter-controller")
    assert rec.waits_for(pool, driver) and not rec.waits_for(controller, driver)
    istiod = rec.one("kubernetes:helm.sh/v3:Release", "dev-istio-istiod")
    gateway = rec.one("kubernetes:helm.sh/v3:Release", "dev-istio-gateway")
    assert rec.waits_for(gateway, pool) and not rec.waits_for(istiod, pool)
