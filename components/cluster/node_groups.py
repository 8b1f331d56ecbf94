"""EKS managed node groups with hardened launch templates, and their node IAM role.

Comes after the control plane; the node groups themselves wait for the handle's readiness, the
"base" add-ons (nodes turn Ready only with the VPC CNI), while the role and launch templates do not;
CoreDNS, the EBS CSI driver and every controller come after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.core.common import PlatformComponent, child_opts, managed_policy_arn, service_trust
from components.core.handle import ClusterHandle
from settings.aws import NodeGroupSettings

TYPE = "platform:compute:NodeGroups"
# The minimum a node needs: join the cluster, run the VPC CNI, pull images (ECR pull-only
# replaces ReadOnly for nodes, EKS user guide create-node-role). No SSM: nodes are not logged into.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly")


@dataclass(frozen=True, kw_only=True)
class NodeGroupsArgs:
    cluster: ClusterHandle
    """The EKS cluster: name, version, private subnets (nodes get no public address), partition, tags."""
    groups: list[NodeGroupSettings]
    """The node groups (eks-platform:nodeGroups)."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("NodeGroupsArgs.cluster: managed node groups need an EKS cluster")
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
        facts = args.cluster.aws
        assert facts is not None  # checked by the args
        self.role = aws.iam.Role(f"{name}-node-role", assume_role_policy=service_trust("ec2.amazonaws.com"),
                                 tags=facts.tags, opts=child_opts(self))
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-{policy}", role=self.role.name,
                                         policy_arn=managed_policy_arn(facts.partition, policy), opts=child_opts(self))
            for policy in NODE_POLICIES
        ]
        self.groups = {}
        for group in args.groups:
            self.groups[group.name] = self._group(name, args, group, attachments)
        self.register_outputs({"role_arn": self.role.arn,
                               "groups": {k: g.node_group_name for k, g in self.groups.items()}})

    def _group(self, name: str, args: NodeGroupsArgs, group: NodeGroupSettings,
               attachments: list[aws.iam.RolePolicyAttachment]) -> aws.eks.NodeGroup:
        cluster = args.cluster
        facts = cluster.aws
        assert facts is not None  # checked by the args
        tags = {**facts.tags, "Name": f"{group.name}"}
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
            tags=facts.tags,
            opts=child_opts(self))
        return aws.eks.NodeGroup(
            f"{name}-{group.name}",
            cluster_name=cluster.name,
            node_role_arn=self.role.arn,
            subnet_ids=list(facts.private_subnet_ids),
            version=cluster.version,
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
            tags=facts.tags,
            # the handle's readiness: what nodes need before they can turn Ready (the CNI add-on)
            opts=child_opts(self, cluster.pods_opts(pulumi.ResourceOptions(
                # autoscalers own the size after creation
                ignore_changes=["scalingConfig.desiredSize"],
                # nodes must be able to use their policies when they boot; deleting the group before
                # the attachments lets the nodes drain cleanly
                depends_on=attachments,
                custom_timeouts=pulumi.CustomTimeouts(create="60m", update="60m", delete="60m")))))
