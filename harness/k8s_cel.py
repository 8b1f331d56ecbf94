"""CEL library functions that Kubernetes or Kyverno add to the CEL standard library and that the offline
ValidatingPolicy evaluator (harness/cel_policy.py) needs, written here because cel-expr-python ships only
the CEL team's own extensions (strings, optional, math, bindings, encoders).

Only what a policy or an upstream test case actually calls is here; anything else a policy calls is
refused by the evaluator as ``UnsupportedPolicy`` naming the function (``UNMODELLED`` says which library
it would have come from). At present:

- Kyverno's ``resource`` library, read-only and offline: ``resource.get(apiVersion, resource, namespace,
  name)`` and ``resource.List(apiVersion, resource, namespace)`` answer from a fixed set of objects given
  to the evaluation (a Kyverno CLI test's ``context.yaml``), never from a cluster. Needed by the cli-tests
  ``policy-with-cm`` and ``restrict-image-registries``.

Kubernetes' own libraries (quantity(), url(), ip()/cidr(), the lists and regex extensions) are not
needed by any case or policy yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (apiVersion, resource, namespace, name) -> object; namespace "" for cluster-scoped objects
ResourceStore = Mapping[tuple[str, str, str, str], Mapping[str, Any]]

# Functions and receivers of libraries that Kubernetes or Kyverno provide and this evaluator does not
# model, by the name a policy calls them with: the evaluator's error names the library.
UNMODELLED: dict[str, str] = {
    "quantity": "Kubernetes' quantity library",
    "isQuantity": "Kubernetes' quantity library",
    "url": "Kubernetes' URL library",
    "isURL": "Kubernetes' URL library",
    "ip": "Kubernetes' IP library",
    "isIP": "Kubernetes' IP library",
    "cidr": "Kubernetes' CIDR library",
    "isCIDR": "Kubernetes' CIDR library",
    "semver": "Kubernetes' semver library",
    "isSemver": "Kubernetes' semver library",
    "authorizer": "Kubernetes' authorizer library (it asks the API server)",
    "sort": "Kubernetes' lists library",
    "isSorted": "Kubernetes' lists library",
    "sum": "Kubernetes' lists library",
    "min": "Kubernetes' lists library",
    "max": "Kubernetes' lists library",
    "find": "Kubernetes' regex library",
    "findAll": "Kubernetes' regex library",
    "http": "Kyverno's http library (network calls)",
    "image": "Kyverno's image library (registry lookups)",
    "imagedata": "Kyverno's imagedata library (registry lookups)",
    "globalContext": "Kyverno's globalContext library (cluster state)",
    "envoy": "Kyverno's Envoy authorization library",
    "jwt": "Kyverno's jwt library",
    "x509": "Kyverno's x509 library",
    "json": "Kyverno's json library",
    "yaml": "Kyverno's yaml library",
    "hash": "Kyverno's hash library",
    "random": "Kyverno's random library",
    "time": "Kyverno's time library",
    "gzip": "Kyverno's gzip library",
    "user": "Kyverno's user library",
    "generator": "Kyverno's generator library (GeneratingPolicy)",
}


class ResourceNotFoundError(LookupError):
    """``resource.get`` asked for an object the evaluation was not given."""


def resource_get(store: ResourceStore, api_version: str, resource: str, namespace: str, name: str) -> dict:
    """Kyverno's ``resource.get``: the object, or an error (Kyverno errors too when the object is absent)."""
    try:
        return dict(store[(api_version, resource, namespace, name)])
    except KeyError:
        where = f"{namespace}/{name}" if namespace else name
        raise ResourceNotFoundError(f"resource.get: {resource} {where} ({api_version}) is not among the context "
                               f"resources given to the evaluation") from None


def resource_list(store: ResourceStore, api_version: str, resource: str, namespace: str) -> dict:
    """Kyverno's ``resource.List``: ``{"items": [...]}`` of the objects of that resource in ``namespace``
    (every namespace when it is empty), ordered by namespace and name."""
    items = [obj for (av, res, ns, _), obj in sorted(store.items(), key=lambda kv: kv[0])
             if av == api_version and res == resource and (not namespace or ns == namespace)]
    return {"items": [dict(item) for item in items]}
