"""GitOps: Argo CD (the argo-cd chart), its repository access and its bootstrap, on EKS and kind.

Pulumi owns the platform; Argo CD owns the workloads in ``gitops/``. Comes after compute, the monitoring
CRDs (its ServiceMonitors), the EBS CSI driver, Karpenter, the load balancer controller and Istio: the
workloads it syncs claim gp3 volumes, land on Karpenter nodes and are exposed through the gateway or an ALB,
so on destroy the root Application (and, through its finalizer, every workload) is deleted while all of
those still run.

Inside: the namespace; the admin password (``pulumi_random``: its ``bcrypt_hash`` is stable across runs,
where hashing in the program would change the chart's values on every run); the chart; then a repository
Secret (a private repository), the two AppProjects and the root Application, each after the chart (its CRDs
and controllers). Destroy runs backwards: the root Application first, which Argo CD's
``resources-finalizer.argocd.argoproj.io`` turns into a cascade delete of the child Applications and their
workloads (Pulumi waits until the object is gone), then the projects, then Argo CD itself.

App-of-apps rather than an ApplicationSet: one root object that Pulumi creates and whose finalizer cascades
on destroy; the child Applications are rendered by ``gitops/root`` (a Helm chart) and tested offline like any
chart; no ApplicationSet controller RBAC or generator templating to review. The root lives in its own project
(``platform-bootstrap``: this repository, namespace ``argocd``, only Applications), the workloads in
``platform-workloads`` (this repository, the configured namespaces, no cluster-scoped kinds but Namespace),
so a workload cannot create Applications.

Facts relied on (argoproj/argo-helm charts/argo-cd 10.1.1 values.yaml, Argo CD v3.4.4):
- ``configs.secret.createSecret: false`` leaves argocd-secret to the platform: a Secret of its own with
  ``admin.password`` (a bcrypt hash), ``admin.passwordMtime`` (a fixed timestamp: the chart's empty default
  renders the current time on every upgrade, which logs every session out) and ``oidc.clientSecret``, so no
  hash or client secret is in the chart's values (a secret there would make the whole values secret in state);
- ``configs.params."server.insecure"`` when TLS ends in front of the server (the gateway or the ALB);
  ``configs.cm."admin.enabled"``, ``configs.cm."oidc.config"``, ``configs.rbac."policy.{default,csv}"``;
  ``global.domain`` makes ``configs.cm.url`` (https://<domain>);
- HA (the chart's README, "High Availability"): ``redis-ha.enabled`` (three nodes, hard anti-affinity),
  ``server.replicas``, ``repoServer.replicas``, ``applicationSet.replicas``, each ``pdb.enabled``;
- ``dex.enabled`` false (OIDC is Argo CD's own client); ``global.nodeSelector``/``global.tolerations``;
  ``<component>.metrics.{enabled,serviceMonitor.enabled}``; ``server.ingress.{enabled, controller: aws,
  ingressClassName, hostname, annotations, aws.serviceType}``; 10.x creates NetworkPolicies (kept: their
  metrics ports admit every namespace, the server admits all);
- a repository Secret is labelled ``argocd.argoproj.io/secret-type: repository`` with ``url``, ``type: git``
  and ``username``/``password``, ``sshPrivateKey`` or ``githubAppID``/``githubAppInstallationID``/
  ``githubAppPrivateKey`` (Argo CD operator manual, declarative setup, "Repositories").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

import versions
from components import helm
from components.addon import AddOn
from components.common import PlatformComponent, child_opts
from components.ebs_csi import EbsCsiAddOn
from components.handle import ClusterHandle
from components.istio import IstioAddOn
from components.karpenter import KarpenterAddOn
from components.lb_controller import LoadBalancerControllerAddOn, alb_ingress_annotations
from components.monitoring_crds import MonitoringCrdsAddOn
from settings.gitops import ArgoCdSettings

TYPE = "platform:gitops:ArgoCd"
CHART = "argo-cd"
NAMESPACE = RELEASE = "argocd"
API = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
ROOT_PATH = "gitops/root"
BOOTSTRAP_PROJECT, WORKLOADS_PROJECT = "platform-bootstrap", "platform-workloads"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
# A stable modification time of the admin password (see the module docstring); rotate the password by
# replacing the RandomPassword and bump this with it.
ADMIN_PASSWORD_MTIME = "2026-12-01T00:00:00Z"
SYNC_RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}
METRICS_COMPONENTS = ("controller", "server", "repoServer", "applicationSet", "notifications")
CR_TIMEOUTS = pulumi.CustomTimeouts(create="5m", update="5m", delete="20m")
ARGOCD_SECRET = "argocd-secret"


@dataclass(frozen=True, kw_only=True)
class ArgoCdArgs:
    cluster: ClusterHandle
    """EKS or kind."""
    settings: ArgoCdSettings
    """Repository, credentials, HA, exposure, SSO and the workload project."""
    environment: str
    """The gitops/ environment of this stack (dev, staging, prod or local): the root chart's values file."""
    workload_exposure: str
    """How gitops/ workloads are exposed (istio, alb or none), passed to the root chart."""
    service_monitor: bool = False
    """Monitoring is on: the chart makes its ServiceMonitors."""


def chart_values(cluster: ClusterHandle, s: ArgoCdSettings, service_monitor: bool) -> dict[str, Any]:
    replicas = 2 if s.ha else 1
    routed = s.exposure.exposure != "port-forward"
    cm: dict[str, Any] = {"admin.enabled": s.admin_enabled}
    # users without a group mapping get no role
    rbac: dict[str, Any] = {"policy.default": ""}
    # argocd-secret is the platform's (admin_secret_data): no hash or client secret in the chart's values
    secret: dict[str, Any] = {"createSecret": False}
    if s.oidc is not None:
        cm["oidc.config"] = "\n".join([
            "name: SSO", f"issuer: {s.oidc.issuer}", f"clientID: {s.oidc.client_id}",
            # $<key> reads argocd-secret (operator manual, "Sensitive Data and SSO Client Secrets")
            "clientSecret: $oidc.clientSecret", "requestedScopes: [openid, profile, email, groups]"])
        rbac["policy.csv"] = "\n".join(f"g, {group}, role:admin" for group in s.oidc.admin_groups)
    system = {"nodeSelector": dict(cluster.system_node_selector), "tolerations": list(cluster.system_tolerations)}
    values: dict[str, Any] = {
        "global": {**system, **({"domain": s.exposure.hostname} if s.exposure.hostname else {})},
        "configs": {
            "cm": cm, "rbac": rbac, "secret": secret,
            # TLS ends at the gateway or the ALB in front of the server
            "params": {"server.insecure": routed},
        },
        "dex": {"enabled": False},
        "controller": {"replicas": 1, "resources": {
            "requests": {"cpu": "250m", "memory": s.controller_memory}, "limits": {"memory": s.controller_memory}}},
        "server": {"replicas": replicas, "pdb": {"enabled": s.ha, "minAvailable": 1} if s.ha else {"enabled": False}},
        "repoServer": {"replicas": replicas,
                       "pdb": {"enabled": s.ha, "minAvailable": 1} if s.ha else {"enabled": False}},
        "applicationSet": {"replicas": replicas,
                           "pdb": {"enabled": s.ha, "minAvailable": 1} if s.ha else {"enabled": False}},
        "redis-ha": {"enabled": s.ha, **({"tolerations": list(cluster.system_tolerations),
                                          "haproxy": {"tolerations": list(cluster.system_tolerations)}}
                                         if s.ha else {})},
    }
    if s.ha:
        values["redis"] = {"enabled": False}
    for component in METRICS_COMPONENTS:
        values.setdefault(component, {})["metrics"] = {"enabled": service_monitor,
                                                        "serviceMonitor": {"enabled": service_monitor}}
    if s.exposure.exposure == "alb":
        values["server"]["ingress"] = {
            "enabled": True, "controller": "aws", "ingressClassName": "alb", "hostname": s.exposure.hostname,
            "annotations": alb_ingress_annotations(s.exposure, health_path="/healthz"),
            # IP targets reach the pods: the Service need not be a NodePort
            "aws": {"serviceType": "ClusterIP"}}
    return values


def admin_secret_data(s: ArgoCdSettings, bcrypt_hash: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """stringData of argocd-secret: the admin password's bcrypt hash and its mtime, and the OIDC client secret.
    argocd-server adds its own server.secretkey on first start."""
    data: dict[str, pulumi.Input[str]] = {"admin.password": pulumi.Output.secret(bcrypt_hash),
                                          "admin.passwordMtime": ADMIN_PASSWORD_MTIME}
    if s.oidc is not None:
        data["oidc.clientSecret"] = pulumi.Output.secret(s.oidc.client_secret)
    return data


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


class ArgoCd(PlatformComponent):
    release: k8s.helm.v3.Release
    root: k8s.apiextensions.CustomResource | None = None
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: ArgoCdArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, s = args.cluster, args.settings
        # baseline: the chart's own pods run non-root with read-only roots, but the redis-ha subchart does not
        # set every field restricted asks for (seccomp profile, capabilities)
        namespace = helm.namespace(f"{name}-namespace", self, cluster, NAMESPACE, labels=helm.pod_security("baseline"))
        password = random.RandomPassword(f"{name}-admin", length=32, special=False, opts=child_opts(self))
        self.admin_password = pulumi.Output.secret(password.result)
        # before the chart: the server reads it when it starts (configs.secret.createSecret is false)
        secret = k8s.core.v1.Secret(
            f"{name}-secret", metadata={"name": ARGOCD_SECRET, "namespace": namespace.metadata.name, "labels": {
                "app.kubernetes.io/name": ARGOCD_SECRET, "app.kubernetes.io/part-of": "argocd"}},
            string_data=admin_secret_data(s, password.bcrypt_hash), opts=child_opts(self, cluster.k8s_opts()))
        self.release = helm.release(
            f"{name}-release", self, cluster, CHART, namespace=namespace.metadata.name, release_name=RELEASE,
            values=chart_values(cluster, s, args.service_monitor), timeout_seconds=900,
            opts=pulumi.ResourceOptions(depends_on=[secret]))
        after_release = cluster.k8s_opts(pulumi.ResourceOptions(depends_on=[self.release], custom_timeouts=CR_TIMEOUTS))
        bootstrap: list[pulumi.Resource] = []
        if s.repo_url is not None:
            bootstrap.append(k8s.core.v1.Secret(
                f"{name}-repository", metadata={"name": "platform-repository", "namespace": NAMESPACE,
                                                "labels": {"argocd.argoproj.io/secret-type": "repository"}},
                string_data=repository_secret_data(s), opts=child_opts(self, after_release)))
        for project, spec in projects(s).items():
            bootstrap.append(k8s.apiextensions.CustomResource(
                f"{name}-project-{project}", api_version=API, kind="AppProject",
                metadata={"name": project, "namespace": NAMESPACE}, spec=spec, opts=child_opts(self, after_release)))
        if s.repo_url is not None:
            self.root = k8s.apiextensions.CustomResource(
                f"{name}-root", api_version=API, kind="Application",
                metadata={"name": "platform-root", "namespace": NAMESPACE, "finalizers": [FINALIZER]},
                spec=root_application(s, args.environment, args.workload_exposure),
                # its projects and repository first; on destroy it goes first, and its finalizer removes the
                # workloads while Argo CD still runs
                opts=child_opts(self, cluster.k8s_opts(pulumi.ResourceOptions(
                    depends_on=[self.release, *bootstrap], custom_timeouts=CR_TIMEOUTS))))
        self.register_outputs({
            "chart_version": versions.CHARTS[CHART].version, "namespace": NAMESPACE,
            "admin_password": self.admin_password,
            "root_source": f"{s.repo_url}@{s.revision}:{ROOT_PATH}" if s.repo_url else None,
        })


class ArgoCdAddOn(AddOn):
    """Argo CD and the root Application of gitops/, on EKS and kind."""

    key = "argocd"
    # its ServiceMonitors; and what the workloads it syncs use (volumes, Karpenter nodes, ALBs, the mesh), so
    # that on destroy they are removed first
    after = (MonitoringCrdsAddOn, EbsCsiAddOn, KarpenterAddOn, LoadBalancerControllerAddOn, IstioAddOn)
    config_keys = ("argocd",)
    enabled_by = ("argocd.enabled", True)

    @classmethod
    def build(cls, name, cluster, settings):
        environment = settings.stack if settings.stack in ("dev", "staging", "prod", "local") else settings.tier
        return ArgoCd(name, ArgoCdArgs(cluster=cluster, settings=settings.argocd, environment=environment,
                                       workload_exposure=settings.workload_exposure,
                                       service_monitor=settings.observability.metrics.enabled))

    @classmethod
    def exports(cls, component):
        return {"argocdAdminPassword": component.admin_password}
