"""platform:eks:Addons: pinned versions, configuration, and the waves (base before nodes, CoreDNS after)."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws
import pytest

import versions
from components.cluster.eks_addons import BASE_WAVE, COMPUTE_WAVE, TYPE, AddonsArgs, EksAddons
from harness.fakes import fake_eks_handle
from tests.conftest import run


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


def test_the_compute_wave_waits_for_readiness_and_the_base_wave_does_not():
    def program():
        nodes = aws.eks.NodeGroup("nodes", cluster_name="c1", node_role_arn="r", subnet_ids=["s"],
                                  scaling_config={"desired_size": 1, "min_size": 1, "max_size": 1})
        cluster = fake_eks_handle(readiness=[nodes])
        EksAddons("base", AddonsArgs(cluster=cluster, addons=BASE_WAVE))
        EksAddons("compute", AddonsArgs(cluster=cluster, addons=COMPUTE_WAVE, needs_nodes=True))
        pulumi.export("ok", True)

    rec = run(program)
    nodes = rec.one("aws:eks/nodeGroup:NodeGroup")
    addons = {a.inputs["addonName"]: a for a in rec.of_type("aws:eks/addon:Addon")}
    assert rec.depends_on(addons["coredns"], nodes)
    assert not any(rec.depends_on(addons[a], nodes) for a in BASE_WAVE)
