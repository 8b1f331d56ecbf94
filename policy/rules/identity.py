"""Identity and keys, across every area: KMS key rotation, no wildcard or admin IAM, one service account per
pod role."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policy.rules.base import (
    BP,
    IAM_ATTACHMENT,
    IAM_POLICY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    KMS_KEY,
    MANDATORY,
    POD_IDENTITY,
    Resource,
    Rule,
    as_list,
    as_map,
    document,
    get_in,
    of_type,
    statements,
    strings,
)


def check_kms_rotation(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    # asymmetric and HMAC keys cannot rotate; the platform only makes symmetric ones
    if type_ == KMS_KEY and inputs.get("customerMasterKeySpec", inputs.get("keySpec", "SYMMETRIC_DEFAULT")) \
            == "SYMMETRIC_DEFAULT" and inputs.get("enableKeyRotation") is not True:
        yield "automatic key rotation is off"


def _wildcard_statements(doc: Mapping[str, Any]) -> list[str]:
    found = []
    for s in statements(doc):
        if s.get("Effect") != "Allow" or s.get("Condition") or "*" not in strings(s.get("Resource")):
            continue
        actions = [a for a in strings(s.get("Action")) if a == "*" or a.endswith(":*")]
        if actions:
            found.append(f"{s.get('Sid') or 'a statement'} allows {actions} on * without a condition")
        elif "NotAction" in s:
            # Allow + NotAction on * grants everything but the listed actions
            found.append(f"{s.get('Sid') or 'a statement'} allows everything but {strings(s.get('NotAction'))} on *")
    return found


def check_iam_wildcards(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    docs: list[Any] = []
    if type_ in (IAM_POLICY, IAM_ROLE_POLICY):
        docs.append(inputs.get("policy"))
    if type_ == IAM_ROLE:
        docs += [get_in(p, "policy") for p in as_list(inputs.get("inlinePolicies"))]
    for doc in docs:
        yield from _wildcard_statements(document(doc))


ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess",
                  "arn:aws:iam::aws:policy/IAMFullAccess")


def check_no_admin_attachment(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == IAM_ATTACHMENT and inputs.get("policyArn") in ADMIN_POLICIES:
        yield f"{inputs.get('policyArn')} is attached to a role"
    if type_ == IAM_ROLE:
        for arn in strings(inputs.get("managedPolicyArns")):
            if arn in ADMIN_POLICIES:
                yield f"{arn} is attached to the role"


def _trusts_service(doc: Mapping[str, Any], service: str) -> bool:
    return any(s.get("Effect") == "Allow" and service in strings(as_map(s.get("Principal")).get("Service"))
               for s in statements(doc))


def _web_identity_trusts(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """IRSA statements: an OIDC provider (Federated) may assume the role with a web identity token."""
    return [s for s in statements(doc) if s.get("Effect") == "Allow" and as_map(s.get("Principal")).get("Federated")
            and "sts:AssumeRoleWithWebIdentity" in strings(s.get("Action"))]


def check_pod_role_trust(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    associations = of_type(resources, POD_IDENTITY)
    for role in of_type(resources, IAM_ROLE):
        doc = document(role.inputs.get("assumeRolePolicy"))
        if _trusts_service(doc, "pods.eks.amazonaws.com"):
            # Pod Identity: the association names the one namespace/service account the role serves
            bound = {(get_in(a.inputs, "namespace"), get_in(a.inputs, "serviceAccount"))
                     for a in associations if role.urn in a.dependencies}
            if len(bound) != 1:
                yield role, (f"Pod Identity role {role.name} is associated with {len(bound)} service accounts "
                             f"{sorted(map(str, bound))}")
        for s in _web_identity_trusts(doc):
            # IRSA: the trust must pin the token's subject to one service account
            subjects = [v for op, cond in as_map(s.get("Condition")).items() for k, v in as_map(cond).items()
                        if op == "StringEquals" and k.endswith(":sub")]
            values = [x for v in subjects for x in strings(v)]
            if len(values) != 1 or not values[0].startswith("system:serviceaccount:") or "*" in values[0]:
                yield role, f"IRSA role {role.name} trusts {values or 'any subject'} instead of one service account"


RULES: tuple[Rule, ...] = (
    Rule("kms-key-rotation", "Every symmetric KMS key rotates yearly.", "checkov CKV_AWS_7; CIS AWS Foundations 3.6",
         "set enable_key_rotation=True on the key", MANDATORY, resource_check=check_kms_rotation),
    Rule("iam-no-wildcard-admin", "No IAM policy allows * (or service:*) actions on * without a condition.",
         f"{BP}, IAM: least privilege for IRSA / Pod Identity roles; CIS EKS 5.2.1",
         "list the actions and resources the controller needs (see its upstream IAM policy)", MANDATORY,
         resource_check=check_iam_wildcards),
    Rule("iam-no-admin-managed-policy", "No role gets AdministratorAccess, PowerUserAccess or IAMFullAccess.",
         f"{BP}, IAM: least privilege; CIS EKS 5.2", "attach a scoped policy instead", MANDATORY,
         resource_check=check_no_admin_attachment),
    Rule("pod-role-one-service-account", "Each Pod Identity / IRSA role serves exactly one service account.",
         f"{BP}, IAM: scope the IAM role trust policy to the service account; Pulumi "
         "eks-service-accounts-iam-role-binding (CIS EKS 5.2)",
         "give each controller its own role: one PodIdentityAssociation, or an IRSA trust with StringEquals on "
         "<issuer>:sub = system:serviceaccount:<namespace>:<name>", MANDATORY, stack_check=check_pod_role_trust),
)
