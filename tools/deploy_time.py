"""Deploy-time estimate of a stack: the cold `pulumi up` critical path through the program's graph.

Comes after an evaluation under the shared mocks (harness.run_stack): the graph is the one the
engine would build from it (harness/graph.py ``edges``), each resource takes its duration from
data/durations.yaml (by type, with per-add-on and per-chart rows over that), and
``critical_path`` schedules everything at its earliest start. The floor it is compared with is the
control plane (and what it needs), the CNI add-on, one node group, then the slowest chain inside
one add-on that must follow compute: what no reordering of add-ons can shorten.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from harness import Recorded, Recording, yamlio
from harness.graph import critical_path, descendants_of, edges

DURATIONS_FILE = Path(__file__).resolve().parent.parent / "data" / "durations.yaml"
FLOOR_TARGET = 1.15
"""The critical path may be at most this much longer than its floor (issue 12)."""
COMMAND = "command:local:Command"
CLUSTER, NODE_GROUP, ADDON, RELEASE = ("aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
                                       "aws:eks/addon:Addon", "kubernetes:helm.sh/v3:Release")
FARGATE_PROFILE = "aws:eks/fargateProfile:FargateProfile"


@functools.cache
def load_durations(path: Path = DURATIONS_FILE) -> dict[str, Any]:
    return yamlio.load(path.read_text())


def chart_name(chart: str) -> str:
    """``oci://public.ecr.aws/karpenter/karpenter`` -> ``karpenter``; ``istiod`` -> ``istiod``."""
    return chart.rstrip("/").rsplit("/", 1)[-1]


def row_for(res: Recorded, table: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The durations row that applies to ``res`` and its key (for the report's table)."""
    if res.type == ADDON and res.inputs.get("addonName") in table.get("addons", {}):
        return f"addon {res.inputs['addonName']}", table["addons"][res.inputs["addonName"]]
    if res.type == RELEASE and chart_name(str(res.inputs.get("chart", ""))) in table.get("charts", {}):
        name = chart_name(str(res.inputs["chart"]))
        return f"chart {name}", table["charts"][name]
    if res.type == COMMAND and str(res.inputs.get("create", "")).startswith("sleep "):
        # a fixed wait (the Pod Identity propagation): exactly its own length
        minutes = round(int(str(res.inputs["create"]).split()[1]) / 60, 2)
        return "wait (sleep)", {"typical": minutes, "low": minutes, "high": minutes,
                                "source": "V: the command's own sleep (components/core/common.py)"}
    if res.type in table["types"]:
        return res.type, table["types"][res.type]
    return "default", table["default"]


def duration_of(table: dict[str, Any], which: str = "typical"):
    return lambda res: float(row_for(res, table)[1][which])


def _top_component(rec: Recording, res: Recorded) -> str:
    """The URN of the component right under the stack that holds ``res`` (its add-on)."""
    urn = res.urn
    while True:
        holder = rec.by_urn(urn)
        if not holder.parent or "pulumi:pulumi:Stack" in holder.parent:
            return urn
        urn = holder.parent


def floor_graph(rec: Recording, graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """``graph`` where what follows compute keeps only the waits inside its own add-on (and on the
    compute it follows): ordering between add-ons is what the floor leaves out."""
    compute = [r.urn for r in rec if r.type in (NODE_GROUP, FARGATE_PROFILE)]
    after = descendants_of(rec, compute, graph)
    top = {urn: _top_component(rec, rec.by_urn(urn)) for urn in after}
    out: dict[str, set[str]] = {}
    for urn, deps in graph.items():
        if urn in after:
            out[urn] = {d for d in deps if d not in after or top[d] == top[urn]}
        else:
            out[urn] = set(deps)
    return out


def _label(res: Recorded) -> str:
    extra = res.inputs.get("addonName") or (chart_name(str(res.inputs["chart"])) if res.type == RELEASE else "")
    return f"{res.name} ({res.type}{', ' + extra if extra else ''})"


def estimate(rec: Recording, table: dict[str, Any] | None = None) -> dict[str, Any]:
    """The critical path (typical durations), its low/high bounds, and its floor, in minutes."""
    table = table or load_durations()
    graph = edges(rec)
    typical = critical_path(rec, duration_of(table), graph)
    if not typical.path:
        return {"minutes": 0.0, "path": [], "note": "nothing to create"}
    low = critical_path(rec, duration_of(table, "low"), graph)
    high = critical_path(rec, duration_of(table, "high"), graph)
    floor = critical_path(rec, duration_of(table), floor_graph(rec, graph))
    rows: dict[str, dict[str, Any]] = {}
    for res in rec:
        if res.custom:
            key, row = row_for(res, table)
            rows.setdefault(key, {"key": key, **row, "resources": 0})["resources"] += 1
    return {
        "minutes": round(typical.total, 1),
        "range": [round(low.total, 1), round(high.total, 1)],
        "floorMinutes": round(floor.total, 1),
        "overFloor": round(typical.total / floor.total - 1, 3) if floor.total else 0.0,
        "floorTarget": FLOOR_TARGET - 1,
        "path": [{"resource": s.resource.name, "type": s.resource.type, "label": _label(s.resource),
                  "start": round(s.start, 2), "finish": round(s.finish, 2), "minutes": round(s.duration, 2),
                  "row": row_for(s.resource, table)[0]} for s in typical.path],
        "floorPath": [_label(s.resource) for s in floor.path],
        "durations": sorted(rows.values(), key=lambda r: (-float(r["typical"]), r["key"])),
        "assumption": "unlimited parallelism (Pulumi runs 4 x CPUs at once), every create succeeding first "
                      "time; low/high take every resource's low/high row",
    }


def render_text(est: dict[str, Any]) -> list[str]:
    if not est.get("path"):
        return ["Deploy time", f"  {est.get('note', 'nothing to create')}"]
    lo, hi = est["range"]
    verdict = "within" if est["overFloor"] <= est["floorTarget"] else "OVER"
    lines = ["Deploy time (cold pulumi up, estimated)",
             f"  critical path: {est['minutes']} min (range {lo}-{hi}); floor {est['floorMinutes']} min "
             f"(+{est['overFloor']:.0%}, {verdict} the +{est['floorTarget']:.0%} target)",
             f"  assumes {est['assumption']}", "  path:"]
    lines += [f"    {s['start']:>6.1f} -> {s['finish']:>6.1f}  {s['label']}" for s in est["path"]]
    lines += ["  durations used (minutes, typical low-high; source):"]
    lines += [f"    {r['typical']:>5} {r['low']}-{r['high']}  {r['key']} x{r['resources']}: {r['source']}"
              for r in est["durations"]]
    return lines


def render_markdown(est: dict[str, Any]) -> list[str]:
    if not est.get("path"):
        return ["### Deploy time", "", est.get("note", "nothing to create")]
    lo, hi = est["range"]
    lines = ["### Deploy time", "",
             f"Critical path **{est['minutes']} min** (range {lo}-{hi}); floor {est['floorMinutes']} min "
             f"(+{est['overFloor']:.0%}, target ≤ +{est['floorTarget']:.0%}). Assumes {est['assumption']}.", "",
             "| start | finish | resource |", "|---:|---:|---|"]
    lines += [f"| {s['start']:.1f} | {s['finish']:.1f} | {s['label']} |" for s in est["path"]]
    lines += ["", "<details><summary>Durations used</summary>", "",
              "| row | typical | low-high | resources | source |", "|---|---:|---|---:|---|"]
    lines += [f"| {r['key']} | {r['typical']} | {r['low']}-{r['high']} | {r['resources']} | {r['source']} |"
              for r in est["durations"]]
    return [*lines, "", "</details>"]
