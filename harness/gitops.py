"""Render the gitops/ charts offline, as Argo CD does, for the tests and any offline tool.

helm-python-sdk (the Helm library, no binary, no cluster; a test dependency) renders the root
app-of-apps chart with the values the platform puts in the root Application's ``helm.valuesObject``,
and each workload chart with ``values.yaml``, then ``values-<environment>.yaml``, then the values the
root passes (``exposure``, ``hostname``): the precedence Argo CD gives ``valueFiles`` and
``valuesObject``. Renders are cached per process by their inputs; callers only read them.

``project_needs`` says what the AppProjects must permit for the root and its children to sync (the
destinations, and the kinds they create), so the Argo CD add-on's tests can check its AppProjects
against what is really in git.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python

from harness import yamlio
from harness.program import PROJECT_DIR

GITOPS_DIR = PROJECT_DIR / "gitops"
ROOT_CHART = GITOPS_DIR / "root"
WORKLOADS_DIR = GITOPS_DIR / "workloads"
ENVIRONMENTS = ("dev", "staging", "prod", "local")
EXPOSURES = ("istio", "alb", "none")
ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
# Cluster-scoped kinds a chart could render (the rest of what the charts make is namespaced). Workload
# charts should make none: the AppProject allows only the Namespace that CreateNamespace=true makes.
CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "StorageClass",
    "PersistentVolume", "IngressClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "RuntimeClass", "NodePool", "EC2NodeClass",
})


def workloads() -> list[str]:
    """The workload charts: every folder of gitops/workloads/ with a Chart.yaml."""
    return sorted(p.name for p in WORKLOADS_DIR.iterdir() if (p / "Chart.yaml").is_file())


@functools.cache
def chart(path: Path) -> helm_python.Chart:
    return helm_python.Chart.load(str(path))


@functools.cache
def _render(path: Path, values_json: str, name: str, namespace: str) -> tuple[dict, ...]:
    manifests = chart(path).render(values=json.loads(values_json), name=name, namespace=namespace)
    return tuple(doc for text in manifests.values() for doc in yamlio.load_all(text) if doc)


def render(path: Path, values: Mapping[str, Any], name: str, namespace: str) -> tuple[dict, ...]:
    """The objects ``helm template`` makes of the chart at ``path`` (raises helm_python.HelmRenderError)."""
    return _render(path, json.dumps(values, sort_keys=True), name, namespace)


def root_values(environment: str, exposure: str, repo_url: str, revision: str = "main",
                project: str = "platform-workloads", hostname: str = "", **extra: Any) -> dict[str, Any]:
    """Exactly what the platform puts in the root Application's helm.valuesObject (``extra`` to test more)."""
    return {"environment": environment, "repoURL": repo_url, "targetRevision": revision, "project": project,
            "exposure": exposure, "hostname": hostname, **extra}


def render_root(values: Mapping[str, Any]) -> tuple[dict, ...]:
    """The child Applications the root renders for the root's ``values`` (see ``root_values``)."""
    return render(ROOT_CHART, values, "root", ARGOCD_NAMESPACE)


def environment_values(app: str, environment: str) -> dict[str, Any]:
    """values-<environment>.yaml of a workload (only what differs from its values.yaml)."""
    return yamlio.load((WORKLOADS_DIR / app / f"values-{environment}.yaml").read_text()) or {}


def effective_values(app: str, environment: str) -> dict[str, Any]:
    """values.yaml with values-<environment>.yaml over it: what the templates see, before the root's values."""
    base = yamlio.load((WORKLOADS_DIR / app / "values.yaml").read_text())
    return merge(base, environment_values(app, environment))


def render_workload(app: str, environment: str, exposure: str, hostname: str = "") -> tuple[dict, ...]:
    """What Argo CD renders for a child Application: values.yaml (the chart's default), then
    values-<environment>.yaml, then the valuesObject the root passes (highest precedence)."""
    values = merge(environment_values(app, environment), {"exposure": exposure, "hostname": hostname})
    return render(WORKLOADS_DIR / app, values, app, app)


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of value files: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def project_needs(environment: str, exposure: str, repo_url: str) -> dict[str, dict[str, Any]]:
    """What AppProjects must permit for the gitops/ tree to sync, for the ``root`` Application and for
    the ``workloads`` (its children): ``source_repos``, ``destinations`` as (server, namespace) pairs,
    ``cluster_kinds`` and ``namespaced_kinds`` as (group, kind) pairs.

    They are two sets because they are best two projects: a project that may write Applications into
    ``argocd`` lets anything synced through it create an Application in any project, so the workloads'
    project should not list ``argocd`` among its destinations. The workloads need the Namespace that
    CreateNamespace=true makes, which a project must allow like any cluster-scoped kind
    (argoproj/argo-cd#22869: "resource :Namespace is not permitted in project")."""
    apps = render_root(root_values(environment, exposure, repo_url))
    root = {"source_repos": {repo_url}, "destinations": {(IN_CLUSTER, ARGOCD_NAMESPACE)},
            "cluster_kinds": set(), "namespaced_kinds": {(a["apiVersion"].rpartition("/")[0], a["kind"]) for a in apps}}
    destinations: set[tuple[str, str]] = set()
    namespaced: set[tuple[str, str]] = set()
    cluster = {("", "Namespace")}
    for app in apps:
        spec = app["spec"]
        destinations.add((spec["destination"]["server"], spec["destination"]["namespace"]))
        for obj in render_workload(app["metadata"]["name"], environment, exposure):
            kind = (obj["apiVersion"].rpartition("/")[0], obj["kind"])
            (cluster if obj["kind"] in CLUSTER_SCOPED_KINDS else namespaced).add(kind)
    workloads = {"source_repos": {repo_url}, "destinations": destinations, "cluster_kinds": cluster,
                 "namespaced_kinds": namespaced}
    return {"root": root, "workloads": workloads}
