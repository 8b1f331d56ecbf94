"""When each cluster add-on is on, and which config sections configure only it: the add-ons' gates.

The gates are configuration facts, so they live here, below the components: each add-on class of
``components/`` points at its gate (``gate = gates.KARPENTER``), and ``parse_settings`` refuses what the
gates forbid (a section of a disabled add-on, an AWS-only section on kind, two conflicting add-ons)
without importing a component. ``tests/core/test_registry.py`` checks that every registered add-on has
exactly one gate of this table and that every gate belongs to one add-on.

- ``name``: the add-on's class name without ``AddOn``, as errors name it.
- ``aws_only``: refused on kind (its ``config_keys`` are refused there too, naming the key).
- ``config_keys``: top-level (dotted) config sections that configure only this add-on; setting one while
  the add-on is off says how to turn it on (``enabled_by``: a config key and the value that enables it).
- ``conflicts``: names of gates that must never be on together with this one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_snake

if TYPE_CHECKING:
    from settings import Settings


def config_value(settings: Settings, key: str) -> Any:
    """The validated value of a config key, nested keys dotted (``autoscaling``,
    ``traffic.loadBalancerController.enabled``)."""
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, to_snake(part))
    return value


def config_given(raw: Any, key: str) -> bool:
    """Whether the stack's raw config sets ``key`` (nested keys dotted)."""
    for part in key.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return False
        raw = raw[part]
    return True


@dataclass(frozen=True)
class Gate:
    name: str
    aws_only: bool = False
    config_keys: tuple[str, ...] = ()
    enabled_by: tuple[str, Any] | None = None
    """The config key and value that enable it, as a user sets them: ("autoscaling", "karpenter")."""
    conflicts: tuple[str, ...] = ()

    def on(self, settings: Settings) -> bool:
        """On its targets (EKS only when ``aws_only``) and, with ``enabled_by``, when that key has that value."""
        if self.aws_only and not settings.is_aws:
            return False
        return self.enabled_by is None or config_value(settings, self.enabled_by[0]) == self.enabled_by[1]


METRICS_ON = ("observability.metrics.enabled", True)

MONITORING_CRDS = Gate("MonitoringCrds", enabled_by=METRICS_ON)
CORE_DNS = Gate("CoreDns", aws_only=True)
EBS_CSI = Gate("EbsCsi", aws_only=True)
EBS_BACKUP = Gate("EbsBackup", aws_only=True, config_keys=("storage.backup",),
                  enabled_by=("storage.backup.enabled", True))
EFS_CSI = Gate("EfsCsi", aws_only=True, config_keys=("storage.efs",), enabled_by=("storage.efs.enabled", True))
KARPENTER = Gate("Karpenter", aws_only=True, config_keys=("karpenter",), enabled_by=("autoscaling", "karpenter"),
                 conflicts=("ClusterAutoscaler",))
CLUSTER_AUTOSCALER = Gate("ClusterAutoscaler", aws_only=True, config_keys=("clusterAutoscaler",),
                          enabled_by=("autoscaling", "cluster-autoscaler"))
METRICS_SERVER = Gate("MetricsServer", config_keys=("metricsServer",))
LOAD_BALANCER_CONTROLLER = Gate("LoadBalancerController", aws_only=True,
                                config_keys=("traffic.loadBalancerController",),
                                enabled_by=("traffic.loadBalancerController.enabled", True))
ISTIO = Gate("Istio", config_keys=("traffic.istio",), enabled_by=("traffic.istio.enabled", True))
MONITORING = Gate("Monitoring", config_keys=("observability.metrics",), enabled_by=METRICS_ON)
# on with a logs backend (the add-on's own enabled())
LOGGING = Gate("Logging")
ARGOCD = Gate("ArgoCd", config_keys=("argocd",), enabled_by=("argocd.enabled", True))
GITOPS_BOOTSTRAP = Gate("GitOpsBootstrap", enabled_by=("argocd.enabled", True))
# on when something is routed through the gateway (the add-on's own enabled())
ROUTES = Gate("Routes")
KYVERNO = Gate("Kyverno", config_keys=("kyverno",), enabled_by=("kyverno.enabled", True))
# on when the stack lists teams (the add-on's own enabled())
TEAMS = Gate("Teams")
# with metrics, when there are webhooks to probe (the add-on's own enabled() narrows it)
WEBHOOK_CERTIFICATES = Gate("WebhookCertificates", enabled_by=METRICS_ON)

GATES: tuple[Gate, ...] = (
    MONITORING_CRDS, CORE_DNS, EBS_CSI, EBS_BACKUP, EFS_CSI, KARPENTER, CLUSTER_AUTOSCALER, METRICS_SERVER,
    LOAD_BALANCER_CONTROLLER, ISTIO, MONITORING, LOGGING, ARGOCD, GITOPS_BOOTSTRAP, ROUTES, KYVERNO, TEAMS,
    WEBHOOK_CERTIFICATES,
)


def aws_only_keys(gates: Sequence[Gate] = GATES) -> tuple[str, ...]:
    return tuple(k for g in gates if g.aws_only for k in g.config_keys)


def config_errors(settings: Settings, raw: Mapping[str, Any], project: str,
                  gates: Sequence[Gate] = GATES) -> list[str]:
    """What the gates refuse in ``settings``; ``raw`` is the stack's config as given."""
    errors: list[str] = []
    on = [g for g in gates if g.on(settings)]
    for gate in gates:
        for key in gate.config_keys:
            if not config_given(raw, key):
                continue
            if gate.aws_only and not settings.is_aws:
                errors.append(f"{project}:{key} only apply to the aws target ({gate.name} "
                              f"is AWS-only), but {project}:target is '{settings.target}'; remove it")
            elif gate not in on and not (gate.enabled_by and gate.enabled_by[0].startswith(f"{key}.")):
                # (a section that holds its own switch may say enabled: false)
                errors.append(f"{project}:{key}: {_only_when(gate, settings, project)}; remove {project}:{key}"
                              + (f" or set {project}:{gate.enabled_by[0]} to '{gate.enabled_by[1]}'"
                                 if gate.enabled_by else ""))
    names = {g.name: g for g in on}
    for gate in on:
        for other in gate.conflicts:
            if other in names:
                errors.append(f"{gate.name} and {other} must not both be enabled "
                              f"({_only_when(gate, settings, project)}; {_only_when(names[other], settings, project)})")
    return errors


def _only_when(gate: Gate, settings: Settings, project: str) -> str:
    if gate.enabled_by is None:
        return "only applies when it is enabled"
    key, value = gate.enabled_by
    current = config_value(settings, key)
    return f"only applies when {project}:{key} is '{value}', but it is '{current}'"
