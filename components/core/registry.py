"""The one list of cluster add-ons, and the walk that builds them in dependency order.

``__main__.py`` builds the cluster (EKS or kind), then calls ``build_addons``. Settings derive
their gates from the same list (``config_errors``): a section of a disabled add-on, an AWS-only
add-on on kind, two conflicting add-ons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pulumi

from components.autoscaling.cluster_autoscaler import ClusterAutoscalerAddOn
from components.autoscaling.karpenter import KarpenterAddOn
from components.cluster.eks_addons import CoreDnsAddOn
from components.core.addon import AddOn, config_given, config_value
from components.gitops.argocd import ArgoCdAddOn
from components.gitops.bootstrap import GitOpsBootstrapAddOn
from components.observability.logging import LoggingAddOn
from components.observability.metrics_server import MetricsServerAddOn
from components.observability.monitoring import MonitoringAddOn
from components.observability.monitoring_crds import MonitoringCrdsAddOn
from components.observability.webhook_certificates import WebhookCertificatesAddOn
from components.policy.kyverno import KyvernoAddOn
from components.storage.ebs_backup import EbsBackupAddOn
from components.storage.ebs_csi import EbsCsiAddOn
from components.storage.efs_csi import EfsCsiAddOn
from components.tenancy.teams import TeamsAddOn
from components.traffic.istio import IstioAddOn
from components.traffic.lb_controller import LoadBalancerControllerAddOn
from components.traffic.routes import RoutesAddOn

if TYPE_CHECKING:
    from components.core.handle import ClusterHandle
    from settings import Settings

REGISTRY: tuple[type[AddOn], ...] = (
    MonitoringCrdsAddOn,
    CoreDnsAddOn,
    EbsCsiAddOn,
    EbsBackupAddOn,
    EfsCsiAddOn,
    KarpenterAddOn,
    ClusterAutoscalerAddOn,
    MetricsServerAddOn,
    LoadBalancerControllerAddOn,
    IstioAddOn,
    MonitoringAddOn,
    LoggingAddOn,
    ArgoCdAddOn,
    GitOpsBootstrapAddOn,
    RoutesAddOn,
    KyvernoAddOn,
    TeamsAddOn,
    WebhookCertificatesAddOn,
)


def ordered(registry: Sequence[type[AddOn]] = REGISTRY) -> list[type[AddOn]]:
    """The add-ons in an order where each comes after everything in its ``after`` (registry order
    otherwise). Raises ValueError on a cycle or an ``after`` that is not registered."""
    known = set(registry)
    for addon in registry:
        missing = [a.__name__ for a in (*addon.after, *addon.conflicts) if a not in known]
        if missing:
            raise ValueError(f"{addon.__name__} refers to {missing}, which are not in the registry")
    done: list[type[AddOn]] = []
    visiting: list[type[AddOn]] = []

    def visit(addon: type[AddOn]) -> None:
        if addon in done:
            return
        if addon in visiting:
            cycle = [a.__name__ for a in visiting[visiting.index(addon):]] + [addon.__name__]
            raise ValueError(f"add-on dependency cycle: {' -> '.join(cycle)}")
        visiting.append(addon)
        for dep in addon.after:
            visit(dep)
        visiting.pop()
        done.append(addon)

    for addon in registry:
        visit(addon)
    return done


def config_errors(settings: Settings, raw: Mapping[str, Any], project: str,
                  registry: Sequence[type[AddOn]] = REGISTRY) -> list[str]:
    """Problems of ``settings`` the registry can see; ``raw`` is the stack's config as given."""
    errors: list[str] = []
    enabled = [a for a in registry if a.enabled(settings)]
    for addon in registry:
        for key in addon.config_keys:
            if not config_given(raw, key):
                continue
            if addon.aws_only and not settings.is_aws:
                errors.append(f"{project}:{key} only apply to the aws target ({addon.__name__.removesuffix('AddOn')} "
                              f"is AWS-only), but {project}:target is '{settings.target}'; remove it")
            elif addon not in enabled and not (addon.enabled_by and addon.enabled_by[0].startswith(f"{key}.")):
                # (a section that holds its own switch may say enabled: false)
                errors.append(f"{project}:{key}: {_only_when(addon, settings, project)}; remove {project}:{key}"
                              + (f" or set {project}:{addon.enabled_by[0]} to '{addon.enabled_by[1]}'"
                                 if addon.enabled_by else ""))
    for addon in enabled:
        if addon.aws_only and not settings.is_aws:
            errors.append(f"{addon.__name__.removesuffix('AddOn')} is AWS-only and cannot run on kind")
        for other in addon.conflicts:
            if other in enabled:
                errors.append(f"{addon.__name__.removesuffix('AddOn')} and {other.__name__.removesuffix('AddOn')} "
                              f"must not both be enabled ({_only_when(addon, settings, project)}; "
                              f"{_only_when(other, settings, project)})")
    return errors


def _only_when(addon: type[AddOn], settings: Settings, project: str) -> str:
    if addon.enabled_by is None:
        return "only applies when it is enabled"
    key, value = addon.enabled_by
    current = config_value(settings, key)
    return f"only applies when {project}:{key} is '{value}', but it is '{current}'"


def aws_only_keys(registry: Sequence[type[AddOn]] = REGISTRY) -> tuple[str, ...]:
    return tuple(k for a in registry if a.aws_only for k in a.config_keys)


def build_addons(cluster: ClusterHandle, settings: Settings,
                 registry: Sequence[type[AddOn]] = REGISTRY) -> dict[type[AddOn], Any]:
    """Build every enabled add-on in dependency order; each waits (through its handle's readiness)
    for the enabled add-ons it comes after. Returns the components by add-on class."""
    built: dict[type[AddOn], Any] = {}
    for addon in ordered(registry):
        if not addon.enabled(settings):
            continue
        handle = cluster.after(*(built[dep] for dep in addon.after if dep in built))
        built[addon] = build_addon(addon, handle, settings)
    return built


def build_addon(addon: type[AddOn], cluster: ClusterHandle, settings: Settings) -> Any:
    """One add-on on ``cluster``: its component ``<stack>-<key>``, and its stack outputs exported."""
    component = addon.build(f"{settings.stack}-{addon.key}", cluster, settings)
    for key, value in addon.exports(component).items():
        pulumi.export(key, value)
    return component
