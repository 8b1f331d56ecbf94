"""Kyverno (in-cluster policy) and the platform's baseline policies, on EKS and kind.

Comes after compute (its controllers run on the system nodes) and after the prometheus-operator
CRDs when monitoring is on (the chart's ServiceMonitors). Inside: the kyverno namespace, the chart
(which installs Kyverno's CRDs itself), then the configured PolicyExceptions, then the baseline
ValidatingPolicies (components/policy/policies.py). Destroy runs backwards: policies first, while
Kyverno still runs, then the release, whose pre-delete hook removes Kyverno's webhooks.

Facts relied on (kyverno/kyverno @ v1.19.0, chart 3.9.0, charts/kyverno/values.yaml unless named):
- CRDs: the chart's ``crds`` subchart carries the kyverno.io ones (ClusterPolicy, ...), and its remote
  ``kyverno-api`` subchart (https://kyverno.github.io/api, 0.0.1-alpha.4) the policies.kyverno.io ones
  this platform uses (ValidatingPolicy, PolicyException); both install with ``crds.install`` (Chart.yaml
  dependencies). The chart published in the repository carries both, so one release brings them, and every
  policy and exception depends on the release: no policy is sent before its CRD exists. The archive the
  offline tests render lacks ``kyverno-api`` (charts/manifest.json ``not_vendored``); its CRDs are in the
  upstream folder ``kyverno/`` (policies.kyverno.io_*.yaml), which the tests validate against. Helm
  upgrades them with the chart; it does not use client-side apply's last-applied annotation, so the CRDs'
  size is no obstacle. One release, one pin: no separate CRD step.
- Moving from kyverno.io/v1 ClusterPolicies (before issue 21) to ValidatingPolicies: the new objects are
  new resources (another type), and Pulumi deletes the resources a program no longer declares only after
  every create of the update. So one ``pulumi up`` creates the ValidatingPolicies while the ClusterPolicies
  still enforce, then deletes the ClusterPolicies: no moment without a policy. Both report for that moment.
- Resource webhooks: Kyverno builds a ``-fail`` and an ``-ignore`` webhook from the ValidatingPolicies by
  their ``failurePolicy``, with the namespaceSelector of each policy's matchConstraints
  (pkg/controllers/webhook, buildWebhookRules, resolveNamespaceSelector; read from Kyverno's source through
  the code search, not at the v1.19.0 tag, which was not available offline). The Fail (Deny) half matches team
  namespaces only (``platform.eks/team`` exists) and never the platform's own: a broken Kyverno refuses
  team workloads and nothing else. ``config.webhooks`` keeps the same selector for the webhooks Kyverno
  builds from its own configuration (the kyverno.io ones). Elsewhere the Audit policies run in the background scan
  (``features.backgroundScan``, hourly) and report, without any webhook in the request path.
- ``config.webhooks`` replaces the chart default (which only excluded kube-system), and with
  ``config.excludeKyvernoNamespace`` the chart appends the kyverno namespace to it
  (templates/config/_helpers.tpl, kyverno.config.webhooks). ``config.resourceFiltersIncludeNamespaces``
  adds ``[*/*,<namespace>,*]`` filters; the background scan skips filters, so policies exclude the
  same namespaces too.
- ``global.nodeSelector`` and ``global.tolerations`` reach the four controllers and the hook Jobs.
- ``<controller>.podDisruptionBudget`` (always created with more than one replica);
  ``<controller>.serviceMonitor.enabled``; ``grafana.enabled`` ships the Kyverno dashboard (policy
  results of admission and background scans) as a ConfigMap labelled ``grafana_dashboard: "1"``,
  the label kube-prometheus-stack's Grafana sidecar loads from every namespace
  (kube-prometheus-stack 88.5.3 values.yaml, grafana.sidecar.dashboards.label and searchNamespace ALL).
- ``features.policyExceptions``: off by default; on here, accepted from the kyverno namespace only,
  so exceptions are the platform's (config) and never a team's own.
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
    ARGOCD_NAMESPACE,
    GATEWAY_NAMESPACE,
    ISTIO_NAMESPACE,
    KYVERNO_NAMESPACE,
    LOGGING_NAMESPACE,
    MONITORING_NAMESPACE,
    TEAM_LABEL,
)
from components.policy.policies import baseline, policy_exception
from settings import gates
from settings.kyverno import KyvernoSettings

TYPE = "platform:policy:Kyverno"
CHART = "kyverno"
NAMESPACE = KYVERNO_NAMESPACE
# Namespaces the chart's default resource filters already skip (and its own, excludeKyvernoNamespace).
CHART_FILTERED = ("kube-system", "kube-public", "kube-node-lease", NAMESPACE)
# Kubernetes' and the platform's namespaces: never matched by a policy nor sent to a webhook.
# Karpenter runs in kube-system.
# (logging: Fluent Bit reads the nodes' /var/log through hostPath volumes)
PLATFORM_NAMESPACES = (*CHART_FILTERED, MONITORING_NAMESPACE, ISTIO_NAMESPACE, GATEWAY_NAMESPACE, ARGOCD_NAMESPACE,
                       LOGGING_NAMESPACE)
KIND_NAMESPACES = ("local-path-storage",)  # kind's volume provisioner (hostPath by design)
CONTROLLERS = ("admissionController", "backgroundController", "cleanupController", "reportsController")
# Sized above the chart's defaults: the reports controller holds every report in memory and
# OOMs at the default 128Mi in clusters with many workloads; the admission controller caches
# policies and the resources they look at.
RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "admissionController": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "768Mi"}},
    "backgroundController": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "384Mi"}},
    "cleanupController": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    "reportsController": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
}
CR_TIMEOUTS = pulumi.CustomTimeouts(create="5m", update="5m", delete="5m")


def excluded_namespaces(cluster: ClusterHandle) -> tuple[str, ...]:
    return PLATFORM_NAMESPACES + (KIND_NAMESPACES if cluster.aws is None else ())


@dataclass(frozen=True, kw_only=True)
class KyvernoArgs:
    cluster: ClusterHandle
    """EKS or kind; the controllers run on its system nodes."""
    settings: KyvernoSettings
    """Replicas, allowed registries and exceptions."""
    monitoring: bool = False
    """Monitoring is on: ServiceMonitors (after the prometheus-operator CRDs) and the Grafana dashboard."""


def _controller(name: str, replicas: int, monitoring: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"replicas": replicas, "serviceMonitor": {"enabled": monitoring}}
    resources = RESOURCES[name]
    if name == "admissionController":
        values["container"] = {"resources": resources}
    else:
        values["resources"] = resources
    if replicas > 1:
        component = {"admissionController": "admission-controller", "backgroundController": "background-controller",
                     "cleanupController": "cleanup-controller", "reportsController": "reports-controller"}[name]
        # the admission controller serves the fail-closed webhook: keep all but one replica through
        # drains; an unhealthy pod never holds a drain
        values["podDisruptionBudget"] = {"enabled": True, "minAvailable": replicas - 1,
                                         "unhealthyPodEvictionPolicy": "AlwaysAllow"}
        # the chart already prefers one replica per host; spread over zones as well (its pods' match
        # labels: templates/<controller>/_helpers.tpl, kyverno.matchLabels.common)
        values["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": CHART,
                                              "app.kubernetes.io/component": component}}}]
    return values


def chart_values(cluster: ClusterHandle, s: KyvernoSettings, *, monitoring: bool) -> dict[str, Any]:
    """Values of the kyverno chart; every key path exists in its values.yaml (tests check)."""
    excluded = excluded_namespaces(cluster)
    replicas = {"admissionController": s.admission_replicas, **{c: s.controller_replicas for c in CONTROLLERS[1:]}}
    return {
        "global": {"nodeSelector": dict(cluster.system_node_selector),
                   "tolerations": [dict(t) for t in cluster.system_tolerations]},
        "crds": {"install": True},
        "config": {
            # admission webhooks (the fail-closed ones included) see team namespaces only
            "webhooks": {"namespaceSelector": {"matchExpressions": [
                {"key": TEAM_LABEL, "operator": "Exists"},
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": sorted(excluded)},
            ]}},
            "resourceFiltersIncludeNamespaces": sorted(set(excluded) - set(CHART_FILTERED)),
        },
        "features": {"policyExceptions": {"enabled": True, "namespace": NAMESPACE}},
        **{name: _controller(name, replicas[name], monitoring) for name in CONTROLLERS},
        "grafana": {"enabled": monitoring},
    }


class Kyverno(PlatformComponent):
    release: k8s.helm.v3.Release
    exceptions: dict[str, k8s.apiextensions.CustomResource]
    policies: dict[str, k8s.apiextensions.CustomResource]
    policy_names: list[str]

    def __init__(self, name: str, args: KyvernoArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster, s = args.cluster, args.settings
        # every Kyverno pod (controllers and hook Jobs) meets the restricted profile
        namespace = helm.namespace(f"{name}-namespace", self, cluster, NAMESPACE,
                                   labels=helm.pod_security("restricted"))
        self.release = helm.release(f"{name}-release", self, cluster, CHART, namespace=namespace.metadata.name,
                                    values=chart_values(cluster, s, monitoring=args.monitoring))
        after_release = pulumi.ResourceOptions(depends_on=[self.release], custom_timeouts=CR_TIMEOUTS)

        self.exceptions = {}
        for exc in s.exceptions:
            doc = policy_exception(exc.name, namespace=NAMESPACE, controls_waived=exc.controls,
                                   namespaces=exc.namespaces, names=exc.names, reason=exc.reason,
                                   allowed_registries=s.allowed_registries)
            self.exceptions[exc.name] = self._custom(f"{name}-exception-{exc.name}", doc, cluster, after_release)

        # the CRDs and Kyverno's policy webhook come with the release; exceptions before the policies
        # they soften, so an excepted workload is never refused in between
        policy_opts = pulumi.ResourceOptions(depends_on=[self.release, *self.exceptions.values()],
                                             custom_timeouts=CR_TIMEOUTS)
        self.policies = {
            key: self._custom(f"{name}-policy-{key}", doc, cluster, policy_opts)
            for key, doc in baseline(s.allowed_registries, excluded_namespaces(cluster)).items()
        }
        self.policy_names = list(self.policies)
        self.register_outputs({"chart_version": versions.CHARTS[CHART].version, "namespace": NAMESPACE,
                               "policy_names": self.policy_names, "exception_names": list(self.exceptions)})

    def _custom(self, name: str, doc: dict[str, Any], cluster: ClusterHandle,
                opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            name, api_version=doc["apiVersion"], kind=doc["kind"], metadata=doc["metadata"], spec=doc["spec"],
            opts=child_opts(self, cluster.k8s_opts(opts)))


class KyvernoAddOn(AddOn):
    """Kyverno and the baseline policies (on by default, EKS and kind)."""

    key = "kyverno"
    gate = gates.KYVERNO

    @classmethod
    def build(cls, name, cluster, settings):
        return Kyverno(name, KyvernoArgs(cluster=cluster, settings=settings.kyverno,
                                         monitoring=settings.observability.metrics.enabled))

    @classmethod
    def exports(cls, component):
        return {"kyvernoPolicies": component.policy_names}
