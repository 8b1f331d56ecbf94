"""Nothing is deleted by surprise: every resource that holds data follows components/core/deletion.py.

Over every stack and the URN variants (plus Loki on EKS, which no stack file uses by default).
"""

from __future__ import annotations

import json
import re

import pytest

from components.core.deletion import DATA_TYPES, DECISIONS
from components.observability.logging import loki_bucket_prefix
from harness import charts
from harness.mocks import Recording
from harness.program import run_stack
from harness.urns import VARIANTS

LOKI = {"eks-platform:observability": {"logs": {"backend": "loki"}}}
CASES = {**VARIANTS, "dev-loki": ("dev", LOKI)}
# S3 user guide, general purpose bucket naming rules
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def evaluate(case: str) -> Recording:
    stack, overrides = CASES[case]
    return run_stack(stack, overrides=overrides)


def retained_key_arns(rec: Recording) -> set[str]:
    """ARNs of the KMS keys a retained resource is encrypted with (named anywhere in its inputs)."""
    keys = {r.outputs.get("arn"): r for r in rec.of_type("aws:kms/key:Key")}
    text = " ".join(json.dumps(r.inputs, default=str) for r in rec if r.retain_on_delete and r.type != "aws:kms/key:Key")
    return {arn for arn in keys if arn and arn in text}


@pytest.mark.parametrize("case", list(CASES))
def test_every_data_holder_has_a_decision_and_follows_it(case):
    rec = evaluate(case)
    retained_keys = retained_key_arns(rec)
    wrong = []
    for r in (r for r in rec if r.custom):
        decision = DECISIONS.get(r.type)
        if decision is None:
            if r.type in DATA_TYPES:
                wrong.append(f"{r.type} {r.name}: holds data and has no decision in components/core/deletion.py")
            elif r.retain_on_delete:
                wrong.append(f"{r.type} {r.name}: retained on delete without a decision in the table")
            continue
        if decision.action == "retain" and not r.retain_on_delete:
            wrong.append(f"{r.type} {r.name}: the table retains it; it has no retain_on_delete")
        elif decision.action in ("delete", "reclaim") and r.retain_on_delete:
            wrong.append(f"{r.type} {r.name}: retained, the table says {decision.action}")
        elif decision.action == "reclaim" and r.inputs.get("reclaimPolicy") != "Delete":
            wrong.append(f"{r.type} {r.name}: reclaimPolicy {r.inputs.get('reclaimPolicy')!r}, the table says Delete")
        elif decision.action == "follows" and r.retain_on_delete != (r.outputs.get("arn") in retained_keys):
            wrong.append(f"{r.type} {r.name}: retained={r.retain_on_delete}, but it encrypts "
                         f"{'a' if r.outputs.get('arn') in retained_keys else 'no'} retained resource")
        if r.type == "aws:s3/bucket:Bucket" and r.inputs.get("forceDestroy"):
            wrong.append(f"{r.type} {r.name}: force-destroyed and retained")
    assert wrong == []


def test_the_backup_vault_and_its_key_outlive_a_destroy():
    rec = evaluate("prod")
    vault = rec.one("aws:backup/vault:Vault")
    key = next(k for k in rec.of_type("aws:kms/key:Key") if k.outputs["arn"] == vault.inputs["kmsKeyArn"])
    assert vault.retain_on_delete and key.retain_on_delete


def test_lokis_bucket_its_key_and_its_protections_outlive_a_destroy():
    rec = evaluate("dev-loki")
    bucket = rec.one("aws:s3/bucket:Bucket")
    assert bucket.retain_on_delete and not bucket.inputs.get("forceDestroy")
    companions = [r for r in rec if r.type.startswith("aws:s3/bucket") and r is not bucket]
    assert {r.type.split(":")[-1] for r in companions} >= {
        "BucketPolicy", "BucketPublicAccessBlock", "BucketLifecycleConfiguration",
        "BucketServerSideEncryptionConfiguration", "BucketOwnershipControls"}
    assert all(r.retain_on_delete for r in companions)
    # the log groups are not retained: their fixed names would collide with the next up of the stack
    assert rec.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert not any(g.retain_on_delete for g in rec.of_type("aws:cloudwatch/logGroup:LogGroup"))


@pytest.mark.parametrize("cluster_name", ["Platform_Dev", "eks-platform-dev", "A" * 100, "xn--team", "sthree-x",
                                          "team_-_a"])
def test_lokis_bucket_prefix_is_valid_for_every_eks_cluster_name(cluster_name):
    prefix = loki_bucket_prefix(cluster_name)
    assert len(prefix) <= 37  # the provider's bucket_prefix limit; it appends 26 characters
    name = prefix + "2026120612000000000000000a"
    assert BUCKET_NAME.match(name), name
    assert not name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) and ".." not in name


def test_a_cluster_name_with_capitals_and_underscores_gets_a_valid_bucket():
    rec = run_stack("dev", overrides={**LOKI, "eks-platform:cluster": {"name": "Team_Platform"}})
    assert rec.one("aws:s3/bucket:Bucket").inputs["bucketPrefix"] == "team-platform-loki-"


def _claims_volumes(obj: dict) -> bool:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "StatefulSet":
        return bool(spec.get("volumeClaimTemplates"))
    if obj.get("kind") in ("Prometheus", "Alertmanager"):
        return bool((spec.get("storage") or {}).get("volumeClaimTemplate"))
    return False


@pytest.mark.parametrize("case", ["prod", "dev-loki"])
def test_the_platforms_claims_go_with_their_releases_before_the_csi_driver(case):
    """Every StatefulSet (or operator-made one) that a platform chart gives claims deletes them with
    itself, so their volumes are deleted while the CSI driver, which the release comes after, runs."""
    rec = evaluate(case)
    claimed = []
    for release in charts.releases(rec):
        for obj in charts.render_release(release):
            if _claims_volumes(obj):
                claimed.append(obj["metadata"]["name"])
                policy = (obj.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
                assert policy.get("whenDeleted") == "Delete", (release.name, obj["kind"], obj["metadata"]["name"])
                if CASES[case][0] != "local":
                    driver = next(a for a in rec.of_type("aws:eks/addon:Addon")
                                  if a.inputs["addonName"] == "aws-ebs-csi-driver")
                    assert rec.waits_for(release, driver), release.name
    assert claimed  # Prometheus at least
