"""EKS managed add-ons at pinned versions (versions.py), in two waves.

Wave "base" (vpc-cni, kube-proxy, eks-pod-identity-agent) comes right after the control plane and
before any node: the cluster is created without self-managed add-ons, and nodes only turn Ready
once the CNI is there. Wave "compute" (coredns) comes after node groups or Fargate profiles exist,
or it sits DEGRADED until its create timeout (terraform-aws-eks #3001, #2578).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

import versions
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from settings import gates

TYPE = "platform:eks:Addons"
BASE_WAVE = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
COMPUTE_WAVE = ("coredns",)

# Per-add-on configuration (the JSON schema of `aws eks describe-addon-configuration`).
CONFIGURATION: dict[str, dict[str, Any]] = {
    # Network policy enforcement by the VPC CNI's node agent (EKS user guide, cni-network-policy-configure).
    "vpc-cni": {"enableNetworkPolicy": "true"},
    # CoreDNS keeps to the system nodes it tolerates and spreads across zones.
    "coredns": {"tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]},
}


def configuration(addon: str, *, prefix_delegation: bool = False) -> dict[str, Any] | None:
    """The add-on's configuration values. Prefix delegation: ENABLE_PREFIX_DELEGATION and WARM_PREFIX_TARGET
    are strings in the vpc-cni add-on's configuration schema (``env``; EKS user guide,
    cni-increase-ip-addresses-procedure); one warm prefix keeps 16 addresses ready per node."""
    config = CONFIGURATION.get(addon)
    if addon == "vpc-cni" and prefix_delegation:
        config = {**(config or {}), "env": {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}}
    return config


@dataclass(frozen=True, kw_only=True)
class AddonsArgs:
    cluster: ClusterHandle
    """The EKS cluster; the add-ons wait for its readiness when ``needs_nodes``."""
    addons: tuple[str, ...]
    """EKS add-on names, each pinned in ``versions.EKS_ADDONS`` for the cluster's version."""
    needs_nodes: bool = False
    """The add-ons run pods that must be scheduled (CoreDNS): wait for compute."""
    prefix_delegation: bool = False
    """The VPC CNI hands out /28 prefixes instead of single IPs (settings: cluster.prefixDelegation)."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("AddonsArgs.cluster: EKS add-ons need an EKS cluster (the handle has no AWS facts)")
        pinned = versions.EKS_ADDONS[self.cluster.version]
        unknown = [a for a in self.addons if a not in pinned]
        if unknown:
            raise ValueError(f"no pinned version in versions.EKS_ADDONS[{self.cluster.version!r}] for {unknown}")


class EksAddons(PlatformComponent):
    addons: dict[str, aws.eks.Addon]

    def __init__(self, name: str, args: AddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster = args.cluster
        pinned = versions.EKS_ADDONS[cluster.version]
        waits = cluster.pods_opts() if args.needs_nodes else None
        self.addons = {}
        for addon in args.addons:
            config = configuration(addon, prefix_delegation=args.prefix_delegation)
            self.addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=cluster.name,
                addon_name=addon,
                addon_version=pinned[addon],
                configuration_values=json.dumps(config, sort_keys=True) if config else None,
                # adopt whatever copy exists (a cluster created elsewhere may have self-managed ones)
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=cluster.aws.tags,  # type: ignore[union-attr]  # checked by the args
                opts=child_opts(self, pulumi.ResourceOptions.merge(waits, pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m")))),
            )
        self.register_outputs({"addons": {k: v.addon_version for k, v in self.addons.items()}})


class CoreDnsAddOn(AddOn):
    """CoreDNS as an EKS add-on: the "compute" wave, after nodes or Fargate profiles exist (else it
    sits DEGRADED until its create timeout). kind brings its own CoreDNS."""

    key = "addons-compute"
    gate = gates.CORE_DNS

    @classmethod
    def build(cls, name, cluster, settings):
        return EksAddons(name, AddonsArgs(cluster=cluster, addons=COMPUTE_WAVE, needs_nodes=True))
