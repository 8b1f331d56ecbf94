"""platform:autoscaling:ClusterAutoscaler: scoped IAM, Pod Identity or IRSA, chart values, order, outputs."""

from __future__ import annotations

import dataclasses

import pulumi
import pytest

import versions
from components.autoscaling.cluster_autoscaler import (
    READ_ACTIONS,
    TYPE,
    WRITE_ACTIONS,
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
    ScaledGroup,
    scaled_groups,
)
from components.cluster.eks import ClusterArgs, EksCluster
from components.cluster.node_groups import NodeGroups, NodeGroupsArgs
from harness import run_stack
from tests.conftest import make_settings, policy, run

RELEASE = "kubernetes:helm.sh/v3:Release"
FIXED = {"name": "fixed", "instanceTypes": ["m7g.large"], "minSize": 2, "desiredSize": 2, "maxSize": 2}


def build(stack: str = "dev", irsa: bool = False, node_groups: list | None = None, **ca):
    raw = {"autoscaling": "cluster-autoscaler", "cluster": {"irsa": irsa}}
    if node_groups is not None:
        raw["nodeGroups"] = node_groups
    if ca:
        raw["clusterAutoscaler"] = ca
    settings = make_settings(stack, **raw)

    def program():
        eks = EksCluster("c", ClusterArgs(cluster_name="c1", region="us-east-1", settings=settings.cluster,
                                          vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], az_count=2, api_access_cidrs=["10.0.0.0/16"]))
        cluster = eks.handle()
        nodes = NodeGroups("n", NodeGroupsArgs(cluster=cluster, groups=settings.node_groups))
        cluster = cluster.with_aws(node_role_arn=nodes.role.arn, node_groups=nodes.groups).after(nodes)
        ca_ = ClusterAutoscaler("ca", ClusterAutoscalerArgs(
            cluster=cluster, settings=settings.cluster_autoscaler,
            groups=scaled_groups(settings.node_groups, nodes.groups)))
        pulumi.export("asgs", ca_.autoscaling_group_names)
        pulumi.export("role_arn", ca_.role.arn)
        pulumi.export("release_status", ca_.release.status)

    return run(program, stack=stack)


def component_and_children(rec):
    (component,) = rec.of_type(TYPE)
    return component, rec.children(component)


def values(rec):
    return rec.one(RELEASE).inputs["values"]


def test_policy_describes_anything_but_scales_only_this_clusters_tagged_groups():
    rec = build()
    doc = policy(rec.one("aws:iam/policy:Policy").inputs["policy"])
    by_action = {}
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert not [a for a in actions if "*" in a], "no wildcard actions"
        for action in actions:
            by_action[action] = stmt
    assert set(by_action) == {*READ_ACTIONS, *WRITE_ACTIONS}
    assert "autoscaling:DescribeTags" not in by_action
    for action in WRITE_ACTIONS:
        stmt = by_action[action]
        # never a write action on an unconditioned "*"
        assert stmt.get("Condition") == {
            "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/c1": "owned"}}, action
    for action in READ_ACTIONS:
        assert by_action[action]["Resource"] == "*" and "Condition" not in by_action[action]


def test_pod_identity_role_association_and_attached_policy():
    rec = build()
    role = rec.one("aws:iam/role:Role", "ca-role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    assoc = rec.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("kube-system", "cluster-autoscaler")
    assert assoc.inputs["clusterName"] == "c1"
    assert assoc.inputs["roleArn"] == role.outputs["arn"]
    (attachment,) = [r for r in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                     if r.name.startswith("ca-")]
    assert attachment.inputs["policyArn"] == rec.one("aws:iam/policy:Policy").outputs["arn"]
    assert attachment.inputs["role"] == role.outputs["name"]
    # Pod Identity needs no service account annotation
    assert values(rec)["rbac"]["serviceAccount"]["annotations"] == {}
    assert values(rec)["rbac"]["serviceAccount"]["name"] == assoc.inputs["serviceAccount"]


def test_irsa_variant_trusts_the_service_account_and_annotates_it():
    rec = build(irsa=True)
    assert rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    role = rec.one("aws:iam/role:Role", "ca-role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    (condition,) = trust["Condition"].values()
    assert "system:serviceaccount:kube-system:cluster-autoscaler" in condition.values()
    sa = values(rec)["rbac"]["serviceAccount"]
    assert sa["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}
    assert rec.exports["role_arn"] == role.outputs["arn"]


def test_chart_pinned_with_auto_discovery_region_and_system_node_scheduling():
    rec = build()
    release = rec.one(RELEASE)
    pinned = versions.CHARTS["cluster-autoscaler"]
    assert (release.inputs["chart"], release.inputs["version"]) == ("cluster-autoscaler", "9.59.0") == (
        pinned.name, pinned.version)
    assert release.inputs["repositoryOpts"]["repo"] == "https://kubernetes.github.io/autoscaler"
    assert release.inputs["namespace"] == "kube-system"
    v = values(rec)
    assert v["cloudProvider"] == "aws" and v["awsRegion"] == "us-east-1"
    assert v["autoDiscovery"] == {"clusterName": "c1"}
    # the autoscaler's minor must match the cluster's
    assert v["image"]["tag"] == versions.CLUSTER_AUTOSCALER_IMAGE_TAGS["1.35"] and v["image"]["tag"].startswith("v1.35.")
    assert v["nodeSelector"] == {"platform.eks/node-group": "system"}
    assert v["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    assert v["podAnnotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    assert v["resources"] == {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "300Mi"}}
    assert v["replicaCount"] == 1
    args = v["extraArgs"]
    assert args["balance-similar-node-groups"] is True
    assert args["skip-nodes-with-system-pods"] is False
    assert args["expander"] == "least-waste"
    assert args["scale-down-unneeded-time"] == "5m"


def test_prod_runs_two_replicas_with_more_memory_and_settings_reach_the_flags():
    rec = build("prod", expander="most-pods", scaleDownEnabled=False)
    v = values(rec)
    assert v["replicaCount"] == 2
    assert v["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert v["resources"]["limits"]["memory"] == "600Mi"
    assert v["extraArgs"]["expander"] == "most-pods"
    assert v["extraArgs"]["scale-down-enabled"] is False
    assert v["extraArgs"]["scale-down-unneeded-time"] == "10m"


def test_every_child_is_parented_to_the_component():
    rec = build()
    component, children = component_and_children(rec)
    assert {c.type for c in children} == {"aws:iam/policy:Policy", "aws:iam/role:Role",
                                          "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                                          "aws:eks/podIdentityAssociation:PodIdentityAssociation",
                                          "command:local:Command", RELEASE}
    mine = [r for r in rec if r.name.startswith("ca-")]
    assert mine and all(r.parent == component.urn for r in mine)


def test_release_waits_for_association_policy_and_nodes():
    rec = build()
    release = rec.one(RELEASE)
    assert rec.depends_on(release, rec.one("aws:eks/podIdentityAssociation:PodIdentityAssociation"))
    (attachment,) = [r for r in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                     if r.name.startswith("ca-")]
    assert rec.depends_on(release, attachment)
    # the component's depends_on (compute) reaches its children
    assert all(rec.depends_on(release, g) for g in rec.of_type("aws:eks/nodeGroup:NodeGroup"))
    assert release.provider.startswith(rec.one("pulumi:providers:kubernetes").urn)


def test_irsa_release_waits_for_the_policy_attachment():
    rec = build(irsa=True)
    (attachment,) = [r for r in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                     if r.name.startswith("ca-")]
    assert rec.depends_on(rec.one(RELEASE), attachment)


def test_outputs_name_only_the_scalable_groups_auto_scaling_groups():
    system = {"name": "system", "instanceTypes": ["t4g.medium"], "minSize": 2, "desiredSize": 2, "maxSize": 3}
    rec = build(node_groups=[system, FIXED])
    assert rec.exports["asgs"] == ["eks-n-system-asg"]
    assert rec.exports["release_status"]["status"] == "deployed"


def eks_handle(**changes):
    """A real EKS handle, with ``changes`` applied (``aws=None`` is what a kind handle looks like)."""
    box = {}

    def program():
        eks = EksCluster("c", ClusterArgs(cluster_name="c1", region="us-east-1", settings=make_settings().cluster,
                                          vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], az_count=2, api_access_cidrs=["10.0.0.0/16"]))
        box["handle"] = dataclasses.replace(eks.handle(), **changes)

    run(program)
    return box["handle"]


GROUP = ScaledGroup(name="system", min_size=2, max_size=3, asg_names=["asg-1"])


@pytest.mark.parametrize(("changes", "groups", "message"), [
    ({"aws": None}, [GROUP], "AWS-only"),
    ({}, [dataclasses.replace(GROUP, max_size=2)], "nothing to scale"),
    ({}, [GROUP, GROUP], "unique"),
    ({"version": "1.99"}, [GROUP], "no Cluster Autoscaler image pinned"),
])
def test_args_refuse_what_cannot_work(changes, groups, message):
    handle = eks_handle(**changes)
    settings = make_settings(autoscaling="cluster-autoscaler").cluster_autoscaler
    ClusterAutoscalerArgs(cluster=eks_handle(), settings=settings, groups=[GROUP])  # the baseline is fine
    with pytest.raises(ValueError, match=message):
        ClusterAutoscalerArgs(cluster=handle, settings=settings, groups=groups)


def test_program_cluster_autoscaler_mode_has_no_karpenter_and_one_ca_release():
    rec = run_stack("dev", overrides={"eks-platform:autoscaling": "cluster-autoscaler"})
    assert not [r for r in rec if "karpenter" in r.type.lower() or "karpenter" in r.name.lower()
                or "karpenter" in str(r.inputs.get("chart", "")).lower()]
    (release,) = [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]
    assert release.inputs["values"]["autoDiscovery"]["clusterName"] == "eks-platform-dev"
    (component,) = rec.of_type(TYPE)
    for group in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert rec.depends_on(release, group)
    assert release.parent == component.urn


def test_program_default_mode_installs_no_cluster_autoscaler():
    rec = run_stack("dev")
    assert rec.of_type(TYPE) == []
    assert not [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]
