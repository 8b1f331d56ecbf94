"""tools/plan.py: the offline plan of a stack, as text and JSON."""

from __future__ import annotations

import json

from harness import program, yamlio
from tools import plan


def test_plan_groups_resources_by_component_with_counts(tmp_path):
    out = tmp_path / "plan.json"
    assert plan.main(["--stack", "prod", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    comps = {c["name"]: c for c in data["components"]}
    assert comps["prod-network"]["resources"]["aws:ec2/natGateway:NatGateway"] == 3
    assert comps["prod-cluster"]["resources"]["aws:eks/cluster:Cluster"] == 1
    assert data["totals"]["resources"] == sum(c["count"] for c in data["components"])
    assert data["settings"]["network"] == "10.30.0.0/16, 3 AZs, NAT per-az"
    assert not [cr for cr in data["customResources"] if cr["kind"] == "StorageClass"]


def test_plan_text_names_settings_and_components(capsys):
    assert plan.main(["--stack", "dev"]) == 0
    text = capsys.readouterr().out
    assert "eks-platform offline plan: stack dev" in text
    assert "platform:eks:Cluster  dev-cluster" in text
    assert "system: t4g.medium ON_DEMAND AL2023_ARM_64_STANDARD 2/2/3" in text


def test_plan_of_the_kind_stack(capsys):
    assert plan.main(["--stack", "local", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["target"] == "kind"


def test_plan_reports_bad_config_without_traceback(capsys, monkeypatch):
    # the stack file the plan reads (through harness.stack_settings)
    monkeypatch.setattr(program, "stack_config", lambda stack: {"aws:region": "us-east-1",
                                                                "eks-platform:network": {"azCount": 1}})
    assert plan.main(["--stack", "dev"]) == 2
    assert "eks-platform:network.azCount" in capsys.readouterr().err


def test_plan_warns_about_spot_and_support_end_and_counts_elastic_ips():
    import datetime

    from settings import parse_settings

    prod = plan.build_plan("prod")
    assert prod["settings"]["elastic IPs"].startswith("3 ")
    assert plan.build_plan("dev")["settings"]["elastic IPs"].startswith("1 ")
    assert any("AWSServiceRoleForEC2Spot" in w for w in prod["warnings"])
    settings = parse_settings({"aws:region": "us-east-1", "cluster": {"version": "1.35"}}, "dev")
    late = plan.warnings(settings, today=datetime.date(2027, 2, 1))
    assert any("Kubernetes 1.35 leaves EKS standard support on 2027-03-27 (54 days)" in w for w in late)
    # 90 days ahead, with the monthly price of extended support (0.60 and 0.10 $/h x 730 h, us-east-1 x1)
    early = plan.warnings(settings, today=datetime.date(2026, 12, 27))
    assert any("(90 days)" in w and "$438.00/month for the control plane instead of $73.00" in w for w in early)
    assert not any("standard support" in w for w in plan.warnings(settings, today=datetime.date(2026, 12, 26)))
    on_demand = parse_settings({"aws:region": "us-east-1", "karpenter": {
        "nodePools": [{"name": "od", "capacityTypes": ["on-demand"]}]}}, "dev")
    assert not any("spot" in w for w in plan.warnings(on_demand))


def test_plan_of_the_kind_stack_shows_the_generated_config(capsys):

    data = plan.build_plan("local")
    config = yamlio.load(data["kindConfig"])
    assert config["kind"] == "Cluster" and [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    # (the one warning: the stack file names no repository for Argo CD's root Application)
    assert [w.split(":")[0] for w in data["warnings"]] == ["argocd.repoUrl is not set"]
    assert plan.main(["--stack", "local"]) == 0
    assert "kind config (kind create cluster --config=-)" in capsys.readouterr().out


def test_plan_output_is_sorted_so_two_runs_print_the_same():
    data = plan.build_plan("prod")
    names = [c["name"] for c in data["components"]]
    top = [c["name"] for c in data["components"] if c["parent"] is None]
    assert top == sorted(top)
    for comp in data["components"]:
        if comp["parent"]:
            assert names.index(comp["parent"]) < names.index(comp["name"])
    assert [r["name"] for r in data["helmReleases"]] == sorted(r["name"] for r in data["helmReleases"])


def test_plan_lists_monitoring_grafana_exposure_and_the_log_backend():
    from tests.conftest import make_settings
    from tools.plan import key_settings

    dev = key_settings(make_settings("dev"))
    assert "Grafana by port-forward only" in dev["monitoring"]
    assert dev["logs"] == "Fluent Bit to CloudWatch Logs /aws/eks/eks-platform-dev/containers (KMS, 7 d)"
    routed = key_settings(make_settings("dev", observability={
        "grafana": {"exposure": "istio", "hostname": "grafana.example.com"}, "logs": {"backend": "loki"}}))
    assert "Grafana at http://grafana.example.com (the Istio gateway" in routed["monitoring"]
    assert routed["logs"].startswith("Fluent Bit to Loki") and "a new encrypted S3 bucket" in routed["logs"]
    assert key_settings(make_settings("local"))["logs"] == "none (observability.logs.backend)"

def test_plan_lists_policy_results_per_rule(capsys):
    data = plan.build_plan("staging")
    pol = data["policy"]
    assert pol["tier"] == "staging" and pol["rulesChecked"] >= 30 and pol["mandatory"] == 0
    nat = next(r for r in pol["rules"] if r["rule"] == "nat-per-az")
    assert nat["level"] == "advisory" and nat["violations"][0]["resource"] is None
    assert "1 NAT gateway(s) for private subnets in 3 AZs" in nat["violations"][0]["detail"]
    assert "natStrategy per-az" in nat["fix"]
    assert plan.main(["--stack", "staging"]) == 0
    text = capsys.readouterr().out
    assert "Policy (" in text and "0 mandatory" in text
    assert "  - nat-per-az (advisory): There is one NAT gateway per AZ of the private subnets." in text


def test_plan_policy_section_shows_mandatory_violations_and_exceptions():
    from settings import parse_settings

    raw = {"aws:region": "us-east-1", "network": {"natStrategy": "single"}}
    rec = plan.run_stack("prod", overrides={"eks-platform:network": {"natStrategy": "single"}})
    pol = plan.policy_results(parse_settings(raw, "prod"), rec)
    assert pol["mandatory"] == 1 and pol["rules"][0]["rule"] == "nat-per-az"
    excepted = parse_settings({**raw, "policy": {"exceptions": [{"rule": "nat-per-az", "reason": "one AZ is ok"}]}},
                              "prod")
    pol = plan.policy_results(excepted, rec)
    assert pol["mandatory"] == 0
    assert next(r for r in pol["rules"] if r["rule"] == "nat-per-az")["exception"] == "one AZ is ok"


def test_the_plan_says_a_nat_instance_change_interrupts_egress(capsys):
    """issue 19, defect 6: dev's egress is one NAT instance; replacing it cuts egress while it boots."""
    dev, prod = plan.build_plan("dev"), plan.build_plan("prod")
    assert len(dev["disruptions"]) == 1 and "interrupts the private subnets' internet egress" in dev["disruptions"][0]
    assert "Elastic IP stays" in dev["disruptions"][0] and prod["disruptions"] == []
    assert "Interrupts service when changed" in plan.render(dev) and "egress" in plan.render_markdown(dev)
