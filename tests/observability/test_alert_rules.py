"""The platform's alert rules: every expression parses as PromQL, every metric it uses is documented
by the component that exports it (tests/fixtures/metrics.yaml), and the rules of a component are
there exactly when the component is."""

from __future__ import annotations

import promql_parser
import pytest

from components.observability.alert_rules import GROUPS, certificate_rules, rule_groups
from harness import run_stack
from tests.promql import documented, label_names, metric_names

EXPORTER = {"platform": ("kube-state-metrics", "kubelet"), "karpenter": ("karpenter",), "istio": ("istio",)}
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def platform_rule(rec):
    (rule,) = [r for r in rec.of_type(RULE) if r.inputs["metadata"]["name"] == "platform"]
    return rule


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_expression_parses_and_uses_documented_metrics(group):
    known = documented(*EXPORTER[group])
    for rule in GROUPS[group]["rules"]:
        names = metric_names(promql_parser.parse(rule["expr"]))
        assert names, rule["alert"]
        assert names <= known, (rule["alert"], names - known)
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["description"]


def test_certificate_rules_parse_and_use_the_blackbox_exporters_metrics():
    group = certificate_rules("webhook-", 14)
    known = documented("blackbox-exporter")
    for rule in group["rules"]:
        parsed = promql_parser.parse(rule["expr"])
        assert metric_names(parsed) <= known and metric_names(parsed), rule["alert"]
        assert label_names(parsed) == {"target"}, rule["alert"]
    assert "< 14 * 86400" in group["rules"][0]["expr"] and "5 days" in certificate_rules("x-", 5)["rules"][0][
        "annotations"]["summary"]


def test_the_parser_and_the_name_check_refuse_what_they_should():
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(karpenter_cloudprovider_errors_total[5m])")
    assert metric_names(promql_parser.parse("rate(made_up_total[5m]) / on() up")) == {"made_up_total", "up"}


def test_groups_follow_the_components_that_are_on():
    assert [g["name"] for g in rule_groups(karpenter=False, istio=False)] == ["platform"]
    dev = run_stack("dev")
    rule = platform_rule(dev)
    assert [g["name"] for g in rule.inputs["spec"]["groups"]] == ["platform", "karpenter", "istio"]
    release = next(r for r in dev.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "kube-prometheus-stack")
    assert dev.depends_on(rule, release)
    ca = run_stack("dev", overrides={"eks-platform:autoscaling": "cluster-autoscaler"})
    assert [g["name"] for g in platform_rule(ca).inputs["spec"]["groups"]] == ["platform", "istio"]
    assert [g["name"] for g in platform_rule(run_stack("local")).inputs["spec"]["groups"]] == ["platform", "istio"]
