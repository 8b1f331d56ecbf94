"""components/core/helm.py: a pinned Release on the handle's provider and readiness; release names; owned namespaces."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

import versions
from components.core import helm
from harness.fakes import fake_eks_handle
from tests.conftest import run


class _Owner(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Owner", name)


def build():
    def program():
        nodes = aws.eks.NodeGroup("nodes", cluster_name="c1", node_role_arn="r", subnet_ids=["s"],
                                  scaling_config={"desired_size": 1, "min_size": 1, "max_size": 1})
        cluster = fake_eks_handle(readiness=[nodes])
        owner = _Owner("owner")
        ns = helm.namespace("owner-ns", owner, cluster, "istio-ingress",
                            labels={"pod-security.kubernetes.io/enforce": "restricted"})
        helm.release("owner-a", owner, cluster, "metrics-server", namespace=ns.metadata.name, values={},
                     release_name="gateway-a")
        helm.release("owner-b", owner, cluster, "karpenter", namespace="kube-system", values={"replicas": 1})

    return run(program)


def test_release_is_pinned_named_and_waits_for_its_namespace_and_readiness():
    rec = build()
    releases = {r.name: r for r in rec.of_type("kubernetes:helm.sh/v3:Release")}
    a, b = releases["owner-a"], releases["owner-b"]
    assert a.inputs["name"] == "gateway-a" and b.inputs["name"] == "karpenter"
    pinned = versions.CHARTS["metrics-server"]
    assert (a.inputs["chart"], a.inputs["version"], a.inputs["repositoryOpts"]["repo"]) == \
        (pinned.name, pinned.version, pinned.repo)
    # OCI charts carry the registry in the chart reference
    assert b.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter" and "repositoryOpts" not in b.inputs
    assert a.inputs["atomic"] is True and a.inputs["cleanupOnFail"] is True
    ns = rec.one("kubernetes:core/v1:Namespace")
    assert ns.inputs["metadata"]["labels"] == {"pod-security.kubernetes.io/enforce": "restricted"}
    assert a.inputs["namespace"] == "istio-ingress" and rec.depends_on(a, ns)
    nodes = rec.one("aws:eks/nodeGroup:NodeGroup")
    owner = rec.one("test:index:Owner")
    provider = rec.one("pulumi:providers:kubernetes")
    for res in (a, b, ns):
        assert res.parent == owner.urn and rec.depends_on(res, nodes) and res.provider.startswith(provider.urn)
