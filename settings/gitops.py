"""Settings of GitOps: Argo CD, the repository it syncs, and its bootstrap (the root Application).

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from settings.base import Model, invalid, tiered
from settings.traffic import ExposureSettings
from settings.types import PLATFORM_NAMESPACES, Hostname, Memory, dns_label

# A Git URL Argo CD can clone: https://host/path, ssh://[user@]host[:port]/path or scp-like user@host:path.
HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/[^\s]+$")
SSH_URL = re.compile(r"^(ssh://[\w.-]+@[A-Za-z0-9.-]+(:\d+)?/[^\s]+|[\w.-]+@[A-Za-z0-9.-]+:[^\s/][^\s]*)$")
REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
CredentialType = Literal["https", "ssh", "github-app"]
WorkloadExposure = Literal["istio", "alb", "none"]


def is_ssh_url(url: str) -> bool:
    return bool(SSH_URL.match(url))


class RepositoryCredentials(Model):
    """Credentials of a private repository, written into an Argo CD repository Secret. The secret parts must
    be secret config values (pulumi config set --secret --path ...)."""

    type: CredentialType
    """https (username and a token as password), ssh (a deploy key) or github-app (an App's id, installation
    id and private key)."""
    username: str | None = None
    """User name (https); for a GitHub token any non-empty name works."""
    password: str | None = None
    """Token or password (https): a secret config value."""
    ssh_private_key: str | None = None
    """Private deploy key (ssh): a secret config value."""
    github_app_id: int | None = None
    """GitHub App id (github-app)."""
    github_app_installation_id: int | None = None
    """The App's installation id in the organisation (github-app)."""
    github_app_private_key: str | None = None
    """The App's private key (github-app): a secret config value."""

    @model_validator(mode="after")
    def _complete(self) -> RepositoryCredentials:
        needed = {"https": ("username", "password"), "ssh": ("ssh_private_key",),
                  "github-app": ("github_app_id", "github_app_installation_id", "github_app_private_key")}
        for field in needed[self.type]:
            if getattr(self, field) in (None, ""):
                raise invalid(_camel(field), "is required with type {type}", type=self.type)
        stray = [f for t, fields in needed.items() if t != self.type for f in fields if getattr(self, f) is not None]
        if stray:
            raise invalid(_camel(stray[0]), "does not apply to type {type}; remove it", type=self.type)
        return self

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f for f in ("password", "ssh_private_key", "github_app_private_key") if getattr(self, f))


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(p.title() for p in rest)


class OidcSettings(Model):
    """Single sign-on through an OIDC provider (Argo CD's own OIDC client; Dex stays off)."""

    issuer: str
    """The provider's issuer URL (https)."""
    client_id: str
    """The client id registered for Argo CD (redirect URI https://<hostname>/auth/callback)."""
    client_secret: str
    """The client secret: a secret config value."""
    admin_groups: list[str] = Field(default_factory=list)
    """Groups (the token's groups claim) given Argo CD's admin role."""

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        if not HTTPS_URL.match(v) and not re.match(r"^https://[A-Za-z0-9.-]+(:\d+)?/?$", v):
            raise ValueError("must be an https:// issuer URL")
        return v


class ArgoCdSettings(Model):
    """Argo CD and its bootstrap: an AppProject per role and the root Application (app-of-apps)."""

    enabled: bool = True
    """Install Argo CD (EKS and kind)."""
    repo_url: str | None = None
    """This repository's clone URL (https://... or git@host:org/repo.git). Unset: Argo CD is installed without
    the root Application."""
    revision: str = "main"
    """Branch, tag or commit the root Application follows."""
    credentials: RepositoryCredentials | None = None
    """Credentials for a private repository; none for a public https URL."""
    ha: bool = tiered(dev=False, staging=False, prod=True)
    """High availability: redis-ha, two server, repo-server and ApplicationSet replicas with PodDisruptionBudgets
    (redis-ha needs three nodes: prod's system group has them)."""
    controller_memory: Memory = tiered(dev="512Mi", staging="1Gi", prod="2Gi")
    """Memory request and limit of the application controller, which caches every managed object: grow it with
    the number of Applications and their resources (Argo CD docs, high availability: "argocd-application-
    controller" memory)."""
    exposure: ExposureSettings = Field(default_factory=ExposureSettings)
    """The UI's exposure (it is always reachable by kubectl port-forward too)."""
    oidc: OidcSettings | None = None
    """Single sign-on; with it the admin user can be turned off."""
    admin_enabled: bool = True
    """Keep the local admin user (its password: the argocdAdminPassword secret output). false needs oidc, and
    then no admin password is made or exported."""
    workload_namespaces: list[dns_label(63)] = Field(default_factory=lambda: ["sample-app"])
    """Namespaces the workloads AppProject may deploy to (gitops/workloads/<app> goes to namespace <app>)."""
    workload_exposure: WorkloadExposure | None = None
    """How the gitops/ workloads are exposed: istio (the default with Istio on), alb (EKS) or none."""
    workload_hostname: Hostname | None = None
    """Host name of the sample workload's route; unset answers on any host."""

    @field_validator("repo_url")
    @classmethod
    def _repo_url(cls, v: str | None) -> str | None:
        if v is not None and not (HTTPS_URL.match(v) or SSH_URL.match(v)):
            raise ValueError("must be an https:// or ssh Git URL (https://github.com/org/repo.git, "
                             "git@github.com:org/repo.git or ssh://git@host/org/repo.git)")
        return v

    @field_validator("revision")
    @classmethod
    def _revision(cls, v: str) -> str:
        if not REVISION.match(v) or ".." in v:
            raise ValueError("must be a branch, tag or commit (not empty, no spaces)")
        return v

    @model_validator(mode="after")
    def _checks(self) -> ArgoCdSettings:
        if self.credentials is not None:
            if self.repo_url is None:
                raise invalid("credentials", "apply to repoUrl, which is not set")
            ssh = is_ssh_url(self.repo_url)
            if ssh != (self.credentials.type == "ssh"):
                raise invalid("credentials.type", "'{type}' does not fit {url}: an ssh URL takes type ssh, an "
                              "https URL https or github-app", type=self.credentials.type, url=self.repo_url)
        if self.oidc is not None and self.exposure.hostname is None:
            # the provider redirects the browser back to https://<hostname>/auth/callback
            raise invalid("oidc", "needs the UI's host name for its redirect URI: set exposure.exposure (istio or "
                          "alb) and exposure.hostname")
        if self.exposure.exposure == "alb" and not self.exposure.certificate_arn:
            # the chart's AWS Ingress (server.ingress.controller aws) adds an argocd-server-grpc Service with
            # alb.ingress.kubernetes.io/backend-protocol-version GRPC (argo-cd 10.1.1 templates/argocd-server/aws/
            # service.yaml, values server.ingress.aws.backendProtocolVersion), and ELB accepts a GRPC target group
            # only behind an HTTPS listener (ELB user guide, load-balancer-target-groups "Protocol version")
            raise invalid("exposure.certificateArn", "exposure alb serves Argo CD's gRPC API (argocd CLI) through a "
                          "GRPC target group, which the ALB accepts only on HTTPS: set certificateArn (an ACM "
                          "certificate for {host}), or use exposure istio or port-forward", host=self.exposure.hostname)
        if not self.admin_enabled and self.oidc is None:
            raise invalid("adminEnabled", "false would leave no way to log in: configure oidc first")
        if len(set(self.workload_namespaces)) != len(self.workload_namespaces):
            raise invalid("workloadNamespaces", "list each namespace once")
        reserved = sorted(set(self.workload_namespaces) & set(PLATFORM_NAMESPACES))
        if reserved:
            raise invalid("workloadNamespaces", "{reserved} belong to Kubernetes or the platform", reserved=reserved)
        return self

    @property
    def secret_values(self) -> bool:
        """Whether any value must come from secret config (credentials, the OIDC client secret)."""
        return bool(self.credentials and self.credentials.secret_fields) or self.oidc is not None
