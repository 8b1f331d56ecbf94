"""GitOps bootstrap: the repository Argo CD reads, two AppProjects and the root Application (app-of-apps) of
``gitops/``, on EKS and kind.

Comes after Argo CD (its CRDs and controllers) and after what the workloads it syncs use: the EBS CSI driver
(their volumes), Karpenter (their nodes), the load balancer controller (their ALBs) and Istio (their routes and
sidecars). So on destroy the root Application goes first, while all of those still run: Argo CD's
``resources-finalizer.argocd.argoproj.io`` turns its deletion into a cascade delete of the child Applications
and their workloads (Pulumi waits until the object is gone), then the projects go, then Argo CD itself.

App-of-apps rather than an ApplicationSet: one root object that Pulumi creates and whose finalizer cascades
on destroy; the child Applications are rendered by ``gitops/root`` (a Helm chart) and tested offline like any
chart; no ApplicationSet controller RBAC or generator templating to review. The root lives in its own project
(``platform-bootstrap``: this repository, namespace ``argocd``, only Applications), the workloads in
``platform-workloads`` (this repository, the configured namespaces, no cluster-scoped kinds but Namespace, no
quotas or limits), so a workload cannot create Applications.

Facts relied on: a repository Secret is labelled ``argocd.argoproj.io/secret-type: repository`` with ``url``,
``type: git`` and ``username``/``password``, ``sshPrivateKey`` or ``githubAppID``/``githubAppInstallationID``/
``githubAppPrivateKey`` (Argo CD operator manual, declarative setup, "Repositories"); the Application and
AppProject fields validate against argo-helm 10.1.1's CRDs in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from components.core.names import ARGOCD_NAMESPACE as NAMESPACE
from components.gitops.argo import (
    API,
    BOOTSTRAP_PROJECT,
    CR_TIMEOUTS,
    FINALIZER,
    IN_CLUSTER,
    ROOT_PATH,
    SYNC_RETRY,
    WORKLOADS_PROJECT,
)
from settings import gates
from settings.gitops import ArgoCdSettings

TYPE = "platform:gitops:Bootstrap"


@dataclass(frozen=True, kw_only=True)
class GitOpsBootstrapArgs:
    cluster: ClusterHandle
    """EKS or kind, with Argo CD and what the workloads need in its readiness."""
    settings: ArgoCdSettings
    """Repository, revision, credentials and the workload project."""
    environment: str
    """The gitops/ environment of this stack (dev, staging, prod or local): the root chart's values file."""
    workload_exposure: str
    """How gitops/ workloads are exposed (istio, alb or none), passed to the root chart."""


def repository_secret_data(s: ArgoCdSettings) -> dict[str, pulumi.Input[str]]:
    """stringData of the repository Secret: the URL, and the credentials as secrets."""
    assert s.repo_url is not None
    data: dict[str, pulumi.Input[str]] = {"type": "git", "url": s.repo_url}
    c = s.credentials
    if c is None:
        return data
    if c.type == "https":
        data |= {"username": c.username or "", "password": pulumi.Output.secret(c.password or "")}
    elif c.type == "ssh":
        data["sshPrivateKey"] = pulumi.Output.secret(c.ssh_private_key or "")
    else:
        data |= {"githubAppID": str(c.github_app_id), "githubAppInstallationID": str(c.github_app_installation_id),
                 "githubAppPrivateKey": pulumi.Output.secret(c.github_app_private_key or "")}
    return data


def projects(s: ArgoCdSettings) -> dict[str, dict[str, Any]]:
    """The two AppProjects' specs, by name."""
    repos = [s.repo_url] if s.repo_url else []
    return {
        BOOTSTRAP_PROJECT: {
            "description": "The root Application: renders the workloads' Applications into argocd, nothing else",
            "sourceRepos": repos,
            "destinations": [{"server": IN_CLUSTER, "namespace": NAMESPACE}],
            "clusterResourceWhitelist": [],
            "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"}],
        },
        WORKLOADS_PROJECT: {
            "description": "Workloads from this repository's gitops/workloads",
            "sourceRepos": repos,
            "destinations": [{"server": IN_CLUSTER, "namespace": ns} for ns in s.workload_namespaces],
            # CreateNamespace=true needs Namespaces; nothing else cluster-wide
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            # quotas and limits are the platform's, not the workload's
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}, {"group": "", "kind": "LimitRange"}],
        },
    }


def root_application(s: ArgoCdSettings, environment: str, workload_exposure: str) -> dict[str, Any]:
    """The root Application's spec: gitops/root for this environment, synced automatically."""
    assert s.repo_url is not None
    return {
        "project": BOOTSTRAP_PROJECT,
        "source": {"repoURL": s.repo_url, "targetRevision": s.revision, "path": ROOT_PATH, "helm": {
            # the contract of gitops/root/values.yaml
            "valuesObject": {"environment": environment, "repoURL": s.repo_url, "targetRevision": s.revision,
                             "project": WORKLOADS_PROJECT, "exposure": workload_exposure,
                             "hostname": s.workload_hostname or ""}}},
        "destination": {"server": IN_CLUSTER, "namespace": NAMESPACE},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "retry": SYNC_RETRY},
    }


class GitOpsBootstrap(PlatformComponent):
    projects: dict[str, k8s.apiextensions.CustomResource]
    root: k8s.apiextensions.CustomResource | None = None

    def __init__(self, name: str, args: GitOpsBootstrapArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, s = args.cluster, args.settings
        cr_opts = cluster.k8s_opts(pulumi.ResourceOptions(custom_timeouts=CR_TIMEOUTS))
        bootstrap: list[pulumi.Resource] = []
        if s.repo_url is not None:
            bootstrap.append(k8s.core.v1.Secret(
                f"{name}-repository", metadata={"name": "platform-repository", "namespace": NAMESPACE,
                                                "labels": {"argocd.argoproj.io/secret-type": "repository"}},
                string_data=repository_secret_data(s), opts=child_opts(self, cluster.k8s_opts())))
        self.projects = {
            project: k8s.apiextensions.CustomResource(
                f"{name}-project-{project}", api_version=API, kind="AppProject",
                metadata={"name": project, "namespace": NAMESPACE}, spec=spec, opts=child_opts(self, cr_opts))
            for project, spec in projects(s).items()}
        bootstrap += self.projects.values()
        if s.repo_url is not None:
            self.root = k8s.apiextensions.CustomResource(
                f"{name}-root", api_version=API, kind="Application",
                metadata={"name": "platform-root", "namespace": NAMESPACE, "finalizers": [FINALIZER]},
                spec=root_application(s, args.environment, args.workload_exposure),
                # its projects and repository first; on destroy it goes first, and its finalizer removes the
                # workloads while Argo CD still runs
                opts=child_opts(self, cluster.k8s_opts(pulumi.ResourceOptions(
                    depends_on=bootstrap, custom_timeouts=CR_TIMEOUTS))))
        self.register_outputs({
            "projects": sorted(self.projects),
            "root_source": f"{s.repo_url}@{s.revision}:{ROOT_PATH}" if s.repo_url else None,
        })


class GitOpsBootstrapAddOn(AddOn):
    """The AppProjects and the root Application of gitops/, after Argo CD and what its workloads use."""

    key = "gitops"
    gate = gates.GITOPS_BOOTSTRAP

    @classmethod
    def build(cls, name, cluster, settings):
        environment = settings.stack if settings.stack in ("dev", "staging", "prod", "local") else settings.tier
        return GitOpsBootstrap(name, GitOpsBootstrapArgs(
            cluster=cluster, settings=settings.argocd, environment=environment,
            workload_exposure=settings.workload_exposure))
