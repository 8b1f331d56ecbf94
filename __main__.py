"""eks-platform: one program, one stack per environment (dev, staging, prod on AWS; local on kind).

Reads top-down: settings, then the cluster (on AWS: network, control plane, base add-ons,
compute; on kind: the kind cluster), then every enabled add-on of the registry in dependency
order. Exports come with the parts that own them.
"""

import pulumi

from components.cluster.eks import ClusterArgs, EksCluster, check_deployer_not_listed, check_version_step
from components.cluster.eks_addons import BASE_WAVE, AddonsArgs, EksAddons
from components.cluster.fargate import FargateArgs, FargateProfiles
from components.cluster.kind import KindCluster, KindClusterArgs
from components.cluster.node_groups import NodeGroups, NodeGroupsArgs
from components.core.common import platform_tags
from components.core.registry import build_addons
from components.core.support import check_supported
from components.network.vpc import Network, NetworkArgs, check_zone_count
from settings import Settings, load_settings


def eks(settings: Settings):
    """Network, control plane, base add-ons and compute; returns the handle every add-on gets."""
    region = settings.region
    assert region is not None  # validated: the aws target requires aws:region
    tags = platform_tags(settings.stack, settings.tags)
    check_version_step(settings.cluster_name, settings.cluster.version)
    check_deployer_not_listed(settings.cluster, settings.teams)
    check_zone_count(settings.network, region)
    network = Network(f"{settings.stack}-network", NetworkArgs(
        cluster_name=settings.cluster_name, region=region, settings=settings.network,
        kms_key_deletion_window_days=settings.cluster.kms_key_deletion_window_days, tags=tags))
    control_plane = EksCluster(f"{settings.stack}-cluster", ClusterArgs(
        cluster_name=settings.cluster_name, region=region, settings=settings.cluster, vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids, az_count=len(network.private_subnet_ids),
        api_access_cidrs=settings.cluster.api_access_cidrs or [network.vpc_cidr], tags=tags,
        stack=settings.stack))
    cluster = control_plane.handle()
    base_addons = EksAddons(f"{settings.stack}-addons-base", AddonsArgs(
        cluster=cluster, addons=BASE_WAVE, prefix_delegation=settings.cluster.prefix_delegation))

    # nodes turn Ready only once the VPC CNI runs, and Pod Identity needs its agent: the node groups
    # wait for the base add-ons (their role and launch templates do not)
    node_groups = NodeGroups(f"{settings.stack}-nodes", NodeGroupsArgs(cluster=cluster.after(base_addons),
                                                                       groups=settings.node_groups))
    compute: list[pulumi.Resource] = [node_groups]
    if settings.all_fargate_profiles:
        compute.append(FargateProfiles(f"{settings.stack}-fargate", FargateArgs(
            cluster=cluster, profiles=settings.all_fargate_profiles)))

    pulumi.export("clusterName", control_plane.cluster.name)
    pulumi.export("clusterEndpoint", control_plane.cluster.endpoint)
    pulumi.export("kubeconfig", control_plane.kubeconfig)
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    pulumi.export("nodeRoleArn", node_groups.role.arn)
    # pods can run once the node groups (or Fargate profiles) exist
    return cluster.with_aws(node_role_arn=node_groups.role.arn, node_groups=node_groups.groups).after(*compute)


def kind(settings: Settings):
    """The local kind cluster; returns the same handle contract, without AWS facts."""
    local = KindCluster(f"{settings.stack}-kind", KindClusterArgs(cluster_name=settings.cluster_name,
                                                                  settings=settings.kind))
    pulumi.export("clusterName", settings.cluster_name)
    pulumi.export("kubeContext", f"kind-{settings.cluster_name}")
    pulumi.export("kubeconfig", local.kubeconfig)
    return local.handle()


settings = load_settings()
check_supported(settings)  # every enabled component supports the minor, before any resource
pulumi.export("target", settings.target)
pulumi.export("tier", settings.tier)
build_addons(eks(settings) if settings.is_aws else kind(settings), settings)
