"""Karpenter's NodePools: CPU limits and disruption budgets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.rules.base import (
    ADVISORY,
    MANDATORY,
    NODE_POOL,
    Rule,
    as_list,
    as_map,
    get_in,
)


def check_pool_limits(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NODE_POOL and not as_map(get_in(inputs, "spec", "limits")).get("cpu"):
        yield f"NodePool {get_in(inputs, 'metadata', 'name')} has no spec.limits.cpu, so it can grow without bound"


def check_pool_budgets(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NODE_POOL and not as_list(get_in(inputs, "spec", "disruption", "budgets")):
        yield f"NodePool {get_in(inputs, 'metadata', 'name')} has no disruption budgets"


RULES: tuple[Rule, ...] = (
    Rule("karpenter-pool-limits", "Every Karpenter NodePool has CPU limits.",
         "Karpenter docs, NodePools: spec.limits; EKS Best Practices Karpenter (limit the pool)",
         "set limits on the pool in eks-platform:karpenter.nodePools", MANDATORY, resource_check=check_pool_limits),
    Rule("karpenter-pool-budgets", "Every Karpenter NodePool has disruption budgets.",
         "Karpenter docs, Disruption: budgets; EKS Best Practices Karpenter", "set disruption budgets on the pool",
         ADVISORY, resource_check=check_pool_budgets,
         reason="Karpenter's default budget (10% of nodes) applies when none is set"),
)
