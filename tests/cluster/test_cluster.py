"""platform:eks:Cluster: control plane security, logs, access entries, kubeconfig and provider."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.cluster.eks import (
    TYPE,
    ClusterArgs,
    EksCluster,
    deployer_listed,
    deployer_principal,
    kubeconfig,
    version_step_error,
)
from tests.conftest import DEV_SHARED_VARIANTS, ONE_MINOR_BEHIND, assert_config_error, make_settings, policy, run

# the good halves of the two refusal tests below: a deployed cluster one minor behind, and the deployer
# listed as admin with clusterCreatorAdmin off; orthogonal (the version check vs the access entries), so
# one evaluation serves both (and test_routes.py's Grafana ALB, orthogonal too)
DEPLOYER_ADMIN = DEV_SHARED_VARIANTS["grafana-alb-deployer-admin"]


def build(stack: str = "dev", export_handle: bool = False, **cluster):
    settings = make_settings(stack, cluster=cluster) if cluster else make_settings(stack)

    def program():
        eks = EksCluster("c", ClusterArgs(cluster_name="c1", region="us-east-1", settings=settings.cluster,
                                          vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], az_count=2, api_access_cidrs=["10.0.0.0/16"],
                                          tags={"Project": "eks-platform"}))
        handle = eks.handle()
        pulumi.export("kubeconfig", eks.kubeconfig)
        pulumi.export("handle_name", handle.name)
        pulumi.export("handle_sg", handle.aws.cluster_security_group_id)

    return run(program, stack=stack)


def test_control_plane_is_private_encrypted_logged_and_on_standard_support():
    rec = build("prod")
    cluster = rec.one("aws:eks/cluster:Cluster")
    inputs = cluster.inputs
    assert inputs["name"] == "c1" and inputs["version"] == "1.35"
    vpc = inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    assert vpc["subnetIds"] == ["subnet-a", "subnet-b"]
    key = rec.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert inputs["encryptionConfig"]["provider"]["keyArn"] == key.outputs["arn"]
    assert set(inputs["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert inputs["accessConfig"]["authenticationMode"] == "API"
    assert inputs["upgradePolicy"]["supportType"] == "STANDARD"
    assert inputs["bootstrapSelfManagedAddons"] is False
    assert inputs["deletionProtection"] is True


def test_log_group_exists_before_the_cluster_with_retention_and_key():
    rec = build("dev")
    group = rec.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/aws/eks/c1/cluster"
    assert group.inputs["retentionInDays"] == 30
    assert group.inputs["kmsKeyId"] == rec.one("aws:kms/key:Key").outputs["arn"]
    assert rec.depends_on(rec.one("aws:eks/cluster:Cluster"), group)


def test_kms_key_policy_lets_logs_use_it_only_for_the_cluster_log_group():
    rec = build()
    doc = policy(rec.one("aws:kms/key:Key").inputs["policy"])
    logs = next(s for s in doc["Statement"] if s["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"})
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] == (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/eks/c1/cluster")
    assert "kms:*" not in json.dumps(logs)


def test_public_endpoint_only_for_listed_cidrs():
    rec = build(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"])
    vpc = rec.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_cluster_role_trusts_eks_and_has_the_cluster_policy():
    rec = build()
    trust = policy(rec.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    (attachment,) = rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"


def test_access_entries_for_admins_and_viewers_and_provider_waits_for_them():
    admin, viewer = "arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/Auditor"
    rec = build(adminPrincipalArns=[admin], viewerPrincipalArns=[viewer], clusterCreatorAdmin=False)
    assert rec.one("aws:eks/cluster:Cluster").inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    entries = {e.inputs["principalArn"]: e for e in rec.of_type("aws:eks/accessEntry:AccessEntry")}
    assert set(entries) == {admin, viewer} and all(e.inputs["type"] == "STANDARD" for e in entries.values())
    policies = {a.inputs["principalArn"]: a.inputs["policyArn"]
                for a in rec.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    assert policies[admin].endswith("cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert policies[viewer].endswith("cluster-access-policy/AmazonEKSViewPolicy")
    provider = rec.one("pulumi:providers:kubernetes")
    for res in [*entries.values(), *rec.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")]:
        assert rec.depends_on(provider, res), res.name


def test_cluster_security_group_tagged_for_karpenter_discovery():
    rec = build()
    tag = rec.one("aws:ec2/tag:Tag")
    assert (tag.inputs["key"], tag.inputs["value"]) == ("karpenter.sh/discovery", "c1")
    assert tag.inputs["resourceId"] == "sg-0c1u5ter0000000000"
    assert rec.exports["handle_sg"] == "sg-0c1u5ter0000000000"


def test_kubeconfig_uses_aws_eks_get_token():
    rec = build()
    cfg = json.loads(rec.exports["kubeconfig"])
    user = cfg["users"][0]["user"]["exec"]
    assert user["command"] == "aws" and user["args"][-4:] == ["--cluster-name", "c1", "--output", "json"]
    assert cfg["clusters"][0]["cluster"]["server"].startswith("https://c1.")
    assert json.loads(kubeconfig("n", "https://e", "Y2E=", "eu-west-1"))["users"][0]["user"]["exec"]["args"][1] == "eu-west-1"


def test_irsa_creates_the_oidc_provider_only_when_asked():
    assert build().of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    rec = build(irsa=True)
    oidc = rec.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_parent_tree_and_outputs():
    rec = build()
    (component,) = rec.of_type(TYPE)
    assert all(r.parent == component.urn for r in rec if r is not component)
    assert rec.exports["handle_name"] == "c1"


def test_access_entries_are_named_by_principal_so_reordering_renames_nothing():
    a, b, v = ("arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/ops/BreakGlass",
               "arn:aws:iam::123456789012:user/auditor")
    first = build(adminPrincipalArns=[a, b], viewerPrincipalArns=[v])
    swapped = build(adminPrincipalArns=[b, a], viewerPrincipalArns=[v])
    names = {r.urn for r in first if "access" in r.type}
    assert names == {r.urn for r in swapped if "access" in r.type}
    entries = {e.inputs["principalArn"]: e for e in first.of_type("aws:eks/accessEntry:AccessEntry")}
    assert entries[b].name == "c-admin-123456789012-role-ops-BreakGlass"
    assert entries[v].name == "c-viewer-123456789012-user-auditor"
    # the position-based names of earlier releases stay as aliases (admins first, then viewers)
    assert entries[a].aliases[0].endswith("::c-admin-0") and entries[v].aliases[0].endswith("::c-viewer-2")


def test_api_security_group_admits_https_from_the_listed_networks_only():
    rec = build()
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup")
    (rule,) = sg.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == ("tcp", 443, 443, ["10.0.0.0/16"])
    assert sg.inputs["egress"] == [] and sg.inputs["vpcId"] == "vpc-1"
    # the mocks give every resource the id "<logical name>-id"
    assert rec.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]["securityGroupIds"] == [f"{sg.name}-id"]


def test_cluster_role_may_describe_the_secrets_key_and_nothing_else():
    rec = build()
    inline = rec.one("aws:iam/rolePolicy:RolePolicy")
    (stmt,) = policy(inline.inputs["policy"])["Statement"]
    assert sorted(stmt["Action"]) == ["kms:DescribeKey", "kms:ListGrants"]
    assert stmt["Resource"] == rec.one("aws:kms/key:Key").outputs["arn"]
    cluster = rec.one("aws:eks/cluster:Cluster")
    assert rec.depends_on(cluster, inline)
    assert rec.depends_on(cluster, rec.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment"))


@pytest.mark.parametrize(("deployed", "wanted", "problem"), [
    ("1.35", "1.35", None), ("1.35", "1.36", None),
    ("1.34", "1.36", "one minor at a time; set eks-platform:cluster.version to 1.35"),
    ("1.36", "1.35", "never downgrades"),
])
def test_version_steps_eks_accepts(deployed, wanted, problem):
    found = version_step_error(deployed, wanted)
    assert found == problem if problem is None else problem in found


def test_a_deployed_cluster_that_eks_upgraded_refuses_the_downgrade_before_any_resource():
    from harness import Recording, run_stack
    from settings import ConfigError

    rec = Recording()
    with pytest.raises(ConfigError, match=r"eks-platform:cluster.version: the cluster runs Kubernetes 1.36"):
        run_stack("dev", overrides={"eks-platform:cluster": {"version": "1.35"}}, recording=rec,
                  existing_clusters={"eks-platform-dev": "1.36"})
    assert not [r for r in rec if r.custom]
    # one minor up from what runs is fine
    ok = run_stack("dev", overrides=DEPLOYER_ADMIN, existing_clusters=ONE_MINOR_BEHIND)
    assert ok.one("aws:eks/cluster:Cluster").inputs["version"] == "1.35"


@pytest.mark.parametrize(("caller", "principal"), [
    ("arn:aws:iam::123456789012:user/mock", "arn:aws:iam::123456789012:user/mock"),
    ("arn:aws:sts::123456789012:assumed-role/Admin/jane", "arn:aws:iam::123456789012:role/Admin"),
])
def test_deployer_principal_of_users_and_role_sessions(caller, principal):
    assert deployer_principal(caller) == principal


def test_listing_the_deployer_as_admin_with_cluster_creator_admin_is_refused_before_any_resource():
    from harness import Recording, run_stack
    from settings import ConfigError

    rec = Recording()
    # the mocked caller is arn:aws:iam::123456789012:user/mock
    with pytest.raises(ConfigError, match=r"eks-platform:cluster.adminPrincipalArns\[1\]: .*user/mock is the identity"):
        run_stack("dev", overrides={"eks-platform:cluster": {
            "adminPrincipalArns": ["arn:aws:iam::123456789012:role/Other", "arn:aws:iam::123456789012:user/mock"]}},
            recording=rec)
    assert not [r for r in rec if r.custom]
    run_stack("dev", overrides=DEPLOYER_ADMIN, existing_clusters=ONE_MINOR_BEHIND)


# --- issue 19, defect 2: one access entry per principal ---------------------------------------------------

ROLE_A, ROLE_B = "arn:aws:iam::123456789012:role/A", "arn:aws:iam::123456789012:role/B"


@pytest.mark.parametrize(("cluster", "key", "other"), [
    ({"adminPrincipalArns": [ROLE_A, ROLE_B, ROLE_A]}, "cluster.adminPrincipalArns[2]", "cluster.adminPrincipalArns[0]"),
    ({"viewerPrincipalArns": [ROLE_B, ROLE_B]}, "cluster.viewerPrincipalArns[1]", "cluster.viewerPrincipalArns[0]"),
    ({"adminPrincipalArns": [ROLE_B, ROLE_A], "viewerPrincipalArns": [ROLE_A]}, "cluster.viewerPrincipalArns[0]",
     "cluster.adminPrincipalArns[1]"),
])
def test_a_principal_listed_twice_is_refused_naming_both_keys(cluster, key, other):
    assert_config_error("dev", {"aws:region": "us-east-1", "cluster": cluster}, f"eks-platform:{key}", other)


@pytest.mark.parametrize(("raw", "key"), [
    ({"cluster": {"viewerPrincipalArns": ["arn:aws:iam::123456789012:role/Deploy"]}}, "cluster.viewerPrincipalArns[0]"),
    ({"cluster": {"adminPrincipalArns": [ROLE_A, "arn:aws:iam::123456789012:role/path/Deploy"]}},
     "cluster.adminPrincipalArns[1]"),
    ({"teams": [{"name": "a"}, {"name": "b", "iamRoleArns": [ROLE_A, "arn:aws:iam::123456789012:role/Deploy"]}]},
     "teams[1].iamRoleArns[1]"),
])
def test_the_deployer_listed_anywhere_with_cluster_creator_admin_is_found(raw, key):
    settings = make_settings("dev", **raw)
    deployer = deployer_principal("arn:aws:sts::123456789012:assumed-role/Deploy/ci")
    assert deployer_listed(deployer, settings.cluster, settings.teams) == key
    off = make_settings("dev", **{**raw, "cluster": {**raw.get("cluster", {}), "clusterCreatorAdmin": False,
                                                     "adminPrincipalArns": [ROLE_B, *raw.get("cluster", {}).get(
                                                         "adminPrincipalArns", [])]}})
    assert deployer_listed(deployer, off.cluster, off.teams) is None


def test_the_deployer_as_a_viewer_is_refused_before_any_resource():
    from harness import Recording, run_stack
    from settings import ConfigError

    rec = Recording()
    with pytest.raises(ConfigError, match=r"eks-platform:cluster.viewerPrincipalArns\[0\]: .*user/mock is the identity"):
        run_stack("dev", overrides={"eks-platform:cluster": {
            "viewerPrincipalArns": ["arn:aws:iam::123456789012:user/mock"]}}, recording=rec)
    assert not [r for r in rec if r.custom]


def _entry_urns(rec) -> dict[str, tuple[str, list[str]]]:
    return {e.inputs["principalArn"]: (e.urn, e.aliases) for e in rec.of_type("aws:eks/accessEntry:AccessEntry")
            if e.inputs.get("type") == "STANDARD"}


@pytest.mark.parametrize(("before", "after"), [
    ({"eks-platform:cluster": {"viewerPrincipalArns": [ROLE_A]}},
     {"eks-platform:cluster": {"adminPrincipalArns": [ROLE_A]}}),
    ({"eks-platform:cluster": {"adminPrincipalArns": [ROLE_A]}},
     {"eks-platform:cluster": {"viewerPrincipalArns": [ROLE_A]}}),
    ({"eks-platform:cluster": {"viewerPrincipalArns": [ROLE_A]}},
     {"eks-platform:teams": [{"name": "payments", "iamRoleArns": [ROLE_A]}]}),
    ({"eks-platform:teams": [{"name": "payments", "iamRoleArns": [ROLE_A]}]},
     {"eks-platform:cluster": {"adminPrincipalArns": [ROLE_A]}}),
])
def test_a_principal_moving_between_lists_and_teams_keeps_its_one_entry(before, after):
    """The entry in its new home aliases its old URN: the move is an update, not a second entry that
    EKS refuses (409) before the old one is deleted."""
    from harness import run_stack

    old_urn, _ = _entry_urns(run_stack("dev", overrides=before))[ROLE_A]
    new_urn, aliases = _entry_urns(run_stack("dev", overrides=after))[ROLE_A]
    assert new_urn != old_urn and old_urn in aliases
