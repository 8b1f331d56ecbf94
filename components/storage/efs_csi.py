"""The EFS CSI driver (EKS add-on) with its Pod Identity role, an encrypted EFS file system reachable
from the cluster's nodes only, and the 'efs' StorageClass that gives each claim its own access point.

AWS side (key, file system, policies, security group, mount targets, role) starts with the cluster;
the add-on waits for compute (its controller and node pods need nodes) and its role's permissions; the
StorageClass waits for compute, the driver and the mount targets, so on destroy it goes first. EBS gp3
stays the default class: claims get EFS only by asking for storageClassName 'efs'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

import versions
from components.core.addon import AddOn
from components.core.common import (
    RETAIN,
    PlatformComponent,
    account_key_policy,
    child_opts,
    managed_policy_arn,
    policy_document,
    statement,
    workload_identity,
)
from components.core.handle import ClusterHandle
from settings import gates
from settings.storage import EfsSettings

if TYPE_CHECKING:
    from settings import Settings

TYPE = "platform:storage:EfsCsiDriver"
# The add-on's controller service account (kubernetes-sigs/aws-efs-csi-driver docs/iam-policy-create.md;
# EKS user guide, efs-csi: the add-on runs it in kube-system).
NAMESPACE, SERVICE_ACCOUNT = "kube-system", "efs-csi-controller-sa"
STORAGE_CLASS = "efs"
NFS_PORT = 2049
PROVISIONER = "efs.csi.aws.com"


@dataclass(frozen=True, kw_only=True)
class EfsCsiArgs:
    cluster: ClusterHandle
    """The EKS cluster: its identity mode, VPC, private subnets and node security group."""
    settings: EfsSettings
    """Throughput and performance modes, lifecycle, automatic backups, the class's directories."""
    subnets: Mapping[str, pulumi.Input[str]]
    """The private subnets, one per zone, keyed by a stable name: each gets a mount target."""
    kms_key_deletion_window_days: int = 30
    """Waiting period before the file system's key is deleted (the cluster's setting, 7 to 30)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra tags on top of the cluster's."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("eks-platform:storage.efs is AWS-only; the cluster handle has no AWS facts")
        if not self.subnets:
            raise ValueError("EFS needs at least one private subnet for its mount targets")


def file_system_policy(file_system_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """NFS clients may mount and write through a mount target, over TLS only.

    A file system policy replaces EFS's default (full access for any client that reaches a mount
    target), so the policy grants that back for mount-target clients and denies any request without
    TLS (EFS user guide, encryption-in-transit; the console's "Enforce in-transit encryption" policy,
    quoted in terraform-aws-modules/terraform-aws-efs#20). ClientRootAccess is left out: every volume
    is an access point, which enforces its own POSIX identity, so no client needs root on the file
    system. The driver mounts with TLS by default (its docs/parameters.md, "Encryption In Transit").
    """
    return policy_document(
        statement("MountThroughMountTargets", ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                  file_system_arn, principal={"AWS": "*"},
                  condition={"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}),
        statement("DenyWithoutTls", ["*"], file_system_arn, effect="Deny", principal={"AWS": "*"},
                  condition={"Bool": {"aws:SecureTransport": "false"}}),
    )


def lifecycle_policies(settings: EfsSettings) -> list[aws.efs.FileSystemLifecyclePolicyArgs]:
    if settings.transition_to_ia_days is None:
        return []
    days = settings.transition_to_ia_days
    return [aws.efs.FileSystemLifecyclePolicyArgs(transition_to_ia=f"AFTER_{days}_DAY{'S' if days > 1 else ''}"),
            # a file read again is hot again: back to Standard on its first access
            aws.efs.FileSystemLifecyclePolicyArgs(transition_to_primary_storage_class="AFTER_1_ACCESS")]


class EfsCsiDriver(PlatformComponent):
    file_system: aws.efs.FileSystem
    kms_key: aws.kms.Key
    security_group: aws.ec2.SecurityGroup
    mount_targets: dict[str, aws.efs.MountTarget]
    addon: aws.eks.Addon
    storage_class: k8s.storage.v1.StorageClass

    def __init__(self, name: str, args: EfsCsiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, cfg = args.cluster, args.settings
        facts = cluster.aws
        assert facts is not None  # checked by the args
        tags = {**facts.tags, **args.tags}
        label = f"{cluster.physical_name}-efs"

        self.kms_key = aws.kms.Key(
            f"{name}-key", description=f"EFS file system of {cluster.physical_name}", enable_key_rotation=True,
            deletion_window_in_days=args.kms_key_deletion_window_days,
            policy=account_key_policy(facts.account_id, facts.partition), tags={**tags, "Name": label},
            opts=child_opts(self, RETAIN))
        # Retained with its key, policy and backup policy (components/core/deletion.py): the file system is
        # the only copy of every ReadWriteMany claim's files; the mount targets and the security group go,
        # so the VPC can be deleted (docs/operations.md, "After a destroy")
        self.file_system = aws.efs.FileSystem(
            f"{name}-fs", encrypted=True, kms_key_id=self.kms_key.arn,
            performance_mode=cfg.performance_mode, throughput_mode=cfg.throughput_mode,
            provisioned_throughput_in_mibps=cfg.provisioned_throughput_mibps,
            lifecycle_policies=lifecycle_policies(cfg), tags={**tags, "Name": label},
            opts=child_opts(self, RETAIN))
        aws.efs.BackupPolicy(
            f"{name}-backup", file_system_id=self.file_system.id,
            backup_policy=aws.efs.BackupPolicyBackupPolicyArgs(
                status="ENABLED" if cfg.automatic_backups else "DISABLED"),
            opts=child_opts(self, RETAIN))
        self.policy = aws.efs.FileSystemPolicy(
            f"{name}-fs-policy", file_system_id=self.file_system.id, policy=file_system_policy(self.file_system.arn),
            opts=child_opts(self, RETAIN))

        # NFS from the nodes only: managed node groups and Karpenter's nodes carry the cluster security
        # group (Karpenter selects it by its karpenter.sh/discovery tag, components/cluster/eks.py).
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-nfs", vpc_id=facts.vpc_id, description=f"NFS to the EFS mount targets of {cluster.physical_name}",
            ingress=[aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=NFS_PORT, to_port=NFS_PORT,
                security_groups=[facts.cluster_security_group_id], description="NFS from the cluster's nodes")],
            # stateful: replies need no egress rule, and mount targets open no connections
            egress=[], tags={**tags, "Name": label}, opts=child_opts(self))
        # one per zone (EFS allows one mount target per zone), named by the subnet's stable key
        self.mount_targets = {
            key: aws.efs.MountTarget(f"{name}-mount-{key}", file_system_id=self.file_system.id, subnet_id=subnet,
                                     security_groups=[self.security_group.id], opts=child_opts(self))
            for key, subnet in args.subnets.items()
        }

        identity = workload_identity(
            name, self, cluster_name=cluster.name, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
            mode=facts.identity, oidc=facts.oidc, tags=tags,
            # AWS managed policy for the driver's controller (EKS user guide, efs-csi)
            policy_arns={"policy": managed_policy_arn(facts.partition, "service-role/AmazonEFSCSIDriverPolicy")})
        # IRSA hands the role to the add-on; Pod Identity goes through the association.
        role_arn = identity.role.arn if identity.association is None else None
        self.addon = aws.eks.Addon(
            f"{name}-addon", cluster_name=cluster.name, addon_name="aws-efs-csi-driver",
            addon_version=versions.EKS_ADDONS[cluster.version]["aws-efs-csi-driver"],
            service_account_role_arn=role_arn,
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE", tags=tags,
            # the controller and node pods need nodes, and the controller its permissions when it starts;
            # the controller tolerates CriticalAddonsOnly (the system nodes) and the node DaemonSet every
            # taint, off Fargate (kubernetes-sigs/aws-efs-csi-driver charts/aws-efs-csi-driver/values.yaml,
            # which the add-on packages), so no configuration is needed
            opts=child_opts(self, cluster.pods_opts(pulumi.ResourceOptions(
                depends_on=identity.ready,
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m")))))
        # Dynamic provisioning: one access point per claim under basePath (kubernetes-sigs/aws-efs-csi-driver
        # docs/parameters.md). Not the default class: gp3 keeps the storageclass.kubernetes.io annotation.
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-class",
            metadata={"name": STORAGE_CLASS},
            provisioner=PROVISIONER,
            parameters={"provisioningMode": "efs-ap", "fileSystemId": self.file_system.id,
                        "directoryPerms": cfg.directory_perms, "basePath": cfg.base_path},
            # the file system spans every zone: no reason to wait for the pod's node
            volume_binding_mode="Immediate",
            # deleting a claim deletes its access point; the driver keeps the directory's data unless
            # its controller runs with deleteAccessPointRootDir (false in the chart's values; not set here)
            reclaim_policy="Delete",
            # a volume mounts only once its zone's mount target and the TLS-only policy exist; on
            # destroy the class goes before the driver and the mount targets
            opts=child_opts(self, cluster.k8s_opts(pulumi.ResourceOptions(
                depends_on=[self.addon, self.policy, *self.mount_targets.values()]))))
        self.register_outputs({"file_system_id": self.file_system.id, "kms_key_arn": self.kms_key.arn,
                               "security_group_id": self.security_group.id, "addon_version": self.addon.addon_version,
                               "role_arn": identity.role.arn, "storage_class": STORAGE_CLASS})


def mount_target_subnets(settings: Settings, cluster: ClusterHandle) -> dict[str, pulumi.Input[str]]:
    """The private subnets by a name that survives reordering.

    A VPC of this stack has one private subnet per zone, created as ``private-<i>`` from a fixed plan
    (network.py), so the zone index names it. Subnets of ``network.existing`` are named by their id:
    reordering that list then renames nothing (a renamed mount target is created before the old one is
    deleted, which EFS refuses: one mount target per zone).
    """
    assert cluster.aws is not None
    ids = list(cluster.aws.private_subnet_ids)
    existing = settings.network.existing
    if existing is not None:
        return dict(zip(existing.private_subnet_ids, existing.private_subnet_ids, strict=True))
    return {f"az{i}": subnet for i, subnet in enumerate(ids)}


class EfsCsiAddOn(AddOn):
    """Shared ReadWriteMany volumes on EFS through the 'efs' StorageClass (EKS only)."""

    key = "efs-csi"
    gate = gates.EFS_CSI

    @classmethod
    def build(cls, name, cluster, settings):
        return EfsCsiDriver(name, EfsCsiArgs(
            cluster=cluster, settings=settings.storage.efs, subnets=mount_target_subnets(settings, cluster),
            kms_key_deletion_window_days=settings.cluster.kms_key_deletion_window_days))

    @classmethod
    def exports(cls, component):
        return {"efsFileSystemId": component.file_system.id}
