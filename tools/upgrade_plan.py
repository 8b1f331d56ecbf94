"""What moving one stack to the next Kubernetes minor involves, offline, from the program.

    python -m tools.upgrade_plan --stack dev --to 1.36 [--json plan.json|-]

Evaluates the stack under harness/'s mocks twice (at its minor and at the target) and reports, in order:
1. preflight: each enabled component's support for the target (versions.SUPPORT; which pin must move),
   and removed or deprecated APIs (data/deprecated-apis.yaml) in everything rendered: the platform's own
   objects, every chart at its pin with the stack's values (harness/charts.py) and gitops/;
2. the order: the control plane one minor, the EKS managed add-ons to their pins for the target
   (versions.EKS_ADDONS), then the managed node groups (rolling, bounded by their updateConfig and the
   PDBs rendered) and the Karpenter NodePools (drift, bounded by their disruption budgets);
3. the expected duration and disruption, and what cannot be undone.
A target more than one minor ahead, or not ahead, is refused (exit 2) with the intermediate steps.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import versions
from components.core import support
from harness import Recording, charts, gitops, run_stack, stack_settings, yamlio
from harness.program import PROJECT_DIR
from settings import Settings

DEPRECATED_APIS_FILE = PROJECT_DIR / "data" / "deprecated-apis.yaml"
GITOPS_DIR = PROJECT_DIR / "gitops"
# Estimates (E), not measurements: no sourced figure for an EKS control-plane *update* was found in
# ../shared/reference/ (data/durations.yaml sources creates only). Minutes.
CONTROL_PLANE_MINUTES = (8, 12)   # E: an estimate, no source found (replace with a measured figure)
ADDON_MINUTES = (1, 3)            # data/durations.yaml aws:eks/addon:Addon low/high (a create; an update is alike)
NODE_MINUTES = (3, 6)             # E: launch, Ready, then drain of the old node, per batch of maxUnavailable
# EKS: "you can't downgrade a cluster's Kubernetes version" (EKS user guide, update-cluster.adoc, "Update
# existing cluster to new Kubernetes version"); no rollback window is offered for the control plane.
IRREVERSIBLE = ("The control plane cannot be downgraded: EKS offers no rollback window for a cluster version "
                "(EKS user guide, update-cluster). Instead: run the same plan on dev first, keep staging one "
                "step ahead of prod, and for a failed upgrade build a new stack at the old minor and move the "
                "workloads (blue/green); node groups and Karpenter nodes can be rolled again, EKS add-on pins "
                "moved back only to versions EKS lists for the new minor.")


class RefusedError(Exception):
    """The target is not one step ahead of the stack's minor."""


@dataclass(frozen=True)
class Finding:
    where: str
    api_version: str
    kind: str
    status: str   # "removed" or "deprecated"
    since: str
    use: str


def target_key(s: Settings) -> tuple[str, str]:
    return ("cluster", "eks-platform:cluster") if s.is_aws else ("kind", "eks-platform:kind")


def steps(current: str, to: str) -> list[str]:
    """The minors between ``current`` and ``to``, one at a time (``to`` included)."""
    (major, a), (_, b) = versions.minor_tuple(current), versions.minor_tuple(to)
    return [f"{major}.{m}" for m in range(a + 1, b + 1)]


def check_step(current: str, to: str) -> None:
    if versions.minor_tuple(to) <= versions.minor_tuple(current):
        raise RefusedError(f"--to {to}: the stack runs {current}; an upgrade goes up (EKS never downgrades a control "
                      "plane)")
    path = steps(current, to)
    if len(path) > 1:
        raise RefusedError(f"--to {to} is {len(path)} minors ahead of {current}: EKS upgrades one minor at a time; "
                      f"plan and apply each step in turn: {' -> '.join([current, *path])}")


def deprecated_apis() -> dict[str, Any]:
    return yamlio.load(DEPRECATED_APIS_FILE.read_text())


def api_status(api_version: str, kind: str, target: str, table: dict[str, Any]) -> tuple[str, str, str] | None:
    for status in ("removed", "deprecated"):
        for row in table[status]:
            if row["apiVersion"] == api_version and kind in row["kinds"] \
                    and versions.minor_tuple(row["in"]) <= versions.minor_tuple(target):
                return status, row["in"], row["use"]
    return None


def _objects_of(rec: Recording) -> list[tuple[str, dict[str, Any]]]:
    """(where, object) for the platform's own Kubernetes objects and every chart it installs, rendered."""
    out: list[tuple[str, dict[str, Any]]] = []
    for r in rec:
        if not r.type.startswith("kubernetes:") or r.type == charts.RELEASE_TYPE:
            continue
        if r.inputs.get("apiVersion") and r.inputs.get("kind"):
            out.append((f"platform {r.name}", r.inputs))
        elif r.type.count(":") == 2 and not r.type.startswith("kubernetes:yaml/"):
            group_version, kind = r.type.split(":")[1:]
            api = group_version.removeprefix("core/")
            out.append((f"platform {r.name}", {"apiVersion": api, "kind": kind}))
        for obj in r.inputs.get("objs") or ():
            if isinstance(obj, dict):
                out.append((f"platform {r.name}", obj))
    for release in charts.releases(rec):
        pinned = charts.chart_of(release)
        for obj in charts.render_release(release):
            name = (obj.get("metadata") or {}).get("name", "?")
            out.append((f"chart {pinned.name} {pinned.version}: {obj.get('kind')} {name}", obj))
    return out


_API = re.compile(r"^apiVersion:\s*['\"]?([^\s'\"]+)", re.M)
_KIND = re.compile(r"^kind:\s*['\"]?([^\s'\"{]+)", re.M)


def gitops_objects(root: Path = GITOPS_DIR) -> list[tuple[str, dict[str, Any]]]:
    """apiVersion/kind of every manifest under ``root`` (templates included: read as text, document by
    document, so objects behind a condition are checked too)."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".tpl") and p.is_file()):
        for doc in re.split(r"^---\s*$", path.read_text(), flags=re.M):
            api, kind = _API.search(doc), _KIND.search(doc)
            if api and kind and "{{" not in api.group(1) and "{{" not in kind.group(1):
                out.append((f"gitops {path.relative_to(root.parent)}", {"apiVersion": api.group(1),
                                                                          "kind": kind.group(1)}))
    return out


def rendered_workloads(s: Settings) -> list[tuple[str, dict[str, Any]]]:
    """The gitops/ workload charts as Argo CD renders them for the stack (harness/gitops.py)."""
    if not s.argocd.enabled:
        return []
    environment = s.tier if s.is_aws else "local"
    return [(f"gitops {app} ({environment}): {o.get('kind')} {(o.get('metadata') or {}).get('name')}", o)
            for app in gitops.workloads() for o in gitops.render_workload(app, environment, s.workload_exposure)]


def api_findings(objects: list[tuple[str, dict[str, Any]]], target: str) -> list[Finding]:
    table, seen, out = deprecated_apis(), set(), []
    for where, obj in objects:
        hit = api_status(str(obj.get("apiVersion")), str(obj.get("kind")), target, table)
        if hit and (where, obj["apiVersion"], obj["kind"]) not in seen:
            seen.add((where, obj["apiVersion"], obj["kind"]))
            out.append(Finding(where, obj["apiVersion"], obj["kind"], *hit))
    return out


def _pdbs(objects: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for where, obj in objects:
        if obj.get("kind") == "PodDisruptionBudget" and obj.get("spec"):
            spec = obj.get("spec") or {}
            out.append({"where": where, "namespace": (obj.get("metadata") or {}).get("namespace"),
                        **{k: spec[k] for k in ("minAvailable", "maxUnavailable") if k in spec}})
    return out


def build(stack: str, to: str, gitops_root: Path = GITOPS_DIR) -> dict[str, Any]:
    s = stack_settings(stack)
    current = support.minor(s)
    check_step(current, to)
    section, key = target_key(s)
    blockers = [{"component": k, "pinned": versions.SUPPORT[k].pinned, "supports": versions.SUPPORT[k].range(),
                 "source": f"{versions.SUPPORT[k].source} ({versions.SUPPORT[k].date})",
                 "action": f"move the {k} pin to a release that supports {to} first"}
                for k in support.enabled_components(s) if not versions.SUPPORT[k].supports(to)]
    unconfirmed = [k for k in support.enabled_components(s) if not versions.SUPPORT[k].stated]
    if s.is_aws and to not in versions.EKS_ADDONS:
        blockers.append({"component": "eks managed add-ons", "pinned": "-", "supports": "-",
                         "source": "versions.EKS_ADDONS", "action": f"pin every EKS add-on for {to} in "
                         "versions.EKS_ADDONS (aws eks describe-addon-versions --kubernetes-version ...)"})
    if not s.is_aws and to not in versions.KIND_NODE_IMAGES:
        blockers.append({"component": "kind-node-image", "pinned": "-", "supports": "-",
                         "source": "versions.KIND_NODE_IMAGES", "action": f"pin a kindest/node image for {to}"})
    rec = run_stack(stack)
    objects = _objects_of(rec) + gitops_objects(gitops_root) + rendered_workloads(s)
    findings = api_findings(objects, to)
    pdbs = _pdbs(objects)
    order: list[dict[str, Any]] = []
    low = high = 0.0
    if s.is_aws:
        order.append({"step": "control plane", "change": f"{key}.version {current} -> {to} (pulumi up)",
                      "minutes": list(CONTROL_PLANE_MINUTES), "disruption": "none expected (API stays served)"})
        low, high = low + CONTROL_PLANE_MINUTES[0], high + CONTROL_PLANE_MINUTES[1]
        old, new = versions.EKS_ADDONS.get(current, {}), versions.EKS_ADDONS.get(to, {})
        enabled_eks = [k.removeprefix("eks:") for k in support.enabled_components(s) if k.startswith("eks:")]
        moves = {n: [old.get(n), new.get(n)] for n in enabled_eks if old.get(n) != new.get(n)}
        order.append({"step": "EKS managed add-ons", "change": moves or "no pin changes",
                      "minutes": [ADDON_MINUTES[0] * bool(moves), ADDON_MINUTES[1] * len(moves)],
                      "disruption": "each add-on's pods roll (DaemonSets node by node)"})
        low, high = low + ADDON_MINUTES[0] * bool(moves), high + ADDON_MINUTES[1] * len(moves)
        for g in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
            nodes = int((g.inputs.get("scalingConfig") or {}).get("desiredSize") or 0)
            upd = g.inputs.get("updateConfig") or {}
            batch = int(upd.get("maxUnavailable") or max(1, nodes * float(upd.get("maxUnavailablePercentage") or 0)
                                                       // 100) or 1)
            batches = -(-nodes // batch) if nodes else 0
            order.append({"step": f"node group {g.name}", "change": f"rolling to {to}: {nodes} nodes replaced, "
                          f"{batch} at a time ({upd or 'EKS default: 1'})", "nodes_replaced": nodes,
                          "minutes": [NODE_MINUTES[0] * batches, NODE_MINUTES[1] * batches],
                          "disruption": f"pods evicted from {nodes} nodes, within the PDBs below"})
            low, high = low + NODE_MINUTES[0] * batches, high + NODE_MINUTES[1] * batches
        for pool in [r for r in rec if r.inputs.get("kind") == "NodePool"]:
            budgets = ((pool.inputs.get("spec") or {}).get("disruption") or {}).get("budgets") or [{"nodes": "10%"}]
            order.append({"step": f"Karpenter NodePool {pool.name}", "change": "every node drifts (the AMI "
                          "its EC2NodeClass selects follows the new minor) and is replaced",
                          "budgets": budgets, "nodes_replaced": "all the pool's nodes (count known only live)",
                          "disruption": f"at most {', '.join(str(b.get('nodes')) for b in budgets)} of the pool's "
                                        "nodes at a time, within the PDBs below"})
    else:
        order.append({"step": "kind cluster", "change": f"kind.version {current} -> {to}: the kind cluster is "
                      "recreated on the new node image (make down; make up)", "minutes": [3, 6],
                      "disruption": "everything on the local cluster is recreated"})
        low, high = 3, 6
    return {"stack": stack, "from": current, "to": to, "config_key": f"{key}.version",
            "preflight": {"ok": not blockers and not [f for f in findings if f.status == "removed"],
                          "blockers": blockers, "unconfirmed_ranges": unconfirmed,
                          "apis": [f.__dict__ for f in findings],
                          "deprecated_api_data": {k: deprecated_apis()[k] for k in ("source", "date")}},
            "order": order, "pdbs": pdbs, "duration_minutes": [low, high],
            "irreversible": IRREVERSIBLE if s.is_aws else "nothing: the local cluster is disposable",
            "section": section}


def text(p: dict[str, Any]) -> str:
    pf = p["preflight"]
    lines = [f"Upgrade plan: {p['stack']} {p['from']} -> {p['to']} ({p['config_key']})", "",
             f"1. Preflight: {'OK' if pf['ok'] else 'BLOCKED'}"]
    lines += [f"   - {b['component']} {b['pinned']} supports {b['supports']} ({b['source']}): {b['action']}"
              for b in pf["blockers"]]
    if pf["unconfirmed_ranges"]:
        lines.append(f"   - ranges inferred, not published (confirm): {', '.join(pf['unconfirmed_ranges'])}")
    lines += [f"   - {a['status']} API {a['api_version']} {a['kind']} (since {a['since']}; use {a['use']}): "
              f"{a['where']}" for a in pf["apis"]]
    if not pf["apis"]:
        lines.append("   - no removed or deprecated API in what is rendered and in gitops/")
    lines.append(f"   (API data: {pf['deprecated_api_data']['source']}, {pf['deprecated_api_data']['date']})")
    lines += ["", "2. Order"]
    for i, step in enumerate(p["order"], 1):
        extra = f"; budgets {step['budgets']}" if "budgets" in step else ""
        mins = f" [{step['minutes'][0]}-{step['minutes'][1]} min]" if "minutes" in step else ""
        lines.append(f"   {i}. {step['step']}: {step['change']}{extra}{mins}; {step['disruption']}")
    lines += [f"   PDB {d['where']} ({d['namespace']}): "
              + ", ".join(f"{k} {d[k]}" for k in ("minAvailable", "maxUnavailable") if k in d) for d in p["pdbs"]]
    lines += ["", f"3. Expected duration: {p['duration_minutes'][0]:g}-{p['duration_minutes'][1]:g} min "
              "(estimates; Karpenter drift not counted)", f"   Cannot be undone: {p['irreversible']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--stack", required=True)
    ap.add_argument("--to", required=True, help="the next Kubernetes minor, e.g. 1.36")
    ap.add_argument("--json", help="write the plan as JSON to this file ('-': stdout)")
    args = ap.parse_args(argv)
    try:
        plan = build(args.stack, args.to)
    except RefusedError as e:
        print(f"refused: {e}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(plan, indent=2, default=str))
    else:
        print(text(plan))
        if args.json:
            Path(args.json).write_text(json.dumps(plan, indent=2, default=str))
    return 0 if plan["preflight"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
