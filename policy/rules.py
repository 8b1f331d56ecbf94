"""The platform's policy rules: plain functions over a resource's type and inputs, or over the stack.

Each rule comes from the EKS Best Practices Guide, the EKS User Guide or the CIS Amazon EKS
Benchmark (through the checkov / Pulumi pre-built pack IDs that implement it); ``source`` cites it.
A rule is mandatory or advisory per tier and says how to fix a violation. The same functions run
in the CrossGuard pack (``policy/__main__.py`` wraps them in ``ResourceValidationPolicy`` /
``StackValidationPolicy``) and in the unit tests and ``make plan`` over the harness's recorded
resources. Inputs are the engine's camelCase inputs; in a real preview they arrive wrapped in
pulumi_policy's unknown-checking proxy (``Mapping`` / ``Sequence``, not dict / list), so the helpers
below only rely on those interfaces.

Nothing here reads configuration: the tier and the stack's exceptions come from settings/policy.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import versions

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


def _levels(dev: Level, staging: Level, prod: Level) -> dict[str, Level]:
    return {"dev": dev, "staging": staging, "prod": prod}


MANDATORY = _levels("mandatory", "mandatory", "mandatory")
PROD_ONLY = _levels("advisory", "advisory", "mandatory")
ADVISORY = _levels("advisory", "advisory", "advisory")


# ---- helpers over proxies (Mapping / Sequence) ---------------------------------------------------

def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _get(value: Any, *path: str) -> Any:
    for key in path:
        value = _map(value).get(key)
    return value


def _truthy(value: Any) -> bool:
    # launch template EBS flags are strings in pulumi-aws ("true"), Karpenter's are booleans
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _document(value: Any) -> Mapping[str, Any]:
    """An IAM policy document given as a JSON string or an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return _map(value)


def _statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = doc.get("Statement")
    return [_map(s) for s in (_seq(raw) if not isinstance(raw, Mapping) else [raw])]


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in _seq(value) if isinstance(v, str)]


def _of(resources: Sequence[Resource], type_: str) -> list[Resource]:
    return [r for r in resources if r.type == type_]


# ---- cluster --------------------------------------------------------------------------------------

def check_endpoint_private(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and _get(inputs, "vpcConfig", "endpointPrivateAccess") is not True:
        yield "the API endpoint has no private access, so nodes reach it over the internet"


def check_endpoint_public_cidrs(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ != CLUSTER:
        return
    vpc = _map(inputs.get("vpcConfig"))
    # EKS defaults endpointPublicAccess to true and publicAccessCidrs to 0.0.0.0/0 when unset
    if vpc.get("endpointPublicAccess", True) is False:
        return
    cidrs = _strings(vpc.get("publicAccessCidrs"))
    if not cidrs or "0.0.0.0/0" in cidrs:
        yield "the API endpoint is public to 0.0.0.0/0"


def check_secrets_encryption(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ != CLUSTER:
        return
    configs = _seq(inputs.get("encryptionConfig")) or [inputs.get("encryptionConfig")]
    if not any("secrets" in _strings(_get(c, "resources")) and _get(c, "provider", "keyArn") for c in configs):
        yield "Kubernetes secrets are not envelope-encrypted with a customer managed KMS key"


AUDIT_LOG_TYPES = ("api", "audit", "authenticator")
ALL_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


def _missing_logs(inputs: Mapping[str, Any], wanted: Sequence[str]) -> list[str]:
    enabled = set(_strings(inputs.get("enabledClusterLogTypes")))
    return [t for t in wanted if t not in enabled]


def check_audit_logs(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and (missing := _missing_logs(inputs, AUDIT_LOG_TYPES)):
        yield f"control-plane log types {missing} are off"


def check_all_logs(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and (missing := _missing_logs(inputs, ALL_LOG_TYPES)):
        yield f"control-plane log types {missing} are off"


def check_supported_version(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ in (CLUSTER, NODE_GROUP) and (v := inputs.get("version")) is not None \
            and v not in versions.KUBERNETES_VERSIONS:
        yield f"Kubernetes {v} is not one of the supported {list(versions.KUBERNETES_VERSIONS)}"
    elif type_ == CLUSTER and inputs.get("version") is None:
        yield "the Kubernetes version is not pinned (EKS would pick its default)"


def check_standard_support(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    # unset means EXTENDED: EKS moves the cluster into extended support (6x the hourly price)
    if type_ == CLUSTER and _get(inputs, "upgradePolicy", "supportType") != "STANDARD":
        yield "the upgrade policy is not STANDARD, so the cluster can drift into paid extended support"


def check_access_entries(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and (mode := _get(inputs, "accessConfig", "authenticationMode")) != "API":
        yield f"authentication mode is {mode or 'CONFIG_MAP (the default)'}, so the aws-auth ConfigMap grants access"


def check_creator_admin(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and _get(inputs, "accessConfig", "bootstrapClusterCreatorAdminPermissions") is not False:
        yield "whoever creates the cluster keeps an implicit cluster-admin access entry"


def check_deletion_protection(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and inputs.get("deletionProtection") is not True:
        yield "deletion protection is off"


# ---- nodes ----------------------------------------------------------------------------------------

def _metadata_options(type_: str, inputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if type_ == LAUNCH_TEMPLATE:
        return _map(inputs.get("metadataOptions"))
    if type_ == NODE_CLASS:
        # Karpenter's CRD defaults metadataOptions to required / hop limit 1 when it is omitted
        # (karpenter.k8s.aws_ec2nodeclasses.yaml, spec.metadataOptions default)
        spec = _map(inputs.get("spec"))
        return _map(spec.get("metadataOptions")) if "metadataOptions" in spec else \
            {"httpTokens": "required", "httpPutResponseHopLimit": 1}
    return None


def check_imdsv2(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    opts = _metadata_options(type_, inputs)
    if opts is not None and opts.get("httpTokens") != "required":
        yield f"metadataOptions.httpTokens is {opts.get('httpTokens')!r}, so IMDSv1 is reachable"


def check_hop_limit(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    opts = _metadata_options(type_, inputs)
    if opts is not None and opts.get("httpPutResponseHopLimit") not in (1, 1.0):
        yield (f"metadataOptions.httpPutResponseHopLimit is {opts.get('httpPutResponseHopLimit')!r}, so pods can "
               "reach the node's instance credentials")


def check_launch_template(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NODE_GROUP and not _get(inputs, "launchTemplate", "id") and not _get(inputs, "launchTemplate", "name"):
        yield "the node group has no launch template, so IMDS and volume settings are EKS's defaults"


def check_no_ssh(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NODE_GROUP and inputs.get("remoteAccess"):
        yield "remoteAccess opens SSH to the nodes"
    if type_ == LAUNCH_TEMPLATE and inputs.get("keyName"):
        yield f"keyName {inputs.get('keyName')!r} puts an SSH key on the nodes"


def check_subnet_no_public_ip(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == SUBNET and inputs.get("mapPublicIpOnLaunch") is True:
        yield "the subnet gives every instance launched in it a public IP"


def _is_public_subnet(r: Resource) -> bool:
    tags = _map(r.inputs.get("tags"))
    return r.inputs.get("mapPublicIpOnLaunch") is True or "kubernetes.io/role/elb" in tags


def check_nodes_private(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    subnets = {r.urn: r for r in _of(resources, SUBNET)}
    for group in _of(resources, NODE_GROUP):
        public = [subnets[u].name for u in group.dependencies if u in subnets and _is_public_subnet(subnets[u])]
        if public:
            yield group, f"node group {group.name} uses public subnets {public}"
    for node_class in _of(resources, NODE_CLASS):
        for term in _seq(_get(node_class.inputs, "spec", "subnetSelectorTerms")):
            wanted = _map(_get(term, "tags"))
            matched = [s for s in subnets.values()
                       if wanted and all(_map(s.inputs.get("tags")).get(k) == v for k, v in wanted.items())]
            public = [s.name for s in matched if _is_public_subnet(s)]
            if public:
                yield node_class, f"EC2NodeClass {node_class.name} selects public subnets {public}"


def _ebs_volumes(type_: str, inputs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if type_ == LAUNCH_TEMPLATE:
        return [_map(_get(b, "ebs")) for b in _seq(inputs.get("blockDeviceMappings"))]
    if type_ == NODE_CLASS:
        return [_map(_get(b, "ebs")) for b in _seq(_get(inputs, "spec", "blockDeviceMappings"))]
    return []


def check_node_volumes_encrypted(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    volumes = _ebs_volumes(type_, inputs)
    if type_ in (LAUNCH_TEMPLATE, NODE_CLASS) and not volumes:
        yield "no block device mapping sets encryption, so the root volume follows the account default"
    for ebs in volumes:
        if not _truthy(ebs.get("encrypted")):
            yield "an EBS volume of the nodes is not encrypted"


def check_storage_class_encrypted(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == STORAGE_CLASS and inputs.get("provisioner") == "ebs.csi.aws.com" \
            and not _truthy(_get(inputs, "parameters", "encrypted")):
        yield "the EBS StorageClass does not set parameters.encrypted: \"true\""


# ---- keys and logs --------------------------------------------------------------------------------

def check_kms_rotation(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    # asymmetric and HMAC keys cannot rotate; the platform only makes symmetric ones
    if type_ == KMS_KEY and inputs.get("customerMasterKeySpec", inputs.get("keySpec", "SYMMETRIC_DEFAULT")) \
            == "SYMMETRIC_DEFAULT" and inputs.get("enableKeyRotation") is not True:
        yield "automatic key rotation is off"


def check_log_group_encrypted(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == LOG_GROUP and not inputs.get("kmsKeyId"):
        yield "the log group is not encrypted with a KMS key"


def check_log_group_retention(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == LOG_GROUP and not inputs.get("retentionInDays"):
        yield "the log group keeps logs forever (no retentionInDays)"


def check_log_group_retention_year(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    days = inputs.get("retentionInDays") if type_ == LOG_GROUP else None
    if type_ == LOG_GROUP and days and days < 365:
        yield f"the log group keeps logs {days:g} days, less than a year"


# ---- network --------------------------------------------------------------------------------------

def check_flow_logs(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    logs = _of(resources, FLOW_LOG)
    for vpc in _of(resources, VPC):
        if not any(vpc.urn in f.dependencies for f in logs):
            yield vpc, f"VPC {vpc.name} has no flow log"


def check_default_sg(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    defaults = _of(resources, DEFAULT_SG)
    for sg in defaults:
        if _seq(sg.inputs.get("ingress")) or _seq(sg.inputs.get("egress")):
            yield sg, f"default security group {sg.name} has rules"
    for vpc in _of(resources, VPC):
        if not any(vpc.urn in sg.dependencies for sg in defaults):
            yield vpc, f"VPC {vpc.name}'s default security group is not adopted and emptied (it allows all traffic)"


def _zones(resources: Sequence[Resource], private: bool) -> set[str]:
    return {z for s in _of(resources, SUBNET) if _is_public_subnet(s) != private
            and isinstance(z := s.inputs.get("availabilityZone"), str)}


def check_nat_per_az(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    zones = _zones(resources, private=True)
    nats = _of(resources, NAT)
    if zones and len(nats) < len(zones):
        yield None, (f"{len(nats)} NAT gateway(s) for private subnets in {len(zones)} AZs: losing the NAT's AZ "
                     "cuts every AZ off, and cross-AZ traffic is billed")


def check_three_azs(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    zones = _zones(resources, private=True)
    if _of(resources, SUBNET) and len(zones) < 3:
        yield None, f"private subnets span {len(zones)} AZs ({sorted(zones)})"


def check_network_policy(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    if not _of(resources, CLUSTER):
        return  # not an EKS stack
    cni = [a for a in _of(resources, ADDON) if a.inputs.get("addonName") == "vpc-cni"]
    if not cni:
        yield None, "the vpc-cni add-on is not managed, so network policy enforcement is not configured"
    for addon in cni:
        value = _document(addon.inputs.get("configurationValues")).get("enableNetworkPolicy")
        if not _truthy(value):
            yield addon, "the vpc-cni add-on does not set enableNetworkPolicy: \"true\""


def check_addon_pinned(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == ADDON and not inputs.get("addonVersion"):
        yield f"add-on {inputs.get('addonName')} has no addonVersion, so EKS picks one"


# ---- IAM ------------------------------------------------------------------------------------------

def _wildcard_statements(doc: Mapping[str, Any]) -> list[str]:
    found = []
    for s in _statements(doc):
        if s.get("Effect") != "Allow" or s.get("Condition") or "*" not in _strings(s.get("Resource")):
            continue
        actions = [a for a in _strings(s.get("Action")) if a == "*" or a.endswith(":*")]
        if actions:
            found.append(f"{s.get('Sid') or 'a statement'} allows {actions} on * without a condition")
        elif "NotAction" in s:
            # Allow + NotAction on * grants everything but the listed actions
            found.append(f"{s.get('Sid') or 'a statement'} allows everything but {_strings(s.get('NotAction'))} on *")
    return found


def check_iam_wildcards(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    docs: list[Any] = []
    if type_ in (IAM_POLICY, IAM_ROLE_POLICY):
        docs.append(inputs.get("policy"))
    if type_ == IAM_ROLE:
        docs += [_get(p, "policy") for p in _seq(inputs.get("inlinePolicies"))]
    for doc in docs:
        yield from _wildcard_statements(_document(doc))


ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess",
                  "arn:aws:iam::aws:policy/IAMFullAccess")


def check_no_admin_attachment(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == IAM_ATTACHMENT and inputs.get("policyArn") in ADMIN_POLICIES:
        yield f"{inputs.get('policyArn')} is attached to a role"
    if type_ == IAM_ROLE:
        for arn in _strings(inputs.get("managedPolicyArns")):
            if arn in ADMIN_POLICIES:
                yield f"{arn} is attached to the role"


def _trusts_service(doc: Mapping[str, Any], service: str) -> bool:
    return any(s.get("Effect") == "Allow" and service in _strings(_map(s.get("Principal")).get("Service"))
               for s in _statements(doc))


def _web_identity_trusts(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """IRSA statements: an OIDC provider (Federated) may assume the role with a web identity token."""
    return [s for s in _statements(doc) if s.get("Effect") == "Allow" and _map(s.get("Principal")).get("Federated")
            and "sts:AssumeRoleWithWebIdentity" in _strings(s.get("Action"))]


def check_pod_role_trust(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    associations = _of(resources, POD_IDENTITY)
    for role in _of(resources, IAM_ROLE):
        doc = _document(role.inputs.get("assumeRolePolicy"))
        if _trusts_service(doc, "pods.eks.amazonaws.com"):
            # Pod Identity: the association names the one namespace/service account the role serves
            bound = {(_get(a.inputs, "namespace"), _get(a.inputs, "serviceAccount"))
                     for a in associations if role.urn in a.dependencies}
            if len(bound) != 1:
                yield role, (f"Pod Identity role {role.name} is associated with {len(bound)} service accounts "
                             f"{sorted(map(str, bound))}")
        for s in _web_identity_trusts(doc):
            # IRSA: the trust must pin the token's subject to one service account
            subjects = [v for op, cond in _map(s.get("Condition")).items() for k, v in _map(cond).items()
                        if op == "StringEquals" and k.endswith(":sub")]
            values = [x for v in subjects for x in _strings(v)]
            if len(values) != 1 or not values[0].startswith("system:serviceaccount:") or "*" in values[0]:
                yield role, f"IRSA role {role.name} trusts {values or 'any subject'} instead of one service account"


# ---- Helm and workloads ---------------------------------------------------------------------------

_RANGE = re.compile(r"[\^~*xX><=|, ]|^$")


def check_helm_pinned(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ in (HELM_RELEASE, HELM_CHART):
        version = inputs.get("version")
        if not isinstance(version, str) or _RANGE.search(version):
            yield f"chart {inputs.get('chart')} is not pinned to one version (version {version!r})"


def _floating(image: str) -> bool:
    """``repo/name:latest``, or no tag and no digest at all (which pulls latest); "" is the chart's default."""
    last = image.rsplit("/", 1)[-1]
    return bool(image) and (image.endswith(":latest") or (":" not in last and "@" not in image))


def _latest_images(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            # an empty "tag" falls back to the chart's appVersion, which the pinned chart fixes
            if (key == "tag" and item == "latest") or (key == "image" and isinstance(item, str) and _floating(item)):
                yield here
            else:
                yield from _latest_images(item, here)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i, item in enumerate(value):
            yield from _latest_images(item, f"{path}[{i}]")


def check_no_latest_tag(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ in (HELM_RELEASE, HELM_CHART):
        for path in _latest_images(inputs.get("values")):
            yield f"values.{path} uses the latest tag (or none)"
    elif type_.startswith("kubernetes:apps/v1:") or type_ in ("kubernetes:core/v1:Pod", "kubernetes:batch/v1:Job"):
        for path in _latest_images(inputs.get("spec")):
            yield f"spec.{path} uses the latest tag (or none)"


@dataclass(frozen=True)
class Controller:
    """Where a controller chart takes its replica count and disruption budget, and its chart defaults
    (from the chart's values.yaml in ../shared/upstream where we have it)."""

    replicas: tuple[str, ...]
    default_replicas: int
    pdb: Callable[[Mapping[str, Any]], bool]


def _pdb_object(*path: str) -> Callable[[Mapping[str, Any]], bool]:
    def has(values: Mapping[str, Any]) -> bool:
        pdb = _get(values, *path)
        return bool(_map(pdb).get("minAvailable") is not None or _map(pdb).get("maxUnavailable") is not None)
    return has


CONTROLLERS: dict[str, Controller] = {
    # karpenter values.yaml: replicas 2, podDisruptionBudget {name, maxUnavailable: 1} by default
    "karpenter": Controller(("replicas",), 2, lambda v: _get(v, "podDisruptionBudget") != {}),
    # aws-load-balancer-controller values.yaml: replicaCount 2, podDisruptionBudget {} (none) by default
    "aws-load-balancer-controller": Controller(("replicaCount",), 2, _pdb_object("podDisruptionBudget")),
    # metrics-server chart: replicas 1, podDisruptionBudget.enabled false by default
    "metrics-server": Controller(("replicas",), 1, lambda v: _get(v, "podDisruptionBudget", "enabled") is True),
    # istiod values: replicaCount 1; global.defaultPodDisruptionBudget.enabled true renders one
    "istiod": Controller(("replicaCount",), 1,
                         lambda v: _get(v, "global", "defaultPodDisruptionBudget", "enabled") is not False),
    # gateway values.yaml: podDisruptionBudget {} (none) by default; replicas from autoscaling.minReplicas
    "gateway": Controller(("autoscaling.minReplicas", "replicaCount"), 1, _pdb_object("podDisruptionBudget")),
    # cluster-autoscaler chart: replicaCount 1, podDisruptionBudget maxUnavailable 1 by default
    "cluster-autoscaler": Controller(("replicaCount",), 1, lambda v: _get(v, "podDisruptionBudget") != {}),
}


def _chart_name(inputs: Mapping[str, Any]) -> str:
    chart = inputs.get("chart")
    return chart.rsplit("/", 1)[-1] if isinstance(chart, str) else ""


def _replicas(ctrl: Controller, values: Mapping[str, Any]) -> int:
    for path in ctrl.replicas:
        value = _get(values, *path.split("."))
        if isinstance(value, int | float):
            return int(value)
    return ctrl.default_replicas


def check_controller_replicas(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    ctrl = CONTROLLERS.get(_chart_name(inputs)) if type_ == HELM_RELEASE else None
    if ctrl is not None and (n := _replicas(ctrl, _map(inputs.get("values")))) < 2:
        yield f"controller {_chart_name(inputs)} runs {n} replica(s)"


def check_controller_pdb(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    ctrl = CONTROLLERS.get(_chart_name(inputs)) if type_ == HELM_RELEASE else None
    if ctrl is not None and not ctrl.pdb(_map(inputs.get("values"))):
        yield f"controller {_chart_name(inputs)} has no PodDisruptionBudget"


def check_pool_limits(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NODE_POOL and not _map(_get(inputs, "spec", "limits")).get("cpu"):
        yield f"NodePool {_get(inputs, 'metadata', 'name')} has no spec.limits.cpu, so it can grow without bound"


def check_pool_budgets(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NODE_POOL and not _seq(_get(inputs, "spec", "disruption", "budgets")):
        yield f"NodePool {_get(inputs, 'metadata', 'name')} has no disruption budgets"


PSS_LABEL = "pod-security.kubernetes.io/enforce"
PSS_LEVELS = ("privileged", "baseline", "restricted")


def check_namespace_pss(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NAMESPACE:
        level = _map(_get(inputs, "metadata", "labels")).get(PSS_LABEL)
        if level not in PSS_LEVELS:
            yield f"namespace {_get(inputs, 'metadata', 'name')} has no {PSS_LABEL} label (got {level!r})"


def check_namespace_not_privileged(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NAMESPACE and _map(_get(inputs, "metadata", "labels")).get(PSS_LABEL) == "privileged":
        yield f"namespace {_get(inputs, 'metadata', 'name')} enforces the privileged Pod Security level"


# ---- the rule table -------------------------------------------------------------------------------

BP = "EKS Best Practices Guide"

RULES: tuple[Rule, ...] = (
    Rule("eks-endpoint-private-access", "The cluster API endpoint has private access on.",
         f"{BP}, Security: cluster access (private endpoint); CIS EKS 5.4.1; checkov CKV_AWS_39",
         "set eks-platform:cluster.endpointPrivateAccess (the platform's default is private)", MANDATORY,
         resource_check=check_endpoint_private),
    Rule("eks-endpoint-no-public-cidr", "A public API endpoint is limited to listed CIDRs, never 0.0.0.0/0.",
         "CIS EKS 5.4.2; checkov CKV_AWS_38; Pulumi eks-cluster-endpoint-restrict-public-access",
         "keep the endpoint private or list your networks in eks-platform:cluster.publicAccessCidrs", PROD_ONLY,
         resource_check=check_endpoint_public_cidrs,
         reason="dev and staging may open the endpoint to reach it from a laptop; prod may not"),
    Rule("eks-secrets-encryption", "Secrets are envelope-encrypted with a customer managed KMS key.",
         "CIS EKS 5.3.1; EKS User Guide envelope-encryption; checkov CKV_AWS_58", "keep the cluster's "
         "encryptionConfig (resources [secrets], provider.keyArn of the cluster KMS key)", MANDATORY,
         resource_check=check_secrets_encryption),
    Rule("eks-audit-logs", "The audit-relevant control-plane logs (api, audit, authenticator) are on.",
         f"CIS EKS 2.1.1; {BP}, Detective controls (audit logs); Pulumi eks-cluster-audit-logging-enabled",
         "add api, audit and authenticator to eks-platform:cluster.logTypes", MANDATORY,
         resource_check=check_audit_logs),
    Rule("eks-all-control-plane-logs", "All five control-plane log types are on.",
         "checkov CKV_AWS_37 (all log types)", "set eks-platform:cluster.logTypes to all five types", PROD_ONLY,
         resource_check=check_all_logs,
         reason="controllerManager and scheduler logs cost ingestion and serve debugging, not audit, below prod"),
    Rule("eks-supported-version", "The cluster and node groups run a Kubernetes version in versions.py.",
         "EKS User Guide kubernetes-versions (standard support); checkov CKV_AWS_339",
         f"set eks-platform:cluster.version to one of {list(versions.KUBERNETES_VERSIONS)}", MANDATORY,
         resource_check=check_supported_version),
    Rule("eks-standard-support", "The upgrade policy is STANDARD (no silent extended support).",
         "EKS User Guide kubernetes-versions-extended (upgradePolicy.supportType); AWS extended support pricing",
         "set the cluster's upgradePolicy.supportType to STANDARD (the platform's default)", MANDATORY,
         resource_check=check_standard_support),
    Rule("eks-access-entries", "Authentication mode is API: access entries, no aws-auth ConfigMap.",
         f"{BP}, Identity and access management (access entries); CIS EKS 4.1; "
         "Pulumi eks-cluster-access-manager-enabled", "set accessConfig.authenticationMode to API", MANDATORY,
         resource_check=check_access_entries),
    Rule("eks-no-creator-admin", "The cluster creator does not keep an implicit cluster-admin entry.",
         "CIS EKS 4.1.1 (minimize cluster-admin); Pulumi k8s-cluster-admin-role-binding-minimized",
         "set accessConfig.bootstrapClusterCreatorAdminPermissions false and grant admins access entries",
         ADVISORY, resource_check=check_creator_admin,
         reason="the deploying role needs cluster access for the Kubernetes objects until admins are access "
                "entries of their own"),
    Rule("eks-deletion-protection", "Deletion protection is on.", "EKS User Guide deletion-protection; "
         "eksctl example 46-deletion-protection-example.yaml", "set eks-platform:cluster.deletionProtection true",
         PROD_ONLY, resource_check=check_deletion_protection,
         reason="dev and staging clusters are torn down and rebuilt"),
    Rule("eks-addon-pinned", "Every EKS add-on is pinned to a version.", "EKS User Guide managing add-ons "
         "(addonVersion); versions.py pins one version per add-on and minor",
         "pin the add-on in versions.EKS_ADDONS", MANDATORY, resource_check=check_addon_pinned),
    Rule("imdsv2-required", "Every launch template and EC2NodeClass requires IMDSv2 tokens.",
         f"{BP}, Security: restrict access to the instance profile; checkov CKV_AWS_79",
         "set metadataOptions.httpTokens: required", MANDATORY, resource_check=check_imdsv2),
    Rule("imds-hop-limit-1", "Every launch template and EC2NodeClass has an IMDS hop limit of 1.",
         f"{BP}, Security: restrict access to the instance profile; checkov CKV_AWS_341",
         "set metadataOptions.httpPutResponseHopLimit: 1 (pods use Pod Identity instead)", MANDATORY,
         resource_check=check_hop_limit),
    Rule("node-group-launch-template", "Every managed node group uses the platform's launch template.",
         "CIS EKS 3.1; Pulumi eks-node-group-launch-template-required",
         "create the node group through components/cluster/node_groups.py", MANDATORY,
         resource_check=check_launch_template),
    Rule("no-ssh", "No SSH: no node group remoteAccess, no key pair on launch templates.",
         f"{BP}, Security: use SSM instead of SSH; checkov CKV_AWS_100",
         "remove remoteAccess / keyName and use SSM Session Manager", MANDATORY, resource_check=check_no_ssh),
    Rule("subnet-no-public-ip", "No subnet assigns public IPs on launch.", "checkov CKV_AWS_130; CIS EKS 5.4.3",
         "keep mapPublicIpOnLaunch false (load balancers get their addresses from AWS)", MANDATORY,
         resource_check=check_subnet_no_public_ip),
    Rule("nodes-private-subnets", "Node groups and Karpenter node classes use private subnets only.",
         "CIS EKS 5.4.3 (private nodes); Prowler eks_cluster_private_nodes_enabled",
         "place nodes in the private subnets (karpenter.sh/discovery is only on private ones)", MANDATORY,
         stack_check=check_nodes_private),
    Rule("node-volumes-encrypted", "Node EBS volumes (launch templates, EC2NodeClasses) are encrypted.",
         f"{BP}, Security: encryption at rest; checkov CKV_AWS_3 / CKV_AWS_8", "set ebs.encrypted on every "
         "block device mapping", MANDATORY, resource_check=check_node_volumes_encrypted),
    Rule("storage-class-encrypted", "EBS StorageClasses encrypt the volumes they provision.",
         f"{BP}, Security: encryption at rest (EBS CSI parameters.encrypted); checkov CKV_AWS_189",
         "set parameters.encrypted: \"true\" on the StorageClass", MANDATORY,
         resource_check=check_storage_class_encrypted),
    Rule("kms-key-rotation", "Every symmetric KMS key rotates yearly.", "checkov CKV_AWS_7; CIS AWS Foundations 3.6",
         "set enable_key_rotation=True on the key", MANDATORY, resource_check=check_kms_rotation),
    Rule("log-group-encrypted", "Every CloudWatch log group is KMS-encrypted.", "checkov CKV_AWS_158",
         "give the log group a kms_key_id whose key policy lets logs.<region>.amazonaws.com use it", MANDATORY,
         resource_check=check_log_group_encrypted),
    Rule("log-group-retention", "Every CloudWatch log group has a retention period.", "checkov CKV_AWS_66",
         "set retention_in_days (eks-platform:cluster.logRetentionDays for control-plane logs)", MANDATORY,
         resource_check=check_log_group_retention),
    Rule("log-group-retention-year", "Log groups keep a year of logs.", "checkov CKV_AWS_338",
         "set retention to 365 days or more", PROD_ONLY, resource_check=check_log_group_retention_year,
         reason="short retention keeps dev and staging storage cheap"),
    Rule("vpc-flow-logs", "Every VPC the platform creates has a flow log.",
         f"{BP}, Network security (VPC flow logs); checkov CKV2_AWS_11",
         "keep eks-platform:network.flowLogs on", MANDATORY, stack_check=check_flow_logs),
    Rule("default-security-group-closed", "Each VPC's default security group is adopted with no rules.",
         "checkov CKV2_AWS_12; CIS AWS Foundations 5.4",
         "adopt the default security group with aws.ec2.DefaultSecurityGroup and no ingress/egress", MANDATORY,
         stack_check=check_default_sg),
    Rule("nat-per-az", "There is one NAT gateway per AZ of the private subnets.",
         f"{BP}, Reliability: data plane (spread across AZs); AWS NAT gateway docs (zonal resource)",
         "set eks-platform:network.natStrategy per-az", PROD_ONLY, stack_check=check_nat_per_az,
         reason="a single NAT saves about $33/month per AZ where an AZ outage is acceptable"),
    Rule("three-azs", "The private subnets span three AZs.", f"{BP}, Reliability: data plane (use 3 AZs)",
         "set eks-platform:network.azCount 3", PROD_ONLY, stack_check=check_three_azs,
         reason="dev runs two AZs to keep subnets and NAT cheap"),
    Rule("network-policy-enforced", "The vpc-cni add-on enforces Kubernetes NetworkPolicies.",
         f"{BP}, Network security (network policies); CIS EKS 5.4 (Pulumi eks-network-policy-enabled)",
         "set enableNetworkPolicy: \"true\" in the vpc-cni add-on's configurationValues", MANDATORY,
         stack_check=check_network_policy),
    Rule("iam-no-wildcard-admin", "No IAM policy allows * (or service:*) actions on * without a condition.",
         f"{BP}, IAM: least privilege for IRSA / Pod Identity roles; CIS EKS 5.2.1",
         "list the actions and resources the controller needs (see its upstream IAM policy)", MANDATORY,
         resource_check=check_iam_wildcards),
    Rule("iam-no-admin-managed-policy", "No role gets AdministratorAccess, PowerUserAccess or IAMFullAccess.",
         f"{BP}, IAM: least privilege; CIS EKS 5.2", "attach a scoped policy instead", MANDATORY,
         resource_check=check_no_admin_attachment),
    Rule("pod-role-one-service-account", "Each Pod Identity / IRSA role serves exactly one service account.",
         f"{BP}, IAM: scope the IAM role trust policy to the service account; Pulumi "
         "eks-service-accounts-iam-role-binding (CIS EKS 5.2)",
         "give each controller its own role: one PodIdentityAssociation, or an IRSA trust with StringEquals on "
         "<issuer>:sub = system:serviceaccount:<namespace>:<name>", MANDATORY, stack_check=check_pod_role_trust),
    Rule("helm-release-pinned", "Every Helm release is pinned to one chart version.",
         "Helm docs (helm install --version: without it the latest chart is installed); STYLE.md versions",
         "pin the chart in versions.CHARTS and install it through components/helm.release", MANDATORY,
         resource_check=check_helm_pinned),
    Rule("no-latest-image-tag", "No image in Helm values or workloads uses the latest tag.",
         f"{BP}, Security: image security (immutable tags); checkov CKV_K8S_14",
         "pin the image tag (or digest), or leave the chart's default (its appVersion)", MANDATORY,
         resource_check=check_no_latest_tag),
    Rule("controller-replicas", "Platform controllers run two or more replicas.",
         f"{BP}, Reliability: applications (run multiple replicas); AWS Prescriptive Guidance ha-resiliency",
         "raise the controller's replicas in its settings section", PROD_ONLY,
         resource_check=check_controller_replicas, reason="dev and staging run single replicas to save nodes"),
    Rule("controller-pdb", "Platform controllers have a PodDisruptionBudget.",
         f"{BP}, Reliability: applications (PodDisruptionBudgets)",
         "set the chart's PodDisruptionBudget values in the add-on", PROD_ONLY, resource_check=check_controller_pdb,
         reason="a budget over one replica only blocks node drains"),
    Rule("karpenter-pool-limits", "Every Karpenter NodePool has CPU limits.",
         "Karpenter docs, NodePools: spec.limits; EKS Best Practices Karpenter (limit the pool)",
         "set limits on the pool in eks-platform:karpenter.nodePools", MANDATORY, resource_check=check_pool_limits),
    Rule("karpenter-pool-budgets", "Every Karpenter NodePool has disruption budgets.",
         "Karpenter docs, Disruption: budgets; EKS Best Practices Karpenter", "set disruption budgets on the pool",
         ADVISORY, resource_check=check_pool_budgets,
         reason="Karpenter's default budget (10% of nodes) applies when none is set"),
    Rule("namespace-pod-security", "Every namespace the platform creates sets a Pod Security level.",
         f"{BP}, Pod security (Pod Security Standards); CIS EKS 4.2 (Pulumi k8s-pod-security-*)",
         f"label the namespace {PSS_LABEL}: restricted or baseline (components/helm.namespace pod_security=)",
         MANDATORY, resource_check=check_namespace_pss),
    Rule("namespace-not-privileged", "Namespaces do not enforce the privileged Pod Security level.",
         f"{BP}, Pod security (Pod Security Standards); CIS EKS 4.2",
         "move host-level agents to their own namespace and enforce baseline or restricted elsewhere", ADVISORY,
         resource_check=check_namespace_not_privileged,
         reason="node-exporter needs host network, PID and paths, so the monitoring namespace must be privileged"),
)

RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}


# ---- evaluation -----------------------------------------------------------------------------------

def message(rule: Rule, detail: str, exception: str | None = None) -> str:
    text = f"{detail}. Fix: {rule.fix}. [{rule.source}]"
    return f"{text} Stack exception: {exception}" if exception else text


def resource_findings(rule: Rule, res: Resource, tier: str, exception: str | None = None) -> list[Finding]:
    if rule.resource_check is None:
        return []
    return [Finding(rule.name, "advisory" if exception else rule.level(tier), message(rule, d, exception), d,
                    res.urn, res.name, exception) for d in rule.resource_check(res.type, res.inputs)]


def stack_findings(rule: Rule, resources: Sequence[Resource], tier: str,
                   exception: str | None = None) -> list[Finding]:
    if rule.stack_check is None:
        return []
    return [Finding(rule.name, "advisory" if exception else rule.level(tier), message(rule, d, exception), d,
                    r.urn if r else None, r.name if r else None, exception)
            for r, d in rule.stack_check(resources)]


def evaluate(resources: Sequence[Resource], tier: str, exceptions: Mapping[str, str] | None = None,
             rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every violation of ``rules`` in the stack; a rule the stack excepts reports advisory with its reason."""
    exceptions = exceptions or {}
    out: list[Finding] = []
    for rule in rules:
        reason = exceptions.get(rule.name)
        for res in resources:
            out += resource_findings(rule, res, tier, reason)
        out += stack_findings(rule, resources, tier, reason)
    return out


def recorded(records: Iterable[Any], proxy: bool = False) -> list[Resource]:
    """The harness's recorded custom resources (``harness.Recorded``) as rules see them; ``proxy``
    wraps inputs in pulumi_policy's unknown-checking proxy, as the real analyzer does."""
    if proxy:
        from pulumi_policy.proxy import unknown_checking_proxy
    return [Resource(r.type, r.name, r.urn, unknown_checking_proxy(dict(r.inputs)) if proxy else r.inputs,
                     tuple(r.dependencies)) for r in records if r.custom]


def rules_table() -> str:
    """The rule list as a Markdown table (policy/README.md holds it; a test keeps it current)."""
    lines = ["| rule | dev | staging | prod | checks | why advisory where it is | source |",
             "|---|---|---|---|---|---|---|"]
    for r in RULES:
        lines.append(f"| `{r.name}` | {r.levels['dev']} | {r.levels['staging']} | {r.levels['prod']} | "
                     f"{r.description} | {r.reason or '-'} | {r.source} |")
    return "\n".join(lines)


README = "policy/README.md"
TABLE_START, TABLE_END = "<!-- rules:start -->", "<!-- rules:end -->"


def main(argv: Sequence[str] | None = None) -> int:
    """python -m policy.rules [--write]: print the rule table, or write it into policy/README.md."""
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    table = rules_table()
    if "--write" not in args:
        print(table)
        return 0
    path = Path(__file__).resolve().parent / "README.md"
    text = path.read_text()
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}")
    print(f"wrote {len(RULES)} rules into {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
