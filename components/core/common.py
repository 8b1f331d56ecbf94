"""Helpers every component shares: child options, tags, IAM documents, workload identity.

Nothing here runs at import time; ``workload_identity`` creates resources only when a component
calls it, parented to that component.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from settings.base import PROJECT

IdentityMode = Literal["pod-identity", "irsa"]


class PlatformComponent(pulumi.ComponentResource):
    """Base of every platform component: its ``depends_on`` reaches its children.

    The engine orders a component's children only by their own dependencies, so without this a
    component created with ``depends_on=[node_groups]`` would still start its children at once.
    """

    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, name, None, opts)
        depends_on = opts.depends_on if opts is not None else None
        if depends_on is not None and not isinstance(depends_on, list | tuple):
            depends_on = [depends_on]
        self._inherited_depends_on: list[pulumi.Resource] = list(depends_on or [])


def child_opts(parent: pulumi.Resource, extra: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to the component whatever ``extra`` says, and
    waiting for whatever the component waits for."""
    inherited = getattr(parent, "_inherited_depends_on", None) or None
    return pulumi.ResourceOptions.merge(extra or pulumi.ResourceOptions(),
                                        pulumi.ResourceOptions(parent=parent, depends_on=inherited))


RETAIN = pulumi.ResourceOptions(retain_on_delete=True)
"""Options of a resource a destroy leaves in the account (components/core/deletion.py says which)."""


def platform_tags(stack: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tags on every AWS resource: project, stack, managed-by, then the stack's own tags."""
    return {"Project": PROJECT, "Stack": stack, "ManagedBy": "pulumi", **dict(extra or {})}


def partition_of(region: str) -> str:
    """The AWS partition of a region (ARNs differ in China and GovCloud)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def statement(sid: str, actions: Sequence[str], resources: Any = "*", effect: str = "Allow",
              condition: Mapping[str, Any] | None = None, principal: Mapping[str, Any] | None = None) -> dict:
    stmt: dict[str, Any] = {"Sid": sid, "Effect": effect}
    if principal is not None:
        stmt["Principal"] = principal
    stmt["Action"] = list(actions) if len(actions) > 1 else actions[0]
    stmt["Resource"] = resources
    if condition is not None:
        stmt["Condition"] = condition if isinstance(condition, pulumi.Output) else dict(condition)
    return stmt


def policy_document(*statements: dict) -> pulumi.Output[str]:
    """A policy document as JSON; statements may hold Outputs (ARNs, names)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust(*services: str, actions: Sequence[str] = ("sts:AssumeRole",),
                  condition: Mapping[str, Any] | None = None) -> pulumi.Output[str]:
    """A role trust policy for AWS service principals."""
    principal = {"Service": services[0] if len(services) == 1 else list(services)}
    return trust_document(statement("Trust", actions, principal=principal, condition=condition))


def trust_document(*statements: dict) -> pulumi.Output[str]:
    """A trust policy: like ``policy_document`` but without Resource elements, which trust policies refuse."""
    return pulumi.Output.json_dumps(
        {"Version": "2012-10-17", "Statement": [{k: v for k, v in s.items() if k != "Resource"} for s in statements]}
    )


def log_group_key_policy(account_id: pulumi.Input[str], partition: str, region: str,
                         log_group_name: str) -> pulumi.Output[str]:
    """Key policy of a KMS key for one CloudWatch log group: the account administers the key (IAM
    policies decide who may use it), and CloudWatch Logs may use it only for that group (CloudWatch
    Logs user guide, encrypt-log-data-kms: the kms:EncryptionContext:aws:logs:arn condition)."""
    root = pulumi.Output.concat("arn:", partition, ":iam::", account_id, ":root")
    group_arn = pulumi.Output.concat("arn:", partition, ":logs:", region, ":", account_id, ":log-group:",
                                     log_group_name)
    return policy_document(
        statement("AccountAdministers", ["kms:*"], "*", principal={"AWS": root}),
        statement("CloudWatchLogsForThisLogGroupOnly",
                  ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                  "*", principal={"Service": f"logs.{region}.amazonaws.com"},
                  condition={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}}),
    )


def account_key_policy(account_id: pulumi.Input[str], partition: str) -> pulumi.Output[str]:
    """Key policy of a KMS key that AWS services use on the caller's behalf (EFS, AWS Backup): the
    account administers it and IAM policies decide who may use it, which is what the services' grants
    need (KMS developer guide, key-policy-default: "allows access to the AWS account")."""
    root = pulumi.Output.concat("arn:", partition, ":iam::", account_id, ":root")
    return policy_document(statement("AccountAdministers", ["kms:*"], "*", principal={"AWS": root}))


def pod_identity_trust() -> pulumi.Output[str]:
    # EKS Pod Identity: principal pods.eks.amazonaws.com with AssumeRole and TagSession
    # (EKS user guide, pod-id-role: the trust policy of a Pod Identity role).
    return trust_document(statement("EksPodIdentity", ["sts:AssumeRole", "sts:TagSession"],
                                    principal={"Service": "pods.eks.amazonaws.com"}))


@dataclass(frozen=True, kw_only=True)
class IrsaFacts:
    """The cluster's IAM OIDC provider, for IRSA trust policies."""

    provider_arn: pulumi.Output[str]
    issuer: pulumi.Output[str]  # without the https:// prefix


def irsa_trust(oidc: IrsaFacts, namespace: str, service_account: str) -> pulumi.Output[str]:
    sub = f"system:serviceaccount:{namespace}:{service_account}"
    condition = pulumi.Output.all(oidc.issuer).apply(
        lambda a: {"StringEquals": {f"{a[0]}:sub": sub, f"{a[0]}:aud": "sts.amazonaws.com"}}
    )
    return trust_document(statement("Irsa", ["sts:AssumeRoleWithWebIdentity"],
                                    principal={"Federated": oidc.provider_arn}, condition=condition))


# EKS Pod Identity associations are eventually consistent: "may take several seconds to be effective
# after the API call returns" (AWS CLI reference, eks create-pod-identity-association). The EKS Pod
# Identity webhook injects the credentials when a pod is admitted, so a pod admitted before the
# association propagates never gets them, and restarting its containers does not help
# (aws/containers-roadmap#2507, terraform-aws-modules/terraform-aws-eks-pod-identity#8; 5-10 s seen in
# aws/eks-pod-identity-agent#52). No API reports propagation (containers-roadmap#2507 asks for one), so
# the pods wait a fixed time after the association, on the deploying machine (pulumi-command).
POD_IDENTITY_PROPAGATION_SECONDS = 30


@dataclass(frozen=True)
class WorkloadIdentity:
    role: aws.iam.Role
    attachments: list[aws.iam.RolePolicyAttachment]
    association: aws.eks.PodIdentityAssociation | None
    propagation: command.local.Command | None = None
    """The wait after the association (Pod Identity only), re-run whenever the association is replaced."""

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What a pod using this identity waits for: its permissions, and its association once it has
        propagated. Waiting for them also keeps them until the pod's workload is gone on destroy."""
        return [*self.attachments, *([self.association] if self.association is not None else []),
                *([self.propagation] if self.propagation is not None else [])]

    @property
    def service_account_annotations(self) -> dict[str, pulumi.Output[str]]:
        """Annotations the chart's ServiceAccount needs (only IRSA needs any)."""
        if self.association is not None:
            return {}
        return {"eks.amazonaws.com/role-arn": self.role.arn}


def workload_identity(name: str, parent: pulumi.Resource, *, cluster_name: pulumi.Input[str],
                      namespace: str, service_account: str, mode: IdentityMode,
                      oidc: IrsaFacts | None, policy_arns: Mapping[str, pulumi.Input[str]],
                      tags: Mapping[str, str], opts: pulumi.ResourceOptions | None = None) -> WorkloadIdentity:
    """An IAM role for one Kubernetes service account: Pod Identity (default) or IRSA.

    ``policy_arns`` maps a short logical key to a policy ARN to attach (``f"{name}-{key}"``). The
    association waits for the attachments: a role is usable only with its policies.
    """
    if mode == "irsa" and oidc is None:
        raise ValueError(f"{name}: IRSA needs the cluster's OIDC provider (cluster.irsa: true)")
    trust = pod_identity_trust() if mode == "pod-identity" else irsa_trust(oidc, namespace, service_account)  # type: ignore[arg-type]
    role = aws.iam.Role(f"{name}-role", assume_role_policy=trust, tags=dict(tags), opts=child_opts(parent, opts))
    attachments = [
        aws.iam.RolePolicyAttachment(f"{name}-{key}", role=role.name, policy_arn=arn, opts=child_opts(parent, opts))
        for key, arn in policy_arns.items()
    ]
    association = None
    if mode == "pod-identity":
        association = aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity", cluster_name=cluster_name, namespace=namespace,
            service_account=service_account, role_arn=role.arn, tags=dict(tags),
            opts=child_opts(parent, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=attachments))))
        propagation = command.local.Command(
            f"{name}-pod-identity-propagation", create=f"sleep {POD_IDENTITY_PROPAGATION_SECONDS}",
            triggers=[association.id],
            opts=child_opts(parent, pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[association]))))
        return WorkloadIdentity(role=role, attachments=attachments, association=association, propagation=propagation)
    return WorkloadIdentity(role=role, attachments=attachments, association=association)


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
