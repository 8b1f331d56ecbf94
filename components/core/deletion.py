"""What `pulumi destroy` (or a replacement) does to each kind of resource that holds data: one table.

Every resource type here holds data or protects data that outlives a deployment. Each has one
decision, and the components follow it (``tests/core/test_deletion.py`` checks every stack and variant
against this table, and refuses a data-holding type that is missing from it):

- ``retain``: ``retain_on_delete``; a destroy drops it from the state and leaves it in the account,
  to be removed by hand (docs/operations.md, "After a destroy").
- ``delete``: deleted with the stack; ``why`` says why that is safe or necessary.
- ``follows``: a KMS key is retained exactly when a retained resource is encrypted with it (a retained
  bucket or vault is unreadable without its key); otherwise it is scheduled for deletion after the
  cluster's ``kmsKeyDeletionWindowDays`` (cancellable until then).
- ``reclaim``: a StorageClass; its explicit ``reclaimPolicy`` decides what happens to the volumes of
  claims when they are deleted.

``tools/plan.py`` prints the stack's Destroy section from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["retain", "delete", "follows", "reclaim"]


@dataclass(frozen=True)
class Decision:
    action: Action
    why: str


DECISIONS: dict[str, Decision] = {
    "aws:backup/vault:Vault": Decision(
        "retain", "AWS Backup refuses to delete a vault that holds recovery points (DeleteBackupVault: "
        "'the vault must be empty'); the backups outlive the cluster until their lifecycle expires them"),
    "aws:s3/bucket:Bucket": Decision(
        "retain", "Loki's chunks and index: a destroy or a switch of observability.logs.backend would fail "
        "with BucketNotEmpty; retained with its lifecycle rule, the bucket empties itself within "
        "retentionDays + 1 days and then costs nothing"),
    # the bucket's protections stay with it: deleting them would leave a retained bucket without its
    # TLS-only policy, public access block, encryption default or expiry
    "aws:s3/bucketPolicy:BucketPolicy": Decision("retain", "the TLS-only policy of a retained bucket"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": Decision(
        "retain", "the public access block of a retained bucket"),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": Decision(
        "retain", "the ACL-less ownership of a retained bucket"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": Decision(
        "retain", "the KMS default encryption of a retained bucket"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": Decision(
        "retain", "the expiry that empties a retained bucket"),
    "aws:efs/fileSystem:FileSystem": Decision(
        "retain", "the files of every ReadWriteMany claim (deleting a claim keeps its directory, so the file "
        "system is the only copy); its mount targets and security group are deleted, so the VPC can go"),
    "aws:efs/fileSystemPolicy:FileSystemPolicy": Decision("retain", "the TLS-only policy of a retained file system"),
    "aws:efs/backupPolicy:BackupPolicy": Decision("retain", "the automatic backups of a retained file system"),
    "aws:kms/key:Key": Decision(
        "follows", "retained with what it encrypts; otherwise scheduled for deletion after the deletion window"),
    "aws:cloudwatch/logGroup:LogGroup": Decision(
        "delete", "its name is fixed (EKS writes /aws/eks/<cluster>/cluster, the platform /aws/eks/<cluster>/"
        "containers and the flow-log group): a retained group would make the next `up` of the same stack fail "
        "with ResourceAlreadyExistsException; export what must be kept before a destroy"),
    "kubernetes:storage.k8s.io/v1:StorageClass": Decision(
        "reclaim", "reclaimPolicy Delete: a claim's volume goes with the claim; the platform's own claims "
        "(Prometheus, Loki) go with their StatefulSets, before the CSI driver (it comes first on create)"),
}

# Types that hold data in AWS or Kubernetes. A resource of one of these types with no entry in DECISIONS
# fails the deletion test: the next add-on that stores something has to decide.
DATA_TYPES: frozenset[str] = frozenset({
    *DECISIONS,
    "aws:s3/bucketV2:BucketV2", "aws:dynamodb/table:Table", "aws:rds/instance:Instance", "aws:rds/cluster:Cluster",
    "aws:ecr/repository:Repository", "aws:ebs/volume:Volume", "aws:ebs/snapshot:Snapshot",
    "aws:secretsmanager/secret:Secret", "aws:ssm/parameter:Parameter", "aws:elasticache/cluster:Cluster",
    "aws:opensearch/domain:Domain", "aws:fsx/lustreFileSystem:LustreFileSystem",
    "kubernetes:core/v1:PersistentVolume", "kubernetes:core/v1:PersistentVolumeClaim",
})
