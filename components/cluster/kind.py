"""The local cluster: kind (Kubernetes in Docker), created and deleted with the kind CLI.

Comes first on the kind target; every add-on enabled on kind comes after it and receives its
``handle`` (no AWS facts). There is no Pulumi provider for kind on a registry, so the cluster is a
``pulumi_command`` ``local.Command`` running ``kind``: both commands are idempotent (a cluster that
already exists is adopted, one that is gone is not an error), and any change to the generated kind
config (name, node image, worker count, port mappings) replaces the cluster, deleting the old one
first (both share the name).

Facts relied on: kind's v1alpha4 config (kind.sigs.k8s.io/docs/user/configuration: nodes, roles,
``extraPortMappings`` with ``listenAddress``, ``kubeadmConfigPatches`` with ``node-labels``); the
ingress recipe labels the node that owns the mapped ports ``ingress-ready=true``
(kind.sigs.k8s.io/docs/user/ingress); ``kind create cluster --config=-`` reads the config from stdin
and ``--wait`` waits for the control plane to be Ready; ``kind delete cluster`` succeeds when the
cluster does not exist.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s
import yaml

import versions
from components.core.common import PlatformComponent, child_opts
from components.core.handle import ClusterHandle
from components.core.names import HTTP_NODE_PORT, HTTPS_NODE_PORT
from settings import KindSettings

TYPE = "platform:kind:Cluster"
INGRESS_LABEL = "ingress-ready=true"


@dataclass(frozen=True, kw_only=True)
class KindClusterArgs:
    cluster_name: str
    """kind cluster name (docker containers are <name>-control-plane, <name>-worker, ...)."""
    settings: KindSettings
    """Kubernetes version, workers and host ports."""


def kind_config(args: KindClusterArgs) -> dict[str, Any]:
    """The kind.x-k8s.io/v1alpha4 Cluster config: one control-plane node that owns the ingress
    port mappings (127.0.0.1 only) and carries ingress-ready=true, then the workers."""
    s = args.settings
    image = versions.KIND_NODE_IMAGES[s.version]
    control_plane = {
        "role": "control-plane",
        "image": image,
        # a kubeadm patch is YAML text; JSON is YAML and keeps the generated config readable
        "kubeadmConfigPatches": [json.dumps({
            "kind": "InitConfiguration",
            "nodeRegistration": {"kubeletExtraArgs": {"node-labels": INGRESS_LABEL}},
        })],
        "extraPortMappings": [
            {"containerPort": HTTP_NODE_PORT, "hostPort": s.http_port, "listenAddress": "127.0.0.1",
             "protocol": "TCP"},
            {"containerPort": HTTPS_NODE_PORT, "hostPort": s.https_port, "listenAddress": "127.0.0.1",
             "protocol": "TCP"},
        ],
    }
    workers = [{"role": "worker", "image": image} for _ in range(s.workers)]
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": args.cluster_name,
            "nodes": [control_plane, *workers]}


def create_command(name: str) -> str:
    quoted = shlex.quote(name)
    # adopt a cluster of that name if it already exists (an earlier run, or one made by hand)
    return (f"kind get clusters 2>/dev/null | grep -qx {quoted} || "
            f"kind create cluster --name {quoted} --config=- --wait 5m")


def delete_command(name: str) -> str:
    return f"kind delete cluster --name {shlex.quote(name)}"


def server_of(kubeconfig: str) -> str:
    data = yaml.safe_load(kubeconfig) or {}
    clusters = data.get("clusters") or [{}]
    return (clusters[0].get("cluster") or {}).get("server", "")


class KindCluster(PlatformComponent):
    cluster: command.local.Command
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    config_yaml: str

    def __init__(self, name: str, args: KindClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        self._args = args
        self.config_yaml = yaml.safe_dump(kind_config(args), sort_keys=False)
        self.cluster = command.local.Command(
            f"{name}-cluster",
            create=create_command(args.cluster_name),
            delete=delete_command(args.cluster_name),
            stdin=self.config_yaml,
            # any change to the config needs a new cluster (kind cannot change nodes or port mappings)
            triggers=[args.cluster_name, self.config_yaml],
            opts=child_opts(self, pulumi.ResourceOptions(
                # the replacement has the same name: delete the old cluster first, or the idempotent
                # create would adopt it and the delete would then remove it
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create="10m", delete="5m"))))
        kubeconfig = command.local.Command(
            f"{name}-kubeconfig",
            create=f"kind get kubeconfig --name {shlex.quote(args.cluster_name)}",
            # a new cluster has a new CA and port: read the kubeconfig again
            triggers=[self.cluster.id],
            opts=child_opts(self, pulumi.ResourceOptions(
                depends_on=[self.cluster], additional_secret_outputs=["stdout"])))
        self.kubeconfig = pulumi.Output.secret(kubeconfig.stdout)
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child_opts(self))
        self.register_outputs({"name": args.cluster_name, "config": self.config_yaml,
                               "kubeconfig": self.kubeconfig})

    def handle(self) -> ClusterHandle:
        """The add-on contract on kind: no AWS facts, one zone, and no tainted system nodes (every
        node may run the controllers). Kubernetes objects wait for the cluster command."""
        return ClusterHandle(
            physical_name=self._args.cluster_name,
            name=self.cluster.stdout.apply(lambda _: self._args.cluster_name),
            version=self._args.settings.version,
            endpoint=self.kubeconfig.apply(server_of),
            provider=self.provider, aws=None, az_count=1,
            system_node_selector={}, system_tolerations=[],
            readiness=(self.cluster,))
