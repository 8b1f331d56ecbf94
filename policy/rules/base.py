"""What every rule module shares: the resource type tokens, ``Resource`` / ``Rule`` / ``Finding``, the
enforcement levels per tier, and helpers that read inputs through Mapping / Sequence only (in a real preview
they arrive wrapped in pulumi_policy's unknown-checking proxy, not as dict / list)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["mandatory", "advisory"]
TIERS = ("dev", "staging", "prod")

# Resource types the rules look at (the engine's type tokens).
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
NAT = "aws:ec2/natGateway:NatGateway"
KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART = "kubernetes:helm.sh/v4:Chart"
NAMESPACE = "kubernetes:core/v1:Namespace"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


@dataclass(frozen=True)
class Resource:
    """What a rule sees of one resource: as the engine sends it to a policy pack, or as recorded."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()
    """URNs of the resources this one depends on (its inputs' sources and depends_on)."""


ResourceCheck = Callable[[str, Mapping[str, Any]], Iterable[str]]
"""(type, inputs) -> what is wrong with this resource, one line each (nothing when it passes)."""
StackCheck = Callable[[Sequence[Resource]], Iterable[tuple[Resource | None, str]]]
"""All of the stack's resources -> (offending resource or None for the stack, what is wrong)."""


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    source: str
    """Where the control comes from (guide section, benchmark item, scanner check ID)."""
    fix: str
    """How to fix a violation; appended to every message."""
    levels: Mapping[str, Level]
    """Enforcement per tier (dev, staging, prod)."""
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    reason: str = ""
    """Why a tier is only advisory, where one is."""

    def level(self, tier: str) -> Level:
        return self.levels[tier]


@dataclass(frozen=True)
class Finding:
    """One violation of one rule."""

    rule: str
    level: Level
    message: str
    """What is wrong, how to fix it and the rule's source (what the pack reports)."""
    detail: str
    """What is wrong, alone."""
    urn: str | None = None
    resource: str | None = None
    exception: str | None = None
    """The stack's written reason when the stack has an exception for this rule."""


def levels(dev: Level, staging: Level, prod: Level) -> dict[str, Level]:
    return {"dev": dev, "staging": staging, "prod": prod}


MANDATORY = levels("mandatory", "mandatory", "mandatory")
PROD_ONLY = levels("advisory", "advisory", "mandatory")
ADVISORY = levels("advisory", "advisory", "advisory")


# Helpers over proxies (Mapping / Sequence): in a real preview inputs are pulumi_policy proxies.

def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def get_in(value: Any, *path: str) -> Any:
    for key in path:
        value = as_map(value).get(key)
    return value


def truthy(value: Any) -> bool:
    # launch template EBS flags are strings in pulumi-aws ("true"), Karpenter's are booleans
    return value is True or (isinstance(value, str) and value.lower() == "true")


def document(value: Any) -> Mapping[str, Any]:
    """An IAM policy document given as a JSON string or an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return as_map(value)


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = doc.get("Statement")
    return [as_map(s) for s in (as_list(raw) if not isinstance(raw, Mapping) else [raw])]


def strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in as_list(value) if isinstance(v, str)]


def of_type(resources: Sequence[Resource], type_: str) -> list[Resource]:
    return [r for r in resources if r.type == type_]


BP = "EKS Best Practices Guide"
"""The guide most rules cite."""
