"""tools/plan_diff.py: what differs between two stacks; and the plan's Markdown report."""

from __future__ import annotations

import json

import pytest

from tools import plan, plan_diff


@pytest.fixture(scope="module")
def dev_prod() -> dict:
    return plan_diff.diff("dev", "prod")


def test_settings_that_differ_by_full_key(dev_prod):
    keys = {s["key"]: s for s in dev_prod["settings"]}
    assert keys["network.natStrategy"] == {"key": "network.natStrategy", "a": "instance", "b": "per-az"}
    assert keys["network.azCount"]["b"] == 3
    assert "region" not in keys and "cluster.version" not in keys  # the same in both


def test_resource_counts_and_releases_that_differ(dev_prod):
    counts = {r["type"]: (r["a"], r["b"]) for r in dev_prod["resources"]}
    assert counts["aws:ec2/natGateway:NatGateway"] == (0, 3)
    assert counts["aws:ec2/instance:Instance"] == (1, 0)
    assert counts["aws:ec2/vpcEndpoint:VpcEndpoint"] == (1, 4)
    assert "aws:eks/cluster:Cluster" not in counts
    releases = {r["chart"]: r for r in dev_prod["releases"]}
    values = {v["key"]: (v["a"], v["b"]) for v in releases["kube-prometheus-stack"]["values"]}
    assert values["prometheus.prometheusSpec.replicas"] == (1, 2)
    assert dev_prod["cost"]["a"] < dev_prod["cost"]["b"]


def test_kind_against_aws_shows_releases_only_in_one():
    d = plan_diff.diff("local", "dev")
    only = {r["chart"]: r["only"] for r in d["releases"] if "only" in r}
    assert only["aws-load-balancer-controller"] == "dev"
    back = {r["chart"]: r["only"] for r in plan_diff.diff("dev", "local")["releases"] if "only" in r}
    assert back["aws-load-balancer-controller"] == "dev"


def test_a_stack_against_itself_differs_in_nothing():
    d = plan_diff.diff("staging", "staging")
    assert d["settings"] == [] and d["resources"] == [] and d["releases"] == []


def test_unknown_stack_is_a_clear_error(capsys):
    assert plan_diff.main(["dev", "qa"]) == 2
    err = capsys.readouterr().err
    assert "unknown stack 'qa'" in err and "dev, local, prod, staging" in err


def test_text_json_and_markdown(capsys, tmp_path):
    assert plan_diff.main(["dev", "prod"]) == 0
    text = capsys.readouterr().out
    assert "eks-platform:network.natStrategy: instance -> per-az" in text
    assert "0 -> 3    aws:ec2/natGateway:NatGateway" in text
    assert plan_diff.main(["dev", "prod", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["b"] == "prod"
    out = tmp_path / "diff.md"
    assert plan_diff.main(["dev", "prod", "--markdown", str(out)]) == 0
    md = out.read_text()
    assert md.startswith("## eks-platform plan diff: `dev` → `prod`")
    assert "| `eks-platform:network.natStrategy` | `instance` | `per-az` |" in md


def test_plan_markdown_has_cost_and_deploy_time(capsys):
    assert plan.main(["--stack", "dev", "--markdown", "-"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("## eks-platform plan: `dev`")
    assert "### Cost" in md and "| EKS control plane | 1 | $73.00 | $73.00 |" in md
    assert "### Deploy time" in md and "Critical path **" in md
    data = plan.build_plan("prod")
    assert data["cost"]["fixedMonthly"] == pytest.approx(sum(i["monthly"] for i in data["cost"]["fixed"]), abs=0.01)
    assert data["deployTime"]["path"][0]["start"] == 0
