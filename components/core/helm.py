"""One way to install a pinned Helm chart: ``kubernetes.helm.v3.Release`` (hooks run, values stay visible).

Not a component: the calling component owns the release (and, where it needs labels on it, its
namespace) as its children.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

import versions
from components.core.common import child_opts
from components.core.handle import ClusterHandle


def release(name: str, parent: pulumi.Resource, cluster: ClusterHandle, chart: str, *,
            namespace: pulumi.Input[str], values: dict[str, Any], release_name: str | None = None,
            create_namespace: bool = False, skip_crds: bool = False, timeout_seconds: int = 600,
            opts: pulumi.ResourceOptions | None = None) -> k8s.helm.v3.Release:
    """A Release of ``versions.CHARTS[chart]`` on ``cluster``, parented to ``parent``.

    ``release_name`` is the Helm release name (default: the chart key); two releases of one chart
    in one namespace need different names. Pass ``namespace`` as the ``metadata.name`` of a
    ``namespace(...)`` to make the release wait for it (and be deleted before it).

    ``atomic`` rolls a failed install back, and ``wait`` (Helm's --wait) makes anything that
    depends on the release wait until its workloads are ready.
    """
    pinned = versions.CHARTS[chart]
    oci = pinned.repo.startswith("oci://")
    return k8s.helm.v3.Release(
        name,
        name=release_name or chart,
        chart=f"{pinned.repo}/{pinned.name}" if oci else pinned.name,
        version=pinned.version,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=pinned.repo),
        namespace=namespace,
        create_namespace=create_namespace,
        skip_crds=skip_crds,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout_seconds,
        opts=child_opts(parent, cluster.k8s_opts(opts)),
    )


POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"


def pod_security(level: str) -> dict[str, str]:
    """The Pod Security admission label that makes a namespace enforce ``level`` (privileged, baseline or
    restricted); kubernetes.io/docs/concepts/security/pod-security-admission."""
    return {POD_SECURITY_ENFORCE: level}


def namespace(name: str, parent: pulumi.Resource, cluster: ClusterHandle, namespace_name: str, *,
              labels: Mapping[str, str] | None = None,
              opts: pulumi.ResourceOptions | None = None) -> k8s.core.v1.Namespace:
    """A namespace the component owns, with its labels (Pod Security, mesh injection) from the start."""
    return k8s.core.v1.Namespace(
        name, metadata={"name": namespace_name, "labels": dict(labels or {})},
        opts=child_opts(parent, cluster.k8s_opts(opts)))
