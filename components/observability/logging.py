"""Container logs: Fluent Bit on every node, shipping to CloudWatch Logs (EKS) or to Loki (EKS and kind).

Comes after compute (a DaemonSet needs nodes), after the monitoring CRDs (its ServiceMonitors, when
monitoring is on) and, on EKS, after the EBS CSI driver (Loki's volume). The AWS side (a KMS key, the log
group or the bucket, the IAM role and its Pod Identity association) starts with the cluster.

Why the ``aws-for-fluent-bit`` chart, not the Amazon CloudWatch Observability EKS add-on: the add-on also
installs the CloudWatch agent and Container Insights (billed per metric, and the platform's metrics are
Prometheus'), writes to log groups of fixed names it creates itself, and its documented role policy is
CloudWatchAgentServerPolicy (every log group of the account). The chart is Fluent Bit alone, its values are
visible to the tests like every other release, and the role may write to this cluster's log group only.
aws-for-fluent-bit reads EKS Pod Identity credentials since 2.32.5 (aws/aws-for-fluent-bit#888); the chart's
3.2.1 image has them. The same chart ships to Loki through Fluent Bit's built-in ``loki`` output, so one
shipper serves both backends (and kind).

Facts relied on:
- aws/eks-charts stable/aws-for-fluent-bit 0.2.0 values.yaml (appVersion 3.2.1): ``cloudWatchLogs.{enabled,
  region, logGroupName, logStreamPrefix, autoCreateGroup}``, ``additionalOutputs`` (a raw [OUTPUT] section),
  ``serviceAccount.{create,name,annotations}``, ``tolerations``, ``resources``, ``serviceMonitor.enabled``;
  it mounts /var/log from the host, so its namespace has no restricted Pod Security label;
- Fluent Bit's cloudwatch_logs output (docs.fluentbit.io, outputs/cloudwatch, "Permissions"): with
  ``auto_create_group`` off it needs logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents;
- the OSS Loki chart moved to grafana-community/helm-charts on 2026-03-16 (grafana/loki's chart README: the one
  there is for Grafana Enterprise Logs only); its charts/loki 18.11.0 values.yaml (Loki 3.7.6):
  ``deploymentMode: Monolithic`` (formerly SingleBinary) with ``singleBinary.replicas`` and
  ``read``/``write``/``backend`` at 0 (their defaults are 3); ``loki.storage.{type, bucketNames, s3.region}``;
  ``loki.schemaConfig`` (required; tsdb, v13); ``loki.limits_config.retention_period`` with
  ``loki.compactor.retention_enabled`` and ``delete_request_store``; the memcached caches, canary, gateway and
  test (all on by default) off for one binary; its Service is ``loki.fullname`` (the release name) on
  ``loki.server.http_listen_port`` 3100; ``monitoring.serviceMonitor.enabled``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

import versions
from components.core import helm
from components.core.addon import AddOn
from components.core.common import (
    RETAIN,
    PlatformComponent,
    child_opts,
    log_group_key_policy,
    policy_document,
    statement,
    workload_identity,
)
from components.core.handle import ClusterHandle
from components.core.names import EBS_STORAGE_CLASS as STORAGE_CLASS
from components.core.names import KIND_STORAGE_CLASS, LOGGING_NAMESPACE, LOKI_URL
from settings import gates
from settings.observability import LogsSettings

TYPE = "platform:observability:Logging"
NAMESPACE = LOGGING_NAMESPACE
FLUENT_BIT, FLUENT_BIT_SA = "aws-for-fluent-bit", "fluent-bit"
LOKI, LOKI_SA, LOKI_PORT = "loki", "loki", 3100
# the first day of Loki's schema: any date before the first write (Loki schema_config, "from")
LOKI_SCHEMA_FROM = "2026-01-01"


def log_group_name(cluster_name: str) -> str:
    """The cluster's container log group (EKS writes control-plane logs to /aws/eks/<cluster>/cluster)."""
    return f"/aws/eks/{cluster_name}/containers"


# S3 bucket naming rules (S3 user guide, "General purpose bucket naming rules"): 3-63 characters of lower-case
# letters, digits, dots and hyphens, starting and ending with a letter or digit, and none of these prefixes
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


def loki_bucket_prefix(cluster_name: str) -> str:
    """A valid S3 ``bucket_prefix`` from an EKS cluster name, which may hold upper-case letters and ``_``
    (``[0-9A-Za-z][A-Za-z0-9_-]*``, up to 100): lower-cased, ``_`` as ``-``, at most 30 characters, so the
    prefix stays within the provider's 37 and the 26 characters it appends keep the name under 63."""
    base = cluster_name.lower().replace("_", "-")[:30].rstrip("-")
    if base.startswith(S3_RESERVED_PREFIXES):
        base = f"eks-{base}"[:30].rstrip("-")
    return f"{base}-loki-"


@dataclass(frozen=True, kw_only=True)
class LoggingArgs:
    cluster: ClusterHandle
    """EKS (CloudWatch Logs or Loki on S3) or kind (Loki on its volume)."""
    backend: str
    """cloudwatch or loki (the add-on is off with none)."""
    settings: LogsSettings
    """Retention and Loki's storage."""
    service_monitor: bool = False
    """Monitoring is on: the charts make their ServiceMonitors."""

    def __post_init__(self) -> None:
        if self.backend not in ("cloudwatch", "loki"):
            raise ValueError(f"backend {self.backend!r}: cloudwatch or loki")
        if self.backend == "cloudwatch" and self.cluster.aws is None:
            raise ValueError("the cloudwatch backend needs AWS; the cluster handle has no AWS facts")


def fluent_bit_values(cluster: ClusterHandle, args: LoggingArgs, annotations: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "serviceAccount": {"create": True, "name": FLUENT_BIT_SA, "annotations": dict(annotations)},
        # on every node, the tainted system nodes included
        "tolerations": [{"operator": "Exists"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "serviceMonitor": {"enabled": args.service_monitor},
    }
    if args.backend == "cloudwatch":
        assert cluster.aws is not None
        values["cloudWatchLogs"] = {
            "enabled": True, "region": cluster.aws.region, "logGroupName": log_group_name(cluster.physical_name),
            "logStreamPrefix": "node-",
            # the platform creates the group, encrypted and with its retention; the role may not create groups
            "autoCreateGroup": False,
        }
    else:
        values["cloudWatchLogs"] = {"enabled": False}
        values["additionalOutputs"] = "\n".join([
            "[OUTPUT]",
            "    Name        loki",
            "    Match       kube.*",
            f"    Host        {LOKI}.{NAMESPACE}.svc.cluster.local",
            f"    Port        {LOKI_PORT}",
            f"    Labels      job=fluent-bit, cluster={cluster.physical_name}",
            "    Label_keys  $kubernetes['namespace_name'],$kubernetes['pod_name'],$kubernetes['container_name']",
            "    Line_format json",
        ])
    return values


def loki_values(cluster: ClusterHandle, args: LoggingArgs, bucket: pulumi.Input[str] | None,
                annotations: dict[str, Any]) -> dict[str, Any]:
    s3 = cluster.aws is not None
    store = "s3" if s3 else "filesystem"
    storage: dict[str, Any] = {"type": store}
    if s3:
        assert cluster.aws is not None and bucket is not None
        storage["bucketNames"] = {"chunks": bucket, "ruler": bucket, "admin": bucket}
        storage["s3"] = {"region": cluster.aws.region}
    return {
        "deploymentMode": "Monolithic",
        "loki": {
            # one tenant: the platform's logs; Grafana reads them without a tenant header
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": storage,
            "schemaConfig": {"configs": [{"from": LOKI_SCHEMA_FROM, "store": "tsdb", "object_store": store,
                                          "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]},
            "limits_config": {"retention_period": f"{args.settings.retention_days * 24}h"},
            "compactor": {"retention_enabled": True, "delete_request_store": store},
        },
        "singleBinary": {
            "replicas": 1,
            # enableStatefulSetAutoDeletePVC (chart default false; whenDeleted defaults to Delete): the claim
            # goes with the StatefulSet when the release is uninstalled, while the EBS CSI driver (this
            # release comes after it) still runs to delete the volume; otherwise the claim outlives
            # the release and its volume may outlive the driver (loki chart 18.11.0 values.yaml)
            "persistence": {"enabled": True, "size": f"{args.settings.loki.storage_gib}Gi",
                            "storageClass": STORAGE_CLASS if s3 else KIND_STORAGE_CLASS,
                            "enableStatefulSetAutoDeletePVC": True, "whenDeleted": "Delete", "whenScaled": "Retain"},
            "nodeSelector": dict(cluster.system_node_selector),
            "tolerations": list(cluster.system_tolerations),
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        },
        "read": {"replicas": 0}, "write": {"replicas": 0}, "backend": {"replicas": 0},
        # memcached caches want gigabytes of memory; a single binary caches in process
        "chunksCache": {"enabled": False}, "resultsCache": {"enabled": False},
        "gateway": {"enabled": False}, "lokiCanary": {"enabled": False}, "test": {"enabled": False},
        "serviceAccount": {"create": True, "name": LOKI_SA, "annotations": dict(annotations)},
        "monitoring": {"serviceMonitor": {"enabled": args.service_monitor}},
    }


class Logging(PlatformComponent):
    fluent_bit: k8s.helm.v3.Release
    loki: k8s.helm.v3.Release | None = None
    log_group: aws.cloudwatch.LogGroup | None = None
    bucket: aws.s3.Bucket | None = None

    def __init__(self, name: str, args: LoggingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster = args.cluster
        # Fluent Bit reads the nodes' /var/log through hostPath volumes: only privileged admits them
        namespace = helm.namespace(f"{name}-namespace", self, cluster, NAMESPACE,
                                   labels=helm.pod_security("privileged"))
        fluent_bit_ready: list[pulumi.Resource] = []
        fluent_bit_annotations: dict[str, Any] = {}
        if args.backend == "cloudwatch":
            identity = self._cloudwatch(name, cluster, args)
            fluent_bit_ready, fluent_bit_annotations = identity.ready, identity.service_account_annotations
        else:
            bucket_name: pulumi.Input[str] | None = None
            loki_ready: list[pulumi.Resource] = []
            annotations: dict[str, Any] = {}
            if cluster.aws is not None:
                bucket_name, identity = self._loki_bucket(name, cluster, args)
                loki_ready, annotations = identity.ready, identity.service_account_annotations
            self.loki = helm.release(
                f"{name}-loki", self, cluster, LOKI, namespace=namespace.metadata.name,
                values=loki_values(cluster, args, bucket_name, annotations), timeout_seconds=900,
                # its bucket permissions before it starts (and until it is gone)
                opts=pulumi.ResourceOptions(depends_on=loki_ready))
            # the shipper after Loki: its first batches would otherwise be retried against nothing
            fluent_bit_ready = [self.loki]
        self.fluent_bit = helm.release(
            f"{name}-fluent-bit", self, cluster, FLUENT_BIT, namespace=namespace.metadata.name,
            values=fluent_bit_values(cluster, args, fluent_bit_annotations),
            opts=pulumi.ResourceOptions(depends_on=fluent_bit_ready))
        self.register_outputs({
            "backend": args.backend,
            "chart_versions": {c: versions.CHARTS[c].version for c in (FLUENT_BIT, *([LOKI] if self.loki else []))},
            "log_group": self.log_group.name if self.log_group is not None else None,
            "bucket": self.bucket.bucket if self.bucket is not None else None,
            "loki_url": LOKI_URL if args.backend == "loki" else None,
        })

    def _cloudwatch(self, name: str, cluster: ClusterHandle, args: LoggingArgs):
        facts = cluster.aws
        assert facts is not None
        group = log_group_name(cluster.physical_name)
        key = aws.kms.Key(f"{name}-logs", description=f"container logs of {cluster.physical_name}",
                          enable_key_rotation=True,
                          policy=log_group_key_policy(facts.account_id, facts.partition, facts.region, group),
                          tags=facts.tags, opts=child_opts(self))
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-containers", name=group, retention_in_days=args.settings.retention_days, kms_key_id=key.arn,
            tags=facts.tags,
            # a fixed name: replaced delete-first (tests/stacks/test_replace_safety.py)
            opts=child_opts(self, pulumi.ResourceOptions(delete_before_replace=True)))
        policy = aws.iam.Policy(
            f"{name}-fluent-bit", description=f"Fluent Bit of {cluster.physical_name}: write its log group",
            policy=policy_document(statement(
                "WriteThisClusterLogGroup", ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [self.log_group.arn, pulumi.Output.concat(self.log_group.arn, ":*")])),
            tags=facts.tags, opts=child_opts(self))
        return workload_identity(f"{name}-fluent-bit", self, cluster_name=cluster.name, namespace=NAMESPACE,
                                 service_account=FLUENT_BIT_SA, mode=facts.identity, oidc=facts.oidc,
                                 policy_arns={"policy": policy.arn}, tags=facts.tags)

    def _loki_bucket(self, name: str, cluster: ClusterHandle, args: LoggingArgs):
        facts = cluster.aws
        assert facts is not None
        bucket_settings = args.settings.loki.bucket
        key_arns: list[pulumi.Input[str]] = []
        if bucket_settings is None or bucket_settings.create:
            key = aws.kms.Key(f"{name}-loki", description=f"Loki's bucket of {cluster.physical_name}",
                              enable_key_rotation=True, tags=facts.tags, opts=child_opts(self, RETAIN))
            # Retained, with its key and every setting that protects it (components/core/deletion.py): a
            # destroy or a switch of observability.logs.backend would otherwise fail with BucketNotEmpty.
            # Its lifecycle rule empties it within retentionDays + 1 days (docs/operations.md, "After a destroy")
            key_arns.append(key.arn)
            self.bucket = aws.s3.Bucket(f"{name}-loki", bucket_prefix=loki_bucket_prefix(cluster.physical_name),
                                        force_destroy=False, tags=facts.tags, opts=child_opts(self, RETAIN))
            bucket_id, bucket_arn = self.bucket.id, self.bucket.arn
            aws.s3.BucketPublicAccessBlock(f"{name}-loki", bucket=bucket_id, block_public_acls=True,
                                           block_public_policy=True, ignore_public_acls=True,
                                           restrict_public_buckets=True, opts=child_opts(self, RETAIN))
            aws.s3.BucketOwnershipControls(f"{name}-loki", bucket=bucket_id,
                                           rule={"object_ownership": "BucketOwnerEnforced"},
                                           opts=child_opts(self, RETAIN))
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-loki", bucket=bucket_id,
                rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                    "kms_master_key_id": key.arn},
                        # S3 Bucket Keys: one KMS request per bucket key, not per object
                        "bucket_key_enabled": True}], opts=child_opts(self, RETAIN))
            # Loki's compactor deletes by retention; the expiry is the backstop for what it leaves behind
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-loki", bucket=bucket_id, rules=[
                    {"id": "expire", "status": "Enabled", "filter": {"prefix": ""},
                     "expiration": {"days": args.settings.retention_days + 1}},
                    {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {"prefix": ""},
                     "abort_incomplete_multipart_upload": {"days_after_initiation": 1}}],
                opts=child_opts(self, RETAIN))
            aws.s3.BucketPolicy(f"{name}-loki", bucket=bucket_id, policy=policy_document(statement(
                "DenyInsecureTransport", ["s3:*"], [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
                effect="Deny", principal={"AWS": "*"}, condition={"Bool": {"aws:SecureTransport": "false"}})),
                opts=child_opts(self, RETAIN))
        else:
            bucket_id = bucket_settings.name
            bucket_arn = f"arn:{facts.partition}:s3:::{bucket_settings.name}"
        statements = [
            statement("ListTheBucket", ["s3:ListBucket"], bucket_arn),
            statement("ReadWriteObjects", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                      pulumi.Output.concat(bucket_arn, "/*")),
        ]
        if key_arns:
            statements.append(statement("UseTheBucketKey", ["kms:Decrypt", "kms:GenerateDataKey"], key_arns[0]))
        policy = aws.iam.Policy(f"{name}-loki", description=f"Loki of {cluster.physical_name}: its bucket",
                                policy=policy_document(*statements), tags=facts.tags, opts=child_opts(self))
        identity = workload_identity(f"{name}-loki", self, cluster_name=cluster.name, namespace=NAMESPACE,
                                     service_account=LOKI_SA, mode=facts.identity, oidc=facts.oidc,
                                     policy_arns={"policy": policy.arn}, tags=facts.tags)
        return bucket_id, identity


class LoggingAddOn(AddOn):
    """Container logs to CloudWatch Logs (EKS) or Loki (EKS and kind); off with backend none."""

    key = "logging"
    gate = gates.LOGGING

    @classmethod
    def enabled(cls, settings):
        return settings.logs_backend != "none"

    @classmethod
    def build(cls, name, cluster, settings):
        return Logging(name, LoggingArgs(cluster=cluster, backend=settings.logs_backend,
                                         settings=settings.observability.logs,
                                         service_monitor=settings.observability.metrics.enabled))

