"""The platform's policy rules: plain functions over a resource's type and inputs, or over the stack.

Each rule comes from the EKS Best Practices Guide, the EKS User Guide or the CIS Amazon EKS
Benchmark (through the checkov / Pulumi pre-built pack IDs that implement it); ``source`` cites it.
A rule is mandatory or advisory per tier and says how to fix a violation. The same functions run
in the CrossGuard pack (``policy/__main__.py`` wraps them in ``ResourceValidationPolicy`` /
``StackValidationPolicy``) and in the unit tests and ``make plan`` over the harness's recorded
resources. Inputs are the engine's camelCase inputs; in a real preview they arrive wrapped in
pulumi_policy's unknown-checking proxy (``Mapping`` / ``Sequence``, not dict / list), so the helpers
below only rely on those interfaces.

One module per area (``cluster``, ``network``, ``identity``, ``observability``, ``storage``,
``workloads``, ``autoscaling``, ``tenancy``), each with its checks and its ``RULES``; ``base`` holds what
they share. This package assembles the table, evaluates it and writes it into policy/README.md.

Nothing here reads configuration: the tier and the stack's exceptions come from settings/policy.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policy.rules import autoscaling, cluster, identity, network, observability, storage, tenancy, workloads
from policy.rules.base import (
    ADDON,
    ADVISORY,
    CLUSTER,
    DEFAULT_SG,
    FLOW_LOG,
    HELM_CHART,
    HELM_RELEASE,
    IAM_ATTACHMENT,
    IAM_POLICY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    KMS_KEY,
    LAUNCH_TEMPLATE,
    LOG_GROUP,
    MANDATORY,
    NAMESPACE,
    NAT,
    NODE_CLASS,
    NODE_GROUP,
    NODE_POOL,
    POD_IDENTITY,
    PROD_ONLY,
    STORAGE_CLASS,
    SUBNET,
    TIERS,
    VPC,
    Finding,
    Level,
    Resource,
    Rule,
    get_in,
)
from policy.rules.cluster import ALL_LOG_TYPES, AUDIT_LOG_TYPES, check_endpoint_private
from policy.rules.tenancy import PSS_LABEL
from policy.rules.workloads import CONTROLLERS

__all__ = [
    "ADDON", "ADVISORY", "ALL_LOG_TYPES", "AUDIT_LOG_TYPES", "BY_NAME", "CLUSTER", "CONTROLLERS", "DEFAULT_SG",
    "FLOW_LOG", "HELM_CHART", "HELM_RELEASE", "IAM_ATTACHMENT", "IAM_POLICY", "IAM_ROLE", "IAM_ROLE_POLICY", "KMS_KEY",
    "LAUNCH_TEMPLATE", "LOG_GROUP", "MANDATORY", "NAMESPACE", "NAT", "NODE_CLASS", "NODE_GROUP", "NODE_POOL",
    "POD_IDENTITY", "PROD_ONLY", "PSS_LABEL", "RULES", "RULE_NAMES", "STORAGE_CLASS", "SUBNET", "TIERS", "VPC",
    "Finding", "Level", "Resource", "Rule", "check_endpoint_private", "evaluate", "get_in", "message", "recorded",
    "rules_table",
]

AREAS = (cluster, network, identity, observability, storage, workloads, autoscaling, tenancy)
"""The rule modules, in the order of the table (policy/README.md)."""
RULES: tuple[Rule, ...] = tuple(rule for area in AREAS for rule in area.RULES)
RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}


def message(rule: Rule, detail: str, exception: str | None = None) -> str:
    text = f"{detail}. Fix: {rule.fix}. [{rule.source}]"
    return f"{text} Stack exception: {exception}" if exception else text


def resource_findings(rule: Rule, res: Resource, tier: str, exception: str | None = None) -> list[Finding]:
    if rule.resource_check is None:
        return []
    return [Finding(rule.name, "advisory" if exception else rule.level(tier), message(rule, d, exception), d,
                    res.urn, res.name, exception) for d in rule.resource_check(res.type, res.inputs)]


def stack_findings(rule: Rule, resources: Sequence[Resource], tier: str,
                   exception: str | None = None) -> list[Finding]:
    if rule.stack_check is None:
        return []
    return [Finding(rule.name, "advisory" if exception else rule.level(tier), message(rule, d, exception), d,
                    r.urn if r else None, r.name if r else None, exception)
            for r, d in rule.stack_check(resources)]


def evaluate(resources: Sequence[Resource], tier: str, exceptions: Mapping[str, str] | None = None,
             rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every violation of ``rules`` in the stack; a rule the stack excepts reports advisory with its reason."""
    exceptions = exceptions or {}
    out: list[Finding] = []
    for rule in rules:
        reason = exceptions.get(rule.name)
        for res in resources:
            out += resource_findings(rule, res, tier, reason)
        out += stack_findings(rule, resources, tier, reason)
    return out


def recorded(records: Iterable[Any], proxy: bool = False) -> list[Resource]:
    """The harness's recorded custom resources (``harness.Recorded``) as rules see them; ``proxy``
    wraps inputs in pulumi_policy's unknown-checking proxy, as the real analyzer does."""
    if proxy:
        from pulumi_policy.proxy import unknown_checking_proxy
    return [Resource(r.type, r.name, r.urn, unknown_checking_proxy(dict(r.inputs)) if proxy else r.inputs,
                     tuple(r.dependencies)) for r in records if r.custom]


def rules_table() -> str:
    """The rule list as a Markdown table (policy/README.md holds it; a test keeps it current)."""
    lines = ["| rule | dev | staging | prod | checks | why advisory where it is | source |",
             "|---|---|---|---|---|---|---|"]
    for r in RULES:
        lines.append(f"| `{r.name}` | {r.levels['dev']} | {r.levels['staging']} | {r.levels['prod']} | "
                     f"{r.description} | {r.reason or '-'} | {r.source} |")
    return "\n".join(lines)


README = "policy/README.md"
TABLE_START, TABLE_END = "<!-- rules:start -->", "<!-- rules:end -->"


def main(argv: Sequence[str] | None = None) -> int:
    """python -m policy.rules [--write]: print the rule table, or write it into policy/README.md."""
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    table = rules_table()
    if "--write" not in args:
        print(table)
        return 0
    path = Path(__file__).resolve().parent.parent / "README.md"
    text = path.read_text()
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}")
    print(f"wrote {len(RULES)} rules into {README}")
    return 0

