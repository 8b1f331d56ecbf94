"""Settings of traffic: the AWS Load Balancer Controller (EKS) and the Istio mesh (EKS and kind).

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from settings.base import Model, invalid, tiered
from settings.types import between, dns_label

GatewayScheme = Literal["internet-facing", "internal"]
# Namespaces the platform owns: injection and PERMISSIVE exceptions are for application namespaces.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-ingress")


class LoadBalancerControllerSettings(Model):
    """The AWS Load Balancer Controller: ALBs for Ingresses, NLBs for LoadBalancer Services (EKS only)."""

    enabled: bool = True
    """Install it (EKS only; refused on kind)."""
    replicas: between(1, 3) = 2
    """Controller pods, spread across zones, with a PodDisruptionBudget of maxUnavailable 1."""
    default_ingress_class: bool = True
    """Make the 'alb' IngressClass the cluster's default (Ingresses without ingressClassName use it)."""


class IstioSettings(Model):
    """Istio in sidecar mode: base, istiod and an ingress gateway in istio-ingress."""

    enabled: bool = True
    """Install Istio (EKS and kind)."""
    gateway_scheme: GatewayScheme = "internet-facing"
    """The gateway's NLB on EKS: internet-facing (public subnets) or internal (private subnets)."""
    access_logs: bool = False
    """Envoy access logs to stdout for every proxy (meshConfig.accessLogFile)."""
    istiod_replicas: between(1, 5) = tiered(dev=1, staging=1, prod=2)
    """istiod pods; with two or more, a PodDisruptionBudget keeps one up during node drains."""
    injected_namespaces: list[dns_label(63)] = Field(default_factory=list)
    """Namespaces the platform creates with sidecar injection on (istio-injection=enabled)."""
    permissive_namespaces: list[dns_label(63)] = Field(default_factory=list)
    """Injected namespaces that also accept plain-text traffic (PeerAuthentication PERMISSIVE), for
    migrations; the mesh is STRICT everywhere else."""
    gateway_tls_secret: dns_label(63) | None = None
    """A kubernetes.io/tls Secret in istio-ingress holding the certificate of the platform's routes (Grafana,
    Argo CD): the gateway then serves them on HTTPS 443 and redirects HTTP. Without it they are plain HTTP,
    which prod refuses."""

    @model_validator(mode="after")
    def _namespaces(self) -> IstioSettings:
        for key, names in (("injectedNamespaces", self.injected_namespaces),
                           ("permissiveNamespaces", self.permissive_namespaces)):
            if len(set(names)) != len(names):
                raise invalid(key, "list each namespace once")
            reserved = sorted(set(names) & set(RESERVED_NAMESPACES))
            if reserved:
                raise invalid(key, "{reserved} belong to Kubernetes or the platform; list application namespaces",
                              reserved=reserved)
        stray = sorted(set(self.permissive_namespaces) - set(self.injected_namespaces))
        if stray:
            raise invalid("permissiveNamespaces", "{stray} are not in injectedNamespaces: a PERMISSIVE exception "
                          "only makes sense for a namespace in the mesh", stray=stray)
        return self


class TrafficSettings(Model):
    load_balancer_controller: LoadBalancerControllerSettings = Field(default_factory=LoadBalancerControllerSettings)
    """AWS Load Balancer Controller (EKS only)."""
    istio: IstioSettings = Field(default_factory=IstioSettings)
    """Istio service mesh and ingress gateway."""
