"""tools/capacity.py: what the platform pins to the tainted system node group fits that group.

Per stack and per URN variant (harness/urns.py): the summed requests stay under the headroom of the
group's allocatable, a first-fit packing places every pod, and the hard anti-affinity and zone rules
have enough system nodes and zones. The defaults table is checked against the charts' values.yaml in
../shared/upstream, the allocatable against the EKS AL2023 AMI's kube-reserved formula.
"""

from __future__ import annotations

import copy
import dataclasses
import functools

import pytest

from harness import Recorded, Recording, charts, run_stack, stack_settings, yamlio
from harness.urns import VARIANTS
from settings.types import quantity
from tests.conftest import upstream
from tools import capacity
from tools.capacity import HOST, SPREAD, ZONE

AWS_VARIANTS = [v for v, (stack, _) in VARIANTS.items() if stack != "local"]



def report_of(variant: str) -> dict:
    stack, overrides = VARIANTS[variant]
    return capacity.check(stack_settings(stack, overrides), run_stack(stack, overrides=overrides))


def by_name(report: dict) -> dict[str, dict]:
    return {w["name"]: w for w in report["workloads"]}


@pytest.fixture(scope="module")
def dev() -> dict:
    return report_of("dev")


@pytest.fixture(scope="module")
def prod() -> dict:
    return report_of("prod")


# --- the tables ----------------------------------------------------------------------------------

def test_every_default_has_a_source_and_quantities():
    table = capacity.load_requests()
    assert capacity.table_problems(table) == []
    broken = copy.deepcopy(table)
    broken["defaults"]["karpenter/controller"]["source"] = " "
    broken["defaults"]["istiod/pilot"]["cpu"] = "half a core"
    assert capacity.table_problems(broken) == ["defaults.karpenter/controller has no source",
                                               "defaults.istiod/pilot.cpu is not a Kubernetes quantity"]


@functools.cache
def _values_yaml(file: str) -> dict:
    folder, name = file.split("/", 1)
    return yamlio.load(upstream(folder, name).read_text())


def _upstream_value(values: dict, path: str):
    for part in path.split("."):
        values = values[part]
    return values


@pytest.mark.parametrize("key", [k for k, e in capacity.load_requests()["defaults"].items() if "upstream" in e])
def test_defaults_are_the_charts_values(key):
    """Each default that names an upstream values.yaml is what that file says (an empty block is 0)."""
    entry = capacity.load_requests()["defaults"][key]
    ref = entry["upstream"]
    values = _values_yaml(ref["file"])
    resources = _upstream_value(values, ref["resources"])
    if ref.get("empty"):
        # the platform's figure comes from elsewhere (the source says where): the chart sets nothing
        assert not resources, f"{ref['file']} {ref['resources']} now sets {resources}: update {key}"
        return
    cpu, mem = capacity._requests(resources) or (0, 0.0)
    assert (cpu, mem) == (int(float(capacity.quantity(entry["cpu"])) * 1000),
                          float(capacity.quantity(entry["memory"]) / capacity.MIB)), key
    if "replicas" in ref:
        assert _upstream_value(values, ref["replicas"]) == entry["replicas"], key


def test_allocatable_follows_the_al2023_formula():
    # kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above
    assert capacity.reserved_cpu_millicores(2, capacity.load_instances()["reserved"]["cpuRanges"]) == 70
    assert capacity.reserved_cpu_millicores(4, capacity.load_instances()["reserved"]["cpuRanges"]) == 80
    assert capacity.reserved_cpu_millicores(16, capacity.load_instances()["reserved"]["cpuRanges"]) == 110
    medium = capacity.node_allocatable("t4g.medium")
    # memory: 4096 MiB less 7.5% VM overhead, 11 x 17 pods + 255 MiB kube-reserved, 100 MiB eviction
    assert (medium["allocatableCpu"], medium["allocatableMemoryMiB"], medium["maxPods"]) == (1930, 3246.8, 17)
    large = capacity.node_allocatable("m7g.large")
    assert (large["allocatableCpu"], large["allocatableMemoryMiB"], large["maxPods"]) == (1930, 6903.6, 29)
    with pytest.raises(KeyError, match=r"no x9\.huge in data/instances\.yaml"):
        capacity.node_allocatable("x9.huge")


# --- what the stacks pin there -----------------------------------------------------------------------

def test_dev_lists_each_workload_with_where_its_numbers_come_from(dev):
    w = by_name(dev)
    karpenter = w["Karpenter controller"]
    assert (karpenter["placement"], karpenter["replicas"], karpenter["cpu"], karpenter["memoryMiB"]) == \
        ("pinned", 1, 250, 512.0)
    assert karpenter["requestsFrom"].startswith("Helm release dev-karpenter-controller")
    # Prometheus: the program's 250m/1Gi plus the operator's config-reloader sidecar (10m/50Mi)
    assert (w["Prometheus"]["cpu"], w["Prometheus"]["memoryMiB"]) == (260, 1074.0)
    # no request in the chart: 0, and the row says it is the chart's default
    assert w["Argo CD server"]["cpu"] == 0 and w["Argo CD server"]["requestsFrom"].startswith("default:")
    # tolerating without a selector: on the system nodes of a fresh cluster
    assert w["CoreDNS"]["placement"] == "tolerates" and w["CoreDNS"]["replicas"] == 2
    # DaemonSets: once per node
    daemonsets = {n for n, r in w.items() if r["replicas"] is None}
    assert daemonsets == {"Fluent Bit", "Istio CNI node agent", "node-exporter", "VPC CNI (aws-node)", "kube-proxy",
                          "EKS Pod Identity agent", "EBS CSI node"}
    # dev shares its system nodes (cluster.sharedSystemNodes): the gateway, Grafana with its two sidecars and
    # kube-state-metrics count there, with the program's requests
    assert (w["Istio ingress gateway"]["placement"], w["Istio ingress gateway"]["replicas"]) == ("tolerates", 2)
    assert (w["Grafana"]["cpu"], w["Grafana"]["memoryMiB"]) == (100 + 2 * 50, 128.0 + 2 * 50)
    assert w["Grafana"]["requestsFrom"] == "Helm release dev-monitoring-release: grafana.resources"
    assert (w["kube-state-metrics"]["cpu"], w["kube-state-metrics"]["memoryMiB"]) == (10, 32.0)


def test_without_shared_system_nodes_the_gateway_grafana_and_kube_state_metrics_run_elsewhere():
    stack, overrides = VARIANTS["staging"]
    rec = run_stack(stack, overrides=overrides)
    elsewhere: list[str] = []
    on_system = {w["name"] for w in capacity.workloads(rec, elsewhere=elsewhere)}
    assert sorted(elsewhere) == ["Grafana", "Istio ingress gateway", "kube-state-metrics"]
    assert not on_system & set(elsewhere)
    dev_elsewhere: list[str] = []
    capacity.workloads(run_stack("dev"), elsewhere=dev_elsewhere)
    assert dev_elsewhere == []


def test_prod_rules_that_need_distinct_nodes_and_zones(prod):
    w = by_name(prod)
    assert set(w["Karpenter controller"]["hard"]) == {HOST, SPREAD + ZONE}
    assert w["Prometheus"]["replicas"] == 2 and w["Prometheus"]["hard"] == [ZONE]
    assert w["metrics-server"]["replicas"] == 2 and w["metrics-server"]["hard"] == [HOST]
    assert w["Argo CD redis-ha"]["replicas"] == 3 and w["Argo CD redis-ha"]["hard"] == [HOST]
    assert w["Kyverno admission controller"]["replicas"] == 3  # a soft spread: no hard rule
    assert w["Kyverno admission controller"]["hard"] == []
    assert (prod["nodes"], prod["zones"]) == (3, 3)


@pytest.mark.parametrize("variant", AWS_VARIANTS)
def test_the_system_nodes_fit_what_is_pinned_there(variant):
    report = report_of(variant)
    assert report["applies"]
    assert report["problems"] == [], capacity.summary(report)
    assert report["percent"]["cpu"] <= 85 and report["percent"]["memory"] <= 85


def test_kind_has_no_system_node_group():
    report = capacity.check(stack_settings("local"), run_stack("local"))
    assert report == {"applies": False, "note": "no tainted system node group (kind): controllers run on any node"}


def test_upstreams_one_cpu_karpenter_does_not_fit_staging():
    """The request the platform had before: two 1-CPU controllers on two 2-vCPU nodes (staging's own
    recording with the Karpenter release's request raised, rather than a second evaluation)."""
    staging = run_stack("staging")
    raised = Recording()
    for r in staging:
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"].endswith("/karpenter"):
            values = copy.deepcopy(r.inputs["values"])
            values["controller"]["resources"]["requests"]["cpu"] = "1"
            r = dataclasses.replace(r, inputs={**r.inputs, "values": values})
        raised.resources.append(r)
    report = capacity.check(stack_settings("staging"), raised)
    assert not report["fits"]
    assert "CPU requests are 115% of the system nodes' allocatable (limit 85%)" in report["problems"]
    assert capacity.check(stack_settings("staging"), staging)["fits"]


# --- the check on a hand-made recording --------------------------------------------------------------

def _recording(nodes: int, releases: dict[str, dict], instance: str = "m7g.large", subnets: int = 3) -> Recording:
    rec = Recording()

    def add(type_: str, name: str, inputs: dict) -> None:
        rec.resources.append(Recorded(urn=f"urn:pulumi:t::p::{type_}::{name}", type=type_, name=name, custom=True,
                                      parent="", dependencies=[], provider="", inputs=inputs))

    add("aws:eks/nodeGroup:NodeGroup", "system", {
        "labels": {"platform.eks/node-group": "system"}, "instanceTypes": [instance],
        "scalingConfig": {"minSize": nodes, "desiredSize": nodes, "maxSize": nodes + 1},
        "subnetIds": [f"s{i}" for i in range(subnets)]})
    for chart, values in releases.items():
        add("kubernetes:helm.sh/v3:Release", chart, {"chart": chart, "values": values})
    return rec


SYSTEM = {"nodeSelector": {"platform.eks/node-group": "system"},
          "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]}


def test_hard_anti_affinity_needs_as_many_system_nodes():
    redis_ha = {"redis-ha": {"enabled": True, "tolerations": SYSTEM["tolerations"]}}
    report = capacity.check(None, _recording(2, {"argo-cd": {"global": SYSTEM, **redis_ha}}))
    assert "Argo CD redis-ha: 3 replicas on distinct hosts, 2 system nodes" in report["problems"]
    assert "Argo CD redis-ha replica 3" in report["unplaced"]
    assert capacity.check(None, _recording(3, {"argo-cd": {"global": SYSTEM, **redis_ha}}))["fits"]


def test_zone_anti_affinity_needs_as_many_zones():
    spec = {**SYSTEM, "replicas": 2, "podAntiAffinity": "hard", "podAntiAffinityTopologyKey": ZONE}
    values = {"prometheus": {"prometheusSpec": spec}, "prometheusOperator": SYSTEM,
              "alertmanager": {"alertmanagerSpec": SYSTEM}}
    one_zone = capacity.check(None, _recording(3, {"kube-prometheus-stack": values}, subnets=1))
    assert "Prometheus: 2 replicas in distinct zones, 1 zones" in one_zone["problems"]
    assert capacity.check(None, _recording(3, {"kube-prometheus-stack": values}, subnets=2))["fits"]


def test_a_pod_larger_than_any_node_is_left_over_even_when_the_sum_fits():
    big = {**SYSTEM, "replicas": 1, "resources": {"requests": {"cpu": "100m", "memory": "7Gi"}}}
    report = capacity.check(None, _recording(4, {"metrics-server": big}))
    assert report["percent"]["memory"] < 85  # 7 GiB of 4 x 6.7 GiB
    assert report["unplaced"] == ["metrics-server replica 1"] and not report["fits"]


def test_selecting_the_system_nodes_without_the_toleration_is_reported():
    values = {"nodeSelector": SYSTEM["nodeSelector"], "replicas": 1}
    report = capacity.check(None, _recording(2, {"metrics-server": values}))
    assert "metrics-server selects the system nodes but does not tolerate CriticalAddonsOnly: Pending" in \
        report["problems"]


def test_summary_line():
    report = capacity.check(None, _recording(2, {"metrics-server": {**SYSTEM, "replicas": 1}}))
    assert capacity.summary(report) == (
        "system nodes: requests 0.10 vCPU / 0.20 GiB of 3.86 vCPU / 13.48 GiB allocatable (3%; cpu 3%, memory 1%, "
        "1/58 pods) on 2 x m7g.large: fits (limit 85%)")


def test_pods_a_fargate_profile_selects_do_not_count():
    # staging-irsa-fargate: Karpenter's own profile (kube-system, app.kubernetes.io/name=karpenter)
    names = set(by_name(report_of("staging-irsa-fargate")))
    assert "Karpenter controller" not in names and "CoreDNS" in names


@pytest.mark.parametrize(("row", "kind", "name"), [
    ("Istio ingress gateway", "Deployment", "istio-ingressgateway"),
    ("Grafana", "Deployment", "monitoring-grafana"),
    ("kube-state-metrics", "Deployment", "monitoring-kube-state-metrics"),
])
def test_the_shared_pods_rows_are_what_their_charts_render_at_the_pin(dev, row, kind, name):
    # the value paths in tools/capacity.py SPECS, held against the pods the pinned charts render from dev's values
    w = by_name(dev)[row]
    (obj,) = [o for release in charts.releases(run_stack("dev")) for o in charts.render_release(release)
              if o.get("kind") == kind and o["metadata"]["name"] == name]
    pod = obj["spec"]["template"]["spec"]
    requests = [(c.get("resources") or {}).get("requests") or {} for c in pod["containers"]]
    assert w["cpu"] == sum(int(quantity(r.get("cpu", "0")) * 1000) for r in requests)
    assert w["memoryMiB"] == sum(float(quantity(r.get("memory", "0")) / capacity.MIB) for r in requests)
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in (pod.get("tolerations") or [])
    hpa = [o for release in charts.releases(run_stack("dev")) for o in charts.render_release(release)
           if o.get("kind") == "HorizontalPodAutoscaler" and o["spec"]["scaleTargetRef"]["name"] == name]
    assert w["replicas"] == (hpa[0]["spec"]["minReplicas"] if hpa else obj["spec"].get("replicas", 1))
