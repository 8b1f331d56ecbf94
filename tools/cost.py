"""Cost estimate of a stack: fixed monthly cost by line item, and workload-dependent capacity as ranges.

Comes after the settings and an evaluation under the shared mocks (harness.run_stack): quantities
come from the recorded resources (clusters, NAT gateways and their EIPs, node groups with their
launch templates, endpoints, KMS keys, log groups, Helm releases and NodePools) and from the
settings where AWS creates the thing itself (the Istio gateway's NLB). Prices come from
data/prices.yaml, each with its source and date; the region's multiplier applies to all of them.
"Fixed" means billed by the hour whether or not anything runs; data processing, egress, LCUs
and the nodes Karpenter launches for workloads are shown separately with their assumption.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from harness import Recorded, Recording, yamlio
from settings import Settings
from settings.types import quantity
from tools import capacity

PRICES_FILE = Path(__file__).resolve().parent.parent / "data" / "prices.yaml"
TARGETS = {"dev": 120.0}
"""Fixed monthly cost a tier should stay under (issue 12), in USD."""
GIB = 2**30
# Fargate's vCPU/memory combinations and the 256 MB it adds to every pod for the kubelet,
# kube-proxy and containerd (EKS user guide, fargate-pod-configuration).
FARGATE_SIZES = ((0.25, (0.5, 1, 2)), (0.5, (1, 2, 3, 4)), (1, tuple(range(2, 9))), (2, tuple(range(4, 17))),
                 (4, tuple(range(8, 31))))
FARGATE_OVERHEAD_GB = 0.25


@functools.cache
def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return yamlio.load(path.read_text())


def table_problems(prices: dict[str, Any]) -> list[str]:
    """Entries of a price table without a source or a date (each price must say where it is from)."""
    problems = []
    entries = {**{f"prices.{k}": v for k, v in prices["prices"].items()},
               **{f"regions.{k}": v for k, v in prices["regions"].items()},
               "instances": prices["instances"], "spotDiscount": prices["spotDiscount"]}
    for key, entry in entries.items():
        for field_ in ("source", "date"):
            if not str(entry.get(field_) or "").strip():
                problems.append(f"{key} has no {field_}")
    for key, entry in prices["prices"].items():
        if not isinstance(entry.get("price"), int | float) or entry["price"] < 0:
            problems.append(f"prices.{key}.price must be a number >= 0")
    return problems


def fargate_size(cpu: float, memory_gb: float) -> tuple[float, float]:
    """The smallest Fargate size that holds a pod's requests (plus Fargate's 256 MB)."""
    memory_gb += FARGATE_OVERHEAD_GB
    for vcpu, memories in FARGATE_SIZES:
        if vcpu >= cpu:
            for mem in memories:
                if mem >= memory_gb:
                    return vcpu, float(mem)
    raise ValueError(f"no Fargate size holds {cpu} vCPU and {memory_gb} GB")


class _Pricer:
    def __init__(self, prices: dict[str, Any], region: str | None) -> None:
        self.table, self.hours = prices, prices["hoursPerMonth"]
        known = prices["regions"].get(region or "")
        self.warnings: list[str] = []
        if known is None:
            self.warnings.append(f"no price multiplier for region {region}: {prices['baseRegion']} prices shown "
                                 "(add the region to data/prices.yaml with its source)")
        self.multiplier = float(known["multiplier"]) if known else 1.0

    def unit(self, key: str) -> float:
        return float(self.table["prices"][key]["price"]) * self.multiplier

    def monthly(self, key: str) -> float:
        """An hourly price as a month of 730 hours."""
        return self.unit(key) * self.hours

    def instance_monthly(self, instance_type: str) -> float | None:
        hourly = self.table["instances"]["hourly"].get(instance_type)
        return None if hourly is None else float(hourly) * self.multiplier * self.hours


def _item(item: str, quantity_: float, unit_monthly: float, detail: str, price: str) -> dict[str, Any]:
    # the shown unit price times the quantity is the line's total, to the cent
    unit = round(unit_monthly, 2)
    return {"item": item, "quantity": quantity_, "unitMonthly": unit, "monthly": round(quantity_ * unit, 2),
            "detail": detail, "price": price}


def _release(rec: Recording, chart: str) -> Recorded | None:
    return next((r for r in rec.of_type("kubernetes:helm.sh/v3:Release")
                 if str(r.inputs.get("chart", "")).rstrip("/").rsplit("/", 1)[-1] == chart), None)


def _fixed(s: Settings, rec: Recording, p: _Pricer) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for c in rec.of_type("aws:eks/cluster:Cluster"):
        extended = (c.inputs.get("upgradePolicy") or {}).get("supportType") == "EXTENDED"
        key = "eks-extended" if extended else "eks-standard"
        items.append(_item("EKS control plane", 1, p.monthly(key), f"{c.inputs.get('name')}, "
                           f"{'extended' if extended else 'standard'} support", key))
    nats = rec.of_type("aws:ec2/natGateway:NatGateway")
    if nats:
        items.append(_item("NAT gateways", len(nats), p.monthly("nat-gateway-hour"),
                           f"natStrategy {s.network.nat_strategy}; data processing is variable", "nat-gateway-hour"))
    templates = {r.name: r for r in rec.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for nat in (i for i in rec.of_type("aws:ec2/instance:Instance") if "-nat-instance" in i.name):
        template = templates.get(nat.name.rsplit("-", 1)[0])
        itype = str((template.inputs if template else nat.inputs).get("instanceType"))
        monthly = p.instance_monthly(itype)
        if monthly is None:
            p.warnings.append(f"NAT instance {nat.name}: no price for {itype} in data/prices.yaml; not counted")
            continue
        gib = float(p.table["assumptions"]["natInstanceRootGib"]["gib"])
        items.append(_item("NAT instance", 1, monthly, f"{itype}, natStrategy instance; data is not charged per GB",
                           f"instances.{itype}"))
        items.append(_item("NAT instance root volume (gp3)", gib, p.unit("ebs-gp3-gb-month"),
                           "GiB, the AMI's root (data/prices.yaml assumptions.natInstanceRootGib)", "ebs-gp3-gb-month"))
    eips = rec.of_type("aws:ec2/eip:Eip")
    if eips:
        items.append(_item("Elastic IPs (NAT)", len(eips), p.monthly("public-ipv4-hour"), "public IPv4, per address",
                           "public-ipv4-hour"))
    disks = 0.0
    for g in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
        scaling = g.inputs.get("scalingConfig") or {}
        nodes = int(scaling.get("desiredSize", 0))
        itype = (g.inputs.get("instanceTypes") or ["?"])[0]
        monthly = p.instance_monthly(itype)
        if monthly is None:
            p.warnings.append(f"node group {g.name}: no price for {itype} in data/prices.yaml; not counted")
            continue
        spot = g.inputs.get("capacityType") == "SPOT"
        items.append(_item(f"node group {g.name}", nodes, monthly,
                           f"{nodes} x {itype} {g.inputs.get('capacityType', 'ON_DEMAND')} (desiredSize)"
                           + ("; spot shown at the on-demand price, 50-70% less in practice" if spot else ""),
                           f"instances.{itype}"))
        template = templates.get(g.name)
        for mapping in (template.inputs.get("blockDeviceMappings") or []) if template else []:
            disks += nodes * float((mapping.get("ebs") or {}).get("volumeSize", 0))
    if disks:
        items.append(_item("EBS root volumes (gp3)", disks, p.unit("ebs-gp3-gb-month"),
                           "GiB over the node groups' desired nodes", "ebs-gp3-gb-month"))
    prometheus = _release(rec, "kube-prometheus-stack")
    if prometheus is not None:
        spec = ((prometheus.inputs.get("values") or {}).get("prometheus") or {}).get("prometheusSpec") or {}
        claim = ((spec.get("storageSpec") or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
        size = claim.get("resources", {}).get("requests", {}).get("storage")
        if size and s.is_aws:
            replicas = int(spec.get("replicas", 1))
            gib = float(quantity(size)) / GIB
            items.append(_item("Prometheus volumes (gp3 PVC)", replicas * gib, p.unit("ebs-gp3-gb-month"),
                               f"{replicas} x {size}", "ebs-gp3-gb-month"))
    karpenter = _release(rec, "karpenter")
    if s.karpenter.run_on == "fargate" and s.autoscaling == "karpenter" and karpenter is not None:
        values = karpenter.inputs.get("values") or {}
        replicas = int(values.get("replicas", 2))
        # the recorded requests: Fargate sizes the pod from them
        req = ((values.get("controller") or {}).get("resources") or {}).get("requests") or {}
        vcpu, gb = fargate_size(float(quantity(req.get("cpu", "0"))), float(quantity(req.get("memory", "0"))) / GIB)
        pod = vcpu * p.monthly("fargate-vcpu-hour") + gb * p.monthly("fargate-gb-hour")
        items.append(_item("Fargate pods (Karpenter controller)", replicas, pod,
                           f"{replicas} x {vcpu} vCPU / {gb:g} GB (requests {req.get('cpu')}/{req.get('memory')} "
                           "+ 256 MB)",
                           "fargate-vcpu-hour, fargate-gb-hour"))
    gateway = _release(rec, "gateway")
    service = ((gateway.inputs.get("values") or {}).get("service") or {}) if gateway is not None else {}
    if service.get("type") == "LoadBalancer":
        items.append(_item("NLB (Istio gateway)", 1, p.monthly("nlb-hour"), "hourly only; NLCUs are variable",
                           "nlb-hour"))
        if s.traffic.istio.gateway_scheme == "internet-facing":
            # the controller puts the NLB in every subnet tagged for internet-facing load balancers
            zones = sum(1 for n in rec.of_type("aws:ec2/subnet:Subnet")
                        if "kubernetes.io/role/elb" in (n.inputs.get("tags") or {})) or s.network.az_count
            items.append(_item("NLB public IPv4 (Istio gateway)", zones, p.monthly("public-ipv4-hour"),
                               "one address per public subnet", "public-ipv4-hour"))
    keys = rec.of_type("aws:kms/key:Key")
    if keys:
        items.append(_item("KMS keys", len(keys), p.unit("kms-key-month"),
                           ", ".join(sorted(k.name for k in keys)) + "; +$1/month per rotated backing key",
                           "kms-key-month"))
    items += _logs(s, rec, p)
    interface = [e for e in rec.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                 if e.inputs.get("vpcEndpointType") == "Interface"]
    if interface:
        azs = sum(len(e.inputs.get("subnetIds") or []) for e in interface)
        services = ", ".join(sorted(str(e.inputs.get("serviceName", "")).split(f"{s.region}.", 1)[-1]
                                    for e in interface))
        items.append(_item("Interface endpoints", azs, p.monthly("interface-endpoint-az-hour"),
                           f"{services}: {len(interface)} endpoints x their AZs; data is variable",
                           "interface-endpoint-az-hour"))
    return items


def _logs(s: Settings, rec: Recording, p: _Pricer) -> list[dict[str, Any]]:
    volumes = p.table["assumptions"]
    items = []
    groups = {(g.inputs.get("name") or ""): g for g in rec.of_type("aws:cloudwatch/logGroup:LogGroup")}
    # (the control-plane group is /aws/eks/<cluster>/cluster; /aws/eks/<cluster>/containers holds the
    # workloads' logs, which depend on the workload: a variable item)
    for label, prefix, suffix, key in (("control-plane logs", "/aws/eks/", "/cluster", "controlPlaneLogGbPerMonth"),
                                       ("VPC flow logs", "/aws/vpc/", "", "flowLogGbPerMonth")):
        group = next((g for name, g in groups.items() if name.startswith(prefix) and name.endswith(suffix)), None)
        if group is None:
            continue
        gb = float(volumes[key][s.tier])
        days = int(group.inputs["retentionInDays"])  # always set: settings require a retention
        stored = gb * days / (365 / 12)  # at steady state, once the first retention period has passed
        items.append(_item(f"CloudWatch ingestion, {label}", gb, p.unit("cloudwatch-logs-ingest-gb"),
                           f"assumed {gb:g} GB/month (data/prices.yaml assumptions.{key})",
                           "cloudwatch-logs-ingest-gb"))
        items.append(_item(f"CloudWatch storage, {label}", round(stored, 1),
                           p.unit("cloudwatch-logs-storage-gb-month"),
                           f"{days} d retention of {gb:g} GB/month, at steady state",
                           "cloudwatch-logs-storage-gb-month"))
    return items


def _variable(s: Settings, rec: Recording, p: _Pricer) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    assume = p.table["assumptions"]["karpenterVcpuRate"]
    per_vcpu = p.instance_monthly(assume["instance"]) / assume["vcpus"]  # type: ignore[operator]
    spot = p.table["spotDiscount"]
    # the platform's own Deployments and StatefulSets that can't run on the system nodes (tools/capacity.py)
    resident: list[str] = []
    capacity.workloads(rec, elsewhere=resident)
    resident = sorted(set(resident))
    for pool in (r for r in rec if r.inputs.get("kind") == "NodePool"):
        spec = pool.inputs.get("spec") or {}
        cpu = (spec.get("limits") or {}).get("cpu")
        name = (pool.inputs.get("metadata") or {}).get("name", pool.name)
        reqs = {q["key"]: q.get("values") for q in spec.get("template", {}).get("spec", {}).get("requirements", [])}
        spot_ok = "spot" in (reqs.get("karpenter.sh/capacity-type") or [])
        if cpu is None:
            out.append({"item": f"Karpenter pool {name}", "low": 0.0, "high": None,
                        "assumption": "no cpu limit: unbounded"})
            continue
        high = float(quantity(cpu)) * per_vcpu
        out.append({"item": f"Karpenter pool {name}", "low": 0.0, "high": round(high, 2),
                    "assumption": (f"0 only with no pod to place (consolidation removes empty nodes), which "
                                   f"the platform's own {', '.join(resident)} rule out (they don't tolerate the "
                                   "system taint): at least one node runs, not counted in the fixed total; "
                                   if resident else "0 with no pending pods (consolidation removes empty nodes); ")
                                  + f"up to its cpu limit "
                                  f"{cpu} at {assume['instance']}'s on-demand ${per_vcpu:.2f}/vCPU-month"
                                  + (f"; spot would take {spot['low']:.0%}-{spot['high']:.0%} off" if spot_ok else "")})
    karpenter_profile = {p_.name for p_ in s.karpenter.controller_fargate_profiles} if s.is_aws else set()
    small, large = (fargate_size(0.25, 0.25), fargate_size(1, 1.75))
    for profile in s.all_fargate_profiles if s.is_aws else []:
        if profile.name in karpenter_profile:
            continue
        lo = small[0] * p.monthly("fargate-vcpu-hour") + small[1] * p.monthly("fargate-gb-hour")
        hi = large[0] * p.monthly("fargate-vcpu-hour") + large[1] * p.monthly("fargate-gb-hour")
        out.append({"item": f"Fargate profile {profile.name}", "low": 0.0, "high": None,
                    "assumption": f"per pod running all month: ${lo:.2f} (0.25 vCPU/0.5 GB) to ${hi:.2f} "
                                  "(1 vCPU/2 GB); the pod count is the workload's"})
    if rec.of_type("aws:ec2/natGateway:NatGateway"):
        gb = p.unit("nat-gateway-gb")
        out.append({"item": "NAT data processing", "low": round(10 * gb, 2), "high": round(100 * gb, 2),
                    "assumption": f"${gb}/GB through the NAT, shown for 10-100 GB/month (image pulls go over the "
                                  "free S3 gateway endpoint)"})
    containers = next((g for g in rec.of_type("aws:cloudwatch/logGroup:LogGroup")
                       if (g.inputs.get("name") or "").endswith("/containers")), None)
    if containers is not None:
        ingest, store = p.unit("cloudwatch-logs-ingest-gb"), p.unit("cloudwatch-logs-storage-gb-month")
        days = int(containers.inputs["retentionInDays"])

        def monthly(gb: float) -> float:
            return gb * ingest + gb * days / (365 / 12) * store

        out.append({"item": "Container logs (CloudWatch)", "low": round(monthly(1), 2), "high": round(monthly(50), 2),
                    "assumption": f"1 to 50 GB/month of container logs, kept {days} d (the platform's own "
                                  "controllers write about 1 GB/month)"})
    if s.is_aws and s.traffic.load_balancer_controller.enabled:
        alb = p.monthly("alb-hour")
        lcu = p.monthly("lcu-hour")
        out.append({"item": "ALBs (Ingresses)", "low": 0.0, "high": round(alb + lcu, 2),
                    "assumption": f"none in the program; each Ingress group adds ${alb:.2f} plus ${lcu:.2f} per "
                                  "sustained LCU (high: one ALB at 1 LCU)"})
    return out


def estimate(s: Settings, rec: Recording, prices: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stack's cost report: fixed items with their total, variable items as ranges."""
    if not s.is_aws:
        return {"currency": "USD", "fixed": [], "fixedMonthly": 0.0, "variable": [], "warnings": [],
                "note": "kind runs on this machine: no cloud cost"}
    p = _Pricer(prices or load_prices(), s.region)
    fixed = _fixed(s, rec, p)
    total = round(sum(i["monthly"] for i in fixed), 2)
    target = TARGETS.get(s.tier)
    return {
        "currency": "USD",
        "region": s.region,
        "multiplier": p.multiplier,
        "fixed": fixed,
        "fixedMonthly": total,
        "target": target,
        "withinTarget": None if target is None else total <= target,
        "variable": _variable(s, rec, p),
        "warnings": p.warnings,
        "prices": {k: {"source": v["source"], "date": v["date"]} for k, v in p.table["prices"].items()
                   if any(k in i["price"] for i in fixed)},
    }


def _money(value: float | None) -> str:
    return "unbounded" if value is None else f"${value:,.2f}"


def render_text(cost: dict[str, Any]) -> list[str]:
    if not cost["fixed"]:
        return ["Cost", f"  {cost.get('note', 'nothing billed')}"]
    target = "" if cost["target"] is None else \
        f" (target <= ${cost['target']:.0f}: {'met' if cost['withinTarget'] else 'NOT met'})"
    lines = [f"Cost (USD/month, {cost['region']} list prices x{cost['multiplier']:g}, 730 h)",
             f"  fixed: {_money(cost['fixedMonthly'])}{target}"]
    width = max(len(i["item"]) for i in cost["fixed"])
    lines += [f"    {i['item']:<{width}}  {i['quantity']:>7g} x {_money(i['unitMonthly']):>8} = "
              f"{_money(i['monthly']):>9}  {i['detail']}" for i in cost["fixed"]]
    lines += ["  depends on workload (not in the fixed total):"]
    lines += [f"    {v['item']}: {_money(v['low'])} to {_money(v['high'])} ({v['assumption']})"
              for v in cost["variable"]]
    lines += [f"  ! {w}" for w in cost["warnings"]]
    lines += ["  prices: data/prices.yaml (source and date per price; reference section A3)"]
    return lines


def render_markdown(cost: dict[str, Any]) -> list[str]:
    if not cost["fixed"]:
        return ["### Cost", "", cost.get("note", "nothing billed")]
    target = "" if cost["target"] is None else \
        f" (target ≤ ${cost['target']:.0f}: {'met' if cost['withinTarget'] else '**not met**'})"
    lines = ["### Cost", "", f"Fixed **{_money(cost['fixedMonthly'])}/month**{target}, {cost['region']} list "
             f"prices x{cost['multiplier']:g}, 730 h.", "",
             "| item | quantity | unit/month | month | detail |", "|---|---:|---:|---:|---|"]
    lines += [f"| {i['item']} | {i['quantity']:g} | {_money(i['unitMonthly'])} | {_money(i['monthly'])} | "
              f"{i['detail']} |" for i in cost["fixed"]]
    lines += [f"| **total** | | | **{_money(cost['fixedMonthly'])}** | |", "",
              "Depends on workload (not in the total):", ""]
    lines += [f"- {v['item']}: {_money(v['low'])} to {_money(v['high'])} ({v['assumption']})"
              for v in cost["variable"]]
    lines += [f"- ⚠ {w}" for w in cost["warnings"]]
    return lines
