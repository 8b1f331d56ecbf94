"""The whole program, evaluated for every stacks/Pulumi.*.yaml under the shared mocks."""

from __future__ import annotations

import pytest

from harness import run_stack, stack_names
from tests.conftest import DEV_SHARED_VARIANTS

AWS_STACKS = [s for s in stack_names() if s != "local"]


def with_fargate_and_api_cidrs():
    """dev with a Fargate profile and listed API networks (and SNS alerts: a variant shared with test_monitoring)."""
    return run_stack("dev", overrides=DEV_SHARED_VARIANTS["sns-fargate-api-cidrs"], secrets=("eks-platform:observability",))


@pytest.fixture(scope="module", params=stack_names())
def stack(request):
    return request.param, run_stack(request.param)


def test_stack_files_exist_for_every_environment():
    assert {"dev", "staging", "prod", "local"} <= set(stack_names())


def test_every_resource_lives_in_a_component(stack):
    name, rec = stack
    components = {r.urn for r in rec if not r.custom}
    for res in rec:
        if res.custom:
            assert res.parent in components, f"{name}: {res.type} {res.name} is not inside a component"


def test_aws_resources_carry_the_platform_tags(stack):
    name, rec = stack
    taggable = [r for r in rec if r.type.startswith("aws:") and "tags" in r.inputs]
    assert taggable or name == "local"
    for res in taggable:
        assert res.inputs["tags"]["Project"] == "eks-platform", res.name
        assert res.inputs["tags"]["Stack"] == name, res.name


def test_kind_stack_creates_no_aws_resources():
    rec = run_stack("local")
    assert not [r for r in rec if r.type.startswith("aws:")]
    assert rec.exports["target"] == "kind"


@pytest.mark.parametrize("name", AWS_STACKS)
def test_aws_stack_shape(name):
    rec = run_stack(name)
    assert rec.exports["target"] == "aws" and rec.exports["clusterName"] == f"eks-platform-{name}"
    cluster = rec.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    nat = len(rec.of_type("aws:ec2/natGateway:NatGateway"))
    assert nat == {"dev": 0, "staging": 1, "prod": 3}[name]
    # dev's egress is one NAT instance (cheaper; tests/network/test_network.py checks it)
    assert len(rec.of_type("aws:ec2/instance:Instance")) == {"dev": 1, "staging": 0, "prod": 0}[name]
    assert rec.one("aws:eks/nodeGroup:NodeGroup").inputs["taints"][0]["key"] == "CriticalAddonsOnly"


@pytest.mark.parametrize("name", AWS_STACKS)
def test_program_ordering_edges(name):
    rec = run_stack(name)
    addons = {a.inputs["addonName"]: a for a in rec.of_type("aws:eks/addon:Addon")}
    groups = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    cluster = rec.one("aws:eks/cluster:Cluster")
    for group in groups:
        assert rec.depends_on(group, cluster)
        # nodes join only once the CNI runs
        assert rec.depends_on(group, addons["vpc-cni"])
        assert rec.depends_on(group, addons["eks-pod-identity-agent"])
        # CoreDNS and the EBS CSI controller need nodes
        assert rec.depends_on(addons["coredns"], group)
        assert rec.depends_on(addons["aws-ebs-csi-driver"], group)
    assert not rec.depends_on(addons["vpc-cni"], groups[0])
    provider = rec.one("pulumi:providers:kubernetes")
    assert rec.depends_on(provider, cluster)
    for k8s_object in [r for r in rec if r.type.startswith("kubernetes:") and r.custom]:
        assert k8s_object.provider.startswith(provider.urn), k8s_object.name


def test_fargate_profiles_from_config_come_before_coredns():
    rec = with_fargate_and_api_cidrs()
    profile = rec.one("aws:eks/fargateProfile:FargateProfile")
    coredns = next(a for a in rec.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "coredns")
    assert rec.depends_on(coredns, profile)


def test_preview_mode_evaluates_too():
    rec = run_stack("dev", preview=True)
    assert rec.of_type("aws:eks/cluster:Cluster")


def test_api_access_defaults_to_the_vpc_and_takes_listed_networks():
    default = run_stack("dev").one("aws:ec2/securityGroup:SecurityGroup", "dev-cluster-api")
    assert default.inputs["ingress"][0]["cidrBlocks"] == ["10.10.0.0/16"]
    listed = with_fargate_and_api_cidrs()
    sg = listed.one("aws:ec2/securityGroup:SecurityGroup", "dev-cluster-api")
    assert sg.inputs["ingress"][0]["cidrBlocks"] == ["10.99.0.0/16", "192.168.4.0/24"]


def test_switching_cluster_autoscaler_to_karpenter_keeps_every_other_urn():
    before = run_stack("dev", overrides={"eks-platform:autoscaling": "cluster-autoscaler"})
    after = run_stack("dev")

    def outside(rec, token):
        (component,) = rec.of_type(token)
        return {r.urn for r in rec if not r.urn.split("::")[2].startswith(token) and r.urn != component.urn}

    kept, now = outside(before, "platform:autoscaling:ClusterAutoscaler"), outside(after, "platform:autoscaling:Karpenter")
    # the default 'workers' group exists only without Karpenter (settings/aws.py DEFAULT_WORKER_GROUPS): Karpenter's
    # nodes take its pods, and it goes with its launch template
    workers = {urn for urn in kept if urn.endswith("::dev-nodes-workers")}
    assert len(workers) == 2
    kept -= workers
    assert kept <= now
    # the only addition outside Karpenter's component: its Grafana dashboard
    assert {urn.rsplit("::", 1)[1] for urn in now - kept} == {"dev-monitoring-dashboard-karpenter"}
    # the system node group (where the controllers run) is untouched
    assert [g.urn for g in before.of_type("aws:eks/nodeGroup:NodeGroup") if not g.urn.endswith("-workers")] == \
        [g.urn for g in after.of_type("aws:eks/nodeGroup:NodeGroup")]
