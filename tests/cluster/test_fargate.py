"""platform:compute:FargateProfiles: pod execution role and strictly serial profile creation."""

from __future__ import annotations

from components.cluster.fargate import TYPE, FargateArgs, FargateProfiles
from harness.fakes import fake_eks_handle
from tests.conftest import make_settings, policy, run

PROFILES = [
    {"name": "karpenter", "selectors": [{"namespace": "kube-system", "labels": {"app.kubernetes.io/name": "karpenter"}}]},
    {"name": "batch", "selectors": [{"namespace": "batch"}, {"namespace": "jobs-*"}]},
    {"name": "serverless", "selectors": [{"namespace": "serverless"}]},
]


def build():
    settings = make_settings(fargateProfiles=PROFILES)

    def program():
        FargateProfiles("fg", FargateArgs(cluster=fake_eks_handle(), profiles=settings.fargate_profiles))

    return run(program)


def profiles(rec):
    return {p.inputs["fargateProfileName"]: p for p in rec.of_type("aws:eks/fargateProfile:FargateProfile")}


def test_profiles_use_private_subnets_and_selectors():
    rec = build()
    found = profiles(rec)
    assert set(found) == {"karpenter", "batch", "serverless"}
    assert found["karpenter"].inputs["selectors"] == [
        {"namespace": "kube-system", "labels": {"app.kubernetes.io/name": "karpenter"}}]
    assert [s["namespace"] for s in found["batch"].inputs["selectors"]] == ["batch", "jobs-*"]
    assert all(p.inputs["subnetIds"] == ["subnet-a", "subnet-b", "subnet-c"] for p in found.values())


def test_profiles_are_created_one_after_another():
    rec = build()
    found = profiles(rec)
    assert rec.depends_on(found["batch"], found["karpenter"])
    assert rec.depends_on(found["serverless"], found["batch"])
    assert not rec.depends_on(found["karpenter"], found["batch"])


def test_pod_execution_role_is_scoped_to_the_cluster_profiles():
    rec = build()
    trust = policy(rec.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    (stmt,) = trust["Statement"]
    assert stmt["Principal"] == {"Service": "eks-fargate-pods.amazonaws.com"}
    assert stmt["Condition"]["ArnLike"]["aws:SourceArn"] == "arn:aws:eks:us-east-1:123456789012:fargateprofile/c1/*"
    attachment = rec.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"].endswith("AmazonEKSFargatePodExecutionRolePolicy")


def test_parent_tree():
    rec = build()
    (component,) = rec.of_type(TYPE)
    assert all(r.parent == component.urn for r in rec if r is not component and not r.type.startswith("pulumi:providers:"))
