"""GitOps: Argo CD itself (the argo-cd chart), on EKS and kind. Its bootstrap (repository, projects, the
root Application) is ``components/gitops/bootstrap.py``.

Pulumi owns the platform; Argo CD owns the workloads in ``gitops/``. Comes after compute, the monitoring
CRDs (its ServiceMonitors) and the load balancer controller (its ALB Ingress with exposure alb); not after
Istio, Karpenter or the EBS CSI driver, which only the workloads need: the bootstrap waits for those, so
Argo CD installs in parallel with the mesh.

Inside: the namespace; the admin password (``pulumi_random``: its ``bcrypt_hash`` is stable across runs,
where hashing in the program would change the chart's values on every run) in argocd-secret; the chart.

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
from components.core import helm
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from components.core.names import ARGOCD_NAMESPACE, ARGOCD_RELEASE
from components.traffic.ingress import alb_ingress_annotations
from settings import gates
from settings.gitops import ArgoCdSettings

TYPE = "platform:gitops:ArgoCd"
CHART = "argo-cd"
NAMESPACE, RELEASE = ARGOCD_NAMESPACE, ARGOCD_RELEASE
# A stable modification time of the admin password (see the module docstring); rotate the password by
# replacing the RandomPassword and bump this with it.
ADMIN_PASSWORD_MTIME = "2026-12-01T00:00:00Z"
METRICS_COMPONENTS = ("controller", "server", "repoServer", "applicationSet", "notifications")
ARGOCD_SECRET = "argocd-secret"


@dataclass(frozen=True, kw_only=True)
class ArgoCdArgs:
    cluster: ClusterHandle
    """EKS or kind."""
    settings: ArgoCdSettings
    """Repository, credentials, HA, exposure, SSO and the workload project."""
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


def admin_secret_data(s: ArgoCdSettings, bcrypt_hash: pulumi.Input[str] | None) -> dict[str, pulumi.Input[str]]:
    """stringData of argocd-secret: the admin password's bcrypt hash and its mtime (with the admin user on),
    and the OIDC client secret. argocd-server adds its own server.secretkey on first start."""
    data: dict[str, pulumi.Input[str]] = {}
    if bcrypt_hash is not None:
        data |= {"admin.password": pulumi.Output.secret(bcrypt_hash), "admin.passwordMtime": ADMIN_PASSWORD_MTIME}
    if s.oidc is not None:
        data["oidc.clientSecret"] = pulumi.Output.secret(s.oidc.client_secret)
    return data


class ArgoCd(PlatformComponent):
    release: k8s.helm.v3.Release
    admin_password: pulumi.Output[str] | None
    """The admin user's password; None with argocd.adminEnabled false (no password is made or exported)."""

    def __init__(self, name: str, args: ArgoCdArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, s = args.cluster, args.settings
        # baseline: the chart's own pods run non-root with read-only roots, but the redis-ha subchart does not
        # set every field restricted asks for (seccomp profile, capabilities)
        namespace = helm.namespace(f"{name}-namespace", self, cluster, NAMESPACE, labels=helm.pod_security("baseline"))
        # Without the admin user there is no password to make or export. argocd-server then writes a hash
        # of its own into argocd-secret (argo-cd util/settings InitializeSettings: an empty admin.password
        # is initialised), which no one can log in with while admin.enabled is false.
        password = random.RandomPassword(f"{name}-admin", length=32, special=False, opts=child_opts(self)) \
            if s.admin_enabled else None
        self.admin_password = pulumi.Output.secret(password.result) if password is not None else None
        # before the chart: the server reads it when it starts (configs.secret.createSecret is false)
        secret = k8s.core.v1.Secret(
            f"{name}-secret", metadata={"name": ARGOCD_SECRET, "namespace": namespace.metadata.name, "labels": {
                "app.kubernetes.io/name": ARGOCD_SECRET, "app.kubernetes.io/part-of": "argocd"}},
            string_data=admin_secret_data(s, password and password.bcrypt_hash),
            opts=child_opts(self, cluster.k8s_opts()))
        self.release = helm.release(
            f"{name}-release", self, cluster, CHART, namespace=namespace.metadata.name, release_name=RELEASE,
            values=chart_values(cluster, s, args.service_monitor), timeout_seconds=900,
            opts=pulumi.ResourceOptions(depends_on=[secret]))
        self.register_outputs({
            "chart_version": versions.CHARTS[CHART].version, "namespace": NAMESPACE,
            "admin_password": self.admin_password,
        })


class ArgoCdAddOn(AddOn):
    """Argo CD itself, on EKS and kind; its bootstrap is ``GitOpsBootstrapAddOn``."""

    key = "argocd"
    gate = gates.ARGOCD

    @classmethod
    def build(cls, name, cluster, settings):
        return ArgoCd(name, ArgoCdArgs(cluster=cluster, settings=settings.argocd,
                                       service_monitor=settings.observability.metrics.enabled))

    @classmethod
    def exports(cls, component):
        return {} if component.admin_password is None else {"argocdAdminPassword": component.admin_password}
