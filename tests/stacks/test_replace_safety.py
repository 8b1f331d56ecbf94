"""Nothing collides on replace (issue 19's guarantee), over every stack and the test variants.

A resource whose AWS (or Helm) identity is a name or natural key the program chooses collides with
itself when Pulumi replaces it create-first: the new one is refused (ResourceInUse, AlreadyExists)
while the old one holds the key, or, where deleting takes only the key, deleting the old one removes
the new one. Each such resource either is replaced delete-first (``deleteBeforeReplace``), or its key
changes with every replacement (it is auto-named, or every property that forces a replacement is part
of its key), or it is exempt for a stated reason. ``NATURAL_KEYS`` is the table, by type; every AWS and
Helm type the program registers must be in it or in ``NO_NATURAL_KEY``, so a new type needs a decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import every_variant_recording

TF = "hashicorp/terraform-provider-aws (pulumi-aws bridges it): the attribute is ForceNew"


@dataclass(frozen=True)
class Key:
    fields: tuple[str, ...]
    """Inputs that name the resource; ``()``: always program-chosen (its key is its inputs' identity)."""
    replaced_within_key: bool
    """A property outside the key forces a replacement, so a replacement can keep the same key."""
    why: str
    """The source of the rule."""


NATURAL_KEYS: dict[str, Key] = {
    "aws:iam/role:Role": Key(("name",), True, f"{TF}: name, path"),
    "aws:iam/policy:Policy": Key(("name",), True, f"{TF}: name, path, description"),
    "aws:iam/instanceProfile:InstanceProfile": Key(("name",), True, f"{TF}: name, path"),
    "aws:iam/rolePolicy:RolePolicy": Key(("name",), False, f"{TF}: role and name, the whole key"),
    "aws:eks/accessEntry:AccessEntry": Key((), True, f"{TF}: cluster_name, principal_arn and type (not in the key)"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": Key(
        (), True, f"{TF}: access_scope too; EKS keys an association by cluster, principal and policy"),
    "aws:eks/addon:Addon": Key((), False, f"{TF}: cluster_name and addon_name only, the key"),
    "aws:eks/fargateProfile:FargateProfile": Key((), True, f"{TF}: selectors, subnet_ids, pod_execution_role_arn"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": Key(
        (), False, f"{TF}: cluster_name, namespace, service_account only, the key (role_arn is updated in place)"),
    "aws:eks/nodeGroup:NodeGroup": Key(("nodeGroupName",), True, f"{TF}: subnet_ids, ami_type, capacity_type, ..."),
    "aws:eks/cluster:Cluster": Key(("name",), True, f"{TF}: vpc_config.subnet_ids, encryption_config, ..."),
    "aws:sqs/queue:Queue": Key(("name",), True, f"{TF}: name, fifo_queue"),
    "aws:cloudwatch/eventRule:EventRule": Key(("name",), False, f"{TF}: name, event_bus_name, the key"),
    "aws:cloudwatch/logGroup:LogGroup": Key(("name",), True, f"{TF}: name, log_group_class"),
    "aws:kms/alias:Alias": Key(("name",), False, f"{TF}: name only (target_key_id is updated in place)"),
    "aws:s3/bucket:Bucket": Key(("bucket",), True, f"{TF}: bucket, object_lock_enabled"),
    "aws:s3/bucketV2:BucketV2": Key(("bucket",), True, f"{TF}: bucket, object_lock_enabled"),
    "aws:backup/vault:Vault": Key(("name",), True, f"{TF}: name, kms_key_arn"),
    "aws:ec2/launchTemplate:LaunchTemplate": Key(("name",), False, f"{TF}: name only"),
    "aws:ec2/securityGroup:SecurityGroup": Key(("name",), True, f"{TF}: name, description, vpc_id"),
    # pulumi-kubernetes provider/pkg/provider/helm_release.go, Diff: forceNewFields are .name and .namespace,
    # the release's key in the cluster
    "kubernetes:helm.sh/v3:Release": Key(("name",), False, "pulumi-kubernetes helm_release.go Diff: forceNewFields"),
}

EXEMPT = {
    # A replaced cluster would take every workload with it: letting EKS refuse the second cluster of that
    # name (nothing deleted) is the safe failure; a new cluster takes a new cluster.name (docs/operations.md).
    "aws:eks/cluster:Cluster": "a replacement must fail, not delete the cluster first",
}

# Identities AWS assigns (ids), or resources that are attributes of another (their key is the parent's,
# and they are replaced with it).
NO_NATURAL_KEY = {
    "aws:backup/plan:Plan", "aws:backup/selection:Selection", "aws:cloudwatch/eventTarget:EventTarget",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/eip:Eip", "aws:ec2/eipAssociation:EipAssociation",
    "aws:ec2/flowLog:FlowLog", "aws:ec2/instance:Instance", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/subnet:Subnet", "aws:ec2/tag:Tag",
    "aws:ec2/vpc:Vpc", "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:efs/backupPolicy:BackupPolicy",
    "aws:efs/fileSystem:FileSystem", "aws:efs/fileSystemPolicy:FileSystemPolicy", "aws:efs/mountTarget:MountTarget",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:kms/key:Key", "aws:sqs/queuePolicy:QueuePolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "aws:s3/bucketPolicy:BucketPolicy",
}


@pytest.fixture(scope="module")
def every_resource():
    return [(variant, r) for variant, rec in every_variant_recording() for r in rec if r.custom]


def collisions(resources) -> list[str]:
    """The resources that would collide with themselves on a create-first replacement."""
    found = []
    for variant, r in resources:
        key = NATURAL_KEYS.get(r.type)
        if key is None or r.type in EXEMPT:
            continue
        chosen = not key.fields or any(r.inputs.get(f) for f in key.fields)
        if chosen and key.replaced_within_key and not r.delete_before_replace:
            found.append(f"{variant}: {r.type} {r.name} ({key.why})")
    return sorted(set(found))


def test_every_aws_and_helm_type_has_a_natural_key_decision(every_resource):
    types = {r.type for _, r in every_resource if r.type.startswith("aws:") or r.type.startswith("kubernetes:helm")}
    undecided = sorted(types - set(NATURAL_KEYS) - NO_NATURAL_KEY)
    assert not undecided, f"add these types to NATURAL_KEYS or NO_NATURAL_KEY: {undecided}"
    assert set(EXEMPT) <= set(NATURAL_KEYS) and not set(NATURAL_KEYS) & NO_NATURAL_KEY


def test_nothing_collides_on_replace(every_resource):
    assert collisions(every_resource) == []


def test_the_table_lists_what_it_protects(every_resource):
    """The resources with a program-chosen key, listed (and the check is not vacuous: each kind occurs)."""
    named = {r.type for _, r in every_resource if r.type in NATURAL_KEYS
             and (not NATURAL_KEYS[r.type].fields or any(r.inputs.get(f) for f in NATURAL_KEYS[r.type].fields))}
    assert {"aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
            "aws:eks/fargateProfile:FargateProfile", "aws:sqs/queue:Queue", "aws:cloudwatch/logGroup:LogGroup",
            "aws:kms/alias:Alias", "aws:eks/podIdentityAssociation:PodIdentityAssociation", "aws:eks/addon:Addon",
            "kubernetes:helm.sh/v3:Release"} <= named
