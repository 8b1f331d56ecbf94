"""platform:storage:EbsCsiDriver: the EKS add-on with Pod Identity or IRSA, its readiness, the gp3 class."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

import versions
from components.storage.ebs_csi import TYPE, EbsCsiAddOn, EbsCsiArgs, EbsCsiDriver
from harness.fakes import OIDC_ISSUER, fake_eks_handle, fake_kind_handle
from tests.conftest import make_settings, policy, run


def build_ebs(irsa: bool = False):
    def program():
        nodes = aws.eks.NodeGroup("nodes", cluster_name="c1", node_role_arn="r", subnet_ids=["s"],
                                  scaling_config={"desired_size": 1, "min_size": 1, "max_size": 1})
        EbsCsiDriver("ebs", EbsCsiArgs(cluster=fake_eks_handle(irsa=irsa, readiness=[nodes])))
        pulumi.export("ok", True)

    return run(program)


def ebs_children(rec):
    (component,) = rec.of_type(TYPE)
    return component, [r for r in rec if r.parent == component.urn]


def test_ebs_csi_uses_pod_identity_with_the_managed_policy():
    rec = build_ebs()
    _, children = ebs_children(rec)
    addon = next(r for r in children if r.type == "aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    assert addon.inputs["addonVersion"] == versions.EKS_ADDONS["1.35"]["aws-ebs-csi-driver"]
    assert "serviceAccountRoleArn" not in addon.inputs
    assoc = next(r for r in children if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("kube-system", "ebs-csi-controller-sa")
    assert rec.depends_on(addon, assoc)
    role = next(r for r in children if r.type == "aws:iam/role:Role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    attachment = next(r for r in children if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def test_ebs_csi_with_irsa_hands_the_role_to_the_addon():
    rec = build_ebs(irsa=True)
    _, children = ebs_children(rec)
    assert not [r for r in children if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"]
    addon = next(r for r in children if r.type == "aws:eks/addon:Addon")
    role = next(r for r in children if r.type == "aws:iam/role:Role")
    assert addon.inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    cond = trust["Condition"]["StringEquals"]
    assert cond[f"{OIDC_ISSUER}:sub"] == "system:serviceaccount:kube-system:ebs-csi-controller-sa"


def test_default_storage_class_is_encrypted_gp3_on_the_cluster_provider():
    rec = build_ebs()
    sc = rec.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["parameters"]["type"] == "gp3" and sc.inputs["parameters"]["encrypted"] == "true"
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    provider = rec.one("pulumi:providers:kubernetes")
    assert sc.provider.startswith(provider.urn)


def test_the_driver_and_storage_class_wait_for_nodes_but_its_role_does_not():
    rec = build_ebs()
    nodes = rec.one("aws:eks/nodeGroup:NodeGroup")
    assert rec.depends_on(rec.one("aws:eks/addon:Addon"), nodes)
    assert rec.depends_on(rec.one("kubernetes:storage.k8s.io/v1:StorageClass"), nodes)
    assert not rec.depends_on(rec.one("aws:iam/role:Role"), nodes)


def test_refused_on_kind_and_only_enabled_on_aws():
    def program():
        with pytest.raises(ValueError, match="AWS-only"):
            EbsCsiArgs(cluster=fake_kind_handle())

    run(program)
    assert EbsCsiAddOn.aws_only and EbsCsiAddOn.enabled(make_settings())
    assert not EbsCsiAddOn.enabled(make_settings("local"))
