"""Settings of application teams: one namespace each, with Pod Security, quota, limit range, network
policies, access and (optionally) a Karpenter NodePool of its own.

Pure models: validated when built, no Pulumi calls. ``check_teams`` holds the checks that need the
rest of the stack's settings (target, Istio, Karpenter, the cluster's admin lists); ``Settings``
runs it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

import versions
from settings.base import Model, invalid, tiered
from settings.karpenter import NodePoolSettings, PoolTaint
from settings.traffic import MESH_HUB, MESH_PROXY_IMAGE, ProxyResources
from settings.types import (
    PLATFORM_NAMESPACES,
    Cidr,
    CpuQuantity,
    Memory,
    Quantity,
    RoleArn,
    between,
    check_limits_cover_requests,
    dns_label,
    quantity,
)

if TYPE_CHECKING:
    from settings import Settings

PodSecurityLevel = Literal["restricted", "baseline"]
# The label every team namespace carries (Kyverno's team policies select namespaces by it); team
# pools label and taint their nodes with it too.
TEAM_LABEL = "platform.eks/team"
# Namespaces Kubernetes or the platform owns, and ones platform add-ons commonly take (karpenter,
# cert-manager, external-dns). Kubernetes also reserves the kube- prefix (namespaces docs: "avoid creating
# namespaces with the prefix kube-, since it is reserved for Kubernetes system namespaces").
RESERVED_NAMESPACES = (*PLATFORM_NAMESPACES, "karpenter", "cert-manager", "external-dns")
# A named port (IANA_SVC_NAME: 1-15 lowercase letters, digits and '-', at least one letter).
PORT_NAME = r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$"
TEAM_POOL_PREFIX = "team-"


class DefaultRequest(Model):
    cpu: CpuQuantity = "100m"
    """CPU request of a container that sets none."""
    memory: Memory = "128Mi"
    """Memory request of a container that sets none."""


class DefaultLimit(Model):
    cpu: CpuQuantity = "500m"
    """CPU limit of a container that sets none."""
    memory: Memory = "512Mi"
    """Memory limit of a container that sets none."""


class MaxLimit(Model):
    # istiod's chart gives its sidecar a 2-CPU, 1Gi limit by default (values global.proxy.resources); the
    # platform sets less per tier (traffic.istio.proxy), which must stay under this max
    cpu: CpuQuantity = "2"
    """The highest CPU limit one container may set."""
    memory: Memory = "4Gi"
    """The highest memory limit one container may set."""


class QuotaSettings(Model):
    """The team namespace's ResourceQuota: the most its pods may request and use together."""

    requests_cpu: CpuQuantity = tiered(dev="4", staging="8", prod="16")
    """Sum of CPU requests (requests.cpu)."""
    requests_memory: Memory = tiered(dev="8Gi", staging="16Gi", prod="32Gi")
    """Sum of memory requests (requests.memory)."""
    limits_cpu: CpuQuantity = tiered(dev="8", staging="16", prod="32")
    """Sum of CPU limits (limits.cpu)."""
    limits_memory: Memory = tiered(dev="16Gi", staging="32Gi", prod="64Gi")
    """Sum of memory limits (limits.memory)."""
    pods: between(1, 5000) = tiered(dev=10, staging=16, prod=32)
    """Pods in the namespace. The other totals must hold this many pods at the LimitRange defaults (plus
    the sidecar with injection): the defaults hold 10, 16 and 32 injected pods."""
    persistent_volume_claims: between(0, 1000) = 10
    """PersistentVolumeClaims in the namespace."""
    requests_storage: Quantity = "100Gi"
    """Sum of storage the claims request (requests.storage)."""
    load_balancers: between(0, 50) = 0
    """LoadBalancer Services (services.loadbalancers). 0 by default: team traffic enters through the
    shared ingress gateway; each LoadBalancer Service would be an NLB of its own, outside the mesh."""
    node_ports: between(0, 50) = 0
    """NodePort Services (services.nodeports), 0 by default for the same reason."""

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> QuotaSettings:
        check_limits_cover_requests(self)
        return self

    def hard(self) -> dict[str, str]:
        """``spec.hard`` of the ResourceQuota."""
        return {"requests.cpu": self.requests_cpu, "requests.memory": self.requests_memory,
                "limits.cpu": self.limits_cpu, "limits.memory": self.limits_memory, "pods": str(self.pods),
                "persistentvolumeclaims": str(self.persistent_volume_claims),
                "requests.storage": self.requests_storage,
                "services.loadbalancers": str(self.load_balancers), "services.nodeports": str(self.node_ports)}


class LimitRangeSettings(Model):
    """The team namespace's LimitRange for containers: defaults for those that set no requests or
    limits (the quota refuses pods without them), and the most one container may ask for."""

    default_request: DefaultRequest = Field(default_factory=DefaultRequest)
    """Requests of a container that sets none."""
    default_limit: DefaultLimit = Field(default_factory=DefaultLimit)
    """Limits of a container that sets none."""
    max: MaxLimit = Field(default_factory=MaxLimit)
    """The most one container may set as its limit."""

    @model_validator(mode="after")
    def _ordered(self) -> LimitRangeSettings:
        for res in ("cpu", "memory"):
            low, mid, high = (quantity(getattr(getattr(self, f), res))
                              for f in ("default_request", "default_limit", "max"))
            if mid < low:
                raise invalid(f"defaultLimit.{res}", "must be at least defaultRequest.{res}", res=res)
            if high < mid:
                raise invalid(f"max.{res}", "must be at least defaultLimit.{res}", res=res)
        return self

    def spec(self) -> dict[str, Any]:
        pair = lambda p: {"cpu": p.cpu, "memory": p.memory}  # noqa: E731
        return {"limits": [{"type": "Container", "defaultRequest": pair(self.default_request),
                            "default": pair(self.default_limit), "max": pair(self.max)}]}


class TeamPoolSettings(NodePoolSettings):
    """A team's NodePool: a karpenter.nodePools entry whose name the platform sets."""

    name: str = ""
    """Set by the platform to team-<team name>; leave it out."""


class TeamSettings(Model):
    """One application team: its namespace (named after the team) and what comes with it."""

    name: dns_label(63)
    """Team name, also its namespace's name (a DNS label; not a platform namespace, not kube-*)."""
    pod_security: PodSecurityLevel = "restricted"
    """Pod Security Standard the namespace enforces: restricted (default) or baseline. audit and warn
    stay at restricted either way, so baseline teams see what restricted would refuse."""
    injection: bool = False
    """Label the namespace istio-injection=enabled (needs traffic.istio.enabled)."""
    iam_role_arns: list[RoleArn] = Field(default_factory=list)
    """IAM roles that may edit the namespace (EKS access entries with AmazonEKSEditPolicy scoped to it;
    aws only)."""
    users: list[str] = Field(default_factory=list)
    """Kubernetes user names bound to the edit ClusterRole in the namespace (kind only; on EKS use
    iamRoleArns)."""
    groups: list[str] = Field(default_factory=list)
    """Kubernetes groups bound to the edit ClusterRole in the namespace (kind only)."""
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    """ResourceQuota of the namespace; tier defaults."""
    limit_range: LimitRangeSettings = Field(default_factory=LimitRangeSettings)
    """LimitRange of the namespace's containers."""
    metrics_ports: list[between(1, 65535) | str] = Field(default_factory=lambda: ["metrics", "http-metrics"])
    """Pod ports Prometheus may scrape (numbers or container port names); with Istio, the sidecar's
    15020 and 15090 are added."""
    egress_cidrs: list[Cidr] = Field(default_factory=list)
    """IPv4 CIDRs the team's pods may reach beyond the cluster (a database subnet, VPC endpoints), on
    any port; none by default: egress is denied except DNS, the namespace itself and istiod."""
    node_pool: TeamPoolSettings | None = None
    """A Karpenter NodePool of the team's own (aws with autoscaling karpenter only), named team-<name>,
    its nodes labelled and tainted platform.eks/team=<name>; the fields of a karpenter.nodePools entry
    except name."""

    @model_validator(mode="before")
    @classmethod
    def _pool_name(cls, data: Any) -> Any:
        # the pool is named after the team, so that a team can never take another pool's name
        for key in ("nodePool", "node_pool"):
            if isinstance(data, dict) and isinstance(data.get(key), dict) and "name" in data[key]:
                raise invalid("nodePool.name", "a team's pool is named team-<team name>; remove name")
        return data

    @field_validator("name")
    @classmethod
    def _not_platform(cls, v: str) -> str:
        if v in RESERVED_NAMESPACES or v.startswith("kube-"):
            raise ValueError(f"{v!r} is a Kubernetes or platform namespace ({', '.join(RESERVED_NAMESPACES)}, "
                             "kube-*); pick the team's own name")
        return v

    @field_validator("users", "groups")
    @classmethod
    def _subjects(cls, v: list[str]) -> list[str]:
        if any(not s or s != s.strip() for s in v) or len(set(v)) != len(v):
            raise ValueError("list non-empty names without surrounding spaces, each once")
        return v

    @field_validator("iam_role_arns")
    @classmethod
    def _unique_roles(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("list each role once")
        return v

    @field_validator("metrics_ports")
    @classmethod
    def _ports(cls, v: list[int | str]) -> list[int | str]:
        import re

        for port in v:
            if isinstance(port, str) and not re.match(PORT_NAME, port):
                raise ValueError(f"{port!r} is neither a port number nor a port name (1-15 lowercase letters, "
                                 "digits and '-', with a letter)")
        if len(set(v)) != len(v):
            raise ValueError("list each port once")
        return v

    @model_validator(mode="after")
    def _pool(self) -> TeamSettings:
        for res, total in (("cpu", self.quota.limits_cpu), ("memory", self.quota.limits_memory)):
            # a container allowed more than the whole namespace could never be admitted
            if quantity(getattr(self.limit_range.max, res)) > quantity(total):
                raise invalid(f"limitRange.max.{res}", "must be at most quota.limits{Res} ({total})",
                              Res=res.capitalize(), total=total)
        if len(set(self.egress_cidrs)) != len(self.egress_cidrs):
            raise invalid("egressCidrs", "list each CIDR once")
        if self.node_pool is not None and len(TEAM_POOL_PREFIX + self.name) > 63:
            raise invalid("name", "is too long for a team with a nodePool: team-<name> must fit 63 characters")
        return self

    @property
    def pool(self) -> NodePoolSettings | None:
        """The team's NodePool as Karpenter gets it: the configured one, plus the team's label and
        taint (only the team's pods, tolerating it, land there; they select it by the label)."""
        if self.node_pool is None:
            return None
        taint = PoolTaint(key=TEAM_LABEL, value=self.name, effect="NoSchedule")
        return self.node_pool.model_copy(update={
            "name": f"{TEAM_POOL_PREFIX}{self.name}",
            "labels": {**self.node_pool.labels, TEAM_LABEL: self.name},
            "taints": [*(t for t in self.node_pool.taints if t.key != TEAM_LABEL), taint]})


def check_teams(settings: Settings) -> Settings:
    """The checks of ``teams`` that need the rest of the stack's settings; errors name teams[i].key."""
    teams = settings.teams
    names = [t.name for t in teams]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise invalid("teams", "team names must be unique (each is a namespace), {dupes} appear more than once",
                      dupes=dupes)
    istio = settings.traffic.istio
    clash = sorted(set(names) & set(istio.injected_namespaces))
    if clash:
        raise invalid("traffic.istio.injectedNamespaces", "{clash} are team namespaces, which the teams "
                      "create (with injection: true for the mesh); remove them here", clash=clash)
    listed = {arn: f"cluster.{key}[{i}]" for key, arns in (
        ("viewerPrincipalArns", settings.cluster.viewer_principal_arns),
        ("adminPrincipalArns", settings.cluster.admin_principal_arns)) for i, arn in enumerate(arns)}
    pools = {p.name for p in settings.karpenter.pools}
    classes = {c.name for c in settings.karpenter.node_classes}
    for i, team in enumerate(teams):
        key = f"teams[{i}]"
        if team.injection and not istio.enabled:
            raise invalid(f"{key}.injection", "is true, but traffic.istio.enabled is false: there is no mesh to "
                          "inject; set injection: false or enable Istio")
        _check_quota_holds_pods(key, team, istio.proxy if team.injection else None)
        if team.injection and settings.kyverno.enabled and settings.kyverno.allowed_registries:
            image = mesh_proxy_image()
            # restrict-image-registries allows "<registry>/*" (components/policy/policies.py); Kyverno's '*'
            # matches any characters, '/' included (pkg/engine/pattern, wildcard.Match)
            if not any(image.startswith(f"{r}/") for r in settings.kyverno.allowed_registries):
                raise invalid("kyverno.allowedRegistries", "{key}.injection is true and istiod injects {image} "
                              "(containers istio-proxy and istio-validation) into team {team}'s pods, which the "
                              "registry policy would refuse; add {hub} to allowedRegistries",
                              key=key, image=image, team=team.name, hub=MESH_HUB)
        if settings.is_aws:
            if team.users or team.groups:
                field = "users" if team.users else "groups"
                raise invalid(f"{key}.{field}", "only apply to the kind target; on EKS list the team's IAM "
                              "roles in iamRoleArns (access entries scoped to the namespace)")
            for j, arn in enumerate(team.iam_role_arns):
                if arn in listed:
                    # (a role in two teams is one entry with one association listing both namespaces)
                    raise invalid(f"{key}.iamRoleArns[{j}]", "{arn} already has an access entry from {other} "
                                  "(EKS allows one per principal); remove it here or there",
                                  arn=arn, other=listed[arn])
        else:
            if team.iam_role_arns:
                raise invalid(f"{key}.iamRoleArns", "only apply to the aws target (EKS access entries); on kind "
                              "list Kubernetes users or groups in users and groups")
        if team.node_pool is not None:
            if not settings.is_aws or settings.autoscaling != "karpenter":
                raise invalid(f"{key}.nodePool", "needs Karpenter: the aws target with autoscaling 'karpenter' "
                              "(target is '{target}', autoscaling '{autoscaling}'); remove nodePool",
                              target=settings.target, autoscaling=settings.autoscaling)
            pool = team.pool
            assert pool is not None
            if pool.name in pools:
                raise invalid(f"{key}.nodePool", "its name {pool} is taken by a karpenter.nodePools entry; "
                              "rename that pool", pool=pool.name)
            if team.node_pool.node_class not in classes:
                raise invalid(f"{key}.nodePool.nodeClass", "no node class named '{ref}'; karpenter.nodeClasses "
                              "has {classes}", ref=team.node_pool.node_class, classes=sorted(classes))
    return settings


def pod_resources(team: TeamSettings, proxy: ProxyResources | None) -> dict[str, Decimal]:
    """What one pod of the team counts against its quota when its one container sets nothing (the
    LimitRange defaults) and, with injection, istiod adds its sidecar with ``proxy``'s resources (the
    istio-validation init container has the same resources and runs before, so a pod counts the larger
    of it and the sum of its containers: the sum; Kubernetes docs, init-containers "Resource sharing")."""
    lr = team.limit_range
    per_pod = {"requests.cpu": quantity(lr.default_request.cpu), "requests.memory": quantity(lr.default_request.memory),
               "limits.cpu": quantity(lr.default_limit.cpu), "limits.memory": quantity(lr.default_limit.memory)}
    if proxy is not None:
        for res, value in (("requests.cpu", proxy.requests_cpu), ("requests.memory", proxy.requests_memory),
                           ("limits.cpu", proxy.limits_cpu), ("limits.memory", proxy.limits_memory)):
            per_pod[res] += quantity(value)
    return per_pod


def pods_held(team: TeamSettings, proxy: ProxyResources | None) -> tuple[int, str]:
    """How many such pods the team's quota holds, and the quota total that binds."""
    hard = team.quota.hard()
    return min((int(quantity(hard[res]) // need), res) for res, need in pod_resources(team, proxy).items())


def _check_quota_holds_pods(key: str, team: TeamSettings, proxy: ProxyResources | None) -> None:
    held, binding = pods_held(team, proxy)
    if held < team.quota.pods:
        sidecar = (f" plus the sidecar (traffic.istio.proxy: {proxy.limits_cpu}/{proxy.limits_memory} limits)"
                    if proxy else "")
        raise invalid(f"{key}.quota.pods", "is {pods}, but quota.{binding} ({total}) holds {held} pods at the "
                      "LimitRange defaults{sidecar}: lower pods to {held}, raise the quota, or lower the defaults",
                      pods=team.quota.pods, binding=_camel(binding), total=team.quota.hard()[binding], held=held,
                      sidecar=sidecar)
    if proxy is not None:
        for res, limit in (("cpu", proxy.limits_cpu), ("memory", proxy.limits_memory)):
            if quantity(limit) > quantity(getattr(team.limit_range.max, res)):
                raise invalid(f"{key}.limitRange.max.{res}", "is below the sidecar's limit traffic.istio.proxy.limits"
                              "{Res} ({limit}): the LimitRange would refuse every injected pod",
                              Res=res.capitalize(), limit=limit)


def _camel(resource: str) -> str:
    """``limits.cpu`` -> ``limitsCpu`` (the quota's config key)."""
    head, tail = resource.split(".")
    return head + tail.capitalize()


def mesh_proxy_image() -> str:
    """The image istiod injects (istio-proxy and istio-validation): settings/traffic.py MESH_HUB."""
    return f"{MESH_HUB}/{MESH_PROXY_IMAGE}:{versions.CHARTS['istiod'].version}"
