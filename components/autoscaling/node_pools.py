"""A Karpenter NodePool's spec from its settings: the platform's pools (Karpenter) and each team's own pool
(Teams) are built by this one function. A helper module, not an add-on."""

from __future__ import annotations

from typing import Any

from settings.karpenter import KarpenterSettings, NodePoolSettings


def node_pool_spec(pool: NodePoolSettings, config: KarpenterSettings) -> dict[str, Any]:
    requirements = [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(pool.capacity_types)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": list(pool.architectures)},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": list(pool.instance_categories)},
        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt",
         "values": [str(pool.min_instance_generation - 1)]},
        *(r.render() for r in pool.requirements),
    ]
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.node_class},
        "requirements": requirements,
        "expireAfter": pool.expire_after,
    }
    if pool.taints:
        template_spec["taints"] = [t.render() for t in pool.taints]
    if pool.termination_grace_period is not None:
        template_spec["terminationGracePeriod"] = pool.termination_grace_period
    template: dict[str, Any] = {"spec": template_spec}
    if pool.labels:
        template["metadata"] = {"labels": dict(pool.labels)}
    budgets = pool.disruption.budgets if pool.disruption.budgets is not None else config.default_budgets
    spec: dict[str, Any] = {
        "template": template,
        "disruption": {"consolidationPolicy": pool.disruption.consolidation_policy,
                       "consolidateAfter": pool.disruption.consolidate_after,
                       "budgets": [b.render() for b in budgets]},
        "limits": (pool.limits or config.default_limits).render(),
    }
    if pool.weight is not None:
        spec["weight"] = pool.weight
    return spec
