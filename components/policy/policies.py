"""The platform's baseline policy set: Kyverno ClusterPolicies (kyverno.io/v1), as plain data.

Each control is written once (its rules) and becomes two policies:
- ``<control>``: ``failureAction: Enforce`` and ``webhookConfiguration.failurePolicy: Fail``, matching
  namespaces labelled ``platform.eks/team`` (the team namespaces);
- ``<control>-audit``: ``Audit`` and ``Ignore``, matching every other namespace except the platform's own.

Two policies rather than two rules because the failure policy belongs to a policy, not a rule: Kyverno
1.19 sorts whole policies into its ``validate.kyverno.svc-fail`` and ``-ignore`` webhooks by
``spec.webhookConfiguration.failurePolicy`` (pkg/controllers/webhook/controller.go,
buildForPoliciesValidation; api/kyverno/v1/spec_types.go, GetFailurePolicy). The reports then also
name which half a result came from.

Only Pods are matched; Kyverno's auto-generation writes the same rules for their controllers
(Deployment, StatefulSet, ...), so a bad Deployment is refused when it is applied, not when its pods
fail to appear. Patterns use a small subset of Kyverno's pattern language (plain keys, the ``=()``
equality, ``X()`` negation and ``()`` conditional anchors, the wildcards ``*`` and ``?``, ``!``, ``|``
and ``>0``) that ``harness/kyverno_eval.py`` evaluates for the tests.

Created by components/policy/kyverno.py after the Kyverno release (its CRDs and webhooks).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.core.names import TEAM_LABEL  # the contract with the team namespaces

API_VERSION = "kyverno.io/v1"

AUTOGEN = "pod-policies.kyverno.io/autogen-controllers"


@dataclass(frozen=True)
class Control:
    key: str
    title: str
    severity: str
    description: str
    rules: tuple[dict[str, Any], ...]
    """Rules without match/exclude and failureAction (added per variant)."""
    autogen: str | None = None
    """The autogen-controllers annotation; None for Kyverno's default (all Pod controllers)."""
    exclude_selector: dict[str, Any] | None = None
    """Pods (by label) that the control does not apply to."""

    def rule_names(self) -> list[str]:
        """Its rules' names and those Kyverno generates for Pod controllers (autogen-<rule> for all
        but CronJob, autogen-cronjob-<rule> for CronJob; pkg/autogen/v1/rule.go)."""
        names = [r["name"] for r in self.rules]
        if self.autogen == "none":
            return names
        cronjob = self.autogen is None or "CronJob" in self.autogen.split(",")
        return [*names, *(f"autogen-{n}" for n in names), *(f"autogen-cronjob-{n}" for n in names if cronjob)]


def _each_container(element: dict[str, Any], *, init: bool = True, ephemeral: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [copy.deepcopy(element)]}
    if init:
        spec["=(initContainers)"] = [copy.deepcopy(element)]
    if ephemeral:
        spec["=(ephemeralContainers)"] = [copy.deepcopy(element)]
    return {"spec": spec}


def _rule(name: str, message: str, pattern: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "validate": {"message": message, "pattern": pattern}}


def controls(allowed_registries: Sequence[str]) -> list[Control]:
    """The baseline controls; restrict-image-registries only when registries are configured."""
    found = [
        Control(
            "disallow-privileged-containers", "Disallow privileged containers", "high",
            "A privileged container has every capability of the node's root user.",
            (_rule("privileged-containers",
                   "Privileged containers are not allowed: they can take over the node. Remove "
                   "securityContext.privileged (or set it to false) in every container, init container and "
                   "ephemeral container.",
                   _each_container({"=(securityContext)": {"=(privileged)": "false"}})),)),
        Control(
            "disallow-host-namespaces", "Disallow host namespaces", "high",
            "Sharing the node's network, process or IPC namespace lets a pod see and reach the whole node.",
            (_rule("host-namespaces",
                   "Pods may not share the node's namespaces: remove spec.hostNetwork, spec.hostPID and "
                   "spec.hostIPC (or set them to false). Use a Service to be reachable, not the node's network.",
                   {"spec": {"=(hostNetwork)": "false", "=(hostPID)": "false", "=(hostIPC)": "false"}}),)),
        Control(
            "disallow-host-path", "Disallow hostPath volumes", "high",
            "A hostPath volume reads or writes the node's file system.",
            (_rule("host-path",
                   "hostPath volumes are not allowed: they expose the node's files. Use an emptyDir for scratch "
                   "space, or a PersistentVolumeClaim for data that must survive the pod.",
                   {"spec": {"=(volumes)": [{"X(hostPath)": "null"}]}}),)),
        Control(
            "require-requests-limits", "Require resource requests and a memory limit", "medium",
            "Requests let the scheduler place pods and the quota count them; a memory limit keeps one pod "
            "from exhausting its node. CPU limits are not required: they throttle pods on idle nodes.",
            (_rule("requests-limits",
                   "Every container needs resources.requests.cpu, resources.requests.memory and "
                   "resources.limits.memory. Set them in the pod template (the namespace's LimitRange fills "
                   "in defaults where it has them).",
                   _each_container({"resources": {"requests": {"cpu": "?*", "memory": "?*"},
                                                  "limits": {"memory": "?*"}}}, init=False, ephemeral=False)),),
            # checked on Pods only, after the LimitRange admission plugin has filled in its defaults
            # (it mutates Pods, never their controllers, and runs before validating webhooks)
            autogen="none"),
        Control(
            "require-probes", "Require readiness and liveness probes", "medium",
            "Readiness probes keep traffic off pods that are not ready; liveness probes restart hung ones.",
            (_rule("probes",
                   "Every container needs a readinessProbe and a livenessProbe (Jobs and CronJobs are exempt). "
                   "Add both to each container of the pod template, for example an httpGet on a health path.",
                   # the API server defaults periodSeconds to 10 on every probe it is given; the mesh's
                   # istio-proxy sidecar comes with a readiness probe only and is left out
                   _each_container({"(name)": "!istio-proxy", "readinessProbe": {"periodSeconds": ">0"},
                                    "livenessProbe": {"periodSeconds": ">0"}}, init=False, ephemeral=False)),),
            # Listed (not Kyverno's default "all"): with a selector in exclude, the default would switch
            # auto-generation off, while a list copies match and exclude to those controllers
            # (pkg/autogen/v1/autogen.go, CanAutoGen and "scenario C"). No Job or CronJob: they end.
            autogen="DaemonSet,Deployment,StatefulSet,ReplicaSet",
            # pods of Jobs run to completion: Job defaulting puts this label on their template (1.27+)
            exclude_selector={"matchExpressions": [{"key": "batch.kubernetes.io/job-name", "operator": "Exists"}]}),
        Control(
            "disallow-latest-tag", "Require a pinned image tag", "medium",
            "An image without a tag, or tagged latest, can change under a running workload.",
            (_rule("require-image-tag",
                   "Every image needs a tag or a digest, like ghcr.io/acme/app:1.4.2 or ...@sha256:<digest>.",
                   _each_container({"image": "*:*"})),
             _rule("no-latest-tag",
                   "The latest tag is not allowed: pin a version (ghcr.io/acme/app:1.4.2) or a digest, so "
                   "every node runs the same image and rollbacks work.",
                   _each_container({"image": "!*:latest"})))),
    ]
    if allowed_registries:
        listed = ", ".join(allowed_registries)
        found.append(Control(
            "restrict-image-registries", "Restrict image registries", "medium",
            f"Images must come from the platform's allowed registries: {listed}.",
            (_rule("allowed-registries",
                   f"Images must come from an allowed registry ({listed}); write the registry host in the image "
                   "(docker.io/library/nginx:1.27, not nginx:1.27), or ask the platform team to add yours.",
                   _each_container({"image": " | ".join(f"{r}/*" for r in allowed_registries)})),)))
    found.append(Control(
        "require-team-label", "Require the team label", "low",
        f"Workloads carry the {TEAM_LABEL} label so costs, alerts and reports reach their team.",
        (_rule("team-label",
               f"Workloads need the label {TEAM_LABEL}: <your team> on their pods (spec.template.metadata.labels "
               "of a Deployment, StatefulSet, Job, ...).",
               {"metadata": {"labels": {TEAM_LABEL: "?*"}}}),)))
    return found


def policy_name(control: Control, enforce: bool) -> str:
    return control.key if enforce else f"{control.key}-audit"


def cluster_policy(control: Control, *, enforce: bool, excluded_namespaces: Sequence[str]) -> dict[str, Any]:
    """One half of a control: Enforce/Fail on team namespaces, or Audit/Ignore everywhere else."""
    selector = {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists" if enforce else "DoesNotExist"}]}
    # The background scan skips Kyverno's resource filters (features.backgroundScan.skipResourceFilters),
    # so the platform's namespaces are excluded in every policy as well as in the webhooks.
    exclude: list[dict[str, Any]] = [{"resources": {"namespaces": sorted(excluded_namespaces)}}]
    if control.exclude_selector is not None:
        exclude.append({"resources": {"kinds": ["Pod"], "selector": control.exclude_selector}})
    action = "Enforce" if enforce else "Audit"
    rules = []
    for rule in control.rules:
        rules.append({
            "name": rule["name"],
            "match": {"any": [{"resources": {"kinds": ["Pod"], "namespaceSelector": copy.deepcopy(selector)}}]},
            "exclude": {"any": copy.deepcopy(exclude)},
            "validate": {**copy.deepcopy(rule["validate"]), "failureAction": action},
        })
    annotations = {
        "policies.kyverno.io/title": control.title,
        "policies.kyverno.io/category": "Platform baseline",
        "policies.kyverno.io/severity": control.severity,
        "policies.kyverno.io/subject": "Pod",
        "policies.kyverno.io/description": control.description + (
            " Enforced in team namespaces." if enforce else " Audited (reported, never refused) outside team "
            "namespaces."),
    }
    if control.autogen is not None:
        annotations[AUTOGEN] = control.autogen
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterPolicy",
        "metadata": {"name": policy_name(control, enforce), "annotations": annotations,
                     "labels": {"platform.eks/policy-set": "baseline", "platform.eks/control": control.key,
                                "platform.eks/enforcement": action.lower()}},
        "spec": {
            "background": True,
            "admission": True,
            # Fail: a team workload is refused while Kyverno cannot answer; Ignore: never block anything else
            "webhookConfiguration": {"failurePolicy": "Fail" if enforce else "Ignore"},
            "rules": rules,
        },
    }


def baseline(allowed_registries: Sequence[str], excluded_namespaces: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every baseline ClusterPolicy by name (Enforce halves, then Audit halves, per control)."""
    out: dict[str, dict[str, Any]] = {}
    for control in controls(allowed_registries):
        for enforce in (True, False):
            policy = cluster_policy(control, enforce=enforce, excluded_namespaces=excluded_namespaces)
            out[policy["metadata"]["name"]] = policy
    return out


def policy_exception(name: str, *, namespace: str, controls_waived: Sequence[str], namespaces: Sequence[str],
                     names: Sequence[str], reason: str, allowed_registries: Sequence[str]) -> dict[str, Any]:
    """A PolicyException (kyverno.io/v2) waiving both halves of each control for the named workloads."""
    by_key = {c.key: c for c in controls(allowed_registries)}
    exceptions = [{"policyName": policy_name(by_key[key], enforce), "ruleNames": by_key[key].rule_names()}
                  for key in controls_waived for enforce in (True, False)]
    return {
        "apiVersion": "kyverno.io/v2",
        "kind": "PolicyException",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"platform.eks/reason": reason}},
        "spec": {
            "exceptions": exceptions,
            "match": {"any": [{"resources": {
                "kinds": ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"],
                "namespaces": list(namespaces), "names": list(names)}}]},
        },
    }
