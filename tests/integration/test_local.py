"""The local stack for real: `pulumi up` on kind through the Automation API, checks, `pulumi destroy`.

Not in the default run (marker ``integration``; `make integration` runs it). It needs docker with a
running daemon, kind, the Pulumi CLI and kubectl (`make doctor`), and skips naming the first one
missing. State goes to a temporary file backend; the kind cluster is deleted at the end.
It checks nodes, the metrics API, a service through the gateway on localhost, the Prometheus targets of
the platform's components, and, with ``EKS_PLATFORM_GITOPS_REPO`` set to a clone URL of this repository that
the kind cluster can reach (and ``EKS_PLATFORM_GITOPS_REVISION``, default main), Argo CD's root Application
Synced and Healthy and the sample application answering through the gateway.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from harness import PROJECT_DIR, yamlio

pytestmark = pytest.mark.integration

REQUIRED = ("docker", "kind", "pulumi", "kubectl")
MISSING = [tool for tool in REQUIRED if shutil.which(tool) is None]
CLUSTER = "eks-platform-local"
GITOPS_REPO = os.environ.get("EKS_PLATFORM_GITOPS_REPO")
SAMPLE_HOST = "sample-app.localtest.me"  # the sample workload's route, by Host header on 127.0.0.1
CONTEXT = f"kind-{CLUSTER}"


def kubectl(*args: str) -> str:
    return subprocess.run(["kubectl", "--context", CONTEXT, *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def eventually(check, timeout: float = 300, every: float = 5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, subprocess.CalledProcessError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(every)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if MISSING:
        pytest.skip(f"needs {', '.join(MISSING)} on the PATH (run `make doctor`)")
    from pulumi import automation as auto

    state = tmp_path_factory.mktemp("state")
    env = {"PULUMI_BACKEND_URL": f"file://{state}",
           "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "local-only")}
    workspace = auto.LocalWorkspaceOptions(env_vars=env)
    stack = auto.create_or_select_stack(stack_name="local", work_dir=str(PROJECT_DIR), opts=workspace)
    if GITOPS_REPO:
        stack.set_config("eks-platform:argocd", auto.ConfigValue(value=json.dumps(
            {"repoUrl": GITOPS_REPO, "revision": os.environ.get("EKS_PLATFORM_GITOPS_REVISION", "main"),
             "workloadHostname": SAMPLE_HOST})))
    try:
        stack.up(on_output=print)
        yield stack
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack("local")


def test_every_node_is_ready(stack):
    def ready():
        nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        assert len(nodes) == 3  # control plane + the stack file's two workers
        for node in nodes:
            conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
            assert conditions["Ready"] == "True", node["metadata"]["name"]

    eventually(ready)


def test_metrics_api_serves_node_metrics(stack):
    def metrics():
        items = json.loads(kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"))["items"]
        assert items and all("cpu" in i["usage"] and "memory" in i["usage"] for i in items)

    eventually(metrics)


ECHO = """
apiVersion: v1
kind: Namespace
metadata: {name: echo, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: echo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: echo
          image: registry.k8s.io/e2e-test-images/agnhost:2.53
          args: ["netexec", "--http-port=8080"]
          ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: echo}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def test_an_echo_service_answers_through_the_gateway_on_localhost(stack):
    import urllib.request

    subprocess.run(["kubectl", "--context", CONTEXT, "apply", "-f", "-"], input=ECHO, text=True, check=True)
    subprocess.run(["kubectl", "--context", CONTEXT, "-n", "echo", "apply", "-f",
                    str(PROJECT_DIR / "examples" / "istio-gateway.yaml")], check=True)

    def answers():
        with urllib.request.urlopen("http://127.0.0.1:80/hostname", timeout=5) as response:
            assert response.status == 200 and response.read()

    eventually(answers)


# Scrape jobs of the platform's components (the job is the Service a ServiceMonitor selects); each must have
# targets, all up.
# (argo-helm 10.1.1 templates/*/metrics.yaml: the metrics Services are <component fullname>-metrics)
PLATFORM_JOBS = ("apiserver", "kubelet", "coredns", "kube-state-metrics", "node-exporter", "metrics-server",
                 "istiod", "argocd-application-controller-metrics", "argocd-server-metrics",
                 "argocd-repo-server-metrics", "kyverno")


def test_prometheus_scrapes_the_platform_components(stack):
    def targets():
        raw = kubectl("get", "--raw", "/api/v1/namespaces/monitoring/services/monitoring-prometheus:9090/proxy"
                                      "/api/v1/targets?state=active")
        active = json.loads(raw)["data"]["activeTargets"]
        for job in PLATFORM_JOBS:
            mine = [t for t in active if job in t["labels"].get("job", "")]
            assert mine, f"no target for {job}"
            assert all(t["health"] == "up" for t in mine), (job, [t.get("lastError") for t in mine])

    eventually(targets, timeout=600)


def test_argocd_syncs_the_root_application(stack):
    if not GITOPS_REPO:
        pytest.skip("needs EKS_PLATFORM_GITOPS_REPO: a clone URL of this repository the kind cluster can reach")

    def synced():
        app = json.loads(kubectl("-n", "argocd", "get", "application", "platform-root", "-o", "json"))
        assert app["status"]["sync"]["status"] == "Synced" and app["status"]["health"]["status"] == "Healthy"
        child = json.loads(kubectl("-n", "argocd", "get", "application", "sample-app", "-o", "json"))
        assert child["status"]["health"]["status"] == "Healthy"

    eventually(synced, timeout=900)

    import urllib.request

    def answers():
        request = urllib.request.Request("http://127.0.0.1:80/", headers={"Host": SAMPLE_HOST})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    # the sample app through the gateway, by its host name
    eventually(answers)


def test_destroy_removes_the_kind_cluster(stack):
    stack.destroy(on_output=print)
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=True).stdout
    assert CLUSTER not in clusters.split()


def _dry_run_pod(namespace: str, name: str) -> subprocess.CompletedProcess:
    """`kubectl apply --dry-run=server` of an example Pod: it goes through the admission webhooks."""
    from pathlib import Path


    doc = yamlio.load((Path(__file__).parent.parent / "fixtures" / "kyverno" / name).read_text())
    doc["metadata"]["namespace"] = namespace
    return subprocess.run(["kubectl", "--context", CONTEXT, "apply", "--dry-run=server", "-f", "-"],
                          input=json.dumps(doc), capture_output=True, text=True, timeout=60)


def test_kyverno_refuses_a_privileged_pod_in_a_team_namespace_only(stack):
    team = "it-kyverno-team"
    kubectl("create", "namespace", team)
    try:
        kubectl("label", "namespace", team, "platform.eks/team=it")

        def enforced():
            refused = _dry_run_pod(team, "disallow-privileged-containers/fail.yaml")
            assert refused.returncode != 0 and "Privileged containers are not allowed" in refused.stderr, refused
        eventually(enforced, timeout=120)
        accepted = _dry_run_pod(team, "disallow-privileged-containers/pass.yaml")
        assert accepted.returncode == 0, accepted.stderr
        # outside team namespaces the policies audit: the same pod is admitted
        assert _dry_run_pod("default", "disallow-privileged-containers/fail.yaml").returncode == 0
    finally:
        kubectl("delete", "namespace", team, "--wait=false")
