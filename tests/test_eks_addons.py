"""platform:eks:Addons and platform:storage:EbsCsiDriver: pinned versions, configuration, identity."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

import versions
from components.cluster import ClusterArgs, EksCluster
from components.ebs_csi import TYPE as EBS_TYPE
from components.ebs_csi import EbsCsiArgs, EbsCsiDriver
from components.eks_addons import BASE_WAVE, COMPUTE_WAVE, TYPE, AddonsArgs, EksAddons
from harness.fakes import fake_eks_handle
from tests.conftest import make_settings, policy, run


def test_every_pinned_addon_version_is_an_eks_build_for_every_supported_kubernetes():
    assert set(versions.EKS_ADDONS) == set(versions.KUBERNETES_VERSIONS)
    for k8s_version, pins in versions.EKS_ADDONS.items():
        assert set(pins) >= {*BASE_WAVE, *COMPUTE_WAVE, "aws-ebs-csi-driver"}
        for addon, version in pins.items():
            assert re.match(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$", version), (k8s_version, addon, version)
        # kube-proxy follows the Kubernetes minor exactly
        assert pins["kube-proxy"].startswith(f"v{k8s_version}."), pins["kube-proxy"]


def build_addons(names):
    def program():
        EksAddons("a", AddonsArgs(cluster=fake_eks_handle(version="1.35"), addons=names))

    return run(program)


def test_addons_pinned_and_configured():
    rec = build_addons(BASE_WAVE + COMPUTE_WAVE)
    addons = {a.inputs["addonName"]: a.inputs for a in rec.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"}
    for name, inputs in addons.items():
        assert inputs["addonVersion"] == versions.EKS_ADDONS["1.35"][name]
        assert inputs["resolveConflictsOnCreate"] == "OVERWRITE"
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert json.loads(addons["coredns"]["configurationValues"])["tolerations"][0]["key"] == "CriticalAddonsOnly"
    (component,) = rec.of_type(TYPE)
    assert all(r.parent == component.urn for r in rec if r is not component and not r.type.startswith("pulumi:providers:"))


def test_unknown_addon_is_refused_before_registration():
    def program():
        with pytest.raises(ValueError, match="no pinned version"):
            AddonsArgs(cluster=fake_eks_handle(), addons=("snapshot-controller",))

    run(program)


def build_ebs(irsa: bool = False):
    settings = make_settings(cluster={"irsa": irsa})

    def program():
        eks = EksCluster("c", ClusterArgs(cluster_name="c1", region="us-east-1", settings=settings.cluster,
                                          vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], az_count=2))
        EbsCsiDriver("ebs", EbsCsiArgs(cluster=eks.handle()))
        pulumi.export("ok", True)

    return run(program)


def ebs_children(rec):
    (component,) = rec.of_type(EBS_TYPE)
    return component, [r for r in rec if r.parent == component.urn]


def test_ebs_csi_uses_pod_identity_with_the_managed_policy():
    rec = build_ebs()
    _, children = ebs_children(rec)
    addon = next(r for r in children if r.type == "aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    assert addon.inputs["addonVersion"] == versions.EKS_ADDONS["1.36"]["aws-ebs-csi-driver"]
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
    assert cond["oidc.eks.us-east-1.amazonaws.com/id/MOCK:sub"] == "system:serviceaccount:kube-system:ebs-csi-controller-sa"


def test_default_storage_class_is_encrypted_gp3_on_the_cluster_provider():
    rec = build_ebs()
    sc = rec.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["parameters"]["type"] == "gp3" and sc.inputs["parameters"]["encrypted"] == "true"
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    provider = rec.one("pulumi:providers:kubernetes")
    assert sc.provider.startswith(provider.urn)
