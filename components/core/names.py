"""The table of well-known names: what more than one add-on refers to, defined once.

An add-on never imports another add-on's module for a name: it imports this table. A name used by one
add-on only stays in that add-on's module. Every value here is part of what is deployed (a namespace, a
release, a label a policy selects by), so changing one moves every add-on that reads it, on purpose.
"""

from __future__ import annotations

import pulumi

from settings.base import PROJECT
from settings.teams import TEAM_LABEL as _TEAM_LABEL

# --- namespaces -------------------------------------------------------------------------------------
ISTIO_NAMESPACE = "istio-system"
"""istiod, the mesh's control plane (Istio); injection, team policies and certificate probes refer to it."""
GATEWAY_NAMESPACE = "istio-ingress"
"""The Istio ingress gateway (Istio); routes and team AuthorizationPolicies attach to it, Kyverno exempts it."""
MONITORING_NAMESPACE = "monitoring"
"""kube-prometheus-stack (Monitoring); routes, team alerts, Kyverno exclusions and probes live beside it."""
LOGGING_NAMESPACE = "logging"
"""Fluent Bit and Loki (Logging); Kyverno exempts it."""
LOKI_URL = f"http://loki.{LOGGING_NAMESPACE}.svc.cluster.local:3100"
"""Loki's push and query endpoint (the logging add-on's Service, port 3100): Fluent Bit pushes, Grafana queries."""
ARGOCD_NAMESPACE = "argocd"
"""Argo CD (ArgoCd, Bootstrap); routes reach its server, Kyverno exempts it."""
LBC_NAMESPACE = "kube-system"
"""The AWS Load Balancer Controller (its webhook Service is probed by WebhookCertificates)."""
KYVERNO_NAMESPACE = "kyverno"
"""Kyverno (Kyverno); the load balancer controller's Service mutator leaves it out."""

# --- release names ----------------------------------------------------------------------------------
ARGOCD_RELEASE = "argocd"
"""Argo CD's Helm release: its Services are ``argocd-server``, ... (routes point at them)."""
MONITORING_RELEASE = "monitoring"
"""kube-prometheus-stack's release: with fullnameOverride, ``monitoring-grafana``, ``monitoring-prometheus``, ..."""
GATEWAY = "istio-ingressgateway"
"""The Istio gateway's release, Service and the ``istio`` selector of the platform's Gateway."""

# --- labels and annotations -------------------------------------------------------------------------
INJECTION = {"istio-injection": "enabled"}
"""The namespace label that turns on istiod's sidecar injection (teams with injection: true carry it)."""
TEAM_LABEL = _TEAM_LABEL
"""Every team namespace, its pods and its node pools carry it (defined in settings.teams, which validates it)."""
BACKUP_TAG_KEY = "eks-platform/backup"
"""On every EBS volume the CSI driver makes, valued with the cluster name; AWS Backup selects by it."""

# --- storage classes --------------------------------------------------------------------------------
EBS_STORAGE_CLASS = "gp3"
"""The EBS CSI driver's default class (EbsCsi); Prometheus, Alertmanager and Loki claim volumes of it."""
KIND_STORAGE_CLASS = "standard"
"""kind's local-path provisioner: the same claims on the kind target."""

# --- node ports and APIs ----------------------------------------------------------------------------
HTTP_NODE_PORT, HTTPS_NODE_PORT = 30080, 30443
"""NodePorts the ingress gateway listens on in kind; kind's host port mappings point at them."""
NODE_POOL_API = "karpenter.sh/v1"
"""Karpenter's NodePool API (Karpenter's pools and each team's own pool)."""


# --- access entries ---------------------------------------------------------------------------------
ACCESS_ENTRY_HOMES = {
    "admin": ("platform:eks:Cluster", "cluster", "admin-{slug}"),
    "viewer": ("platform:eks:Cluster", "cluster", "viewer-{slug}"),
    "team": ("platform:tenancy:Teams", "teams", "access-{slug}"),
}
"""Where a principal's access entry may live: its role -> (parent component type, component name after
``<stack>-``, child name after ``<component name>-``). EKS allows one access entry per principal (EKS user
guide, access-entries: "an IAM principal can only have one access entry"), so a principal that moves
between these homes must stay one resource: each home aliases the others (``access_entry_aliases``)
and the move is an update of the entry, not a create that EKS refuses with ResourceInUseException."""


def access_entry_aliases(stack: str, home: str, arn: str) -> list[pulumi.Alias]:
    """The URNs a principal's entry in ``home`` may have had in the other homes (their aliases)."""
    slug = principal_slug(arn)
    aliases = []
    for other, (type_, component, child) in ACCESS_ENTRY_HOMES.items():
        if other == home:
            continue
        # a top-level component's URN (the stack's root is not part of it; tests/golden/urns/dev.txt)
        parent = f"urn:pulumi:{stack}::{PROJECT}::{type_}::{stack}-{component}"
        aliases.append(pulumi.Alias(name=f"{stack}-{component}-{child.format(slug=slug)}", parent=parent))
    return aliases


def principal_slug(arn: str) -> str:
    """``arn:aws:iam::123456789012:role/team/Admin`` -> ``123456789012-role-team-Admin``: the stable,
    readable logical name of a principal's access entry (cluster admins and viewers, teams; URNs may not
    contain '::')."""
    return arn.split("::", 1)[1].replace(":", "-").replace("/", "-")
