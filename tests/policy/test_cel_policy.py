"""harness/cel_policy.py and harness/k8s_cel.py: what a ValidatingPolicy and a ValidatingAdmissionPolicy mean,
on small policies written here (the upstream cases are in test_cel_conformance.py)."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest

from harness import cel_policy, k8s_cel
from harness.cel_policy import InvalidPolicy, UnknownKind, UnsupportedPolicy, evaluate

POD_RULE = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}


def vpol(*validations: str | dict[str, Any], name: str = "p", **spec: Any) -> dict[str, Any]:
    spec.setdefault("matchConstraints", {"resourceRules": [POD_RULE]})
    spec["validations"] = [{"expression": v} if isinstance(v, str) else v for v in validations]
    return {"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": name},
            "spec": spec}


def pod(name: str = "web", namespace: str | None = "apps", labels: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {"app": name}}
    if namespace:
        metadata["namespace"] = namespace
    spec.setdefault("containers", [{"name": "app", "image": "registry.example.com/app:1.0"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def deployment(pod_spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps", **metadata},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}}}


def cronjob(pod_spec: dict[str, Any], **template_metadata: Any) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": pod_spec}
    if template_metadata:
        template["metadata"] = template_metadata
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "apps"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


NOT_PRIVILEGED = "object.spec.containers.all(c, c.?securityContext.?privileged.orValue(false) == false)"
PRIVILEGED = {"containers": [{"name": "app", "image": "x:1", "securityContext": {"privileged": True}}]}


# --- the CEL engine ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "verdict"), [
    # optional field selection and orValue (Kubernetes CEL's optional library)
    ("object.spec.?hostNetwork.orValue(false) == false", "pass"),
    ("object.spec.containers[?5].?image.orValue('none') == 'none'", "pass"),
    ("object.metadata.labels[?'app'].orValue('') == 'web'", "pass"),
    # the strings extension
    ("object.spec.containers[0].image.split(':')[1] == '1.0'", "pass"),
    ("'WEB'.lowerAscii() == object.metadata.name && ' a '.trim() == 'a'", "pass"),
    ("'%s-%d'.format(['a', 1]) == 'a-1'", "pass"),
    ("object.metadata.name.matches('^w.b$')", "pass"),
    # has() on a missing parent is an error, as in Kubernetes (cel-python would say false)
    ("has(object.spec.securityContext.runAsUser)", "error"),
    ("!has(object.spec.securityContext)", "pass"),
    # CEL's commutative logic: false wins over an error
    ("object.spec.nothing == 1 && false", "fail"),
    ("[1, 2].all(i, i == 2 ? object.spec.nothing : false)", "fail"),
    ("object.spec.nothing || true", "pass"),
    # a validation must be a bool
    ("'yes'", "error"),
    ("object.spec.?hostNetwork", "error"),
])
def test_cel_semantics(expression, verdict):
    assert evaluate(vpol(expression), pod()).verdict == verdict


def test_a_function_no_library_here_provides_is_refused_by_name():
    with pytest.raises(UnsupportedPolicy, match=r"'quantity' \(Kubernetes' quantity library\)"):
        evaluate(vpol("quantity('1Gi') > quantity('1Mi')"), pod())
    with pytest.raises(UnsupportedPolicy, match=r"'isSorted'.*Kubernetes' lists library"):
        evaluate(vpol("[1, 2].isSorted()"), pod())
    with pytest.raises(InvalidPolicy, match="does not compile"):
        evaluate(vpol("object.spec.containers.all(c,"), pod())


def test_unsupported_modes_kinds_and_variables_are_refused():
    http = vpol("true", evaluation={"mode": "HTTP"})
    with pytest.raises(UnsupportedPolicy, match=r"evaluation\.mode HTTP"):
        evaluate(http, pod())
    with pytest.raises(UnknownKind, match="'Widget'"):
        evaluate(vpol("true"), {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    optional_variable = vpol("variables.maybe.orValue(1) == 1",
                             variables=[{"name": "maybe", "expression": "object.spec.?priority"}])
    with pytest.raises(UnsupportedPolicy, match="variable 'maybe'"):
        evaluate(optional_variable, pod())
    with pytest.raises(UnsupportedPolicy, match="ClusterPolicy"):
        evaluate({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}}, pod())


# --- match constraints ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("constraints", "kwargs", "matches"), [
    ({"resourceRules": [POD_RULE]}, {}, True),
    ({"resourceRules": [{**POD_RULE, "operations": ["UPDATE"]}]}, {}, False),
    ({"resourceRules": [{**POD_RULE, "operations": ["*"]}]}, {"operation": "DELETE"}, True),
    ({"resourceRules": [{**POD_RULE, "apiVersions": ["v2"]}]}, {}, False),
    ({"resourceRules": [{**POD_RULE, "apiGroups": ["apps"]}]}, {}, False),
    ({"resourceRules": [{**POD_RULE, "resources": ["*"]}]}, {}, True),
    ({"resourceRules": [{**POD_RULE, "resourceNames": ["web"]}]}, {}, True),
    ({"resourceRules": [{**POD_RULE, "resourceNames": ["api"]}]}, {}, False),
    ({"resourceRules": [{**POD_RULE, "scope": "Cluster"}]}, {}, False),
    ({"resourceRules": [{**POD_RULE, "scope": "Namespaced"}]}, {}, True),
    # subresources: "pods" is not "pods/ephemeralcontainers", "pods/*" and "*/*" are
    ({"resourceRules": [POD_RULE]}, {"subresource": "ephemeralcontainers"}, False),
    ({"resourceRules": [{**POD_RULE, "resources": ["pods/*"]}]}, {"subresource": "ephemeralcontainers"}, True),
    ({"resourceRules": [{**POD_RULE, "resources": ["*/*"]}]}, {"subresource": "status"}, True),
    # "pods/*" matches pods too (predicates/rules/rules.go: a "*" subresource matches the empty one)
    ({"resourceRules": [{**POD_RULE, "resources": ["pods/*"]}]}, {}, True),
    ({"resourceRules": [POD_RULE], "excludeResourceRules": [{**POD_RULE, "resourceNames": ["web"]}]}, {}, False),
    # no rules match every resource (Kyverno's matcher); no constraints match nothing
    ({}, {}, True),
    (None, {}, False),
    # selectors
    ({"resourceRules": [POD_RULE], "objectSelector": {"matchLabels": {"app": "web"}}}, {}, True),
    ({"resourceRules": [POD_RULE], "objectSelector": {"matchLabels": {"app": "api"}}}, {}, False),
    ({"resourceRules": [POD_RULE], "objectSelector": {"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["api"]}, {"key": "tier", "operator": "DoesNotExist"}]}},
     {}, True),
    # NotIn holds where the label is absent
    ({"resourceRules": [POD_RULE], "objectSelector": {"matchExpressions": [
        {"key": "tier", "operator": "NotIn", "values": ["db"]}]}}, {}, True),
    ({"resourceRules": [POD_RULE], "objectSelector": {"matchExpressions": [
        {"key": "app", "operator": "Exists"}, {"key": "app", "operator": "In", "values": ["api"]}]}}, {}, False),
    ({"resourceRules": [POD_RULE], "namespaceSelector": {"matchLabels": {"team": "a"}}},
     {"namespace": namespace("apps", team="a")}, True),
    ({"resourceRules": [POD_RULE], "namespaceSelector": {"matchExpressions": [
        {"key": "team", "operator": "In", "values": ["b", "c"]}]}}, {"namespace": namespace("apps", team="a")}, False),
    ({"resourceRules": [POD_RULE], "namespaceSelector": {"matchExpressions": [
        {"key": "team", "operator": "Exists"}]}}, {}, False),
    # the namespace's name label is always there, as the API server sets it
    ({"resourceRules": [POD_RULE], "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},
     {}, True),
])
def test_match_constraints(constraints, kwargs, matches):
    policy = vpol("false")
    policy["spec"]["matchConstraints"] = constraints
    assert evaluate(policy, pod(), **kwargs).verdict == ("fail" if matches else "skip")


def test_a_namespace_selector_reads_a_namespaces_own_labels_and_passes_cluster_objects():
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["namespaces", "nodes"]}
    policy = vpol("false", matchConstraints={"resourceRules": [rule], "namespaceSelector": {"matchLabels": {"t": "a"}}})
    assert evaluate(policy, namespace("team-a", t="a")).verdict == "fail"
    assert evaluate(policy, namespace("team-b", t="b")).verdict == "skip"
    assert evaluate(policy, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}).verdict == "fail"


def test_a_namespaced_policy_sees_only_its_namespace():
    policy = vpol("false")
    policy.update(kind="NamespacedValidatingPolicy", metadata={"name": "p", "namespace": "apps"})
    assert evaluate(policy, pod(namespace="apps")).verdict == "fail"
    assert evaluate(policy, pod(namespace="other")).verdict == "skip"


# --- the object, the namespace, the operation -----------------------------------------------------------------

def test_the_object_is_seen_as_admission_sees_it():
    obj = pod(namespace=None, priorityClassName=None)
    obj["metadata"]["creationTimestamp"] = datetime.datetime(2026, 1, 2, 3, 4, 5)
    policy = vpol("object.metadata.namespace == 'default' && namespaceObject.metadata.name == 'default'",
                  "!has(object.spec.priorityClassName)",
                  "object.metadata.creationTimestamp == '2026-01-02T03:04:05Z'")
    assert evaluate(policy, obj).verdict == "pass"


def test_namespace_object():
    policy = vpol("namespaceObject.metadata.?labels[?'team'].orValue('') == 'a'")
    assert evaluate(policy, pod(), namespace=namespace("apps", team="a")).verdict == "pass"
    assert evaluate(policy, pod(), namespace=namespace("apps", team="b")).verdict == "fail"
    with pytest.raises(ValueError, match="'other' given for an object in 'apps'"):
        evaluate(policy, pod(), namespace=namespace("other"))
    cluster = vpol("namespaceObject == null", matchConstraints={})
    assert evaluate(cluster, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}).verdict == "pass"


@pytest.mark.parametrize(("operation", "verdict"), [("CREATE", "fail"), ("UPDATE", "pass"), ("DELETE", "pass")])
def test_operations_set_object_old_object_and_request(operation, verdict):
    rule = {**POD_RULE, "operations": ["*"]}
    policy = vpol({"expression": "request.operation != 'CREATE'"},
                  {"expression": f"request.operation == '{operation}'"},
                  {"expression": "object == null" if operation == "DELETE" else "object.metadata.name == 'web'"},
                  {"expression": "oldObject == null" if operation == "CREATE" else "oldObject.metadata.name == 'web'"},
                  matchConstraints={"resourceRules": [rule]})
    result = evaluate(policy, pod(), operation=operation)
    assert result.verdict == verdict
    assert [f.index for f in result.failures] == ([0] if operation == "CREATE" else [])
    with pytest.raises(ValueError, match="PATCH"):
        evaluate(policy, pod(), operation="PATCH")


def test_update_sees_the_old_object_given():
    policy = vpol("object.spec.containers[0].image == oldObject.spec.containers[0].image")
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "registry.example.com/app:2.0"
    assert evaluate(policy, new, operation="UPDATE", old_object=old).verdict == "fail"
    assert evaluate(policy, new, operation="UPDATE").verdict == "pass"


def test_request_user_info():
    policy = vpol("request.userInfo.username.startsWith('system:serviceaccount:')")
    assert evaluate(policy, pod(), user_info={"username": "system:serviceaccount:ci:deployer"}).verdict == "pass"
    assert evaluate(policy, pod()).verdict == "error"


# --- match conditions, variables, validations --------------------------------------------------------------------

def test_match_conditions_all_must_hold():
    conditions = [{"name": "web", "expression": "object.metadata.name == 'web'"},
                  {"name": "apps", "expression": "object.metadata.namespace == 'apps'"}]
    policy = vpol("false", matchConditions=conditions)
    assert evaluate(policy, pod()).verdict == "fail"
    assert evaluate(policy, pod(namespace="other")).verdict == "skip"
    assert "matchConditions" in evaluate(policy, pod(name="api")).detail


def test_a_match_condition_error_is_an_error_unless_failure_policy_ignore():
    conditions = [{"name": "broken", "expression": "object.spec.nothing == 1"}]
    assert evaluate(vpol("false", matchConditions=conditions), pod()).verdict == "error"
    assert evaluate(vpol("false", matchConditions=conditions, failurePolicy="Ignore"), pod()).verdict == "skip"
    # false wins over an error in another condition
    conditions.append({"name": "never", "expression": "false"})
    assert evaluate(vpol("false", matchConditions=conditions), pod()).verdict == "skip"


def test_variables_are_lazy_and_may_read_each_other_in_any_order():
    variables = [{"name": "images", "expression": "variables.containers.map(c, c.image)"},
                 {"name": "containers", "expression": "object.spec.containers + object.spec.?initContainers.orValue([])"},
                 {"name": "broken", "expression": "object.spec.nothing"}]
    assert evaluate(vpol("variables.images.all(i, i.endsWith(':1.0'))", variables=variables), pod()).verdict == "pass"
    # an error in a variable counts only where the variable is read
    result = evaluate(vpol("variables.images.size() == 1 && variables.broken == 1", variables=variables), pod())
    assert result.verdict == "error"
    assert "broken" in result.detail
    assert evaluate(vpol("variables.images.size() == 2 && variables.broken == 1", variables=variables),
                    pod()).verdict == "fail"
    cycle = [{"name": "a", "expression": "variables.b"}, {"name": "b", "expression": "variables.a"}]
    with pytest.raises(InvalidPolicy, match="cycle"):
        evaluate(vpol("variables.a", variables=cycle), pod())


def test_validations_decide_in_order_and_keep_each_message():
    policy = vpol({"expression": "true", "message": "never"},
                  {"expression": "object.metadata.name == 'api'", "message": "must be api", "reason": "Forbidden"},
                  {"expression": "object.spec.nothing"},
                  {"expression": "false", "messageExpression": "'name ' + object.metadata.name + ' is wrong'"},
                  {"expression": "false", "messageExpression": "object.spec.nothing"},
                  {"expression": "false"})
    result = evaluate(policy, pod())
    assert result.verdict == "fail"  # the first validation that does not hold is false, not an error
    assert result.messages == ("must be api", "name web is wrong",
                               "failed to evaluate message expression: NOT_FOUND: Key not found in map : \"nothing\"",
                               "CEL expression validation failed at index 5")
    assert [f.index for f in result.failures] == [1, 3, 4, 5]
    assert result.failures[0].reason == "Forbidden"
    errors_first = vpol("object.spec.nothing", "false")
    assert evaluate(errors_first, pod()).verdict == "error"


@pytest.mark.parametrize(("actions", "denied"), [(None, True), (["Deny"], True), (["Audit", "Warn"], False)])
def test_validation_actions(actions, denied):
    policy = vpol("false") if actions is None else vpol("false", validationActions=actions)
    result = evaluate(policy, pod())
    assert result.verdict == "fail"
    assert result.denied is denied


# --- exceptions ---------------------------------------------------------------------------------------------------

def exception(name: str = "ex", policy: str = "p", conditions: tuple[str, ...] = ("object.metadata.name == 'web'",),
              **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policies.kyverno.io/v1", "kind": "PolicyException", "metadata": {"name": name},
            "spec": {"policyRefs": [{"name": policy, "kind": "ValidatingPolicy"}],
                     "matchConditions": [{"name": f"c{i}", "expression": c} for i, c in enumerate(conditions)],
                     **spec}}


def test_a_matching_exception_exempts_the_object():
    policy = vpol(NOT_PRIVILEGED)
    result = evaluate(policy, pod(**PRIVILEGED), exceptions=[exception()])
    assert (result.verdict, result.exceptions) == ("skip", ("ex",))
    assert evaluate(policy, pod(**PRIVILEGED), exceptions=[exception(reportResult="pass")]).verdict == "pass"
    assert evaluate(policy, pod(name="api", **PRIVILEGED), exceptions=[exception()]).verdict == "fail"
    assert evaluate(policy, pod(**PRIVILEGED), exceptions=[exception(policy="other")]).verdict == "fail"
    assert evaluate(policy, pod(**PRIVILEGED), exceptions=[exception(conditions=("object.nothing",))]).verdict == \
        "error"
    kyverno_v1 = {**exception(), "apiVersion": "kyverno.io/v2"}
    with pytest.raises(UnsupportedPolicy, match=r"not a policies\.kyverno\.io PolicyException"):
        evaluate(policy, pod(), exceptions=[kyverno_v1])


def test_a_partial_exception_fills_the_exceptions_variable():
    policy = vpol("object.spec.containers.all(c, c.image.startsWith('registry.example.com/') || "
                  "c.image in exceptions.allowedImages)")
    other = pod(containers=[{"name": "app", "image": "docker.io/library/nginx:1"}])
    assert evaluate(policy, other).verdict == "fail"
    assert evaluate(policy, other, exceptions=[exception(images=["docker.io/library/nginx:1"])]).verdict == "pass"


# --- pod-controller autogen ---------------------------------------------------------------------------------------

def test_a_pod_policy_applies_to_the_templates_of_pod_controllers():
    policy = vpol(NOT_PRIVILEGED, "object.metadata.?labels[?'app'].orValue('') == 'web'")
    good = {"containers": [{"name": "app", "image": "x:1"}]}
    for obj, variant in ((deployment(good), "autogen-defaults"), (cronjob(good), "autogen-cronjobs")):
        assert evaluate(policy, obj).variant == variant
    assert evaluate(policy, deployment(good)).verdict == "pass"
    assert evaluate(policy, deployment(PRIVILEGED)).verdict == "fail"
    assert evaluate(policy, cronjob(good, labels={"app": "web"})).verdict == "pass"
    assert evaluate(policy, cronjob(good, labels={"app": "api"})).messages == (
        "CEL expression validation failed at index 1",)
    # the CronJob's template has no metadata: object.metadata became the template's metadata
    assert evaluate(policy, cronjob(good)).verdict == "error"
    assert evaluate(policy, cronjob(PRIVILEGED, labels={"app": "web"})).verdict == "fail"


def test_autogen_rewrites_as_kyverno_does():
    spec = vpol("object.spec.hostPID != true && oldObject.spec.hostPID != true",
                "object.metadata.namespace != 'default' && object.metadata.namespaceX == 1",
                matchConditions=[{"name": "n", "expression": "has(object.metadata.labels)"}],
                variables=[{"name": "v", "expression": "object.spec.containers"}])["spec"]
    generated = cel_policy.autogen_specs(spec)
    assert sorted(generated) == ["cronjobs", "defaults"]
    defaults = generated["defaults"]
    assert [v["expression"] for v in defaults["validations"]] == [
        "object.spec.template.spec.hostPID != true && oldObject.spec.template.spec.hostPID != true",
        "object.metadata.namespace != 'default' && object.spec.template.metadata.namespaceX == 1"]
    assert defaults["matchConditions"][0]["expression"] == "has(object.spec.template.metadata.labels)"
    assert generated["cronjobs"]["variables"][0]["expression"] == "object.spec.jobTemplate.spec.template.spec.containers"
    assert defaults["matchConstraints"]["resourceRules"] == [
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["daemonsets", "deployments", "replicasets", "statefulsets"]},
        {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["jobs"]}]
    assert spec["validations"][0]["expression"].startswith("object.spec.hostPID")  # the policy itself is untouched


@pytest.mark.parametrize(("change", "shapes"), [
    ({"autogen": {"podControllers": {"controllers": ["deployments"]}}}, ["defaults"]),
    ({"autogen": {"podControllers": {"controllers": []}}}, []),
    # data.go keys controllers by resource: kind names select nothing, as in Kyverno
    ({"autogen": {"podControllers": {"controllers": ["Deployment"]}}}, []),
    ({"matchConstraints": {"resourceRules": [POD_RULE], "objectSelector": {"matchLabels": {"a": "b"}}}}, []),
    ({"matchConstraints": {"resourceRules": [{**POD_RULE, "resourceNames": ["web"]}]}}, []),
    ({"matchConstraints": {"resourceRules": [POD_RULE, {**POD_RULE, "resources": ["services"]}]}}, []),
    ({"matchConstraints": {"resourceRules": [POD_RULE], "excludeResourceRules": [POD_RULE]}}, []),
    ({"matchConstraints": {"resourceRules": [{**POD_RULE, "operations": []}]}}, []),
])
def test_when_kyverno_generates_pod_controller_policies(change, shapes):
    spec = {**vpol("true")["spec"], **change}
    assert sorted(cel_policy.autogen_specs(spec)) == shapes


def test_replication_controllers_and_bare_replicasets_follow_kyverno():
    policy = vpol(NOT_PRIVILEGED)
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc", "namespace": "apps"},
          "spec": {"template": {"spec": PRIVILEGED}}}
    assert evaluate(policy, rc).verdict == "skip"  # not among Kyverno 1.19's controllers
    rs = {**deployment(PRIVILEGED), "kind": "ReplicaSet"}
    assert evaluate(policy, rs).verdict == "fail"


# --- JSON payloads, context resources -----------------------------------------------------------------------------

def test_json_mode():
    policy = vpol("object.version == '1.5.9'", evaluation={"mode": "JSON"})
    del policy["spec"]["matchConstraints"]
    assert cel_policy.evaluate_payload(policy, {"version": "1.5.9"}).verdict == "pass"
    assert cel_policy.evaluate_payload(policy, {"version": "1.5.8"}).verdict == "fail"
    assert cel_policy.evaluate_payload(vpol("true"), {"version": "1"}).verdict == "skip"  # a Kubernetes-mode policy
    assert evaluate(policy, pod()).verdict == "error"  # a Kubernetes object as the payload: no .version


def test_kyverno_resource_library_reads_the_context_resources():
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "registries", "namespace": "apps"},
              "data": {"allowed": "registry.example.com/"}}
    policy = vpol("object.spec.containers.all(c, c.image.startsWith("
                  "resource.get('v1', 'configmaps', object.metadata.namespace, 'registries').data.allowed))",
                  "resource.List('v1', 'configmaps', '').items.size() == 1")
    assert evaluate(policy, pod(), context_resources=[config]).verdict == "pass"
    result = evaluate(policy, pod())
    assert result.verdict == "error"
    assert "configmaps apps/registries (v1) is not among the context resources" in result.detail


def test_k8s_cel_resource_functions():
    store = {("v1", "configmaps", "a", "x"): {"metadata": {"name": "x"}},
             ("v1", "configmaps", "b", "y"): {"metadata": {"name": "y"}},
             ("v1", "secrets", "a", "z"): {"metadata": {"name": "z"}}}
    assert k8s_cel.resource_get(store, "v1", "configmaps", "a", "x") == {"metadata": {"name": "x"}}
    with pytest.raises(k8s_cel.ResourceNotFoundError, match="configmaps b/x"):
        k8s_cel.resource_get(store, "v1", "configmaps", "b", "x")
    assert [i["metadata"]["name"] for i in k8s_cel.resource_list(store, "v1", "configmaps", "")["items"]] == ["x", "y"]
    assert k8s_cel.resource_list(store, "v1", "configmaps", "b")["items"] == [{"metadata": {"name": "y"}}]


# --- ValidatingAdmissionPolicy -------------------------------------------------------------------------------------

def vap(*validations: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("matchConstraints", {"resourceRules": [POD_RULE]})
    spec["validations"] = [{"expression": v} for v in validations]
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "v"}, "spec": spec}


def binding(name: str = "b", policy: str = "v", actions: tuple[str, ...] = ("Deny",), **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": policy, "validationActions": list(actions), **spec}}


def test_a_vap_is_evaluated_per_matching_binding():
    policy = vap(NOT_PRIVILEGED, "object.metadata.name != 'web'")
    result = evaluate(policy, pod(**PRIVILEGED))
    assert (result.verdict, result.denied, len(result.failures)) == ("fail", True, 2)  # unbound: as if Deny
    audit = binding(actions=("Audit",), matchResources={"objectSelector": {"matchLabels": {"app": "web"}}})
    assert not evaluate(policy, pod(**PRIVILEGED), bindings=[audit]).denied
    assert evaluate(policy, pod(name="api", **PRIVILEGED), bindings=[audit]).verdict == "skip"
    assert evaluate(policy, pod(**PRIVILEGED), bindings=[binding(policy="other")]).verdict == "skip"
    # the policy's own constraints still apply under a binding
    narrow = vap("false", matchConstraints={"resourceRules": [{**POD_RULE, "operations": ["DELETE"]}]})
    assert evaluate(narrow, pod(), bindings=[binding()]).verdict == "skip"


def test_vap_params_follow_the_param_ref():
    policy = vap("object.spec.containers.size() <= int(params.data.max)",
                 paramKind={"apiVersion": "v1", "kind": "ConfigMap"})
    configs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "apps"},
                "data": {"max": m}} for n, m in (("strict", "0"), ("loose", "5"))]
    assert evaluate(policy, pod(), bindings=[binding(paramRef={"name": "loose"})], params=configs).verdict == "pass"
    assert evaluate(policy, pod(), bindings=[binding(paramRef={"name": "strict"})], params=configs).verdict == "fail"
    assert evaluate(policy, pod(), bindings=[binding(paramRef={"name": "none"})], params=configs).verdict == "error"
    allow = binding(paramRef={"name": "none", "parameterNotFoundAction": "Allow"})
    assert evaluate(policy, pod(), bindings=[allow], params=configs).verdict == "skip"
    assert evaluate(policy, pod(), bindings=[binding(paramRef={"name": "loose", "namespace": "other"})],
                    params=configs).verdict == "error"
    assert evaluate(policy, pod(), bindings=[binding(paramRef={"name": "x"})], params=configs[0]).verdict == "fail"


def test_result_text():
    result = evaluate(vpol({"expression": "false", "message": "no"}, name="no-web"), pod())
    assert str(result) == "no-web: fail: no"
    assert str(evaluate(vpol("true"), deployment({"containers": []}))) == "p (autogen-defaults): pass"
