"""platform:observability:Logging: Fluent Bit to CloudWatch Logs (EKS default) or to Loki (S3 on EKS,
its volume on kind), none on kind by default; IAM scoped to the cluster's log group or Loki's bucket;
the bucket's encryption, public access block, expiry and TLS-only policy; Grafana's Loki data source;
ordering; bad config."""

from __future__ import annotations

import json

import pytest

from components.core.names import LOKI_URL
from components.observability import logging as logging_addon
from components.observability.logging import NAMESPACE, TYPE, LoggingAddOn
from harness import run_stack
from harness.upstream import chart_missing_paths
from settings import ConfigError, parse_settings
from tests.conftest import build_addon

RELEASE = "kubernetes:helm.sh/v3:Release"
LOKI = {"eks-platform:observability": {"logs": {"backend": "loki"}}}
EXISTING = {"eks-platform:observability": {"logs": {"backend": "loki", "loki": {"bucket": {
    "create": False, "name": "acme-logs"}}}}}


def existing():
    """Logging alone with an existing bucket: the bucket, its policy and both charts are all its own."""
    return build_addon(LoggingAddOn, "dev", observability=EXISTING["eks-platform:observability"])

# Key paths the charts' values.yaml have (no copy of either is in shared/upstream): read from aws/eks-charts
# stable/aws-for-fluent-bit 0.2.0 and grafana-community/helm-charts charts/loki 18.11.0. Maps the chart
# passes through whole (resources, nodeSelector, schemaConfig, limits_config, compactor, ...) end a path.
# Commented-out in the files but documented: additionalOutputs (the chart's README table of values) and
# loki.storage.bucketNames (values.yaml: "Please provide these values if you are using object storage").
CHART_KEY_PATHS = {
    "aws-for-fluent-bit": {
        "additionalOutputs", "cloudWatchLogs.autoCreateGroup", "cloudWatchLogs.enabled",
        "cloudWatchLogs.logGroupName", "cloudWatchLogs.logStreamPrefix", "cloudWatchLogs.region", "resources",
        "serviceAccount.annotations", "serviceAccount.create", "serviceAccount.name", "serviceMonitor.enabled",
        "tolerations"},
    "loki": {
        "backend.replicas", "chunksCache.enabled", "deploymentMode", "gateway.enabled", "loki.auth_enabled",
        "loki.commonConfig.replication_factor", "loki.compactor", "loki.limits_config", "loki.schemaConfig",
        "loki.storage.bucketNames", "loki.storage.s3.region", "loki.storage.type", "lokiCanary.enabled",
        "monitoring.serviceMonitor.enabled", "read.replicas", "resultsCache.enabled", "serviceAccount.annotations",
        "serviceAccount.create", "serviceAccount.name", "singleBinary.nodeSelector",
        "singleBinary.persistence.enableStatefulSetAutoDeletePVC", "singleBinary.persistence.enabled",
        "singleBinary.persistence.size", "singleBinary.persistence.storageClass",
        "singleBinary.persistence.whenDeleted", "singleBinary.persistence.whenScaled",
        "singleBinary.replicas", "singleBinary.resources", "singleBinary.tolerations", "test.enabled",
        "write.replicas"},
}


def key_paths(values, allowed, prefix=""):
    """The dotted paths of ``values``, stopping at a path ``allowed`` names."""
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path not in allowed and isinstance(value, dict) and value:
            out += key_paths(value, allowed, f"{path}.")
        else:
            out.append(path)
    return out


def releases(rec):
    return {r.inputs["chart"]: r for r in rec.of_type(RELEASE)}


def policy_of(rec, name):
    return json.loads(rec.one("aws:iam/policy:Policy", name).inputs["policy"])


@pytest.fixture(scope="module")
def dev():
    return run_stack("dev")


@pytest.fixture(scope="module")
def loki():
    return run_stack("dev", overrides=LOKI)


def test_cloudwatch_is_the_eks_default_with_an_encrypted_retained_log_group(dev):
    group = dev.one("aws:cloudwatch/logGroup:LogGroup", "dev-logging-containers")
    assert group.inputs["name"] == "/aws/eks/eks-platform-dev/containers"
    assert group.inputs["retentionInDays"] == 7
    key = dev.one("aws:kms/key:Key", "dev-logging-logs")
    assert key.inputs["enableKeyRotation"] is True and group.inputs["kmsKeyId"] == key.outputs["arn"]
    # CloudWatch Logs may use the key for this group only
    (logs,) = [s for s in json.loads(key.inputs["policy"])["Statement"] if s["Principal"].get("Service")]
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"].endswith(
        ":log-group:/aws/eks/eks-platform-dev/containers")
    assert run_stack("prod").one("aws:cloudwatch/logGroup:LogGroup", "prod-logging-containers").inputs[
        "retentionInDays"] == 365


def test_fluent_bit_may_only_write_its_log_group_through_pod_identity(dev):
    (stmt,) = policy_of(dev, "dev-logging-fluent-bit")["Statement"]
    arn = dev.one("aws:cloudwatch/logGroup:LogGroup", "dev-logging-containers").outputs["arn"]
    assert sorted(stmt["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert stmt["Resource"] == [arn, f"{arn}:*"]
    association = dev.one("aws:eks/podIdentityAssociation:PodIdentityAssociation",
                          "dev-logging-fluent-bit-pod-identity")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (NAMESPACE, "fluent-bit")
    release = releases(dev)["aws-for-fluent-bit"]
    assert dev.waits_for(release, association)
    assert dev.waits_for(release, dev.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                                          "dev-logging-fluent-bit-policy"))


def test_fluent_bit_values(dev):
    release = releases(dev)["aws-for-fluent-bit"]
    values = release.inputs["values"]
    assert release.inputs["version"] == "0.2.0" and release.inputs["namespace"] == NAMESPACE
    assert values["cloudWatchLogs"] == {"enabled": True, "region": "us-east-1", "autoCreateGroup": False,
                                        "logGroupName": "/aws/eks/eks-platform-dev/containers",
                                        "logStreamPrefix": "node-"}
    # a DaemonSet on every node, the tainted system nodes too
    assert values["tolerations"] == [{"operator": "Exists"}]
    assert values["serviceMonitor"] == {"enabled": True}
    assert dev.waits_for(release, dev.one("kubernetes:yaml/v2:ConfigGroup"))
    assert "additionalOutputs" not in values


@pytest.mark.parametrize(("stack", "overrides"), [("dev", None), ("dev", LOKI), ("local", LOKI), ("dev", EXISTING)])
def test_values_use_only_key_paths_the_charts_have(stack, overrides):
    # both charts checked here are the logging add-on's own
    rec = existing() if overrides is EXISTING else run_stack(stack, overrides=overrides)
    for chart, release in releases(rec).items():
        if chart in CHART_KEY_PATHS:
            allowed = CHART_KEY_PATHS[chart]
            assert sorted(set(key_paths(release.inputs["values"], allowed)) - allowed) == [], chart


def test_loki_bucket_is_encrypted_private_expiring_and_tls_only(loki):
    bucket = loki.one("aws:s3/bucket:Bucket", "dev-logging-loki")
    assert bucket.inputs["bucketPrefix"] == "eks-platform-dev-loki-" and bucket.inputs["forceDestroy"] is False
    block = loki.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                  "restrictPublicBuckets"))
    sse = loki.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    (rule,) = sse.inputs["rules"]
    key = loki.one("aws:kms/key:Key", "dev-logging-loki")
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms",
                                                          "kmsMasterKeyId": key.outputs["arn"]}
    assert key.inputs["enableKeyRotation"] is True
    lifecycle = loki.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert {r["id"]: r.get("expiration", {}).get("days") for r in lifecycle} == {
        "expire": 8, "abort-incomplete-uploads": None}
    (deny,) = json.loads(loki.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert loki.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")


def test_loki_role_reads_and_writes_its_bucket_only(loki):
    statements = {s["Sid"]: s for s in policy_of(loki, "dev-logging-loki")["Statement"]}
    arn = loki.one("aws:s3/bucket:Bucket").outputs["arn"]
    assert statements["ListTheBucket"]["Resource"] == arn
    assert statements["ReadWriteObjects"]["Resource"] == f"{arn}/*"
    assert statements["UseTheBucketKey"]["Resource"] == loki.one("aws:kms/key:Key", "dev-logging-loki").outputs["arn"]
    association = loki.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "dev-logging-loki-pod-identity")
    assert association.inputs["serviceAccount"] == "loki"
    assert loki.waits_for(releases(loki)["loki"], association)
    # no log group, no CloudWatch role with the loki backend
    assert not loki.of_type("aws:cloudwatch/logGroup:LogGroup") or all(
        g.name != "dev-logging-containers" for g in loki.of_type("aws:cloudwatch/logGroup:LogGroup"))


def test_loki_values_and_the_shipper_after_it(loki):
    rel = releases(loki)
    values = rel["loki"].inputs["values"]
    assert rel["loki"].inputs["version"] == "18.11.0"
    assert values["deploymentMode"] == "Monolithic" and values["singleBinary"]["replicas"] == 1
    assert all(values[t] == {"replicas": 0} for t in ("read", "write", "backend"))
    bucket = "dev-logging-loki-id"  # the bucket's id (its name), as the mocks answer it
    storage = values["loki"]["storage"]
    assert storage["type"] == "s3" and set(storage["bucketNames"].values()) == {bucket}
    assert values["loki"]["limits_config"] == {"retention_period": "168h"}
    assert values["loki"]["compactor"] == {"retention_enabled": True, "delete_request_store": "s3"}
    assert values["singleBinary"]["persistence"]["storageClass"] == "gp3"
    shipper = rel["aws-for-fluent-bit"]
    assert shipper.inputs["values"]["cloudWatchLogs"] == {"enabled": False}
    assert "Name        loki" in shipper.inputs["values"]["additionalOutputs"]
    assert loki.waits_for(shipper, rel["loki"])
    grafana = rel["kube-prometheus-stack"].inputs["values"]["grafana"]
    assert grafana["additionalDataSources"] == [{"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy",
                                                 "url": LOKI_URL}]
    assert chart_missing_paths("kube-prometheus-stack", rel["kube-prometheus-stack"].inputs["values"]) == []
    assert "additionalDataSources" not in releases(run_stack("dev"))["kube-prometheus-stack"].inputs["values"][
        "grafana"]


def test_an_existing_bucket_is_used_as_named():
    rec = existing()
    assert not rec.of_type("aws:s3/bucket:Bucket")
    statements = {s["Sid"]: s for s in policy_of(rec, "dev-logging-loki")["Statement"]}
    assert statements["ReadWriteObjects"]["Resource"] == "arn:aws:s3:::acme-logs/*"
    assert "UseTheBucketKey" not in statements
    assert set(releases(rec)["loki"].inputs["values"]["loki"]["storage"]["bucketNames"].values()) == {"acme-logs"}


def test_kind_has_no_logs_by_default_and_loki_on_its_volume():
    assert not run_stack("local").of_type(TYPE)
    rec = run_stack("local", overrides=LOKI)
    values = releases(rec)["loki"].inputs["values"]
    assert values["loki"]["storage"] == {"type": "filesystem"}
    assert values["singleBinary"]["persistence"]["storageClass"] == "standard"
    assert not [r for r in rec if r.type.startswith("aws:")]


def test_the_aws_side_does_not_wait_for_nodes(dev, loki):
    for rec, names in ((dev, ("dev-logging-containers", "dev-logging-fluent-bit")),
                       (loki, ("dev-logging-loki",))):
        groups = rec.of_type("aws:eks/nodeGroup:NodeGroup")
        for res in (r for r in rec if r.name in names and r.type.startswith("aws:")):
            assert not any(rec.waits_for(res, g) for g in groups), res.name


R = {"aws:region": "us-east-1"}


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), [
    ("dev", {"observability": {"logs": {"backend": "syslog"}}}, "observability.logs.backend",
     "'cloudwatch', 'loki' or 'none'"),
    ("local", {"observability": {"logs": {"backend": "cloudwatch"}}}, "observability.logs.backend", "'loki' or 'none'"),
    ("dev", {"observability": {"logs": {"backend": "loki", "loki": {"bucket": {"create": False}}}}},
     "observability.logs.loki.bucket.name", "name of an existing S3 bucket"),
    ("dev", {"observability": {"logs": {"backend": "loki", "loki": {"bucket": {"create": False,
                                                                              "name": "Bad_Bucket"}}}}},
     "observability.logs.loki.bucket.name", "S3 bucket name"),
    ("local", {"observability": {"logs": {"backend": "loki", "loki": {"bucket": {"create": True}}}}},
     "observability.logs.loki.bucket", "on kind Loki keeps its data on its volume"),
    ("dev", {"observability": {"logs": {"loki": {"storageGib": 20}}}}, "observability.logs.loki",
     "only applies with eks-platform:observability.logs.backend 'loki'"),
    ("dev", {"observability": {"logs": {"retentionDays": 10}}}, "observability.logs.retentionDays", "one of [1, 3"),
    ("dev", {"observability": {"logs": {"backend": "loki", "loki": {"storageGib": 1}}}},
     "observability.logs.loki.storageGib", "from 5 to 16384"),
])
def test_bad_config_names_the_key(stack, raw, key, valid):
    with pytest.raises(ConfigError) as err:
        parse_settings({**(R if stack != "local" else {}), **raw}, stack)
    assert f"eks-platform:{key}" in str(err.value) and valid in str(err.value), str(err.value)


def test_the_shared_loki_url_is_the_logging_addons_service():
    # names.LOKI_URL is what Grafana's datasource uses; the logging add-on names the Service and port
    service, port = logging_addon.LOKI, logging_addon.LOKI_PORT
    assert f"http://{service}.{NAMESPACE}.svc.cluster.local:{port}" == LOKI_URL
