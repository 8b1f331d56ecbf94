"""Settings of storage beyond the default gp3 class: the EFS CSI driver and its file system, and
AWS Backup for the platform's EBS volumes. Both are EKS only (refused on kind).

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from settings.base import Model, invalid, tiered
from settings.types import between

PerformanceMode = Literal["generalPurpose", "maxIO"]
ThroughputMode = Literal["bursting", "elastic", "provisioned"]
# The lifecycle transitions EFS accepts (PutLifecycleConfiguration, TransitionToIA: AFTER_<n>_DAY(S)).
IA_DAYS = (1, 7, 14, 30, 60, 90, 180, 270, 365)
IaDays = Literal[1, 7, 14, 30, 60, 90, 180, 270, 365]
# An AWS Backup schedule: a cron() expression of six fields (AWS Backup developer guide, creating a
# backup plan: "cron(0 5 ? * * *)"); the service checks the fields themselves.
BACKUP_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
# Access point root directories: an absolute POSIX path without '..' (CreateAccessPoint RootDirectory.Path).
BASE_PATH = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")


class EfsSettings(Model):
    """The EFS CSI driver (EKS add-on), one encrypted EFS file system with a mount target in every
    private subnet, and the 'efs' StorageClass (ReadWriteMany volumes as access points)."""

    enabled: bool = False
    """Install the EFS CSI driver and create the file system (EKS only; refused on kind)."""
    performance_mode: PerformanceMode = "generalPurpose"
    """generalPurpose (lowest latency; AWS recommends it for almost every workload) or maxIO. Fixed at
    creation: changing it replaces the file system and its data."""
    throughput_mode: ThroughputMode = tiered(dev="bursting", staging="elastic", prod="elastic")
    """bursting (scales with the stored size, no throughput charge), elastic (pay per GB transferred,
    scales with demand) or provisioned (provisionedThroughputMibps, billed whether used or not)."""
    provisioned_throughput_mibps: between(1, 3414) | None = None
    """Throughput in MiB/s with throughputMode provisioned (1 to 3414); null otherwise."""
    transition_to_ia_days: IaDays | None = tiered(dev=7, staging=30, prod=30)
    """Days without access after which a file moves to Infrequent Access storage (1, 7, 14, 30, 60,
    90, 180, 270 or 365); null keeps everything in Standard. A file moves back on its first access."""
    automatic_backups: bool = tiered(dev=False, staging=True, prod=True)
    """EFS automatic backups (the file system's backup policy): AWS Backup's default plan for EFS,
    daily, kept 35 days, in the aws/efs/automatic-backup-vault."""
    directory_perms: str = "700"
    """Permissions of each volume's root directory (access point), in octal: 700 lets only the
    volume's own POSIX user in."""
    base_path: str = "/dynamic"
    """Directory of the file system under which each volume gets its own directory."""

    @field_validator("directory_perms")
    @classmethod
    def _perms(cls, v: str) -> str:
        if not re.match(r"^[0-7]{3,4}$", v):
            raise ValueError("must be octal permissions like 700 or 0750")
        return v

    @field_validator("base_path")
    @classmethod
    def _base_path(cls, v: str) -> str:
        if not BASE_PATH.match(v) or ".." in v.split("/"):
            raise ValueError("must be an absolute directory path like /dynamic, without '..' or a trailing /")
        return v

    @model_validator(mode="after")
    def _throughput(self) -> EfsSettings:
        provisioned = self.throughput_mode == "provisioned"
        if provisioned and self.provisioned_throughput_mibps is None:
            raise invalid("provisionedThroughputMibps", "throughputMode is 'provisioned': set the MiB/s to "
                          "provision (1 to 3414), or choose throughputMode 'elastic' or 'bursting'")
        if not provisioned and self.provisioned_throughput_mibps is not None:
            raise invalid("provisionedThroughputMibps", "only applies with throughputMode 'provisioned' (it is "
                          "'{mode}'); remove it or set throughputMode: provisioned", mode=self.throughput_mode)
        if self.performance_mode == "maxIO" and self.throughput_mode == "elastic":
            # EFS user guide, performance: Max I/O is not supported with Elastic throughput
            raise invalid("performanceMode", "'maxIO' cannot be combined with throughputMode 'elastic'; use "
                          "performanceMode 'generalPurpose' (recommended) or throughputMode 'bursting' or "
                          "'provisioned'")
        return self


class BackupSettings(Model):
    """AWS Backup for the EBS volumes of the platform's gp3 StorageClass: a KMS-encrypted vault, a
    daily plan, and a selection of the volumes the class tags for this cluster."""

    enabled: bool = tiered(dev=False, staging=True, prod=True)
    """Back up the cluster's gp3 volumes with AWS Backup (EKS only; refused on kind)."""
    retention_days: between(1, 3650) = tiered(dev=7, staging=14, prod=35)
    """Days each daily recovery point is kept (1 to 3650)."""
    schedule: str = "cron(0 3 * * ? *)"
    """When the daily backup starts, as an AWS Backup cron() expression in UTC."""
    start_window_minutes: between(60, 720) = 60
    """How long after the scheduled time a backup may still start (60 to 720 minutes)."""
    completion_window_minutes: between(120, 10080) = 480
    """How long a started backup may run before AWS Backup cancels it (120 minutes to 7 days)."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        if not BACKUP_CRON.match(v):
            raise ValueError("must be an AWS Backup cron expression with six fields, like cron(0 3 * * ? *)")
        return v

    @model_validator(mode="after")
    def _windows(self) -> BackupSettings:
        if self.completion_window_minutes <= self.start_window_minutes:
            raise invalid("completionWindowMinutes", "must be longer than startWindowMinutes ({start}): a backup "
                          "must be able to finish after it may start", start=self.start_window_minutes)
        return self


class StorageSettings(Model):
    efs: EfsSettings = Field(default_factory=EfsSettings)
    """EFS CSI driver, file system and the 'efs' StorageClass (EKS only)."""
    backup: BackupSettings = Field(default_factory=BackupSettings)
    """AWS Backup of the gp3 volumes (EKS only)."""
