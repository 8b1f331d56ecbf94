"""Policy pack settings: the stack's exceptions to policy rules, each with a written reason.

    eks-platform:policy:
      exceptions:
        - rule: nat-per-az
          reason: staging accepts losing egress when its NAT's AZ fails (saves two NAT gateways)

An excepted rule still runs and reports, as advisory, with the reason. ``load_policy_context`` is
how the CrossGuard pack (policy/__main__.py) learns the stack's tier and exceptions during a real
``pulumi preview --policy-pack policy``: the CLI starts the pack with the stack's config in
PULUMI_CONFIG and its name in PULUMI_STACK (pulumi/pulumi sdk/go/common/resource/plugin/
analyzer_plugin.go, constructEnv), and pulumi.policy's entry point loads them into the runtime before
it runs the pack, so the pack validates the very config the program ran with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field, field_validator

from settings.base import Model


class PolicyException(Model):
    """One rule of the policy pack this stack is excepted from."""

    rule: str
    """The rule's name (policy/README.md lists them)."""
    reason: str
    """Why this stack may break the rule: required, shown with every finding of the rule."""

    @field_validator("rule")
    @classmethod
    def _known(cls, v: str) -> str:
        # Deferred import: the policy rules import versions, not settings, but keep settings importable alone.
        from policy.rules import RULE_NAMES

        if v not in RULE_NAMES:
            raise ValueError(f"unknown rule {v!r}; valid rules: {', '.join(RULE_NAMES)}")
        return v

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("an exception needs a written reason: why this stack may break the rule")
        return v.strip()


class PolicySettings(Model):
    """The policy pack's per-stack exceptions."""

    exceptions: list[PolicyException] = Field(default_factory=list)
    """Rules this stack is excepted from, each {rule, reason}; an excepted rule reports as advisory."""

    @field_validator("exceptions")
    @classmethod
    def _unique(cls, v: list[PolicyException]) -> list[PolicyException]:
        rules = [e.rule for e in v]
        dupes = sorted({r for r in rules if rules.count(r) > 1})
        if dupes:
            raise ValueError(f"rules {dupes} are excepted more than once; keep one entry each")
        return v

    @property
    def by_rule(self) -> dict[str, str]:
        return {e.rule: e.reason for e in self.exceptions}


@dataclass(frozen=True)
class PolicyContext:
    """What the pack needs to know about the stack it checks."""

    stack: str
    tier: str
    exceptions: dict[str, str] = field(default_factory=dict)


def load_policy_context() -> PolicyContext | None:
    """The tier and exceptions of the stack the CLI runs the pack for, validated like the program's
    settings; None when no stack is given (``pulumi policy publish`` only asks for the rule list)."""
    import os

    stack = os.environ.get("PULUMI_STACK")
    if not stack:
        return None
    from settings import _raw_config, parse_settings

    raw = _raw_config()
    # The CLI hands the pack decrypted config without saying which keys are secret; the program has
    # already checked secret-ness in this same preview (it runs before any resource reaches the pack).
    settings = parse_settings(raw, stack, frozenset(raw))
    return PolicyContext(stack, settings.tier, settings.policy.by_rule)
