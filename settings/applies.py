"""When a config key has an effect: a key set where it has none is refused, never silently ignored.

A key can be valid and still mean nothing in the configuration it sits in: a setting inside a section that
says ``enabled: false``, the option of a choice not made (``slackChannel`` with receiver ``none``), an
AWS-only key on kind. ``RULES`` lists each case once; ``parse_settings`` refuses a rule's key when the
stack sets it while the rule says it does not apply (naming the key, why, and what would make it apply),
and ``tools/config_reference.py`` writes each rule's condition into the "applies when" column of
docs/configuration.md. The add-on sections of ``settings/gates.py`` (``karpenter`` only with
``autoscaling: karpenter``, AWS-only sections on kind) are refused there, and their conditions join the
same column through ``applies_when``.

One case is a plan warning instead (``warnings``): it has an effect, only not the one its name says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from settings import gates

if TYPE_CHECKING:
    from settings import Settings


@dataclass(frozen=True)
class Rule:
    key: str
    """The dotted config key; with ``section``, every key inside it but its ``enabled`` switch."""
    when: str
    """When it applies, as the docs and the error say it."""
    applies: Callable[[Settings], bool]
    fix: str
    """What to do when it does not apply."""
    section: bool = False


# Keys of the EKS cluster itself (refused on kind, as are the sections of AWS-only add-ons); kind's own section
# is refused on aws.
AWS_CLUSTER_KEYS = ("network", "cluster", "nodeGroups", "fargateProfiles", "autoscaling")
KIND_KEYS = ("kind",)
# keys whose effect depends on another key, where setting them is no mistake (the plan warns: ``warnings``)
PARTLY = {"karpenter.controllerResources.requests": "karpenter.runOn is system-nodes (with fargate the limits are "
                                                   "requested instead; make plan warns)"}


def _switch(section: str, what: str) -> Rule:
    return Rule(section, f"{section}.enabled is true", lambda s: gates.config_value(s, f"{section}.enabled"),
                f"remove it, or set {section}.enabled: true to {what}", section=True)


RULES: tuple[Rule, ...] = (
    _switch("storage.efs", "create the file system"),
    _switch("storage.backup", "back up the volumes"),
    _switch("argocd", "install Argo CD"),
    _switch("kyverno", "install Kyverno and its policies"),
    _switch("observability.metrics", "install Prometheus and Grafana"),
    _switch("traffic.istio", "install the mesh"),
    _switch("traffic.loadBalancerController", "install the controller"),
    Rule("observability.alerts.slackChannel", "observability.alerts.receiver is slack",
         lambda s: s.observability.alerts.receiver == "slack", "remove it, or set receiver: slack"),
    Rule("observability.logs.retentionDays", "observability.logs.backend is cloudwatch or loki",
         lambda s: s.logs_backend != "none", "remove it: with backend none no logs are kept"),
    Rule("network.natInstanceType", "network.natStrategy is instance (and no network.existing)",
         lambda s: s.network.existing is None and s.network.nat_strategy == "instance",
         "remove it, or set natStrategy: instance"),
    Rule("network.flowLogs", "the platform creates the VPC (no network.existing)",
         lambda s: s.network.existing is None,
         "remove it: flow logs of a VPC of your own are yours to configure"),
    Rule("cluster.sharedSystemNodes", "traffic.istio.enabled or observability.metrics.enabled is true",
         lambda s: s.traffic.istio.enabled or s.observability.metrics.enabled,
         "remove it: without the mesh's gateway and Grafana no platform pod needs it"),
    Rule("tags", "target is aws", lambda s: s.is_aws, "remove it: kind has no AWS resources to tag"),
    Rule("traffic.istio.gatewayScheme", "target is aws and traffic.istio.gatewayService is load-balancer",
         lambda s: s.is_aws and s.traffic.istio.gateway_service == "load-balancer",
         "remove it, or set gatewayService: load-balancer (on kind the gateway is a NodePort reached through "
         "kind's port mappings)"),
    Rule("traffic.istio.gatewayService", "target is aws",
         lambda s: s.is_aws, "remove it: on kind the gateway is a NodePort reached through kind's port mappings"),
)


def errors(settings: Settings, raw: Mapping[str, Any], project: str) -> list[str]:
    """One line per key the stack sets where it has no effect."""
    out = []
    for rule in RULES:
        for key in _given(rule, raw):
            if not rule.applies(settings):
                out.append(f"{project}:{key}: has no effect: it applies when {rule.when}; {rule.fix}")
    return out


def _given(rule: Rule, raw: Mapping[str, Any]) -> list[str]:
    if not gates.config_given(raw, rule.key):
        return []
    if not rule.section:
        return [rule.key]
    value: Any = raw
    for part in rule.key.split("."):
        value = value[part]
    return [f"{rule.key}.{k}" for k in value if k != "enabled"] if isinstance(value, dict) else []


def warnings(settings: Settings) -> list[str]:
    """Keys that have an effect, but not the one their name says (the offline plan prints them)."""
    out = []
    k = settings.karpenter
    if settings.is_aws and settings.autoscaling == "karpenter" and k.run_on == "fargate" \
            and k.controller_resources.requests != k.controller_resources.limits:
        # Fargate sizes the pod's VM from its requests and gives it no more (components/autoscaling/karpenter.py)
        out.append("karpenter.controllerResources.requests is not what the controller gets with runOn fargate: "
                   "Fargate sizes a pod from its requests and never gives it more, so the platform requests the "
                   "limits; size the controller with karpenter.controllerResources.limits")
    return out


def applies_when(key: str) -> str:
    """The condition under which the dotted ``key`` (list items as ``[]``) has an effect; "" for always."""
    found = []
    bare = key.replace("[]", "")
    top = bare.split(".", 1)[0]
    if top in AWS_CLUSTER_KEYS or top == "aws:region":
        found.append("target is aws")
    if top in KIND_KEYS:
        found.append("target is kind")
    for gate in gates.GATES:
        for section in gate.config_keys:
            if bare == section or bare.startswith(f"{section}."):
                if gate.enabled_by and not gate.enabled_by[0].startswith(f"{section}."):
                    found.append(f"{gate.enabled_by[0]} is {gate.enabled_by[1]}")
                if gate.aws_only:
                    found.append("target is aws")
    for rule in RULES:
        if rule.section:
            hit = bare.startswith(f"{rule.key}.") and bare != f"{rule.key}.enabled"
        else:
            hit = bare == rule.key or bare.startswith(f"{rule.key}.")
        if hit:
            found.append(rule.when)
    found += [note for partly, note in PARTLY.items() if bare == partly or bare.startswith(f"{partly}.")]
    return "; ".join(dict.fromkeys(found))
