"""Mesh, quota and policy agree (issue 19's guarantee), for every team of every stack and test variant.

Read from what the program deploys, not from settings: each team namespace's ResourceQuota and LimitRange,
istiod's release values (the sidecar's ``global.proxy.resources``, ``global.hub`` and ``global.tag``), and
the recorded Kyverno ValidatingPolicies (evaluated by harness/cel_policy.py). A pod of a team is one container at the LimitRange defaults and, in an
injected namespace, istiod's two containers with the proxy's resources: ``istio-proxy`` and the
``istio-validation`` init container (istiod-1.31.1 files/injection-template.yaml: both ``template
"resources"``, i.e. ``global.proxy.resources``). An init container runs before the others, so the pod counts
the larger of it and the sum of its containers (Kubernetes docs, init-containers "Resource sharing within
containers"): here the sum. The quota must admit ``pods`` such pods; every container must fit the LimitRange
max; and every injected container must pass the registry policies of the namespace.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from harness import run_stack
from harness.cel_policy import failing, namespace_object
from harness.upstream import load_yaml
from settings.types import quantity
from tests.conftest import every_variant_recording

NAMESPACE, QUOTA = "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ResourceQuota"
LIMITS, RELEASE = "kubernetes:core/v1:LimitRange", "kubernetes:helm.sh/v3:Release"
POLICY = "kubernetes:policies.kyverno.io/v1:ValidatingPolicy"
TEAM_LABEL, INJECTION = "platform.eks/team", "istio-injection"
# injected teams under a registry allowlist, on every tier (the golden variants have none)
ALLOWLISTED = {tier: (tier, {"eks-platform:kyverno": {"allowedRegistries": ["ghcr.io/acme", "docker.io/istio"]},
                             "eks-platform:teams": [{"name": "payments", "injection": True}, {"name": "search"}]})
               for tier in ("dev", "staging", "prod")}


def recordings():
    yield from every_variant_recording()
    for name, (stack, overrides) in ALLOWLISTED.items():
        yield f"{name}-allowlisted", run_stack(stack, overrides=overrides)


def teams(rec):
    """(namespace, labels, quota hard, LimitRange item) of every team namespace."""
    for ns in rec.of_type(NAMESPACE):
        labels = ns.inputs["metadata"].get("labels", {})
        if TEAM_LABEL not in labels:
            continue
        name = ns.inputs["metadata"]["name"]
        (quota,) = [q for q in rec.of_type(QUOTA) if q.inputs["metadata"]["namespace"] == name]
        (limits,) = [x for x in rec.of_type(LIMITS) if x.inputs["metadata"]["namespace"] == name]
        yield name, labels, quota.inputs["spec"]["hard"], limits.inputs["spec"]["limits"][0]


def sidecar(rec) -> dict:
    """istiod's injected containers as the recorded values make them."""
    (istiod,) = [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "istiod"]
    values = istiod.inputs["values"]["global"]
    chart = load_yaml("istio", "istiod-values.yaml")["_internal_defaults_do_not_set"]["global"]
    resources = values.get("proxy", {}).get("resources", chart["proxy"]["resources"])
    image = f"{values.get('hub', chart['hub'])}/{chart['proxy']['image']}:{values.get('tag', chart['tag'])}"
    return {"resources": resources, "image": image}


def pod_need(limit_range: dict, proxy: dict | None) -> dict[str, Decimal]:
    need = {f"requests.{r}": quantity(limit_range["defaultRequest"][r]) for r in ("cpu", "memory")}
    need |= {f"limits.{r}": quantity(limit_range["default"][r]) for r in ("cpu", "memory")}
    if proxy is not None:
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                need[f"{kind}.{r}"] += quantity(proxy["resources"][kind][r])
    return need


def injected_pod(namespace: str, proxy: dict, app_image: str) -> dict:
    resources = proxy["resources"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": namespace},
            "spec": {"initContainers": [{"name": "istio-validation", "image": proxy["image"], "resources": resources}],
                     "containers": [{"name": "app", "image": app_image},
                                    {"name": "istio-proxy", "image": proxy["image"], "resources": resources}]}}


@pytest.fixture(scope="module")
def every_team():
    out = []
    for variant, rec in recordings():
        found = list(teams(rec))
        proxy = sidecar(rec) if any(labels.get(INJECTION) == "enabled" for _, labels, _, _ in found) else None
        registry = [p for p in rec.of_type(POLICY) if p.inputs["metadata"]["name"].startswith("restrict-image-registries")]
        out += [(variant, ns, labels, hard, lr, proxy, registry) for ns, labels, hard, lr in found]
    return out


def test_there_are_injected_teams_under_an_allowlist(every_team):
    injected = [t for t in every_team if t[2].get(INJECTION) == "enabled"]
    assert injected and [t for t in injected if t[6]] and len({t[0] for t in every_team}) >= 5


def test_every_team_quota_admits_its_pods_with_their_sidecars(every_team):
    short = []
    for variant, ns, labels, hard, lr, proxy, _ in every_team:
        need = pod_need(lr, proxy if labels.get(INJECTION) == "enabled" else None)
        for res, per_pod in need.items():
            if int(hard["pods"]) * per_pod > quantity(hard[res]):
                short.append(f"{variant}/{ns}: {hard['pods']} pods x {per_pod} {res} > {hard[res]}")
    assert short == []


def test_every_injected_container_fits_the_limit_range(every_team):
    for variant, ns, labels, _, lr, proxy, _ in every_team:
        if labels.get(INJECTION) == "enabled":
            for r in ("cpu", "memory"):
                assert quantity(proxy["resources"]["limits"][r]) <= quantity(lr["max"][r]), (variant, ns, r)


def test_every_injected_container_passes_the_registry_policy_of_its_namespace(every_team):
    checked = 0
    for variant, ns, labels, _, _, proxy, registry in every_team:
        if labels.get(INJECTION) != "enabled" or not registry:
            continue
        policies = [p.k8s_object() for p in registry]
        namespace = namespace_object(ns, labels)
        assert failing(policies, injected_pod(ns, proxy, "ghcr.io/acme/app:1.0"), namespace) == {}, (variant, ns)
        # not vacuous: the same pod with the proxy from elsewhere is refused
        elsewhere = {**proxy, "image": "docker.io/istio-mirror/proxyv2:1.31.1"}
        assert failing(policies, injected_pod(ns, elsewhere, "ghcr.io/acme/app:1.0"), namespace), (variant, ns)
        checked += 1
    assert checked >= 3
