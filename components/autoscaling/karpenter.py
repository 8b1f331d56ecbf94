"""Karpenter: its AWS side (node role, controller IAM, interruption queue and rules) and its cluster side
(CRD and controller charts, EC2NodeClasses, NodePools), as one component.

Comes after compute: the controller runs on the 'system' node group (or its own Fargate profile) and,
with Pod Identity, needs the eks-pod-identity-agent add-on. Inside, the order is CRDs, then the
controller (after its identity, permissions and queue), then EC2NodeClasses, then NodePools. Destroy
runs the same edges backwards: NodePools and NodeClasses go first while the controller still runs
and drains and terminates their nodes; the controller, queue, roles and policies go after that.

The AWS side matches the getting-started CloudFormation template of Karpenter v1.14
(aws/karpenter-provider-aws v1.14.1, website/content/en/v1.14/getting-started/getting-started-with-karpenter/
cloudformation.yaml, locked in upstream.lock.json); tests compare the two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.autoscaling.node_pools import node_pool_spec
from components.core import helm
from components.core.addon import AddOn
from components.core.common import (
    PlatformComponent,
    child_opts,
    managed_policy_arn,
    policy_document,
    service_trust,
    statement,
    workload_identity,
)
from components.core.handle import AwsFacts, ClusterHandle
from components.core.names import NODE_POOL_API
from settings import gates
from settings.karpenter import KarpenterSettings, NodeClassSettings

TYPE = "platform:autoscaling:Karpenter"
NAMESPACE, SERVICE_ACCOUNT = "kube-system", "karpenter"
DISCOVERY_TAG = "karpenter.sh/discovery"
NODE_POLICIES = ("AmazonEKS_CNI_Policy", "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly",
                 "AmazonSSMManagedInstanceCore")
# Interruption events Karpenter acts on (upstream rule name -> EventBridge source and detail-type).
INTERRUPTION_RULES: dict[str, tuple[str, str]] = {
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "reservation-interruption": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}
NODE_CLASS_API = "karpenter.k8s.aws/v1"
# Draining a pool's nodes honours PodDisruptionBudgets and grace periods: give it time on delete.
CR_TIMEOUTS = pulumi.CustomTimeouts(create="10m", update="10m", delete="45m")


@dataclass(frozen=True, kw_only=True)
class KarpenterArgs:
    cluster: ClusterHandle
    """The EKS cluster: its AWS facts, identity mode (Pod Identity or IRSA) and tags."""
    settings: KarpenterSettings
    """Controller placement and size, EC2NodeClasses and NodePools."""
    service_monitor: bool = False
    """Let the chart create a ServiceMonitor (monitoring is on and its CRDs come first)."""

    def __post_init__(self) -> None:
        facts = self.cluster.aws
        if facts is None:
            raise ValueError("Karpenter is AWS-only; the cluster handle has no AWS facts (kind?)")
        if facts.identity == "irsa" and facts.oidc is None:
            raise ValueError("KarpenterArgs.cluster: identity 'irsa' needs the cluster's OIDC provider "
                             "(cluster.irsa: true)")
        if self.settings.run_on == "fargate" and facts.identity != "irsa":
            raise ValueError("KarpenterArgs: a controller on Fargate needs identity 'irsa' "
                             "(EKS Pod Identity does not work on Fargate)")


@dataclass(frozen=True, kw_only=True)
class PolicyContext:
    """What the controller policies are scoped to (the ${...} parameters of the upstream template)."""

    cluster_name: str
    partition: str
    region: str
    account_id: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]


def controller_policies(c: PolicyContext) -> dict[str, list[dict]]:
    """The six controller policies of Karpenter v1.14, by short name, as IAM statements."""
    ec2 = f"arn:{c.partition}:ec2:{c.region}"
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{c.cluster_name}": "owned"}
    in_pool = {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    request_owned = {f"aws:RequestTag/kubernetes.io/cluster/{c.cluster_name}": "owned",
                     "aws:RequestTag/eks:eks-cluster-name": c.cluster_name}
    request_pool = {"aws:RequestTag/karpenter.sh/nodepool": "*"}
    launched = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface",
                                                  "launch-template", "spot-instances-request")]
    profiles = pulumi.Output.concat("arn:", c.partition, ":iam::", c.account_id, ":instance-profile/*")
    region_tag = "topology.kubernetes.io/region"
    launch = ["ec2:RunInstances", "ec2:CreateFleet"]
    return {
        "node-lifecycle": [
            statement("AllowScopedEC2InstanceAccessActions", launch, [
                f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*", f"{ec2}:*:placement-group/*"]),
            statement("AllowScopedEC2LaunchTemplateAccessActions", launch, f"{ec2}:*:launch-template/*",
                      condition={"StringEquals": owned, "StringLike": in_pool}),
            statement("AllowScopedEC2InstanceActionsWithTags", [*launch, "ec2:CreateLaunchTemplate"], launched,
                      condition={"StringEquals": request_owned, "StringLike": request_pool}),
            statement("AllowScopedResourceCreationTagging", ["ec2:CreateTags"], launched, condition={
                "StringEquals": {**request_owned,
                                 "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                "StringLike": request_pool}),
            statement("AllowScopedResourceTagging", ["ec2:CreateTags"], f"{ec2}:*:instance/*", condition={
                "StringEquals": owned, "StringLike": in_pool,
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": c.cluster_name},
                # Karpenter may only add these tags to its running instances, never change ownership tags
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim",
                                                              "Name"]}}),
            statement("AllowScopedDeletion", ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                      [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
                      condition={"StringEquals": owned, "StringLike": in_pool}),
        ],
        "iam-integration": [
            statement("AllowPassingInstanceRole", ["iam:PassRole"], c.node_role_arn, condition={
                "StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}}),
            statement("AllowScopedInstanceProfileCreationActions", ["iam:CreateInstanceProfile"], profiles,
                      condition={"StringEquals": {**_request_tags(c, region_tag)},
                                 "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}),
            statement("AllowScopedInstanceProfileTagActions", ["iam:TagInstanceProfile"], profiles, condition={
                "StringEquals": {**owned, f"aws:ResourceTag/{region_tag}": c.region, **_request_tags(c, region_tag)},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                               "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}),
            statement("AllowScopedInstanceProfileActions", ["iam:AddRoleToInstanceProfile",
                                                            "iam:RemoveRoleFromInstanceProfile",
                                                            "iam:DeleteInstanceProfile"], profiles, condition={
                "StringEquals": {**owned, f"aws:ResourceTag/{region_tag}": c.region},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}),
        ],
        "eks-integration": [
            statement("AllowAPIServerEndpointDiscovery", ["eks:DescribeCluster"], c.cluster_arn),
        ],
        "interruption": [
            statement("AllowInterruptionQueueActions", ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                      c.queue_arn),
        ],
        "resource-discovery": [
            statement("AllowRegionalReadActions", [f"ec2:{a}" for a in (
                "DescribeCapacityReservations", "DescribeImages", "DescribeInstances", "DescribeInstanceStatus",
                "DescribeInstanceTypeOfferings", "DescribeInstanceTypes", "DescribeLaunchTemplates",
                "DescribePlacementGroups", "DescribeSecurityGroups", "DescribeSpotPriceHistory", "DescribeSubnets")],
                condition={"StringEquals": {"aws:RequestedRegion": c.region}}),
            statement("AllowSSMReadActions", ["ssm:GetParameter"],
                      f"arn:{c.partition}:ssm:{c.region}::parameter/aws/service/*"),
            statement("AllowPricingReadActions", ["pricing:GetProducts"]),
            statement("AllowUnscopedInstanceProfileListAction", ["iam:ListInstanceProfiles"]),
            statement("AllowInstanceProfileReadActions", ["iam:GetInstanceProfile"], profiles),
        ],
        "zonal-shift": [
            statement("AllowZonalShiftStatusReadOnly", ["arc-zonal-shift:GetManagedResource"], condition={
                "StringEquals": {"arc-zonal-shift:ResourceIdentifier": c.cluster_arn}}),
        ],
    }


def _request_tags(c: PolicyContext, region_tag: str) -> dict[str, Any]:
    return {f"aws:RequestTag/kubernetes.io/cluster/{c.cluster_name}": "owned",
            "aws:RequestTag/eks:eks-cluster-name": c.cluster_name,
            f"aws:RequestTag/{region_tag}": c.region}


def chart_values(cluster: ClusterHandle, config: KarpenterSettings, *, queue_name: pulumi.Input[str],
                 service_account_annotations: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """Values of the karpenter chart; every key path exists in the chart's values.yaml (tests check)."""
    res = config.controller_resources
    # Fargate sizes the pod's VM from its requests and gives it no more (EKS user guide,
    # fargate-pod-configuration): there the limits are what the controller should get
    requests = res.limits if config.run_on == "fargate" else res.requests
    values: dict[str, Any] = {
        "settings": {
            "clusterName": cluster.name,
            "clusterEndpoint": cluster.endpoint,
            # the queue NAME, not its ARN
            "interruptionQueue": queue_name,
            "enableZonalShift": config.zonal_shift,
        },
        "serviceAccount": {"name": SERVICE_ACCOUNT},
        # two replicas with the chart's required zone spread need nodes in two zones (an AWS stack has two or more)
        "replicas": config.replicas if cluster.az_count >= 2 else 1,
        "controller": {"resources": {
            "requests": {"cpu": requests.cpu, "memory": requests.memory},
            "limits": {"cpu": res.limits.cpu, "memory": res.limits.memory},
        }},
        # Karpenter needs only the API server (by Service IP) and AWS endpoints (VPC resolver). With the
        # node's resolver it keeps working while CoreDNS has nowhere to run, e.g. when CoreDNS pods sit
        # on Karpenter nodes that are being replaced, or on Fargate before any node exists.
        "dnsPolicy": "Default",
    }
    if service_account_annotations:
        values["serviceAccount"]["annotations"] = dict(service_account_annotations)
    if config.run_on == "system-nodes":
        # The chart's own affinity (karpenter.sh/nodepool DoesNotExist, one replica per host) stays as
        # it is: only nodeSelector and tolerations are set, so the controller never runs on nodes it manages.
        values["nodeSelector"] = {"kubernetes.io/os": "linux", **cluster.system_node_selector}
        values["tolerations"] = [dict(t) for t in cluster.system_tolerations]
    return values


def node_class_spec(nc: NodeClassSettings, *, cluster_name: str, role_name: pulumi.Input[str],
                    tags: Mapping[str, str]) -> dict[str, Any]:
    discovery = [{"tags": {DISCOVERY_TAG: cluster_name}}]
    return {
        # Karpenter creates and owns the instance profile for this role (no instance profile here)
        "role": role_name,
        "amiSelectorTerms": [{"alias": nc.ami_alias}],
        "subnetSelectorTerms": discovery,
        "securityGroupSelectorTerms": discovery,
        # IMDSv2 only, one hop: pods off the host network cannot reach the node's credentials
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                            "httpPutResponseHopLimit": 1, "httpTokens": "required"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
            "volumeSize": f"{nc.volume_size_gib}Gi", "volumeType": "gp3", "encrypted": True,
            "deleteOnTermination": True}}],
        "tags": dict(tags),
    }


class Karpenter(PlatformComponent):
    node_role: aws.iam.Role
    controller_role: aws.iam.Role
    queue: aws.sqs.Queue
    crds: k8s.helm.v3.Release
    controller: k8s.helm.v3.Release
    node_classes: dict[str, k8s.apiextensions.CustomResource]
    node_pools: dict[str, k8s.apiextensions.CustomResource]
    node_pool_names: list[str]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, config = args.cluster, args.settings
        facts: AwsFacts = cluster.aws  # type: ignore[assignment]  # checked by KarpenterArgs
        tags = dict(facts.tags)

        # --- nodes: role, its policies and its access entry -------------------------------------
        self.node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=service_trust("ec2.amazonaws.com"),
                                      description=f"Nodes Karpenter launches in {cluster.physical_name}",
                                      tags=tags, opts=child_opts(self))
        node_attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=self.node_role.name,
                                         policy_arn=managed_policy_arn(facts.partition, policy), opts=child_opts(self))
            for policy in NODE_POLICIES
        ]
        node_access = aws.eks.AccessEntry(f"{name}-node-access", cluster_name=cluster.name,
                                          principal_arn=self.node_role.arn, type="EC2_LINUX", tags=tags,
                                          # a role is usable only with its policies (destroy: removed after)
                                          # one entry per principal: replaced delete-first
                                          opts=child_opts(self, pulumi.ResourceOptions(
                                              depends_on=node_attachments, delete_before_replace=True)))

        # --- interruption queue and the events that feed it -------------------------------------
        self.queue = aws.sqs.Queue(f"{name}-interruptions", name=cluster.physical_name,
                                   message_retention_seconds=300, sqs_managed_sse_enabled=True, tags=tags,
                                   # a fixed name: replaced delete-first (tests/stacks/test_replace_safety.py)
                                   opts=child_opts(self, pulumi.ResourceOptions(delete_before_replace=True)))
        queue_policy = aws.sqs.QueuePolicy(f"{name}-interruptions", queue_url=self.queue.url, policy=policy_document(
            statement("AllowEventBridgeAndSqs", ["sqs:SendMessage"], self.queue.arn,
                      principal={"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}),
            statement("DenyHTTP", ["sqs:*"], self.queue.arn, effect="Deny", principal="*",  # type: ignore[arg-type]
                      condition={"Bool": {"aws:SecureTransport": "false"}})),
            opts=child_opts(self))
        for key, (source, detail_type) in INTERRUPTION_RULES.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{key}", description=f"Karpenter interruption handling: {detail_type}",
                event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}), tags=tags,
                opts=child_opts(self))
            aws.cloudwatch.EventTarget(f"{name}-{key}", rule=rule.name, arn=self.queue.arn,
                                       target_id="KarpenterInterruptionQueueTarget",
                                       # events sent before the queue policy allows them are dropped
                                       opts=child_opts(self, pulumi.ResourceOptions(depends_on=[queue_policy])))

        # --- controller identity: six managed policies on a Pod Identity (or IRSA) role ---------
        context = PolicyContext(cluster_name=cluster.physical_name, partition=facts.partition, region=facts.region,
                                account_id=facts.account_id, cluster_arn=facts.cluster_arn,
                                node_role_arn=self.node_role.arn, queue_arn=self.queue.arn)
        policies = {
            key: aws.iam.Policy(f"{name}-{key}", description=f"Karpenter controller of {cluster.physical_name}: {key}",
                                policy=policy_document(*statements), tags=tags, opts=child_opts(self))
            for key, statements in controller_policies(context).items()
        }
        # The controller depends on the attachments (identity.ready): on destroy it must keep its
        # permissions until it has drained and terminated every node.
        identity = workload_identity(name, self, cluster_name=cluster.name, namespace=NAMESPACE,
                                     service_account=SERVICE_ACCOUNT, mode=facts.identity, oidc=facts.oidc,
                                     policy_arns={key: policy.arn for key, policy in policies.items()}, tags=tags)
        self.controller_role = identity.role
        if config.spot_service_linked_role:
            # Fails with "has been taken" where the account already has one (see the setting's docs).
            aws.iam.ServiceLinkedRole(f"{name}-spot", aws_service_name="spot.amazonaws.com", tags=tags,
                                      opts=child_opts(self))

        # --- cluster side: CRDs, controller, node classes, node pools ---------------------------
        self.crds = helm.release(f"{name}-crds", self, cluster, "karpenter-crd", namespace=NAMESPACE, values={})
        self.controller = helm.release(
            f"{name}-controller", self, cluster, "karpenter", namespace=NAMESPACE, skip_crds=True,
            values={**chart_values(cluster, config, queue_name=self.queue.name,
                                   service_account_annotations=identity.service_account_annotations),
                    "serviceMonitor": {"enabled": args.service_monitor}},
            opts=pulumi.ResourceOptions(depends_on=[
                # the karpenter-crd chart owns the CRDs (Helm never upgrades a chart's crds/)
                self.crds,
                # credentials and permissions must be in place when the controller starts, and stay
                # until it is gone
                *identity.ready,
                self.queue,
            ]))

        self.node_classes = {}
        for nc in config.node_classes:
            self.node_classes[nc.name] = k8s.apiextensions.CustomResource(
                f"{name}-class-{nc.name}", api_version=NODE_CLASS_API, kind="EC2NodeClass",
                metadata={"name": nc.name},
                spec=node_class_spec(nc, cluster_name=cluster.physical_name, role_name=self.node_role.name,
                                     tags={**tags, "ManagedBy": "karpenter"}),
                opts=child_opts(self, cluster.late_opts(pulumi.ResourceOptions(
                    # the controller validates the class; nodes join only with the access entry and
                    # their policies, which must also outlast the nodes on destroy
                    depends_on=[self.controller, node_access, *node_attachments], custom_timeouts=CR_TIMEOUTS))))
        self.node_pools = {}
        for pool in config.pools:
            self.node_pools[pool.name] = k8s.apiextensions.CustomResource(
                f"{name}-pool-{pool.name}", api_version=NODE_POOL_API, kind="NodePool", metadata={"name": pool.name},
                spec=node_pool_spec(pool, config),
                opts=child_opts(self, cluster.late_opts(pulumi.ResourceOptions(
                    # deleted first on destroy: the controller drains the pool's nodes while it still runs
                    depends_on=[self.controller, self.node_classes[pool.node_class]], custom_timeouts=CR_TIMEOUTS))))
        self.node_pool_names = list(self.node_pools)

        self.register_outputs({
            "node_role_arn": self.node_role.arn,
            "node_role_name": self.node_role.name,
            "controller_role_arn": self.controller_role.arn,
            "queue_name": self.queue.name,
            "queue_arn": self.queue.arn,
            "node_class_names": list(self.node_classes),
            "node_pool_names": self.node_pool_names,
        })


class KarpenterAddOn(AddOn):
    """Node autoscaling with Karpenter (the default); never together with Cluster Autoscaler."""

    key = "karpenter"
    gate = gates.KARPENTER

    @classmethod
    def build(cls, name, cluster, settings):
        return Karpenter(name, KarpenterArgs(cluster=cluster, settings=settings.karpenter,
                                             service_monitor=settings.observability.metrics.enabled))

    @classmethod
    def exports(cls, component):
        return {"karpenterNodePools": component.node_pool_names}
