"""Which pinned components a stack runs, and whether they all support its Kubernetes minor.

The ledger is ``versions.SUPPORT``; this module maps the registry's add-ons (and the cluster itself: the
EKS managed add-ons, or the kind node image) to its entries. ``check_supported`` runs in ``__main__.py``
right after the settings, so an unsupported ``cluster.version``/``kind.version`` fails before any resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import versions
from components.cluster.eks_addons import BASE_WAVE, COMPUTE_WAVE
from settings import ConfigError

if TYPE_CHECKING:
    from settings import Settings

# add-on key (components/*: ``AddOn.key``) -> the ledger entries its releases and EKS add-ons use
ADDON_COMPONENTS: dict[str, tuple[str, ...]] = {
    "karpenter": ("karpenter-crd", "karpenter"),
    "cluster-autoscaler": ("cluster-autoscaler",),
    "metrics-server": ("metrics-server",),
    "load-balancer-controller": ("aws-load-balancer-controller",),
    "istio": ("istio-base", "istiod", "istio-gateway", "istio-cni"),
    "monitoring": ("kube-prometheus-stack",),
    "webhook-certificates": ("prometheus-blackbox-exporter",),
    "argocd": ("argo-cd",),
    "kyverno": ("kyverno",),
    "ebs-csi": ("eks:aws-ebs-csi-driver",),
    "efs-csi": ("eks:aws-efs-csi-driver",),
}


def config_key(settings: Settings) -> str:
    return "eks-platform:cluster.version" if settings.is_aws else "eks-platform:kind.version"


def minor(settings: Settings) -> str:
    return settings.cluster.version if settings.is_aws else settings.kind.version


def enabled_components(settings: Settings) -> list[str]:
    """The ledger keys of everything ``settings`` deploys, in a stable order."""
    from components.core.registry import REGISTRY  # the registry imports every add-on module

    out = ([f"eks:{n}" for n in (*BASE_WAVE, *COMPUTE_WAVE)] if settings.is_aws else ["kind-node-image"])
    for entry in REGISTRY:
        if entry.addon.enabled(settings):
            out += ADDON_COMPONENTS.get(entry.addon.key, ())
            if entry.addon.key == "logging":
                out += ["aws-for-fluent-bit", *(["loki"] if settings.logs_backend == "loki" else [])]
    return list(dict.fromkeys(out))


def unsupported(settings: Settings, target: str | None = None) -> list[str]:
    """One line per enabled component that does not support ``target`` (default: the stack's minor)."""
    wanted = target or minor(settings)
    return [f"{key} {versions.SUPPORT[key].pinned} supports Kubernetes {versions.SUPPORT[key].range()} "
            f"({versions.SUPPORT[key].source}, {versions.SUPPORT[key].date})"
            for key in enabled_components(settings) if not versions.SUPPORT[key].supports(wanted)]


def check_supported(settings: Settings) -> None:
    """Refuse, before any resource, a Kubernetes minor an enabled component does not support."""
    problems = unsupported(settings)
    if problems:
        ok = [m for m in versions.KUBERNETES_VERSIONS if not unsupported(settings, m)]
        raise ConfigError(f"{config_key(settings)}: Kubernetes {minor(settings)} is not supported by "
                          + "; ".join(problems) + f". Supported by every enabled component: {ok or 'none'}")


def newest_supported(settings: Settings) -> str | None:
    ok = [m for m in versions.KUBERNETES_VERSIONS if not unsupported(settings, m)]
    return max(ok, key=versions.minor_tuple) if ok else None
