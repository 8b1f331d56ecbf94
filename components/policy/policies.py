"""The platform's baseline policy set: Kyverno ValidatingPolicies (policies.kyverno.io/v1, CEL), as plain data.

Each control is written once (its CEL validations) and becomes two policies:
- ``<control>``: ``validationActions: [Deny]`` and ``failurePolicy: Fail``, matching namespaces labelled
  ``platform.eks/team`` (the team namespaces);
- ``<control>-audit``: ``[Audit]`` and ``Ignore``, matching every other namespace except the platform's own.

Two policies rather than one because the failure policy and the actions belong to a policy: Kyverno builds a
``-fail`` and an ``-ignore`` webhook from the policies' ``failurePolicy``, each with the namespaceSelector of
the policy's matchConstraints (Kyverno pkg/controllers/webhook, buildWebhookRules and
resolveNamespaceSelector; read through the code search, not at the v1.19.0 tag). The fail-closed webhook
therefore sees team namespaces only, and the reports name which half a result came from.

Only Pods are matched: Kyverno's pod-controller autogen writes the same validations for DaemonSets,
Deployments, ReplicaSets, StatefulSets, Jobs and CronJobs (``object.spec`` read as the template's spec;
pkg/cel/policies/vpol/autogen), so a bad Deployment is refused when it is applied, not when its pods fail
to appear. ``spec.autogen.podControllers.controllers`` narrows that list where a control says so (an empty
list: none; Kyverno's Autogen takes a non-nil list as the whole set). The generation of a native
ValidatingAdmissionPolicy stays off (``autogen.validatingAdmissionPolicy``): with it on, Kyverno leaves the
pod controllers to the generated VAP and registers no autogen webhook rules for them (buildWebhookRules,
"Skip autogen webhook registration").

Each control names its counterpart in Kyverno's policy library (``upstream``, under kyverno-policies/);
tests/policy/test_policy_upstream.py checks that ours decide as upstream's do on upstream's own test cases,
and lists where they differ on purpose. ``harness/cel_policy.py`` evaluates them.

Created by components/policy/kyverno.py after the Kyverno release (its CRDs and webhooks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.core.names import TEAM_LABEL  # the contract with the team namespaces

API_VERSION = "policies.kyverno.io/v1"
KIND = "ValidatingPolicy"
EXCEPTION_KIND = "PolicyException"
# the controllers Kyverno generates policies for by default (pkg/cel/autogen AllConfigs)
ALL_CONTROLLERS = ("cronjobs", "daemonsets", "deployments", "jobs", "replicasets", "statefulsets")

# every container of a pod: regular, init and ephemeral
CONTAINERS = {"name": "containers", "expression": "object.spec.containers + object.spec.?initContainers.orValue([]) "
                                                  "+ object.spec.?ephemeralContainers.orValue([])"}


@dataclass(frozen=True)
class Validation:
    expression: str
    message: str


@dataclass(frozen=True)
class Control:
    key: str
    title: str
    severity: str
    description: str
    validations: tuple[Validation, ...]
    upstream: str
    """Its counterpart in Kyverno's policy library: <folder>/<policy> (upstream's file name)."""
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    """The pod controllers Kyverno generates the policy for (lower-case plural resource names); () for none."""
    match_conditions: tuple[dict[str, str], ...] = ()
    """CEL conditions a Pod must meet to be checked at all (rewritten for controllers like the rest)."""
    variables: tuple[dict[str, str], ...] = ()


def controls(allowed_registries: Sequence[str]) -> list[Control]:
    """The baseline controls; restrict-image-registries only when registries are configured."""
    found = [
        Control(
            "disallow-privileged-containers", "Disallow privileged containers", "high",
            "A privileged container has every capability of the node's root user.",
            (Validation("variables.containers.all(c, !c.?securityContext.?privileged.orValue(false))",
                        "Privileged containers are not allowed: they can take over the node. Remove "
                        "securityContext.privileged (or set it to false) in every container, init container and "
                        "ephemeral container."),),
            upstream="pod-security-vpol/baseline/disallow-privileged-containers", variables=(CONTAINERS,)),
        Control(
            "disallow-host-namespaces", "Disallow host namespaces", "high",
            "Sharing the node's network, process or IPC namespace lets a pod see and reach the whole node.",
            (Validation("!object.spec.?hostNetwork.orValue(false) && !object.spec.?hostPID.orValue(false) && "
                        "!object.spec.?hostIPC.orValue(false)",
                        "Pods may not share the node's namespaces: remove spec.hostNetwork, spec.hostPID and "
                        "spec.hostIPC (or set them to false). Use a Service to be reachable, not the node's "
                        "network."),),
            upstream="pod-security-vpol/baseline/disallow-host-namespaces"),
        Control(
            "disallow-host-path", "Disallow hostPath volumes", "high",
            "A hostPath volume reads or writes the node's file system.",
            (Validation("object.spec.?volumes.orValue([]).all(v, !has(v.hostPath))",
                        "hostPath volumes are not allowed: they expose the node's files. Use an emptyDir for "
                        "scratch space, or a PersistentVolumeClaim for data that must survive the pod."),),
            upstream="pod-security-vpol/baseline/disallow-host-path"),
        Control(
            "require-requests-limits", "Require resource requests and a memory limit", "medium",
            "Requests let the scheduler place pods and the quota count them; a memory limit keeps one pod "
            "from exhausting its node. CPU limits are not required: they throttle pods on idle nodes.",
            (Validation("object.spec.containers.all(c, c.?resources.?requests[?'cpu'].orValue('') != '' && "
                        "c.?resources.?requests[?'memory'].orValue('') != '' && "
                        "c.?resources.?limits[?'memory'].orValue('') != '')",
                        "Every container needs resources.requests.cpu, resources.requests.memory and "
                        "resources.limits.memory. Set them in the pod template (the namespace's LimitRange fills "
                        "in defaults where it has them)."),),
            upstream="best-practices-vpol/require-pod-requests-limits",
            # checked on Pods only, after the LimitRange admission plugin has filled in its defaults
            # (it mutates Pods, never their controllers, and runs before validating webhooks)
            controllers=()),
        Control(
            "require-probes", "Require readiness and liveness probes", "medium",
            "Readiness probes keep traffic off pods that are not ready; liveness probes restart hung ones.",
            # the mesh's istio-proxy sidecar comes with a readiness probe only and is left out
            (Validation("object.spec.containers.all(c, c.name == 'istio-proxy' || "
                        "(has(c.readinessProbe) && has(c.livenessProbe)))",
                        "Every container needs a readinessProbe and a livenessProbe (Jobs and CronJobs are "
                        "exempt). Add both to each container of the pod template, for example an httpGet on a "
                        "health path."),),
            upstream="best-practices-vpol/require-probes",
            # no Job or CronJob: they end
            controllers=("daemonsets", "deployments", "replicasets", "statefulsets"),
            # pods of Jobs run to completion: Job defaulting puts this label on their template (1.27+)
            match_conditions=({"name": "not-a-job-pod",
                               "expression": "!('batch.kubernetes.io/job-name' in "
                                             "object.metadata.?labels.orValue({}))"},)),
        Control(
            "disallow-latest-tag", "Require a pinned image tag", "medium",
            "An image without a tag, or tagged latest, can change under a running workload.",
            (Validation("variables.containers.all(c, c.image.contains(':'))",
                        "Every image needs a tag or a digest, like ghcr.io/acme/app:1.4.2 or ...@sha256:<digest>."),
             Validation("variables.containers.all(c, !c.image.endsWith(':latest'))",
                        "The latest tag is not allowed: pin a version (ghcr.io/acme/app:1.4.2) or a digest, so "
                        "every node runs the same image and rollbacks work.")),
            upstream="best-practices-vpol/disallow-latest-tag", variables=(CONTAINERS,)),
    ]
    if allowed_registries:
        listed = ", ".join(allowed_registries)
        prefixes = ", ".join(f"'{r}/'" for r in allowed_registries)
        found.append(Control(
            "restrict-image-registries", "Restrict image registries", "medium",
            f"Images must come from the platform's allowed registries: {listed}.",
            (Validation(f"variables.containers.all(c, [{prefixes}].exists(r, c.image.startsWith(r)))",
                        f"Images must come from an allowed registry ({listed}); write the registry host in the "
                        "image (docker.io/library/nginx:1.27, not nginx:1.27), or ask the platform team to add "
                        "yours."),),
            upstream="best-practices-vpol/restrict-image-registries", variables=(CONTAINERS,)))
    found.append(Control(
        "require-team-label", "Require the team label", "low",
        f"Workloads carry the {TEAM_LABEL} label so costs, alerts and reports reach their team.",
        (Validation(f"object.metadata.?labels[?'{TEAM_LABEL}'].orValue('') != ''",
                    f"Workloads need the label {TEAM_LABEL}: <your team> on their pods (spec.template.metadata."
                    "labels of a Deployment, StatefulSet, Job, ...)."),),
        upstream="best-practices-vpol/require-labels"))
    return found


def policy_name(control: Control, enforce: bool) -> str:
    return control.key if enforce else f"{control.key}-audit"


def validating_policy(control: Control, *, enforce: bool, excluded_namespaces: Sequence[str]) -> dict[str, Any]:
    """One half of a control: Deny/Fail on team namespaces, or Audit/Ignore everywhere else; never the
    platform's namespaces (the background scan reads matchConstraints too, so the exclusion is here)."""
    selector = {"matchExpressions": [
        {"key": TEAM_LABEL, "operator": "Exists" if enforce else "DoesNotExist"},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": sorted(excluded_namespaces)},
    ]}
    action = "Deny" if enforce else "Audit"
    annotations = {
        "policies.kyverno.io/title": control.title,
        "policies.kyverno.io/category": "Platform baseline",
        "policies.kyverno.io/severity": control.severity,
        "policies.kyverno.io/subject": "Pod",
        "policies.kyverno.io/description": control.description + (
            " Enforced in team namespaces." if enforce else " Audited (reported, never refused) outside team "
            "namespaces."),
    }
    spec: dict[str, Any] = {
        "validationActions": [action],
        # Fail: a team workload is refused while Kyverno cannot answer; Ignore: never block anything else
        "failurePolicy": "Fail" if enforce else "Ignore",
        "evaluation": {"admission": {"enabled": True}, "background": {"enabled": True}},
        "matchConstraints": {
            "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                               "resources": ["pods"]}],
            "namespaceSelector": selector,
        },
        "autogen": {"podControllers": {"controllers": list(control.controllers)},
                    "validatingAdmissionPolicy": {"enabled": False}},
        "validations": [{"expression": v.expression, "message": v.message} for v in control.validations],
    }
    if control.variables:
        spec["variables"] = [dict(v) for v in control.variables]
    if control.match_conditions:
        spec["matchConditions"] = [dict(c) for c in control.match_conditions]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": policy_name(control, enforce), "annotations": annotations,
                     "labels": {"platform.eks/policy-set": "baseline", "platform.eks/control": control.key,
                                "platform.eks/enforcement": action.lower()}},
        "spec": spec,
    }


def baseline(allowed_registries: Sequence[str], excluded_namespaces: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every baseline ValidatingPolicy by name (Deny halves, then Audit halves, per control)."""
    out: dict[str, dict[str, Any]] = {}
    for control in controls(allowed_registries):
        for enforce in (True, False):
            policy = validating_policy(control, enforce=enforce, excluded_namespaces=excluded_namespaces)
            out[policy["metadata"]["name"]] = policy
    return out


def _glob(pattern: str) -> str:
    """A workload name pattern (``*`` and ``?``) as an anchored RE2 expression for CEL's ``matches``; other
    characters as one-character classes (``[-]``), which need no backslash inside a CEL string."""
    return "^" + "".join(".*" if ch == "*" else "." if ch == "?" else ch if ch.isalnum() else f"[{ch}]"
                         for ch in pattern) + "$"


def policy_exception(name: str, *, namespace: str, controls_waived: Sequence[str], namespaces: Sequence[str],
                     names: Sequence[str], reason: str, allowed_registries: Sequence[str]) -> dict[str, Any]:
    """A PolicyException (policies.kyverno.io/v1) waiving both halves of each control for the named workloads
    (Pods and their controllers, by name or, for a Pod not yet named, its generateName)."""
    by_key = {c.key: c for c in controls(allowed_registries)}
    refs = [{"name": policy_name(by_key[key], enforce), "kind": KIND} for key in controls_waived
            for enforce in (True, False)]
    listed_namespaces = ", ".join(f"'{n}'" for n in namespaces)
    patterns = ", ".join(f"'{_glob(n)}'" for n in names)
    workload = ("object.metadata.?name.orValue('') != '' ? object.metadata.name : "
                "object.metadata.?generateName.orValue('')")
    return {
        "apiVersion": API_VERSION,
        "kind": EXCEPTION_KIND,
        "metadata": {"name": name, "namespace": namespace, "annotations": {"platform.eks/reason": reason}},
        "spec": {
            "policyRefs": refs,
            "matchConditions": [
                {"name": "namespaces", "expression": f"request.namespace in [{listed_namespaces}]"},
                {"name": "names", "expression": f"[{patterns}].exists(p, ({workload}).matches(p))"},
            ],
        },
    }
