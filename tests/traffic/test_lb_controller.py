"""platform:traffic:LoadBalancerController: IAM equal to upstream v3.5.0, identity, CRDs then chart,
values (key paths exist upstream), ordering, EKS only, a stable second evaluation, bad config."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

import versions
from components.traffic.lb_controller import (
    TYPE,
    LoadBalancerController,
    LoadBalancerControllerAddOn,
    LoadBalancerControllerArgs,
    iam_statements,
)
from harness import Recording, run_stack
from harness.fakes import fake_eks_handle, fake_kind_handle
from harness.upstream import load_yaml, missing_value_paths, upstream_file
from tests.conftest import assert_config_error, build_addon, make_settings, policy, run

RELEASE = "kubernetes:helm.sh/v3:Release"


def build(irsa: bool = False, **lbc):
    settings = make_settings(cluster={"irsa": irsa}, traffic={"loadBalancerController": lbc} if lbc else {})

    def program():
        nodes = aws.eks.NodeGroup("nodes", cluster_name="c1", node_role_arn="r", subnet_ids=["s"],
                                  scaling_config={"desired_size": 1, "min_size": 1, "max_size": 1})
        LoadBalancerController("lbc", LoadBalancerControllerArgs(
            cluster=fake_eks_handle(irsa=irsa, readiness=[nodes]), settings=settings.traffic.load_balancer_controller))

    return run(program)


@pytest.fixture(scope="module")
def rec():
    return build()


def _as_list(value) -> list:
    return sorted(value if isinstance(value, list) else [value])


def normalized(stmt: dict) -> dict:
    return {"Effect": stmt["Effect"], "Action": _as_list(stmt["Action"]), "Resource": _as_list(stmt.get("Resource")),
            "Condition": {op: {k: _as_list(v) for k, v in kv.items()} for op, kv in (stmt.get("Condition") or {}).items()}}


def test_iam_policy_equals_upstream_statement_by_statement(rec):
    theirs = json.loads(upstream_file("aws-load-balancer-controller", "iam_policy.json").read_text())["Statement"]
    mine = policy(rec.one("aws:iam/policy:Policy").inputs["policy"])["Statement"]
    # no statement is tightened: upstream already scopes every write to the controller's own resources
    assert [normalized(s) for s in mine] == [normalized(s) for s in theirs]
    assert iam_statements("aws-cn")[5]["Resource"] == "arn:aws-cn:ec2:*:*:security-group/*"


def test_pod_identity_role_with_the_policy_and_the_release_waits_for_both(rec):
    role = rec.one("aws:iam/role:Role")
    assert policy(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assoc = rec.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("kube-system", "aws-load-balancer-controller")
    release = rec.one(RELEASE)
    assert rec.depends_on(release, assoc)
    assert rec.depends_on(release, rec.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment"))
    assert release.inputs["values"]["serviceAccount"] == {"name": "aws-load-balancer-controller", "annotations": {}}


def test_irsa_annotates_the_service_account():
    rec = build(irsa=True)
    assert rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    annotations = rec.one(RELEASE).inputs["values"]["serviceAccount"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": rec.one("aws:iam/role:Role").outputs["arn"]}


def test_crds_are_applied_before_the_chart_which_skips_its_own(rec):
    crds = rec.one("kubernetes:yaml/v2:ConfigFile")
    release = rec.one(RELEASE)
    assert crds.inputs["file"] == versions.LOAD_BALANCER_CONTROLLER_CRDS
    assert "/v3.5.0/" in crds.inputs["file"] and release.inputs["version"] == "3.5.0"
    assert release.inputs["skipCrds"] is True and crds.urn in release.dependencies


def test_values_set_what_imds_cannot_tell_spread_two_replicas_and_keep_the_webhook_certificate(rec):
    values = rec.one(RELEASE).inputs["values"]
    assert (values["clusterName"], values["region"], values["vpcId"]) == ("c1", "us-east-1", "vpc-1")
    assert values["replicaCount"] == 2 and values["podDisruptionBudget"] == {"maxUnavailable": 1}
    (spread,) = values["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert values["nodeSelector"] == {"platform.eks/node-group": "system"}
    assert values["ingressClass"] == "alb" and values["createIngressClassResource"] is True
    assert values["ingressClassConfig"] == {"default": True}
    assert values["keepTLSSecret"] is True
    chart = load_yaml("aws-load-balancer-controller", "values.yaml")
    assert missing_value_paths(values, chart) == []
    assert chart["keepTLSSecret"] is False  # the chart's default regenerates the certificate on each render


def test_one_replica_has_no_budget_and_no_spread():
    values = build(replicas=1, defaultIngressClass=False).one(RELEASE).inputs["values"]
    assert "podDisruptionBudget" not in values and "topologySpreadConstraints" not in values
    assert values["ingressClassConfig"] == {"default": False}


def test_the_chart_and_crds_wait_for_nodes_but_iam_does_not(rec):
    nodes = rec.one("aws:eks/nodeGroup:NodeGroup")
    assert rec.depends_on(rec.one(RELEASE), nodes)
    assert not rec.depends_on(rec.one("aws:iam/role:Role"), nodes)
    assert not rec.depends_on(rec.one("aws:iam/policy:Policy"), nodes)


def test_refused_on_kind():
    def program():
        with pytest.raises(ValueError, match="AWS-only"):
            LoadBalancerControllerArgs(cluster=fake_kind_handle(), settings=make_settings().traffic.load_balancer_controller)
        pulumi.export("ok", True)

    run(program)


def test_a_second_evaluation_gives_identical_inputs():
    # the cached evaluation of the suite, and a fresh one
    first, second = run_stack("prod"), run_stack("prod", recording=Recording())
    mine = [r for r in first if r.urn.split("::")[2].startswith(TYPE)]
    assert mine
    for res in mine:
        assert res.inputs == second.by_urn(res.urn).inputs, res.name


def test_program_dev_builds_it_after_compute_and_local_does_not():
    dev = run_stack("dev")
    release = next(r for r in dev.of_type(RELEASE) if r.inputs["chart"] == "aws-load-balancer-controller")
    for group in dev.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert dev.depends_on(release, group)
    assert not run_stack("local").of_type(TYPE)
    off = build_addon(LoadBalancerControllerAddOn, "dev",
                      traffic={"loadBalancerController": {"enabled": False}, "istio": {"enabled": False}})
    assert not off.of_type(TYPE)


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), [
    ("local", {"traffic": {"loadBalancerController": {"enabled": True}}}, "eks-platform:traffic.loadBalancerController",
     "only apply to the aws target"),
    ("dev", {"aws:region": "us-east-1", "traffic": {"loadBalancerController": {"replicas": 0}}},
     "eks-platform:traffic.loadBalancerController.replicas", "from 1 to 3"),
    ("dev", {"aws:region": "us-east-1", "traffic": {"loadBalancerController": {"enabeld": True}}},
     "eks-platform:traffic.loadBalancerController.enabeld", "unknown key"),
])
def test_bad_config_names_the_key(stack, raw, key, valid):
    assert_config_error(stack, raw, key, valid)
