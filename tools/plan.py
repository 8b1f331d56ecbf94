"""Offline plan: evaluate the whole program for a stack under the shared mocks and report it.

    python -m tools.plan --stack dev [--json plan.json|-] [--markdown plan.md|-]

No AWS account, Docker or Pulumi CLI: the program runs against harness/'s recording mocks. It
prints the resource tree grouped by component with counts, the key settings, the Helm releases and
the Kubernetes custom resources (Karpenter NodePools and the like), the estimated fixed monthly
cost by line item (tools/cost.py) and the cold-deploy critical path (tools/deploy_time.py), and can
write the same as JSON or as Markdown (what the pipeline posts on a change).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import versions
from harness import Recording, run_stack, stack_names, stack_settings
from harness.program import pulumi_config_json, secret_keys
from settings import ConfigError, Settings, applies
from tools import capacity, cost, deploy_time, destroy_report

# how far ahead `make plan` warns that a stack's minor leaves EKS standard support (issue 20: 90 days)
SUPPORT_WARNING_DAYS = 90


def extended_support_monthly(region: str | None) -> tuple[float, float]:
    """The control plane's monthly price on extended and on standard support (730 h, the region's multiplier)."""
    prices = cost.load_prices()
    multiplier = float((prices["regions"].get(region or "") or {}).get("multiplier", 1.0))
    return tuple(float(prices["prices"][k]["price"]) * multiplier * prices["hoursPerMonth"]  # type: ignore[return-value]
                 for k in ("eks-extended", "eks-standard"))


def warnings(s: Settings, today: datetime.date | None = None) -> list[str]:
    """What a reviewer must act on before `pulumi up` (the plan prints them first)."""
    today = today or datetime.date.today()
    out = []
    version = s.cluster.version if s.is_aws else s.kind.version
    ends = datetime.date.fromisoformat(versions.STANDARD_SUPPORT_ENDS[version])
    if s.is_aws and (ends - today).days <= SUPPORT_WARNING_DAYS:
        extended, standard = extended_support_monthly(s.region)
        out.append(f"Kubernetes {version} leaves EKS standard support on {ends} ({(ends - today).days} days): EKS "
                   "then upgrades the control plane itself (upgradePolicy STANDARD); extended support would cost "
                   f"${extended:,.2f}/month for the control plane instead of ${standard:,.2f} (data/prices.yaml "
                   "eks-extended, eks-standard); raise eks-platform:cluster.version one minor before "
                   f"(make upgrade-plan STACK={s.stack} TO=<next minor>)")
    out += applies.warnings(s)
    spot = [p.name for p in s.karpenter.pools if "spot" in p.capacity_types] \
        if s.is_aws and s.autoscaling == "karpenter" else []
    spot += [g.name for g in s.node_groups if g.capacity_type == "SPOT"] if s.is_aws else []
    if s.argocd.enabled and s.argocd.repo_url is None:
        out.append("argocd.repoUrl is not set: Argo CD is installed without its root Application; set it to this "
                   "repository's clone URL in the stack file (docs/gitops.md)")
    if spot:
        out.append(f"spot is allowed ({', '.join(spot)}): the account needs the AWSServiceRoleForEC2Spot "
                   "service-linked role (docs/operations.md, 'Spot and the EC2 Spot service-linked role')")
    return out


def disruptions(s: Settings) -> list[str]:
    """Changes that interrupt the running platform when applied (the plan lists them after the warnings)."""
    out = []
    if s.is_aws and s.network.existing is None and s.network.nat_strategy == "instance":
        out.append(f"NAT instance ({s.network.nat_instance_type}): changing network.natInstanceType, or a new "
                   "Amazon Linux AMI behind its SSM parameter, replaces the instance and interrupts the private "
                   "subnets' internet egress until the new one has booted (minutes: nodes can't pull images from "
                   "outside the VPC); the Elastic IP stays and is re-associated (components/network/vpc.py)")
    return out


def elastic_ips(s: Settings) -> int:
    """Elastic IPs the stack holds: one per NAT gateway or NAT instance (the default quota is 5 per region)."""
    if not s.is_aws or s.network.existing is not None:
        return 0
    return {"none": 0, "single": 1, "per-az": s.network.az_count, "instance": 1}[s.network.nat_strategy]


def monitoring(s: Settings) -> str:
    m, alerts = s.observability.metrics, s.observability.alerts
    if not m.enabled:
        return "none (observability.metrics.enabled is false)"
    return (f"kube-prometheus-stack: Prometheus x{m.replicas}, {m.retention}, {m.storage_gib}Gi; alerts to "
            f"{alerts.receiver}; Grafana {grafana_exposure(s)} (admin password: the grafanaAdminPassword secret "
            "output)")


def grafana_exposure(s: Settings) -> str:
    g = s.observability.grafana
    if g.exposure == "port-forward":
        return "by port-forward only"
    if g.exposure == "alb":
        return (f"at {'https' if g.certificate_arn else 'http'}://{g.hostname} (an {g.alb_scheme} ALB; also "
                "port-forward)")
    scheme = "https" if s.traffic.istio.gateway_tls_secret else "http"
    return f"at {scheme}://{g.hostname} (the Istio gateway; also port-forward)"


def gitops(s: Settings) -> str:
    a = s.argocd
    if not a.enabled:
        return "none (argocd.enabled is false)"
    ui = ("by port-forward only" if a.exposure.exposure == "port-forward"
          else f"at https://{a.exposure.hostname} ({a.exposure.exposure}; also port-forward)")
    head = f"Argo CD {versions.CHARTS['argo-cd'].version} ({'HA' if a.ha else 'single replicas'}), UI {ui}"
    if a.repo_url is None:
        return f"{head}; no root Application (argocd.repoUrl is not set)"
    access = f"private, {a.credentials.type} credentials" if a.credentials else "public"
    return (f"{head}; root Application platform-root <- {a.repo_url} ({access}) @ {a.revision}, path gitops/root, "
            f"environment {s.stack}, workloads exposed via {s.workload_exposure}")


def logs(s: Settings) -> str:
    backend, days = s.logs_backend, s.observability.logs.retention_days
    if backend == "none":
        return "none (observability.logs.backend)"
    if backend == "cloudwatch":
        return f"Fluent Bit to CloudWatch Logs /aws/eks/{s.cluster_name}/containers (KMS, {days} d)"
    bucket = s.observability.logs.loki.bucket
    where = ("its volume" if not s.is_aws else f"S3 bucket {bucket.name}" if bucket and not bucket.create
             else "a new encrypted S3 bucket")
    return f"Fluent Bit to Loki (one binary, data in {where}, {days} d; a Grafana data source)"


def gateway_exposure(s: Settings) -> str:
    istio = s.traffic.istio
    if not istio.enabled:
        return "none (traffic.istio.enabled is false)"
    if not s.is_aws:
        return f"Istio gateway, NodePort, reached on http://127.0.0.1:{s.kind.http_port}"
    alb = ", ALB IngressClass 'alb'" if s.traffic.load_balancer_controller.enabled else ""
    if istio.gateway_service == "cluster-ip":
        return f"Istio gateway, ClusterIP (no load balancer; kubectl port-forward){alb}"
    return f"Istio gateway behind an {istio.gateway_scheme} NLB{alb}"


def storage(s: Settings) -> str:
    """What is kept and what is backed up (EKS): the gp3 volumes' backups and the EFS file system."""
    backup, efs = s.storage.backup, s.storage.efs
    ebs = (f"gp3 backed up daily by AWS Backup, kept {backup.retention_days} d" if backup.enabled
           else "gp3 NOT backed up (storage.backup.enabled: false)")
    if not efs.enabled:
        return f"{ebs}; EFS off"
    return (f"{ebs}; EFS {efs.throughput_mode} throughput, automatic backups "
            f"{'on (35 d)' if efs.automatic_backups else 'off'}")


def key_settings(s: Settings) -> dict[str, Any]:
    """The settings a reviewer checks first."""
    if not s.is_aws:
        return {"target": s.target, "tier": s.tier, "kind cluster": f"{s.cluster_name} (Kubernetes {s.kind.version}, "
                f"{s.kind.workers} workers, ingress on 127.0.0.1:{s.kind.http_port}/{s.kind.https_port})",
                "kube context": f"kind-{s.cluster_name}", "ingress gateway": gateway_exposure(s),
                "monitoring": monitoring(s), "logs": logs(s), "gitops": gitops(s)}
    net = s.network
    out: dict[str, Any] = {
        "target": s.target,
        "tier": s.tier,
        "region": s.region,
        "cluster": f"{s.cluster_name} (Kubernetes {s.cluster.version})",
        "endpoint": "private + public " + ",".join(s.cluster.public_access_cidrs)
        if s.cluster.endpoint_public_access else "private only",
        "network": f"existing {net.existing.vpc_id}" if net.existing else
        f"{net.vpc_cidr}, {net.az_count} AZs, NAT {net.nat_strategy}"
        + (f" ({net.nat_instance_type})" if net.nat_strategy == "instance" else ""),
        "elastic IPs": f"{elastic_ips(s)} (NAT; the default quota is 5 per region, shared by every stack there)",
        "control-plane logs": f"{', '.join(s.cluster.log_types)} ({s.cluster.log_retention_days} d)",
        "autoscaling": s.autoscaling,
        "ingress gateway": gateway_exposure(s),
        "monitoring": monitoring(s),
        "logs": logs(s),
        "gitops": gitops(s),
        "storage": storage(s),
    }
    out["node groups"] = [
        f"{g.name}: {','.join(g.instance_types)} {g.capacity_type} {g.ami_type} {g.min_size}/{g.desired_size}/"
        f"{g.max_size}" + (f" taints {','.join(t.key for t in g.taints)}" if g.taints else "")
        for g in s.node_groups
    ]
    out["fargate profiles"] = [p.name for p in s.fargate_profiles] or "none"
    return out


def policy_results(s: Settings, rec: Recording) -> dict[str, Any]:
    """The policy pack's rules over the recorded resources, at the stack's tier with its exceptions:
    per rule that is broken, its level and each violation (the same functions `pulumi preview
    --policy-pack policy` runs)."""
    from policy.rules import BY_NAME, evaluate, recorded

    findings = evaluate(recorded(rec, proxy=True), s.tier, s.policy.by_rule)
    rules: dict[str, dict[str, Any]] = {}
    for f in findings:
        entry = rules.setdefault(f.rule, {"rule": f.rule, "level": f.level, "exception": f.exception,
                                          "description": BY_NAME[f.rule].description, "fix": BY_NAME[f.rule].fix,
                                          "violations": []})
        entry["violations"].append({"resource": f.resource, "urn": f.urn, "detail": f.detail, "message": f.message})
    ordered = sorted(rules.values(), key=lambda r: (r["level"] != "mandatory", r["rule"]))
    return {"tier": s.tier, "rulesChecked": len(BY_NAME),
            "mandatory": sum(len(r["violations"]) for r in ordered if r["level"] == "mandatory"),
            "advisory": sum(len(r["violations"]) for r in ordered if r["level"] == "advisory"),
            "rules": ordered}


def system_nodes(s: Settings, rec: Recording) -> dict[str, Any]:
    """Requests of what the platform pins to the tainted system node group against its allocatable
    (tools/capacity.py); ``applies`` is false on kind."""
    return capacity.check(s, rec)


def build_plan(stack: str, config_json: str | None = None) -> dict[str, Any]:
    """The plan of ``stack``, from its stack file; ``config_json`` (the output of ``pulumi config
    --show-secrets --json``) gives the secrets' plaintext, so their shapes are checked too."""
    plaintext, secrets = pulumi_config_json(config_json) if config_json is not None else (None, [])
    secret = sorted({*secret_keys(stack), *secrets})
    settings = stack_settings(stack, plaintext, secret)
    started = time.perf_counter()
    rec = run_stack(stack, overrides=plaintext, secrets=tuple(secrets))
    elapsed = time.perf_counter() - started
    return {
        "stack": stack,
        # secret config: checked in full with its plaintext, else only as "set" (it can't be decrypted here)
        "secrets": {"keys": secret, "plaintext": plaintext is not None},
        "warnings": warnings(settings),
        "disruptions": disruptions(settings),
        "settings": key_settings(settings),
        "components": _components(rec),
        "helmReleases": [
            {"name": r.name, "chart": r.inputs.get("chart"), "version": r.inputs.get("version"),
             "namespace": r.inputs.get("namespace")}
            for r in sorted(rec.of_type("kubernetes:helm.sh/v3:Release"), key=lambda r: r.name)
        ],
        "customResources": sorted(_custom_resources(rec), key=lambda c: (c["kind"], c["name"])),
        # the generated kind config, as the kind cluster command receives it on stdin
        "kindConfig": next((r.inputs.get("stdin") for r in rec.of_type("command:local:Command")
                            if r.inputs.get("create", "").startswith("kind get clusters")), None),
        "totals": {"resources": sum(1 for r in rec if r.custom), "components": sum(1 for r in rec if not r.custom)},
        "resources": resources(rec),
        "evaluationSeconds": round(elapsed, 2),
        "exports": sorted(rec.exports),
        "policy": policy_results(settings, rec),
        "systemNodes": system_nodes(settings, rec),
        "destroy": destroy_report.report(rec, settings.cluster_name),
        **report_sections(settings, rec),
    }


# --- the plan report: cost and deploy time -----------------------------------------------------

def report_sections(settings: Settings, rec: Recording) -> dict[str, Any]:
    """The cost estimate and the deploy-time estimate of one evaluated stack."""
    return {"cost": cost.estimate(settings, rec), "deployTime": deploy_time.estimate(rec)}


def render_report_text(plan: dict[str, Any]) -> list[str]:
    return ["", *cost.render_text(plan["cost"]), "", *deploy_time.render_text(plan["deployTime"])]


def render_markdown(plan: dict[str, Any]) -> str:
    """The plan as Markdown: a summary, the settings, the releases, then cost and deploy time."""
    totals = plan["totals"]
    lines = [f"## eks-platform plan: `{plan['stack']}`", "",
             f"{totals['resources']} resources in {totals['components']} components; "
             f"fixed cost {_usd(plan['cost'])}; cold deploy ~{plan['deployTime'].get('minutes', 0)} min.", ""]
    lines += [f"> ⚠ {w}" for w in plan["warnings"]]
    lines += [f"> Interrupts service when changed: {d}" for d in plan.get("disruptions", [])]
    if plan["secrets"]["keys"]:
        lines += ["", f"Secret config: {secrets_line(plan['secrets'])}"]
    lines += ["", "<details><summary>Settings</summary>", "", "| setting | value |", "|---|---|"]
    for key, value in plan["settings"].items():
        shown = "<br>".join(value) if isinstance(value, list) else value
        lines.append(f"| {key} | {shown} |")
    lines += ["", "</details>", ""]
    if plan["helmReleases"]:
        lines += ["| Helm release | chart | version | namespace |", "|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['chart']} | {r['version']} | {r['namespace']} |" for r in plan["helmReleases"]]
        lines.append("")
    lines += [*cost.render_markdown(plan["cost"]), "", *deploy_time.render_markdown(plan["deployTime"])]
    lines += ["", *destroy_report.render_markdown(plan["destroy"])]
    return "\n".join(lines) + "\n"


def secrets_line(secrets: dict[str, Any]) -> str:
    keys = ", ".join(secrets["keys"])
    if secrets["plaintext"]:
        return f"{keys}: checked with their plaintext (--config-json)"
    return (f"{keys}: set, not read (a secure: value can't be decrypted offline, so its shape is checked by pulumi "
            "preview/up, or here with make plan CONFIG_JSON=<the output of pulumi config --show-secrets --json>)")


def _usd(c: dict[str, Any]) -> str:
    return f"${c['fixedMonthly']:,.2f}/month" if c["fixed"] else "none (kind)"


def resources(rec: Recording) -> list[dict[str, Any]]:
    """Every custom resource by URN, with a digest of its inputs and the URNs it was known by before
    (its aliases): what tools/plan_delta.py compares between two commits."""
    def digest(inputs: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]

    return sorted(({"urn": r.urn, "inputs": digest(r.inputs), **({"aliases": sorted(r.aliases)} if r.aliases else {})}
                   for r in rec if r.custom), key=lambda r: r["urn"])


def _components(rec: Recording) -> list[dict[str, Any]]:
    out = []
    for comp in (r for r in rec if not r.custom):
        children = [r for r in rec.children(comp) if r.custom]
        out.append({
            "type": comp.type,
            "name": comp.name,
            "parent": None if not comp.parent or "pulumi:pulumi:Stack" in comp.parent else rec.by_urn(comp.parent).name,
            "resources": dict(sorted(Counter(c.type for c in children).items())),
            "count": len(children),
        })
    # registration order varies from run to run (outputs resolve asynchronously): sort by name,
    # each component right after its parent
    by_name = {c["name"]: c for c in out}

    def path(c: dict[str, Any]) -> tuple[str, ...]:
        return (*path(by_name[c["parent"]]), c["name"]) if c["parent"] in by_name else (c["name"],)

    return sorted(out, key=path)


def _custom_resources(rec: Recording) -> list[dict[str, Any]]:
    found = []
    for r in rec:
        if not r.type.startswith("kubernetes:") or "kind" not in r.inputs or "apiVersion" not in r.inputs:
            continue
        group = r.inputs["apiVersion"].split("/")[0] if "/" in r.inputs["apiVersion"] else ""
        if "." not in group or (group.endswith(".k8s.io") and not group.endswith(".x-k8s.io")):
            continue  # core and built-in API groups are not custom resources
        item = {"kind": r.inputs["kind"], "name": (r.inputs.get("metadata") or {}).get("name", r.name)}
        spec = r.inputs.get("spec") or {}
        if r.inputs["kind"] == "NodePool":
            reqs = {q["key"]: q.get("values") for q in spec.get("template", {}).get("spec", {}).get("requirements", [])}
            item["capacityTypes"] = reqs.get("karpenter.sh/capacity-type")
            item["arch"] = reqs.get("kubernetes.io/arch")
            item["limits"] = spec.get("limits")
            item["consolidation"] = (spec.get("disruption") or {}).get("consolidationPolicy")
        found.append(item)
    return found


def render(plan: dict[str, Any]) -> str:
    lines = [f"eks-platform offline plan: stack {plan['stack']} "
             f"({plan['totals']['resources']} resources in {plan['totals']['components']} components, "
             f"evaluated in {plan['evaluationSeconds']} s under mocks)", ""]
    if plan["warnings"]:
        lines += ["Warnings", *[f"  ! {w}" for w in plan["warnings"]], ""]
    if plan.get("disruptions"):
        lines += ["Interrupts service when changed", *[f"  ~ {d}" for d in plan["disruptions"]], ""]
    if plan["secrets"]["keys"]:
        lines += ["Secret config", f"  {secrets_line(plan['secrets'])}", ""]
    lines += ["Settings"]
    for key, value in plan["settings"].items():
        if isinstance(value, list):
            lines.append(f"  {key}:")
            lines += [f"    - {v}" for v in value]
        else:
            lines.append(f"  {key}: {value}")
    lines += ["", capacity.summary(plan["systemNodes"])]
    lines += ["", "Resources by component"]
    for comp in plan["components"]:
        indent = "    " if comp["parent"] else "  "
        lines.append(f"{indent}{comp['type']}  {comp['name']}  ({comp['count']})")
        lines += [f"{indent}    {n:>3}  {t}" for t, n in comp["resources"].items()]
    if plan["helmReleases"]:
        lines += ["", "Helm releases"]
        lines += [f"  {r['chart']} {r['version']} in {r['namespace']}" for r in plan["helmReleases"]]
    if plan["customResources"]:
        lines += ["", "Custom resources"]
        for cr in plan["customResources"]:
            extra = ""
            if cr["kind"] == "NodePool":
                extra = (f"  capacity {cr['capacityTypes']} arch {cr['arch']} limits {cr['limits']} "
                         f"consolidation {cr['consolidation']}")
            lines.append(f"  {cr['kind']} {cr['name']}{extra}")
    if plan["kindConfig"]:
        lines += ["", "kind config (kind create cluster --config=-)"]
        lines += [f"  {line}" for line in plan["kindConfig"].splitlines()]
    if plan.get("policy"):
        pol = plan["policy"]
        lines += ["", f"Policy ({pol['rulesChecked']} rules at tier {pol['tier']}: {pol['mandatory']} mandatory, "
                  f"{pol['advisory']} advisory violations; pulumi preview --policy-pack policy enforces them)"]
        for rule in pol["rules"]:
            excepted = f", excepted: {rule['exception']}" if rule["exception"] else ""
            lines.append(f"  {'x' if rule['level'] == 'mandatory' else '-'} {rule['rule']} "
                         f"({rule['level']}{excepted}): {rule['description']}")
            lines += [f"      {v['resource'] or 'stack'}: {v['detail']}" for v in rule["violations"]]
            lines.append(f"      fix: {rule['fix']}")
        if not pol["rules"]:
            lines.append("  every rule passes")
    lines += ["", f"Exports: {', '.join(plan['exports'])}"]
    lines += render_report_text(plan)
    lines += ["", *destroy_report.render_text(plan["destroy"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help=f"one of {', '.join(stack_names())} (default dev)")
    parser.add_argument("--json", metavar="FILE", help="also write the plan as JSON to FILE ('-' for stdout only)")
    parser.add_argument("--config-json", metavar="FILE", help="the stack's config with its secrets' plaintext, as "
                        "`pulumi config --show-secrets --json` prints it; without it a secret is taken as set, "
                        "unread")
    parser.add_argument("--markdown", metavar="FILE", help="also write the plan as Markdown to FILE ('-' for stdout "
                        "only)")
    args = parser.parse_args(argv)
    if args.stack not in stack_names():
        parser.error(f"unknown stack {args.stack!r}; stacks: {', '.join(stack_names())}")
    try:
        plan = build_plan(args.stack, Path(args.config_json).read_text() if args.config_json else None)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"--config-json: {exc}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(plan, indent=2))
        return 0
    if args.markdown == "-":
        print(render_markdown(plan), end="")
        return 0
    print(render(plan))
    if args.json:
        Path(args.json).write_text(json.dumps(plan, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(plan))
        print(f"\nwrote {args.markdown}")
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written: skip the interpreter's teardown (about half a second of freeing the
    # provider SDKs' modules), which a one-shot command does not need.
    os._exit(status)
