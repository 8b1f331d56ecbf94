"""The platform's Helm releases and controllers (components/core/helm.py installs them all): pinned charts, no
latest tags, replicas and PodDisruptionBudgets of the controllers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy.rules.base import (
    BP,
    HELM_CHART,
    HELM_RELEASE,
    MANDATORY,
    PROD_ONLY,
    Rule,
    as_map,
    get_in,
)

_RANGE = re.compile(r"[\^~*xX><=|, ]|^$")


def check_helm_pinned(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ in (HELM_RELEASE, HELM_CHART):
        version = inputs.get("version")
        if not isinstance(version, str) or _RANGE.search(version):
            yield f"chart {inputs.get('chart')} is not pinned to one version (version {version!r})"


def _floating(image: str) -> bool:
    """``repo/name:latest``, or no tag and no digest at all (which pulls latest); "" is the chart's default."""
    last = image.rsplit("/", 1)[-1]
    return bool(image) and (image.endswith(":latest") or (":" not in last and "@" not in image))


def _latest_images(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            # an empty "tag" falls back to the chart's appVersion, which the pinned chart fixes
            if (key == "tag" and item == "latest") or (key == "image" and isinstance(item, str) and _floating(item)):
                yield here
            else:
                yield from _latest_images(item, here)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i, item in enumerate(value):
            yield from _latest_images(item, f"{path}[{i}]")


def check_no_latest_tag(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ in (HELM_RELEASE, HELM_CHART):
        for path in _latest_images(inputs.get("values")):
            yield f"values.{path} uses the latest tag (or none)"
    elif type_.startswith("kubernetes:apps/v1:") or type_ in ("kubernetes:core/v1:Pod", "kubernetes:batch/v1:Job"):
        for path in _latest_images(inputs.get("spec")):
            yield f"spec.{path} uses the latest tag (or none)"


@dataclass(frozen=True)
class Controller:
    """Where a controller chart takes its replica count and disruption budget, and its chart defaults
    (from the chart's values.yaml in ../shared/upstream where we have it)."""

    replicas: tuple[str, ...]
    default_replicas: int
    pdb: Callable[[Mapping[str, Any]], bool]


def _pdb_object(*path: str) -> Callable[[Mapping[str, Any]], bool]:
    def has(values: Mapping[str, Any]) -> bool:
        pdb = get_in(values, *path)
        return bool(as_map(pdb).get("minAvailable") is not None or as_map(pdb).get("maxUnavailable") is not None)
    return has


CONTROLLERS: dict[str, Controller] = {
    # karpenter values.yaml: replicas 2, podDisruptionBudget {name, maxUnavailable: 1} by default
    "karpenter": Controller(("replicas",), 2, lambda v: get_in(v, "podDisruptionBudget") != {}),
    # aws-load-balancer-controller values.yaml: replicaCount 2, podDisruptionBudget {} (none) by default
    "aws-load-balancer-controller": Controller(("replicaCount",), 2, _pdb_object("podDisruptionBudget")),
    # metrics-server chart: replicas 1, podDisruptionBudget.enabled false by default
    "metrics-server": Controller(("replicas",), 1, lambda v: get_in(v, "podDisruptionBudget", "enabled") is True),
    # istiod values: replicaCount 1; global.defaultPodDisruptionBudget.enabled true renders one
    "istiod": Controller(("replicaCount",), 1,
                         lambda v: get_in(v, "global", "defaultPodDisruptionBudget", "enabled") is not False),
    # gateway values.yaml: podDisruptionBudget {} (none) by default; replicas from autoscaling.minReplicas
    "gateway": Controller(("autoscaling.minReplicas", "replicaCount"), 1, _pdb_object("podDisruptionBudget")),
    # cluster-autoscaler chart: replicaCount 1, podDisruptionBudget maxUnavailable 1 by default
    "cluster-autoscaler": Controller(("replicaCount",), 1, lambda v: get_in(v, "podDisruptionBudget") != {}),
}


def _chart_name(inputs: Mapping[str, Any]) -> str:
    chart = inputs.get("chart")
    return chart.rsplit("/", 1)[-1] if isinstance(chart, str) else ""


def _replicas(ctrl: Controller, values: Mapping[str, Any]) -> int:
    for path in ctrl.replicas:
        value = get_in(values, *path.split("."))
        if isinstance(value, int | float):
            return int(value)
    return ctrl.default_replicas


def check_controller_replicas(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    ctrl = CONTROLLERS.get(_chart_name(inputs)) if type_ == HELM_RELEASE else None
    if ctrl is not None and (n := _replicas(ctrl, as_map(inputs.get("values")))) < 2:
        yield f"controller {_chart_name(inputs)} runs {n} replica(s)"


def check_controller_pdb(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    ctrl = CONTROLLERS.get(_chart_name(inputs)) if type_ == HELM_RELEASE else None
    if ctrl is not None and not ctrl.pdb(as_map(inputs.get("values"))):
        yield f"controller {_chart_name(inputs)} has no PodDisruptionBudget"


RULES: tuple[Rule, ...] = (
    Rule("helm-release-pinned", "Every Helm release is pinned to one chart version.",
         "Helm docs (helm install --version: without it the latest chart is installed); STYLE.md versions",
         "pin the chart in versions.CHARTS and install it through components/helm.release", MANDATORY,
         resource_check=check_helm_pinned),
    Rule("no-latest-image-tag", "No image in Helm values or workloads uses the latest tag.",
         f"{BP}, Security: image security (immutable tags); checkov CKV_K8S_14",
         "pin the image tag (or digest), or leave the chart's default (its appVersion)", MANDATORY,
         resource_check=check_no_latest_tag),
    Rule("controller-replicas", "Platform controllers run two or more replicas.",
         f"{BP}, Reliability: applications (run multiple replicas); AWS Prescriptive Guidance ha-resiliency",
         "raise the controller's replicas in its settings section", PROD_ONLY,
         resource_check=check_controller_replicas, reason="dev and staging run single replicas to save nodes"),
    Rule("controller-pdb", "Platform controllers have a PodDisruptionBudget.",
         f"{BP}, Reliability: applications (PodDisruptionBudgets)",
         "set the chart's PodDisruptionBudget values in the add-on", PROD_ONLY, resource_check=check_controller_pdb,
         reason="a budget over one replica only blocks node drains"),
)
