"""platform:storage:EfsCsiDriver: IAM (Pod Identity or IRSA), the NFS security group, mount targets per
private subnet by stable key, encryption, the TLS-only file system policy, the 'efs' StorageClass (gp3
stays the default), ordering, EFS refused on kind, bad config, and the dev-storage variant."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

import versions
from components.storage.efs_csi import TYPE, EfsCsiAddOn, EfsCsiArgs, EfsCsiDriver, mount_target_subnets
from harness import run_stack, yamlio
from harness.fakes import OIDC_ISSUER, fake_eks_handle, fake_kind_handle
from harness.urns import VARIANTS
from settings import ConfigError, parse_settings
from tests.conftest import assert_config_error, make_settings, policy, run

SUBNETS = {"az0": "subnet-a", "az1": "subnet-b", "az2": "subnet-c"}
EFS = "eks-platform:storage.efs"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
SG = "aws:ec2/securityGroup:SecurityGroup"
MOUNT = "aws:efs/mountTarget:MountTarget"
FS = "aws:efs/fileSystem:FileSystem"
ASSOC = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def build(stack: str = "dev", *, irsa: bool = False, subnets=None, **efs):
    settings = make_settings(stack, storage={"efs": {"enabled": True, **efs}})

    def program():
        nodes = aws.eks.NodeGroup("nodes", cluster_name="c1", node_role_arn="r", subnet_ids=["s"],
                                  scaling_config={"desired_size": 1, "min_size": 1, "max_size": 1})
        EfsCsiDriver("efs", EfsCsiArgs(cluster=fake_eks_handle(irsa=irsa, readiness=[nodes]),
                                       settings=settings.storage.efs, subnets=subnets or SUBNETS,
                                       kms_key_deletion_window_days=settings.cluster.kms_key_deletion_window_days))

    return run(program, stack=stack)


@pytest.fixture(scope="module")
def rec():
    return build()


@pytest.fixture(scope="module")
def stack_rec():
    stack, overrides = VARIANTS["dev-storage"]
    return run_stack(stack, overrides=overrides)


def id_of(res) -> str:
    return f"{res.name}-id"  # the mocks' physical id


def children(recording):
    (component,) = recording.of_type(TYPE)
    return [r for r in recording if r.parent == component.urn]


# --- IAM ---------------------------------------------------------------------------------------------

def test_pod_identity_role_carries_the_managed_driver_policy(rec):
    addon = rec.one("aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "aws-efs-csi-driver"
    assert addon.inputs["addonVersion"] == versions.EKS_ADDONS["1.35"]["aws-efs-csi-driver"]
    assert "serviceAccountRoleArn" not in addon.inputs
    role = rec.one("aws:iam/role:Role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    (attachment,) = rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
    assert attachment.inputs["role"] == role.outputs["name"]
    assoc = rec.one(ASSOC)
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("kube-system", "efs-csi-controller-sa")
    assert assoc.inputs["roleArn"] == role.outputs["arn"]
    # a role is usable only with its policy: the association waits for it, the add-on for both
    assert rec.depends_on(assoc, attachment)
    assert rec.depends_on(addon, assoc) and rec.depends_on(addon, attachment)


def test_irsa_hands_the_role_to_the_addon_and_trusts_only_the_controller():
    rec = build(irsa=True)
    assert not rec.of_type(ASSOC)
    addon, role = rec.one("aws:eks/addon:Addon"), rec.one("aws:iam/role:Role")
    assert addon.inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"][f"{OIDC_ISSUER}:sub"] == \
        "system:serviceaccount:kube-system:efs-csi-controller-sa"
    assert rec.depends_on(addon, rec.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment"))


# --- network -----------------------------------------------------------------------------------------

def test_nfs_only_from_the_cluster_security_group(rec):
    (sg,) = rec.of_type(SG)
    (rule,) = sg.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 2049, 2049)
    assert rule["securityGroups"] == ["sg-1"]  # handle.aws.cluster_security_group_id
    assert not rule.get("cidrBlocks") and not rule.get("ipv6CidrBlocks") and not rule.get("self")
    assert sg.inputs["egress"] == []
    assert sg.inputs["vpcId"] == "vpc-1"
    assert "0.0.0.0/0" not in str(sg.inputs) and "::/0" not in str(sg.inputs)


def test_one_mount_target_per_private_subnet_named_by_its_key(rec):
    mounts = {r.name: r for r in rec.of_type(MOUNT)}
    assert set(mounts) == {f"efs-mount-{key}" for key in SUBNETS}
    sg = rec.one(SG)
    for key, subnet in SUBNETS.items():
        inputs = mounts[f"efs-mount-{key}"].inputs
        assert inputs["subnetId"] == subnet
        assert inputs["fileSystemId"] == id_of(rec.one(FS))
        assert inputs["securityGroups"] == [id_of(sg)]


def test_subnet_keys_are_zone_indexes_or_subnet_ids_and_survive_reordering():
    ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
    seen = {}

    def program():
        created = make_settings("dev")
        seen["created"] = mount_target_subnets(created, fake_eks_handle())
        for order in (ids, list(reversed(ids))):
            existing = make_settings("dev", network={"existing": {"vpcId": "vpc-0123456789abcdef0",
                                                                  "privateSubnetIds": order}})
            seen[tuple(order)] = mount_target_subnets(existing, fake_eks_handle())

    run(program)
    assert list(seen["created"]) == ["az0", "az1", "az2"]  # network.py's private-<i>, one per zone
    forward, backward = seen[tuple(ids)], seen[tuple(reversed(ids))]
    assert forward == {i: i for i in ids} and forward == backward


# --- encryption and access ---------------------------------------------------------------------------

def test_file_system_is_encrypted_with_its_own_rotating_key(rec):
    fs, key = rec.one(FS), rec.one("aws:kms/key:Key")
    assert fs.inputs["encrypted"] is True and fs.inputs["kmsKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 7
    (stmt,) = policy(key.inputs["policy"])["Statement"]
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"} and stmt["Effect"] == "Allow"


def test_file_system_policy_requires_tls_and_grants_no_root(rec):
    fs = rec.one(FS)
    doc = policy(rec.one("aws:efs/fileSystemPolicy:FileSystemPolicy").inputs["policy"])
    by_effect = {s["Effect"]: s for s in doc["Statement"]}
    deny = by_effect["Deny"]
    assert deny["Action"] == "*" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allow = by_effect["Allow"]
    assert sorted(allow["Action"]) == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert allow["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}
    assert {s["Resource"] for s in doc["Statement"]} == {fs.outputs["arn"]}


def test_tier_defaults_for_throughput_lifecycle_and_backups():
    dev, prod = build("dev"), build("prod")
    assert dev.one(FS).inputs["throughputMode"] == "bursting" and prod.one(FS).inputs["throughputMode"] == "elastic"
    assert dev.one(FS).inputs["lifecyclePolicies"][0] == {"transitionToIa": "AFTER_7_DAYS"}
    assert prod.one(FS).inputs["lifecyclePolicies"] == [{"transitionToIa": "AFTER_30_DAYS"},
                                                        {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]
    status = {r: rec.one("aws:efs/backupPolicy:BackupPolicy").inputs["backupPolicy"]["status"]
              for r, rec in (("dev", dev), ("prod", prod))}
    assert status == {"dev": "DISABLED", "prod": "ENABLED"}
    assert prod.one("aws:kms/key:Key").inputs["deletionWindowInDays"] == 30


def test_provisioned_throughput_and_no_lifecycle():
    rec = build(throughputMode="provisioned", provisionedThroughputMibps=256, transitionToIaDays=None)
    fs = rec.one(FS)
    assert fs.inputs["throughputMode"] == "provisioned" and fs.inputs["provisionedThroughputInMibps"] == 256
    assert not fs.inputs.get("lifecyclePolicies")
    assert build(transitionToIaDays=1).one(FS).inputs["lifecyclePolicies"][0] == {"transitionToIa": "AFTER_1_DAY"}


# --- the StorageClass ----------------------------------------------------------------------------------

def test_storage_class_makes_access_points_on_the_file_system(rec):
    sc = rec.one(SC)
    assert sc.inputs["metadata"] == {"name": "efs"}  # no is-default-class annotation
    assert sc.inputs["provisioner"] == "efs.csi.aws.com"
    assert sc.inputs["parameters"] == {"provisioningMode": "efs-ap", "fileSystemId": id_of(rec.one(FS)),
                                       "directoryPerms": "700", "basePath": "/dynamic"}
    assert sc.provider.startswith(rec.one("pulumi:providers:kubernetes").urn)
    custom = build(directoryPerms="0750", basePath="/shared/volumes").one(SC).inputs["parameters"]
    assert (custom["directoryPerms"], custom["basePath"]) == ("0750", "/shared/volumes")


def test_gp3_stays_the_only_default_class(stack_rec):
    classes = {r.inputs["metadata"]["name"]: r for r in stack_rec.of_type(SC)}
    assert set(classes) == {"gp3", "efs"}
    default = [n for n, r in classes.items()
               if (r.inputs["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
               == "true"]
    assert default == ["gp3"]


# --- ordering ------------------------------------------------------------------------------------------

def test_driver_and_class_wait_for_nodes_and_the_aws_side_does_not(rec):
    nodes = rec.one("aws:eks/nodeGroup:NodeGroup")
    addon, sc = rec.one("aws:eks/addon:Addon"), rec.one(SC)
    assert rec.depends_on(addon, nodes) and rec.depends_on(sc, nodes)
    for res in [*rec.of_type(MOUNT), rec.one(FS), rec.one(SG), rec.one("aws:iam/role:Role"), rec.one(ASSOC)]:
        assert not rec.depends_on(res, nodes), res.name
    # the class comes after the driver, the TLS policy and every mount target (and goes before them)
    assert rec.depends_on(sc, addon) and rec.depends_on(sc, rec.one("aws:efs/fileSystemPolicy:FileSystemPolicy"))
    assert all(rec.depends_on(sc, m) for m in rec.of_type(MOUNT))


def test_parent_tree_and_outputs(rec):
    (component,) = rec.of_type(TYPE)
    assert {r.type for r in children(rec)} >= {FS, MOUNT, SG, SC, "aws:eks/addon:Addon", "aws:kms/key:Key"}
    assert all(r.parent == component.urn for r in rec if r.custom and r.type not in
               ("aws:eks/nodeGroup:NodeGroup", "pulumi:providers:kubernetes"))


# --- the whole program ------------------------------------------------------------------------------------

def test_dev_storage_variant_builds_efs_in_every_private_subnet(stack_rec):
    subnets = {id_of(r) for r in stack_rec.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name}
    mounts = stack_rec.of_type(MOUNT)
    assert {m.inputs["subnetId"] for m in mounts} == subnets and len(mounts) == 2  # dev: two zones
    assert {m.name for m in mounts} == {"dev-efs-csi-mount-az0", "dev-efs-csi-mount-az1"}
    (sg,) = [r for r in stack_rec.of_type(SG) if r.name == "dev-efs-csi-nfs"]
    cluster = stack_rec.one("aws:eks/cluster:Cluster")
    assert sg.inputs["ingress"][0]["securityGroups"] == [cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]]
    assert stack_rec.exports["efsFileSystemId"] == id_of(stack_rec.one(FS))
    # the key follows the cluster's deletion window (dev: 7 days)
    assert stack_rec.named("dev-efs-csi-key").inputs["deletionWindowInDays"] == 7
    addon = next(a for a in stack_rec.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-efs-csi-driver")
    assert all(stack_rec.depends_on(addon, g) for g in stack_rec.of_type("aws:eks/nodeGroup:NodeGroup"))


def test_off_by_default_on_every_stack():
    for stack in ("dev", "staging", "prod"):
        assert not EfsCsiAddOn.enabled(make_settings(stack))
    assert not run_stack("prod").of_type(TYPE)


# --- kind and bad config ------------------------------------------------------------------------------

def test_refused_on_kind_naming_the_key():
    with pytest.raises(ConfigError) as err:
        parse_settings({"storage": {"efs": {"enabled": True}}}, "local")
    assert EFS in str(err.value) and "aws target" in str(err.value)
    assert not EfsCsiAddOn.enabled(make_settings("local"))
    assert EfsCsiAddOn.aws_only and EfsCsiAddOn.enabled(make_settings(storage={"efs": {"enabled": True}}))

    def program():
        with pytest.raises(ValueError, match="AWS-only"):
            EfsCsiArgs(cluster=fake_kind_handle(), settings=make_settings().storage.efs, subnets=SUBNETS)
        with pytest.raises(ValueError, match="private subnet"):
            EfsCsiArgs(cluster=fake_eks_handle(), settings=make_settings().storage.efs, subnets={})

    run(program)


@pytest.mark.parametrize(("efs", "key", "valid"), [
    ({"throughputMode": "provisioned"}, "provisionedThroughputMibps", "1 to 3414"),
    ({"provisionedThroughputMibps": 100}, "provisionedThroughputMibps", "throughputMode: provisioned"),
    ({"throughputMode": "provisioned", "provisionedThroughputMibps": 0}, "provisionedThroughputMibps", "3414"),
    ({"performanceMode": "maxIO", "throughputMode": "elastic"}, "performanceMode", "generalPurpose"),
    ({"throughputMode": "fast"}, "throughputMode", "elastic"),
    ({"transitionToIaDays": 3}, "transitionToIaDays", "30"),
    ({"directoryPerms": "rwx"}, "directoryPerms", "700"),
    ({"basePath": "dynamic"}, "basePath", "/dynamic"),
    ({"basePath": "/a/../b"}, "basePath", "'..'"),
    ({"sizeGib": 10}, "sizeGib", "unknown key"),
])
def test_bad_config_names_the_key_and_what_is_valid(efs, key, valid):
    assert_config_error("dev", {"aws:region": "us-east-1", "storage": {"efs": {"enabled": True, **efs}}},
                        f"{EFS}.{key}", valid)


# --- the example ----------------------------------------------------------------------------------------

def test_example_claims_a_shared_volume_of_the_efs_class(rec):
    import kubernetes_validate

    from harness import PROJECT_DIR

    docs = list(yamlio.load_all((PROJECT_DIR / "examples" / "efs-shared-volume.yaml").read_text()))
    for doc in [*docs, rec.one(SC).inputs]:
        kubernetes_validate.validate(doc, "1.36", strict=True)  # raises on a schema error
    claim, deployment = docs
    assert claim["spec"]["storageClassName"] == rec.one(SC).inputs["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (volume,) = deployment["spec"]["template"]["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert deployment["spec"]["replicas"] > 1  # the point of ReadWriteMany
