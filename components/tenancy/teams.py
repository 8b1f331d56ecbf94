"""Application teams: per team a namespace (Pod Security, the team label, mesh injection), its
ResourceQuota and LimitRange, default-deny NetworkPolicies with the platform's allow rules, access
for the team's people, and optionally a Karpenter NodePool of its own; on EKS and on kind.

Comes after compute and after the add-ons its objects rely on: Karpenter (team NodePools need its
controller and node classes, and on destroy go first while it can still drain their nodes) and Istio
(namespaces labelled for injection should exist only once the injector does, and go before it). The
Kyverno add-on, once merged, also comes before it: its policies must be in place before any team
workload. Inside a team, the namespace comes first (every namespaced object names it through
``metadata.name``, so the edge is data flow); the access entries are AWS-side and wait only for the
cluster (its name), not for nodes.

Access on EKS: one access entry per IAM role (keyed by the principal, as the cluster's admins and
viewers are, with ``components.cluster.eks.principal_slug``) and an ``AmazonEKSEditPolicy`` association
scoped (type ``namespace``) to the team namespaces listing that role. The alternative, an access entry
with a Kubernetes group plus a RoleBinding per namespace, was not chosen: the grant would be split
between EKS and an in-cluster object, the RoleBinding could only be made once nodes and the provider
are up, and anyone with RBAC rights in the namespace could widen it. With an access policy, EKS holds
the whole grant, it is reviewed and revoked through the EKS API (``list-associated-access-policies``)
even when the Kubernetes API is unreachable (EKS user guide, access-entries: "misconfiguration
recovery"), and AmazonEKSEditPolicy matches Kubernetes' ``edit`` role, which cannot grant RBAC (EKS
user guide, access-policy-permissions). EKS allows one entry per principal and each policy once per
entry (access-policies), so a role in two teams gets one entry and one association listing both
namespaces. On kind there is no IAM: a RoleBinding to the ``edit`` ClusterRole
for the users and groups the team lists.

NetworkPolicies (enforced by the VPC CNI's network policy agent on EKS, ``enableNetworkPolicy`` in
components/cluster/eks_addons.py; by kindnetd on kind since kind v0.24.0, kubernetes-sigs/kind#842 and #3612):
- ``default-deny``: every pod, ingress and egress;
- ``allow-same-namespace``: pods of the namespace reach each other;
- ``allow-dns``: egress to CoreDNS (kube-system pods ``k8s-app=kube-dns``, the label of EKS's and
  kubeadm's CoreDNS) on UDP and TCP 53;
- with Istio: ``allow-istiod`` (egress to istiod on 15012, xDS and the CA over TLS: istio.io, docs/ops/
  deployment/application-requirements, "Ports used by Istio"; 15017 is the webhook port, called by
  the API server, not by pods, and 15010 is plain-text xDS, which sidecars do not use), and
  ``allow-ingress-gateway`` (ingress from the gateway pods, ``istio=ingressgateway`` in istio-ingress:
  the gateway chart's selector label is the release name without ``istio-``, all ports: the team's
  Services choose them);
- with monitoring: ``allow-prometheus`` (ingress from Prometheus pods, ``app.kubernetes.io/name=
  prometheus`` in monitoring, as the operator labels them, on the team's metrics ports and, with
  Istio, the sidecar's 15020 merged metrics and 15090 Envoy metrics: "Ports used by Istio");
- with ``egressCidrs``: ``allow-egress-cidrs`` (egress to those IPv4 blocks, any port).
Namespaces are selected by ``kubernetes.io/metadata.name``, which the API server sets on every
namespace (Kubernetes >= 1.22), so no one can label their way into a peer. Not allowed, by design:
other egress (the internet, AWS APIs, the Kubernetes API) and traffic between teams. Traffic from the
pod's own node (kubelet probes) is never blocked by NetworkPolicy (Kubernetes docs, network-policies:
"what you can't do").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.autoscaling.node_pools import node_pool_spec
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from components.core.names import (
    GATEWAY,
    GATEWAY_NAMESPACE,
    INJECTION,
    MONITORING_NAMESPACE,
    NODE_POOL_API,
    TEAM_LABEL,
    access_entry_aliases,
    principal_slug,
)
from components.core.names import ISTIO_NAMESPACE as SYSTEM_NAMESPACE
from settings import gates
from settings.karpenter import KarpenterSettings
from settings.teams import TeamSettings

TYPE = "platform:tenancy:Teams"
EDIT_POLICY = "AmazonEKSEditPolicy"
PSS = "pod-security.kubernetes.io"
NAMESPACE_NAME = "kubernetes.io/metadata.name"
DNS_PEER = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
ISTIOD_PEER = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: SYSTEM_NAMESPACE}},
               "podSelector": {"matchLabels": {"app": "istiod"}}}
GATEWAY_PEER = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: GATEWAY_NAMESPACE}},
                "podSelector": {"matchLabels": {"istio": GATEWAY.removeprefix("istio-")}}}
PROMETHEUS_PEER = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: MONITORING_NAMESPACE}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
ISTIOD_XDS_PORT = 15012
SIDECAR_METRICS_PORTS = (15020, 15090)


@dataclass(frozen=True, kw_only=True)
class TeamsArgs:
    cluster: ClusterHandle
    """EKS (access entries) or kind (RoleBindings)."""
    teams: Sequence[TeamSettings]
    """The teams, validated (settings/teams.py)."""
    istio: bool = False
    """Istio runs: allow istiod and the ingress gateway, label injected namespaces."""
    monitoring: bool = False
    """Prometheus runs: allow it to scrape the teams' metrics ports."""
    karpenter: KarpenterSettings | None = None
    """Karpenter runs (its default limits and budgets fill the team pools)."""
    stack: str | None = None
    """The stack, when this is the program's ``<stack>-teams``: each access entry then aliases the same
    principal's entry as a cluster admin or viewer (components/core/names.py ACCESS_ENTRY_HOMES)."""

    def __post_init__(self) -> None:
        aws_facts = self.cluster.aws
        for team in self.teams:
            if team.iam_role_arns and aws_facts is None:
                raise ValueError(f"team {team.name}: iamRoleArns need EKS access entries; kind has none")
            if team.injection and not self.istio:
                raise ValueError(f"team {team.name}: injection needs Istio")
            if team.node_pool is not None and (self.karpenter is None or aws_facts is None):
                raise ValueError(f"team {team.name}: a nodePool needs Karpenter on EKS")


def network_policies(team: TeamSettings, *, istio: bool, monitoring: bool) -> dict[str, dict[str, Any]]:
    """The team namespace's NetworkPolicy specs by policy name."""
    everyone: dict[str, Any] = {"podSelector": {}}
    policies: dict[str, dict[str, Any]] = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-same-namespace": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                                 "ingress": [{"from": [everyone]}], "egress": [{"to": [everyone]}]},
        "allow-dns": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            "to": [DNS_PEER], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
    }
    if team.egress_cidrs:
        policies["allow-egress-cidrs"] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            "to": [{"ipBlock": {"cidr": cidr}} for cidr in team.egress_cidrs]}]}
    if istio:
        policies["allow-istiod"] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            "to": [ISTIOD_PEER], "ports": [{"protocol": "TCP", "port": ISTIOD_XDS_PORT}]}]}
        policies["allow-ingress-gateway"] = {"podSelector": {}, "policyTypes": ["Ingress"],
                                             "ingress": [{"from": [GATEWAY_PEER]}]}
    if monitoring:
        ports = [*team.metrics_ports, *(p for p in SIDECAR_METRICS_PORTS if istio and p not in team.metrics_ports)]
        if ports:
            policies["allow-prometheus"] = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
                "from": [PROMETHEUS_PEER], "ports": [{"protocol": "TCP", "port": p} for p in ports]}]}
    return policies


def namespace_labels(team: TeamSettings, *, version: str, istio: bool) -> dict[str, str]:
    """Pod Security (enforce pinned to the cluster's minor, audit and warn at restricted on the latest
    version, as the Pod Security Admission docs suggest, so upcoming changes show before they bite),
    the team label, and injection."""
    labels = {
        f"{PSS}/enforce": team.pod_security, f"{PSS}/enforce-version": f"v{version}",
        f"{PSS}/audit": "restricted", f"{PSS}/audit-version": "latest",
        f"{PSS}/warn": "restricted", f"{PSS}/warn-version": "latest",
        TEAM_LABEL: team.name,
    }
    if team.injection and istio:
        labels.update(INJECTION)
    return labels


def role_grants(teams: Sequence[TeamSettings]) -> dict[str, list[str]]:
    """IAM role ARN -> the team namespaces it may edit (sorted: reordering teams changes nothing)."""
    grants: dict[str, set[str]] = {}
    for team in teams:
        for arn in team.iam_role_arns:
            grants.setdefault(arn, set()).add(team.name)
    return {arn: sorted(grants[arn]) for arn in sorted(grants)}


class Teams(PlatformComponent):
    namespaces: dict[str, k8s.core.v1.Namespace]
    quotas: dict[str, k8s.core.v1.ResourceQuota]
    limit_ranges: dict[str, k8s.core.v1.LimitRange]
    network_policies: dict[str, dict[str, k8s.networking.v1.NetworkPolicy]]
    access_entries: dict[str, aws.eks.AccessEntry]
    access_policies: dict[str, aws.eks.AccessPolicyAssociation]
    role_bindings: dict[str, k8s.rbac.v1.RoleBinding]
    node_pools: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: TeamsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster = args.cluster
        self.namespaces, self.quotas, self.limit_ranges, self.network_policies = {}, {}, {}, {}
        self.access_entries, self.access_policies, self.role_bindings, self.node_pools = {}, {}, {}, {}
        k8s_opts = child_opts(self, cluster.k8s_opts())
        for team in args.teams:
            # every logical name starts with the team's name: reordering teams renames nothing
            prefix = f"{name}-{team.name}"
            ns = k8s.core.v1.Namespace(f"{prefix}-namespace", metadata={
                "name": team.name, "labels": namespace_labels(team, version=cluster.version, istio=args.istio)},
                opts=k8s_opts)
            self.namespaces[team.name] = ns
            inside = ns.metadata.name  # namespaced objects carry the edge to their namespace
            self.quotas[team.name] = k8s.core.v1.ResourceQuota(
                f"{prefix}-quota", metadata={"name": "team", "namespace": inside}, spec={"hard": team.quota.hard()},
                opts=k8s_opts)
            self.limit_ranges[team.name] = k8s.core.v1.LimitRange(
                f"{prefix}-limits", metadata={"name": "team", "namespace": inside}, spec=team.limit_range.spec(),
                opts=k8s_opts)
            self.network_policies[team.name] = {
                policy: k8s.networking.v1.NetworkPolicy(
                    f"{prefix}-netpol-{policy}", metadata={"name": policy, "namespace": inside}, spec=spec,
                    opts=k8s_opts)
                for policy, spec in network_policies(team, istio=args.istio, monitoring=args.monitoring).items()
            }
            if cluster.aws is None and (team.users or team.groups):
                subjects = [{"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in team.users]
                subjects += [{"kind": "Group", "name": g, "apiGroup": "rbac.authorization.k8s.io"}
                             for g in team.groups]
                self.role_bindings[team.name] = k8s.rbac.v1.RoleBinding(
                    f"{prefix}-edit", metadata={"name": "team-edit", "namespace": inside},
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                    subjects=subjects, opts=k8s_opts)
            pool = team.pool
            if pool is not None and args.karpenter is not None:
                # (Karpenter's controller and node classes come first: the add-on comes after Karpenter)
                self.node_pools[team.name] = k8s.apiextensions.CustomResource(
                    f"{prefix}-pool", api_version=NODE_POOL_API, kind="NodePool", metadata={"name": pool.name},
                    spec=node_pool_spec(pool, args.karpenter), opts=k8s_opts)
        if cluster.aws is not None:
            self._access(name, cluster, args.teams, args.stack)
        self.register_outputs({
            "namespaces": list(self.namespaces),
            "access_principals": list(self.access_entries),
            "node_pool_names": [p.name for t in args.teams if (p := t.pool) is not None],
        })

    def _access(self, name: str, cluster: ClusterHandle, teams: Sequence[TeamSettings], stack: str | None) -> None:
        facts = cluster.aws
        assert facts is not None
        for arn, namespaces in role_grants(teams).items():
            logical = f"{name}-access-{principal_slug(arn)}"
            # AWS-side: waits for the cluster (its name), not for nodes or add-ons
            # one entry per principal: replaced delete-first (tests/stacks/test_replace_safety.py)
            moved = pulumi.ResourceOptions(aliases=access_entry_aliases(stack, "team", arn) if stack else None,
                                           delete_before_replace=True)
            entry = aws.eks.AccessEntry(logical, cluster_name=cluster.name, principal_arn=arn, type="STANDARD",
                                        tags=dict(facts.tags), opts=child_opts(self, moved))
            self.access_entries[arn] = entry
            self.access_policies[arn] = aws.eks.AccessPolicyAssociation(
                logical, cluster_name=cluster.name, principal_arn=entry.principal_arn,
                policy_arn=f"arn:{facts.partition}:eks::aws:cluster-access-policy/{EDIT_POLICY}",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="namespace", namespaces=namespaces),
                # a scope change replaces the association, and EKS keys one by (cluster, principal, policy):
                # the new one can only be created once the old one is gone (EKS API reference,
                # AssociateAccessPolicy: ResourceInUseException; DisassociateAccessPolicy takes no scope,
                # so deleting the old one after would remove the new one)
                opts=child_opts(self, pulumi.ResourceOptions(delete_before_replace=True)))


class TeamsAddOn(AddOn):
    """Application team namespaces, on EKS and kind; enabled when the stack lists teams."""

    key = "teams"
    gate = gates.TEAMS

    @classmethod
    def enabled(cls, settings):
        return bool(settings.teams)

    @classmethod
    def build(cls, name, cluster, settings):
        karpenter = settings.is_aws and settings.autoscaling == "karpenter"
        return Teams(name, TeamsArgs(
            cluster=cluster, teams=settings.teams, istio=settings.traffic.istio.enabled,
            monitoring=settings.observability.metrics.enabled,
            karpenter=settings.karpenter if karpenter else None, stack=settings.stack))

    @classmethod
    def exports(cls, component):
        return {"teamNamespaces": list(component.namespaces)}
