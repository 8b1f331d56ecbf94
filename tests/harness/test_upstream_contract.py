"""The contract with upstream, for every stack and variant: every Helm release sets only key paths
its chart's upstream values.yaml has, and every custom resource validates against its upstream CRD."""

from __future__ import annotations

import pytest

import versions
from harness import charts, yamlio
from harness.upstream import (
    SUBCHART_KEYS,
    chart_missing_paths,
    chart_values_file,
    charts_in_lock,
    crd_groups,
    load_yaml,
    missing_value_paths,
    schema_errors,
)
from harness.urns import VARIANTS, evaluate
from tests.harness.test_upstream import NO_UPSTREAM_DATA


def chart_key(release) -> str:
    name = release.inputs["chart"].rsplit("/", 1)[-1]
    (key,) = [k for k, c in versions.CHARTS.items() if c.name == name]
    return key


@pytest.fixture(scope="module", params=list(VARIANTS))
def recording(request):
    return evaluate(request.param)


def test_every_release_sets_only_key_paths_its_chart_has(recording):
    for release in recording.of_type("kubernetes:helm.sh/v3:Release"):
        chart = chart_key(release)
        if chart not in charts_in_lock():
            assert chart in NO_UPSTREAM_DATA, chart
            continue
        values_file = chart_values_file(chart)
        if values_file is None:  # a chart that takes no values (karpenter-crd)
            assert release.inputs.get("values") in (None, {}), release.name
            continue
        assert chart_missing_paths(chart, release.inputs.get("values") or {}) == [], release.name


def test_every_custom_resource_validates_against_its_upstream_crd(recording):
    groups = crd_groups()
    custom = [r for r in recording if r.type.startswith("kubernetes:") and "apiVersion" in r.inputs
              and r.inputs["apiVersion"].split("/")[0] in groups]
    for res in custom:
        assert schema_errors(res.inputs) == [], res.name
    if recording.of_type("platform:autoscaling:Karpenter"):
        assert custom, "Karpenter's NodePools and EC2NodeClasses were not found"


def test_the_contract_check_refuses_what_upstream_does_not_have():
    values = load_yaml(*chart_values_file("karpenter"))
    assert missing_value_paths({"controller": {"resourcez": {}}}, values) == ["controller.resourcez"]
    # a subchart key is accepted only for the chart that lists it
    kps = load_yaml(*chart_values_file("kube-prometheus-stack"))
    allowlist = {"kube-state-metrics": {"metricLabelsAllowlist": ["nodes=[x]"], "metricLabelz": []}}
    assert missing_value_paths(allowlist, kps, known=SUBCHART_KEYS["kube-prometheus-stack"]) == [
        "kube-state-metrics.metricLabelz"]
    assert missing_value_paths(allowlist, kps) == ["kube-state-metrics.metricLabelsAllowlist",
                                                   "kube-state-metrics.metricLabelz"]
    assert schema_errors({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "x"},
                          "spec": {"template": {"spec": {}}, "weight": 1000}})


@pytest.mark.parametrize(("chart", "path"), [(c, p) for c, paths in SUBCHART_KEYS.items() for p, where in paths.items()
                                             if where.startswith("charts/")])
def test_a_subchart_key_is_in_the_subcharts_values_inside_the_pinned_archive(chart, path):
    pinned = versions.CHARTS[chart]
    where = SUBCHART_KEYS[chart][path]
    values = yamlio.load((charts.chart_dir(pinned.name, pinned.version) / where).read_text())
    subchart, _, rest = path.partition(".")
    assert where == f"charts/{subchart}/values.yaml"
    node = values
    for key in rest.split("."):
        assert isinstance(node, dict) and key in node, f"{pinned.name} {pinned.version} {where} has no {rest}"
        node = node[key]
