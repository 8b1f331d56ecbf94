"""Would the cluster admit the platform's own pods? Offline, for one evaluated stack.

Every Helm release is rendered at its pin with the values the program passes (``harness/charts.py``), and
every pod template in it (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs, hooks
and test pods included: the render keeps them) is judged, in the namespace it lands in, by:

- the Pod Security Standard the namespace's ``pod-security.kubernetes.io/enforce`` label names, as Kyverno's
  policy library writes it (``kyverno-policies/pod-security-vpol``: ``baseline/`` for baseline, ``baseline/``
  and ``restricted/`` for restricted; nothing for privileged or an unlabelled namespace, which is
  privileged), plus ``SECCOMP_SET`` where the library is more lenient than the standard. A namespace the
  program does not create (kube-system) carries no label;
- the platform's own Kyverno policies (the recorded ValidatingPolicies) that match that namespace.

Both are evaluated by ``harness/cel_policy.py``, with Kyverno's pod-controller autogen, so a Deployment is
judged by its pod template. A failed Pod Security validation is a refusal whatever the upstream policy's own
``validationActions`` say (the namespace label enforces the level); a platform policy refuses only with
``Deny`` (its Audit half reports). The namespace of an object is its own ``metadata.namespace``, else the
release's.

In a namespace labelled ``istio-injection: enabled`` a pod is judged as istiod injects it (``inject``): with
the ``istio-validation`` init container and the ``istio-proxy`` container of istiod-1.31.1's
files/injection-template.yaml in its CNI branch (``pilot.cni.enabled``, which the platform sets): both
``privileged`` and ``allowPrivilegeEscalation`` from ``global.proxy.privileged`` (false), capabilities
``drop: [ALL]`` and nothing added, ``readOnlyRootFilesystem: true``, user and group 1337, ``runAsNonRoot:
true``, and ``seccompProfile`` from ``global.proxy.seccompProfile``. That shape is read off the template, not
rendered from it (the template is Go text istiod fills per pod); ``tests/policy/test_admission.py`` checks
that the template still has those lines.

``gitops_objects`` renders the workloads of ``gitops/`` for an environment and exposure with the namespace
labels the root Application gives their namespace (``managedNamespaceMetadata``).

Shared by the tests (tests/policy/test_admission.py) and any offline tool; it reads only what it is given.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from components.policy.policies import CONTAINERS
from harness import charts, yamlio
from harness.cel_policy import evaluate, namespace_object
from harness.mocks import Recorded, Recording
from harness.upstream import load_yaml, upstream_file

POD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = {"privileged": (), "baseline": ("baseline",), "restricted": ("baseline", "restricted")}
PLATFORM_POLICY = "kubernetes:policies.kyverno.io/v1:ValidatingPolicy"


@dataclasses.dataclass(frozen=True)
class Refusal:
    """One object of one release that one policy would refuse."""

    release: str
    object: str
    """kind/namespace/name"""
    policy: str
    messages: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.release}: {self.object} refused by {self.policy}: {'; '.join(self.messages)}"


# Where Kyverno's library is more lenient than Kubernetes' Pod Security admission: its restrict-seccomp-strict
# reads a missing profile as RuntimeDefault (``orValue('RuntimeDefault')``), while the restricted standard
# prohibits "the absence of a profile": it must be set on the pod or on every container (Kubernetes docs,
# Pod Security Standards, restricted, "Seccomp (v1.19+)"). This one rule is written here, in the same API.
SECCOMP_SET = {
    "apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy",
    "metadata": {"name": "restricted-seccomp-profile-set"},
    "spec": {
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}]},
        "variables": [dict(CONTAINERS)],
        "validations": [{
            "expression": "object.spec.?securityContext.?seccompProfile.?type.hasValue() || "
                          "variables.containers.all(c, c.?securityContext.?seccompProfile.?type.hasValue())",
            "message": "restricted needs a seccomp profile (RuntimeDefault or Localhost) on the pod or on every "
                       "container; none is not allowed"}],
    },
}


@functools.cache
def pod_security_policies(level: str) -> tuple[dict[str, Any], ...]:
    """Kyverno's policy-library ValidatingPolicies for a Pod Security level, from its kustomization lists (and,
    for restricted, ``SECCOMP_SET``)."""
    if level not in LEVELS:
        raise ValueError(f"{ENFORCE_LABEL}: {level!r} is not one of {', '.join(LEVELS)}")
    found = []
    for folder in LEVELS[level]:
        kustomization = upstream_file("kyverno-policies", f"pod-security-vpol/{folder}/kustomization.yaml")
        for resource in yamlio.load(kustomization.read_text())["resources"]:
            found += [d for d in yamlio.load_all((kustomization.parent / resource).read_text()) if d]
    if level == "restricted":
        found.append(SECCOMP_SET)
    return tuple(found)


def namespace_labels(recording: Recording) -> dict[str, dict[str, str]]:
    """Labels of every Namespace the program creates, by name."""
    return {str(r.inputs["metadata"]["name"]): dict(r.inputs["metadata"].get("labels") or {})
            for r in recording.of_type("kubernetes:core/v1:Namespace")}


def platform_policies(recording: Recording) -> list[dict[str, Any]]:
    return [r.k8s_object() for r in recording.of_type(PLATFORM_POLICY)]


def pod_objects(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in objects if o.get("kind") in POD_KINDS and str(o.get("apiVersion", "")) in (
        "v1", "apps/v1", "batch/v1")]


INJECTION_LABEL = "istio-injection"


@dataclasses.dataclass(frozen=True)
class Sidecar:
    """What istiod injects: the proxy image and resources, and global.proxy.seccompProfile."""

    image: str
    resources: Mapping[str, Any]
    seccomp_profile: Mapping[str, Any] | None = None

    def container(self, name: str) -> dict[str, Any]:
        context: dict[str, Any] = {"allowPrivilegeEscalation": False, "privileged": False,
                                   "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
                                   "runAsGroup": 1337, "runAsUser": 1337, "runAsNonRoot": True}
        if self.seccomp_profile:
            context["seccompProfile"] = dict(self.seccomp_profile)
        return {"name": name, "image": self.image, "resources": dict(self.resources), "securityContext": context}


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec inside ``obj`` (a Pod, a controller's template, a CronJob's job template)."""
    spec = obj.setdefault("spec", {})
    if obj["kind"] == "Pod":
        return spec
    if obj["kind"] == "CronJob":
        spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    return spec.setdefault("template", {}).setdefault("spec", {})


def inject(obj: Mapping[str, Any], sidecar: Sidecar) -> dict[str, Any]:
    """``obj`` with istiod's injected containers added to its pod spec (see the module's docstring)."""
    out = copy.deepcopy(dict(obj))
    spec = _pod_spec(out)
    spec["initContainers"] = [sidecar.container("istio-validation"), *spec.get("initContainers", [])]
    spec["containers"] = [*spec.get("containers", []), sidecar.container("istio-proxy")]
    return out


def culprits(policy: Mapping[str, Any], obj: Mapping[str, Any], namespace: Mapping[str, Any]) -> list[str]:
    """The containers of ``obj`` that ``policy`` refuses on their own (each alone in the pod); ["the pod"]
    when each alone passes or each alone fails (a pod-level field: hostNetwork, volumes, a label)."""
    template = copy.deepcopy(dict(obj))
    spec = _pod_spec(template)
    every = [(kind, c) for kind in ("initContainers", "containers", "ephemeralContainers")
             for c in spec.get(kind) or ()]
    failing = []
    for kind, container in every:
        alone = copy.deepcopy(template)
        one = _pod_spec(alone)
        for key in ("initContainers", "containers", "ephemeralContainers"):
            one.pop(key, None)
        one["containers"] = [container]
        if evaluate(policy, alone, namespace=namespace).verdict == "fail":
            failing.append(f"{kind[:-1]} {container.get('name')}")
    return failing if 0 < len(failing) < len(every) else ["the pod"]


def judge(release: str, obj: Mapping[str, Any], namespace: str, labels: Mapping[str, str],
          policies: Sequence[Mapping[str, Any]], sidecar: Sidecar | None = None) -> list[Refusal]:
    """What refuses ``obj`` in ``namespace`` (with ``labels``): its Pod Security level, then the platform's
    ``policies`` (Deny only); injected first where the namespace asks for it and ``sidecar`` is known."""
    view: dict[str, Any] = {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": namespace}}
    if labels.get(INJECTION_LABEL) == "enabled":
        if sidecar is None:
            raise ValueError(f"{release}: {namespace} asks for sidecar injection, but no sidecar was given")
        view = inject(view, sidecar)
    ns = namespace_object(namespace, labels)
    level = labels.get(ENFORCE_LABEL, "privileged")
    name = f"{obj['kind']}/{namespace}/{view['metadata'].get('name')}"
    out = []
    for policy, enforced in (*((p, True) for p in pod_security_policies(level)), *((p, False) for p in policies)):
        result = evaluate(policy, view, namespace=ns)
        if result.verdict == "error" or (result.verdict == "fail" and (enforced or result.denied)):
            where = ", ".join(culprits(policy, view, ns)) if result.verdict == "fail" else "evaluation error"
            out.append(Refusal(release, f"{name} ({where})", policy["metadata"]["name"],
                               result.messages or (result.detail,)))
    return out


def sidecar_of(recording: Recording) -> Sidecar | None:
    """The sidecar istiod's recorded values make, or None without Istio."""
    istiod = [r for r in charts.releases(recording) if charts.chart_of(r).name == "istiod"]
    if not istiod:
        return None
    defaults = load_yaml("istio", "istiod-values.yaml")["_internal_defaults_do_not_set"]["global"]
    values = (istiod[0].inputs.get("values") or {}).get("global", {})
    proxy = {**defaults["proxy"], **values.get("proxy", {})}
    image = f"{values.get('hub', defaults['hub'])}/{defaults['proxy']['image']}:{values.get('tag', defaults['tag'])}"
    return Sidecar(image=image, resources=proxy["resources"], seccomp_profile=proxy.get("seccompProfile") or None)


def release_objects(release: Recorded) -> tuple[str, tuple[dict, ...]]:
    """(namespace, rendered objects) of a recorded release."""
    return str(release.inputs["namespace"]), charts.render_release(release)


def refusals(recording: Recording, extra: Sequence[tuple[str, Mapping[str, str], Sequence[Mapping[str, Any]]]] = (),
             *, releases: bool = True) -> list[Refusal]:
    """Every refusal of every pod template of every release of ``recording`` (unless ``releases`` is false);
    ``extra`` adds (source, namespace labels, objects) judged in their own ``metadata.namespace`` with those
    labels (``gitops_objects``), under the recording's policies and sidecar."""
    labels = namespace_labels(recording)
    policies = platform_policies(recording)
    sidecar = sidecar_of(recording)
    out = []
    for release in charts.releases(recording) if releases else ():
        default_ns, objects = release_objects(release)
        for obj in pod_objects(objects):
            ns = (obj.get("metadata") or {}).get("namespace") or default_ns
            out += judge(release.name, obj, ns, labels.get(ns, {}), policies, sidecar)
    for source, ns_labels, objects in extra:
        for obj in pod_objects(objects):
            ns = (obj.get("metadata") or {}).get("namespace") or "default"
            out += judge(source, obj, ns, ns_labels, policies, sidecar)
    return out


def gitops_objects(environment: str, exposure: str) -> list[tuple[str, dict[str, str], tuple[dict, ...]]]:
    """(source, namespace labels, objects) of every workload the root Application makes in ``environment``
    with ``exposure``: each child's chart rendered as Argo CD would, in the namespace it creates."""
    from harness import gitops

    out = []
    root = gitops.root_values(environment, exposure, "https://github.com/acme/eks-platform.git")
    for app in gitops.render_root(root):
        if app.get("kind") != "Application":
            continue
        name = app["metadata"]["name"]
        namespace = app["spec"]["destination"]["namespace"]
        labels = (app["spec"].get("syncPolicy", {}).get("managedNamespaceMetadata") or {}).get("labels") or {}
        objects = tuple({**o, "metadata": {**o.get("metadata", {}), "namespace": namespace}}
                        for o in gitops.render_workload(name, environment, exposure))
        out.append((f"gitops/{name} ({environment}, {exposure})", dict(labels), objects))
    return out


def pod_count(recording: Recording) -> int:
    """How many pod templates ``refusals`` judges (for the tests' "not vacuous" checks)."""
    return sum(len(pod_objects(release_objects(r)[1])) for r in charts.releases(recording))
