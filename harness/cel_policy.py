"""An offline evaluator of Kyverno ``policies.kyverno.io`` ValidatingPolicy (and NamespacedValidatingPolicy)
and Kubernetes ``admissionregistration.k8s.io/v1`` ValidatingAdmissionPolicy (+ Binding): it decides, for one
object, what the admission chain would: pass, fail, skip or error. The CEL is run by a real CEL engine,
cel-expr-python (the CEL team's C++ runtime), with the strings, optional, math, bindings and encoders
extensions; the Kubernetes and Kyverno library functions a policy needs are in harness/k8s_cel.py. Anything
else a policy calls raises ``UnsupportedPolicy`` naming it: never a silent pass. Shared by the tests and any
offline tool; it comes after nothing (no Pulumi, no cluster).

What a ValidatingPolicy means here follows Kyverno v1.19.0's engine (pkg/cel/policies/vpol):
- ``spec.matchConstraints``: resourceRules (apiGroups, apiVersions, resources with ``/subresource`` and
  ``*``, operations, resourceNames, scope), excludeResourceRules, namespaceSelector and objectSelector
  (matchLabels + matchExpressions). As in Kyverno's matcher (pkg/cel/matching/matcher.go), no
  matchConstraints matches nothing, empty resourceRules match every resource, and ``matchPolicy`` is not
  consulted: the request is matched on the group/version/resource it names (an API server would convert an
  ``Equivalent`` request first; offline there is nothing to convert with). The namespace selector reads the
  labels of the namespace object passed in, or ``kubernetes.io/metadata.name`` alone when none is
  (what Kyverno's matcher assumes too); for a Namespace it reads the Namespace's own labels.
- PolicyExceptions (``policyRefs`` naming the policy and kind, ``matchConditions``) are checked before
  the policy's matchConditions: a match with neither ``images`` nor ``allowedValues`` exempts the object
  (verdict skip, or pass when its ``reportResult`` says so); partial ones fill the ``exceptions`` variable
  (``allowedImages``, ``allowedValues``) (pkg/cel/policies/vpol/compiler/policy.go).
- ``matchConditions``: all must be true, else skip; an error is an error unless ``failurePolicy: Ignore``.
- ``variables`` as ``variables.<name>``, each evaluated at most once and only where it is read; an error
  in one is an error only in the expressions that read it (Kyverno's lazy map). A variable whose value is
  a CEL optional or type can't be carried between expressions by this engine: ``UnsupportedPolicy``.
- ``validations`` in order: the first one that is false makes the verdict fail, the first error error
  (Kyverno stops there; the later ones are still evaluated here so each failed one has its message).
  ``message``, ``messageExpression`` (an error in it becomes the message, as in Kyverno) and ``reason``;
  an empty message is Kyverno's "CEL expression validation failed at index N".
- ``validationActions`` (default Deny) are returned with the result; ``Result.denied`` is fail + Deny.
  ``auditAnnotations`` are not evaluated.
- ``evaluation.mode: JSON`` evaluates ``object`` as the payload, with no matching; HTTP and Envoy modes
  are unsupported.
- Pod-controller autogen (Kyverno pkg/cel/policies/vpol/autogen/autogen.go, pkg/cel/autogen/*.go at
  v1.19.0): when the match constraints are exactly one rule for ``""/v1/pods`` with no resourceNames,
  exclusions or object selector (support.go CanAutoGen), Kyverno adds one policy per template shape:
  ``defaults`` for DaemonSets, Deployments, ReplicaSets, StatefulSets and Jobs (data.go), rewriting
  ``object.spec`` to ``object.spec.template.spec`` and ``object.metadata`` to
  ``object.spec.template.metadata`` (and the same for ``oldObject``) everywhere in the spec's text except
  before ``.namespace`` (replacement.go), and ``cronjobs`` for CronJobs with
  ``spec.jobTemplate.spec.template``; the match constraints become those kinds with the pod rule's
  operations and namespace selector (match.go CreateMatchConstraints). ``spec.autogen.podControllers
  .controllers`` limits the controllers (lowercase plural resource names, as data.go keys them; other
  names select nothing, as in Kyverno). ReplicationControllers are not among them in Kyverno 1.19, nor
  here, and the ClusterPolicy annotation ``pod-policies.kyverno.io/autogen-controllers`` is not read for
  ValidatingPolicies (Kyverno reads only ``spec.autogen``).

A ValidatingAdmissionPolicy follows the API server: the policy's matchConstraints, then each binding
(``policyName``) whose ``matchResources`` match (empty resourceRules there add no restriction), with the
binding's ``validationActions`` and ``paramRef`` (name, namespace, selector, parameterNotFoundAction) over
the ``params`` given; matchConditions, variables and validations as above, every validation evaluated.
With no binding given it is evaluated as if bound once with Deny, as Kyverno's CLI does.

The object is looked at as the API server hands it to admission: null fields are dropped (the API server
does so for built-in types and non-nullable CRD fields), YAML timestamps become RFC 3339 strings, and a
namespaced object without ``metadata.namespace`` is in ``default``.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import datetime
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

from harness import k8s_cel

Verdict = Literal["pass", "fail", "skip", "error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "skip", "error")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")

# kind -> (resource, namespaced): the kinds the upstream cases and the platform's objects use. A kind missing
# here raises UnknownKind (add it, from `kubectl api-resources`).
KINDS: dict[str, tuple[str, bool]] = {
    "Pod": ("pods", True),
    "Deployment": ("deployments", True),
    "StatefulSet": ("statefulsets", True),
    "DaemonSet": ("daemonsets", True),
    "ReplicaSet": ("replicasets", True),
    "ReplicationController": ("replicationcontrollers", True),
    "Job": ("jobs", True),
    "CronJob": ("cronjobs", True),
    "Service": ("services", True),
    "ServiceAccount": ("serviceaccounts", True),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "Ingress": ("ingresses", True),
    "NetworkPolicy": ("networkpolicies", True),
    "Role": ("roles", True),
    "RoleBinding": ("rolebindings", True),
    "EndpointSlice": ("endpointslices", True),
    "Event": ("events", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "CSIStorageCapacity": ("csistoragecapacities", True),
    "Namespace": ("namespaces", False),
    "Node": ("nodes", False),
    "PersistentVolume": ("persistentvolumes", False),
    "StorageClass": ("storageclasses", False),
    "ClusterRole": ("clusterroles", False),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "FlowSchema": ("flowschemas", False),
    "PriorityLevelConfiguration": ("prioritylevelconfigurations", False),
    "RuntimeClass": ("runtimeclasses", False),
    "PodSecurityPolicy": ("podsecuritypolicies", False),
    "PriorityClass": ("priorityclasses", False),
    "IngressClass": ("ingressclasses", False),
}

VPOL_KINDS = ("ValidatingPolicy", "NamespacedValidatingPolicy")
VAP_KIND = "ValidatingAdmissionPolicy"
_DEFAULT_NAMESPACE = "default"


class PolicyError(ValueError):
    """The policy can't be evaluated here."""


class UnsupportedPolicy(PolicyError):  # noqa: N818 (the name the callers know it by)
    """The policy uses something this evaluator does not model (a library, a mode, a kind)."""


class InvalidPolicy(PolicyError):  # noqa: N818
    """The policy is malformed (a CEL syntax error, a variable cycle)."""


class UnknownKind(PolicyError):  # noqa: N818
    """The object's kind is not in ``KINDS``."""


@dataclasses.dataclass(frozen=True)
class Failure:
    """One validation that did not hold."""

    index: int
    expression: str
    message: str
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Result:
    """What admission decides for one object and one policy."""

    policy: str
    verdict: Verdict
    failures: tuple[Failure, ...] = ()
    actions: frozenset[str] = frozenset()
    detail: str = ""  # why skipped, or the error
    variant: str = ""  # "autogen-defaults" / "autogen-cronjobs" for a generated pod-controller policy
    exceptions: tuple[str, ...] = ()  # the exceptions that exempted the object

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(f.message for f in self.failures)

    @property
    def denied(self) -> bool:
        """Would the API server refuse the object (a failed validation under the Deny action)?"""
        return self.verdict == "fail" and "Deny" in self.actions

    def __str__(self) -> str:
        text = f"{self.policy}{f' ({self.variant})' if self.variant else ''}: {self.verdict}"
        if self.failures:
            text += ": " + "; ".join(self.messages)
        elif self.detail:
            text += f": {self.detail}"
        return text


# --- the CEL engine -------------------------------------------------------------------------------------------

# The objects Kyverno's resource library reads during one evaluation (set and reset by evaluate(): CEL
# functions are bound when the environment is built, so they reach per-evaluation data through this).
_CONTEXT_RESOURCES: contextvars.ContextVar[k8s_cel.ResourceStore | None] = contextvars.ContextVar(
    "cel_policy_context_resources", default=None)

_ROOT_VARIABLES = ("object", "oldObject", "namespaceObject", "request", "params", "variables", "exceptions")


def _context_get(api_version: str, resource: str, namespace: str, name: str) -> dict:
    return k8s_cel.resource_get(_CONTEXT_RESOURCES.get() or {}, api_version, resource, namespace, name)


def _context_list(api_version: str, resource: str, namespace: str) -> dict:
    return k8s_cel.resource_list(_CONTEXT_RESOURCES.get() or {}, api_version, resource, namespace)


@functools.cache
def _env() -> cel.Env:
    string = cel.Type.STRING
    functions = [
        cel.FunctionDecl("resource.get", [cel.Overload("kyverno_resource_get", return_type=cel.Type.DYN,
                                                       parameters=[string] * 4, impl=_context_get)]),
        cel.FunctionDecl("resource.List", [cel.Overload("kyverno_resource_list", return_type=cel.Type.DYN,
                                                        parameters=[string] * 3, impl=_context_list)]),
    ]
    return cel.NewEnv(
        variables=dict.fromkeys(_ROOT_VARIABLES, cel.Type.DYN),
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional(), ext_math.ExtMath(),
                    ext_bindings.ExtBindings(), ext_encoders.ExtEncoders()],
        functions=functions)


_UNDECLARED = re.compile(r"undeclared reference to '([^']+)'")
_NO_OVERLOAD = re.compile(r"found no matching overload for '([^']+)' applied to '([^']*)'")


@functools.lru_cache(maxsize=8192)
def _program(expression: str) -> cel.Expression:
    try:
        return _env().compile(expression)
    except RuntimeError as error:
        text = str(error)
        if undeclared := _UNDECLARED.search(text):
            name = undeclared.group(1)
            library = k8s_cel.UNMODELLED.get(name.split(".")[0]) or k8s_cel.UNMODELLED.get(name)
            where = f" ({library})" if library else ""
            raise UnsupportedPolicy(f"CEL function or variable {name!r}{where} is not modelled by this evaluator"
                                    f" (in {expression.strip()!r})") from None
        if overload := _NO_OVERLOAD.search(text):
            name = overload.group(1)
            library = k8s_cel.UNMODELLED.get(name)
            where = f"; {library} has one" if library else ""
            raise UnsupportedPolicy(f"CEL function {name!r} has no overload for {overload.group(2)} here{where}"
                                    f" (in {expression.strip()!r})") from None
        raise InvalidPolicy(f"CEL expression does not compile: {expression.strip()!r}: {text}") from None


class _EvalError(Exception):
    """A CEL evaluation error (a value, in CEL: it becomes the verdict error where it decides)."""


class _UnconvertibleError(_EvalError):
    """The expression's value is one cel-expr-python can't hand to Python (a CEL optional)."""


def _eval(expression: str, activation: cel.Activation) -> cel.Value:
    try:
        value = _program(expression).eval(activation)
    except RuntimeError as error:  # the runtime refused (an overload it can't resolve at run time)
        raise _EvalError(str(error)) from None
    if value.type() == cel.Type.ERROR:
        try:
            text = str(value.value())
        except TypeError:  # cel-expr-python 0.1.3 reports an optional result as an ERROR it can't convert
            raise _UnconvertibleError("the expression's value is a CEL optional") from None
        raise _EvalError(text)
    return value


def _eval_bool(expression: str, activation: cel.Activation) -> bool:
    value = _eval(expression, activation)
    if value.type() != cel.Type.BOOL:
        raise _EvalError(f"expression returned {value.type().name()}, not bool")
    return bool(value.value())


def _eval_plain(expression: str, activation: cel.Activation, what: str) -> Any:
    try:
        return _eval(expression, activation).plain_value()
    except (_UnconvertibleError, TypeError):
        raise UnsupportedPolicy(f"{what} evaluates to a CEL optional (or another value cel-expr-python can't "
                                f"convert), which this evaluator can't pass on to other expressions (in "
                                f"{expression.strip()!r})") from None


# --- the object as admission sees it -----------------------------------------------------------------------------

def admission_view(value: Any) -> Any:
    """``value`` with null map entries dropped and YAML dates as RFC 3339 strings (see the module docstring)."""
    if isinstance(value, Mapping):
        return {str(k): admission_view(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [admission_view(v) for v in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


@dataclasses.dataclass(frozen=True)
class _Request:
    group: str
    version: str
    resource: str
    subresource: str
    kind: str
    name: str
    namespace: str
    operation: str

    def as_cel(self, user_info: Mapping[str, Any] | None) -> dict[str, Any]:
        """The ``request`` variable (an AdmissionRequest's fields)."""
        return {
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "subResource": self.subresource,
            "requestKind": {"group": self.group, "version": self.version, "kind": self.kind},
            "requestResource": {"group": self.group, "version": self.version, "resource": self.resource},
            "name": self.name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": dict(user_info or {}),
            "dryRun": False,
        }


def kind_info(kind: str) -> tuple[str, bool]:
    """(resource, namespaced) of a kind."""
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownKind(f"kind {kind!r} is not in harness.cel_policy.KINDS (add its resource name and scope)") \
            from None


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _with_default_namespace(obj: Mapping[str, Any]) -> dict[str, Any]:
    view = admission_view(obj)
    if kind_info(view.get("kind", ""))[1] and not view.get("metadata", {}).get("namespace"):
        view.setdefault("metadata", {})["namespace"] = _DEFAULT_NAMESPACE
    return view


def _labels(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


# --- matching ---------------------------------------------------------------------------------------------------

def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions); no selector matches everything."""
    if not selector:
        return True
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise InvalidPolicy(f"label selector has unknown fields {sorted(unknown)}")
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or ()
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise InvalidPolicy(f"label selector operator {operator!r} is not one of In, NotIn, Exists, DoesNotExist")
        if not ok:
            return False
    return True


def _rule_matches(rule: Mapping[str, Any], request: _Request) -> bool:
    """k8s.io/apiserver admission/plugin/webhook/predicates/rules (RuleWithOperations), plus resourceNames."""
    def listed(values: Sequence[str] | None, value: str) -> bool:
        return any(v == "*" or v == value for v in values or ())

    if not (listed(rule.get("apiGroups"), request.group) and listed(rule.get("apiVersions"), request.version)
            and listed(rule.get("operations"), request.operation)):
        return False
    if not any(_resource_matches(r, request) for r in rule.get("resources") or ()):
        return False
    scope = rule.get("scope", "*")
    if scope == "Namespaced" and (request.resource == "namespaces" or not request.namespace):
        return False
    if scope == "Cluster" and request.resource != "namespaces" and request.namespace:
        return False
    names = rule.get("resourceNames")
    return not names or request.name in names


def _resource_matches(pattern: str, request: _Request) -> bool:
    resource, _, sub = pattern.partition("/")
    if not sub:
        return request.subresource == "" and resource in ("*", request.resource)
    return resource in ("*", request.resource) and sub in ("*", request.subresource)


def _constraints_match(constraints: Mapping[str, Any] | None, request: _Request, obj: Mapping[str, Any] | None,
                       old: Mapping[str, Any] | None, namespace_labels: Mapping[str, str]) -> bool:
    """Kyverno's matcher (pkg/cel/matching/matcher.go): namespace selector, object selector, exclusions,
    rules (none: everything)."""
    if constraints is None:
        return False
    # a cluster-scoped object other than a Namespace is never exempted by the namespace selector
    namespaced = request.namespace or request.resource == "namespaces"
    if namespaced and not selector_matches(constraints.get("namespaceSelector"), namespace_labels):
        return False
    object_selector = constraints.get("objectSelector")
    if object_selector and not any(selector_matches(object_selector, _labels(o)) for o in (obj, old) if o):
        return False
    if any(_rule_matches(rule, request) for rule in constraints.get("excludeResourceRules") or ()):
        return False
    rules = constraints.get("resourceRules") or ()
    return not rules or any(_rule_matches(rule, request) for rule in rules)


# --- autogen ----------------------------------------------------------------------------------------------------

# Kyverno pkg/cel/autogen/data.go @ v1.19.0: controller resource -> (group, version, kind, shape)
AUTOGEN_CONTROLLERS: dict[str, tuple[str, str, str, str]] = {
    "daemonsets": ("apps", "v1", "DaemonSet", "defaults"),
    "deployments": ("apps", "v1", "Deployment", "defaults"),
    "replicasets": ("apps", "v1", "ReplicaSet", "defaults"),
    "statefulsets": ("apps", "v1", "StatefulSet", "defaults"),
    "jobs": ("batch", "v1", "Job", "defaults"),
    "cronjobs": ("batch", "v1", "CronJob", "cronjobs"),
}
AUTOGEN_REPLACEMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "defaults": (("spec", "spec.template.spec"), ("metadata", "spec.template.metadata")),
    "cronjobs": (("spec", "spec.jobTemplate.spec.template.spec"),
                 ("metadata", "spec.jobTemplate.spec.template.metadata")),
}
_PROTECTED_SUFFIXES = (".namespace",)


def can_autogen(constraints: Mapping[str, Any] | None) -> bool:
    """Kyverno's CanAutoGen (pkg/cel/autogen/support.go)."""
    if not constraints:
        return False
    selector = constraints.get("objectSelector") or {}
    if selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    if constraints.get("excludeResourceRules"):
        return False
    rules = constraints.get("resourceRules") or ()
    if len(rules) != 1:
        return False
    rule = rules[0]
    return (not rule.get("resourceNames") and list(rule.get("apiGroups") or ()) == [""]
            and list(rule.get("apiVersions") or ()) == ["v1"] and list(rule.get("resources") or ()) == ["pods"])


def _replace_text(text: str, old: str, new: str) -> str:
    """replacement.go ``replace``: every ``old`` becomes ``new`` unless a protected suffix follows it."""
    out, start = [], 0
    while (found := text.find(old, start)) >= 0:
        rest = text[found + len(old):]
        protected = any(rest.startswith(suffix) and not (rest[len(suffix):len(suffix) + 1].isalnum()
                                                         or rest[len(suffix):len(suffix) + 1] == "_")
                        for suffix in _PROTECTED_SUFFIXES)
        out += [text[start:found], old if protected else new]
        start = found + len(old)
    out.append(text[start:])
    return "".join(out)


def _rewrite(value: Any, replacements: Sequence[tuple[str, str]]) -> Any:
    """Kyverno applies the replacements to the JSON text of the spec; on its strings it is the same."""
    if isinstance(value, str):
        for old, new in replacements:
            value = _replace_text(value, f"object.{old}", f"object.{new}")
            value = _replace_text(value, f"oldObject.{old}", f"oldObject.{new}")
        return value
    if isinstance(value, Mapping):
        return {k: _rewrite(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, replacements) for v in value]
    return value


def autogen_specs(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The specs Kyverno generates for pod controllers (pkg/cel/policies/vpol/autogen/autogen.go), by shape."""
    constraints = spec.get("matchConstraints")
    if not can_autogen(constraints):
        return {}
    configured = ((spec.get("autogen") or {}).get("podControllers") or {}).get("controllers")
    controllers = set(AUTOGEN_CONTROLLERS) if configured is None else set(configured)
    targets: dict[str, list[tuple[str, str, str]]] = {}
    for name in sorted(controllers & set(AUTOGEN_CONTROLLERS)):
        group, version, _, shape = AUTOGEN_CONTROLLERS[name]
        targets.setdefault(shape, []).append((group, version, name))
    operations = list(constraints["resourceRules"][0].get("operations") or ())
    generated = {}
    for shape, resources in sorted(targets.items()):
        if not operations:  # match.go CreateMatchConstraints: no operations, no constraints
            continue
        by_group_version: dict[tuple[str, str], set[str]] = {}
        for group, version, name in resources:
            by_group_version.setdefault((group, version), set()).add(name)
        new_constraints: dict[str, Any] = {"resourceRules": [
            {"apiGroups": [group], "apiVersions": [version], "resources": sorted(names), "operations": operations}
            for (group, version), names in sorted(by_group_version.items())]}
        if constraints.get("namespaceSelector") is not None:
            new_constraints["namespaceSelector"] = copy.deepcopy(constraints["namespaceSelector"])
        variant = {**copy.deepcopy(dict(spec)), "matchConstraints": new_constraints}
        generated[shape] = _rewrite(variant, AUTOGEN_REPLACEMENTS[shape])
    return generated


_AUTOGEN_CACHE: dict[str, dict[str, dict[str, Any]]] = {}


def _autogen_of(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``autogen_specs(spec)``, computed once per distinct spec (the rewrite walks every string of the spec, and a
    policy evaluates against many objects). The specs returned are shared: evaluation only reads them."""
    key = json.dumps(spec, sort_keys=True, default=repr)
    found = _AUTOGEN_CACHE.get(key)
    if found is None:
        if len(_AUTOGEN_CACHE) >= 4096:
            _AUTOGEN_CACHE.clear()
        found = _AUTOGEN_CACHE[key] = autogen_specs(spec)
    return found


# --- evaluation -------------------------------------------------------------------------------------------------

_VARIABLE_REFERENCE = re.compile(r"\bvariables\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")


def _variable_order(variables: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Variables ordered so that each comes after those it reads (declaration order otherwise)."""
    by_name = {v["name"]: v for v in variables}
    order: list[Mapping[str, Any]] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise InvalidPolicy(f"variables read each other in a cycle through {name!r}")
        state[name] = "visiting"
        for ref in _VARIABLE_REFERENCE.findall(by_name[name]["expression"]):
            if ref in by_name:
                visit(ref)
        state[name] = "done"
        order.append(by_name[name])

    for variable in variables:
        visit(variable["name"])
    return order


class _Evaluation:
    """One policy body (matchConditions, variables, validations) over one set of CEL inputs."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.variable_errors: dict[str, str] = {}

    def activation(self) -> cel.Activation:
        return _env().Activation(self.data)

    def conditions_hold(self, conditions: Sequence[Mapping[str, Any]], failure_policy: str) -> tuple[bool, str]:
        """(all true, error text): webhook matchConditions semantics (false wins over errors)."""
        activation = self.activation()
        errors = []
        for condition in conditions:
            try:
                if not _eval_bool(condition["expression"], activation):
                    return False, ""
            except _EvalError as error:
                errors.append(f"matchCondition {condition.get('name', '')!r}: {error}")
        if errors and failure_policy != "Ignore":
            return False, "; ".join(errors)
        return not errors, ""

    def bind_variables(self, variables: Sequence[Mapping[str, Any]]) -> None:
        values: dict[str, Any] = {}
        self.data["variables"] = values
        for variable in _variable_order(variables):
            name = variable["name"]
            try:
                values[name] = _eval_plain(variable["expression"], self.activation(), f"variable {name!r}")
            except _EvalError as error:
                # left out of the map: reading it is an error, where it is read (Kyverno's lazy variables)
                self.variable_errors[name] = str(error)
            self.data["variables"] = values

    def error_text(self, error: _EvalError) -> str:
        text = str(error)
        if self.variable_errors:
            text += " (variable errors: " + "; ".join(f"{k}: {v}" for k, v in self.variable_errors.items()) + ")"
        return text

    def validate(self, validations: Sequence[Mapping[str, Any]]) -> tuple[Verdict, tuple[Failure, ...], str]:
        activation = self.activation()
        verdict: Verdict | None = None
        failures, detail = [], ""
        for index, validation in enumerate(validations):
            expression = validation["expression"]
            try:
                ok = _eval_bool(expression, activation)
            except _EvalError as error:
                if verdict is None:
                    verdict, detail = "error", f"validation {index}: {self.error_text(error)}"
                continue
            if ok:
                continue
            verdict = verdict or "fail"
            failures.append(Failure(index, expression, self._message(validation, index, activation),
                                    validation.get("reason")))
        return verdict or "pass", tuple(failures), detail

    def _message(self, validation: Mapping[str, Any], index: int, activation: cel.Activation) -> str:
        message = validation.get("message") or ""
        if validation.get("messageExpression"):
            try:
                value = _eval(validation["messageExpression"], activation)
            except _EvalError as error:
                message = f"failed to evaluate message expression: {error}"
            else:
                message = value.value() if value.type() == cel.Type.STRING else \
                    f"failed to convert message expression to string: it is a {value.type().name()}"
        return message.strip() or f"CEL expression validation failed at index {index}"


def _exceptions_for(policy: Mapping[str, Any], exceptions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    name, kind = policy["metadata"]["name"], policy["kind"]
    found = []
    for exception in exceptions:
        if exception.get("kind") != "PolicyException" or \
                not exception.get("apiVersion", "").startswith("policies.kyverno.io/"):
            raise UnsupportedPolicy(f"exception {exception.get('metadata', {}).get('name')!r} is a "
                                    f"{exception.get('apiVersion')} {exception.get('kind')}, not a policies.kyverno.io "
                                    "PolicyException")
        refs = (exception.get("spec") or {}).get("policyRefs") or ()
        if any(ref.get("name") == name and ref.get("kind") == kind for ref in refs):
            found.append(exception)
    return found


def _run_vpol_body(name: str, spec: Mapping[str, Any], data: dict[str, Any], exceptions: Sequence[Mapping[str, Any]],
                   actions: frozenset[str], variant: str) -> Result:
    """Kyverno pkg/cel/policies/vpol/compiler/policy.go evaluateWithData."""
    failure_policy = spec.get("failurePolicy", "Fail")
    evaluation = _Evaluation(data)
    allowed_images: list[str] = []
    allowed_values: list[str] = []
    exempted = []
    for exception in exceptions:
        exception_spec = exception.get("spec") or {}
        holds, error = evaluation.conditions_hold(exception_spec.get("matchConditions") or (), failure_policy)
        if error and not exempted:
            return Result(name, "error", actions=actions, variant=variant,
                          detail=f"exception {exception['metadata']['name']!r}: {error}")
        if not holds:
            continue
        if not exception_spec.get("images") and not exception_spec.get("allowedValues"):
            exempted.append(exception)
        elif not exempted:
            allowed_images += exception_spec.get("images") or ()
            allowed_values += exception_spec.get("allowedValues") or ()
    if exempted:
        chosen = max(enumerate(exempted), key=lambda ie: (_priority(ie[1]), -ie[0]))[1]
        verdict: Verdict = "pass" if (chosen.get("spec") or {}).get("reportResult") == "pass" else "skip"
        exempted_names = tuple(e["metadata"]["name"] for e in exempted)
        return Result(name, verdict, actions=actions, variant=variant, exceptions=exempted_names,
                      detail="exempted by policy exception " + ", ".join(exempted_names))
    data["exceptions"] = {"allowedImages": allowed_images, "allowedValues": allowed_values}
    holds, error = evaluation.conditions_hold(spec.get("matchConditions") or (), failure_policy)
    if error:
        return Result(name, "error", actions=actions, variant=variant, detail=error)
    if not holds:
        return Result(name, "skip", actions=actions, variant=variant, detail="matchConditions not met")
    evaluation.bind_variables(spec.get("variables") or ())
    verdict, failures, detail = evaluation.validate(spec.get("validations") or ())
    return Result(name, verdict, failures, actions, detail, variant)


def _priority(exception: Mapping[str, Any]) -> int:
    value = _labels(exception).get("polex.kyverno.io/priority", "")
    return int(value) if value.lstrip("-").isdigit() else 0


_SEVERITY = {"skip": 0, "pass": 1, "fail": 2, "error": 3}


def _combine(name: str, results: Sequence[Result]) -> Result:
    """The decision over several bindings or params: the most severe, with every failure's message."""
    if not results:
        return Result(name, "skip", detail="no binding matches")
    worst = max(results, key=lambda r: _SEVERITY[r.verdict])
    failures = tuple(f for r in results for f in r.failures)
    actions = frozenset().union(*(r.actions for r in results if r.verdict == worst.verdict))
    return dataclasses.replace(worst, failures=failures, actions=actions)


def _namespace_inputs(request: _Request, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None,
                      namespace: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, Any] | None]:
    """(labels for the namespace selector, the namespaceObject variable)."""
    if request.resource == "namespaces" and not request.subresource:
        return _labels(obj if request.operation in ("CREATE", "UPDATE") else old), None
    if not request.namespace:
        return {}, None
    if namespace is None:
        namespace = {"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": request.namespace,
                                  "labels": {"kubernetes.io/metadata.name": request.namespace}}}
    elif namespace.get("metadata", {}).get("name") != request.namespace:
        raise ValueError(f"namespace {namespace.get('metadata', {}).get('name')!r} given for an object in "
                         f"{request.namespace!r}")
    view = admission_view(namespace)
    labels = {"kubernetes.io/metadata.name": request.namespace, **_labels(view)}
    return labels, view


def evaluate(policy: Mapping[str, Any], obj: Mapping[str, Any], *, namespace: Mapping[str, Any] | None = None,
             operation: str = "CREATE", old_object: Mapping[str, Any] | None = None,
             exceptions: Sequence[Mapping[str, Any]] = (), params: Any = None,
             bindings: Sequence[Mapping[str, Any]] = (), context_resources: Sequence[Mapping[str, Any]] = (),
             user_info: Mapping[str, Any] | None = None, subresource: str = "") -> Result:
    """Admit ``obj`` against one ``policy`` (ValidatingPolicy, NamespacedValidatingPolicy or
    ValidatingAdmissionPolicy).

    ``namespace`` is the Namespace object ``obj`` lives in (for namespaceObject and namespace selectors; a
    bare one named after ``metadata.namespace`` when omitted). ``operation`` CREATE/UPDATE/DELETE: for
    DELETE ``obj`` is the object deleted (``oldObject``, with ``object`` null); for UPDATE ``old_object``
    defaults to ``obj``. ``exceptions`` are PolicyExceptions (those naming other policies are ignored).
    ``params`` is a VAP's param object, or the candidate objects its bindings' ``paramRef`` select from;
    ``bindings`` the ValidatingAdmissionPolicyBindings (others' are ignored). ``context_resources`` answer
    Kyverno's ``resource.get``/``resource.List``; ``user_info`` is ``request.userInfo``.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation {operation!r} is not one of {', '.join(OPERATIONS)}")
    kind = policy.get("kind")
    if kind not in (*VPOL_KINDS, VAP_KIND):
        raise UnsupportedPolicy(f"{policy.get('apiVersion')} {kind} is not a ValidatingPolicy or "
                                "ValidatingAdmissionPolicy")
    token = _CONTEXT_RESOURCES.set(_resource_store(context_resources))
    try:
        if kind in VPOL_KINDS and _mode(policy) == "JSON":
            return _evaluate_json(policy, admission_view(obj), exceptions)
        view = _with_default_namespace(obj)
        group, version = _split_api_version(view.get("apiVersion", ""))
        resource, _ = kind_info(view.get("kind", ""))
        meta = view.get("metadata") or {}
        request = _Request(group, version, resource, subresource, view["kind"], meta.get("name", ""),
                           meta.get("namespace", ""), operation)
        current: dict[str, Any] | None = view
        old: dict[str, Any] | None = None
        if operation == "DELETE":
            current, old = None, view
        elif operation == "UPDATE":
            old = _with_default_namespace(old_object) if old_object is not None else copy.deepcopy(view)
        namespace_labels, namespace_object = _namespace_inputs(request, current, old, namespace)
        data = {"object": current, "oldObject": old, "namespaceObject": namespace_object,
                "request": request.as_cel(user_info), "params": None, "variables": {}, "exceptions": None}
        if kind == VAP_KIND:
            return _evaluate_vap(policy, request, data, namespace_labels, params, bindings)
        return _evaluate_vpol(policy, request, data, namespace_labels, exceptions)
    finally:
        _CONTEXT_RESOURCES.reset(token)


def evaluate_payload(policy: Mapping[str, Any], payload: Mapping[str, Any], *,
                     exceptions: Sequence[Mapping[str, Any]] = (),
                     context_resources: Sequence[Mapping[str, Any]] = ()) -> Result:
    """Evaluate a JSON-mode ValidatingPolicy on a payload that is not a Kubernetes object (a Terraform plan, a
    Dockerfile's parse). A Kubernetes-mode policy is skipped, as Kyverno's CLI skips it."""
    if policy.get("kind") not in VPOL_KINDS:
        raise UnsupportedPolicy(f"{policy.get('kind')} does not evaluate JSON payloads")
    if _mode(policy) != "JSON":
        return Result(policy["metadata"]["name"], "skip", detail="a Kubernetes-mode policy does not see JSON payloads")
    token = _CONTEXT_RESOURCES.set(_resource_store(context_resources))
    try:
        return _evaluate_json(policy, admission_view(payload), exceptions)
    finally:
        _CONTEXT_RESOURCES.reset(token)


def _mode(policy: Mapping[str, Any]) -> str:
    mode = ((policy.get("spec") or {}).get("evaluation") or {}).get("mode") or "Kubernetes"
    if mode not in ("Kubernetes", "JSON"):
        raise UnsupportedPolicy(f"ValidatingPolicy {policy['metadata']['name']!r}: evaluation.mode {mode} (only "
                                "Kubernetes and JSON are modelled)")
    return mode


def _actions(values: Sequence[str] | None) -> frozenset[str]:
    return frozenset(values or ("Deny",))


def _evaluate_json(policy: Mapping[str, Any], payload: Any, exceptions: Sequence[Mapping[str, Any]]) -> Result:
    spec = policy.get("spec") or {}
    data = {"object": payload, "oldObject": None, "namespaceObject": None, "request": None, "params": None,
            "variables": {}, "exceptions": None}
    return _run_vpol_body(policy["metadata"]["name"], spec, data, _exceptions_for(policy, exceptions),
                          _actions(spec.get("validationActions")), "")


def _evaluate_vpol(policy: Mapping[str, Any], request: _Request, data: dict[str, Any],
                   namespace_labels: Mapping[str, str], exceptions: Sequence[Mapping[str, Any]]) -> Result:
    name, spec = policy["metadata"]["name"], policy.get("spec") or {}
    actions = _actions(spec.get("validationActions"))
    if policy["kind"] == "NamespacedValidatingPolicy" and request.namespace != policy["metadata"].get("namespace"):
        return Result(name, "skip", actions=actions, detail="object outside the policy's namespace")
    own_exceptions = _exceptions_for(policy, exceptions)
    variants = [("", spec), *((f"autogen-{shape}", s) for shape, s in _autogen_of(spec).items())]
    results = []
    for variant, variant_spec in variants:
        if _constraints_match(variant_spec.get("matchConstraints"), request, data["object"], data["oldObject"],
                              namespace_labels):
            results.append(_run_vpol_body(name, variant_spec, dict(data), own_exceptions, actions, variant))
    if not results:
        return Result(name, "skip", actions=actions, detail="matchConstraints do not match")
    return max(results, key=lambda r: _SEVERITY[r.verdict])


def _evaluate_vap(policy: Mapping[str, Any], request: _Request, data: dict[str, Any],
                  namespace_labels: Mapping[str, str], params: Any, bindings: Sequence[Mapping[str, Any]]) -> Result:
    name, spec = policy["metadata"]["name"], policy.get("spec") or {}
    if not _constraints_match(spec.get("matchConstraints"), request, data["object"], data["oldObject"],
                              namespace_labels):
        return Result(name, "skip", detail="matchConstraints do not match")
    own = [b for b in bindings if (b.get("spec") or {}).get("policyName") == name]
    if not bindings:
        own = [{"metadata": {"name": "(unbound)"}, "spec": {"policyName": name, "validationActions": ["Deny"]}}]
    results = []
    for binding in own:
        binding_spec = binding.get("spec") or {}
        match_resources = binding_spec.get("matchResources")
        if match_resources is not None and not _constraints_match(match_resources, request, data["object"],
                                                                  data["oldObject"], namespace_labels):
            continue
        actions = frozenset(binding_spec.get("validationActions") or ())
        for param in _binding_params(spec, binding_spec, params, request):
            if isinstance(param, Result):
                results.append(dataclasses.replace(param, policy=name, actions=actions))
                continue
            results.append(_run_vap_body(name, spec, {**data, "params": param}, actions))
    return _combine(name, results)


def _binding_params(spec: Mapping[str, Any], binding_spec: Mapping[str, Any], params: Any,
                    request: _Request) -> Iterator[Any]:
    """The params each evaluation of a binding gets: one per selected param object (none needed: None)."""
    ref = binding_spec.get("paramRef")
    if spec.get("paramKind") is None or ref is None:
        yield None
        return
    if isinstance(params, Mapping):
        yield admission_view(params)
        return
    param_kind = spec["paramKind"]
    namespace = ref.get("namespace") or request.namespace
    found = []
    for candidate in params or ():
        view = _with_default_namespace(candidate)
        meta = view.get("metadata") or {}
        if view.get("kind") != param_kind.get("kind") or view.get("apiVersion") != param_kind.get("apiVersion"):
            continue
        if kind_info(view["kind"])[1] and meta.get("namespace") != namespace:
            continue
        if ref.get("name") and meta.get("name") != ref["name"]:
            continue
        if ref.get("selector") is not None and not selector_matches(ref["selector"], _labels(view)):
            continue
        found.append(view)
    if found:
        yield from (found[:1] if ref.get("name") else found)
    elif ref.get("parameterNotFoundAction", "Deny") == "Deny":
        yield Result("", "error", detail=f"no params found for paramRef {dict(ref)}")


def _run_vap_body(name: str, spec: Mapping[str, Any], data: dict[str, Any], actions: frozenset[str]) -> Result:
    evaluation = _Evaluation(data)
    holds, error = evaluation.conditions_hold(spec.get("matchConditions") or (), spec.get("failurePolicy", "Fail"))
    if error:
        return Result(name, "error", actions=actions, detail=error)
    if not holds:
        return Result(name, "skip", actions=actions, detail="matchConditions not met")
    evaluation.bind_variables(spec.get("variables") or ())
    verdict, failures, detail = evaluation.validate(spec.get("validations") or ())
    return Result(name, verdict, failures, actions, detail)


def _resource_store(objects: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    store = {}
    for obj in objects:
        view = _with_default_namespace(obj)
        meta = view.get("metadata") or {}
        resource, _ = kind_info(view["kind"])
        store[(view["apiVersion"], resource, meta.get("namespace", ""), meta["name"])] = view
    return store


def namespace_object(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Namespace as the API server stores it: with the ``kubernetes.io/metadata.name`` label it always sets."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}}}


def failing(policies: Sequence[Mapping[str, Any]], obj: Mapping[str, Any], namespace: Mapping[str, Any] | None = None,
            exceptions: Sequence[Mapping[str, Any]] = ()) -> dict[str, Result]:
    """The results of ``policies`` on ``obj`` that are not a pass or a skip (fail or error), by policy name."""
    out = {}
    for policy in policies:
        result = evaluate(policy, obj, namespace=namespace, exceptions=exceptions)
        if result.verdict in ("fail", "error"):
            out[policy["metadata"]["name"]] = result
    return out
