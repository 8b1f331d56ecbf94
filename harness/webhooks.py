"""Admission webhooks a cold `pulumi up` can race: read from the charts as the platform renders them.

A webhook with ``failurePolicy: Fail`` refuses every object it matches until its pods answer. The
Helm release that installs it is ready (Pulumi waits for a release's workloads) only once they do,
so every object such a webhook matches must be created by something that waits for that release.
``races`` lists the objects that don't: the objects each release renders (and the pods of its
workloads' templates, which their controllers create) and the platform's own Kubernetes resources,
matched by the webhook's rules, its namespace selector (against the namespace's labels, with the
``kubernetes.io/metadata.name`` label every namespace carries) and its object selector.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness import charts
from harness.mocks import Recorded, Recording

WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
# kinds the platform creates -> the API resource a webhook rule names (the plural, lower-case)
IRREGULAR_PLURALS = {"IngressClassParams": "ingressclassparams", "Ingress": "ingresses",
                     "NetworkPolicy": "networkpolicies", "PodSecurityPolicy": "podsecuritypolicies"}


@dataclass(frozen=True)
class Created:
    """One object a cold `up` creates, and the resource (a release, or a Kubernetes resource) that creates it."""

    creator: Recorded
    group: str
    kind: str
    namespace: str
    labels: Mapping[str, str]
    name: str


def resource_of(kind: str) -> str:
    return IRREGULAR_PLURALS.get(kind) or (kind.lower() + ("es" if kind.endswith("s") else "s"))


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions); an absent selector matches everything."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _objects(release: Recorded, rendered: tuple[dict, ...]) -> Iterator[Created]:
    namespace = str(release.inputs["namespace"])
    for obj in rendered:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or namespace
        yield Created(release, _group(obj.get("apiVersion", "")), obj.get("kind", ""), ns,
                      meta.get("labels") or {}, meta.get("name", ""))
        if obj.get("kind") in WORKLOADS:
            spec = obj.get("spec") or {}
            template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}
            yield Created(release, "", "Pod", ns, (template.get("metadata") or {}).get("labels") or {},
                          f"{meta.get('name', '')} (pod)")


def created(rec: Recording) -> list[Created]:
    """Every object of the cold `up` that a webhook could see: rendered by a release, or a resource."""
    out: list[Created] = []
    for r in rec:
        if r.type == charts.RELEASE_TYPE:
            out += _objects(r, charts.render_release(r))
        elif r.custom and r.type.startswith("kubernetes:") and "kind" in r.inputs:
            meta = r.inputs.get("metadata") or {}
            out.append(Created(r, _group(r.inputs.get("apiVersion", "")), r.inputs["kind"],
                               meta.get("namespace", "default"), meta.get("labels") or {}, meta.get("name", r.name)))
    return out


def namespace_labels(objects: list[Created]) -> dict[str, dict[str, str]]:
    """Labels of every namespace: the ones the platform declares, plus the name label every namespace has."""
    labels: dict[str, dict[str, str]] = {}
    for o in objects:
        labels.setdefault(o.namespace, {"kubernetes.io/metadata.name": o.namespace})
        if o.kind == "Namespace":
            labels.setdefault(o.name, {"kubernetes.io/metadata.name": o.name}).update(o.labels)
    return labels


def failing_webhooks(rec: Recording) -> list[tuple[Recorded, dict[str, Any]]]:
    """(release, webhook) for every webhook with ``failurePolicy: Fail`` (the API's default) a release installs."""
    found = []
    for release in charts.releases(rec):
        for obj in charts.render_release(release):
            if obj.get("kind") in WEBHOOK_KINDS:
                found += [(release, w) for w in obj.get("webhooks") or [] if w.get("failurePolicy", "Fail") == "Fail"]
    return found


def matches(webhook: Mapping[str, Any], obj: Created, ns_labels: Mapping[str, str]) -> bool:
    resource = resource_of(obj.kind)
    ruled = any((obj.group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
                and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
                and ({"CREATE", "*"} & set(rule.get("operations", [])))
                for rule in webhook.get("rules") or [])
    return (ruled and selector_matches(webhook.get("namespaceSelector"), ns_labels)
            and selector_matches(webhook.get("objectSelector"), obj.labels))


def races(rec: Recording) -> list[str]:
    """What a cold `up` would send to a failing webhook before the release that serves it is ready."""
    objects = created(rec)
    ns_labels = namespace_labels(objects)
    found = []
    for release, webhook in failing_webhooks(rec):
        for obj in objects:
            if obj.creator is release or not matches(webhook, obj, ns_labels.get(obj.namespace, {})):
                continue
            if not rec.waits_for(obj.creator, release):
                found.append(f"{webhook['name']} (release {release.name}, failurePolicy Fail) refuses {obj.kind} "
                             f"{obj.namespace}/{obj.name} of {obj.creator.name}, which does not wait for the release")
    return sorted(set(found))
