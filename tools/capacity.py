"""Capacity of the tainted system node group against everything the platform runs there.

Comes after an evaluation under the shared mocks (harness.run_stack): the workloads come from the
recorded Helm releases and EKS add-ons, their replica counts and CPU/memory *requests* from the values
the program sets, or, where it sets none, from the chart's or add-on's default in data/requests.yaml
(each with its source). The group's size comes from its recorded ``aws.eks.NodeGroup``, a node's
allocatable from data/instances.yaml (the EKS AL2023 AMI's kube-reserved formula and max pods). Max pods
follows the VPC CNI's mode, read from the recorded managed ``vpc-cni`` add-on's configuration values
(``env.ENABLE_PREFIX_DELEGATION``): ENI mode (one secondary IP per pod) or prefix delegation (a /28 per
slot, Nitro types only), each capped as managed node groups cap it (data/instances.yaml, ``maxPods``).

A pod counts against the system nodes when it selects them (``platform.eks/node-group: system``) or,
without a selector, tolerates their ``CriticalAddonsOnly`` taint: the scheduler may put it there, and
on a fresh cluster it does (CoreDNS and the EBS CSI controller start before any Karpenter node
exists). DaemonSets that tolerate the taint count once per system node. Nothing scales the group up
for a Pending pod (Karpenter only scales its own NodePools), so the check counts the nodes the group
always has: ``minSize`` (a new group starts at ``desiredSize`` >= ``minSize``; Cluster Autoscaler,
where it is on, may take it down to ``minSize``).

The check fails when the summed requests pass ``HEADROOM`` of the group's allocatable, or when a
first-fit packing of the pods (largest first, DaemonSets first, hard anti-affinity and zone rules
kept) leaves a pod without a node.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Recording, yamlio
from settings import Settings
from settings.types import quantity

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
REQUESTS_FILE = DATA_DIR / "requests.yaml"
INSTANCES_FILE = DATA_DIR / "instances.yaml"
HEADROOM = 0.85
"""Share of the system nodes' allocatable the requests may take: the rest absorbs a rolling update's
surge pod, a chart bump that raises a request, and Helm hook Jobs."""
SYSTEM_LABEL = ("platform.eks/node-group", "system")
TAINT_KEY = "CriticalAddonsOnly"
HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
SPREAD = "spread:"
"""Prefix of a topology key held by a DoNotSchedule spread (maxSkew 1) rather than a required anti-affinity."""
MIB = 2**20


@functools.cache
def load_requests(path: Path = REQUESTS_FILE) -> dict[str, Any]:
    return yamlio.load(path.read_text())


@functools.cache
def load_instances(path: Path = INSTANCES_FILE) -> dict[str, Any]:
    return yamlio.load(path.read_text())


def table_problems(table: dict[str, Any]) -> list[str]:
    """Entries of data/requests.yaml without a source or with a quantity that is not one."""
    out = []
    for key, entry in table["defaults"].items():
        if not str(entry.get("source", "")).strip():
            out.append(f"defaults.{key} has no source")
        for q in ("cpu", "memory"):
            try:
                quantity(entry[q])
            except (KeyError, ValueError):
                out.append(f"defaults.{key}.{q} is not a Kubernetes quantity")
    return out


# --- a node's allocatable ------------------------------------------------------------------------

def reserved_cpu_millicores(vcpu: int, ranges: Iterable[list[Any]]) -> int:
    """kube-reserved CPU of a node with ``vcpu`` cores: a share of each range of its millicores."""
    total, out = vcpu * 1000, 0
    for start, end, per_10000 in ranges:
        end = total if end is None else min(end, total)
        if total > start:
            out += (end - start) * per_10000 // 10000
    return out


ENI, PREFIX = "eni", "prefix"
"""The VPC CNI's two IPv4 modes: a secondary IP per pod, or a /28 prefix per secondary-IP slot."""
VPC_CNI = "vpc-cni"


def cni_mode(rec: Recording) -> dict[str, Any]:
    """The VPC CNI mode the recorded managed ``vpc-cni`` add-on asks for, and where that was read.

    ``env.ENABLE_PREFIX_DELEGATION`` is a boolean as a string (amazon-vpc-cni-k8s README; the add-on's
    configuration schema types it ``string``, format boolean); unset, the CNI's default is ``false``.
    ``WARM_PREFIX_TARGET`` decides how many free prefixes each node holds, not how many pods fit: it is
    reported, not used."""
    for r in rec.of_type("aws:eks/addon:Addon"):
        if r.inputs.get("addonName") != VPC_CNI:
            continue
        raw = r.inputs.get("configurationValues")
        env = (json.loads(raw) if isinstance(raw, str) and raw else {}).get("env") or {}
        flag = env.get("ENABLE_PREFIX_DELEGATION")
        on = str(flag).strip().lower() == "true"
        return {"mode": PREFIX if on else ENI, "warmPrefixTarget": env.get("WARM_PREFIX_TARGET"),
                "from": f"EKS add-on {r.name}: env.ENABLE_PREFIX_DELEGATION "
                        + (repr(flag) if flag is not None else "not set (the CNI's default, false)")}
    return {"mode": ENI, "warmPrefixTarget": None,
            "from": "no managed vpc-cni add-on recorded: the CNI's default (ENABLE_PREFIX_DELEGATION false)"}


def max_pods(instance_type: str, mode: str = ENI, table: dict[str, Any] | None = None) -> dict[str, Any]:
    """Max pods of one node of ``instance_type`` in VPC CNI ``mode``, as a managed node group sets it.

    ENI mode: ENIs x (IPv4 per ENI - 1) + 2 (nodeadm eni_max_pods.go, calculateStandardMaxPods).
    Prefix mode, Nitro only: ENIs x ((IPv4 per ENI - 1) x 16) + 2 (max-pods-calculator.sh,
    calculate_max_ip_addresses_prefix_delegation). Both capped at 110 below 30 vCPUs, 250 from there
    (EKS user guide, cni-increase-ip-addresses-procedure: applied "whether prefix delegation is enabled
    or not"). A non-Nitro type asked for prefixes keeps secondary IPs (ENI mode)."""
    table = table or load_instances()
    spec = _spec(instance_type, table)
    rules = table["maxPods"]
    effective = mode
    if mode == PREFIX and not spec["nitro"]:
        effective = ENI
    slots = spec["ipv4PerEni"] - 1
    per_eni = slots * rules["ipsPerPrefix"] if effective == PREFIX else slots
    raw = spec["enis"] * per_eni + 2
    ceiling = rules["ceiling"]
    cap = ceiling["low"] if spec["vcpu"] < ceiling["belowVcpu"] else ceiling["high"]
    formula = (f"{spec['enis']} ENIs x (({spec['ipv4PerEni']} - 1) x {rules['ipsPerPrefix']}) + 2"
               if effective == PREFIX else f"{spec['enis']} ENIs x ({spec['ipv4PerEni']} - 1) + 2")
    return {"mode": effective, "requested": mode, "raw": raw, "cap": cap, "maxPods": min(raw, cap),
            "formula": f"min({formula} = {raw}, {cap})"
                       + (" (not Nitro: no prefixes, ENI mode)" if effective != mode else "")}


def _spec(instance_type: str, table: dict[str, Any]) -> dict[str, Any]:
    spec = table["types"].get(instance_type)
    if spec is None:
        raise KeyError(f"no {instance_type} in data/instances.yaml; add its vCPU, memory, ENIs, IPv4 per ENI, "
                       "Nitro and max pods (with the sources the file names)")
    return spec


def node_allocatable(instance_type: str, table: dict[str, Any] | None = None, mode: str = ENI) -> dict[str, Any]:
    """CPU (millicores), memory (MiB) and pods one node of ``instance_type`` offers in VPC CNI ``mode``,
    with what it keeps."""
    table = table or load_instances()
    spec = _spec(instance_type, table)
    pods = max_pods(instance_type, mode, table)
    r = table["reserved"]
    cpu_reserved = reserved_cpu_millicores(spec["vcpu"], r["cpuRanges"])
    capacity_mib = spec["memoryMiB"] * (1 - r["vmMemoryOverheadPercent"])
    # nodeadm reserves for its own (ENI-mode) max pods unless told otherwise (data/instances.yaml,
    # maxPods.kubeReservedFrom)
    reserved_for = pods["maxPods"] if table["maxPods"]["kubeReservedFrom"] == "effective" \
        else max_pods(instance_type, ENI, table)["maxPods"]
    kube_reserved_mib = r["memoryMiBPerPod"] * reserved_for + r["memoryMiBBase"]
    return {
        "instanceType": instance_type,
        "vcpu": spec["vcpu"],
        "memoryMiB": spec["memoryMiB"],
        "maxPods": pods["maxPods"],
        "cniMode": pods["mode"],
        "maxPodsFrom": pods["formula"],
        "kubeReservedPods": reserved_for,
        "reservedCpu": cpu_reserved,
        "reservedMemoryMiB": round(spec["memoryMiB"] - capacity_mib + kube_reserved_mib + r["evictionMiB"], 1),
        "allocatableCpu": spec["vcpu"] * 1000 - cpu_reserved,
        "allocatableMemoryMiB": round(capacity_mib - kube_reserved_mib - r["evictionMiB"], 1),
    }


# --- what runs there -------------------------------------------------------------------------------

def _get(values: Any, path: str | None) -> Any:
    if path is None:
        return None
    for part in path.split("."):
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values


def _requests(resources: Any) -> tuple[int, float] | None:
    """(millicores, MiB) of a ``resources`` block that has requests; None when it sets none."""
    req = (resources or {}).get("requests") if isinstance(resources, dict) else None
    if not req:
        return None
    return (int(quantity(req.get("cpu", "0")) * 1000), float(quantity(req.get("memory", "0")) / MIB))


def _selects_system(selector: Any) -> bool:
    return isinstance(selector, dict) and selector.get(SYSTEM_LABEL[0]) == SYSTEM_LABEL[1]


def _tolerates(tolerations: Any) -> bool:
    """True if a toleration list lets a pod onto CriticalAddonsOnly:NoSchedule nodes."""
    for t in tolerations or []:
        key, op, effect = t.get("key"), t.get("operator", "Equal"), t.get("effect")
        if effect not in (None, "", "NoSchedule"):
            continue
        if (key in (None, "") and op == "Exists") or (key == TAINT_KEY and op == "Exists"):
            return True
        if key == TAINT_KEY and t.get("value") == "true":
            return True
    return False


def _required_anti_affinity(affinity: Any) -> set[str]:
    terms = _get(affinity, "podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution") or []
    return {t.get("topologyKey") for t in terms if t.get("topologyKey")}


def _hard_spread(constraints: Any) -> set[str]:
    return {SPREAD + c.get("topologyKey", "") for c in constraints or []
            if c.get("whenUnsatisfiable") == "DoNotSchedule"}


@dataclass(frozen=True, kw_only=True)
class Spec:
    """Where one workload of a chart or EKS add-on keeps its settings in the values."""

    key: str
    """Its entry in data/requests.yaml (the chart's defaults)."""
    name: str
    kind: str = "Deployment"
    replicas: str | None = None
    """Value path of the replica count (None: the default's count; DaemonSets: one per node)."""
    resources: str | None = None
    """Value path of its ``resources`` block."""
    selector: tuple[str, ...] = ()
    """Value paths of its nodeSelector, the first one set wins (a component's own, then global)."""
    tolerations: tuple[str, ...] = ()
    enabled: tuple[str, bool] | None = None
    """Value path that turns it on, and the chart's default."""
    hard: Callable[[dict[str, Any]], set[str]] = field(default=lambda values: set())
    """Topology keys its replicas must not share (required anti-affinity, DoNotSchedule spread)."""
    follows: str | None = None
    """A sidecar: the key of the workload whose replicas (and placement) it shares."""
    pod_labels: dict[str, str] = field(default_factory=dict)
    """Labels its pods carry that a Fargate profile may select (the chart's selector labels)."""


def _prometheus_hard(spec_path: str) -> Callable[[dict[str, Any]], set[str]]:
    def hard(values: dict[str, Any]) -> set[str]:
        spec = _get(values, spec_path) or {}
        if spec.get("podAntiAffinity") != "hard":  # the chart's default is "soft"
            return set()
        return {spec.get("podAntiAffinityTopologyKey") or HOST}
    return hard


def _karpenter_hard(values: dict[str, Any]) -> set[str]:
    # chart defaults (karpenter values.yaml): required anti-affinity on the hostname and a zone spread
    # with whenUnsatisfiable DoNotSchedule, unless the program replaces them
    keys = _required_anti_affinity(values["affinity"]) if "affinity" in values else {HOST}
    keys |= _hard_spread(values["topologySpreadConstraints"]) if "topologySpreadConstraints" in values \
        else {SPREAD + ZONE}
    return keys


def _redis_ha_hard(path: str) -> Callable[[dict[str, Any]], set[str]]:
    # redis-ha's hardAntiAffinity (default true): required anti-affinity on the hostname
    return lambda values: {HOST} if _get(values, path) is not False else set()


PROM = ("prometheus.prometheusSpec.nodeSelector",)
KPS_TOL = ("prometheus.prometheusSpec.tolerations",)
ARGO_SEL = ("global.nodeSelector",)
ARGO_TOL = ("global.tolerations",)
KYV_SEL, KYV_TOL = ("global.nodeSelector",), ("global.tolerations",)

# chart name (the last part of the release's chart) or EKS add-on name -> its workloads
SPECS: dict[str, tuple[Spec, ...]] = {
    "karpenter": (Spec(key="karpenter/controller", name="Karpenter controller", replicas="replicas",
                       resources="controller.resources", selector=("nodeSelector",), tolerations=("tolerations",),
                       hard=_karpenter_hard, pod_labels={"app.kubernetes.io/name": "karpenter"}),),
    "metrics-server": (Spec(key="metrics-server/server", name="metrics-server", replicas="replicas",
                            resources="resources", selector=("nodeSelector",), tolerations=("tolerations",),
                            hard=lambda v: _required_anti_affinity(v.get("affinity"))),),
    "aws-load-balancer-controller": (
        Spec(key="aws-load-balancer-controller/controller", name="AWS Load Balancer Controller",
             replicas="replicaCount", resources="resources", selector=("nodeSelector",),
             tolerations=("tolerations",)),),
    # on AWS the gateway is autoscaled: its HPA keeps minReplicas (components/traffic/istio.py)
    "gateway": (Spec(key="istio-gateway/gateway", name="Istio ingress gateway", replicas="autoscaling.minReplicas",
                     resources="resources", selector=("nodeSelector",), tolerations=("tolerations",)),),
    "istiod": (Spec(key="istiod/pilot", name="istiod", replicas="replicaCount", resources="resources",
                    selector=("nodeSelector",), tolerations=("tolerations",)),),
    "cni": (Spec(key="istio-cni/node", name="Istio CNI node agent", kind="DaemonSet", resources="resources",
                 tolerations=("tolerations",)),),
    "kube-prometheus-stack": (
        Spec(key="kube-prometheus-stack/prometheus", name="Prometheus", kind="StatefulSet",
             replicas="prometheus.prometheusSpec.replicas", resources="prometheus.prometheusSpec.resources",
             selector=PROM, tolerations=KPS_TOL, enabled=("prometheus.enabled", True),
             hard=_prometheus_hard("prometheus.prometheusSpec")),
        Spec(key="kube-prometheus-stack/config-reloader", name="config-reloader",
             follows="kube-prometheus-stack/prometheus"),
        Spec(key="kube-prometheus-stack/alertmanager", name="Alertmanager", kind="StatefulSet",
             replicas="alertmanager.alertmanagerSpec.replicas", resources="alertmanager.alertmanagerSpec.resources",
             selector=("alertmanager.alertmanagerSpec.nodeSelector",),
             tolerations=("alertmanager.alertmanagerSpec.tolerations",), enabled=("alertmanager.enabled", True),
             hard=_prometheus_hard("alertmanager.alertmanagerSpec")),
        Spec(key="kube-prometheus-stack/config-reloader", name="config-reloader",
             follows="kube-prometheus-stack/alertmanager"),
        Spec(key="kube-prometheus-stack/operator", name="Prometheus operator", resources="prometheusOperator.resources",
             selector=("prometheusOperator.nodeSelector",), tolerations=("prometheusOperator.tolerations",)),
        Spec(key="kube-prometheus-stack/grafana", name="Grafana", replicas="grafana.replicas",
             resources="grafana.resources", selector=("grafana.nodeSelector",), tolerations=("grafana.tolerations",),
             enabled=("grafana.enabled", True)),
        # the dashboards and datasources sidecars (kube-prometheus-stack turns both on); sidecar.resources is theirs
        Spec(key="kube-prometheus-stack/grafana-sidecar", name="grafana-sc-dashboard",
             resources="grafana.sidecar.resources", follows="kube-prometheus-stack/grafana"),
        Spec(key="kube-prometheus-stack/grafana-sidecar", name="grafana-sc-datasources",
             resources="grafana.sidecar.resources", follows="kube-prometheus-stack/grafana"),
        Spec(key="kube-prometheus-stack/kube-state-metrics", name="kube-state-metrics",
             replicas="kube-state-metrics.replicas", resources="kube-state-metrics.resources",
             selector=("kube-state-metrics.nodeSelector",), tolerations=("kube-state-metrics.tolerations",),
             enabled=("kubeStateMetrics.enabled", True)),
        Spec(key="kube-prometheus-stack/node-exporter", name="node-exporter", kind="DaemonSet",
             resources="prometheus-node-exporter.resources", tolerations=("prometheus-node-exporter.tolerations",),
             enabled=("nodeExporter.enabled", True)),
    ),
    "argo-cd": (
        Spec(key="argo-cd/controller", name="Argo CD application controller", kind="StatefulSet",
             replicas="controller.replicas", resources="controller.resources",
             selector=("controller.nodeSelector", *ARGO_SEL), tolerations=("controller.tolerations", *ARGO_TOL)),
        Spec(key="argo-cd/server", name="Argo CD server", replicas="server.replicas", resources="server.resources",
             selector=("server.nodeSelector", *ARGO_SEL), tolerations=("server.tolerations", *ARGO_TOL)),
        Spec(key="argo-cd/repo-server", name="Argo CD repo-server", replicas="repoServer.replicas",
             resources="repoServer.resources", selector=("repoServer.nodeSelector", *ARGO_SEL),
             tolerations=("repoServer.tolerations", *ARGO_TOL)),
        Spec(key="argo-cd/applicationset", name="Argo CD ApplicationSet controller",
             replicas="applicationSet.replicas", resources="applicationSet.resources",
             selector=("applicationSet.nodeSelector", *ARGO_SEL),
             tolerations=("applicationSet.tolerations", *ARGO_TOL), enabled=("applicationSet.enabled", True)),
        Spec(key="argo-cd/notifications", name="Argo CD notifications controller",
             resources="notifications.resources", selector=("notifications.nodeSelector", *ARGO_SEL),
             tolerations=("notifications.tolerations", *ARGO_TOL), enabled=("notifications.enabled", True)),
        Spec(key="argo-cd/redis", name="Argo CD redis", resources="redis.resources",
             selector=("redis.nodeSelector", *ARGO_SEL), tolerations=("redis.tolerations", *ARGO_TOL),
             enabled=("redis.enabled", True)),
        # redis-ha is a subchart: it reads its own nodeSelector and tolerations, never Argo CD's global ones
        Spec(key="argo-cd/redis-ha-server", name="Argo CD redis-ha", kind="StatefulSet", replicas="redis-ha.replicas",
             resources="redis-ha.redis.resources", selector=("redis-ha.nodeSelector",),
             tolerations=("redis-ha.tolerations",), enabled=("redis-ha.enabled", False),
             hard=_redis_ha_hard("redis-ha.hardAntiAffinity")),
        Spec(key="argo-cd/redis-ha-haproxy", name="Argo CD redis-ha haproxy", replicas="redis-ha.haproxy.replicas",
             resources="redis-ha.haproxy.resources", selector=("redis-ha.haproxy.nodeSelector",),
             tolerations=("redis-ha.haproxy.tolerations",), enabled=("redis-ha.enabled", False),
             hard=_redis_ha_hard("redis-ha.haproxy.hardAntiAffinity")),
    ),
    "kyverno": tuple(
        Spec(key=f"kyverno/{short}", name=f"Kyverno {short} controller", replicas=f"{values}.replicas",
             resources=f"{values}.{res}", selector=(f"{values}.nodeSelector", *KYV_SEL),
             tolerations=(f"{values}.tolerations", *KYV_TOL), enabled=None if short == "admission" else
             (f"{values}.enabled", True))
        for short, values, res in (("admission", "admissionController", "container.resources"),
                                   ("background", "backgroundController", "resources"),
                                   ("cleanup", "cleanupController", "resources"),
                                   ("reports", "reportsController", "resources"))),
    "loki": (Spec(key="loki/single-binary", name="Loki", kind="StatefulSet", replicas="singleBinary.replicas",
                  resources="singleBinary.resources", selector=("singleBinary.nodeSelector",),
                  tolerations=("singleBinary.tolerations",)),),
    "prometheus-blackbox-exporter": (
        Spec(key="prometheus-blackbox-exporter/exporter", name="blackbox exporter", replicas="replicas",
             resources="resources", selector=("nodeSelector",), tolerations=("tolerations",)),),
    "aws-for-fluent-bit": (Spec(key="aws-for-fluent-bit/node", name="Fluent Bit", kind="DaemonSet",
                                resources="resources", tolerations=("tolerations",)),),
    "cluster-autoscaler": (Spec(key="cluster-autoscaler/controller", name="Cluster Autoscaler",
                                replicas="replicaCount", resources="resources", selector=("nodeSelector",),
                                tolerations=("tolerations",)),),
    # EKS add-ons: configurationValues (JSON) is their values
    "coredns": (Spec(key="coredns/server", name="CoreDNS", replicas="replicaCount", resources="resources",
                     selector=("nodeSelector",), tolerations=("tolerations",)),),
    "aws-ebs-csi-driver": (
        Spec(key="aws-ebs-csi-driver/controller", name="EBS CSI controller", replicas="controller.replicaCount",
             resources="controller.resources", selector=("controller.nodeSelector",),
             tolerations=("controller.tolerations",)),
        Spec(key="aws-ebs-csi-driver/node", name="EBS CSI node", kind="DaemonSet", resources="node.resources",
             tolerations=("node.tolerations",))),
    "aws-efs-csi-driver": (
        Spec(key="aws-efs-csi-driver/controller", name="EFS CSI controller", replicas="controller.replicaCount",
             resources="controller.resources", selector=("controller.nodeSelector",),
             tolerations=("controller.tolerations",)),
        Spec(key="aws-efs-csi-driver/node", name="EFS CSI node", kind="DaemonSet", resources="node.resources",
             tolerations=("node.tolerations",))),
    "vpc-cni": (Spec(key="vpc-cni/node", name="VPC CNI (aws-node)", kind="DaemonSet", resources="resources",
                     tolerations=("tolerations",)),),
    "kube-proxy": (Spec(key="kube-proxy/node", name="kube-proxy", kind="DaemonSet", resources="resources",
                        tolerations=("tolerations",)),),
    "eks-pod-identity-agent": (Spec(key="eks-pod-identity-agent/node", name="EKS Pod Identity agent",
                                    kind="DaemonSet", resources="resources", tolerations=("tolerations",)),),
}


def _first(values: dict[str, Any], paths: tuple[str, ...]) -> Any:
    return next((v for v in (_get(values, p) for p in paths) if v is not None), None)


def _sources(rec: Recording) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(chart or add-on name, where it was recorded, namespace, its values) for every release and EKS add-on."""
    out = []
    for r in rec.of_type("kubernetes:helm.sh/v3:Release"):
        chart = str(r.inputs.get("chart", "")).rsplit("/", 1)[-1]
        out.append((chart, f"Helm release {r.name}", str(r.inputs.get("namespace", "")), r.inputs.get("values") or {}))
    for r in rec.of_type("aws:eks/addon:Addon"):
        config = r.inputs.get("configurationValues")
        out.append((str(r.inputs.get("addonName")), f"EKS add-on {r.name}", "kube-system",
                    json.loads(config) if isinstance(config, str) and config else {}))
    return out


def _on_fargate(rec: Recording, namespace: str, labels: dict[str, str]) -> bool:
    """A recorded Fargate profile takes the pods: its namespace matches and its labels are theirs."""
    return any(fnmatch.fnmatchcase(namespace, sel.get("namespace", ""))
               and all(labels.get(k) == v for k, v in (sel.get("labels") or {}).items())
               for p in rec.of_type("aws:eks/fargateProfile:FargateProfile") for sel in p.inputs.get("selectors") or [])


def workloads(rec: Recording, table: dict[str, Any] | None = None,
              elsewhere: list[str] | None = None) -> list[dict[str, Any]]:
    """Every workload of the recorded releases and add-ons that lands on the system nodes (see the
    module docstring), with its replicas, per-pod requests and where each number comes from. ``elsewhere``
    gets the names of the Deployments and StatefulSets that can't land there (no system toleration): they keep
    a Karpenter or worker node running even with no workload."""
    table = table or load_requests()
    out: list[dict[str, Any]] = []
    for chart, where, namespace, values in _sources(rec):
        by_key: dict[str, dict[str, Any]] = {}
        for spec in SPECS.get(chart, ()):
            default = table["defaults"][spec.key]
            if spec.enabled is not None:
                on = _get(values, spec.enabled[0])
                if not (spec.enabled[1] if on is None else bool(on)):
                    continue
            if spec.follows is not None:
                # a sidecar adds its requests to every pod of the workload it runs in
                parent = by_key.get(spec.follows)
                if parent is not None:
                    set_requests = _requests(_get(values, spec.resources)) if spec.resources else None
                    cpu, mem = set_requests or (int(quantity(default["cpu"]) * 1000),
                                                float(quantity(default["memory"]) / MIB))
                    parent["cpu"] += cpu
                    parent["memoryMiB"] += mem
                    parent["sidecars"].append(f"{spec.name}: {where}: {spec.resources}" if set_requests
                                              else f"{spec.name}: default: {default['source']}")
                continue
            selector = _first(values, spec.selector)
            tolerations = _first(values, spec.tolerations)
            pinned = _selects_system(selector)
            tolerates = _tolerates(tolerations) if tolerations is not None else bool(
                default.get("tolerates", False))
            if selector and not pinned:
                continue  # it selects other nodes (Fargate, a pool of its own)
            if not pinned and not tolerates:
                if elsewhere is not None and spec.kind != "DaemonSet" and not _on_fargate(rec, namespace,
                                                                                          spec.pod_labels):
                    elsewhere.append(spec.name)
                continue  # it can't land on tainted nodes: Karpenter's nodes take it
            if spec.kind != "DaemonSet" and _on_fargate(rec, namespace, spec.pod_labels):
                continue  # a Fargate profile selects it: it runs on Fargate
            set_requests = _requests(_get(values, spec.resources))
            cpu, mem = set_requests or (int(quantity(default["cpu"]) * 1000), float(quantity(default["memory"]) / MIB))
            count = _get(values, spec.replicas)
            if spec.kind == "DaemonSet":
                replicas, replicas_from = None, "one per node"
            elif count is not None:
                replicas, replicas_from = int(count), f"{where}: {spec.replicas}"
            else:
                replicas, replicas_from = int(default.get("replicas", 1)), f"default: {spec.key}"
            row = {
                "name": spec.name, "key": spec.key, "kind": spec.kind, "source": where,
                "placement": "pinned" if pinned else "tolerates",
                "tolerates": tolerates, "replicas": replicas, "replicasFrom": replicas_from,
                "cpu": cpu, "memoryMiB": mem,
                "requestsFrom": f"{where}: {spec.resources}" if set_requests else f"default: {default['source']}",
                "hard": sorted(spec.hard(values)),
                "sidecars": [],
            }
            by_key[spec.key] = row
            out.append(row)
    # registration order varies from run to run (outputs resolve asynchronously)
    return sorted(out, key=lambda r: (r["replicas"] is None, r["name"]))


# --- the system node group ----------------------------------------------------------------------

def system_group(rec: Recording) -> dict[str, Any] | None:
    """The recorded node group labelled ``platform.eks/node-group: system``: its type, sizes, zones."""
    for g in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
        if (g.inputs.get("labels") or {}).get(SYSTEM_LABEL[0]) != SYSTEM_LABEL[1]:
            continue
        scaling = g.inputs.get("scalingConfig") or {}
        types = list(g.inputs.get("instanceTypes") or [])
        return {"name": g.name, "instanceTypes": types, "minSize": int(scaling.get("minSize", 0)),
                "desiredSize": int(scaling.get("desiredSize", 0)), "maxSize": int(scaling.get("maxSize", 0)),
                "subnets": len(g.inputs.get("subnetIds") or [])}
    return None


def _smallest_type(types: list[str], table: dict[str, Any]) -> str:
    # a group of several types may get the smallest: plan for it
    known = [t for t in types if t in table["types"]]
    if not known:
        return types[0] if types else "?"
    return min(known, key=lambda t: (table["types"][t]["memoryMiB"], table["types"][t]["vcpu"]))


@dataclass
class _Node:
    index: int
    zone: int
    cpu: float
    mem: float
    pods: int
    held: list[str] = field(default_factory=list)


def pack(rows: list[dict[str, Any]], nodes: int, zones: int, per_node: dict[str, Any]) -> list[str]:
    """First-fit of the pods on ``nodes`` system nodes spread over ``zones``; the pods left over.

    DaemonSet pods go on every node first. Then the largest pods first, each on the node with the most
    free memory that has room and that its hard rules allow (no second replica on a host or in a zone
    its required anti-affinity forbids; a DoNotSchedule zone spread binds while a zone has none yet,
    which is what maxSkew 1 asks of replicas up to the zone count)."""
    fleet = [_Node(i, i % max(zones, 1), per_node["allocatableCpu"], per_node["allocatableMemoryMiB"],
                   per_node["maxPods"])
             for i in range(nodes)]
    left: list[str] = []
    for row in (r for r in rows if r["replicas"] is None):
        for n in fleet:
            if n.cpu < row["cpu"] or n.mem < row["memoryMiB"] or n.pods < 1:
                left.append(f"{row['name']} (node {n.index})")
                continue
            n.cpu, n.mem, n.pods = n.cpu - row["cpu"], n.mem - row["memoryMiB"], n.pods - 1
            n.held.append(row["key"] + "#" + row["name"])
    pods = [(row, i) for row in rows if row["replicas"] for i in range(row["replicas"])]
    pods.sort(key=lambda p: (-len(p[0]["hard"]), -p[0]["memoryMiB"], -p[0]["cpu"], p[0]["name"], p[1]))
    for row, i in pods:
        tag = row["key"] + "#" + row["name"]
        zones_used = {n.zone for n in fleet if tag in n.held}
        ok = [n for n in fleet if n.cpu >= row["cpu"] and n.mem >= row["memoryMiB"] and n.pods >= 1
              and not (HOST in row["hard"] and tag in n.held)
              and not (ZONE in row["hard"] and n.zone in zones_used)
              and not (SPREAD + ZONE in row["hard"] and len(zones_used) < zones and n.zone in zones_used)]
        if not ok:
            left.append(f"{row['name']} replica {i + 1}")
            continue
        n = max(ok, key=lambda n: (n.mem, n.cpu, -n.index))
        n.cpu, n.mem, n.pods = n.cpu - row["cpu"], n.mem - row["memoryMiB"], n.pods - 1
        n.held.append(tag)
    return left


def check(s: Settings | None, rec: Recording, headroom: float = HEADROOM,
          requests: dict[str, Any] | None = None, instances: dict[str, Any] | None = None) -> dict[str, Any]:
    """The system nodes' capacity report of one evaluated stack (``applies`` false on kind)."""
    group = system_group(rec)
    if group is None or (s is not None and not s.is_aws):
        return {"applies": False, "note": "no tainted system node group (kind): controllers run on any node"}
    instances = instances or load_instances()
    itype = _smallest_type(group["instanceTypes"], instances)
    cni = cni_mode(rec)
    per_node = node_allocatable(itype, instances, cni["mode"])
    nodes = group["minSize"]
    zones = min(nodes, group["subnets"] or (s.network.az_count if s is not None else 1))
    rows = workloads(rec, requests)
    pods = [nodes if r["replicas"] is None else r["replicas"] for r in rows]  # DaemonSets: one per node
    cpu = sum(r["cpu"] * n for r, n in zip(rows, pods, strict=True))
    mem = sum(r["memoryMiB"] * n for r, n in zip(rows, pods, strict=True))
    total_cpu, total_mem = per_node["allocatableCpu"] * nodes, per_node["allocatableMemoryMiB"] * nodes
    count = sum(pods)
    problems = []
    pct_cpu = cpu / total_cpu if total_cpu else float("inf")
    pct_mem = mem / total_mem if total_mem else float("inf")
    for what, pct in (("CPU", pct_cpu), ("memory", pct_mem)):
        if pct > headroom:
            problems.append(f"{what} requests are {pct:.0%} of the system nodes' allocatable (limit {headroom:.0%})")
    if count > per_node["maxPods"] * nodes:
        problems.append(f"{count} pods for {per_node['maxPods'] * nodes} pod slots ({nodes} x {per_node['maxPods']})")
    for r in rows:
        if r["placement"] == "pinned" and not r["tolerates"]:
            problems.append(f"{r['name']} selects the system nodes but does not tolerate {TAINT_KEY}: Pending")
        if r["replicas"] and HOST in r["hard"] and r["replicas"] > nodes:
            problems.append(f"{r['name']}: {r['replicas']} replicas on distinct hosts, {nodes} system nodes")
        if r["replicas"] and ZONE in r["hard"] and r["replicas"] > zones:
            problems.append(f"{r['name']}: {r['replicas']} replicas in distinct zones, {zones} zones")
    left = pack(rows, nodes, zones, per_node)
    if left:
        problems.append("no system node has room for: " + ", ".join(left))
    return {
        "applies": True,
        "nodeGroup": group["name"],
        "instanceType": itype,
        "nodes": nodes,
        "nodesFrom": f"minSize {group['minSize']} (desiredSize {group['desiredSize']}, maxSize {group['maxSize']})",
        "zones": zones,
        "perNode": per_node,
        "cni": cni,
        "allocatable": {"cpu": total_cpu, "memoryMiB": round(total_mem, 1), "pods": per_node["maxPods"] * nodes},
        "requests": {"cpu": cpu, "memoryMiB": round(mem, 1), "pods": count},
        "percent": {"cpu": round(pct_cpu * 100, 1), "memory": round(pct_mem * 100, 1)},
        "headroom": headroom,
        "workloads": rows,
        "unplaced": left,
        "problems": problems,
        "fits": not problems,
    }


def summary(report: dict[str, Any]) -> str:
    """The plan's one line: requests against allocatable, the larger share in parentheses."""
    if not report.get("applies"):
        return f"system nodes: {report.get('note', 'none')}"
    req, alloc, pct = report["requests"], report["allocatable"], report["percent"]
    worst = max(pct["cpu"], pct["memory"])
    verdict = "fits" if report["fits"] else "DOES NOT FIT"
    return (f"system nodes: requests {req['cpu'] / 1000:.2f} vCPU / {req['memoryMiB'] / 1024:.2f} GiB of "
            f"{alloc['cpu'] / 1000:.2f} vCPU / {alloc['memoryMiB'] / 1024:.2f} GiB allocatable ({worst:.0f}%; "
            f"cpu {pct['cpu']:.0f}%, memory {pct['memory']:.0f}%, {req['pods']}/{alloc['pods']} pods) on "
            f"{report['nodes']} x {report['instanceType']}: {verdict} (limit {report['headroom']:.0%})")


def render_text(report: dict[str, Any]) -> list[str]:
    lines = [summary(report)]
    if not report.get("applies"):
        return lines
    node = report["perNode"]
    lines.append(f"    max pods per node {node['maxPods']}: VPC CNI {node['cniMode']} mode, {node['maxPodsFrom']} "
                 f"({report['cni']['from']})")
    for r in report["workloads"]:
        n = "per node" if r["replicas"] is None else f"x{r['replicas']}"
        lines.append(f"    {r['name']:<36} {n:>8}  {r['cpu']:>5}m {r['memoryMiB']:>7.0f}Mi  {r['placement']}"
                     + ("" if r["requestsFrom"].startswith("Helm") or r["requestsFrom"].startswith("EKS")
                        else "  (chart default)") + ("  + " + ", ".join(c.split(":")[0] for c in r["sidecars"])
                                                    if r["sidecars"] else ""))
    lines += [f"  ! {p}" for p in report["problems"]]
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse

    from harness import run_stack, stack_config, stack_names
    from settings import parse_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", help="stacks to check (default: every stack file)")
    args = parser.parse_args(argv)
    bad = 0
    for stack in args.stacks or stack_names():
        raw = {k.removeprefix("eks-platform:"): v for k, v in stack_config(stack).items()}
        report = check(parse_settings(raw, stack), run_stack(stack))
        print(f"[{stack}]", *render_text(report), sep="\n")
        bad += report.get("applies", False) and not report["fits"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
