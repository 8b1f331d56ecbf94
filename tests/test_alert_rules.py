"""The platform's alert rules: every expression parses as PromQL, every metric it uses is documented
by the component that exports it (tests/fixtures/metrics.yaml), and the rules of a component are
there exactly when the component is."""

from __future__ import annotations

import promql_parser
import pytest

from components.alert_rules import GROUPS, rule_groups
from harness import run_stack
from tests.promql import documented, metric_names

EXPORTER = {"platform": ("kube-state-metrics", "kubelet"), "karpenter": ("karpenter",), "istio": ("istio",)}
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_expression_parses_and_uses_documented_metrics(group):
    known = documented(*EXPORTER[group])
    for rule in GROUPS[group]["rules"]:
        names = metric_names(promql_parser.parse(rule["expr"]))
        assert names, rule["alert"]
        assert names <= known, (rule["alert"], names - known)
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["description"]


def test_the_parser_and_the_name_check_refuse_what_they_should():
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(karpenter_cloudprovider_errors_total[5m])")
    assert metric_names(promql_parser.parse("rate(made_up_total[5m]) / on() up")) == {"made_up_total", "up"}


def test_groups_follow_the_components_that_are_on():
    assert [g["name"] for g in rule_groups(karpenter=False, istio=False)] == ["platform"]
    dev = run_stack("dev")
    (rule,) = dev.of_type(RULE)
    assert [g["name"] for g in rule.inputs["spec"]["groups"]] == ["platform", "karpenter", "istio"]
    release = next(r for r in dev.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "kube-prometheus-stack")
    assert dev.depends_on(rule, release)
    ca = run_stack("dev", overrides={"eks-platform:autoscaling": "cluster-autoscaler"})
    assert [g["name"] for g in ca.one(RULE).inputs["spec"]["groups"]] == ["platform", "istio"]
    assert [g["name"] for g in run_stack("local").one(RULE).inputs["spec"]["groups"]] == ["platform", "istio"]
