"""platform:compute:NodeGroups: hardened launch templates, private subnets, minimal node role."""

from __future__ import annotations

from components.cluster.node_groups import NODE_POLICIES, TYPE, NodeGroups, NodeGroupsArgs
from harness.fakes import fake_eks_handle
from tests.conftest import make_settings, policy, run

GROUPS = [
    {"name": "system", "instanceTypes": ["m7g.large"], "taints": [
        {"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}], "labels": {"tier": "system"}},
    {"name": "spot", "instanceTypes": ["m7i.large", "m6i.large"], "amiType": "BOTTLEROCKET_x86_64",
     "capacityType": "SPOT", "minSize": 0, "desiredSize": 0, "maxSize": 10, "diskSizeGib": 80},
]


def build(groups=GROUPS):
    settings = make_settings(nodeGroups=groups)

    def program():
        NodeGroups("ng", NodeGroupsArgs(cluster=fake_eks_handle(), groups=settings.node_groups))

    return run(program)


def test_launch_templates_require_imdsv2_hop_limit_one_and_encrypted_gp3():
    rec = build()
    templates = {t.name: t.inputs for t in rec.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    assert set(templates) == {"ng-system", "ng-spot"}
    for lt in templates.values():
        meta = lt["metadataOptions"]
        assert meta["httpTokens"] == "required" and meta["httpPutResponseHopLimit"] == 1
        (bdm,) = lt["blockDeviceMappings"]
        assert bdm["ebs"]["volumeType"] == "gp3" and bdm["ebs"]["encrypted"] == "true"
        assert "keyName" not in lt and "vpcSecurityGroupIds" not in lt and "networkInterfaces" not in lt
    assert templates["ng-system"]["blockDeviceMappings"][0]["deviceName"] == "/dev/xvda"
    # Bottlerocket keeps pods and images on its data volume
    assert templates["ng-spot"]["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    assert templates["ng-spot"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 80


def test_node_groups_private_no_ssh_sizes_labels_taints():
    rec = build()
    groups = {g.name: g for g in rec.of_type("aws:eks/nodeGroup:NodeGroup")}
    system, spot = groups["ng-system"].inputs, groups["ng-spot"].inputs
    assert system["subnetIds"] == ["subnet-a", "subnet-b", "subnet-c"]
    assert "remoteAccess" not in system and "remoteAccess" not in spot
    assert system["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    assert system["labels"] == {"tier": "system", "platform.eks/node-group": "system"}
    assert system["amiType"] == "AL2023_ARM_64_STANDARD" and system["capacityType"] == "ON_DEMAND"
    assert spot["capacityType"] == "SPOT" and spot["instanceTypes"] == ["m7i.large", "m6i.large"]
    assert spot["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 10}
    assert system["version"] == "1.36"
    assert system["launchTemplate"]["id"] == "ng-system-id"


def test_desired_size_is_ignored_after_creation():
    rec = build()
    for group in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert group.ignore_changes == ["scalingConfig.desiredSize"]


def test_node_role_has_only_the_minimal_policies():
    rec = build()
    trust = policy(rec.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    arns = {a.inputs["policyArn"] for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert arns == {f"arn:aws:iam::aws:policy/{p}" for p in NODE_POLICIES}
    assert "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" not in arns


def test_groups_wait_for_their_policies_and_are_parented():
    rec = build()
    (component,) = rec.of_type(TYPE)
    assert all(r.parent == component.urn for r in rec if r is not component and not r.type.startswith("pulumi:providers:"))
    for group in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
        for attachment in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
            assert rec.depends_on(group, attachment)
