"""Settings of the AWS target: network, EKS control plane, managed node groups, Fargate profiles.

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

import versions
from settings.base import Model, invalid, tiered
from settings.types import (
    Cidr,
    LabelKey,
    Labels,
    PrincipalArn,
    RetentionDays,
    TaintValue,
    between,
    dns_label,
)

NatStrategy = Literal["none", "single", "per-az", "instance"]
CapacityType = Literal["ON_DEMAND", "SPOT"]
AmiType = Literal[
    "AL2023_x86_64_STANDARD",
    "AL2023_ARM_64_STANDARD",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_ARM_64",
]
LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
TaintEffect = Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]

INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*\.[a-z0-9]+$")
# Graviton families carry a "g" right after the generation digit: m7g, c7gn, r8gd, t4g, hpc7g.
GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+g")
VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")


def instance_arch(instance_type: str) -> str:
    """``arm64`` for Graviton instance types, ``x86_64`` otherwise."""
    return "arm64" if GRAVITON_FAMILY.match(instance_type.split(".")[0]) else "x86_64"


def ami_arch(ami_type: str) -> str:
    return "arm64" if "ARM_64" in ami_type else "x86_64"


def _private_network(value: str, key: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{key} must be an IPv4 network in CIDR form like 10.0.0.0/16 ({exc})") from None
    return net


class ExistingNetwork(Model):
    """A VPC this stack does not own: the platform creates no network resources in it."""

    vpc_id: str
    """Id of the existing VPC (vpc-...)."""
    private_subnet_ids: list[str] = Field(min_length=2)
    """Private subnets for nodes and the control plane's ENIs, in at least two AZs."""
    public_subnet_ids: list[str] = Field(default_factory=list)
    """Public subnets for internet-facing load balancers (may be empty for an internal-only cluster)."""
    tag_subnets: bool = True
    """Add the load balancer and Karpenter discovery tags to the given subnets (aws.ec2.Tag)."""

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, v: str) -> str:
        if not VPC_ID.match(v):
            raise ValueError("must look like vpc-0123456789abcdef0")
        return v

    @field_validator("private_subnet_ids", "public_subnet_ids")
    @classmethod
    def _subnet_ids(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if not SUBNET_ID.match(s)]
        if bad:
            raise ValueError(f"subnet ids must look like subnet-0123456789abcdef0, got {bad}")
        if len(set(v)) != len(v):
            raise ValueError("subnet ids must be unique")
        return v


class FlowLogSettings(Model):
    enabled: bool = True
    """Send VPC flow logs to CloudWatch Logs."""
    retention_days: RetentionDays = tiered(dev=14, staging=30, prod=365)
    """Retention of the flow log group, in days (a CloudWatch Logs retention value)."""
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Which traffic to record."""


class NetworkSettings(Model):
    vpc_cidr: str = tiered(dev="10.10.0.0/16", staging="10.20.0.0/16", prod="10.30.0.0/16")
    """CIDR of the new VPC, /16 to /20 in a private range; subnet sizes are derived from it."""
    az_count: between(2, 6) = tiered(dev=2, staging=3, prod=3)
    """How many availability zones the VPC spans (2 to 6)."""
    nat_strategy: NatStrategy = tiered(dev="instance", staging="single", prod="per-az")
    """Egress for private subnets: one shared NAT gateway (single), one NAT gateway per AZ (per-az), or one
    NAT instance (instance: about $7/month instead of $33, for dev: no managed failover, burstable
    bandwidth, an OS to patch through SSM); 'none' is refused with what it would take."""
    nat_instance_type: str = "t4g.nano"
    """Instance type of the NAT instance (natStrategy 'instance'); Graviton or x86, the AMI follows."""
    interface_endpoints: list[str] = Field(default_factory=list)
    """Interface VPC endpoints to create (service suffixes such as ecr.api, ecr.dkr, sts, ec2, logs)."""
    flow_logs: FlowLogSettings = Field(default_factory=FlowLogSettings)
    """VPC flow logs."""
    existing: ExistingNetwork | None = None
    """Bring your own VPC instead of creating one (the other network keys must then be absent)."""

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, v: str) -> str:
        net = _private_network(v, "vpcCidr")
        if not 16 <= net.prefixlen <= 20:
            raise ValueError("must be a /16 to /20 network")
        if not net.is_private:
            raise ValueError("must be a private (RFC 1918 or 100.64.0.0/10) range")
        return str(net)

    @field_validator("nat_instance_type")
    @classmethod
    def _nat_instance_type(cls, v: str) -> str:
        if not INSTANCE_TYPE.match(v):
            raise ValueError(f"instance types look like 't4g.nano' or 't3.micro', got {v!r}")
        return v

    @field_validator("interface_endpoints")
    @classmethod
    def _endpoints(cls, v: list[str]) -> list[str]:
        full = [e for e in v if e.startswith("com.amazonaws.")]
        if full:
            # the service name is built as com.amazonaws.<region>.<suffix> (components/network/vpc.py)
            short = [e.split(".", 3)[3] if e.count(".") >= 3 else e for e in full]
            raise ValueError(f"give the service suffix, not the full service name: write {short} for {full} (the "
                             "platform adds com.amazonaws.<region>.)")
        bad = [e for e in v if not re.match(r"^[a-z0-9]+([.-][a-z0-9]+)*$", e)]
        if bad:
            raise ValueError(f"endpoint service suffixes look like 'ecr.api' or 'sts', got {bad}")
        if "s3" in v:
            raise ValueError("s3 is always a (free) gateway endpoint; remove it from interfaceEndpoints")
        if len(set(v)) != len(v):
            raise ValueError("endpoints must be unique")
        return v

    @model_validator(mode="after")
    def _no_nat_is_not_supported(self) -> NetworkSettings:
        if self.existing is None and self.nat_strategy == "none":
            # What a cluster without egress would need, each checked against AWS's docs: interface
            # endpoints for ecr.api, ecr.dkr, sts, ec2, eks-auth (Pod Identity), eks, ssm and sqs
            # (Karpenter, with its isolatedVPC setting), autoscaling (Cluster Autoscaler); IAM has no
            # endpoint, so Karpenter could not create instance profiles; and a mirror for the controller
            # images on public.ecr.aws and registry.k8s.io. None of that is built here.
            raise invalid(
                "natStrategy",
                "'none' is not supported: private nodes would need interface endpoints for ecr.api, ecr.dkr, "
                "sts, ec2, eks-auth, eks, ssm, sqs and autoscaling, instance profiles made outside Karpenter "
                "(IAM has no VPC endpoint), and a mirror of the controller images on public.ecr.aws and "
                "registry.k8s.io; use 'instance' (one NAT instance, dev), 'single' (one NAT gateway) or 'per-az'")
        return self

    @property
    def subnet_plan(self) -> tuple[list[str], list[str]]:
        """(private, public) subnet CIDRs, one per AZ.

        The VPC is cut into eighths: the first ``azCount`` eighths are the private subnets (where
        nodes and pods live, so they get the room), the last eighth is cut into 64ths of the VPC for
        the public subnets (load balancers and NAT only). The seventh eighth stays free for later.
        """
        vpc = ipaddress.IPv4Network(self.vpc_cidr)
        eighths = list(vpc.subnets(new_prefix=vpc.prefixlen + 3))
        private = [str(n) for n in eighths[: self.az_count]]
        public = [str(n) for n in list(eighths[7].subnets(new_prefix=vpc.prefixlen + 6))[: self.az_count]]
        return private, public




class ClusterSettings(Model):
    name: str | None = None
    """Physical EKS cluster name; defaults to eks-platform-<stack>. Changing it replaces the cluster."""
    version: str = versions.DEFAULT_KUBERNETES_VERSION
    """Kubernetes minor version, one of versions.KUBERNETES_VERSIONS."""
    endpoint_public_access: bool = False
    """Expose the API endpoint publicly (limited to publicAccessCidrs). The private endpoint is always on."""
    public_access_cidrs: list[Cidr] = Field(default_factory=list)
    """CIDRs allowed to reach the public endpoint; required when endpointPublicAccess is true."""
    service_ipv4_cidr: str = "172.20.0.0/16"
    """Kubernetes Service CIDR: /12 to /24 inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16."""
    log_types: list[LogType] = tiered(
        dev=["api", "audit", "authenticator"],
        staging=["api", "audit", "authenticator"],
        prod=["api", "audit", "authenticator", "controllerManager", "scheduler"],
    )
    """Control-plane log types sent to CloudWatch; api, audit and authenticator are mandatory."""
    log_retention_days: RetentionDays = tiered(dev=30, staging=90, prod=365)
    """Retention of /aws/eks/<cluster>/cluster, in days (a CloudWatch Logs retention value)."""
    admin_principal_arns: list[PrincipalArn] = Field(default_factory=list)
    """IAM roles or users given cluster-admin through EKS access entries."""
    viewer_principal_arns: list[PrincipalArn] = Field(default_factory=list)
    """IAM roles or users given read-only access (AmazonEKSViewPolicy) through access entries."""
    cluster_creator_admin: bool = True
    """Make the identity running `pulumi up` a cluster admin (it needs that to install the add-ons).
    Changing it after creation replaces the cluster."""
    deletion_protection: bool = tiered(dev=False, staging=False, prod=True)
    """EKS deletion protection: the cluster cannot be deleted until this is turned off."""
    kms_key_deletion_window_days: between(7, 30) = tiered(dev=7, staging=30, prod=30)
    """Waiting period before the secrets-encryption KMS key is deleted (7 to 30)."""
    irsa: bool = False
    """Also create the IAM OIDC provider so IRSA works (Pod Identity is the default and needs none)."""
    prefix_delegation: bool = tiered(dev=True, staging=False, prod=False)
    """VPC CNI prefix delegation (ENABLE_PREFIX_DELEGATION, WARM_PREFIX_TARGET 1): each ENI slot holds a /28 of
    16 pod addresses, so a Nitro node's pod limit is 110 instead of its ENI limit (17 on a t4g.medium). Needs
    free /28 blocks in the private subnets; a change reaches nodes as they are replaced."""
    shared_system_nodes: bool = tiered(dev=True, staging=False, prod=False)
    """The platform's pods that need no system node (the Istio ingress gateway, Grafana, kube-state-metrics)
    tolerate the system node group's taint, so an idle cluster runs no other node for them: dev's default,
    where the system nodes have the room (tools/capacity.py counts them). Off, they run on Karpenter's (or
    the workers') nodes beside the workloads, and at least one such node always runs."""
    api_access_cidrs: list[Cidr] = Field(default_factory=list)
    """Networks allowed to reach the private API endpoint on 443 (where pulumi up and kubectl run:
    a runner, VPN or bastion); empty means the VPC CIDR. 0.0.0.0/0 is refused."""

    @field_validator("api_access_cidrs")
    @classmethod
    def _api_cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            if ipaddress.IPv4Network(cidr).prefixlen == 0:
                raise ValueError("0.0.0.0/0 would open the private endpoint to every network that routes to it; "
                                 "list the VPN, runner or peered networks")
        if len(set(v)) != len(v):
            raise ValueError("list each CIDR once")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not CLUSTER_NAME.match(v):
            raise ValueError("must be 1-100 characters: letters, digits, '-' and '_', starting alphanumeric")
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in versions.KUBERNETES_VERSIONS:
            raise ValueError(f"must be one of {list(versions.KUBERNETES_VERSIONS)} (EKS standard support)")
        return v

    @field_validator("service_ipv4_cidr")
    @classmethod
    def _service_cidr(cls, v: str) -> str:
        net = _private_network(v, "serviceIpv4Cidr")
        allowed = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
        if not 12 <= net.prefixlen <= 24 or not any(net.subnet_of(a) for a in allowed):
            raise ValueError("must be /12 to /24 inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return str(net)

    @field_validator("log_types")
    @classmethod
    def _log_types(cls, v: list[str]) -> list[str]:
        missing = [t for t in REQUIRED_LOG_TYPES if t not in v]
        if missing:
            raise ValueError(f"must include {list(REQUIRED_LOG_TYPES)}; missing {missing}")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _access(self) -> ClusterSettings:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise invalid("publicAccessCidrs", "endpointPublicAccess is true: list the CIDRs allowed to reach "
                          "the public endpoint (0.0.0.0/0 is never a default)")
        if not self.endpoint_public_access and self.public_access_cidrs:
            raise invalid("publicAccessCidrs", "is set but endpointPublicAccess is false; set both or neither")
        if not self.cluster_creator_admin and not self.admin_principal_arns:
            raise invalid("adminPrincipalArns", "clusterCreatorAdmin is false, so at least one admin principal "
                          "ARN is needed (the deployer must be able to install the add-ons)")
        # EKS allows one access entry per principal (EKS user guide, access-entries): a principal listed
        # twice would be two entries, the second refused with ResourceInUseException
        seen: dict[str, str] = {}
        for key, arns in (("adminPrincipalArns", self.admin_principal_arns),
                          ("viewerPrincipalArns", self.viewer_principal_arns)):
            for i, arn in enumerate(arns):
                here = f"{key}[{i}]"
                if arn in seen:
                    raise invalid(here, "{arn} is also cluster.{other}: EKS allows one access entry per principal; "
                                  "list it once (admins can already view)", arn=arn, other=seen[arn])
                seen[arn] = here
        return self


class Taint(Model):
    key: LabelKey
    """Taint key (a Kubernetes label key)."""
    value: TaintValue = ""
    """Taint value (a Kubernetes label value: no spaces or accents, which EKS refuses at apply time)."""
    effect: TaintEffect
    """NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE (the EKS API spelling)."""


class NodeGroupSettings(Model):
    name: dns_label(40)
    """Node group name (a DNS label, up to 40 characters); 'system' hosts the cluster's critical add-ons."""
    instance_types: list[str] = Field(min_length=1, max_length=20)
    """EC2 instance types, all of one architecture that matches amiType."""
    capacity_type: CapacityType = "ON_DEMAND"
    """ON_DEMAND or SPOT."""
    ami_type: AmiType = "AL2023_ARM_64_STANDARD"
    """EKS-optimized AMI family and architecture."""
    min_size: int = 1
    """Minimum number of nodes (0 to 450)."""
    desired_size: int = 2
    """Initial number of nodes; ignored after creation so autoscalers own it."""
    max_size: int = 3
    """Maximum number of nodes (1 to 450)."""
    disk_size_gib: between(20, 16384) = 50
    """Encrypted gp3 root volume size in GiB (20 to 16384)."""
    labels: Labels = Field(default_factory=dict)
    """Kubernetes labels on the nodes."""
    taints: list[Taint] = Field(default_factory=list)
    """Kubernetes taints on the nodes."""
    max_unavailable_percentage: between(1, 100) = 33
    """Share of nodes replaced at once during an update (1 to 100)."""

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not INSTANCE_TYPE.match(t)]
        if bad:
            raise ValueError(f"instance types look like 'm7g.large' or 'c6i.2xlarge', got {bad}")
        if len({instance_arch(t) for t in v}) > 1:
            raise ValueError(f"mixes arm64 and x86_64 instance types: {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> NodeGroupSettings:
        if not 0 <= self.min_size <= 450:
            raise invalid("minSize", "must be from 0 to 450")
        if not 1 <= self.max_size <= 450:
            raise invalid("maxSize", "must be from 1 to 450")
        if not self.min_size <= self.desired_size <= self.max_size:
            raise invalid("desiredSize", "must satisfy minSize <= desiredSize <= maxSize "
                          "(got {min} <= {desired} <= {max})",
                          min=self.min_size, desired=self.desired_size, max=self.max_size)
        arch = instance_arch(self.instance_types[0])
        if arch != ami_arch(self.ami_type):
            raise invalid("amiType", "{ami} is for {ami_arch} but instanceTypes are {arch}; pick a matching "
                          "AMI type or instance types", ami=self.ami_type, ami_arch=ami_arch(self.ami_type),
                          arch=arch)
        return self

    @property
    def arch(self) -> str:
        return ami_arch(self.ami_type)


class FargateSelector(Model):
    namespace: str
    """Namespace the profile matches (wildcards * and ? allowed)."""
    labels: Labels = Field(default_factory=dict, max_length=5)
    """Pod labels that must all match (at most 5)."""

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$", v) or len(v) > 63:
            raise ValueError("must be a namespace name (wildcards * and ? allowed)")
        return v



class FargateProfileSettings(Model):
    name: dns_label(63)
    """Profile name (a DNS label)."""
    selectors: list[FargateSelector] = Field(min_length=1, max_length=5)
    """One to five namespace/label selectors."""


SYSTEM_TAINT = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}


def _system_group(instance: str, lo: int, want: int, hi: int, disk_gib: int = 50) -> dict:
    return {
        "name": "system",
        "instanceTypes": [instance],
        "amiType": "AL2023_ARM_64_STANDARD",
        "minSize": lo,
        "desiredSize": want,
        "maxSize": hi,
        "diskSizeGib": disk_gib,
        "taints": [SYSTEM_TAINT],
    }


def _workers_group(instance: str, lo: int, want: int, hi: int, disk_gib: int = 50) -> dict:
    return {"name": "workers", "instanceTypes": [instance], "amiType": "AL2023_ARM_64_STANDARD", "minSize": lo,
            "desiredSize": want, "maxSize": hi, "diskSizeGib": disk_gib}


# Without Karpenter the node groups run every pod: an untainted 'workers' group joins the system group by
# default, for the pods that tolerate no taint (the Istio gateway, Grafana, kube-state-metrics, team workloads),
# and Cluster Autoscaler scales it between its minSize and maxSize.
DEFAULT_WORKER_GROUPS = {
    "dev": _workers_group("t4g.medium", 1, 1, 3, disk_gib=20),
    "staging": _workers_group("m7g.large", 1, 1, 4),
    "prod": _workers_group("m7g.large", 2, 2, 6),
}

DEFAULT_NODE_GROUPS = {
    # dev: 20 GiB roots (the EKS AL2023 AMI's own size) instead of 50 save $4.80/month; the
    # system nodes hold only the platform's controller images, and kubelet's image GC makes room.
    # Two nodes: with prefix delegation (cluster.prefixDelegation, on in dev) a t4g.medium takes 110
    # pods instead of 17 (the ENI limit), and with dev-sized Karpenter requests what the platform pins
    # there fits two under 85% of their memory (tools/capacity.py); a third node would cost $26.13/month
    "dev": [_system_group("t4g.medium", 2, 2, 3, disk_gib=20)],
    "staging": [_system_group("m7g.large", 2, 2, 4)],
    "prod": [_system_group("m7g.large", 3, 3, 6)],
}
