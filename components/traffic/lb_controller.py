"""The AWS Load Balancer Controller: ALBs for Ingresses and NLBs for LoadBalancer Services (EKS only).

Comes after compute (it runs on the system nodes); everything that creates a LoadBalancer Service
or an Ingress (the Istio gateway, later Grafana and Argo CD ingresses) comes after it, so destroy
deletes those first and the controller is still there to delete their load balancers and security
groups. Inside: IAM and identity (with the cluster, in parallel with the nodes), the CRDs, then the
chart.

Facts relied on (kubernetes-sigs/aws-load-balancer-controller v3.5.0):
- IAM: docs/install/iam_policy.json, 16 statements; ``iam_statements`` equals it (tests compare them);
- chart values (helm/aws-load-balancer-controller/values.yaml): ``clusterName``, ``region`` and
  ``vpcId`` set explicitly, because nodes allow one IMDS hop and the pod cannot ask IMDS
  (docs/deploy/installation.md: "set the hop limit to 2 or higher" or pass region and VPC id);
  ``keepTLSSecret`` reuses the webhook certificate on upgrades (else the chart generates a new CA on
  every render); ``ingressClassConfig.default``; ``podDisruptionBudget``; ``topologySpreadConstraints``;
- CRDs: Helm does not upgrade a chart's crds/; installation.md applies them on upgrade, so they are
  a step of their own (``versions.LOAD_BALANCER_CONTROLLER_CRDS``) and the chart skips its crds/.

Webhooks: the control plane calls the controller's webhook on port 9443 of the pod. Managed node
groups without security groups in their launch template get EKS's cluster security group, which
admits all traffic from itself, and the control plane's ENIs carry that group too. Karpenter nodes
select security groups by the karpenter.sh/discovery tag, which the cluster component puts on the
same cluster security group. So the webhook is reachable from the control plane on both kinds of
node without an extra rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

import versions
from components.core import helm
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts, policy_document, statement, workload_identity
from components.core.handle import ClusterHandle
from components.core.names import (
    ARGOCD_NAMESPACE,
    ISTIO_NAMESPACE,
    KYVERNO_NAMESPACE,
    LBC_NAMESPACE,
    LOGGING_NAMESPACE,
    MONITORING_NAMESPACE,
)
from settings import gates
from settings.traffic import LoadBalancerControllerSettings

TYPE = "platform:traffic:LoadBalancerController"
CHART = "aws-load-balancer-controller"
NAMESPACE, SERVICE_ACCOUNT = LBC_NAMESPACE, "aws-load-balancer-controller"
# The chart's Service mutator (mservice.elbv2.k8s.aws, failurePolicy Fail, every Service created; chart
# 3.5.0 templates/webhook.yaml) refuses Services until the controller's pods answer, and metrics-server,
# Karpenter, Kyverno and Fluent Bit install their Services beside the controller, not after it
# (kubernetes-sigs/aws-load-balancer-controller#4140). None of the platform's own namespaces needs it: their
# Services are ClusterIP, and the Istio gateway's (istio-ingress, after the controller, left in) carries the
# aws-load-balancer-type annotation itself. Team namespaces keep it: their LoadBalancer Services get an NLB.
SERVICE_MUTATOR_EXCLUDED = (LBC_NAMESPACE, KYVERNO_NAMESPACE, LOGGING_NAMESPACE, MONITORING_NAMESPACE,
                            ISTIO_NAMESPACE, ARGOCD_NAMESPACE)
INGRESS_CLASS = "alb"
CLUSTER_TAG = "elbv2.k8s.aws/cluster"

EC2_READ = ("DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones", "DescribeInternetGateways",
            "DescribeVpcs", "DescribeVpcPeeringConnections", "DescribeSubnets", "DescribeSecurityGroups",
            "DescribeInstances", "DescribeNetworkInterfaces", "DescribeTags", "GetCoipPoolUsage", "DescribeCoipPools",
            "GetSecurityGroupsForVpc", "DescribeIpamPools", "DescribeRouteTables")
ELB_READ = ("DescribeLoadBalancers", "DescribeLoadBalancerAttributes", "DescribeListeners",
            "DescribeListenerCertificates", "DescribeSSLPolicies", "DescribeRules", "DescribeTargetGroups",
            "DescribeTargetGroupAttributes", "DescribeTargetHealth", "DescribeTags", "DescribeTrustStores",
            "DescribeListenerAttributes", "DescribeCapacityReservation")
INTEGRATIONS = ("cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
                "iam:ListServerCertificates", "iam:GetServerCertificate", "waf-regional:GetWebACL",
                "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
                "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
                "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection",
                "shield:DeleteProtection")
ELB_MANAGE = ("ModifyLoadBalancerAttributes", "SetIpAddressType", "SetSecurityGroups", "SetSubnets",
              "DeleteLoadBalancer", "ModifyTargetGroup", "ModifyTargetGroupAttributes", "DeleteTargetGroup",
              "ModifyListenerAttributes", "ModifyCapacityReservation", "ModifyIpPools")


def iam_statements(partition: str) -> list[dict]:
    """The controller's policy: upstream's 16 statements (v3.5.0), scoped as upstream scopes them.

    Resources it creates carry the elbv2.k8s.aws/cluster tag; changing or deleting load balancers,
    target groups and security groups requires that tag (the Null conditions), creating them
    requires tagging them at creation.
    """
    ec2, elb = f"arn:{partition}:ec2:*:*", f"arn:{partition}:elasticloadbalancing:*:*"
    request_tagged = {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"}}
    resource_tagged = {"Null": {f"aws:ResourceTag/{CLUSTER_TAG}": "false"}}
    # (re)tagging is allowed on the controller's own resources, never to take over an untagged one
    retag = {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "true", f"aws:ResourceTag/{CLUSTER_TAG}": "false"}}
    balancers = [f"{elb}:targetgroup/*/*", f"{elb}:loadbalancer/net/*/*", f"{elb}:loadbalancer/app/*/*"]
    return [
        statement("CreateElbServiceLinkedRole", ["iam:CreateServiceLinkedRole"], condition={
            "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}),
        statement("Describe", [*(f"ec2:{a}" for a in EC2_READ), *(f"elasticloadbalancing:{a}" for a in ELB_READ)]),
        statement("Integrations", list(INTEGRATIONS)),
        statement("SecurityGroupIngress", ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
        statement("CreateSecurityGroup", ["ec2:CreateSecurityGroup"]),
        statement("TagNewSecurityGroups", ["ec2:CreateTags"], f"{ec2}:security-group/*", condition={
            "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **request_tagged}),
        statement("RetagOwnSecurityGroups", ["ec2:CreateTags", "ec2:DeleteTags"], f"{ec2}:security-group/*",
                  condition=retag),
        statement("ManageOwnSecurityGroups", ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
                                              "ec2:DeleteSecurityGroup"], condition=resource_tagged),
        statement("CreateTaggedBalancers", ["elasticloadbalancing:CreateLoadBalancer",
                                            "elasticloadbalancing:CreateTargetGroup"], condition=request_tagged),
        statement("ListenersAndRules", [f"elasticloadbalancing:{a}" for a in
                                        ("CreateListener", "DeleteListener", "CreateRule", "DeleteRule")]),
        statement("RetagOwnBalancers", ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                  balancers, condition=retag),
        statement("TagListenersAndRules", ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [
            f"{elb}:listener/net/*/*/*", f"{elb}:listener/app/*/*/*",
            f"{elb}:listener-rule/net/*/*/*", f"{elb}:listener-rule/app/*/*/*"]),
        statement("ManageOwnBalancers", [f"elasticloadbalancing:{a}" for a in ELB_MANAGE], condition=resource_tagged),
        statement("TagNewBalancers", ["elasticloadbalancing:AddTags"], balancers, condition={
            "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
            **request_tagged}),
        statement("RegisterTargets", ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                  f"{elb}:targetgroup/*/*"),
        statement("ListenerSettings", [f"elasticloadbalancing:{a}" for a in (
            "SetWebAcl", "ModifyListener", "AddListenerCertificates", "RemoveListenerCertificates", "ModifyRule",
            "SetRulePriorities")]),
    ]


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    cluster: ClusterHandle
    """The EKS cluster: region, VPC, identity mode, tags."""
    settings: LoadBalancerControllerSettings
    """Replicas and the default IngressClass."""
    service_monitor: bool = False
    """Let the chart create a ServiceMonitor (monitoring is on and its CRDs come first)."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("LoadBalancerControllerArgs.cluster: the AWS Load Balancer Controller is AWS-only "
                             "(eks-platform:traffic.loadBalancerController)")


def chart_values(cluster: ClusterHandle, s: LoadBalancerControllerSettings,
                 service_account_annotations: dict[str, Any]) -> dict[str, Any]:
    facts = cluster.aws
    assert facts is not None
    selector = {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": CHART}
    values: dict[str, Any] = {
        "clusterName": cluster.name,
        # set explicitly: the pod cannot reach IMDS through one hop to discover them
        "region": facts.region,
        "vpcId": facts.vpc_id,
        "replicaCount": s.replicas,
        "serviceAccount": {"name": SERVICE_ACCOUNT, "annotations": dict(service_account_annotations)},
        "nodeSelector": dict(cluster.system_node_selector),
        "tolerations": list(cluster.system_tolerations),
        "ingressClass": INGRESS_CLASS,
        "createIngressClassResource": True,
        "ingressClassConfig": {"default": s.default_ingress_class},
        # one webhook certificate for the life of the release: Helm's lookup reuses the secret
        "keepTLSSecret": True,
        # serviceMutatorWebhookConfig.namespaceSelectors become the webhook's namespaceSelector.matchExpressions;
        # kubernetes.io/metadata.name is on every namespace (Kubernetes, well-known labels)
        "serviceMutatorWebhookConfig": {"namespaceSelectors": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(SERVICE_MUTATOR_EXCLUDED)}]},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }
    if s.replicas > 1:
        values["podDisruptionBudget"] = {"maxUnavailable": 1}
        values["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector}}]
    return values


class LoadBalancerController(PlatformComponent):
    policy: aws.iam.Policy
    role: aws.iam.Role
    crds: k8s.yaml.v2.ConfigFile
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, facts = args.cluster, args.cluster.aws
        assert facts is not None  # checked by the args
        self.policy = aws.iam.Policy(
            f"{name}-policy", description=f"AWS Load Balancer Controller of {cluster.physical_name}",
            policy=policy_document(*iam_statements(facts.partition)), tags=facts.tags, opts=child_opts(self))
        identity = workload_identity(
            name, self, cluster_name=cluster.name, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
            mode=facts.identity, oidc=facts.oidc, policy_arns={"policy": self.policy.arn}, tags=facts.tags)
        self.role = identity.role
        self.crds = k8s.yaml.v2.ConfigFile(f"{name}-crds", file=versions.LOAD_BALANCER_CONTROLLER_CRDS,
                                           opts=child_opts(self, cluster.k8s_opts()))
        self.release = helm.release(
            f"{name}-release", self, cluster, CHART, namespace=NAMESPACE, skip_crds=True,
            values={**chart_values(cluster, args.settings, identity.service_account_annotations),
                    "serviceMonitor": {"enabled": args.service_monitor}},
            # its CRDs first; and its permissions and credentials before it starts and until it is gone,
            # so it can still delete load balancers on destroy
            opts=pulumi.ResourceOptions(depends_on=[self.crds, *identity.ready]))
        self.register_outputs({"role_arn": self.role.arn, "policy_arn": self.policy.arn,
                               "chart_version": versions.CHARTS[CHART].version, "ingress_class": INGRESS_CLASS})


class LoadBalancerControllerAddOn(AddOn):
    """ALBs and NLBs for the cluster (EKS only): before anything that creates a LoadBalancer or Ingress."""

    key = "load-balancer-controller"
    gate = gates.LOAD_BALANCER_CONTROLLER

    @classmethod
    def build(cls, name, cluster, settings):
        return LoadBalancerController(name, LoadBalancerControllerArgs(
            cluster=cluster, settings=settings.traffic.load_balancer_controller,
            service_monitor=settings.observability.metrics.enabled))
