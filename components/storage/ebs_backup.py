"""AWS Backup for the EBS volumes of the platform's gp3 StorageClass: a KMS-encrypted vault, a daily
plan with the tier's retention, a service role, and a selection of the EBS volumes tagged for this
cluster.

Pure AWS, no Kubernetes object: it starts with the cluster. The volumes it selects are tagged by the
gp3 StorageClass of the EBS CSI driver (components/storage/ebs_csi.py, ``BACKUP_TAG_KEY``); volumes of other
classes, node root volumes and EFS (which has its own automatic backups) are not selected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.core.addon import AddOn
from components.core.common import (
    RETAIN,
    PlatformComponent,
    account_key_policy,
    child_opts,
    managed_policy_arn,
    service_trust,
)
from components.core.handle import ClusterHandle
from components.core.names import BACKUP_TAG_KEY
from settings import gates
from settings.storage import BackupSettings

TYPE = "platform:storage:EbsBackup"
# AWS managed policies of an AWS Backup service role (AWS Backup developer guide, iam-service-roles:
# the default service role carries both).
BACKUP_POLICY = "service-role/AWSBackupServiceRolePolicyForBackup"
RESTORE_POLICY = "service-role/AWSBackupServiceRolePolicyForRestores"


@dataclass(frozen=True, kw_only=True)
class EbsBackupArgs:
    cluster: ClusterHandle
    """The EKS cluster: its name is the value of the tag the selection matches."""
    settings: BackupSettings
    """Schedule, windows and retention."""
    kms_key_deletion_window_days: int = 30
    """Waiting period before the vault's key is deleted (the cluster's setting, 7 to 30)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra tags on top of the cluster's."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("eks-platform:storage.backup is AWS-only; the cluster handle has no AWS facts")


def volume_selection(partition: str, cluster_name: str) -> tuple[list[str], list[aws.backup.SelectionConditionArgs]]:
    """EBS volumes (the resource ARN pattern) AND tagged for this cluster (a condition): AWS Backup
    combines Resources and Conditions with AND (AWS re:Post knowledge center, backup-assign-resources,
    example 1; BackupSelection API: several conditions must all match)."""
    return ([f"arn:{partition}:ec2:*:*:volume/*"],
            [aws.backup.SelectionConditionArgs(string_equals=[aws.backup.SelectionConditionStringEqualArgs(
                key=f"aws:ResourceTag/{BACKUP_TAG_KEY}", value=cluster_name)])])


class EbsBackup(PlatformComponent):
    kms_key: aws.kms.Key
    vault: aws.backup.Vault
    plan: aws.backup.Plan
    role: aws.iam.Role
    selection: aws.backup.Selection

    def __init__(self, name: str, args: EbsBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, cfg = args.cluster, args.settings
        facts = cluster.aws
        assert facts is not None  # checked by the args
        tags = {**facts.tags, **args.tags}

        # The vault's key encrypts the recovery points of resources AWS Backup fully manages; EBS
        # snapshots keep the key of their volume (AWS Backup developer guide, encryption).
        self.kms_key = aws.kms.Key(
            f"{name}-key", description=f"AWS Backup vault of {cluster.physical_name}", enable_key_rotation=True,
            deletion_window_in_days=args.kms_key_deletion_window_days,
            policy=account_key_policy(facts.account_id, facts.partition), tags=tags, opts=child_opts(self, RETAIN))
        # Retained, with its key (components/core/deletion.py): AWS Backup refuses to delete a vault that
        # holds recovery points, so a destroy after the first backup would fail; the recovery points
        # outlive the stack until their lifecycle expires them (docs/operations.md, "After a destroy")
        self.vault = aws.backup.Vault(f"{name}-vault", kms_key_arn=self.kms_key.arn, tags=tags,
                                      opts=child_opts(self, RETAIN))
        self.plan = aws.backup.Plan(
            f"{name}-plan",
            rules=[aws.backup.PlanRuleArgs(
                rule_name="daily", target_vault_name=self.vault.name, schedule=cfg.schedule,
                start_window=cfg.start_window_minutes, completion_window=cfg.completion_window_minutes,
                lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=cfg.retention_days),
                recovery_point_tags=tags)],
            tags=tags, opts=child_opts(self))
        self.role = aws.iam.Role(f"{name}-role", assume_role_policy=service_trust("backup.amazonaws.com"),
                                 tags=tags, opts=child_opts(self))
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-{key}", role=self.role.name,
                                         policy_arn=managed_policy_arn(facts.partition, policy), opts=child_opts(self))
            for key, policy in (("backup", BACKUP_POLICY), ("restores", RESTORE_POLICY))
        ]
        resources, conditions = volume_selection(facts.partition, cluster.physical_name)
        self.selection = aws.backup.Selection(
            f"{name}-volumes", plan_id=self.plan.id, iam_role_arn=self.role.arn, resources=resources,
            conditions=conditions,
            # the role is usable only with its policies (on destroy they stay until the selection is gone)
            opts=child_opts(self, pulumi.ResourceOptions(depends_on=attachments)))
        self.register_outputs({"vault_name": self.vault.name, "vault_arn": self.vault.arn, "plan_id": self.plan.id,
                               "role_arn": self.role.arn, "kms_key_arn": self.kms_key.arn})


class EbsBackupAddOn(AddOn):
    """Daily AWS Backup recovery points of the gp3 volumes (EKS only)."""

    key = "ebs-backup"
    gate = gates.EBS_BACKUP

    @classmethod
    def build(cls, name, cluster, settings):
        return EbsBackup(name, EbsBackupArgs(
            cluster=cluster, settings=settings.storage.backup,
            kms_key_deletion_window_days=settings.cluster.kms_key_deletion_window_days))

    @classmethod
    def exports(cls, component):
        return {"backupVaultName": component.vault.name}
