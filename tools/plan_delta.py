"""What a change does to each stack's plan against its base: cost, deploy path, resources, policy.

    python -m tools.plan_delta --base origin/main --stack dev [--stack prod] [--json FILE|-] [--markdown FILE|-]
    python -m tools.plan_delta --base-json base.json --head-json plan.json [--markdown FILE|-]
        [--fail-above-percent 10] [--fail-above-usd 20] [--accepted]

Comes after tools.plan: each side is a plan JSON (``python -m tools.plan --stack S --json FILE``). The
head is the working tree (evaluated here) or ``--head-json``; the base is ``--base-json`` or the commit
``--base`` names, evaluated offline in a temporary ``git worktree`` of it by its own ``tools.plan`` with
this interpreter (so the base runs with this change's packages: a change to requirements*.txt is
evaluated at the base with the new pins). A stack whose file the base does not have is new: all added.

Per stack: the fixed monthly cost (total and each line item that changed), the cold-deploy critical
path before and after, resources added, removed, replaced and changed by type, and the policy
violations that appeared or went. What "replaced" means offline: Pulumi identifies a resource by its
URN (stack, project, parent type chain, type, name). A URN that goes without an alias naming it is a
delete, one that comes is a create; a removed and an added resource of the same name are one
resource re-created (its type or parent changed: re-parenting or renaming a component replaces the
cloud resources below it). A resource whose URN stays but whose inputs changed is "changed": the
provider updates it in place or replaces it (an immutable property), which only `pulumi preview`
knows: the mocks have no provider schema. URNs that moved with an alias are counted, not flagged.

The threshold: exit 1 when a stack's fixed monthly cost rises by more than ``--fail-above-percent``
of the base or more than ``--fail-above-usd`` (either; a rise equal to the threshold passes), unless
``--accepted`` (the pipeline passes it when the pull request carries the label ``ACCEPT_LABEL``). A new
stack's whole cost is its rise (and more than any percentage). Usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

from harness import PROJECT_DIR

ACCEPT_LABEL = "cost-increase-accepted"
"""The pull-request label that accepts a cost rise above the threshold (.github/workflows/pull-request.yml)."""
PERCENT_VARIABLE, USD_VARIABLE = "COST_DELTA_MAX_PERCENT", "COST_DELTA_MAX_USD"
"""The repository variables the pipeline reads the thresholds from (.github/PIPELINE.md)."""


# --- the two sides ---------------------------------------------------------------------------------

class DeltaError(Exception):
    """A base that can't be evaluated or an input that is not a plan: a usage error (exit 2)."""


def _git(*args: str, repo: Path = PROJECT_DIR) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeltaError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def plans_at(ref: str, stacks: list[str], repo: Path = PROJECT_DIR) -> tuple[str, dict[str, dict[str, Any] | None]]:
    """(commit, {stack: plan or None}) of the program at ``ref`` of ``repo``, each from that commit's own
    ``tools.plan`` run in a temporary worktree of it; None for a stack the commit has no stack file for."""
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", repo=repo)
    except DeltaError:
        raise DeltaError(f"--base {ref}: no such commit in {repo} (fetch it first, e.g. git fetch origin "
                         "main)") from None
    env = dict(os.environ)
    from harness.upstream import roots  # the base finds the upstream data this checkout uses
    found = next((r for r in roots() if r.is_dir()), None)
    if found is not None and "EKS_PLATFORM_UPSTREAM" not in env:
        env["EKS_PLATFORM_UPSTREAM"] = str(found)
    out: dict[str, dict[str, Any] | None] = {}
    with tempfile.TemporaryDirectory(prefix="plan-delta-") as tmp:
        tree = Path(tmp) / "base"
        _git("worktree", "add", "--detach", "--quiet", str(tree), commit, repo=repo)
        try:
            for stack in stacks:
                if not (tree / "stacks" / f"Pulumi.{stack}.yaml").exists():
                    out[stack] = None
                    continue
                target = Path(tmp) / f"{stack}.json"
                done = subprocess.run([sys.executable, "-m", "tools.plan", "--stack", stack, "--json", str(target)],
                                      cwd=tree, env=env, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise DeltaError(f"the plan of {stack} at {ref} ({commit[:12]}) failed:\n"
                                     f"{(done.stderr or done.stdout).strip()[-2000:]}")
                out[stack] = json.loads(target.read_text())
        finally:
            _git("worktree", "remove", "--force", str(tree), repo=repo)
    return commit, out


def plan_here(stack: str) -> dict[str, Any]:
    """The plan of the working tree, evaluated in this process (as ``tools.plan --json`` writes it)."""
    from tools import plan

    return json.loads(json.dumps(plan.build_plan(stack), default=str))


def read_plan(path: str) -> dict[str, Any] | None:
    """A plan JSON file; ``null`` in it stands for a stack the base does not have."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DeltaError(f"{path}: not a plan JSON ({exc})") from exc
    if data is not None and not (isinstance(data, dict) and {"stack", "cost", "deployTime"} <= set(data)):
        raise DeltaError(f"{path}: not a plan JSON (python -m tools.plan --stack S --json {path})")
    return data


# --- the comparison --------------------------------------------------------------------------------

def _cents(value: float) -> int:
    return round(value * 100)


def _cost(base: dict[str, Any] | None, head: dict[str, Any]) -> dict[str, Any]:
    def items(plan: dict[str, Any] | None) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for i in (plan or {}).get("cost", {}).get("fixed", []):
            totals[i["item"]] += _cents(i["monthly"])
        return dict(totals)

    a, b = items(base), items(head)
    changed = [{"item": k, "base": a.get(k, 0) / 100, "head": b.get(k, 0) / 100,
                "delta": (b.get(k, 0) - a.get(k, 0)) / 100,
                "only": None if k in a and k in b else ("head" if k in b else "base")}
               for k in [*a, *(k for k in b if k not in a)] if a.get(k, 0) != b.get(k, 0) or (k in a) != (k in b)]
    total_a = _cents(base["cost"]["fixedMonthly"]) if base else 0
    total_b = _cents(head["cost"]["fixedMonthly"])
    return {"base": total_a / 100, "head": total_b / 100, "delta": (total_b - total_a) / 100,
            "percent": None if not total_a else round((total_b - total_a) * 100 / total_a, 2), "items": changed}


def _path(plan: dict[str, Any] | None) -> dict[str, Any]:
    deploy = (plan or {}).get("deployTime") or {}
    return {"minutes": deploy.get("minutes", 0), "floorMinutes": deploy.get("floorMinutes"),
            "path": [step["label"] for step in deploy.get("path", [])]}


def _type_of(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1]


def _name_of(urn: str) -> str:
    return urn.split("::")[-1]


def _chain(urn: str) -> str:
    """The parent type chain and type of a URN: what differs between two URNs of one name."""
    return urn.split("::")[2]


def _resources(base: dict[str, Any] | None, head: dict[str, Any]) -> dict[str, Any]:
    if base is not None and ("resources" not in base or "resources" not in head):
        # a plan from before tools.plan listed URNs: counts per type only
        def counts(plan: dict[str, Any]) -> Counter[str]:
            total: Counter[str] = Counter()
            for comp in plan["components"]:
                total.update(comp["resources"])
            return total
        a, b = counts(base), counts(head)
        return {"byUrn": False, "added": {t: n for t, n in sorted((b - a).items())},
                "removed": {t: n for t, n in sorted((a - b).items())}, "replaced": [], "changed": {}, "aliased": 0,
                "totals": {"base": sum(a.values()), "head": sum(b.values())}}
    a = {r["urn"]: r for r in (base or {}).get("resources", [])}
    b = {r["urn"]: r for r in head["resources"]}
    moved = {alias: urn for urn, r in b.items() if urn not in a for alias in r.get("aliases", []) if alias in a
             and alias not in b}
    gone = [u for u in a if u not in b and u not in moved]
    new = [u for u in b if u not in a and u not in moved.values()]
    replaced = []
    for old in list(gone):
        # the same name under another parent or type: one resource deleted and created again
        match = next((u for u in new if _name_of(u) == _name_of(old) and _type_of(u) == _type_of(old)), None) \
            or next((u for u in new if _name_of(u) == _name_of(old)), None)
        if match is not None:
            gone.remove(old)
            new.remove(match)
            replaced.append({"name": _name_of(old), "type": _type_of(match), "from": old, "to": match})
    pairs = [(u, u) for u in a if u in b] + list(moved.items())
    changed = Counter(_type_of(new_urn) for old, new_urn in pairs if a[old]["inputs"] != b[new_urn]["inputs"])
    return {"byUrn": True,
            "added": dict(sorted(Counter(_type_of(u) for u in new).items())),
            "removed": dict(sorted(Counter(_type_of(u) for u in gone).items())),
            "replaced": sorted(replaced, key=lambda r: (r["type"], r["name"])),
            "changed": dict(sorted(changed.items())),
            "aliased": len(moved), "totals": {"base": len(a), "head": len(b)}}


def _violations(plan: dict[str, Any] | None) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    out = {}
    for rule in ((plan or {}).get("policy") or {}).get("rules", []):
        for v in rule["violations"]:
            key = (rule["rule"], rule["level"], v.get("resource") or "stack", v["detail"])
            out[key] = {"rule": rule["rule"], "level": rule["level"], "resource": key[2], "detail": v["detail"]}
    return out


def _policy(base: dict[str, Any] | None, head: dict[str, Any]) -> dict[str, Any]:
    a, b = _violations(base), _violations(head)

    def counts(plan: dict[str, Any] | None) -> dict[str, int]:
        pol = (plan or {}).get("policy") or {}
        return {"mandatory": pol.get("mandatory", 0), "advisory": pol.get("advisory", 0)}

    order = lambda v: (v["level"] != "mandatory", v["rule"], v["resource"], v["detail"])  # noqa: E731
    return {"new": sorted((b[k] for k in b if k not in a), key=order),
            "resolved": sorted((a[k] for k in a if k not in b), key=order),
            "counts": {"base": counts(base), "head": counts(head)}}


def threshold(cost: dict[str, Any], percent: float | None, usd: float | None, accepted: bool) -> dict[str, Any]:
    """Whether the cost rise passes ``percent`` of the base or ``usd``, in whole cents (a rise equal to
    a threshold passes); ``accepted`` turns a failure into a pass that says so."""
    rise = _cents(cost["head"]) - _cents(cost["base"])
    base = _cents(cost["base"])
    reasons = []
    if usd is not None and rise > _cents(usd):
        reasons.append(f"rises ${rise / 100:,.2f}/month, more than ${usd:,.2f} ({USD_VARIABLE})")
    if percent is not None and rise > 0 and (base == 0 or Fraction(rise * 100, base) > Fraction(str(percent))):
        shown = "from nothing" if base == 0 else f"{rise * 100 / base:.2f}%"
        reasons.append(f"rises {shown}, more than {percent:g}% ({PERCENT_VARIABLE})")
    return {"percent": percent, "usd": usd, "exceeded": bool(reasons), "accepted": accepted and bool(reasons),
            "fails": bool(reasons) and not accepted, "reasons": reasons}


def delta(base: dict[str, Any] | None, head: dict[str, Any], *, percent: float | None = None,
          usd: float | None = None, accepted: bool = False, base_ref: str | None = None) -> dict[str, Any]:
    """The difference of ``head`` against ``base`` (None: a stack the base does not have)."""
    cost = _cost(base, head)
    before, after = _path(base), _path(head)
    return {
        "stack": head["stack"],
        "base": base_ref,
        "newStack": base is None,
        "cost": cost,
        "deploy": {"base": before, "head": after, "delta": round(after["minutes"] - before["minutes"], 1),
                   "pathChanged": before["path"] != after["path"]},
        "resources": _resources(base, head),
        "policy": _policy(base, head),
        "threshold": threshold(cost, percent, usd, accepted),
    }


def unchanged(d: dict[str, Any]) -> bool:
    r = d["resources"]
    return (not d["cost"]["items"] and d["cost"]["delta"] == 0 and not d["deploy"]["pathChanged"]
            and d["deploy"]["delta"] == 0 and not (r["added"] or r["removed"] or r["replaced"] or r["changed"])
            and not (d["policy"]["new"] or d["policy"]["resolved"]) and not d["newStack"])


# --- the report ------------------------------------------------------------------------------------

def _money(cents_value: float, sign: bool = False) -> str:
    text = f"${abs(cents_value):,.2f}"
    if not sign:
        return text
    return "±$0.00" if cents_value == 0 else ("+" if cents_value > 0 else "-") + text


def _signed(value: float) -> str:
    return f"{value:+g}" if value else "0"


def _verdict(t: dict[str, Any]) -> str:
    limits = ([f"{t['percent']:g}%"] if t["percent"] is not None else []) + \
        ([f"${t['usd']:,.2f}/month"] if t["usd"] is not None else [])
    if not limits:
        return "No cost threshold is set (repository variables `COST_DELTA_MAX_PERCENT`, `COST_DELTA_MAX_USD`)."
    head = f"Threshold: a rise above {' or '.join(limits)} fails this check"
    if not t["exceeded"]:
        return f"{head}: **within it**."
    why = "; ".join(t["reasons"])
    if t["accepted"]:
        return f"{head}: it {why}, **accepted** by the label `{ACCEPT_LABEL}`."
    return f"{head}: it {why}. **Failing**: add the label `{ACCEPT_LABEL}` to accept it."


def render_markdown(deltas: list[dict[str, Any]]) -> str:
    """The pull-request comment: one section per stack."""
    out: list[str] = []
    for d in deltas:
        out += _markdown_one(d)
    return "\n".join(out) + "\n"


def _markdown_one(d: dict[str, Any]) -> list[str]:
    c, dep, r, pol = d["cost"], d["deploy"], d["resources"], d["policy"]
    base = f"`{d['base']}`" if d["base"] else "the base"
    lines = [f"## eks-platform plan delta: `{d['stack']}` ({base} → this change)", ""]
    if d["newStack"]:
        lines += ["A new stack: the base has no `stacks/Pulumi." + d["stack"] + ".yaml`; everything is added.", ""]
    pct = "" if not c["percent"] else f" ({_signed(c['percent'])}%)"
    counts = pol["counts"]
    lines += ["| | base | this change | delta |", "|---|---:|---:|---:|",
              f"| fixed cost/month | {_money(c['base'])} | {_money(c['head'])} | **{_money(c['delta'], True)}**{pct} |",
              f"| cold deploy, critical path | {dep['base']['minutes']} min | {dep['head']['minutes']} min | "
              f"{_signed(dep['delta'])} min |",
              f"| resources | {r['totals']['base']} | {r['totals']['head']} | "
              f"{_signed(r['totals']['head'] - r['totals']['base'])} |",
              f"| policy violations, mandatory / advisory | {counts['base']['mandatory']} / "
              f"{counts['base']['advisory']} | {counts['head']['mandatory']} / {counts['head']['advisory']} | |", "",
              _verdict(d["threshold"]), ""]
    if unchanged(d):
        return [*lines, "No difference in cost, deploy path, resources or policy results.", ""]
    if c["items"]:
        lines += [f"### Cost line items that changed ({len(c['items'])})", "",
                  "| line item | base | this change | delta |", "|---|---:|---:|---:|"]
        lines += [f"| {i['item']} | {'—' if i['only'] == 'head' else _money(i['base'])} | "
                  f"{'—' if i['only'] == 'base' else _money(i['head'])} | {_money(i['delta'], True)} |"
                  for i in c["items"]]
        lines.append("")
    if dep["pathChanged"]:
        lines += ["### Deploy critical path", "",
                  f"- base, {dep['base']['minutes']} min: " + (" → ".join(dep["base"]["path"]) or "none"),
                  f"- this change, {dep['head']['minutes']} min: " + (" → ".join(dep["head"]["path"]) or "none"), ""]
    kinds = sorted(set(r["added"]) | set(r["removed"]) | set(r["changed"]) | {x["type"] for x in r["replaced"]})
    if kinds:
        replaced = Counter(x["type"] for x in r["replaced"])
        lines += ["### Resources", "", "| type | added | removed | replaced | changed inputs |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| `{t}` | {r['added'].get(t, '')} | {r['removed'].get(t, '')} | {replaced.get(t, '')} | "
                  f"{r['changed'].get(t, '')} |" for t in kinds]
        lines.append("")
        lines += [f"- replaced: `{x['name']}`: `{_chain(x['from'])}` → `{_chain(x['to'])}`" for x in r["replaced"]]
        notes = ["*replaced*: its URN changed (type or parent) with no alias: Pulumi deletes it and creates it again",
                 "*changed inputs*: updated in place or replaced, as the provider decides (`pulumi preview` "
                 "shows which)"]
        if r["aliased"]:
            notes.append(f"{r['aliased']} moved under an alias (no change in the cloud)")
        if not r["byUrn"]:
            notes.append("the base plan lists no URNs (it predates them): counts per type only")
        lines += ["", "; ".join(notes) + ".", ""]
    if pol["new"] or pol["resolved"]:
        lines += ["### Policy results that changed", ""]
        lines += [f"- new {v['level']} `{v['rule']}` on `{v['resource']}`: {v['detail']}" for v in pol["new"]]
        lines += [f"- resolved {v['level']} `{v['rule']}` on `{v['resource']}`: {v['detail']}" for v in pol["resolved"]]
        lines.append("")
    return lines


def render_text(deltas: list[dict[str, Any]]) -> str:
    lines = []
    for d in deltas:
        c, dep, r = d["cost"], d["deploy"], d["resources"]
        lines += [f"eks-platform plan delta: {d['stack']} ({d['base'] or 'base'} -> this change)"
                  + (", a new stack" if d["newStack"] else ""),
                  f"  fixed cost {_money(c['base'])} -> {_money(c['head'])}/month ({_money(c['delta'], True)}"
                  + ("" if not c["percent"] else f", {_signed(c['percent'])}%") + ")",
                  f"  cold deploy {dep['base']['minutes']} -> {dep['head']['minutes']} min"
                  + (" (critical path changed)" if dep["pathChanged"] else ""),
                  f"  resources {r['totals']['base']} -> {r['totals']['head']}: added {sum(r['added'].values())}, "
                  f"removed {sum(r['removed'].values())}, replaced {len(r['replaced'])}, changed inputs "
                  f"{sum(r['changed'].values())}",
                  f"  policy: {len(d['policy']['new'])} new, {len(d['policy']['resolved'])} resolved violations"]
        lines += [f"    {i['item']}: {_money(i['base'])} -> {_money(i['head'])}" for i in c["items"]]
        lines += [f"  ! {reason}" + (f" (accepted: {ACCEPT_LABEL})" if d["threshold"]["accepted"] else "")
                  for reason in d["threshold"]["reasons"]]
    return "\n".join(lines) + "\n"


# --- the command -----------------------------------------------------------------------------------

def _write(flag: str | None, text: str) -> None:
    if flag and flag != "-":
        Path(flag).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan_delta", description=__doc__.splitlines()[0])
    base = parser.add_mutually_exclusive_group(required=True)
    base.add_argument("--base", metavar="REF", help="the commit to compare with (origin/main, HEAD^1, a SHA)")
    base.add_argument("--base-json", metavar="FILE", help="the base's plan JSON (null: the base has no such stack)")
    parser.add_argument("--head-json", metavar="FILE", help="this change's plan JSON (default: evaluate the working "
                        "tree)")
    parser.add_argument("--stack", action="append", help="a stack (repeatable; default dev; with --head-json: the "
                        "file's)")
    parser.add_argument("--json", metavar="FILE", help="write the delta as JSON to FILE ('-': stdout only)")
    parser.add_argument("--markdown", metavar="FILE", help="write the pull-request comment to FILE ('-': stdout only)")
    parser.add_argument("--fail-above-percent", type=float, metavar="P", help=f"exit 1 when a stack's fixed monthly "
                        f"cost rises more than P%% of its base (the pipeline: {PERCENT_VARIABLE})")
    parser.add_argument("--fail-above-usd", type=float, metavar="USD", help=f"exit 1 when it rises more than USD a "
                        f"month (the pipeline: {USD_VARIABLE})")
    parser.add_argument("--accepted", action="store_true", help=f"a rise above the threshold is accepted (the "
                        f"pipeline: the pull request has the label {ACCEPT_LABEL})")
    args = parser.parse_args(argv)
    try:
        heads = [read_plan(args.head_json)] if args.head_json else None
        if heads is not None and heads[0] is None:
            raise DeltaError(f"{args.head_json}: the head plan can't be null")
        stacks = [heads[0]["stack"]] if heads else (args.stack or ["dev"])
        if heads and args.stack and args.stack != stacks:
            raise DeltaError(f"--stack {args.stack} but {args.head_json} is the plan of {stacks[0]}")
        if args.base_json:
            if len(stacks) != 1:
                raise DeltaError("--base-json compares one stack: give one --stack")
            ref, bases = None, {stacks[0]: read_plan(args.base_json)}
        else:
            commit, bases = plans_at(args.base, stacks)
            ref = args.base if args.base.startswith(commit[:7]) else f"{args.base} {commit[:12]}"
        heads = heads or [plan_here(s) for s in stacks]
    except DeltaError as exc:
        print(exc, file=sys.stderr)
        return 2
    deltas = [delta(bases[h["stack"]], h, percent=args.fail_above_percent, usd=args.fail_above_usd,
                    accepted=args.accepted, base_ref=ref) for h in heads]
    as_json, as_md = json.dumps(deltas if len(deltas) > 1 else deltas[0], indent=2) + "\n", render_markdown(deltas)
    _write(args.json, as_json)
    _write(args.markdown, as_md)
    print(as_json if args.json == "-" else as_md if args.markdown == "-" else render_text(deltas), end="")
    return 1 if any(d["threshold"]["fails"] for d in deltas) else 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # like tools.plan: skip the interpreter's teardown
