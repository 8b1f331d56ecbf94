"""The platform's Grafana dashboards: stable uids, panels on the default Prometheus data source, every
expression parsed as PromQL with documented metric and label names, node labels that the
kube-state-metrics allowlist really produces, and one ConfigMap per dashboard with the label
kube-prometheus-stack's Grafana sidecar loads, present exactly for the components that are on."""

from __future__ import annotations

import json
import re

import promql_parser
import pytest

from components.observability import dashboards as d
from components.observability.monitoring import CHART, NAMESPACE, TYPE
from harness import run_stack
from harness.upstream import load_yaml
from tests.promql import documented, documented_labels, label_names, metric_names

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
ALL = d.dashboards(karpenter_on=True, istio_on=True)
# who exports what each dashboard reads
EXPORTERS = {"overview": ("kube-state-metrics",), "control-plane": ("kube-apiserver",),
             "karpenter": ("karpenter",), "istio": ("istio",)}
UIDS = {"overview": "eks-platform-overview", "control-plane": "eks-platform-control-plane",
        "karpenter": "eks-platform-karpenter", "istio": "eks-platform-istio"}
METRICS_OFF = {"eks-platform:observability": {"metrics": {"enabled": False}}}


def kube_state_metrics_label(key: str) -> str:
    """The Prometheus label kube-state-metrics makes of a Kubernetes label key (v2.20.0
    internal/store/utils.go: invalid characters to ``_``, then camelCase to snake_case, lower-cased)."""
    sanitized = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return "label_" + re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", sanitized).lower()


def dashboard_maps(rec) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r for r in rec.of_type(CONFIG_MAP)
            if r.inputs["metadata"].get("labels", {}).get("grafana_dashboard")}


def test_every_dashboard_has_its_stable_uid_a_title_and_panels_on_the_default_prometheus():
    datasources = load_yaml("kube-prometheus-stack", "values.yaml")["grafana"]["sidecar"]["datasources"]
    # the data source every panel names is the chart's default Prometheus
    assert datasources["isDefaultDatasource"] is True
    assert {"type": "prometheus", "uid": datasources["uid"]} == d.DATASOURCE
    assert {key: model["uid"] for key, model in ALL.items()} == UIDS
    for key, model in ALL.items():
        assert model["title"].startswith("Platform / ") and model["panels"], key
        assert len(model["uid"]) <= 40  # Grafana's limit
        ids = [p["id"] for p in model["panels"]]
        assert ids == list(range(1, len(ids) + 1)), key
        cells = set()
        for panel in model["panels"]:
            assert panel["title"] and panel["targets"] and panel["datasource"] == d.DATASOURCE, (key, panel["title"])
            assert all(t["datasource"] == d.DATASOURCE for t in panel["targets"])
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= d.WIDTH
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & mine, (key, panel["title"], "overlaps")
            cells |= mine


@pytest.mark.parametrize("key", list(ALL))
def test_every_expression_parses_and_uses_documented_metrics_and_labels(key):
    metrics, labels = documented(*EXPORTERS[key]), documented_labels(*EXPORTERS[key])
    if key == "overview":
        labels |= {kube_state_metrics_label(k) for k in d.NODE_LABELS}
    for expr in d.expressions(ALL[key]):
        parsed = promql_parser.parse(expr)
        names = metric_names(parsed)
        assert names and names <= metrics, (expr, names - metrics)
        assert label_names(parsed) <= labels, (expr, label_names(parsed) - labels)


def test_the_checks_refuse_a_made_up_metric_a_made_up_label_and_bad_promql():
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (reason) (increase(karpenter_nodeclaims_disrupted_total[10m])")
    parsed = promql_parser.parse('count by (label_capacity) (kube_node_labelz{label_arch!=""})')
    assert metric_names(parsed) == {"kube_node_labelz"} and label_names(parsed) == {"label_capacity", "label_arch"}


def test_the_overview_reads_the_node_labels_the_allowlist_makes_on_every_stack():
    # what kube-state-metrics makes of the keys (checked by hand against v2.20.0's rule)
    assert [kube_state_metrics_label(k) for k in d.NODE_LABELS] == [
        "label_kubernetes_io_arch", "label_karpenter_sh_capacity_type", "label_eks_amazonaws_com_capacity_type"]
    used = {label for e in d.expressions(ALL["overview"]) for label in label_names(promql_parser.parse(e))
            if label.startswith("label_")}
    assert used == {kube_state_metrics_label(k) for k in d.NODE_LABELS}
    for stack in ("dev", "local"):
        release = next(r for r in run_stack(stack).of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == CHART)
        assert release.inputs["values"]["kube-state-metrics"]["metricLabelsAllowlist"] == [
            "nodes=[kubernetes.io/arch,karpenter.sh/capacity-type,eks.amazonaws.com/capacityType]"]


def test_config_maps_carry_the_label_the_grafana_sidecar_loads():
    sidecar = load_yaml("kube-prometheus-stack", "values.yaml")["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True and sidecar["searchNamespace"] == "ALL"
    assert {sidecar["label"]: sidecar["labelValue"]} == d.SIDECAR_LABEL
    rec = run_stack("prod")
    release = next(r for r in rec.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == CHART)
    # the chart's defaults stand, but for the sidecars' requests
    assert set(release.inputs["values"]["grafana"].get("sidecar", {})) <= {"resources"}
    (component,) = rec.of_type(TYPE)
    for key, res in {k.removeprefix("dashboard-"): r for k, r in dashboard_maps(rec).items()}.items():
        assert res.inputs["metadata"]["labels"] == d.SIDECAR_LABEL
        assert res.inputs["metadata"]["namespace"] == NAMESPACE and res.parent == component.urn
        assert json.loads(res.inputs["data"][f"{UIDS[key]}.json"]) == ALL[key]
        assert rec.depends_on(res, rec.one("kubernetes:core/v1:Namespace", "prod-monitoring-namespace"))


@pytest.mark.parametrize(("stack", "overrides", "expected"), [
    ("dev", None, {"overview", "control-plane", "karpenter", "istio"}),
    ("staging", None, {"overview", "control-plane", "karpenter", "istio"}),
    ("prod", None, {"overview", "control-plane", "karpenter", "istio"}),
    ("local", None, {"overview", "control-plane", "istio"}),
    ("dev", {"eks-platform:autoscaling": "cluster-autoscaler"}, {"overview", "control-plane", "istio"}),
    ("local", {"eks-platform:traffic": {"istio": {"enabled": False}}}, {"overview", "control-plane"}),
    ("dev", METRICS_OFF, set()),
])
def test_dashboards_are_there_exactly_for_the_components_that_are_on(stack, overrides, expected):
    rec = run_stack(stack, overrides=overrides)
    assert set(dashboard_maps(rec)) == {f"dashboard-{key}" for key in expected}
