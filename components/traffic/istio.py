"""Istio in sidecar mode: the ``base`` chart (CRDs), ``istiod``, and an ingress gateway, on EKS and kind.

Comes after compute and, on EKS, after the AWS Load Balancer Controller: the gateway's LoadBalancer
Service must be created while the controller's mutating webhook runs (it only acts on create), and
destroy must delete the Service (and so its NLB) while the controller is still there. Inside, each
chart waits for the previous one: base, then istiod (its injector and validating webhooks), then
the gateway (its pods are injected from the gateway template) and the mesh's own custom resources.

Facts relied on (istio/istio manifests/charts @ the 1.31 line; values sit under
``_internal_defaults_do_not_set`` in each values.yaml and are set at the top level):
- istiod: ``replicaCount``, ``autoscaleEnabled``, ``resources``, ``nodeSelector``, ``tolerations``,
  ``meshConfig.accessLogFile``, ``pdb.minAvailable`` and ``global.defaultPodDisruptionBudget.enabled``;
  its Service exposes the monitoring port 15014 (http-monitoring) that a ServiceMonitor can scrape;
- gateway: ``service.type``, ``service.ports`` (status-port 15021, http2 80, https 443),
  ``service.annotations``; its pods carry prometheus.io scrape annotations for the merged metrics on
  15020; the gateway needs istiod's injector first (charts/gateway README);
- NLB annotations of the load balancer controller (docs/guide/service/annotations.md):
  ``service.beta.kubernetes.io/aws-load-balancer-type: external``, ``...-nlb-target-type: ip``,
  ``...-scheme``, and ``...-attributes: load_balancing.cross_zone.enabled=true``.
Monitors (when monitoring is on, after the prometheus-operator CRDs: the add-on comes after
``MonitoringCrdsAddOn``), as Istio documents them for the Prometheus Operator (istio.io docs
ops/integrations/prometheus and samples/addons/extras/prometheus-operator.yaml); the 1.31 charts have
no switch for them (istiod's chart gains ``serviceMonitor.enabled`` on master after 2026-08-22, not on
release-1.31: move to it when a pinned release has it):
- a ServiceMonitor for istiod's Service, which carries ``app: istiod`` and ``istio: pilot`` (no
  revision is set) and names port 15014 ``http-monitoring``
  (manifests/charts/istio-control/istio-discovery/templates/service.yaml @ release-1.31);
- a PodMonitor for every sidecar and gateway: Envoy's own stats on the ``istio-proxy`` container port
  ``http-envoy-prom`` (15090), path ``/stats/prometheus``, declared by the injection template
  (istio-discovery/files/injection-template.yaml) and the gateway chart (gateway/templates/deployment.yaml).
  That port carries the Istio standard metrics and is excluded from inbound capture, so plain HTTP
  works under STRICT mTLS (istio.io docs tasks/observability/metrics/secure-metrics: "Envoy-only port
  (15090)"); the merged port 15020 would add application metrics, which apps scrape with monitors of
  their own. Pods labelled ``istio-prometheus-ignore`` are left out, as in Istio's sample.
Injection uses the ``istio-injection=enabled`` label: one revision is installed, and revision labels
(``istio.io/rev``) only pay off for canary upgrades of the control plane, at the cost of relabelling
every namespace; moving to them later is a label change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

import versions
from components.core import helm
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from components.core.names import (
    GATEWAY,
    GATEWAY_NAMESPACE,
    HTTP_NODE_PORT,
    HTTPS_NODE_PORT,
    INJECTION,
    ISTIO_NAMESPACE,
)
from settings import gates
from settings.traffic import MESH_HUB, IstioSettings

TYPE = "platform:traffic:Istio"
SYSTEM_NAMESPACE = ISTIO_NAMESPACE
CNI_NAMESPACE = "kube-system"
SECURITY_API = "security.istio.io/v1"
NLB = "service.beta.kubernetes.io/aws-load-balancer"
CR_TIMEOUTS = pulumi.CustomTimeouts(create="5m", update="5m", delete="5m")
MONITORING_API = "monitoring.coreos.com/v1"
# istiod's Service labels and monitoring port name (istio-discovery templates/service.yaml)
ISTIOD_SELECTOR = {"app": "istiod", "istio": "pilot"}
ISTIOD_MONITORING_PORT = "http-monitoring"
ENVOY_STATS_PORT, ENVOY_STATS_PATH = "http-envoy-prom", "/stats/prometheus"


@dataclass(frozen=True, kw_only=True)
class IstioArgs:
    cluster: ClusterHandle
    """EKS (NLB gateway) or kind (NodePort gateway on the ports kind maps to localhost)."""
    settings: IstioSettings
    """Gateway scheme, istiod replicas, access logs, injected and PERMISSIVE namespaces."""
    monitors: bool = False
    """Create the monitors of istiod and of the sidecars and gateways (monitoring is on and its CRDs come first)."""


def istiod_values(cluster: ClusterHandle, s: IstioSettings) -> dict[str, Any]:
    values: dict[str, Any] = {
        "replicaCount": s.istiod_replicas,
        # a fixed count: the platform sizes it per tier (HPA off keeps replicas where they are set)
        "autoscaleEnabled": False,
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "nodeSelector": dict(cluster.system_node_selector),
        "tolerations": list(cluster.system_tolerations),
        "meshConfig": {"accessLogFile": "/dev/stdout" if s.access_logs else ""},
        # a budget only makes sense with a second replica to fall back on
        "global": {"defaultPodDisruptionBudget": {"enabled": s.istiod_replicas > 1},
                   # the images releases publish (settings/traffic.py MESH_HUB: the chart's own hub and tag are
                   # placeholders the release builder replaces), so the injected image is known to Kyverno's
                   # registry check; and the sidecar's resources (global.proxy.resources, values.yaml line 399
                   # of istiod-1.31.1: default limits 2 CPU/1Gi), sized per tier so team quotas hold their pods
                   "hub": MESH_HUB, "tag": versions.CHARTS["istiod"].version,
                   # the injected istio-proxy and istio-validation containers run with the runtime's default
                   # seccomp profile (global.proxy.seccompProfile, values.yaml line 374: empty by default), so a
                   # restricted namespace admits them without the app setting a pod-level profile for them
                   "proxy": {"resources": s.proxy.values(), "seccompProfile": {"type": "RuntimeDefault"}}},
        # inject without istio-init: the CNI node agent (the istio-cni release) redirects the pods' traffic
        "cni": {"enabled": True},
    }
    if s.istiod_replicas > 1:
        values["pdb"] = {"minAvailable": 1}
    return values


def gateway_values(cluster: ClusterHandle, s: IstioSettings) -> dict[str, Any]:
    status = {"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021}
    if cluster.aws is None:
        # kind: NodePorts that the kind cluster maps to 127.0.0.1 (components/cluster/kind.py)
        service: dict[str, Any] = {"type": "NodePort", "ports": [
            status,
            {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": HTTP_NODE_PORT},
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443, "nodePort": HTTPS_NODE_PORT}]}
    elif s.gateway_service == "cluster-ip":
        # no load balancer (dev's default): kubectl port-forward reaches it; the chart's ports stay
        service = {"type": "ClusterIP"}
    else:
        service = {"type": "LoadBalancer", "annotations": {
            f"{NLB}-type": "external",
            f"{NLB}-nlb-target-type": "ip",
            f"{NLB}-scheme": s.gateway_scheme,
            f"{NLB}-attributes": "load_balancing.cross_zone.enabled=true",
        }}
    autoscaled = cluster.aws is not None
    min_replicas = 2 if cluster.az_count > 1 else 1
    return {
        "name": GATEWAY,
        "service": service,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
        "autoscaling": {"enabled": autoscaled, "minReplicas": min_replicas, "maxReplicas": 5},
        # a budget only where two or more replicas run: the chart allows one only then (gateway values.yaml)
        **({"podDisruptionBudget": {"minAvailable": 1}} if autoscaled and min_replicas > 1 else {}),
        # on shared system nodes (cluster.sharedSystemNodes) the gateway may run there too
        **({"tolerations": list(cluster.shared_tolerations)} if cluster.shared_tolerations else {}),
    }


class Istio(PlatformComponent):
    base: k8s.helm.v3.Release
    cni: k8s.helm.v3.Release
    istiod: k8s.helm.v3.Release
    gateway: k8s.helm.v3.Release
    namespaces: dict[str, k8s.core.v1.Namespace]
    monitors: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: IstioArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, s = args.cluster, args.settings
        # istiod and the gateway need no host access or extra capabilities (the CNI node agent, which does,
        # runs in kube-system)
        system = helm.namespace(f"{name}-system", self, cluster, SYSTEM_NAMESPACE,
                                labels=helm.pod_security("baseline"))
        self.base = helm.release(f"{name}-base", self, cluster, "istio-base", namespace=system.metadata.name,
                                 release_name="istio-base", values={})
        # the CNI node agent sets up each injected pod's traffic redirection, so pods need no istio-init
        # container with NET_ADMIN and NET_RAW, which Pod Security baseline and restricted refuse (istio.io,
        # "Install Istio with Pod Security Admission" and "Istio CNI node agent"). A privileged DaemonSet on
        # every node, in kube-system as the chart's README recommends (its system-node-critical priority
        # class); kube-system has no Pod Security label and Kyverno excludes it.
        self.cni = helm.release(f"{name}-cni", self, cluster, "istio-cni", namespace=CNI_NAMESPACE,
                                release_name="istio-cni", values={},
                                # its CRDs (and the mesh's roles) come with base
                                opts=pulumi.ResourceOptions(depends_on=[self.base]))
        self.istiod = helm.release(f"{name}-istiod", self, cluster, "istiod", namespace=system.metadata.name,
                                   values=istiod_values(cluster, s),
                                   # its CRDs come with base; and pods it injects without istio-init need the
                                   # CNI agent on their node first
                                   opts=pulumi.ResourceOptions(depends_on=[self.base, self.cni]))
        ingress = helm.namespace(f"{name}-ingress", self, cluster, GATEWAY_NAMESPACE,
                                 labels=helm.pod_security("baseline"))
        self.gateway = helm.release(f"{name}-gateway", self, cluster, "istio-gateway",
                                    namespace=ingress.metadata.name, release_name=GATEWAY,
                                    values=gateway_values(cluster, s),
                                    # its pods are injected by istiod's webhook, from the gateway template;
                                    # on EKS they run on Karpenter's nodes (no system toleration): after the
                                    # NodePools (the registry's partly_after)
                                    opts=pulumi.ResourceOptions(depends_on=[self.istiod, *cluster.late_readiness]))
        after_istiod = pulumi.ResourceOptions(depends_on=[self.istiod], custom_timeouts=CR_TIMEOUTS)
        # mutual TLS everywhere in the mesh; namespaces listed as permissive accept plain text too
        k8s.apiextensions.CustomResource(
            f"{name}-mtls", api_version=SECURITY_API, kind="PeerAuthentication",
            metadata={"name": "default", "namespace": SYSTEM_NAMESPACE}, spec={"mtls": {"mode": "STRICT"}},
            opts=child_opts(self, cluster.k8s_opts(after_istiod)))
        self.namespaces = {}
        for namespace in s.injected_namespaces:
            # with the CNI agent, injected pods meet baseline (the sidecar and its istio-validation init container
            # run as 1337 without extra capabilities) and, with their RuntimeDefault seccomp profile, restricted
            # as far as the injected containers go (tests/policy/test_admission.py)
            self.namespaces[namespace] = helm.namespace(f"{name}-ns-{namespace}", self, cluster, namespace,
                                                        labels={**INJECTION, **helm.pod_security("baseline")})
        for namespace in s.permissive_namespaces:
            k8s.apiextensions.CustomResource(
                f"{name}-permissive-{namespace}", api_version=SECURITY_API, kind="PeerAuthentication",
                metadata={"name": "default", "namespace": self.namespaces[namespace].metadata.name},
                spec={"mtls": {"mode": "PERMISSIVE"}}, opts=child_opts(self, cluster.k8s_opts(after_istiod)))
        self.monitors = monitors(name, self, cluster, system.metadata.name) if args.monitors else {}
        self.register_outputs({
            "chart_version": versions.CHARTS["istiod"].version,
            "monitors": list(self.monitors),
            "gateway_exposure": exposure(cluster, s),
            "injected_namespaces": list(s.injected_namespaces),
        })


def monitors(name: str, parent: pulumi.Resource, cluster: ClusterHandle,
             namespace: pulumi.Input[str]) -> dict[str, k8s.apiextensions.CustomResource]:
    """istiod's ServiceMonitor and the mesh's PodMonitor, in istio-system (Prometheus selects monitors
    in every namespace: serviceMonitorSelectorNilUsesHelmValues false in components/observability/monitoring.py)."""
    istiod = k8s.apiextensions.CustomResource(
        f"{name}-istiod-monitor", api_version=MONITORING_API, kind="ServiceMonitor",
        metadata={"name": "istiod", "namespace": namespace},
        spec={"selector": {"matchLabels": dict(ISTIOD_SELECTOR)},
              "namespaceSelector": {"matchNames": [SYSTEM_NAMESPACE]},
              "endpoints": [{"port": ISTIOD_MONITORING_PORT, "path": "/metrics", "interval": "30s"}]},
        opts=child_opts(parent, cluster.k8s_opts()))
    proxies = k8s.apiextensions.CustomResource(
        f"{name}-proxies-monitor", api_version=MONITORING_API, kind="PodMonitor",
        metadata={"name": "istio-proxies", "namespace": namespace},
        spec={"selector": {"matchExpressions": [{"key": "istio-prometheus-ignore", "operator": "DoesNotExist"}]},
              "namespaceSelector": {"any": True},
              "podMetricsEndpoints": [{"port": ENVOY_STATS_PORT, "path": ENVOY_STATS_PATH, "interval": "30s"}]},
        opts=child_opts(parent, cluster.k8s_opts()))
    return {"istiod": istiod, "proxies": proxies}


def exposure(cluster: ClusterHandle, s: IstioSettings) -> str:
    if cluster.aws is None:
        return f"NodePort {HTTP_NODE_PORT}/{HTTPS_NODE_PORT} (kind maps them to 127.0.0.1)"
    if s.gateway_service == "cluster-ip":
        return "ClusterIP (no load balancer): kubectl -n istio-ingress port-forward svc/istio-ingressgateway 8080:80"
    return f"NLB {s.gateway_scheme}, target type ip, cross-zone"


class IstioAddOn(AddOn):
    """The service mesh and the ingress gateway, on EKS and kind."""

    key = "istio"
    gate = gates.ISTIO

    @classmethod
    def build(cls, name, cluster, settings):
        return Istio(name, IstioArgs(cluster=cluster, settings=settings.traffic.istio,
                                     monitors=settings.observability.metrics.enabled))

