"""Fargate profiles with their pod execution role, created strictly one after another.

Comes after the control plane. EKS allows only one profile in CREATING per cluster
(ResourceInUseException; aws-cdk #6084, terraform-provider-aws serializes them too), so each profile
depends on the previous.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.core.common import PlatformComponent, child_opts, managed_policy_arn, service_trust
from components.core.handle import ClusterHandle
from settings.aws import FargateProfileSettings

TYPE = "platform:compute:FargateProfiles"


@dataclass(frozen=True, kw_only=True)
class FargateArgs:
    cluster: ClusterHandle
    """The EKS cluster: name, region, account, private subnets (Fargate refuses public ones), tags."""
    profiles: list[FargateProfileSettings]
    """The profiles, created in this order."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("FargateArgs.cluster: Fargate profiles need an EKS cluster")


class FargateProfiles(PlatformComponent):
    role: aws.iam.Role
    profiles: list[aws.eks.FargateProfile]

    def __init__(self, name: str, args: FargateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, facts = args.cluster, args.cluster.aws
        assert facts is not None  # checked by the args
        # Only Fargate profiles of this account and cluster may use the role (confused-deputy guard;
        # EKS user guide, pod-execution-role).
        source = pulumi.Output.concat("arn:", facts.partition, ":eks:", facts.region, ":", facts.account_id,
                                      ":fargateprofile/", cluster.name, "/*")
        self.role = aws.iam.Role(f"{name}-pod-execution", assume_role_policy=service_trust(
            "eks-fargate-pods.amazonaws.com", condition={"ArnLike": {"aws:SourceArn": source}}),
            tags=facts.tags, opts=child_opts(self))
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-pod-execution", role=self.role.name,
            policy_arn=managed_policy_arn(facts.partition, "AmazonEKSFargatePodExecutionRolePolicy"),
            opts=child_opts(self))
        self.profiles = []
        previous: pulumi.Resource = attachment
        for profile in args.profiles:
            created = aws.eks.FargateProfile(
                f"{name}-{profile.name}", cluster_name=cluster.name, fargate_profile_name=profile.name,
                pod_execution_role_arn=self.role.arn, subnet_ids=list(facts.private_subnet_ids),
                selectors=[aws.eks.FargateProfileSelectorArgs(namespace=s.namespace, labels=s.labels or None)
                           for s in profile.selectors],
                tags=facts.tags,
                # one profile in CREATING at a time: wait for the previous one
                # keyed by (cluster, name) and replaced on any change: delete-first
                opts=child_opts(self, pulumi.ResourceOptions(depends_on=[previous], delete_before_replace=True)))
            self.profiles.append(created)
            previous = created
        self.register_outputs({"role_arn": self.role.arn,
                               "profiles": [p.fargate_profile_name for p in self.profiles]})
