"""A role is usable only with its policies: every resource that uses a role (its ARN or name in the
inputs) waits for every policy attached to it, so create never races the attachment and destroy
never strips a role while something still acts with it (the pulumi-aws eks.Cluster docs say so for
the cluster role; the same holds for nodes, Fargate, Pod Identity and IRSA)."""

from __future__ import annotations

import contextlib
import json

import pytest

from harness.urns import VARIANTS, evaluate

ATTACHMENTS = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/rolePolicy:RolePolicy")
# documents that merely name a role (a PassRole statement, a trust policy) are not its users
NOT_USERS = ("aws:iam/role:Role", "aws:iam/policy:Policy", *ATTACHMENTS)


def strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value
        if value.startswith("{"):
            with contextlib.suppress(ValueError):
                yield from strings(json.loads(value))


def roles_and_users(rec):
    candidates = [(r, set(strings(r.inputs))) for r in rec if r.custom and r.type not in NOT_USERS]
    for role in rec.of_type("aws:iam/role:Role"):
        handles = {role.outputs["arn"], role.outputs["name"], f"{role.name}-id"}
        policies = [a for a in rec if a.type in ATTACHMENTS and a.inputs.get("role") in handles]
        users = [r for r, texts in candidates if role.outputs["arn"] in texts or role.outputs["name"] in texts]
        yield role, policies, users


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_user_of_a_role_waits_for_all_of_its_policies(variant):
    rec = evaluate(variant)
    checked = 0
    for role, policies, users in roles_and_users(rec):
        for user in users:
            for attached in policies:
                assert rec.waits_for(user, attached), f"{variant}: {user.type} {user.name} uses {role.name} " \
                                                       f"but does not wait for {attached.name}"
                checked += 1
    if VARIANTS[variant][0] != "local":  # kind has no IAM
        assert checked >= 5
