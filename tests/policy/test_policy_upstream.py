"""The platform's policies decide as their counterparts in Kyverno's policy library do, on upstream's own cases.

Each control of components/policy/policies.py names its counterpart (``Control.upstream``). Every upstream case
of that counterpart (its ``.kyverno-test/`` results, its ``.chainsaw-test/`` good and bad objects, and Kyverno's
CLI cases of a policy of that name: tests/policy/test_cel_conformance.py collects them) is evaluated with our
Deny half in a team namespace, under harness/cel_policy.py. Our verdict must be upstream's, except where the
control differs from its counterpart on purpose: ``DIFFERENCES`` names those cases by a rule and says why, and
a test checks that each named case does disagree (so the list can't go stale and hide a real disagreement).
"""

from __future__ import annotations

from functools import cache

import pytest

from components.core.names import TEAM_LABEL
from components.policy.kyverno import PLATFORM_NAMESPACES
from components.policy.policies import baseline, controls
from harness.cel_policy import evaluate, namespace_object
from tests.policy.test_cel_conformance import Case, all_cases

# upstream's best-practices restrict-image-registries allows these two (its description says so)
UPSTREAM_REGISTRIES = ["eu.foo.io", "bar.io"]

# control -> (the ends of the ids of its counterpart's cases that differ, why)
DIFFERENCES: dict[str, tuple[tuple[str, ...], str]] = {
    "disallow-host-path": (
        ("/with-match-conditions/disallow-host-path/Pod/default/skipped-pod",),
        "a Kyverno CLI case whose policy carries matchConditions of its own that skip the pod; ours has none"),
    "require-requests-limits": (
        ("bad-podcontrollers.yaml#0/Deployment/chainsaw-test/reqpodlimits-baddeployment01",
         "bad-podcontrollers.yaml#1/CronJob/chainsaw-test/reqpodlimits-badcronjob01"),
        "ours checks Pods only, after the LimitRange admission plugin has filled in the namespace's defaults "
        "(autogen off); upstream also refuses the controllers"),
    "require-probes": (
        ("require-pod-probes/Pod/default/goodpod03", "require-pod-probes/Pod/default/goodpod04",
         "good-pods.yaml#0/Pod/chainsaw-test/goodpod01", "good-pods.yaml#1/Pod/chainsaw-test/goodpod02",
         "good-pods.yaml#2/Pod/chainsaw-test/goodpod03",
         "good-podcontrollers.yaml#0/Deployment/chainsaw-test/reqprobes-gooddeployment01"),
        "ours needs a readinessProbe and a livenessProbe; upstream admits any one of liveness, readiness or "
        "startup"),
    "restrict-image-registries": (
        ("advanced-restrict-image-registries/Pod/imageregistries-ns01/goodpod01",
         "advanced-restrict-image-registries/Pod/imageregistries-ns01/goodpod02",
         "advanced-restrict-image-registries/Pod/default/goodpod03"),
        "Kyverno's CLI case reads per-namespace registry lists from a ConfigMap; ours is one list for the cluster"),
    "require-team-label": (
        ("require-labels/Pod/default/goodpod01", "require-labels/Pod/default/goodpod02",
         "good-pods.yaml#0/Pod/chainsaw-test/goodpod01-label", "good-pods.yaml#1/Pod/chainsaw-test/goodpod02-label",
         "good-podcontrollers.yaml#0/Deployment/chainsaw-test/reqlabels-gooddeployment01",
         "good-podcontrollers.yaml#1/CronJob/chainsaw-test/reqlabels-goodcronjob01"),
        f"ours requires {TEAM_LABEL}, upstream's require-labels app.kubernetes.io/name: upstream's good objects "
        "carry only its label"),
}


@cache
def ours() -> dict[str, dict]:
    return baseline(UPSTREAM_REGISTRIES, PLATFORM_NAMESPACES)


def counterpart_cases() -> list[tuple[str, str, Case]]:
    found = []
    cases = all_cases()
    for control in controls(UPSTREAM_REGISTRIES):
        name = control.upstream.rsplit("/", 1)[-1]
        for case_id, case in sorted(cases.items()):
            if f"/{name}/" in case_id and case.obj is not None:
                found.append((control.key, case_id, case))
    return found


CASES = counterpart_cases()


def agrees(control: str, case: Case) -> tuple[bool, str]:
    obj = case.obj
    assert obj is not None
    namespace = (obj.get("metadata") or {}).get("namespace") or "default"
    result = evaluate(ours()[control], obj, namespace=namespace_object(namespace, {TEAM_LABEL: "team"}))
    if case.expected == "skip":
        return result.verdict in ("skip", "pass"), str(result)
    upstream_refuses = case.expected in ("fail", "denied")
    return upstream_refuses == (result.verdict == "fail"), f"Kyverno: {case.expected}; ours: {result}"


@pytest.mark.parametrize(("control", "case_id", "case"), CASES, ids=[f"{c}:{i}" for c, i, _ in CASES])
def test_ours_decides_as_upstream_on_upstreams_cases(control, case_id, case):
    ok, detail = agrees(control, case)
    differs = control in DIFFERENCES and case_id.endswith(DIFFERENCES[control][0])
    if differs:
        assert not ok, f"listed as a difference ({DIFFERENCES[control][1]}), but agrees: remove it from the list"
    else:
        assert ok, detail


def test_every_control_has_upstream_cases():
    counts = {key: sum(1 for c, _, _ in CASES if c == key) for key in {c.key for c in controls(UPSTREAM_REGISTRIES)}}
    assert all(n >= 5 for n in counts.values()), counts
    # every listed difference names a case that exists
    for control, (ends, _) in DIFFERENCES.items():
        for end in ends:
            assert any(c == control and i.endswith(end) for c, i, _ in CASES), (control, end)
    # the identical controls agree on every case: no difference may be listed for them
    assert not {"disallow-privileged-containers", "disallow-host-namespaces", "disallow-latest-tag"} & set(DIFFERENCES)
