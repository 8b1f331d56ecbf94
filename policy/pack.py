"""The CrossGuard side of the rules: each Rule of policy/rules/ (one module per area) as a pulumi_policy policy.

``build_policies(context)`` wraps resource rules in ``ResourceValidationPolicy`` and stack rules in
``StackValidationPolicy`` with the stack's enforcement level per tier; a rule the stack excepts
(eks-platform:policy.exceptions) stays on as advisory and carries the written reason. Only
policy/__main__.py hands the result to ``PolicyPack`` (whose constructor starts the gRPC server).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.rules import RULES, Resource, Rule, message
from settings.policy import PolicyContext

PACK_NAME = "eks-platform"
LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
# With no stack (pulumi policy publish asks only for the rule list), the strictest tier's levels.
DEFAULT_TIER = "prod"


def enforcement(rule: Rule, context: PolicyContext | None) -> EnforcementLevel:
    if context is not None and rule.name in context.exceptions:
        return EnforcementLevel.ADVISORY
    return LEVELS[rule.level(context.tier if context else DEFAULT_TIER)]


def _resource_validation(rule: Rule, exception: str | None) -> Callable[[ResourceValidationArgs, ReportViolation],
                                                                        None]:
    check = rule.resource_check
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for detail in check(args.resource_type, args.props):
            report_violation(message(rule, detail, exception), None)

    return validate


def _stack_validation(rule: Rule, exception: str | None) -> Callable[[StackValidationArgs, ReportViolation], None]:
    check = rule.stack_check
    assert check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [Resource(r.resource_type, r.name, r.urn, r.props, tuple(d.urn for d in r.dependencies))
                     for r in args.resources]
        for res, detail in check(resources):
            report_violation(message(rule, detail, exception), res.urn if res else None)

    return validate


def build_policies(context: PolicyContext | None) -> list[Policy]:
    """One policy per rule, at the enforcement level of the context's tier (prod's with no context)."""
    out: list[Policy] = []
    for rule in RULES:
        exception = context.exceptions.get(rule.name) if context else None
        kwargs: dict[str, Any] = {"name": rule.name, "description": f"{rule.description} [{rule.source}]",
                                  "enforcement_level": enforcement(rule, context)}
        if rule.resource_check is not None:
            out.append(ResourceValidationPolicy(validate=_resource_validation(rule, exception), **kwargs))
        else:
            out.append(StackValidationPolicy(validate=_stack_validation(rule, exception), **kwargs))
    return out
