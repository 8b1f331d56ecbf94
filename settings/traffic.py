"""Settings of traffic: the AWS Load Balancer Controller (EKS) and the Istio mesh (EKS and kind).

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from settings.base import Model, invalid, tiered
from settings.types import (
    PLATFORM_NAMESPACES,
    CpuQuantity,
    Hostname,
    Memory,
    between,
    check_limits_cover_requests,
    dns_label,
)

GatewayScheme = Literal["internet-facing", "internal"]
GatewayService = Literal["load-balancer", "cluster-ip"]
# Namespaces the platform owns: injection and PERMISSIVE exceptions are for application namespaces.
RESERVED_NAMESPACES = PLATFORM_NAMESPACES


Exposure = Literal["port-forward", "istio", "alb"]
AlbScheme = Literal["internal", "internet-facing"]
ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")


class ExposureSettings(Model):
    """How a platform UI (Grafana, Argo CD) is reached. Port-forward always works; istio and alb add a route
    by host name."""

    exposure: Exposure = "port-forward"
    """port-forward (no route: kubectl port-forward), istio (a VirtualService on the Istio ingress gateway) or
    alb (an ALB Ingress, EKS only)."""
    hostname: Hostname | None = None
    """DNS name the UI answers on (istio and alb): point it at the gateway's NLB or the ALB."""
    alb_scheme: AlbScheme = "internal"
    """The ALB's scheme with exposure alb: internal (reached from the VPC and peered networks) or internet-facing."""
    certificate_arn: str | None = None
    """ACM certificate ARN for HTTPS on the ALB (exposure alb); without it the ALB listens on HTTP only."""

    @model_validator(mode="after")
    def _route(self) -> ExposureSettings:
        if self.exposure != "port-forward" and self.hostname is None:
            raise invalid("hostname", "exposure {exposure} routes by host name: set hostname (like "
                          "ui.example.com), or use exposure port-forward", exposure=self.exposure)
        if self.exposure != "alb" and (self.certificate_arn or "alb_scheme" in self.model_fields_set):
            raise invalid("certificateArn" if self.certificate_arn else "albScheme",
                          "only applies with exposure alb (it is {exposure})", exposure=self.exposure)
        if self.exposure == "alb" and self.alb_scheme == "internet-facing" and not self.certificate_arn:
            # an admin login would cross the internet in clear
            raise invalid("certificateArn", "an internet-facing ALB needs HTTPS: set certificateArn (an ACM "
                          "certificate for {host}), or use albScheme internal", host=self.hostname)
        if self.certificate_arn and not ACM_ARN.match(self.certificate_arn):
            raise invalid("certificateArn", "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:"
                          "certificate/<id>)")
        return self


class LoadBalancerControllerSettings(Model):
    """The AWS Load Balancer Controller: ALBs for Ingresses, NLBs for LoadBalancer Services (EKS only)."""

    enabled: bool = True
    """Install it (EKS only; refused on kind)."""
    replicas: between(1, 3) = 2
    """Controller pods, spread across zones, with a PodDisruptionBudget of maxUnavailable 1."""
    default_ingress_class: bool = True
    """Make the 'alb' IngressClass the cluster's default (Ingresses without ingressClassName use it)."""


# Where istiod's injector pulls the sidecar image from: ``<global.hub>/<global.proxy.image>:<global.tag>``
# (istiod chart 1.31.1 files/injection-template.yaml, containers istio-validation and istio-proxy, image
# ``.ProxyImage``). The chart in the source tree says hub registry.istio.io/testing, tag latest (values.yaml
# global.hub; Chart.yaml: "istio/release-builder will replace it at build-time"), so the platform sets both
# to what releases publish: docker.io/istio (values.yaml: "Releases are published to docker hub under
# 'istio' project") and the chart's version.
MESH_HUB = "docker.io/istio"
MESH_PROXY_IMAGE = "proxyv2"


class ProxyResources(Model):
    """Resources of the sidecar istiod injects, and of its istio-validation init container (istiod
    values ``global.proxy.resources``; both containers use them: files/injection-template.yaml). The
    chart's default (requests 100m/128Mi, limits 2 CPU/1Gi) counts 2 CPU of limits.cpu per pod in a team's
    quota; these are sized so a team's default quota holds its pods with their sidecars."""

    requests_cpu: CpuQuantity = tiered(dev="50m", staging="100m", prod="100m")
    """CPU request of each sidecar."""
    requests_memory: Memory = tiered(dev="64Mi", staging="128Mi", prod="128Mi")
    """Memory request of each sidecar."""
    limits_cpu: CpuQuantity = tiered(dev="250m", staging="500m", prod="500m")
    """CPU limit of each sidecar."""
    limits_memory: Memory = tiered(dev="256Mi", staging="512Mi", prod="512Mi")
    """Memory limit of each sidecar."""

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ProxyResources:
        check_limits_cover_requests(self)
        return self

    def values(self) -> dict[str, dict[str, str]]:
        """istiod's ``global.proxy.resources``."""
        return {"requests": {"cpu": self.requests_cpu, "memory": self.requests_memory},
                "limits": {"cpu": self.limits_cpu, "memory": self.limits_memory}}


class IstioSettings(Model):
    """Istio in sidecar mode: base, istiod and an ingress gateway in istio-ingress."""

    enabled: bool = True
    """Install Istio (EKS and kind)."""
    gateway_service: GatewayService = tiered(dev="cluster-ip", staging="load-balancer", prod="load-balancer")
    """The gateway's Service on EKS: load-balancer (an NLB, made by the load balancer controller) or cluster-ip
    (no load balancer: reach it with kubectl -n istio-ingress port-forward svc/istio-ingressgateway 8080:80). dev
    defaults to cluster-ip: the NLB and its public addresses are $23.73 of its month."""
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
    proxy: ProxyResources = Field(default_factory=ProxyResources)
    """Resources of every injected sidecar (tier defaults; a team's quota must hold them)."""
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
