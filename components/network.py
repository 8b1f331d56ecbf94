"""The VPC the cluster lives in: subnets across N AZs, NAT, endpoints, flow logs.

Comes first; the EKS cluster takes its private subnets. With ``network.existing`` it creates no
network, only (optionally) the discovery tags on the given subnets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import (
    PlatformComponent,
    child_opts,
    log_group_key_policy,
    partition_of,
    policy_document,
    service_trust,
    statement,
)
from settings.aws import NetworkSettings

TYPE = "platform:network:Network"
# Zones where EKS refuses control-plane subnets (EKS user guide, network-reqs: "the cluster can't be
# created in" use1-az3, usw1-az2, cac1-az3). Zone IDs, because zone names map to different IDs per account.
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    cluster_name: str
    """Physical EKS cluster name: it goes into the ownership and Karpenter discovery tags."""
    region: str
    """AWS region (endpoint service names)."""
    settings: NetworkSettings
    """CIDR, zones, NAT, endpoints, flow logs, or an existing VPC."""
    kms_key_deletion_window_days: int = 30
    """Waiting period before the flow-log key is deleted (the cluster's setting, 7 to 30)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every resource."""


def subnet_tags(cluster_name: str, public: bool) -> dict[str, str]:
    """Discovery tags: the LB controller picks subnets by role, Karpenter private ones by discovery tag."""
    # kubernetes-sigs/aws-load-balancer-controller docs/deploy/subnet_discovery.md: role tags "1"
    tags = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
    if public:
        tags["kubernetes.io/role/elb"] = "1"
    else:
        tags["kubernetes.io/role/internal-elb"] = "1"
        tags["karpenter.sh/discovery"] = cluster_name
    return tags


def _zone(names: list[str], index: int, count: int, region: str) -> str:
    if len(names) < count:
        raise ValueError(f"eks-platform:network.azCount is {count}, but {region} has only {len(names)} zones EKS "
                         f"supports ({', '.join(names)}); lower network.azCount")
    return names[index]


class Network(PlatformComponent):
    vpc_id: pulumi.Output[str]
    vpc_cidr: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        self._name, self._args = name, args
        if args.settings.existing is not None:
            self._adopt()
        else:
            self._create()
        self.register_outputs({
            "vpc_id": self.vpc_id,
            "vpc_cidr": self.vpc_cidr,
            "private_subnet_ids": self.private_subnet_ids,
            "public_subnet_ids": self.public_subnet_ids,
        })

    def _tags(self, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self._args.tags, "Name": name, **(extra or {})}

    def _adopt(self) -> None:
        existing = self._args.settings.existing
        assert existing is not None
        self.vpc_id = pulumi.Output.from_input(existing.vpc_id)
        vpc = aws.ec2.get_vpc_output(id=existing.vpc_id, opts=pulumi.InvokeOutputOptions(parent=self))
        self.vpc_cidr = vpc.cidr_block
        self.private_subnet_ids = [pulumi.Output.from_input(s) for s in existing.private_subnet_ids]
        self.public_subnet_ids = [pulumi.Output.from_input(s) for s in existing.public_subnet_ids]
        if not existing.tag_subnets:
            return
        for public, ids in ((False, existing.private_subnet_ids), (True, existing.public_subnet_ids)):
            for subnet_id in ids:
                for key, value in subnet_tags(self._args.cluster_name, public).items():
                    aws.ec2.Tag(f"{self._name}-{subnet_id}-{key.replace('/', '-')}", resource_id=subnet_id,
                                key=key, value=value, opts=child_opts(self))

    def _create(self) -> None:
        cfg, name, cluster = self._args.settings, self._name, self._args.cluster_name
        # Regular zones only: Local Zones and Wavelength Zones need an opt-in (and sort first in
        # accounts that opted in); EKS supports neither for the control plane.
        azs = aws.get_availability_zones_output(
            state="available", exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(parent=self))
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cfg.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags=self._tags(f"{cluster}-vpc"), opts=child_opts(self))
        # Take over the default security group and strip its rules: nothing may use it by accident.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     tags=self._tags(f"{cluster}-default-do-not-use"), opts=child_opts(self))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=self._tags(f"{cluster}-igw"),
                                      opts=child_opts(self))
        private_cidrs, public_cidrs = cfg.subnet_plan
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, tags=self._tags(f"{cluster}-public"),
                                       routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
                                       opts=child_opts(self))
        public_subnets, private_subnets, private_rts = [], [], []
        for i in range(cfg.az_count):
            az = azs.names.apply(lambda names, i=i: _zone(names, i, cfg.az_count, self._args.region))
            pub = aws.ec2.Subnet(f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=public_cidrs[i], availability_zone=az,
                                 map_public_ip_on_launch=False,
                                 tags=self._tags(f"{cluster}-public-{i}", subnet_tags(cluster, public=True)),
                                 opts=child_opts(self))
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=pub.id, route_table_id=public_rt.id,
                                          opts=child_opts(self))
            priv = aws.ec2.Subnet(f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=private_cidrs[i],
                                  availability_zone=az, map_public_ip_on_launch=False,
                                  tags=self._tags(f"{cluster}-private-{i}", subnet_tags(cluster, public=False)),
                                  opts=child_opts(self))
            public_subnets.append(pub)
            private_subnets.append(priv)
        nat_ids = self._nat_gateways(public_subnets, igw)
        for i, priv in enumerate(private_subnets):
            routes = []
            if nat_ids:
                nat = nat_ids[i] if len(nat_ids) > 1 else nat_ids[0]
                routes.append(aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat))
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{i}", vpc_id=vpc.id, routes=routes,
                                    tags=self._tags(f"{cluster}-private-{i}"), opts=child_opts(self))
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=priv.id, route_table_id=rt.id,
                                          opts=child_opts(self))
            private_rts.append(rt)
        # Image layers come from S3: the gateway endpoint is free and keeps that traffic off the NAT.
        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{self._args.region}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=[rt.id for rt in private_rts],
                            tags=self._tags(f"{cluster}-s3"), opts=child_opts(self))
        if cfg.interface_endpoints:
            self._interface_endpoints(vpc, private_subnets)
        if cfg.flow_logs.enabled:
            self._flow_logs(vpc)
        self.vpc_id = vpc.id
        self.vpc_cidr = vpc.cidr_block
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.public_subnet_ids = [s.id for s in public_subnets]

    def _nat_gateways(self, public_subnets: list[aws.ec2.Subnet], igw: aws.ec2.InternetGateway) -> list:
        strategy, name, cluster = self._args.settings.nat_strategy, self._name, self._args.cluster_name
        count = {"none": 0, "single": 1, "per-az": len(public_subnets)}[strategy]
        ids = []
        for i in range(count):
            eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags=self._tags(f"{cluster}-nat-{i}"),
                              opts=child_opts(self, pulumi.ResourceOptions(depends_on=[igw])))
            nat = aws.ec2.NatGateway(f"{name}-nat-{i}", allocation_id=eip.id, subnet_id=public_subnets[i].id,
                                     tags=self._tags(f"{cluster}-nat-{i}"),
                                     # a NAT gateway needs the IGW attached before it can route
                                     opts=child_opts(self, pulumi.ResourceOptions(depends_on=[igw])))
            ids.append(nat.id)
        return ids

    def _interface_endpoints(self, vpc: aws.ec2.Vpc, private_subnets: list[aws.ec2.Subnet]) -> None:
        name, cluster = self._name, self._args.cluster_name
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", vpc_id=vpc.id, description="HTTPS from the VPC to interface endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=[vpc.cidr_block], description="HTTPS from VPC")],
            tags=self._tags(f"{cluster}-endpoints"), opts=child_opts(self))
        for service in self._args.settings.interface_endpoints:
            aws.ec2.VpcEndpoint(f"{name}-{service.replace('.', '-')}", vpc_id=vpc.id,
                                service_name=f"com.amazonaws.{self._args.region}.{service}",
                                vpc_endpoint_type="Interface", private_dns_enabled=True,
                                subnet_ids=[s.id for s in private_subnets], security_group_ids=[sg.id],
                                tags=self._tags(f"{cluster}-{service}"), opts=child_opts(self))

    def _flow_logs(self, vpc: aws.ec2.Vpc) -> None:
        cfg, name, cluster = self._args.settings.flow_logs, self._name, self._args.cluster_name
        group_name = f"/aws/vpc/{cluster}/flow-logs"
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        # encrypted like the control-plane logs: a key that CloudWatch Logs may use for this group only
        key = aws.kms.Key(f"{name}-flow-logs", description=f"VPC flow logs of {cluster}", enable_key_rotation=True,
                          deletion_window_in_days=self._args.kms_key_deletion_window_days,
                          policy=log_group_key_policy(account_id, partition_of(self._args.region), self._args.region,
                                                      group_name),
                          tags=self._tags(f"{cluster}-flow-logs"), opts=child_opts(self))
        group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", name=group_name, retention_in_days=cfg.retention_days,
                                        kms_key_id=key.arn, tags=self._tags(f"{cluster}-flow-logs"),
                                        opts=child_opts(self))
        role = aws.iam.Role(f"{name}-flow-logs", assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com"),
                            tags=self._args.tags, opts=child_opts(self))
        # Delivery to CloudWatch Logs needs these on the target group (VPC user guide, flow-logs-iam-role).
        delivery = aws.iam.RolePolicy(f"{name}-flow-logs", role=role.id, policy=policy_document(statement(
            "DeliverFlowLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
            [group.arn, pulumi.Output.concat(group.arn, ":*")])), opts=child_opts(self))
        aws.ec2.FlowLog(f"{name}-flow-logs", vpc_id=vpc.id, traffic_type=cfg.traffic_type,
                        log_destination_type="cloud-watch-logs", log_destination=group.arn, iam_role_arn=role.arn,
                        tags=self._tags(f"{cluster}-flow-logs"),
                        # the role is usable only with its policy (on destroy it stays until the flow log is gone)
                        opts=child_opts(self, pulumi.ResourceOptions(depends_on=[delivery])))
