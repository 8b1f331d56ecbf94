"""The platform's own routes through the Istio ingress gateway: Grafana and Argo CD by host name.

Comes after Istio (its CRDs and the gateway) and after the add-ons whose Services it routes to, so on
destroy the routes go first. One ``Gateway`` in the gateway's namespace lists every platform host; each
route is a ``VirtualService`` beside its Service. With ``traffic.istio.gatewayTlsSecret`` the gateway serves
HTTPS on 443 with that certificate (``credentialName``: a Secret in the gateway's namespace) and answers
HTTP with a redirect; without it the routes are plain HTTP (refused in prod by the settings).

Facts relied on: Istio networking/v1 Gateway ``servers[].{port, hosts, tls.mode SIMPLE, tls.credentialName,
tls.httpsRedirect}`` and VirtualService ``gateways: [<namespace>/<gateway>]`` for a gateway in another
namespace (istio.io reference, networking/gateway and virtual-service); the objects validate against
``crd-all.gen.yaml`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from components.core.names import (
    ARGOCD_NAMESPACE,
    ARGOCD_RELEASE,
    GATEWAY_NAMESPACE,
    MONITORING_NAMESPACE,
    MONITORING_RELEASE,
)
from settings import gates

TYPE = "platform:traffic:Routes"
NETWORKING_API = "networking.istio.io/v1"
GATEWAY_NAME = "platform"
# Istio's custom resources (the same budget as components/traffic/istio.py gives its own)
CR_TIMEOUTS = pulumi.CustomTimeouts(create="5m", update="5m", delete="5m")
# the gateway release's pods (components/traffic/istio.py: release istio-ingressgateway)
GATEWAY_SELECTOR = {"istio": "ingressgateway"}


@dataclass(frozen=True, kw_only=True)
class Route:
    """One host routed to one Service."""

    key: str
    """Stable name of the route (its resources are named after it)."""
    hostname: str
    """Host name the route answers on."""
    namespace: str
    """Namespace of the Service (the VirtualService goes there)."""
    service: str
    """Service name."""
    port: int
    """Service port."""


@dataclass(frozen=True, kw_only=True)
class RoutesArgs:
    cluster: ClusterHandle
    """EKS or kind: the gateway is an NLB or the NodePorts kind maps to localhost."""
    routes: tuple[Route, ...]
    """The routes, keyed by ``key``."""
    tls_secret: str | None = None
    """kubernetes.io/tls Secret in the gateway's namespace: HTTPS on 443, HTTP redirects."""

    def __post_init__(self) -> None:
        keys = [r.key for r in self.routes]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError(f"routes need unique keys, got {keys}")


def gateway_servers(hosts: list[str], tls_secret: str | None) -> list[dict]:
    if tls_secret is None:
        return [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": hosts}]
    return [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": hosts, "tls": {"httpsRedirect": True}},
        {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": hosts,
         "tls": {"mode": "SIMPLE", "credentialName": tls_secret}},
    ]


class Routes(PlatformComponent):
    gateway: k8s.apiextensions.CustomResource
    virtual_services: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: RoutesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster = args.cluster
        cr_opts = cluster.k8s_opts(pulumi.ResourceOptions(custom_timeouts=CR_TIMEOUTS))
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway", api_version=NETWORKING_API, kind="Gateway",
            metadata={"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE},
            spec={"selector": dict(GATEWAY_SELECTOR),
                  "servers": gateway_servers(sorted(r.hostname for r in args.routes), args.tls_secret)},
            opts=child_opts(self, cr_opts))
        self.virtual_services = {
            route.key: k8s.apiextensions.CustomResource(
                f"{name}-{route.key}", api_version=NETWORKING_API, kind="VirtualService",
                metadata={"name": route.key, "namespace": route.namespace},
                spec={"hosts": [route.hostname], "gateways": [f"{GATEWAY_NAMESPACE}/{GATEWAY_NAME}"],
                      "http": [{"route": [{"destination": {
                          "host": f"{route.service}.{route.namespace}.svc.cluster.local",
                          "port": {"number": route.port}}}]}]},
                opts=child_opts(self, cr_opts))
            for route in args.routes}
        self.register_outputs({"hosts": {r.key: r.hostname for r in args.routes},
                               "https": args.tls_secret is not None})


def platform_routes(settings) -> tuple[Route, ...]:
    """The routes the settings ask for (exposure istio)."""
    routes = []
    grafana = settings.observability.grafana
    if settings.observability.metrics.enabled and grafana.exposure == "istio":
        # kube-prometheus-stack's Grafana Service: <fullnameOverride>-grafana, port 80
        routes.append(Route(key="grafana", hostname=grafana.hostname, namespace=MONITORING_NAMESPACE,
                            service=f"{MONITORING_RELEASE}-grafana", port=80))
    argocd = settings.argocd
    if argocd.enabled and argocd.exposure.exposure == "istio":
        # the argo-cd chart's server Service: argocd-server, port 80 (server.insecure: TLS ends at the gateway)
        routes.append(Route(key="argocd", hostname=argocd.exposure.hostname, namespace=ARGOCD_NAMESPACE,
                            service=f"{ARGOCD_RELEASE}-server", port=80))
    return tuple(routes)


class RoutesAddOn(AddOn):
    """Host routes for the platform's UIs through the Istio ingress gateway."""

    key = "routes"
    gate = gates.ROUTES

    @classmethod
    def enabled(cls, settings):
        return settings.traffic.istio.enabled and bool(platform_routes(settings))

    @classmethod
    def build(cls, name, cluster, settings):
        return Routes(name, RoutesArgs(cluster=cluster, routes=platform_routes(settings),
                                       tls_secret=settings.traffic.istio.gateway_tls_secret))
