"""The network: no public IPs on launch, nodes in private subnets, flow logs, the default security group, NAT
per zone, three zones, NetworkPolicy enforcement."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policy.rules.base import (
    ADDON,
    BP,
    CLUSTER,
    DEFAULT_SG,
    FLOW_LOG,
    MANDATORY,
    NAT,
    NODE_CLASS,
    NODE_GROUP,
    PROD_ONLY,
    SUBNET,
    VPC,
    Resource,
    Rule,
    as_list,
    as_map,
    document,
    get_in,
    of_type,
    truthy,
)


def check_subnet_no_public_ip(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == SUBNET and inputs.get("mapPublicIpOnLaunch") is True:
        yield "the subnet gives every instance launched in it a public IP"


def _is_public_subnet(r: Resource) -> bool:
    tags = as_map(r.inputs.get("tags"))
    return r.inputs.get("mapPublicIpOnLaunch") is True or "kubernetes.io/role/elb" in tags


def check_nodes_private(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    subnets = {r.urn: r for r in of_type(resources, SUBNET)}
    for group in of_type(resources, NODE_GROUP):
        public = [subnets[u].name for u in group.dependencies if u in subnets and _is_public_subnet(subnets[u])]
        if public:
            yield group, f"node group {group.name} uses public subnets {public}"
    for node_class in of_type(resources, NODE_CLASS):
        for term in as_list(get_in(node_class.inputs, "spec", "subnetSelectorTerms")):
            wanted = as_map(get_in(term, "tags"))
            matched = [s for s in subnets.values()
                       if wanted and all(as_map(s.inputs.get("tags")).get(k) == v for k, v in wanted.items())]
            public = [s.name for s in matched if _is_public_subnet(s)]
            if public:
                yield node_class, f"EC2NodeClass {node_class.name} selects public subnets {public}"


def check_flow_logs(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    logs = of_type(resources, FLOW_LOG)
    for vpc in of_type(resources, VPC):
        if not any(vpc.urn in f.dependencies for f in logs):
            yield vpc, f"VPC {vpc.name} has no flow log"


def check_default_sg(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    defaults = of_type(resources, DEFAULT_SG)
    for sg in defaults:
        if as_list(sg.inputs.get("ingress")) or as_list(sg.inputs.get("egress")):
            yield sg, f"default security group {sg.name} has rules"
    for vpc in of_type(resources, VPC):
        if not any(vpc.urn in sg.dependencies for sg in defaults):
            yield vpc, f"VPC {vpc.name}'s default security group is not adopted and emptied (it allows all traffic)"


def _zones(resources: Sequence[Resource], private: bool) -> set[str]:
    return {z for s in of_type(resources, SUBNET) if _is_public_subnet(s) != private
            and isinstance(z := s.inputs.get("availabilityZone"), str)}


def check_nat_per_az(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    zones = _zones(resources, private=True)
    nats = of_type(resources, NAT)
    if zones and len(nats) < len(zones):
        yield None, (f"{len(nats)} NAT gateway(s) for private subnets in {len(zones)} AZs: losing the NAT's AZ "
                     "cuts every AZ off, and cross-AZ traffic is billed")


def check_three_azs(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    zones = _zones(resources, private=True)
    if of_type(resources, SUBNET) and len(zones) < 3:
        yield None, f"private subnets span {len(zones)} AZs ({sorted(zones)})"


def check_network_policy(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    if not of_type(resources, CLUSTER):
        return  # not an EKS stack
    cni = [a for a in of_type(resources, ADDON) if a.inputs.get("addonName") == "vpc-cni"]
    if not cni:
        yield None, "the vpc-cni add-on is not managed, so network policy enforcement is not configured"
    for addon in cni:
        value = document(addon.inputs.get("configurationValues")).get("enableNetworkPolicy")
        if not truthy(value):
            yield addon, "the vpc-cni add-on does not set enableNetworkPolicy: \"true\""


RULES: tuple[Rule, ...] = (
    Rule("subnet-no-public-ip", "No subnet assigns public IPs on launch.", "checkov CKV_AWS_130; CIS EKS 5.4.3",
         "keep mapPublicIpOnLaunch false (load balancers get their addresses from AWS)", MANDATORY,
         resource_check=check_subnet_no_public_ip),
    Rule("nodes-private-subnets", "Node groups and Karpenter node classes use private subnets only.",
         "CIS EKS 5.4.3 (private nodes); Prowler eks_cluster_private_nodes_enabled",
         "place nodes in the private subnets (karpenter.sh/discovery is only on private ones)", MANDATORY,
         stack_check=check_nodes_private),
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
)
