"""Namespaces: every one the platform creates sets a Pod Security level, none enforces privileged."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.rules.base import (
    ADVISORY,
    BP,
    MANDATORY,
    NAMESPACE,
    Rule,
    as_map,
    get_in,
)

PSS_LABEL = "pod-security.kubernetes.io/enforce"


PSS_LEVELS = ("privileged", "baseline", "restricted")


def check_namespace_pss(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NAMESPACE:
        level = as_map(get_in(inputs, "metadata", "labels")).get(PSS_LABEL)
        if level not in PSS_LEVELS:
            yield f"namespace {get_in(inputs, 'metadata', 'name')} has no {PSS_LABEL} label (got {level!r})"


def check_namespace_not_privileged(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NAMESPACE and as_map(get_in(inputs, "metadata", "labels")).get(PSS_LABEL) == "privileged":
        yield f"namespace {get_in(inputs, 'metadata', 'name')} enforces the privileged Pod Security level"


RULES: tuple[Rule, ...] = (
    Rule("namespace-pod-security", "Every namespace the platform creates sets a Pod Security level.",
         f"{BP}, Pod security (Pod Security Standards); CIS EKS 4.2 (Pulumi k8s-pod-security-*)",
         f"label the namespace {PSS_LABEL}: restricted or baseline (components/helm.namespace pod_security=)",
         MANDATORY, resource_check=check_namespace_pss),
    Rule("namespace-not-privileged", "Namespaces do not enforce the privileged Pod Security level.",
         f"{BP}, Pod security (Pod Security Standards); CIS EKS 4.2",
         "move host-level agents to their own namespace and enforce baseline or restricted elsewhere", ADVISORY,
         resource_check=check_namespace_not_privileged,
         reason="node-exporter needs host network, PID and paths, so the monitoring namespace must be privileged"),
)
