"""harness/cel_policy.py decides as Kyverno does on Kyverno's own cases:

- the CLI test cases for ValidatingPolicy and ValidatingAdmissionPolicy of Kyverno v1.19.0
  (``kyverno/cli-tests/``: each ``kyverno-test.yaml`` names policies, resources and the result per resource);
  for the folders there without a ``kyverno-test.yaml``, the verdicts Kyverno's ``apply`` tests assert
  (``APPLY_CASES``, from cmd/cli/kubectl-kyverno/commands/apply/command_test.go at v1.19.0);
- Kyverno's policy library (``kyverno-policies/pod-security-vpol`` and ``best-practices-vpol``): every
  ``.kyverno-test/`` result, and every object a ``.chainsaw-test/`` applies: the good ones must be admitted,
  the bad ones (``expect: ($error != null)``) denied, under the ``validationActions`` the test patches in.

Every case is listed (id: source/folder/policy/kind/resource) with Kyverno's verdict. A case that needs what
the evaluator does not model is in ``OUT_OF_SCOPE`` with the reason, and a test checks that it still is
(the evaluator refuses it, or still disagrees as stated): none is skipped.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from harness import cel_policy, yamlio
from harness.cel_policy import Result, UnsupportedPolicy
from harness.upstream import upstream_file

# Chainsaw runs each test in a fresh namespace of its own (chainsaw-<random>); objects that name none go there.
CHAINSAW_NAMESPACE = "chainsaw-test"


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    expected: str  # pass/fail/skip (Kyverno CLI), or admitted/denied (chainsaw)
    policy: dict[str, Any]
    obj: dict[str, Any] | None  # a Kubernetes object, or None for a payload case
    payload: Any = None  # a JSON/HTTP/Envoy payload
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    def run(self) -> Result:
        if self.obj is None:
            return cel_policy.evaluate_payload(self.policy, self.payload, **self.kwargs)
        return cel_policy.evaluate(self.policy, self.obj, **self.kwargs)


def disagreement(case: Case, result: Result) -> str | None:
    """Why ``result`` is not what Kyverno decides for ``case`` (None when it is)."""
    if case.expected == "denied":
        ok = result.denied
    elif case.expected == "admitted":
        ok = not result.denied and result.verdict != "error"
    else:
        ok = result.verdict == case.expected
    return None if ok else f"Kyverno: {case.expected}; evaluator: {result}"


# --- loading ---------------------------------------------------------------------------------------------------

def _roots() -> dict[str, Path]:
    return {"cli": upstream_file("kyverno", "policies.kyverno.io_validatingpolicies.yaml").parent / "cli-tests",
            "policies": upstream_file("kyverno-policies", "pod-security-vpol/baseline/kustomization.yaml").parents[2]}


def _docs(path: Path) -> list[Any]:
    if path.suffix == ".json":
        return [json.loads(path.read_text())]
    return [d for d in yamlio.load_all(path.read_text()) if d]


def _files(base: Path, names: Any) -> list[Path]:
    return [(base / name).resolve() for name in ([names] if isinstance(names, str) else names or ())]


def _objects(base: Path, names: Any) -> list[dict[str, Any]]:
    return [doc for path in _files(base, names) for doc in _docs(path)]


def _namespaces(values: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Kyverno CLI Values: ``namespaces`` (whole objects) win over ``namespaceSelector`` (name and labels)."""
    found: dict[str, dict[str, Any]] = {}
    for value in values:
        for selector in value.get("namespaceSelector") or ():
            found[selector["name"]] = {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": selector["name"], "labels": selector.get("labels") or {}}}
    for value in values:
        for namespace in value.get("namespaces") or ():
            found[namespace["metadata"]["name"]] = namespace
    return found


def _cli_namespace(obj: Mapping[str, Any]) -> str:
    """The namespace Kyverno's CLI puts an object in (cmd/cli/kubectl-kyverno/resource/resource.go)."""
    namespaced = cel_policy.kind_info(obj["kind"])[1]
    return (obj.get("metadata") or {}).get("namespace") or ("default" if namespaced else "")


def _kyverno_test_cases(source: str, root: Path, test_file: Path) -> Iterator[Case]:
    base = test_file.parent
    folder = f"{source}/{base.relative_to(root)}".removesuffix("/.kyverno-test")
    for test in _docs(test_file):
        policies = _objects(base, test.get("policies"))
        bindings = [p for p in policies if p["kind"] == "ValidatingAdmissionPolicyBinding"]
        by_name = {p["metadata"]["name"]: p for p in policies if p["kind"] != "ValidatingAdmissionPolicyBinding"}
        resources = _objects(base, test.get("resources"))
        payloads = {p.name: (mode, doc) for mode, key in (("json", "jsonPayloads"), ("http", "httpPayloads"),
                                                          ("envoy", "envoyPayloads"))
                    for p in _files(base, test.get(key)) for doc in _docs(p)}
        context = _objects(base, test.get("context"))
        namespaces = _namespaces(_objects(base, test.get("variables")))
        user_info = next((u.get("userInfo") for u in _objects(base, test.get("userinfo"))), None)
        common: dict[str, Any] = {
            "exceptions": _objects(base, test.get("exceptions")),
            "context_resources": [r for c in context for r in (c.get("spec") or {}).get("resources") or ()]}
        for result in test.get("results") or ():
            policy = by_name[result["policy"]]
            expected = result["result"].strip()
            if result.get("kind"):  # Kubernetes objects
                for obj in _selected(resources, result):
                    kwargs = dict(common, user_info=user_info, operation=result.get("operation", "CREATE"),
                                  namespace=namespaces.get(_cli_namespace(obj)))
                    if policy["kind"] == cel_policy.VAP_KIND:
                        kwargs.update(bindings=bindings, params=_objects(base, test.get("paramResources")))
                    op = "" if kwargs["operation"] == "CREATE" else f"@{kwargs['operation']}"
                    name = f"{_cli_namespace(obj)}/{obj['metadata']['name']}".lstrip("/")
                    yield Case(f"{folder}/{policy['metadata']['name']}/{obj['kind']}/{name}{op}", expected, policy,
                               obj, kwargs=kwargs)
            else:  # payloads
                for file_name in result.get("resources") or sorted(payloads):
                    mode, payload = payloads[file_name]
                    yield Case(f"{folder}/{policy['metadata']['name']}/{mode}-payload/{file_name}", expected, policy,
                               None, payload, kwargs={"exceptions": common["exceptions"]})


def _selected(resources: list[dict[str, Any]], result: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for wanted in result.get("resources") or ():
        namespace, _, name = wanted.rpartition("/")
        found = [r for r in resources if r["kind"] == result["kind"] and r["metadata"]["name"] == name
                 and (not namespace or _cli_namespace(r) == namespace)]
        assert len(found) == 1, f"{result['policy']}: {wanted} is {len(found)} resources"
        yield found[0]


def _chainsaw_cases(root: Path, test_file: Path) -> Iterator[Case]:
    base = test_file.parent
    folder = f"policies/{base.parent.relative_to(root)}"
    test = _docs(test_file)[0]
    operations = [op for step in test["spec"]["steps"] for op in step.get("try") or ()]
    applied = [op.get("apply") or op.get("create") for op in operations if op.get("apply") or op.get("create")]
    policy = next(_docs(path)[0] for path in _files(base, [a["file"] for a in applied if a["file"].startswith("../")]))
    policy = copy.deepcopy(policy)
    for op in operations:  # chainsaw patches the policy's spec (validationActions: Deny) before the objects
        patch = (op.get("patch") or {}).get("resource")
        if patch and patch.get("kind") == policy["kind"] and patch["metadata"]["name"] == policy["metadata"]["name"]:
            policy["spec"].update(patch.get("spec") or {})
    for step in applied:
        if step["file"].startswith("../"):
            continue
        denied = any((check.get("check") or {}).get("($error != null)") is True for check in step.get("expect") or ())
        for index, obj in enumerate(_docs(base / step["file"])):
            obj = copy.deepcopy(obj)
            if cel_policy.kind_info(obj["kind"])[1]:
                obj["metadata"].setdefault("namespace", CHAINSAW_NAMESPACE)
            name = f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}".lstrip("/")
            yield Case(f"{folder}/{policy['metadata']['name']}/chainsaw:{step['file']}#{index}/{obj['kind']}/{name}",
                       "denied" if denied else "admitted", policy, obj)
    for step in test["spec"]["steps"]:
        for op in step.get("try") or ():
            content = (op.get("script") or {}).get("content", "").strip()
            if content and not content.startswith("kubectl delete"):  # deletions only clean up
                yield Case(f"{folder}/{policy['metadata']['name']}/chainsaw:{step['name']}:script", "script", policy,
                           None, content)


def _kubectl_debug_case(script: Case) -> Case:
    """restrict-image-registries' step-03 runs ``kubectl debug goodpod02-registry --image=busybox:1.35
    --target=k8s-nginx`` and expects it refused: that is an UPDATE of the pod through its
    ``ephemeralcontainers`` subresource adding a busybox:1.35 ephemeral container."""
    assert "kubectl debug goodpod02-registry" in script.payload and "--image=busybox:1.35" in script.payload
    base = _roots()["policies"] / "best-practices-vpol/restrict-image-registries/.chainsaw-test"
    pod = next(d for d in _docs(base / "good-pods.yaml") if d["metadata"]["name"] == "goodpod02-registry")
    debugged = copy.deepcopy(pod)
    debugged["spec"]["ephemeralContainers"] = [
        {"name": "debugger", "image": "busybox:1.35", "targetContainerName": "k8s-nginx"}]
    return Case(script.id.removesuffix(":script") + ":kubectl-debug", "denied", script.policy, debugged,
                kwargs={"operation": "UPDATE", "old_object": pod, "subresource": "ephemeralcontainers"})


# Verdicts Kyverno's apply tests assert for the cli-tests folders that have no kyverno-test.yaml
# (cmd/cli/kubectl-kyverno/commands/apply/command_test.go @ v1.19.0, line of the case):
# (folder, policy file, object or payload file, verdict, line)
APPLY_CASES: tuple[tuple[str, str, str, str, int], ...] = (
    ("test-validating-admission-policy/check-deployments-replica", "policy.yaml", "deployment1.yaml", "pass", 294),
    ("test-validating-admission-policy/check-deployments-replica", "policy.yaml", "deployment2.yaml", "fail", 310),
    ("test-validating-admission-policy/disallow-host-path", "policy.yaml", "pod1.yaml", "pass", 326),
    ("test-validating-admission-policy/disallow-host-path", "policy.yaml", "pod2.yaml", "fail", 342),
    ("test-validating-admission-policy/check-deployment-labels", "policy.yaml", "deployment1.yaml", "pass", 358),
    ("test-validating-admission-policy/check-deployment-labels", "policy.yaml", "deployment2.yaml", "fail", 374),
    ("test-validating-policy/json-check-variables", "policy.yaml", "payload.json", "fail", 831),
    ("test-validating-policy/empty-message", "policy.yaml", "pod-fail.yaml", "fail", 848),
    ("test-validating-policy/empty-message", "policy.yaml", "pod-pass.yaml", "pass", 864),
    # a JSON-mode policy on a Kubernetes object evaluates the object as the payload
    ("test-validating-policy/json-mode-on-resource", "policy.yaml", "../check-deployment-labels/deployment1.yaml",
     "fail", 881),
    # a Kubernetes-mode policy on a JSON payload gives no result (Test_Apply_JsonPayload_K8sMode_NoSegfault)
    ("test-validating-policy/json-payload-k8s-mode-policy", "policy.yaml", "payload.json", "skip", 909),
)


def _apply_cases(root: Path) -> Iterator[Case]:
    for folder, policy_file, target, verdict, line in APPLY_CASES:
        base = root / folder
        policy = _docs(base / policy_file)[0]
        for doc in _docs((base / target).resolve()):
            payload = target.endswith(".json")
            name = target if payload else f"{doc['kind']}/{_cli_namespace(doc)}/{doc['metadata']['name']}"
            yield Case(f"cli/{folder}/{policy['metadata']['name']}/{name}@apply-test:{line}", verdict, policy,
                       None if payload else doc, doc if payload else None)


@cache
def all_cases() -> dict[str, Case]:
    roots = _roots()
    cases: list[Case] = []
    for test_file in sorted(roots["cli"].rglob("kyverno-test.yaml")):
        cases += _kyverno_test_cases("cli", roots["cli"], test_file)
    cases += _apply_cases(roots["cli"])
    for test_file in sorted(roots["policies"].rglob("kyverno-test.yaml")):
        cases += _kyverno_test_cases("policies", roots["policies"], test_file)
    for test_file in sorted(roots["policies"].rglob("chainsaw-test.yaml")):
        for case in _chainsaw_cases(roots["policies"], test_file):
            cases.append(_kubectl_debug_case(case) if case.expected == "script" else case)
    by_id: dict[str, Case] = {}
    for case in cases:
        assert case.id not in by_id, f"two cases are {case.id}"
        by_id[case.id] = case
    return by_id


# --- what the evaluator does not model ------------------------------------------------------------------------------

UNMODELLED_LIBRARY = "needs Kyverno's image library (image.GetMetadata reads a registry): not modelled"
OTHER_MODE = "evaluation.mode HTTP or Envoy: the policy answers HTTP or Envoy requests, not admission: not modelled"
STALE_OR_VALUE = (
    "upstream's expected pass predates cel-go 0.28: since google/cel-go#1276 (b62dcafe) `.orValue()` on a value "
    "that is not an optional (container.securityContext.capabilities.add.orValue([])) is a no-such-overload "
    "error, and Kyverno 1.19.0 builds with cel-go v0.30.0 (go.mod), so Kyverno 1.19 errors here as the "
    "evaluator (cel-cpp) does; the policy denies a container that adds NET_BIND_SERVICE")
CLI_VAP_MATCH = (
    "Kyverno's CLI ignores a bound ValidatingAdmissionPolicy's matchConstraints (pkg/admissionpolicy/validate.go "
    "processVAPWithoutClient); this policy's rule lists no operations, so the API server matches nothing (and "
    "refuses the policy: operations are required): the evaluator follows the API server")
UPSTREAM_CONTRADICTION = (
    "the chainsaw test expects this pod (every container drops CAP_NET_RAW) denied, but the policy accepts "
    "CAP_NET_RAW and upstream's own .kyverno-test expects the same shape (drop-good) to pass")

# case id -> (reason, what the evaluator answers instead: "unsupported" (it raises UnsupportedPolicy) or its verdict)
OUT_OF_SCOPE: dict[str, tuple[str, str]] = {
    "cli/test-validating-admission-policy/match-namespaces/validate-namespace-name/Namespace/invalid-namespace": (CLI_VAP_MATCH, "skip"),
    "cli/test-validating-admission-policy/match-namespaces/validate-namespace-name/Namespace/valid-namespace": (CLI_VAP_MATCH, "skip"),
    "cli/test-validating-policy/allowed-base-images/allowed-base-images/Pod/default/badpod01": (UNMODELLED_LIBRARY, "unsupported"),
    "cli/test-validating-policy/allowed-base-images/allowed-base-images/Pod/default/badpod02": (UNMODELLED_LIBRARY, "unsupported"),
    "cli/test-validating-policy/allowed-base-images/allowed-base-images/Pod/default/badpod03": (UNMODELLED_LIBRARY, "unsupported"),
    "cli/test-validating-policy/allowed-base-images/allowed-base-images/Pod/default/goodpod01": (UNMODELLED_LIBRARY, "unsupported"),
    "cli/test-validating-policy/allowed-base-images/allowed-base-images/Pod/default/goodpod02": (UNMODELLED_LIBRARY, "unsupported"),
    "cli/test-validating-policy/envoy-allow/envoy-allow/envoy-payload/request.json": (OTHER_MODE, "unsupported"),
    "cli/test-validating-policy/envoy-deny/envoy-deny/envoy-payload/request.json": (OTHER_MODE, "unsupported"),
    "cli/test-validating-policy/envoy-jwt/envoy-jwt-policy/envoy-payload/request-empty.json": (OTHER_MODE, "unsupported"),
    "cli/test-validating-policy/envoy-jwt/envoy-jwt-policy/envoy-payload/request-forbidden.json": (OTHER_MODE, "unsupported"),
    "cli/test-validating-policy/envoy-jwt/envoy-jwt-policy/envoy-payload/request-pass.json": (OTHER_MODE, "unsupported"),
    "cli/test-validating-policy/http-allow/http-allow/http-payload/request.json": (OTHER_MODE, "unsupported"),
    "cli/test-validating-policy/http-deny/http-deny/http-payload/request.json": (OTHER_MODE, "unsupported"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/CronJob/default/addcap-goodcronjob02": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/CronJob/default/addcap-goodcronjob04": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/CronJob/default/addcap-goodcronjob05": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/CronJob/default/addcap-goodcronjob07": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/CronJob/default/addcap-goodcronjob09": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/CronJob/default/addcap-goodcronjob10": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Deployment/default/addcap-gooddeployment02": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Deployment/default/addcap-gooddeployment04": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Deployment/default/addcap-gooddeployment05": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Deployment/default/addcap-gooddeployment07": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Deployment/default/addcap-gooddeployment09": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Deployment/default/addcap-gooddeployment10": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Pod/default/addcap-goodpod02": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Pod/default/addcap-goodpod04": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Pod/default/addcap-goodpod05": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Pod/default/addcap-goodpod07": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Pod/default/addcap-goodpod09": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/adding-capabilities-strict/Pod/default/addcap-goodpod10": (STALE_OR_VALUE, "error"),
    "policies/best-practices-vpol/require-drop-cap-net-raw/drop-cap-net-raw/chainsaw:bad-pod-corner.yaml#0/Pod/chainsaw-test/add-capabilities-bad-001": (UPSTREAM_CONTRADICTION, "pass"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:pod-good.yaml#6/Pod/chainsaw-test/addcap-goodpod02": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:pod-good.yaml#7/Pod/chainsaw-test/addcap-goodpod04": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:pod-good.yaml#8/Pod/chainsaw-test/addcap-goodpod05": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:pod-good.yaml#10/Pod/chainsaw-test/addcap-goodpod07": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:pod-good.yaml#12/Pod/chainsaw-test/addcap-goodpod09": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:pod-good.yaml#13/Pod/chainsaw-test/addcap-goodpod10": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#12/Deployment/chainsaw-test/addcap-gooddeployment02": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#13/Deployment/chainsaw-test/addcap-gooddeployment04": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#14/Deployment/chainsaw-test/addcap-gooddeployment05": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#16/Deployment/chainsaw-test/addcap-gooddeployment07": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#18/Deployment/chainsaw-test/addcap-gooddeployment09": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#19/Deployment/chainsaw-test/addcap-gooddeployment10": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#21/CronJob/chainsaw-test/addcap-goodcronjob02": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#22/CronJob/chainsaw-test/addcap-goodcronjob04": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#23/CronJob/chainsaw-test/addcap-goodcronjob05": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#24/CronJob/chainsaw-test/addcap-goodcronjob07": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#26/CronJob/chainsaw-test/addcap-goodcronjob09": (STALE_OR_VALUE, "error"),
    "policies/pod-security-vpol/restricted/disallow-capabilities-strict/disallow-capabilities-strict/chainsaw:podcontroller-good.yaml#27/CronJob/chainsaw-test/addcap-goodcronjob10": (STALE_OR_VALUE, "error"),
}


# --- the tests ------------------------------------------------------------------------------------------------------

def _in_scope() -> list[str]:
    return [case_id for case_id in all_cases() if case_id not in OUT_OF_SCOPE]


# explicit ids: pytest 9 replaces a long parameter by "case_idN" in the test id
@pytest.mark.parametrize("case_id", _in_scope(), ids=_in_scope())
def test_evaluator_decides_as_kyverno(case_id):
    case = all_cases()[case_id]
    problem = disagreement(case, case.run())
    assert problem is None, problem


@pytest.mark.parametrize("case_id", sorted(OUT_OF_SCOPE), ids=sorted(OUT_OF_SCOPE))
def test_out_of_scope_case_is_still_out_of_scope(case_id):
    """Each listed case exists and the evaluator still answers it as the table says: when it starts to agree
    with Kyverno (or to model the library), the case leaves the table."""
    assert case_id in all_cases(), f"{case_id} is not an upstream case"
    case, (_, answer) = all_cases()[case_id], OUT_OF_SCOPE[case_id]
    if answer == "unsupported":
        with pytest.raises(UnsupportedPolicy):
            case.run()
        return
    result = case.run()
    assert result.verdict == answer, result
    assert disagreement(case, result) is not None


def test_every_case_is_counted():
    cases = all_cases()
    assert set(OUT_OF_SCOPE) <= set(cases)
    assert len(cases) == len(_in_scope()) + len(OUT_OF_SCOPE)
    # every upstream source contributes (a loader that silently found nothing would make the rest vacuous)
    prefixes = {"cli/test-validating-policy/", "cli/test-validating-admission-policy/",
                "policies/pod-security-vpol/baseline/", "policies/pod-security-vpol/restricted/",
                "policies/best-practices-vpol/"}
    for prefix in prefixes:
        assert sum(case_id.startswith(prefix) for case_id in _in_scope()) >= 10, prefix
    assert any("/chainsaw:" in case_id for case_id in _in_scope())
    assert any("@apply-test:" in case_id for case_id in _in_scope())


PLANTED = [
    "cli/test-validating-policy/check-deployment-labels/check-deployment-labels/Deployment/default/bad-deployment",
    "policies/pod-security-vpol/baseline/disallow-privileged-containers/disallow-privileged-containers/chainsaw:pod-bad.yaml#0/Pod/chainsaw-test/badpod01-new",
    "policies/pod-security-vpol/baseline/disallow-host-path/disallow-host-path/Deployment/default/gooddeployment01",
]


@pytest.mark.parametrize("case_id", PLANTED, ids=PLANTED)
def test_a_planted_disagreement_is_caught(case_id):
    """The comparison can fail: the same case with Kyverno's verdict flipped is a disagreement."""
    case = all_cases()[case_id]
    flipped = {"pass": "fail", "fail": "pass", "skip": "fail", "admitted": "denied", "denied": "admitted"}
    planted = dataclasses.replace(case, expected=flipped[case.expected])
    result = case.run()
    assert disagreement(case, result) is None
    assert disagreement(planted, result) is not None
