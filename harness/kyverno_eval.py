"""A small evaluator of Kyverno ``validate.pattern`` rules: the subset the platform's baseline policies
(components/policy/policies.py) are written in, so tests can run example manifests against them
without a cluster or the Kyverno CLI.

Semantics follow Kyverno's documentation (kyverno.io/docs/policy-types/cluster-policy/validate,
"Patterns", "Anchors"; "Match/Exclude"):
- ``match``/``exclude`` with ``any`` blocks of ``resources``: ``kinds``, ``namespaces`` (wildcards),
  ``namespaceSelector`` and ``selector`` (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist);
- pattern maps: a plain key must be present and match; ``=(key)`` matches if present; ``X(key)``
  must be absent; ``(key)`` is a condition: when it does not hold, the enclosing map is skipped
  (in a list, that element);
- a list pattern of one map applies it to every element of the resource's list (when every element
  is skipped by a condition, so is the rule);
- scalar patterns: ``*`` and ``?`` wildcards, a leading ``!`` negates, ``a | b`` is either, ``>N``,
  ``>=N``, ``<N``, ``<=N`` compare numbers and quantities; booleans and numbers otherwise compare as
  their text (pkg/engine/pattern/pattern.go @ v1.19.0).
- the rules Kyverno generates for Pod controllers (``pod-policies.kyverno.io/autogen-controllers``):
  the pattern moved under ``spec.template`` (``spec.jobTemplate.spec.template`` for CronJobs), the
  Pod kinds of match and exclude replaced by the controllers, and none by default where a block
  selects by name or label.
Anything else (``anyPattern``, ``deny``, variables, other anchors) raises ``UnsupportedPatternError`` rather than
being guessed at: a policy that needs more needs a bigger evaluator, or the Kyverno CLI.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from settings.types import quantity

Result = Literal["pass", "fail", "skip"]


class UnsupportedPatternError(ValueError):
    """The policy uses Kyverno features this evaluator does not implement."""


class _SkipError(Exception):
    """A conditional anchor did not hold: the enclosing map is skipped."""


@dataclass(frozen=True)
class RuleResult:
    policy: str
    rule: str
    result: Result
    message: str = ""
    path: str = ""


# --- selection -----------------------------------------------------------------------------------------------

def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise UnsupportedPatternError(f"label selector keys {sorted(unknown)}")
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op not in ("Exists", "DoesNotExist", "In", "NotIn"):
            raise UnsupportedPatternError(f"selector operator {op}")
    return True


def _resource_filter_matches(block: Mapping[str, Any], resource: Mapping[str, Any],
                             namespace_labels: Mapping[str, str]) -> bool:
    unknown = set(block) - {"resources"}
    if unknown:
        raise UnsupportedPatternError(f"match/exclude keys {sorted(unknown)} (subjects, roles, ...)")
    desc = block["resources"]
    unknown = set(desc) - {"kinds", "namespaces", "namespaceSelector", "selector"}
    if unknown:
        raise UnsupportedPatternError(f"resource description keys {sorted(unknown)}")
    meta = resource.get("metadata") or {}
    namespace = meta.get("namespace", "default")
    if "kinds" in desc and resource.get("kind") not in desc["kinds"]:
        return False
    if "namespaces" in desc and not any(fnmatch.fnmatchcase(namespace, p) for p in desc["namespaces"]):
        return False
    if not selector_matches(desc.get("namespaceSelector"), namespace_labels):
        return False
    return selector_matches(desc.get("selector"), meta.get("labels") or {})


def _selected(spec: Mapping[str, Any] | None, resource: Mapping[str, Any], namespace_labels: Mapping[str, str]) -> bool:
    if not spec:
        return False
    unknown = set(spec) - {"any"}
    if unknown:
        raise UnsupportedPatternError(f"match/exclude forms {sorted(unknown)} (only 'any' is implemented)")
    return any(_resource_filter_matches(b, resource, namespace_labels) for b in spec["any"])


# --- patterns ------------------------------------------------------------------------------------------------

_COMPARE = re.compile(r"^(>=|<=|>|<)\s*(\S+)$")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def scalar_matches(pattern: str, value: Any) -> bool:
    """One scalar pattern against one resource value (present, possibly null)."""
    alternatives = [p.strip() for p in pattern.split("|")] if "|" in pattern else [pattern]
    return any(_one(p, value) for p in alternatives)


def _one(pattern: str, value: Any) -> bool:
    if pattern.startswith("!"):
        return not _one(pattern[1:], value)
    compare = _COMPARE.match(pattern)
    if compare:
        # Kyverno compares numbers, and numeric text, as Kubernetes quantities (pkg/engine/pattern,
        # compareQuantity); anything else does not match
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return False
            left, right = quantity(value), quantity(compare.group(2))
        except ValueError:
            return False
        op = compare.group(1)
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]
    if value is None or isinstance(value, dict | list):
        return False
    text = _as_text(value)
    # Kyverno's wildcard: * any run (also empty), ? one character; nothing else is special
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


def _anchor(key: str) -> tuple[str, str]:
    for kind, prefix in (("equality", "=("), ("negation", "X("), ("condition", "(")):
        if key.startswith(prefix) and key.endswith(")"):
            return kind, key[len(prefix):-1]
    if key[:2] in ("^(", "+(", "<("):
        raise UnsupportedPatternError(f"anchor {key}")
    return "plain", key


def validate(value: Any, pattern: Any, path: str = "") -> str | None:
    """The path where ``value`` fails ``pattern``, or None when it matches. Raises _SkipError when a
    conditional anchor does not hold (the caller skips the enclosing map)."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return path or "/"
        # conditions first: a failed condition skips the map whatever else it holds
        ordered = sorted(pattern.items(), key=lambda kv: _anchor(kv[0])[0] != "condition")
        for key, sub in ordered:
            kind, name = _anchor(key)
            here = f"{path}/{name}"
            if kind == "condition":
                if name not in value:
                    raise _SkipError
                try:
                    failed = validate(value[name], sub, here)
                except _SkipError:
                    failed = here
                if failed is not None:
                    raise _SkipError
            elif kind == "negation":
                if name in value:
                    return here
            elif kind == "equality":
                if name in value:
                    failed = validate(value[name], sub, here)
                    if failed is not None:
                        return failed
            else:
                if name not in value:
                    return here
                failed = validate(value[name], sub, here)
                if failed is not None:
                    return failed
        return None
    if isinstance(pattern, list):
        if len(pattern) != 1:
            raise UnsupportedPatternError("list patterns other than one element applied to every item")
        if not isinstance(value, list):
            return path or "/"
        applied = 0
        for index, item in enumerate(value):
            try:
                failed = validate(item, pattern[0], f"{path}/{index}")
            except _SkipError:
                continue
            if failed is not None:
                return failed
            applied += 1
        if value and not applied:
            # every element skipped by its condition: the rule is skipped, not passed
            # (pkg/engine/validate/validate.go, validateArrayOfMaps)
            raise _SkipError
        return None
    if isinstance(pattern, str):
        return None if scalar_matches(pattern, value) else path
    if isinstance(pattern, bool | int | float):
        return None if _as_text(value) == _as_text(pattern) else path
    raise UnsupportedPatternError(f"pattern of type {type(pattern).__name__}")


# --- policies ------------------------------------------------------------------------------------------------

# --- auto-generation (pkg/autogen/v1 @ v1.19.0: autogen.go CanAutoGen, rule.go generateRule) ------------------

AUTOGEN = "pod-policies.kyverno.io/autogen-controllers"
ALL_CONTROLLERS = ("DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController")


def _autogen_supported(rules: Sequence[Mapping[str, Any]]) -> bool:
    """Kyverno's default ("all") generates nothing when a match or exclude block names objects or
    selects them by label: those may not apply to the controllers."""
    for rule in rules:
        for part in ("match", "exclude"):
            for block in (rule.get(part) or {}).get("any", []):
                desc = block["resources"]
                if desc.get("names") or desc.get("name") or desc.get("selector") or desc.get("annotations"):
                    return False
    return True


def _retarget(rule: Mapping[str, Any], name: str, kinds: list[str], wrap: Any) -> dict[str, Any]:
    def filters(spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if spec is None:
            return None
        return {"any": [{"resources": {**b["resources"], "kinds": kinds}} if "Pod" in b["resources"].get("kinds", [])
                        else b for b in spec["any"]]}

    out = {**rule, "name": name, "match": filters(rule["match"]),
           "validate": {**rule["validate"], "pattern": wrap(rule["validate"]["pattern"])}}
    if rule.get("exclude") is not None:
        out["exclude"] = filters(rule["exclude"])
    return out


def autogen_rules(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rules Kyverno adds for Pod controllers: ``autogen-<rule>`` (pattern under spec.template)
    and ``autogen-cronjob-<rule>`` (under spec.jobTemplate.spec.template)."""
    annotation = (policy["metadata"].get("annotations") or {}).get(AUTOGEN)
    rules = policy["spec"]["rules"]
    if annotation == "none" or (annotation is None and not _autogen_supported(rules)):
        return []
    wanted = (*ALL_CONTROLLERS, "CronJob") if annotation in (None, "all") else tuple(annotation.split(","))
    controllers = sorted(k for k in wanted if k in ALL_CONTROLLERS)
    out = []
    for rule in rules:
        if "Pod" not in [k for b in rule["match"]["any"] for k in b["resources"].get("kinds", [])]:
            continue
        if controllers:
            out.append(_retarget(rule, f"autogen-{rule['name']}"[:63], controllers,
                                 lambda p: {"spec": {"template": p}}))
        if "CronJob" in wanted:
            out.append(_retarget(rule, f"autogen-cronjob-{rule['name']}"[:63], ["CronJob"],
                                 lambda p: {"spec": {"jobTemplate": {"spec": {"template": p}}}}))
    return out


def evaluate(policy: Mapping[str, Any], resource: Mapping[str, Any],
             namespace_labels: Mapping[str, str]) -> list[RuleResult]:
    """Each rule of ``policy`` (and those Kyverno generates for Pod controllers) applied to
    ``resource``, in a namespace with ``namespace_labels``."""
    name = policy["metadata"]["name"]
    out = []
    for rule in [*policy["spec"]["rules"], *autogen_rules(policy)]:
        unknown = set(rule) - {"name", "match", "exclude", "validate"}
        if unknown:
            raise UnsupportedPatternError(f"rule keys {sorted(unknown)}")
        validation = rule["validate"]
        unknown = set(validation) - {"message", "pattern", "failureAction"}
        if unknown:
            raise UnsupportedPatternError(f"validate keys {sorted(unknown)}")
        if not _selected(rule.get("match"), resource, namespace_labels) or \
                _selected(rule.get("exclude"), resource, namespace_labels):
            out.append(RuleResult(name, rule["name"], "skip"))
            continue
        try:
            failed = validate(resource, validation["pattern"])
        except _SkipError:
            out.append(RuleResult(name, rule["name"], "skip"))
            continue
        if failed is None:
            out.append(RuleResult(name, rule["name"], "pass"))
        else:
            out.append(RuleResult(name, rule["name"], "fail", validation["message"], failed))
    return out


def failures(policies: Sequence[Mapping[str, Any]], resource: Mapping[str, Any],
             namespace_labels: Mapping[str, str]) -> dict[str, list[str]]:
    """Policy name -> its failing rules, over ``policies``."""
    found: dict[str, list[str]] = {}
    for policy in policies:
        for r in evaluate(policy, resource, namespace_labels):
            if r.result == "fail":
                found.setdefault(r.policy, []).append(r.rule)
    return found
