"""Shared fixtures: settings builders and the one recording harness (harness/)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.core import registry
from harness import Recording, run
from harness.fakes import fake_eks_handle, fake_kind_handle
from harness.upstream import upstream_file
from settings import ConfigError, Settings, parse_settings

# Whole-program dev variants that tests of different files share: their overrides are orthogonal (no add-on
# one of them reaches is in the other's ``after`` closure, so no ordering edge appears or goes) and each test
# asserts only on its own part, exactly as it would alone. One evaluation instead of two.
SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:platform-alerts"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
DEV_SHARED_VARIANTS: dict[str, dict[str, Any]] = {
    # Grafana routed through the gateway (test_routes.py) + a team joining the mesh (test_teams.py)
    "routed-grafana-injected-team": {
        "eks-platform:observability": {"grafana": {"exposure": "istio", "hostname": "grafana.dev.example.com"}},
        "eks-platform:teams": [{"name": "payments", "injection": True}]},
    # Alertmanager to SNS, a secret (test_monitoring.py) + a Fargate profile and listed API networks
    # (test_program.py); run with secrets=("eks-platform:observability",)
    "sns-fargate-api-cidrs": {
        "eks-platform:observability": {"alerts": {"receiver": "sns", "snsTopicArn": SNS_TOPIC}},
        "eks-platform:fargateProfiles": [{"name": "batch", "selectors": [{"namespace": "batch"}]}],
        "eks-platform:cluster": {"apiAccessCidrs": ["10.99.0.0/16", "192.168.4.0/24"]}},
    # Alertmanager to Slack, a secret (test_monitoring.py) + Karpenter on Fargate with IRSA (test_karpenter.py);
    # run with secrets=("eks-platform:observability",)
    "slack-karpenter-on-fargate": {
        "eks-platform:observability": {"alerts": {"receiver": "slack", "slackWebhookUrl": SLACK_URL,
                                                  "slackChannel": "#alerts"}},
        "eks-platform:cluster": {"irsa": True},
        "eks-platform:karpenter": {"runOn": "fargate"}},
    # Grafana through an ALB Ingress (test_routes.py) + the deployer listed as admin with clusterCreatorAdmin
    # off (test_cluster.py); run with existing_clusters=ONE_MINOR_BEHIND (a deployed cluster one minor behind,
    # test_cluster.py too)
    "grafana-alb-deployer-admin": {
        "eks-platform:observability": {"grafana": {"exposure": "alb", "hostname": "grafana.dev.example.com"}},
        "eks-platform:cluster": {"adminPrincipalArns": ["arn:aws:iam::123456789012:user/mock"],
                                 "clusterCreatorAdmin": False}},
}
ONE_MINOR_BEHIND = {"eks-platform-dev": "1.34"}


def every_variant_recording():
    """(name, recording) of every golden variant (each stack and its URN variants, harness/urns.py) and of
    the shared dev variants above: what the guarantees over "every stack and test variant" walk."""
    from harness import run_stack
    from harness.urns import VARIANTS, evaluate

    for variant in VARIANTS:
        yield variant, evaluate(variant)
    for name, overrides in DEV_SHARED_VARIANTS.items():
        secret = ("eks-platform:observability",) if name in ("sns-fargate-api-cidrs", "slack-karpenter-on-fargate") else ()
        existing = ONE_MINOR_BEHIND if name == "grafana-alb-deployer-admin" else None
        yield name, run_stack("dev", overrides=overrides, secrets=secret, existing_clusters=existing)


def make_settings(stack: str = "dev", **raw: Any) -> Settings:
    """Settings as a stack file would give them; keyword names are config keys (camelCase)."""
    raw.setdefault("aws:region", "us-east-1") if stack != "local" else None
    return parse_settings(raw, stack)


def build_addon(addon: Any, stack: str = "dev", secret_keys: frozenset[str] = frozenset(), **raw: Any) -> Recording:
    """One add-on alone, as the registry treats it (components/core/registry.py build_addons): built only when
    ``enabled``, named ``<stack>-<key>``, its exports exported, on a fake cluster of the stack's kind (IRSA
    as the settings say), with the settings ``raw`` (config keys, as ``make_settings``) give. What a stack
    variant builds of that add-on, without evaluating the whole program: for tests that assert on one
    add-on's resources only (ordering across add-ons needs ``run_stack``)."""
    if stack != "local":
        raw.setdefault("aws:region", "us-east-1")
    settings = parse_settings(raw, stack, secret_keys)

    def program() -> None:
        if not addon.enabled(settings):
            return
        cluster = fake_kind_handle() if stack == "local" else fake_eks_handle(irsa=settings.cluster.irsa)
        registry.build_addon(addon, cluster, settings)

    return run(program, stack=stack)


def assert_config_error(stack: str, raw: dict[str, Any], key: str, valid: str | None) -> None:
    """``raw`` is refused with an error that names ``key`` and (if given) says what is valid."""
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, stack)
    message = str(err.value)
    # the key itself, or an element of it (``cluster.adminPrincipalArns[1]``)
    assert any(f"{key}{end}" in message for end in (":", " ", ",", "[")), message
    if valid:
        assert valid in message, message


def policy(doc: Any) -> dict:
    """A recorded policy input (JSON text) as a dict."""
    return json.loads(doc) if isinstance(doc, str) else doc


def upstream(folder: str, name: str):
    """Path of an upstream reference file (harness/upstream.py); missing data fails the test, naming
    the file and `make upstream`: it is never skipped."""
    return upstream_file(folder, name)


__all__ = ["DEV_SHARED_VARIANTS", "ONE_MINOR_BEHIND", "SLACK_URL", "SNS_TOPIC", "assert_config_error", "build_addon", "every_variant_recording", "make_settings", "policy", "run", "upstream"]
