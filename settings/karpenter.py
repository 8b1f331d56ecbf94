"""Settings of Karpenter: where its controller runs, its size, and the EC2NodeClasses and NodePools.

Pure models: validated when built, no Pulumi calls. The rules here mirror what the v1 CRDs and
their CEL rules (karpenter.sh_nodepools.yaml, karpenter.k8s.aws_ec2nodeclasses.yaml, v1.14) would
refuse at apply time, so bad pools fail at preview with the config key named instead.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

import versions
from settings.aws import FargateProfileSettings, FargateSelector
from settings.base import Model, invalid, tiered
from settings.types import (
    LABEL_KEY,
    LabelKey,
    Labels,
    LabelValue,
    Quantity,
    TaintValue,
    between,
    dns_label,
    duration,
    quantity,
)

RunOn = Literal["system-nodes", "fargate"]
CapacityType = Literal["on-demand", "spot", "reserved"]
Arch = Literal["amd64", "arm64"]
Operator = Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
ConsolidationPolicy = Literal["WhenEmptyOrUnderutilized", "WhenEmpty", "Balanced"]
DisruptionReason = Literal["Underutilized", "Empty", "Drifted"]

CAPACITY_TYPES: tuple[str, ...] = ("on-demand", "spot", "reserved")
# Budget durations: minutes and hours only, cron has no seconds.
BUDGET_DURATION = re.compile(r"^((\d+(h|m))|(\d+h\d+m))(0s)?$")
BUDGET_NODES = re.compile(r"^((100|\d{1,2})%|\d+)$")
CRON_MACRO = re.compile(r"^@(annually|yearly|monthly|weekly|daily|midnight|hourly)$")
CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-]+$")
AMI_ALIAS = re.compile(r"^al2023@(latest|v\d{8})$")
# Label domains Karpenter and the kubelet own; a NodePool may not set labels in them.
RESTRICTED_LABEL_DOMAINS = ("karpenter.sh", "karpenter.k8s.aws", "kubernetes.io", "k8s.io")
# Requirement keys the typed pool fields own; a second requirement on them would contradict those.
TYPED_KEYS = {
    "karpenter.sh/capacity-type": "capacityTypes",
    "kubernetes.io/arch": "architectures",
    "kubernetes.io/os": "(always linux)",
    "karpenter.k8s.aws/instance-category": "instanceCategories",
    "karpenter.k8s.aws/instance-generation": "minInstanceGeneration",
}
FORBIDDEN_REQUIREMENT_KEYS = ("karpenter.sh/nodepool", "kubernetes.io/hostname")
CONTROLLER_LABEL = {"app.kubernetes.io/name": "karpenter"}
"""The label the karpenter chart puts on its controller pods (its selector labels)."""
FARGATE_PROFILE = "karpenter"


class ResourceList(Model):
    cpu: Quantity
    """CPU as a Kubernetes quantity (1, 500m)."""
    memory: Quantity
    """Memory as a Kubernetes quantity (1Gi, 512Mi)."""


class ControllerResources(Model):
    requests: ResourceList
    """What the scheduler reserves for each controller replica."""
    limits: ResourceList
    """The most each replica may use; memory limit = request avoids OOM kills under node pressure."""

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ControllerResources:
        for res in ("cpu", "memory"):
            if quantity(getattr(self.limits, res)) < quantity(getattr(self.requests, res)):
                raise invalid(f"limits.{res}", "must be at least requests.{res} ({request})", res=res,
                              request=getattr(self.requests, res))
        return self


class PoolLimits(Model):
    """Ceiling on what one NodePool may launch in total; Karpenter stops launching when reached."""

    cpu: Quantity | None = None
    """Total vCPUs of the pool's nodes (a quantity, like 1000)."""
    memory: Quantity | None = None
    """Total memory of the pool's nodes (a quantity, like 4000Gi)."""
    nodes: Quantity | None = None
    """Number of nodes of the pool."""

    @model_validator(mode="after")
    def _some(self) -> PoolLimits:
        if self.cpu is None and self.memory is None and self.nodes is None:
            raise invalid("cpu", "set at least one of cpu, memory or nodes (an unlimited pool can run up "
                          "any bill)")
        return self

    def render(self) -> dict[str, str]:
        return {k: str(v) for k, v in (("cpu", self.cpu), ("memory", self.memory), ("nodes", self.nodes))
                if v is not None}


class Budget(Model):
    """How many of a pool's nodes Karpenter may disrupt at once, optionally only in a cron window."""

    nodes: str
    """A count ("5") or a percentage ("10%") of the pool's nodes; "0" blocks disruption."""
    reasons: list[DisruptionReason] | None = None
    """Disruption reasons the budget applies to (Underutilized, Empty, Drifted); all when unset."""
    schedule: str | None = None
    """Cron schedule (UTC) at which the budget starts to apply, like "0 9 * * mon-fri" or "@daily"."""
    duration: str | None = None
    """How long the budget applies after each schedule hit, in hours and minutes ("8h", "30m")."""

    @field_validator("nodes", mode="before")
    @classmethod
    def _nodes(cls, v: str | int) -> str:
        if isinstance(v, bool) or not BUDGET_NODES.match(str(v)):
            raise ValueError(f"must be a node count like '5' or a percentage from '0%' to '100%', got {v!r}")
        return str(v)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is None:
            return v
        fields = v.split()
        if not CRON_MACRO.match(v) and not (len(fields) == 5 and all(CRON_FIELD.match(f) for f in fields)):
            raise ValueError("must be a 5-field cron expression like '0 9 * * mon-fri' or a macro like @daily "
                             "(UTC; time zones are not supported)")
        return v

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None and not BUDGET_DURATION.match(v):
            raise ValueError("must be hours and/or minutes like '8h', '30m' or '1h30m' (no seconds)")
        return v

    @field_validator("reasons")
    @classmethod
    def _reasons(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("list each reason once, or leave reasons out to cover all of them")
        return v

    @model_validator(mode="after")
    def _window(self) -> Budget:
        if (self.schedule is None) != (self.duration is None):
            missing = "duration" if self.duration is None else "schedule"
            raise invalid(missing, "schedule and duration go together: a scheduled budget needs both "
                          "(like schedule '0 9 * * mon-fri' with duration '8h'), an always-on one neither")
        return self

    def render(self) -> dict:
        out: dict = {"nodes": self.nodes}
        if self.reasons is not None:
            out["reasons"] = list(self.reasons)
        if self.schedule is not None:
            out["schedule"], out["duration"] = self.schedule, self.duration
        return out


class Disruption(Model):
    consolidation_policy: ConsolidationPolicy = "WhenEmptyOrUnderutilized"
    """WhenEmptyOrUnderutilized (repack and remove), Balanced (repack only when it pays off) or WhenEmpty."""
    consolidate_after: duration(never=True) = "1m"
    """How long a node must be empty or underutilized before consolidation acts ("30s", "5m", "Never")."""
    budgets: list[Budget] | None = None
    """Disruption budgets; unset takes karpenter.defaultBudgets."""

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, v: list[Budget] | None) -> list[Budget] | None:
        if v is not None and not 1 <= len(v) <= 50:
            raise ValueError("give 1 to 50 budgets (leave budgets out for the default)")
        return v


class Requirement(Model):
    """A node selector requirement on well-known labels (karpenter.k8s.aws/instance-family, zone, ...)."""

    key: str
    """Label key, like karpenter.k8s.aws/instance-family or topology.kubernetes.io/zone."""
    operator: Operator
    """In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte or Lte."""
    values: list[LabelValue] = Field(default_factory=list)
    """Values for In and NotIn (at least one); exactly one integer for Gt, Lt, Gte and Lte; none otherwise."""
    min_values: int | None = None
    """Least number of distinct values the launch decision must keep open (In only, 1 to 50)."""

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not LABEL_KEY.match(v) or len(v) > 316:
            raise ValueError("must be a Kubernetes label key")
        if v in FORBIDDEN_REQUIREMENT_KEYS:
            raise ValueError(f"{v} cannot be a NodePool requirement (Karpenter sets it)")
        if v in TYPED_KEYS:
            raise ValueError(f"{v} is set by the pool's {TYPED_KEYS[v]} field; use that instead")
        return v

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, v: list) -> list[str]:
        if not isinstance(v, list):
            raise ValueError("must be a list of strings")
        return [str(x) for x in v]

    @model_validator(mode="after")
    def _operator_fits_values(self) -> Requirement:
        op = self.operator
        if op in ("In", "NotIn") and not self.values:
            raise invalid("values", "operator {op} needs at least one value", op=op)
        if op in ("Exists", "DoesNotExist") and self.values:
            raise invalid("values", "operator {op} takes no values", op=op)
        if op in ("Gt", "Lt", "Gte", "Lte") and (len(self.values) != 1 or not self.values[0].isdigit()):
            raise invalid("values", "operator {op} takes exactly one non-negative integer, like ['2']", op=op)
        if self.min_values is not None:
            if op != "In":
                raise invalid("minValues", "minValues only applies to the In operator")
            if not 1 <= self.min_values <= 50 or self.min_values > len(self.values):
                raise invalid("minValues", "must be from 1 to 50 and at most the number of values")
        return self

    def render(self) -> dict:
        out: dict = {"key": self.key, "operator": self.operator}
        if self.values:
            out["values"] = list(self.values)
        if self.min_values is not None:
            out["minValues"] = self.min_values
        return out


class PoolTaint(Model):
    key: LabelKey
    """Taint key (a label key)."""
    value: TaintValue | None = None
    """Taint value (a label value), optional."""
    effect: TaintEffect
    """NoSchedule, PreferNoSchedule or NoExecute (the Kubernetes spelling)."""

    def render(self) -> dict:
        out = {"key": self.key, "effect": self.effect}
        if self.value is not None:
            out["value"] = self.value
        return out


class NodePoolSettings(Model):
    """One Karpenter NodePool. The field defaults are the general-purpose pool."""

    name: dns_label(63)
    """NodePool name (a DNS label); pods select it with the karpenter.sh/nodepool label."""
    node_class: str = "default"
    """Name of the karpenter.nodeClasses entry whose AMI, subnets and disks the nodes get."""
    capacity_types: list[str] = Field(default_factory=lambda: ["on-demand", "spot"])
    """on-demand, spot and/or reserved; with several, Karpenter prefers reserved, then spot."""
    architectures: list[Arch] = Field(default_factory=lambda: ["amd64"])
    """CPU architectures. amd64 by default: with arm64 allowed, Karpenter picks the cheaper Graviton
    instance and amd64-only images fail with 'exec format error'. arm64 is opt-in (gravitonPool, or
    list it here once every image is multi-arch)."""
    instance_categories: list[str] = Field(default_factory=lambda: ["c", "m", "r"])
    """EC2 instance categories (c compute, m general, r memory, ...)."""
    min_instance_generation: between(1, 20) = 3
    """Oldest instance generation allowed (3 keeps out m1/c1/m2-era types)."""
    requirements: list[Requirement] = Field(default_factory=list)
    """Further requirements (instance family, size, zone, ...)."""
    labels: Labels = Field(default_factory=dict)
    """Labels on the pool's nodes."""
    taints: list[PoolTaint] = Field(default_factory=list)
    """Taints on the pool's nodes: only pods that tolerate them land there (team or special pools)."""
    weight: between(1, 100) | None = None
    """Priority among pools that fit a pod (1 to 100, higher first); unset is lowest."""
    expire_after: duration(never=True) = "720h"
    """Node lifetime before Karpenter replaces it ("720h", or "Never"); budgets do not hold it back."""
    termination_grace_period: duration() | None = "48h"
    """Longest a node drain may take before pods are force-deleted (Karpenter docs, disruption:
    termination grace period); null waits for PodDisruptionBudgets forever, which can hang a destroy."""
    limits: PoolLimits | None = None
    """Ceiling on the pool's total cpu/memory/nodes; unset takes karpenter.defaultLimits."""
    disruption: Disruption = Field(default_factory=Disruption)
    """Consolidation policy, delay and disruption budgets."""

    @field_validator("capacity_types")
    @classmethod
    def _capacity_types(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in CAPACITY_TYPES]
        if unknown:
            raise ValueError(f"unknown capacity types {unknown}; use on-demand, spot and/or reserved "
                             "(lowercase, as in the karpenter.sh/capacity-type label)")
        if not v or len(set(v)) != len(v):
            raise ValueError("list one or more of on-demand, spot, reserved, each once")
        return v

    @field_validator("architectures")
    @classmethod
    def _architectures(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("list amd64 and/or arm64, each once")
        return v

    @field_validator("instance_categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        if not v or any(not re.match(r"^[a-z]+$", c) for c in v) or len(set(v)) != len(v):
            raise ValueError("list one or more EC2 instance categories like c, m, r, each once")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            domain = key.split("/")[0] if "/" in key else ""
            if any(domain == d or domain.endswith(f".{d}") for d in RESTRICTED_LABEL_DOMAINS) \
                    and not domain.startswith("node-restriction.kubernetes.io"):
                raise ValueError(f"label {key!r} is in a domain Karpenter or Kubernetes reserves "
                                 f"({', '.join(RESTRICTED_LABEL_DOMAINS)}); pick your own prefix")
        return v

    @model_validator(mode="after")
    def _unique_requirement_keys(self) -> NodePoolSettings:
        keys = [r.key for r in self.requirements]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise invalid("requirements", "each key once: {dupes} appear more than once (one "
                          "requirement can list several values)", dupes=dupes)
        return self


class NodeClassSettings(Model):
    """One EC2NodeClass: the AMI, subnets, security groups and disks of the nodes built from it."""

    name: dns_label(63)
    """EC2NodeClass name (a DNS label); NodePools refer to it by nodeClass."""
    ami_alias: str = tiered(dev="al2023@latest", staging="al2023@latest", prod=versions.KARPENTER_AMI_ALIAS)
    """EKS-optimized AL2023 AMI: al2023@latest follows new releases (nodes drift and roll), al2023@vYYYYMMDD
    pins one release (prod)."""
    volume_size_gib: between(20, 16384) = 50
    """Root volume size in GiB (20 to 16384): encrypted gp3 on /dev/xvda."""

    @field_validator("ami_alias")
    @classmethod
    def _alias(cls, v: str) -> str:
        if not AMI_ALIAS.match(v):
            raise ValueError("must be al2023@latest or a pinned release al2023@vYYYYMMDD (a tag of "
                             "awslabs/amazon-eks-ami); other AMI families need other disk layouts")
        return v



GENERAL_PURPOSE = {"name": "general-purpose"}
GRAVITON_POOL = "graviton"


class KarpenterSettings(Model):
    run_on: RunOn = "system-nodes"
    """Where the controller runs: system-nodes (the tainted 'system' managed node group) or fargate (a
    Fargate profile for kube-system pods labelled app.kubernetes.io/name=karpenter; needs cluster.irsa)."""
    controller_resources: ControllerResources = tiered(
        # Upstream's install uses 1 CPU / 1Gi for requests and limits. The system nodes are 2-vCPU
        # t4g.medium/m7g.large (about 1.9 allocatable vCPU each): two 1-CPU requests would take half of
        # the group's CPU, and with everything else pinned there the group's requests would pass its
        # allocatable (staging 115%, prod 102%: tools/capacity.py), leaving controllers Pending. The
        # request only places the pod and weighs its share under contention; the 1-CPU limit still
        # lets the controller burst while it simulates scheduling. Memory stays 1Gi, request = limit:
        # it grows with instance types and pods, not with load, and a memory overrun is an OOM kill.
        # dev: a 512Mi request under the 1Gi limit. A dev cluster's controller holds few instance types'
        # offerings and pods; the request is what lets two t4g.medium system nodes hold the platform
        # (tools/capacity.py), the limit still stops a leak at 1Gi
        dev={"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        staging={"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        prod={"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    )
    """CPU and memory requests and limits of each controller replica."""
    replicas: between(1, 2) = tiered(dev=1, staging=2, prod=2)
    """Controller replicas. Two (the chart's default) spread over two zones and hosts, and a new leader takes over
    at once when one goes; dev runs one, which the system nodes' capacity needs once they also hold the gateway,
    Grafana and kube-state-metrics (cluster.sharedSystemNodes): while it restarts, say on a system node's
    replacement, no node is launched or removed for a minute or so."""
    zonal_shift: bool = False
    """Respect EKS zonal shifts when launching nodes (chart settings.enableZonalShift)."""
    spot_service_linked_role: bool = False
    """Create the EC2 Spot service-linked role (AWSServiceRoleForEC2Spot). Off by default: it exists once
    per account and creating it again fails ('has been taken'); turn it on only in an account that has
    never launched Spot, or import the existing one."""
    graviton_pool: bool = False
    """Add the 'graviton' pool: arm64 only, weight 10, so pods that fit it land on Graviton first. Opt-in:
    every image the cluster runs must then have an arm64 variant (or pin kubernetes.io/arch)."""
    default_limits: PoolLimits = tiered(
        dev={"cpu": "64", "memory": "256Gi"},
        staging={"cpu": "256", "memory": "1024Gi"},
        prod={"cpu": "1000", "memory": "4000Gi"},
    )
    """Limits of every pool that sets none: a runaway Deployment stops here, not at the bill."""
    default_budgets: list[Budget] = tiered(
        dev=[{"nodes": "20%"}], staging=[{"nodes": "20%"}], prod=[{"nodes": "10%"}])
    """Disruption budgets of every pool that sets none."""
    node_classes: list[NodeClassSettings] = tiered(
        dev=[{"name": "default"}], staging=[{"name": "default"}], prod=[{"name": "default"}])
    """EC2NodeClasses; the default is one class 'default'."""
    node_pools: list[NodePoolSettings] = tiered(
        dev=[GENERAL_PURPOSE], staging=[GENERAL_PURPOSE], prod=[GENERAL_PURPOSE])
    """NodePools; the default is one 'general-purpose' pool (on-demand and spot, c/m/r, generation > 2,
    amd64, 48h drain limit). Team pools add taints, labels and weights."""

    @field_validator("node_classes")
    @classmethod
    def _classes(cls, v: list[NodeClassSettings]) -> list[NodeClassSettings]:
        names = [c.name for c in v]
        if not v:
            raise ValueError("at least one node class is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"node class names must be unique, got {names}")
        return v

    @model_validator(mode="after")
    def _pools(self) -> KarpenterSettings:
        if not self.node_pools and not self.graviton_pool:
            raise invalid("nodePools", "at least one NodePool is needed, or Karpenter launches nothing "
                          "(use autoscaling 'none' for no autoscaler)")
        names = [p.name for p in self.pools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            hint = " ('graviton' is taken by gravitonPool)" if GRAVITON_POOL in dupes and self.graviton_pool else ""
            raise invalid("nodePools", "pool names must be unique, {dupes} appear more than once{hint}",
                          dupes=dupes, hint=hint)
        classes = {c.name for c in self.node_classes}
        for i, pool in enumerate(self.node_pools):
            if pool.node_class not in classes:
                raise invalid(f"nodePools[{i}].nodeClass", "no node class named '{ref}'; nodeClasses has "
                              "{classes}", ref=pool.node_class, classes=sorted(classes))
        return self

    @property
    def pools(self) -> list[NodePoolSettings]:
        """The configured pools, plus the Graviton pool when gravitonPool is on."""
        extra = []
        if self.graviton_pool:
            extra.append(NodePoolSettings(name=GRAVITON_POOL, node_class=self.node_classes[0].name,
                                          architectures=["arm64"], min_instance_generation=6, weight=10))
        return [*self.node_pools, *extra]

    @property
    def controller_fargate_profiles(self) -> list[FargateProfileSettings]:
        """The Fargate profile the controller needs when runOn is fargate (none otherwise)."""
        if self.run_on != "fargate":
            return []
        return [FargateProfileSettings(name=FARGATE_PROFILE, selectors=[
            FargateSelector(namespace="kube-system", labels=dict(CONTROLLER_LABEL))])]
