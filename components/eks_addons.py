"""EKS managed add-ons at pinned versions (versions.py), in two waves.

Wave "base" (vpc-cni, kube-proxy, eks-pod-identity-agent) comes right after the control plane and
before any node: the cluster is created without self-managed add-ons, and nodes only turn Ready
once the CNI is there. Wave "compute" (coredns) comes after node groups or Fargate profiles exist,
or it sits DEGRADED until its create timeout (terraform-aws-eks #3001; reference A1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

import versions
from components.common import PlatformComponent, child_opts

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


@dataclass(frozen=True, kw_only=True)
class AddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    addons: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pinned = versions.EKS_ADDONS[self.kubernetes_version]
        unknown = [a for a in self.addons if a not in pinned]
        if unknown:
            raise ValueError(f"no pinned version in versions.EKS_ADDONS[{self.kubernetes_version!r}] for {unknown}")


class EksAddons(PlatformComponent):
    addons: dict[str, aws.eks.Addon]

    def __init__(self, name: str, args: AddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        pinned = versions.EKS_ADDONS[args.kubernetes_version]
        self.addons = {}
        for addon in args.addons:
            config = CONFIGURATION.get(addon)
            self.addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=args.cluster_name,
                addon_name=addon,
                addon_version=pinned[addon],
                configuration_values=json.dumps(config, sort_keys=True) if config else None,
                # adopt whatever copy exists (a cluster created elsewhere may have self-managed ones)
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=args.tags,
                opts=child_opts(self, pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"))),
            )
        self.register_outputs({"addons": {k: v.addon_version for k, v in self.addons.items()}})
