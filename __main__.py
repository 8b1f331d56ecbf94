"""eks-platform: one program, one stack per environment (dev, staging, prod on AWS; local on kind).

Reads top-down: settings, network, cluster, compute, cluster add-ons, exports. Later phases add
autoscaling, controllers, observability, mesh and GitOps as components on the cluster handle.
"""

import pulumi

from components.cluster import ClusterArgs, EksCluster
from components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs, scaled_groups
from components.common import partition_of, platform_tags
from components.ebs_csi import EbsCsiArgs, EbsCsiDriver
from components.eks_addons import BASE_WAVE, COMPUTE_WAVE, AddonsArgs, EksAddons
from components.fargate import FargateArgs, FargateProfiles
from components.karpenter import Karpenter, KarpenterArgs
from components.metrics_server import MetricsServer, MetricsServerArgs
from components.network import Network, NetworkArgs
from components.node_groups import NodeGroups, NodeGroupsArgs
from settings import load_settings

settings = load_settings()
pulumi.export("target", settings.target)
pulumi.export("tier", settings.tier)

if settings.is_aws:
    region = settings.region
    assert region is not None  # validated: the aws target requires aws:region
    tags = platform_tags(settings.stack, settings.tags)
    cluster_name = settings.cluster_name

    # --- network -------------------------------------------------------------------------------
    network = Network(f"{settings.stack}-network", NetworkArgs(
        cluster_name=cluster_name, region=region, config=settings.network, tags=tags))

    # --- cluster -------------------------------------------------------------------------------
    eks = EksCluster(f"{settings.stack}-cluster", ClusterArgs(
        cluster_name=cluster_name, region=region, config=settings.cluster, vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids, az_count=len(network.private_subnet_ids), tags=tags))
    base_addons = EksAddons(f"{settings.stack}-addons-base", AddonsArgs(
        cluster_name=eks.cluster.name, kubernetes_version=settings.cluster.version, addons=BASE_WAVE, tags=tags))

    # --- compute -------------------------------------------------------------------------------
    node_groups = NodeGroups(f"{settings.stack}-nodes", NodeGroupsArgs(
        cluster_name=eks.cluster.name, kubernetes_version=settings.cluster.version,
        partition=partition_of(region), subnet_ids=network.private_subnet_ids, groups=settings.node_groups,
        tags=tags),
        # nodes turn Ready only once the VPC CNI runs; Pod Identity needs its agent
        opts=pulumi.ResourceOptions(depends_on=[base_addons]))
    compute: list[pulumi.Resource] = [node_groups]
    # karpenter.runOn 'fargate' adds the controller's own profile (kube-system, pods of the karpenter chart)
    fargate_profiles = list(settings.fargate_profiles)
    if settings.autoscaling == "karpenter":
        fargate_profiles += settings.karpenter.controller_fargate_profiles
    if fargate_profiles:
        compute.append(FargateProfiles(f"{settings.stack}-fargate", FargateArgs(
            cluster_name=eks.cluster.name, cluster_arn=eks.cluster.arn, region=region,
            partition=partition_of(region), account_id=eks.aws_facts.account_id,
            subnet_ids=network.private_subnet_ids, profiles=fargate_profiles, tags=tags)))
    cluster = eks.handle(node_role_arn=node_groups.role.arn)

    # --- cluster add-ons that need nodes ---------------------------------------------------------
    # CoreDNS and the EBS CSI controller stay DEGRADED without somewhere to run.
    EksAddons(f"{settings.stack}-addons-compute", AddonsArgs(
        cluster_name=eks.cluster.name, kubernetes_version=settings.cluster.version, addons=COMPUTE_WAVE, tags=tags),
        opts=pulumi.ResourceOptions(depends_on=compute))
    EbsCsiDriver(f"{settings.stack}-ebs-csi", EbsCsiArgs(
        cluster=cluster, identity="irsa" if settings.cluster.irsa else "pod-identity"),
        opts=pulumi.ResourceOptions(depends_on=compute))

    # --- node autoscaling with Karpenter (never together with Cluster Autoscaler) ---------------
    if settings.autoscaling == "karpenter":
        karpenter = Karpenter(f"{settings.stack}-karpenter", KarpenterArgs(
            cluster=cluster, config=settings.karpenter, tags=tags,
            identity="irsa" if settings.cluster.irsa else "pod-identity"),
            # the controller runs on the system nodes (or its Fargate profile) and needs the Pod Identity agent
            opts=pulumi.ResourceOptions(depends_on=compute))
        pulumi.export("karpenterNodePools", karpenter.node_pool_names)

    # --- node autoscaling of the managed node groups (never together with Karpenter) ------------
    if settings.autoscaling == "cluster-autoscaler":
        ClusterAutoscaler(f"{settings.stack}-cluster-autoscaler", ClusterAutoscalerArgs(
            cluster=cluster, settings=settings.cluster_autoscaler,
            groups=scaled_groups(settings.node_groups, node_groups.groups),
            identity="irsa" if settings.cluster.irsa else "pod-identity"),
            opts=pulumi.ResourceOptions(depends_on=compute))

    # --- observability ---------------------------------------------------------------------------
    MetricsServer(f"{settings.stack}-metrics-server", MetricsServerArgs(
        cluster=cluster, settings=settings.metrics_server, kubelet_insecure_tls=settings.target == "kind"),
        opts=pulumi.ResourceOptions(depends_on=compute))

    # --- exports -------------------------------------------------------------------------------
    pulumi.export("clusterName", eks.cluster.name)
    pulumi.export("clusterEndpoint", eks.cluster.endpoint)
    pulumi.export("kubeconfig", eks.kubeconfig)
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    pulumi.export("nodeRoleArn", node_groups.role.arn)
