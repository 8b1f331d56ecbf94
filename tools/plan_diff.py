"""What differs between two stacks: settings, resources, Helm releases, cost and deploy time.

    python -m tools.plan_diff dev prod [--json FILE|-] [--markdown FILE|-]

Comes after tools.plan: both stacks are evaluated under the shared mocks (harness.run_stack) and
compared. Settings are compared key by key over the full validated model (the same keys as the
stack files, eks-platform:section.key); resources by count per type; releases by chart, version
and the value keys that differ. An unknown stack is an error that lists the stacks (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from harness import run_stack, stack_names, stack_settings
from settings import ConfigError, Settings
from tools import plan as plan_tool

PROJECT = "eks-platform"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists stay whole (a list is one setting)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _settings(s: Settings) -> dict[str, Any]:
    return flatten(s.model_dump(mode="json", by_alias=True, exclude={"stack"}))


def _differ(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    missing = object()
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            out.append({"key": key, "a": None if va is missing else va, "b": None if vb is missing else vb})
    return out


def _releases(rec) -> dict[str, dict[str, Any]]:
    out = {}
    for r in rec.of_type("kubernetes:helm.sh/v3:Release"):
        chart = str(r.inputs.get("chart", ""))
        out[chart] = {"version": r.inputs.get("version"), "namespace": r.inputs.get("namespace"),
                      "values": flatten(r.inputs.get("values") or {})}
    return out


def diff(a: str, b: str) -> dict[str, Any]:
    """The difference of stack ``b`` against stack ``a``."""
    for stack in (a, b):
        if stack not in stack_names():
            raise KeyError(stack)
    sa, sb = (stack_settings(s) for s in (a, b))
    ra, rb = run_stack(a), run_stack(b)
    count_a = Counter(r.type for r in ra if r.custom)
    count_b = Counter(r.type for r in rb if r.custom)
    resources = [{"type": t, "a": count_a.get(t, 0), "b": count_b.get(t, 0)}
                 for t in sorted(set(count_a) | set(count_b)) if count_a.get(t, 0) != count_b.get(t, 0)]
    rel_a, rel_b = _releases(ra), _releases(rb)
    releases = []
    for chart in sorted(set(rel_a) | set(rel_b)):
        x, y = rel_a.get(chart), rel_b.get(chart)
        if x is None or y is None:
            releases.append({"chart": chart, "only": a if y is None else b})
            continue
        values = _differ(x["values"], y["values"])
        if values or x["version"] != y["version"] or x["namespace"] != y["namespace"]:
            releases.append({"chart": chart, "version": [x["version"], y["version"]], "values": values})
    report_a, report_b = plan_tool.report_sections(sa, ra), plan_tool.report_sections(sb, rb)
    return {
        "a": a, "b": b,
        "settings": _differ(_settings(sa), _settings(sb)),
        "resources": resources,
        "totals": {"a": sum(count_a.values()), "b": sum(count_b.values())},
        "releases": releases,
        "cost": {"a": report_a["cost"]["fixedMonthly"], "b": report_b["cost"]["fixedMonthly"]},
        "deployMinutes": {"a": report_a["deployTime"].get("minutes", 0), "b": report_b["deployTime"].get("minutes", 0)},
    }


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


def render_text(d: dict[str, Any]) -> str:
    a, b = d["a"], d["b"]
    lines = [f"eks-platform plan diff: {a} -> {b}",
             f"  resources {d['totals']['a']} -> {d['totals']['b']}; fixed cost ${d['cost']['a']:,.2f} -> "
             f"${d['cost']['b']:,.2f}/month; cold deploy {d['deployMinutes']['a']} -> {d['deployMinutes']['b']} min",
             "", f"Settings that differ ({len(d['settings'])})"]
    lines += [f"  {PROJECT}:{s['key']}: {_short(s['a'])} -> {_short(s['b'])}" for s in d["settings"]]
    lines += ["", f"Resource counts that differ ({len(d['resources'])})"]
    lines += [f"  {r['a']:>4} -> {r['b']:<4} {r['type']}" for r in d["resources"]]
    lines += ["", f"Helm releases that differ ({len(d['releases'])})"]
    for r in d["releases"]:
        if "only" in r:
            lines.append(f"  {r['chart']}: only in {r['only']}")
            continue
        version = "" if r["version"][0] == r["version"][1] else f" {r['version'][0]} -> {r['version'][1]}"
        lines.append(f"  {r['chart']}{version}: {len(r['values'])} values differ")
        lines += [f"    {v['key']}: {_short(v['a'], 40)} -> {_short(v['b'], 40)}" for v in r["values"]]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return "`" + _short(value, 50).replace("|", "\\|") + "`" if value is not None else "-"


def render_markdown(d: dict[str, Any]) -> str:
    a, b = d["a"], d["b"]
    lines = [f"## eks-platform plan diff: `{a}` → `{b}`", "",
             f"| | {a} | {b} |", "|---|---:|---:|",
             f"| resources | {d['totals']['a']} | {d['totals']['b']} |",
             f"| fixed cost/month | ${d['cost']['a']:,.2f} | ${d['cost']['b']:,.2f} |",
             f"| cold deploy (min) | {d['deployMinutes']['a']} | {d['deployMinutes']['b']} |", "",
             f"### Settings that differ ({len(d['settings'])})", "", f"| key | {a} | {b} |", "|---|---|---|"]
    lines += [f"| `{PROJECT}:{s['key']}` | {_cell(s['a'])} | {_cell(s['b'])} |" for s in d["settings"]]
    lines += ["", f"### Resource counts that differ ({len(d['resources'])})", "", f"| type | {a} | {b} |",
              "|---|---:|---:|"]
    lines += [f"| `{r['type']}` | {r['a']} | {r['b']} |" for r in d["resources"]]
    lines += ["", f"### Helm releases that differ ({len(d['releases'])})", ""]
    for r in d["releases"]:
        if "only" in r:
            lines.append(f"- `{r['chart']}`: only in {r['only']}")
        else:
            version = "" if r["version"][0] == r["version"][1] else f" {r['version'][0]} → {r['version'][1]}"
            keys = ", ".join(f"`{v['key']}`" for v in r["values"])
            lines.append(f"- `{r['chart']}`{version}: {len(r['values'])} values differ ({keys})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan_diff", description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the stack to compare from")
    parser.add_argument("b", help="the stack to compare with")
    parser.add_argument("--json", metavar="FILE", help="write the diff as JSON to FILE ('-' for stdout)")
    parser.add_argument("--markdown", metavar="FILE", help="write the diff as Markdown to FILE ('-' for stdout)")
    args = parser.parse_args(argv)
    unknown = [s for s in (args.a, args.b) if s not in stack_names()]
    if unknown:
        print(f"unknown stack {unknown[0]!r}: stacks are {', '.join(stack_names())} (stacks/Pulumi.<stack>.yaml)",
              file=sys.stderr)
        return 2
    try:
        d = diff(args.a, args.b)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    for flag, text in ((args.json, json.dumps(d, indent=2) + "\n"), (args.markdown, render_markdown(d))):
        if flag == "-":
            print(text, end="")
            return 0
    print(render_text(d), end="")
    for flag, text in ((args.json, json.dumps(d, indent=2) + "\n"), (args.markdown, render_markdown(d))):
        if flag:
            Path(flag).write_text(text)
            print(f"wrote {flag}")
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # like tools.plan: skip the interpreter's teardown
