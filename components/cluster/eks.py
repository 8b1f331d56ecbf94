"""The EKS control plane: IAM role, KMS key, log group, cluster, access entries, Kubernetes provider.

Comes after the network; node groups, Fargate profiles and every add-on come after it and receive
its ``handle``. Built from pulumi-aws resources (not pulumi-eks) so tests and policies see each one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.core.common import (
    IrsaFacts,
    PlatformComponent,
    child_opts,
    log_group_key_policy,
    managed_policy_arn,
    partition_of,
    policy_document,
    service_trust,
    statement,
)
from components.core.handle import SYSTEM_TOLERATIONS, AwsFacts, ClusterHandle
from components.core.names import access_entry_aliases, principal_slug
from settings.aws import ClusterSettings
from settings.base import ConfigError
from settings.teams import TeamSettings

TYPE = "platform:eks:Cluster"
ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "AmazonEKSViewPolicy"


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    cluster_name: str
    """Physical EKS cluster name."""
    region: str
    """AWS region."""
    settings: ClusterSettings
    """Version, endpoint access, logs, access entries, encryption and IRSA."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster."""
    subnet_ids: list[pulumi.Input[str]]
    """Private subnets for the control plane's ENIs."""
    az_count: int
    """Zones the subnets span (replica counts of zone-spread controllers follow it)."""
    api_access_cidrs: Sequence[pulumi.Input[str]]
    """Networks allowed to reach the private API endpoint on 443 (default: the VPC CIDR)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every AWS resource of the cluster and, through the handle, of its add-ons."""
    stack: str | None = None
    """The stack, when this is the program's ``<stack>-cluster``: each access entry then aliases the
    same principal's entry in the other homes (components/core/names.py ACCESS_ENTRY_HOMES), so that a
    principal moving between the lists, or from a team, is an update of one entry."""


def kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (AWS CLI v2 on the PATH)."""
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"],
            "interactiveMode": "Never",
        }}}],
    })


def version_step_error(deployed: str, wanted: str) -> str | None:
    """Why EKS would refuse moving a control plane from ``deployed`` to ``wanted``, or None.

    EKS upgrades one minor at a time and never downgrades (EKS user guide, update-cluster). The
    path is: control plane one minor up, then the add-ons (pinned per minor in versions.py, which
    follow in the same `pulumi up`), then the nodes (managed node groups follow the cluster version;
    Karpenter replaces drifted nodes within the disruption budgets).
    """
    (d_major, d_minor), (w_major, w_minor) = (tuple(int(p) for p in v.split(".")) for v in (deployed, wanted))
    if (w_major, w_minor) < (d_major, d_minor):
        return (f"the cluster runs Kubernetes {deployed} and EKS never downgrades (with upgradePolicy STANDARD it "
                f"upgrades a cluster itself when standard support ends); set eks-platform:cluster.version to "
                f"{deployed} or later")
    if w_major != d_major or w_minor > d_minor + 1:
        return (f"the cluster runs Kubernetes {deployed} and EKS upgrades one minor at a time; set "
                f"eks-platform:cluster.version to {d_major}.{d_minor + 1}, run `pulumi up`, then continue")
    return None


def check_version_step(cluster_name: str, wanted: str) -> None:
    """Refuse, before any resource is registered, a version change EKS would refuse half-way
    through an update. Reads the deployed cluster (if any) with two read-only EKS calls."""
    if cluster_name not in (aws.eks.get_clusters().names or []):
        return
    deployed = aws.eks.get_cluster(name=cluster_name).version
    problem = version_step_error(deployed, wanted)
    if problem:
        raise ConfigError(f"eks-platform:cluster.version: {problem} (cluster {cluster_name})")


def deployer_principal(caller_arn: str) -> str:
    """The IAM principal EKS sees for a caller: an assumed-role session is its role (the role's path,
    which the session ARN does not carry, is not compared)."""
    if ":assumed-role/" in caller_arn:
        partition, account = caller_arn.split(":")[1], caller_arn.split(":")[4]
        role = caller_arn.split(":assumed-role/", 1)[1].split("/")[0]
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def _same_principal(arn: str, deployer: str) -> bool:
    """``arn`` names ``deployer``: equal, or the same role name in the same account (a session ARN
    carries no role path)."""
    return arn == deployer or (":role/" in arn and ":role/" in deployer
                               and deployer.rsplit("/", 1)[1] == arn.rsplit("/", 1)[1]
                               and arn.split(":")[4] == deployer.split(":")[4])


def deployer_listed(deployer: str, settings: ClusterSettings,
                    teams: Sequence[TeamSettings] = ()) -> str | None:
    """The config key that lists ``deployer`` while clusterCreatorAdmin gives it an entry, or None."""
    if not settings.cluster_creator_admin:
        return None
    keyed = [(f"cluster.adminPrincipalArns[{i}]", a) for i, a in enumerate(settings.admin_principal_arns)]
    keyed += [(f"cluster.viewerPrincipalArns[{i}]", a) for i, a in enumerate(settings.viewer_principal_arns)]
    keyed += [(f"teams[{t}].iamRoleArns[{i}]", a) for t, team in enumerate(teams)
              for i, a in enumerate(team.iam_role_arns)]
    return next((key for key, arn in keyed if _same_principal(arn, deployer)), None)


def check_deployer_not_listed(settings: ClusterSettings, teams: Sequence[TeamSettings] = ()) -> None:
    """With clusterCreatorAdmin, EKS makes the deployer's access entry itself (EKS API reference,
    CreateCluster: bootstrapClusterCreatorAdminPermissions); listing the deployer as an admin, a
    viewer or a team's role too makes a second entry for one principal, which EKS refuses."""
    if not settings.cluster_creator_admin or not (settings.admin_principal_arns or settings.viewer_principal_arns
                                                  or any(t.iam_role_arns for t in teams)):
        return
    deployer = deployer_principal(aws.get_caller_identity().arn)
    key = deployer_listed(deployer, settings, teams)
    if key:
        raise ConfigError(f"eks-platform:{key}: {deployer} is the identity running pulumi "
                          "(eks-platform:cluster.clusterCreatorAdmin already gives it an access entry as a cluster "
                          "admin); remove it from the list, or set eks-platform:cluster.clusterCreatorAdmin: false")


class EksCluster(PlatformComponent):
    cluster: aws.eks.Cluster
    kms_key: aws.kms.Key
    log_group: aws.cloudwatch.LogGroup
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cfg, cluster_name = args.settings, args.cluster_name
        partition = partition_of(args.region)
        self._args = args
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        role = aws.iam.Role(f"{name}-role", assume_role_policy=service_trust(
            "eks.amazonaws.com", actions=["sts:AssumeRole", "sts:TagSession"]), tags=args.tags, opts=child_opts(self))
        role_policies: list[pulumi.Resource] = [aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=role.name,
            policy_arn=managed_policy_arn(partition, "AmazonEKSClusterPolicy"), opts=child_opts(self))]

        self.kms_key = aws.kms.Key(
            f"{name}-secrets", description=f"EKS secrets envelope encryption and control-plane logs for {cluster_name}",
            enable_key_rotation=True, deletion_window_in_days=cfg.kms_key_deletion_window_days,
            # CloudWatch Logs may use it for this cluster's log group only
            policy=log_group_key_policy(account_id, partition, args.region, f"/aws/eks/{cluster_name}/cluster"),
            tags=args.tags, opts=child_opts(self))
        aws.kms.Alias(f"{name}-secrets", name=f"alias/eks/{cluster_name}", target_key_id=self.kms_key.key_id,
                      opts=child_opts(self))
        # EKS checks the secrets key as the cluster role (DescribeKey, ListGrants); encryption itself
        # goes through the grant EKS creates. terraform-aws-eks grants its cluster role the same on
        # the key (its "cluster_encryption" policy, which also adds Encrypt and Decrypt).
        role_policies.append(aws.iam.RolePolicy(
            f"{name}-secrets-key", role=role.id,
            policy=policy_document(statement("DescribeSecretsKey", ["kms:DescribeKey", "kms:ListGrants"],
                                             self.kms_key.arn)),
            opts=child_opts(self)))

        # HTTPS to the private endpoint from where `pulumi up` and kubectl run (a runner, VPN or
        # bastion in the VPC): EKS's own cluster security group admits only itself. Adding a security
        # group to an existing cluster updates it in place (UpdateClusterConfig, EKS 2023-10-24;
        # terraform-provider-aws 5.25.0, which pulumi-aws bridges).
        self.api_security_group = aws.ec2.SecurityGroup(
            f"{name}-api", vpc_id=args.vpc_id, description=f"HTTPS to the {cluster_name} API endpoint",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=list(args.api_access_cidrs),
                                                      description="Kubernetes API")],
            # stateful: replies need no egress rule, and the control plane's own traffic leaves
            # through EKS's cluster security group
            egress=[], tags={**args.tags, "Name": f"{cluster_name}-api"}, opts=child_opts(self))

        # EKS writes to /aws/eks/<name>/cluster; creating it first gives it our retention and key
        # instead of EKS creating one that never expires.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/eks/{cluster_name}/cluster", retention_in_days=cfg.log_retention_days,
            kms_key_id=self.kms_key.arn, tags=args.tags,
            # a fixed name: replaced delete-first (tests/stacks/test_replace_safety.py)
            opts=child_opts(self, pulumi.ResourceOptions(delete_before_replace=True)))

        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=cfg.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.subnet_ids,
                security_group_ids=[self.api_security_group.id],
                endpoint_private_access=True,
                endpoint_public_access=cfg.endpoint_public_access,
                public_access_cidrs=cfg.public_access_cidrs or None,
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                service_ipv4_cidr=cfg.service_ipv4_cidr, ip_family="ipv4"),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.kms_key.arn), resources=["secrets"]),
            enabled_cluster_log_types=list(cfg.log_types),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=cfg.cluster_creator_admin),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            # vpc-cni, kube-proxy and CoreDNS come as managed add-ons with pinned versions instead
            # (components/cluster/eks_addons.py), so EKS does not install unmanaged copies first.
            bootstrap_self_managed_addons=False,
            deletion_protection=cfg.deletion_protection,
            tags=args.tags,
            opts=child_opts(self, pulumi.ResourceOptions(
                # the log group must exist before EKS starts logging, and the role is usable only
                # with its policies (on destroy they stay until the cluster is gone)
                depends_on=[self.log_group, *role_policies],
                # EKS control planes take 10-16 min and sometimes over 20 (CreateCluster API reference: "typically
                # between 10 and 15 minutes"; pulumi/pulumi-eks #340 hit a 20 min timeout)
                custom_timeouts=pulumi.CustomTimeouts(create="40m", update="80m", delete="30m"))),
        )

        # Karpenter finds the security groups to give its nodes by this tag.
        aws.ec2.Tag(f"{name}-cluster-sg-discovery", resource_id=self.cluster.vpc_config.cluster_security_group_id,
                    key="karpenter.sh/discovery", value=cluster_name, opts=child_opts(self))

        access = self._access_entries(name, cfg, partition)

        oidc = None
        if cfg.irsa:
            issuer = self.cluster.identities[0].oidcs[0].issuer
            provider = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"],
                                                     tags=args.tags, opts=child_opts(self))
            oidc = IrsaFacts(provider_arn=provider.arn, issuer=issuer.apply(lambda u: u.removeprefix("https://")))

        self.kubeconfig = pulumi.Output.all(self.cluster.name, self.cluster.endpoint,
                                            self.cluster.certificate_authority.data).apply(
            lambda a: kubeconfig(a[0], a[1], a[2], args.region))
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig,
            # Kubernetes objects may only be sent once the deployer and admins have their access entries.
            opts=child_opts(self, pulumi.ResourceOptions(depends_on=access)))

        self.aws_facts = AwsFacts(
            region=args.region, partition=partition, account_id=account_id, cluster_arn=self.cluster.arn,
            vpc_id=pulumi.Output.from_input(args.vpc_id),
            private_subnet_ids=[pulumi.Output.from_input(s) for s in args.subnet_ids],
            cluster_security_group_id=self.cluster.vpc_config.cluster_security_group_id,
            identity="irsa" if cfg.irsa else "pod-identity", oidc=oidc, tags=dict(args.tags))
        self.register_outputs({
            "name": self.cluster.name,
            "arn": self.cluster.arn,
            "endpoint": self.cluster.endpoint,
            "kubeconfig": self.kubeconfig,
            "kms_key_arn": self.kms_key.arn,
            "log_group": self.log_group.name,
        })

    def handle(self) -> ClusterHandle:
        """The add-on contract, before compute: compute adds the node role and its readiness."""
        facts = self.aws_facts
        return ClusterHandle(physical_name=self._args.cluster_name, name=self.cluster.name,
                             version=self._args.settings.version, endpoint=self.cluster.endpoint,
                             provider=self.provider, aws=facts, az_count=self._args.az_count,
                             shared_tolerations=(list(SYSTEM_TOLERATIONS)
                                                 if self._args.settings.shared_system_nodes else []))

    def _access_entries(self, name: str, cfg: ClusterSettings, partition: str) -> list[pulumi.Resource]:
        """One entry and one policy association per principal, named after the principal so that
        reordering the lists renames nothing.

        Entries used to be named by their position in admins-then-viewers; the alias keeps each
        existing one. Upgrade with the lists unchanged, then reorder freely.
        """
        made: list[pulumi.Resource] = []
        grants = [("admin", ADMIN_POLICY, arn) for arn in cfg.admin_principal_arns]
        grants += [("viewer", VIEW_POLICY, arn) for arn in cfg.viewer_principal_arns]
        for position, (kind, policy, arn) in enumerate(grants):
            logical = f"{name}-{kind}-{principal_slug(arn)}"
            was = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-{kind}-{position}")])
            moved = access_entry_aliases(self._args.stack, kind, arn) if self._args.stack else []
            entry = aws.eks.AccessEntry(logical, cluster_name=self.cluster.name, principal_arn=arn,
                                        type="STANDARD", tags=self._args.tags,
                                        # one entry per principal: replaced delete-first (a type change)
                                        opts=child_opts(self, pulumi.ResourceOptions(
                                            aliases=[*was.aliases, *moved], delete_before_replace=True)))
            assoc = aws.eks.AccessPolicyAssociation(
                logical, cluster_name=self.cluster.name, principal_arn=entry.principal_arn,
                policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{policy}",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                # keyed by (cluster, principal, policy) in EKS: replace delete-first (components/tenancy/teams.py)
                opts=child_opts(self, pulumi.ResourceOptions.merge(
                    was, pulumi.ResourceOptions(delete_before_replace=True))))
            made += [entry, assoc]
        return made
