"""EKS managed node groups with hardened launch templates, and their node IAM role.

Comes after the control plane and the "base" add-ons (nodes turn Ready only with the VPC CNI);
CoreDNS, the EBS CSI driver and every controller come after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import PlatformComponent, child_opts, managed_policy_arn, service_trust
from settings.aws import NodeGroupSettings

TYPE = "platform:compute:NodeGroups"
# The minimum a node needs: join the cluster, run the VPC CNI, pull images (ECR pull-only
# replaces ReadOnly: reference/addons.md section 1.3). SSM access is opt-in.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly")
SSM_POLICY = "AmazonSSMManagedInstanceCore"


@dataclass(frozen=True, kw_only=True)
class NodeGroupsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    partition: str
    subnet_ids: list[pulumi.Input[str]]
    """Private subnets only: nodes get no public address."""
    groups: list[NodeGroupSettings]
    ssm_access: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("NodeGroupsArgs.groups: at least one node group is needed")


def root_device(ami_type: str) -> str:
    """The device the size and encryption settings apply to.

    Bottlerocket boots from a small OS volume (/dev/xvda) and keeps images and pods on its data
    volume (/dev/xvdb); AL2023 has a single root volume (/dev/xvda).
    """
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


class NodeGroups(PlatformComponent):
    role: aws.iam.Role
    groups: dict[str, aws.eks.NodeGroup]

    def __init__(self, name: str, args: NodeGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        self.role = aws.iam.Role(f"{name}-node-role", assume_role_policy=service_trust("ec2.amazonaws.com"),
                                 tags=args.tags, opts=child_opts(self))
        policies = [*NODE_POLICIES, *((SSM_POLICY,) if args.ssm_access else ())]
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-{policy}", role=self.role.name,
                                         policy_arn=managed_policy_arn(args.partition, policy), opts=child_opts(self))
            for policy in policies
        ]
        self.groups = {}
        for group in args.groups:
            self.groups[group.name] = self._group(name, args, group, attachments)
        self.register_outputs({"role_arn": self.role.arn,
                               "groups": {k: g.node_group_name for k, g in self.groups.items()}})

    def _group(self, name: str, args: NodeGroupsArgs, group: NodeGroupSettings,
               attachments: list[aws.iam.RolePolicyAttachment]) -> aws.eks.NodeGroup:
        tags = {**args.tags, "Name": f"{group.name}"}
        template = aws.ec2.LaunchTemplate(
            f"{name}-{group.name}",
            description=f"EKS managed node group {group.name}",
            # IMDSv2 only, and one hop: pods (not on the host network) cannot reach node credentials.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1,
                instance_metadata_tags="disabled"),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=root_device(group.ami_type),
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=group.disk_size_gib, volume_type="gp3", encrypted="true",
                    delete_on_termination="true"))],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume", "network-interface")],
            update_default_version=True,
            tags=args.tags,
            opts=child_opts(self))
        return aws.eks.NodeGroup(
            f"{name}-{group.name}",
            cluster_name=args.cluster_name,
            node_role_arn=self.role.arn,
            subnet_ids=args.subnet_ids,
            version=args.kubernetes_version,
            ami_type=group.ami_type,
            capacity_type=group.capacity_type,
            instance_types=list(group.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=group.max_unavailable_percentage),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            labels={**group.labels, "platform.eks/node-group": group.name},
            taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in group.taints],
            tags=args.tags,
            opts=child_opts(self, pulumi.ResourceOptions(
                # autoscalers own the size after creation
                ignore_changes=["scalingConfig.desiredSize"],
                # nodes must be able to use their policies when they boot; deleting the group before
                # the attachments lets the nodes drain cleanly
                depends_on=attachments,
                custom_timeouts=pulumi.CustomTimeouts(create="60m", update="60m", delete="60m"))))
