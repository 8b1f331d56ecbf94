"""The platform's Grafana dashboards, as data: Grafana dashboard JSON models built from Python dicts.

Not a component: ``components/observability/monitoring.py`` calls ``config_maps`` to ship each dashboard of the
components that are on as a ConfigMap of its own, in its namespace, which Grafana's dashboard sidecar
loads (at any time: the ConfigMaps need only the namespace, not the release). Every expression parses as PromQL
and uses only metrics the component that exports them documents (``tests/fixtures/metrics.yaml``
keeps each name with its source); the tests check both.

Facts relied on:
- kube-prometheus-stack 88.5.3 values.yaml: ``grafana.sidecar.dashboards`` is enabled with
  ``label: grafana_dashboard``, ``labelValue: "1"`` and ``searchNamespace: ALL`` (the grafana
  subchart 12.11.1 itself defaults to disabled and an empty labelValue:
  grafana-community/helm-charts charts/grafana/values.yaml @ grafana-12.11.1); its Prometheus data
  source is the default one, ``uid: prometheus`` (``grafana.sidecar.datasources``);
- nodes by capacity type and architecture: kube-state-metrics ``kube_node_labels`` carries a node
  label only when it is listed in ``--metric-labels-allowlist`` (chart value ``metricLabelsAllowlist``,
  prometheus-community/helm-charts charts/kube-state-metrics/values.yaml @ kube-state-metrics-8.4.0,
  the subchart 88.5.3 pins), as ``label_`` + the key with every character outside [a-zA-Z0-9_] made
  ``_`` and camelCase made snake_case (kubernetes/kube-state-metrics v2.20.0 internal/store/utils.go):
  ``eks.amazonaws.com/capacityType`` (managed node groups: ON_DEMAND, SPOT) becomes
  ``label_eks_amazonaws_com_capacity_type``; this works on every cluster, kind included;
- Karpenter v1.14.1: its node gauges (``karpenter_nodes_allocatable``, ...) carry each well-known
  label as the part after the slash, lower-cased, ``-`` made ``_`` (``capacity_type``, ``arch``,
  ``nodepool``) plus ``resource_type``, ``node_name`` and ``managed`` (true for Karpenter's own
  nodes; the gauges cover every node of the cluster) (kubernetes-sigs/karpenter v1.14.1
  pkg/controllers/metrics/node/controller.go); ``karpenter_nodeclaims_*`` are labelled ``reason``,
  ``nodepool`` (pkg/metrics/constants.go); interruption messages ``message_type``
  (aws/karpenter-provider-aws v1.14.1 pkg/controllers/interruption/metrics.go);
- Istio standard metrics (istio.io docs, reference/config/metrics): ``istio_requests_total`` and the
  histogram ``istio_request_duration_milliseconds``, labelled ``reporter``, ``destination_service``,
  ``response_code``;
- the API server's stable metrics (kubernetes.io Kubernetes Metrics Reference, v1.36):
  ``apiserver_request_total`` (``code``, ``verb``, ...) and the histogram
  ``apiserver_request_duration_seconds`` (``verb``, ``resource``, ...), scraped by the chart's
  ``kubeApiServer`` ServiceMonitor on EKS and kind alike.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.core.common import child_opts
from components.core.handle import ClusterHandle

# kube-prometheus-stack's grafana.sidecar.dashboards.label / labelValue
SIDECAR_LABEL = {"grafana_dashboard": "1"}
# kube-prometheus-stack's default Grafana data source (grafana.sidecar.datasources.uid)
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
# the node labels kube-state-metrics exports on kube_node_labels (kube-state-metrics.metricLabelsAllowlist)
NODE_LABELS = ("kubernetes.io/arch", "karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType")
# the dashboard JSON model version written (Grafana 10/11's); Grafana (13.2 in chart 12.11.1) migrates
# older models forward when it loads them, never the other way
SCHEMA_VERSION = 39
WIDTH = 24  # Grafana's grid is 24 columns wide


def kube_state_metrics_allowlist() -> list[str]:
    """The kube-state-metrics ``metricLabelsAllowlist`` the overview needs (joined with commas by the chart)."""
    return [f"nodes=[{','.join(NODE_LABELS)}]"]


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"refId": ref, "expr": expr, "legendFormat": legend, "datasource": dict(DATASOURCE)}


def _panel(title: str, queries: list[tuple[str, str]], *, unit: str = "short", kind: str = "timeseries",
           width: int = 12, height: int = 8, description: str = "") -> dict[str, Any]:
    """A panel; ``queries`` are (PromQL, legend) pairs. Its id and position are set by ``_dashboard``."""
    return {
        "type": kind, "title": title, "description": description, "datasource": dict(DATASOURCE),
        "targets": [_target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right"}} if kind == "timeseries" else {},
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
    }


def _dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    """A dashboard with its panels laid out left to right, top to bottom, ids in order."""
    x = y = row_height = 0
    laid_out = []
    for number, panel in enumerate(panels, start=1):
        w, h = panel["gridPos"]["w"], panel["gridPos"]["h"]
        if x + w > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append({**panel, "id": number, "gridPos": {"h": h, "w": w, "x": x, "y": y}})
        x, row_height = x + w, max(row_height, h)
    return {
        "uid": uid, "title": title, "description": description, "tags": ["eks-platform"],
        "editable": False,  # provisioned from a ConfigMap: edits in the UI would be lost on reload
        "schemaVersion": SCHEMA_VERSION, "version": 1, "timezone": "utc", "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"}, "templating": {"list": []}, "annotations": {"list": []},
        "panels": laid_out,
    }


# Requests of the pods that hold a place on a node: bound (node set) and not finished.
_LIVE_PODS = 'max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"} == 1)'


def _requested(resource: str) -> str:
    return (f'sum(kube_pod_container_resource_requests{{resource="{resource}",node!=""}} '
            f"* on (namespace, pod) group_left () {_LIVE_PODS})")


def _allocatable(resource: str) -> str:
    return f'sum(kube_node_status_allocatable{{resource="{resource}"}})'


def overview() -> dict[str, Any]:
    nodes = [
        ('count by (label_karpenter_sh_capacity_type, label_kubernetes_io_arch) '
         '(kube_node_labels{label_karpenter_sh_capacity_type!=""})',
         "Karpenter {{label_karpenter_sh_capacity_type}} {{label_kubernetes_io_arch}}"),
        ('count by (label_eks_amazonaws_com_capacity_type, label_kubernetes_io_arch) '
         '(kube_node_labels{label_eks_amazonaws_com_capacity_type!=""})',
         "node group {{label_eks_amazonaws_com_capacity_type}} {{label_kubernetes_io_arch}}"),
        ('count by (label_kubernetes_io_arch) '
         '(kube_node_labels{label_karpenter_sh_capacity_type="",label_eks_amazonaws_com_capacity_type=""})',
         "other {{label_kubernetes_io_arch}}"),
    ]
    return _dashboard("eks-platform-overview", "Platform / Overview",
                      "Nodes, pending pods and the cluster's requested capacity against what its nodes offer.", [
        _panel("Nodes by capacity type and architecture", nodes, width=12,
               description="Karpenter nodes by karpenter.sh/capacity-type, managed node groups by "
                           "eks.amazonaws.com/capacityType, other nodes (kind, Fargate) by architecture only."),
        _panel("Pending pods", [
            ('sum by (namespace) (kube_pod_status_phase{phase="Pending"})', "{{namespace}}"),
            ("sum(kube_pod_status_unschedulable)", "unschedulable (all namespaces)")],
            description="Pods not running yet; unschedulable ones fit no node as it is."),
        _panel("CPU requested vs allocatable", [
            (_requested("cpu"), "requested"), (_allocatable("cpu"), "allocatable")], unit="short"),
        _panel("Memory requested vs allocatable", [
            (_requested("memory"), "requested"), (_allocatable("memory"), "allocatable")], unit="bytes"),
        _panel("CPU requested / allocatable", [(f"{_requested('cpu')} / {_allocatable('cpu')}", "cpu")],
               unit="percentunit", kind="stat", width=6, height=5),
        _panel("Memory requested / allocatable",
               [(f"{_requested('memory')} / {_allocatable('memory')}", "memory")],
               unit="percentunit", kind="stat", width=6, height=5),
        _panel("Nodes not Ready", [('count(kube_node_status_condition{condition="Ready",status="true"} == 0) '
                                    'or vector(0)', "not Ready")], kind="stat", width=6, height=5),
        _panel("Nodes", [("count(kube_node_info)", "nodes")], kind="stat", width=6, height=5),
    ])


def karpenter() -> dict[str, Any]:
    return _dashboard("eks-platform-karpenter", "Platform / Karpenter",
                      "What Karpenter launches and removes, why, and how close each NodePool is to its limits.", [
        _panel("Node launches per NodePool", [
            ("sum by (nodepool) (increase(karpenter_nodeclaims_created_total[10m]))", "{{nodepool}}")],
            description="NodeClaims created in the last 10 minutes."),
        _panel("Disruptions by reason", [
            ("sum by (reason) (increase(karpenter_nodeclaims_disrupted_total[10m]))", "{{reason}}")],
            description="NodeClaims disrupted in the last 10 minutes (drift, consolidation, expiry, "
                        "interruption, ...)."),
        _panel("Interruption events", [
            ("sum by (message_type) (increase(karpenter_interruption_received_messages_total[10m]))",
             "{{message_type}}")],
            description="Messages from the interruption queue (Spot interruptions, rebalance "
                        "recommendations, scheduled changes, instance state changes)."),
        _panel("NodePool limits used", [
            ("karpenter_nodepools_usage / karpenter_nodepools_limit", "{{nodepool}} {{resource_type}}")],
            unit="percentunit", description="Usage over the pool's limits; at 100% Karpenter launches nothing more."),
        _panel("Karpenter nodes by capacity type and architecture", [
            ('count by (capacity_type, arch) (max by (node_name, capacity_type, arch) '
             '(karpenter_nodes_allocatable{resource_type="cpu",managed="true"}))', "{{capacity_type}} {{arch}}")],
            description="Nodes of Karpenter's NodePools (managed=true), one series per node and resource."),
        _panel("Pods Karpenter cannot place", [
            ("sum(karpenter_scheduler_unschedulable_pods_count)", "unschedulable")]),
    ])


def _latency(quantile: str) -> str:
    return (f"histogram_quantile({quantile}, sum by (le, destination_service) "
            '(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5m])))')


def istio() -> dict[str, Any]:
    requests = 'istio_requests_total{reporter="destination"}'
    errors = 'istio_requests_total{reporter="destination",response_code=~"5.."}'
    return _dashboard("eks-platform-istio", "Platform / Istio",
                      "Requests per service as the receiving sidecar reports them: rate, 5xx ratio, latency.", [
        _panel("Request rate per service", [
            (f"sum by (destination_service) (rate({requests}[5m]))", "{{destination_service}}")], unit="reqps"),
        _panel("5xx ratio per service", [
            (f"sum by (destination_service) (rate({errors}[5m])) / "
             f"sum by (destination_service) (rate({requests}[5m]))", "{{destination_service}}")],
            unit="percentunit"),
        *(_panel(f"Latency p{q} per service", [(_latency(f"0.{q}"), "{{destination_service}}")], unit="ms",
                 width=8) for q in ("50", "95", "99")),
    ])


def control_plane() -> dict[str, Any]:
    mutating = 'verb!~"WATCH|CONNECT"'  # long-running requests would swamp the latency quantiles
    return _dashboard("eks-platform-control-plane", "Platform / Control plane",
                      "The Kubernetes API server: request rate, errors and latency.", [
        _panel("API requests by code", [
            ("sum by (code) (rate(apiserver_request_total[5m]))", "{{code}}")], unit="reqps"),
        _panel("API 5xx ratio", [
            ('sum(rate(apiserver_request_total{code=~"5.."}[5m])) / sum(rate(apiserver_request_total[5m]))',
             "5xx")], unit="percentunit"),
        *(_panel(f"API request latency p{q} by verb", [
            (f"histogram_quantile(0.{q}, sum by (le, verb) "
             f"(rate(apiserver_request_duration_seconds_bucket{{{mutating}}}[5m])))", "{{verb}}")], unit="s")
          for q in ("50", "99")),
        _panel("Slowest resources (p99)", [
            (f"topk(10, histogram_quantile(0.99, sum by (le, resource, verb) "
             f"(rate(apiserver_request_duration_seconds_bucket{{{mutating}}}[5m]))))", "{{verb}} {{resource}}")],
            unit="s", width=24),
    ])


def dashboards(*, karpenter_on: bool, istio_on: bool) -> dict[str, dict[str, Any]]:
    """The dashboards of the components that are on, by a stable key (their ConfigMaps are named after it)."""
    found = {"overview": overview(), "control-plane": control_plane()}
    if karpenter_on:
        found["karpenter"] = karpenter()
    if istio_on:
        found["istio"] = istio()
    return found


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard."""
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def config_maps(name: str, parent: pulumi.Resource, cluster: ClusterHandle, namespace: pulumi.Input[str], *,
                karpenter_on: bool, istio_on: bool) -> dict[str, k8s.core.v1.ConfigMap]:
    """One ConfigMap per dashboard, keyed and named by the dashboard's key, children of ``parent``."""
    return {key: k8s.core.v1.ConfigMap(
        f"{name}-dashboard-{key}",
        metadata={"name": f"dashboard-{key}", "namespace": namespace, "labels": dict(SIDECAR_LABEL)},
        # the sidecar writes every key into one folder: the uid keeps the file name apart from the chart's own
        data={f"{model['uid']}.json": json.dumps(model, sort_keys=True)},
        opts=child_opts(parent, cluster.k8s_opts()))
        for key, model in dashboards(karpenter_on=karpenter_on, istio_on=istio_on).items()}
