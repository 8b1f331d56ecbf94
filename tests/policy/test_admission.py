"""The cluster admits the platform's own pods (issue 21, item 3): every pod template of every Helm release of
every stack and URN variant, rendered at its pin with the values the program passes, meets the Pod Security
level its namespace enforces (Kyverno's pod-security-vpol policies under the CEL engine) and the platform's own
Deny policies for that namespace; so do the workloads of ``gitops/`` in every environment and exposure, and a
team's pod in every team namespace, injected with istiod's sidecar where the namespace asks for it
(harness/admission.py says how each is judged)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from harness import admission, charts, run_stack, yamlio
from harness.urns import VARIANTS
from tests.conftest import DEV_SHARED_VARIANTS, every_variant_recording

EXAMPLE = Path(__file__).parent.parent / "fixtures" / "kyverno" / "disallow-latest-tag" / "pass.yaml"
GITOPS_CASES = [(env, exposure) for env in ("dev", "staging", "prod", "local")
                for exposure in ("istio", "none", *(("alb",) if env != "local" else ()))]
TEMPLATE_LINES = (  # the CNI branch of istiod-1.31.1 files/injection-template.yaml that admission.Sidecar copies
    "allowPrivilegeEscalation: {{ .Values.global.proxy.privileged }}", "privileged: {{ .Values.global.proxy.privileged }}",
    "- ALL", "readOnlyRootFilesystem: true", "runAsNonRoot: true", "{{- if not .Values.pilot.cni.enabled }}",
    "{{- toYaml .Values.global.proxy.seccompProfile | nindent 8 }}")


@pytest.fixture(scope="module")
def variants():
    return dict(every_variant_recording())


def team_pods(rec) -> list[tuple[str, dict[str, str], tuple[dict, ...]]]:
    """A pod that meets every baseline control (the Kyverno example), in every team namespace of ``rec``."""
    base = yamlio.load(EXAMPLE.read_text())
    out = []
    for ns, labels in admission.namespace_labels(rec).items():
        if "platform.eks/team" in labels:
            pod = copy.deepcopy(base)
            pod["metadata"]["namespace"] = ns
            # restricted also asks for a non-root user, no privilege escalation, no capabilities and a
            # seccomp profile: what a team's pod template writes
            pod["spec"]["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
            for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", []):
                c["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                        "runAsUser": 10001}
            out.append((f"team pod in {ns}", labels, (pod,)))
    return out


@pytest.mark.parametrize("variant", [*VARIANTS, *DEV_SHARED_VARIANTS])
def test_every_pod_of_every_release_is_admitted(variants, variant):
    rec = variants[variant]
    found = admission.refusals(rec, team_pods(rec))
    assert found == [], "\n".join(map(str, found))
    assert admission.pod_count(rec) >= 25


@pytest.mark.parametrize(("environment", "exposure"), GITOPS_CASES)
def test_every_gitops_workload_is_admitted_in_its_namespace(variants, environment, exposure):
    rec = variants["local" if environment == "local" else "dev"]
    extra = admission.gitops_objects(environment, exposure)
    assert extra and all(labels.get(admission.ENFORCE_LABEL) == "restricted" for _, labels, _ in extra)
    assert (exposure == "istio") == all(labels.get("istio-injection") == "enabled" for _, labels, _ in extra)
    found = admission.refusals(rec, extra, releases=False)
    assert found == [], "\n".join(map(str, found))


def test_the_judged_namespaces_enforce_real_levels(variants):
    labels = admission.namespace_labels(variants["dev-teams"])
    levels = {ns: lab.get(admission.ENFORCE_LABEL) for ns, lab in labels.items()}
    # not vacuous: restricted and baseline namespaces hold releases, and teams are restricted by default
    assert levels["kyverno"] == "restricted" and levels["argocd"] == "baseline" and levels["payments"] == "restricted"
    assert len(admission.pod_security_policies("restricted")) > len(admission.pod_security_policies("baseline")) >= 10


def test_a_privileged_pod_in_a_restricted_namespace_is_refused_naming_release_object_container_and_rule():
    rec = run_stack("dev")
    (release,) = [r for r in charts.releases(rec) if charts.chart_of(r).name == "kyverno"]
    values = copy.deepcopy(release.inputs["values"])
    values["admissionController"]["container"]["securityContext"] = {"privileged": True}
    objects = charts.render("kyverno", "3.9.0", values, "kyverno", "kyverno")
    labels = admission.namespace_labels(rec)["kyverno"]
    found = [r for o in admission.pod_objects(objects)
             for r in admission.judge(release.name, o, "kyverno", labels, admission.platform_policies(rec))]
    assert [str(r).split(":")[0] for r in found if r.policy == "disallow-privileged-containers"] == [release.name]
    (refusal,) = [r for r in found if r.policy == "disallow-privileged-containers"]
    assert refusal.object == "Deployment/kyverno/kyverno-admission-controller (container kyverno)"


def test_without_its_seccomp_profile_the_injected_sidecar_is_refused_in_a_restricted_namespace():
    rec = run_stack("dev")
    sidecar = admission.sidecar_of(rec)
    assert sidecar is not None and sidecar.seccomp_profile == {"type": "RuntimeDefault"}
    (_, labels, objects) = admission.gitops_objects("dev", "istio")[0]
    # the app sets its own profile per container here, so only the injected containers lack one
    bare = admission.Sidecar(image=sidecar.image, resources=sidecar.resources)
    per_container = []
    for o in objects:
        o = copy.deepcopy(o)
        if o.get("kind") in admission.POD_KINDS:
            spec = admission._pod_spec(o)
            profile = (spec.get("securityContext") or {}).pop("seccompProfile", None)
            for c in spec.get("containers", []):
                c.setdefault("securityContext", {})["seccompProfile"] = profile or {"type": "RuntimeDefault"}
        per_container.append(o)
    pods = admission.pod_objects(per_container)
    assert pods
    ns = pods[0]["metadata"]["namespace"]
    found = [r for o in pods for r in admission.judge("gitops", o, ns, labels, [], bare)]
    assert found and all("istio-validation" in r.object and "istio-proxy" in r.object for r in found), found
    assert not [r for o in pods for r in admission.judge("gitops", o, ns, labels, [], sidecar)]


def test_the_injected_shape_is_still_the_templates():
    text = charts.chart_dir("istiod", "1.31.1").joinpath("files", "injection-template.yaml").read_text()
    assert all(line in text for line in TEMPLATE_LINES)
    assert "cni" in str(run_stack("dev").one("kubernetes:helm.sh/v3:Release", "dev-istio-istiod").inputs["values"])
