"""platform:storage:EbsBackup: the vault and its key, the daily plan per tier, the service role, the
selection of EBS volumes by the tag the gp3 StorageClass puts on them, tier defaults, kind refusal,
bad config."""

from __future__ import annotations

import pytest

from components.storage.ebs_backup import TYPE, EbsBackup, EbsBackupAddOn, EbsBackupArgs
from components.storage.ebs_csi import BACKUP_TAG_KEY, EbsCsiArgs, EbsCsiDriver
from harness import run_stack
from harness.fakes import CLUSTER, fake_eks_handle, fake_kind_handle
from settings import ConfigError, parse_settings
from tests.conftest import assert_config_error, make_settings, policy, run

BACKUP = "eks-platform:storage.backup"
SELECTION = "aws:backup/selection:Selection"
PLAN = "aws:backup/plan:Plan"
VAULT = "aws:backup/vault:Vault"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"


def build(stack: str = "prod", **backup):
    settings = make_settings(stack, storage={"backup": {"enabled": True, **backup}})

    def program():
        handle = fake_eks_handle()
        EbsBackup("bk", EbsBackupArgs(cluster=handle, settings=settings.storage.backup,
                                      kms_key_deletion_window_days=settings.cluster.kms_key_deletion_window_days))
        EbsCsiDriver("ebs", EbsCsiArgs(cluster=handle))

    return run(program, stack=stack)


@pytest.fixture(scope="module")
def rec():
    return build()


def rule_of(recording) -> dict:
    (rule,) = recording.one(PLAN).inputs["rules"]
    return rule


def selected_tag(selection) -> tuple[str, str]:
    ((condition,),) = [c["stringEquals"] for c in selection.inputs["conditions"]]
    # a tag condition of a selection is keyed aws:ResourceTag/<tag key> (BackupSelection API, Conditions)
    prefix, _, key = condition["key"].partition("/")
    assert prefix == "aws:ResourceTag", condition
    return key, condition["value"]


def gp3_tag(recording) -> tuple[str, str]:
    """The tag the EBS CSI driver puts on every volume it makes (its add-on's controller.extraVolumeTags)."""
    import json

    addon = next(r for r in recording.of_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "aws-ebs-csi-driver")
    ((key, value),) = json.loads(addon.inputs["configurationValues"])["controller"]["extraVolumeTags"].items()
    # and not through the gp3 class's parameters, which cannot change in place
    gp3 = next(r for r in recording.of_type(SC) if r.inputs["metadata"]["name"] == "gp3")
    assert not any(k.startswith("tagSpecification") for k in gp3.inputs["parameters"])
    return key, value


def test_gp3_volumes_carry_the_tag_the_selection_matches(rec):
    assert gp3_tag(rec) == (BACKUP_TAG_KEY, CLUSTER)
    selection = rec.one(SELECTION)
    assert selected_tag(selection) == gp3_tag(rec)
    # EBS volumes only (AND with the condition), not every tagged resource of the account
    assert selection.inputs["resources"] == ["arn:aws:ec2:*:*:volume/*"]
    assert not selection.inputs.get("selectionTags") and not selection.inputs.get("notResources")


def test_vault_is_encrypted_with_a_rotating_key_and_never_force_destroyed(rec):
    key, vault = rec.one("aws:kms/key:Key"), rec.one(VAULT)
    assert vault.inputs["kmsKeyArn"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30
    assert not vault.inputs.get("forceDestroy")
    (stmt,) = policy(key.inputs["policy"])["Statement"]
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}


def test_daily_rule_into_the_vault_with_the_tier_retention(rec):
    rule = rule_of(rec)
    assert rule["targetVaultName"] == rec.one(VAULT).outputs["name"]
    assert rule["schedule"] == "cron(0 3 * * ? *)"
    assert rule["lifecycle"] == {"deleteAfter": 35}  # prod
    assert (rule["startWindow"], rule["completionWindow"]) == (60, 480)
    assert {stack: rule_of(build(stack))["lifecycle"]["deleteAfter"] for stack in ("dev", "staging")} == \
        {"dev": 7, "staging": 14}
    custom = rule_of(build(retentionDays=90, schedule="cron(30 1 ? * SUN *)", completionWindowMinutes=720))
    assert (custom["lifecycle"], custom["schedule"], custom["completionWindow"]) == \
        ({"deleteAfter": 90}, "cron(30 1 ? * SUN *)", 720)


def test_service_role_has_the_backup_and_restore_policies_before_the_selection(rec):
    role = rec.one("aws:iam/role:Role", "bk-role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    attachments = [a for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if a.name.startswith("bk-")]
    assert sorted(a.inputs["policyArn"] for a in attachments) == [
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"]
    assert all(a.inputs["role"] == role.outputs["name"] for a in attachments)
    selection = rec.one(SELECTION)
    assert selection.inputs["iamRoleArn"] == role.outputs["arn"]
    assert selection.inputs["planId"] == f"{rec.one(PLAN).name}-id"
    assert all(rec.depends_on(selection, a) for a in attachments)


def test_parent_tree(rec):
    (component,) = rec.of_type(TYPE)
    mine = [r for r in rec if r.parent == component.urn]
    assert {r.type for r in mine} == {"aws:kms/key:Key", VAULT, PLAN, SELECTION, "aws:iam/role:Role",
                                      "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}


def test_on_in_staging_and_prod_off_in_dev_and_the_stack_tags_match():
    assert not run_stack("dev").of_type(TYPE)
    prod = run_stack("prod")
    assert prod.of_type(TYPE) and prod.exports["backupVaultName"] == prod.one(VAULT).outputs["name"]
    # the whole program: the selection matches what this stack's gp3 class writes on its volumes
    assert selected_tag(prod.one(SELECTION)) == gp3_tag(prod) == (BACKUP_TAG_KEY, "eks-platform-prod")
    assert rule_of(prod)["lifecycle"] == {"deleteAfter": 35}
    assert prod.named("prod-ebs-backup-key").inputs["deletionWindowInDays"] == 30
    # AWS-side only: nothing of it waits for the nodes
    groups = prod.of_type("aws:eks/nodeGroup:NodeGroup")
    (component,) = prod.of_type(TYPE)
    for res in [r for r in prod if r.parent == component.urn]:
        assert not any(prod.depends_on(res, g) for g in groups), res.name
    assert EbsBackupAddOn.enabled(make_settings("staging")) and not EbsBackupAddOn.enabled(make_settings("dev"))
    assert EbsBackupAddOn.enabled(make_settings("dev", storage={"backup": {"enabled": True}}))


def test_refused_on_kind_naming_the_key():
    with pytest.raises(ConfigError) as err:
        parse_settings({"storage": {"backup": {"enabled": True}}}, "local")
    assert BACKUP in str(err.value) and "aws target" in str(err.value)
    assert not EbsBackupAddOn.enabled(make_settings("local", tier="prod"))

    def program():
        with pytest.raises(ValueError, match="AWS-only"):
            EbsBackupArgs(cluster=fake_kind_handle(), settings=make_settings().storage.backup)

    run(program)


@pytest.mark.parametrize(("backup", "key", "valid"), [
    ({"schedule": "daily"}, "schedule", "cron(0 3 * * ? *)"),
    ({"schedule": "cron(0 3 * * *)"}, "schedule", "six fields"),
    ({"retentionDays": 0}, "retentionDays", "3650"),
    ({"startWindowMinutes": 30}, "startWindowMinutes", "60"),
    ({"startWindowMinutes": 240, "completionWindowMinutes": 180}, "completionWindowMinutes", "startWindowMinutes"),
    ({"vault": "mine"}, "vault", "unknown key"),
])
def test_bad_config_names_the_key_and_what_is_valid(backup, key, valid):
    assert_config_error("prod", {"aws:region": "us-east-1", "storage": {"backup": backup}}, f"{BACKUP}.{key}", valid)


def test_plan_says_what_is_backed_up():
    from tools.plan import key_settings

    assert key_settings(make_settings("prod"))["storage"] == "gp3 backed up daily by AWS Backup, kept 35 d; EFS off"
    dev = key_settings(make_settings("dev", storage={"efs": {"enabled": True}}))["storage"]
    assert dev == "gp3 NOT backed up (storage.backup.enabled: false); EFS bursting throughput, automatic backups off"
