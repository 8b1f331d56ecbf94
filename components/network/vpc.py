"""The VPC the cluster lives in: subnets across N AZs, NAT (gateways or one NAT instance), endpoints, flow logs.

Comes first; the EKS cluster takes its private subnets. With ``network.existing`` it creates no
network, only (optionally) the discovery tags on the given subnets.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.core.common import (
    PlatformComponent,
    child_opts,
    log_group_key_policy,
    managed_policy_arn,
    partition_of,
    policy_document,
    service_trust,
    statement,
)
from settings import ConfigError
from settings.aws import NetworkSettings, instance_arch

TYPE = "platform:network:Network"
# Zones where EKS refuses control-plane subnets (EKS user guide, network-reqs: "the cluster can't be
# created in" use1-az3, usw1-az2, cac1-az3). Zone IDs, because zone names map to different IDs per account.
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
# The NAT instance runs the current Amazon Linux 2023, resolved by EC2 from AWS's public SSM parameter
# at launch (EC2 user guide, "Use a Systems Manager parameter instead of an AMI ID"; AL2023 user
# guide, "al2023-ami-kernel-default-<arch>"), so no AMI id is pinned here and none goes stale.
NAT_AMI_PARAMETER = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


def nat_instance_user_data(vpc_cidr: str) -> str:
    """Boot script of the NAT instance: forward and masquerade the VPC's traffic (the steps of the
    Amazon VPC user guide, "NAT instances: create a NAT AMI", on AL2023 as aws-cdk's NatInstanceProviderV2)."""
    return "\n".join([
        "#!/bin/bash",
        "set -euo pipefail",
        "printf 'net.ipv4.ip_forward = 1\\nnet.ipv4.conf.all.send_redirects = 0\\n' > /etc/sysctl.d/90-nat.conf",
        "sysctl --system",
        # the Elastic IP is associated a few seconds after launch: retry until the repositories answer
        "until dnf install -y iptables-services; do sleep 10; done",
        "out=$(ip -4 route show default | awk '{print $5; exit}')",
        f"iptables -t nat -A POSTROUTING -o \"$out\" -s {vpc_cidr} -j MASQUERADE",
        # iptables-services' default FORWARD chain rejects everything: forward only the VPC's
        # connections and their replies
        "iptables -F FORWARD",
        f"iptables -A FORWARD -s {vpc_cidr} -o \"$out\" -j ACCEPT",
        "iptables -A FORWARD -i \"$out\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "iptables -P FORWARD DROP",
        "service iptables save",
        "systemctl enable --now iptables",
        "",
    ])


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


def _zone_query() -> dict[str, Any]:
    # Regular zones only: Local Zones and Wavelength Zones need an opt-in (and sort first in accounts that
    # opted in); EKS supports neither for the control plane.
    return {"state": "available", "exclude_zone_ids": list(EKS_UNSUPPORTED_ZONE_IDS),
            "filters": [aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])]}


def check_zone_count(settings: NetworkSettings, region: str) -> None:
    """Refuse, before any resource is registered, more zones than the region offers EKS (one read-only
    DescribeAvailabilityZones call); a VPC of your own (network.existing) brings its own subnets."""
    if settings.existing is not None:
        return
    names = aws.get_availability_zones(**_zone_query()).names or []
    if len(names) < settings.az_count:
        raise ConfigError(f"eks-platform:network.azCount: is {settings.az_count}, but {region} has only {len(names)} "
                          f"zones EKS supports ({', '.join(names)}); set it to {len(names)} or fewer")


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
        azs = aws.get_availability_zones_output(**_zone_query(), opts=pulumi.InvokeOutputOptions(parent=self))
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
            az = azs.names.apply(lambda names, i=i: names[i])  # enough of them: check_zone_count
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
        nat_eni = self._nat_instance(vpc, public_subnets[0], igw) if cfg.nat_strategy == "instance" else None
        for i, priv in enumerate(private_subnets):
            routes = []
            if nat_ids:
                nat = nat_ids[i] if len(nat_ids) > 1 else nat_ids[0]
                routes.append(aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat))
            elif nat_eni is not None:
                routes.append(aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", network_interface_id=nat_eni))
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
        count = {"none": 0, "single": 1, "per-az": len(public_subnets), "instance": 0}[strategy]
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

    def _nat_instance(self, vpc: aws.ec2.Vpc, subnet: aws.ec2.Subnet,
                      igw: aws.ec2.InternetGateway) -> pulumi.Output[str]:
        """One NAT instance in the first public subnet; returns its network interface (the route target).

        Hardened like the nodes: IMDSv2 with one hop, no key pair and no port 22 (Session Manager
        instead), an encrypted root volume, its own security group that admits only the private
        subnets, and the source/destination check off on this instance only (a NAT forwards packets
        that are not its own: VPC user guide, "NAT instances"). EC2's simplified automatic recovery
        (on by default for t4g) moves it off failed hardware with the same ENI and address."""
        cfg, name, cluster = self._args.settings, self._name, self._args.cluster_name
        partition = partition_of(self._args.region)
        private_cidrs, _ = cfg.subnet_plan
        sg = aws.ec2.SecurityGroup(
            f"{name}-nat-instance", vpc_id=vpc.id, description="NAT instance: traffic of the private subnets only",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=private_cidrs,
                                                      description="everything the private subnets send out")],
            # it forwards to anywhere, like the NAT gateway it replaces
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"],
                                                    description="to the internet")],
            tags=self._tags(f"{cluster}-nat-instance"), opts=child_opts(self))
        role = aws.iam.Role(f"{name}-nat-instance", assume_role_policy=service_trust("ec2.amazonaws.com"),
                            tags=self._args.tags, opts=child_opts(self))
        # Session Manager (and Patch Manager) reach it without SSH
        ssm = aws.iam.RolePolicyAttachment(f"{name}-nat-instance-ssm", role=role.name,
                                           policy_arn=managed_policy_arn(partition, "AmazonSSMManagedInstanceCore"),
                                           opts=child_opts(self))
        # the role is usable only with its policy (the instance waits for the profile)
        profile = aws.iam.InstanceProfile(f"{name}-nat-instance", role=role.name, tags=self._args.tags,
                                          opts=child_opts(self, pulumi.ResourceOptions(depends_on=[ssm])))
        tags = self._tags(f"{cluster}-nat-instance")
        template = aws.ec2.LaunchTemplate(
            f"{name}-nat-instance", description=f"NAT instance of {cluster}",
            image_id=NAT_AMI_PARAMETER.format(arch=instance_arch(cfg.nat_instance_type)),
            instance_type=cfg.nat_instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1,
                instance_metadata_tags="disabled"),
            # the AMI's own root size (8 GiB), encrypted
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_type="gp3", encrypted="true", delete_on_termination="true"))],
            # standard credits on a burstable type: a busy month throttles the NAT instead of adding to the bill
            credit_specification=aws.ec2.LaunchTemplateCreditSpecificationArgs(cpu_credits="standard")
            if cfg.nat_instance_type.startswith("t") else None,
            user_data=base64.b64encode(nat_instance_user_data(cfg.vpc_cidr).encode()).decode(),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume", "network-interface")],
            update_default_version=True, tags=tags, opts=child_opts(self))
        instance = aws.ec2.Instance(
            f"{name}-nat-instance-0", subnet_id=subnet.id, vpc_security_group_ids=[sg.id],
            launch_template=aws.ec2.InstanceLaunchTemplateArgs(id=template.id,
                                                               version=template.latest_version.apply(str)),
            source_dest_check=False,
            maintenance_options=aws.ec2.InstanceMaintenanceOptionsArgs(auto_recovery="default"),
            tags=tags,
            # its boot script installs from the repositories: the internet gateway first
            opts=child_opts(self, pulumi.ResourceOptions(depends_on=[igw])))
        # The address is its own resource, associated separately: replacing the instance (a new AMI behind
        # the SSM parameter, another natInstanceType) replaces only the association, so the VPC keeps its
        # egress address (what partners allowlist) and needs no second Elastic IP from the region's 5
        # (EC2 user guide, elastic-ip-addresses-eip: an address stays allocated until released, and moves
        # between instances by AssociateAddress). Egress is still interrupted while the new instance boots
        # (tools/plan.py says so). Delete-first: an address has one association at a time.
        eip = aws.ec2.Eip(f"{name}-nat-instance-0", domain="vpc", tags=tags,
                          opts=child_opts(self, pulumi.ResourceOptions(depends_on=[igw])))
        # (an Eip's id is its allocation ID: pulumi-aws ec2.Eip, "id - Contains the EIP allocation ID")
        aws.ec2.EipAssociation(f"{name}-nat-instance-0", allocation_id=eip.id, instance_id=instance.id,
                               opts=child_opts(self, pulumi.ResourceOptions(delete_before_replace=True)))
        return instance.primary_network_interface_id

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
                                        # a fixed name: replaced delete-first (tests/stacks/test_replace_safety.py)
                                        opts=child_opts(self, pulumi.ResourceOptions(delete_before_replace=True)))
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
