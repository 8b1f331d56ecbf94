"""gitops/: the root app-of-apps chart and the workload charts Argo CD syncs, rendered offline with
helm-python-sdk (no helm binary, no cluster) for every environment and exposure the stacks use.

Every rendered object is validated: core kinds with kubernetes-validate (strict: unknown fields fail)
at each Kubernetes version a stack runs, Istio and Argo CD kinds against the upstream CRDs. On every
workload: probes, requests and limits, the non-root read-only security context and the rest of Pod
Security restricted. The objects refer to each other correctly (selectors, ports, names), a
ReadWriteOnce volume is never shared by replicas, scheduling fits both Karpenter and kind, the
per-environment values files hold only what differs, custom resources hold only fields their CRD
declares, and the root's Applications match the contract with the platform's Argo CD add-on (namespace
argocd, the AppProject, source path, value files, automated sync, retries, finalizer, managed
namespace labels). Rendering is harness/gitops.py's, cached per process.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from collections.abc import Iterator
from typing import Any

import helm_python
import kubernetes_validate
import kubernetes_validate.utils
import pytest

import versions
from harness import PROJECT_DIR, stack_config, stack_names, yamlio
from harness.gitops import (
    CLUSTER_SCOPED_KINDS,
    ENVIRONMENTS,
    EXPOSURES,
    ROOT_CHART,
    WORKLOADS_DIR,
    chart,
    effective_values,
    environment_values,
    project_needs,
    render,
    render_workload,
    workloads,
)
from harness.gitops import render_root as _render_root
from harness.gitops import root_values as _root_values
from harness.upstream import crd_groups, crd_validator, schema_errors
from settings import parse_settings

REPO = "https://github.com/example-org/eks-platform.git"
REVISION = "main"
PROJECT = "platform-workloads"
HOST = "app.example.com"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
# Pod Security restricted: the only volume types it allows (kubernetes.io, Pod Security Standards)
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
# Node labels every node has, a kind node too: the only keys a *required* node affinity may name
UNIVERSAL_NODE_LABELS = {"kubernetes.io/os", "kubernetes.io/arch"}


# --- what the stacks use -----------------------------------------------------------------------------

@functools.cache
def stack_facts(stack: str) -> tuple[str, tuple[str, ...], str]:
    """(environment, exposures it can do, Kubernetes minor) of a stack, from its stack file."""
    raw = {k.removeprefix("eks-platform:"): v for k, v in stack_config(stack).items()}
    settings = parse_settings(raw, stack)
    if settings.is_aws:
        return settings.tier, EXPOSURES, settings.cluster.version
    # no load balancer controller on kind: istio (the default) or nothing
    return "local", ("istio", "none"), settings.kind.version


STACK_CASES = [(stack, exposure) for stack in stack_names() for exposure in stack_facts(stack)[1]]
# the default, each stack's, and every minor a stack may choose (cluster.version, kind.version)
KUBERNETES_VERSIONS = sorted({versions.DEFAULT_KUBERNETES_VERSION, *versions.KUBERNETES_VERSIONS,
                              *versions.KIND_NODE_IMAGES, *(stack_facts(s)[2] for s in stack_names())})
APPS = workloads()
SAMPLE = "sample-app"
APP_CASES = [(app, env, exposure) for app in APPS for env in ENVIRONMENTS for exposure in ("istio", "alb", "none")]


# --- rendering (harness/gitops.py; cached: each chart and values set renders once per process) ----------

def root_values(environment: str, exposure: str, hostname: str = "", **extra: Any) -> dict[str, Any]:
    return _root_values(environment, exposure, REPO, REVISION, PROJECT, hostname, **extra)


def render_root(environment: str, exposure: str, hostname: str = "") -> tuple[dict, ...]:
    return _render_root(root_values(environment, exposure, hostname))


def of_kind(objects: tuple[dict, ...], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: tuple[dict, ...], kind: str) -> dict:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_templates(objects: tuple[dict, ...]) -> Iterator[tuple[dict, dict]]:
    """(workload, pod template) of every object that runs pods."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            yield obj, obj["spec"]["template"]
        elif obj["kind"] == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]
        elif obj["kind"] == "Pod":
            yield obj, obj


@pytest.fixture(scope="module", autouse=True)
def _schemas_read_once():
    """kubernetes_validate.validate re-reads its 1.6 MB _definitions.json on every call (about 20 ms
    per object); the bundled schemas are read-only data, so read each file once for this module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents",
                      functools.cache(kubernetes_validate.utils.schema_contents))
        yield


def unknown_fields(value: Any, schema: dict, path: str = "") -> list[str]:
    """Fields of a custom resource its CRD's schema does not declare. JSON Schema lets them through, but
    the API server prunes them from a structural schema without an error: a typo (``automatd``) would
    silently do nothing. Free-form maps (no ``properties``) and preserve-unknown-fields subtrees are open."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict):
        props, extra = schema.get("properties"), schema.get("additionalProperties")
        found = []
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue  # every object has them; some CRDs (Istio's) leave them out of the schema
            if props is not None and key in props:
                found += unknown_fields(item, props[key], where)
            elif isinstance(extra, dict):
                found += unknown_fields(item, extra, where)
            elif props is not None:
                found.append(where)
        return found
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [f for i, item in enumerate(value) for f in unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def crd_problems(obj: dict) -> list[str]:
    """What the upstream CRD refuses in ``obj``, and the fields it does not declare."""
    schema = crd_validator(obj["apiVersion"], obj["kind"]).schema
    return [*schema_errors(obj), *(f"{f}: not a field of {obj['kind']}" for f in unknown_fields(obj, schema))]


# --- the packages ----------------------------------------------------------------------------------

def test_render_and_validation_packages_are_pinned():
    pins = dict(line.split("==") for line in (PROJECT_DIR / "requirements-dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for package in ("helm-python-sdk", "kubernetes-validate"):
        assert pins.get(package) == importlib.metadata.version(package), package
    # the bundled schemas reach every version a stack runs (else validate() raises)
    def minor(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split(".")[:2])

    assert all(minor(v) <= minor(kubernetes_validate.latest_version()) for v in KUBERNETES_VERSIONS)


# --- the root chart: the contract with the Argo CD add-on ---------------------------------------------

def test_root_values_hold_the_contract_keys_with_safe_defaults():
    values = yamlio.load((ROOT_CHART / "values.yaml").read_text())
    assert {"environment", "repoURL", "targetRevision", "project", "exposure", "hostname"} <= set(values)
    assert values["project"] == PROJECT and values["exposure"] == "istio" and values["hostname"] == ""
    assert values["repoURL"] == "", "no default repository: a root pointing at the wrong one would prune"
    assert set(values["workloads"]) == set(APPS), "every folder under gitops/workloads/ has a line, and no more"


@pytest.mark.parametrize(("stack", "exposure"), STACK_CASES)
def test_root_renders_one_application_per_workload_matching_the_contract(stack, exposure):
    environment = stack_facts(stack)[0]
    apps = render_root(environment, exposure)
    assert {a["kind"] for a in apps} == {"Application"}
    assert sorted(a["metadata"]["name"] for a in apps) == APPS
    for app in apps:
        name, spec = app["metadata"]["name"], app["spec"]
        assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["metadata"]["namespace"] == "argocd"
        assert app["metadata"]["finalizers"] == [FINALIZER]
        assert spec["project"] == PROJECT
        source = spec["source"]
        assert (source["repoURL"], source["targetRevision"], source["path"]) == (REPO, REVISION, f"gitops/workloads/{name}")
        assert source["helm"]["valueFiles"] == [f"values-{environment}.yaml"]
        assert source["helm"]["valuesObject"] == {"exposure": exposure, "hostname": ""}
        assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": name}
        sync = spec["syncPolicy"]
        assert sync["automated"] == {"prune": True, "selfHeal": True}
        assert sync["retry"]["limit"] >= 1 and sync["retry"]["backoff"]["factor"] >= 2
        assert "CreateNamespace=true" in sync["syncOptions"]
        labels = sync["managedNamespaceMetadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert ("istio-injection" in labels) == (exposure == "istio")
        if exposure == "istio":
            assert labels["istio-injection"] == "enabled"
        assert ("elbv2.k8s.aws/pod-readiness-gate-inject" in labels) == (exposure == "alb")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_root_applications_are_valid_against_the_upstream_crd(environment):
    for exposure in [e for e in EXPOSURES if (environment, e) != ("local", "alb")]:
        for hostname in ("", HOST):
            for app in render_root(environment, exposure, hostname):
                assert crd_problems(app) == [], app["metadata"]["name"]


@pytest.mark.parametrize(("stack", "exposure"), STACK_CASES)
def test_what_the_appprojects_must_permit(stack, exposure):
    # harness.gitops.project_needs is what the Argo CD add-on's AppProjects are checked against
    needs = project_needs(stack_facts(stack)[0], exposure, REPO)
    in_cluster = "https://kubernetes.default.svc"
    root, children = needs["root"], needs["workloads"]
    assert root == {"source_repos": {REPO}, "destinations": {(in_cluster, "argocd")}, "cluster_kinds": set(),
                    "namespaced_kinds": {("argoproj.io", "Application")}}
    assert children["source_repos"] == {REPO}
    assert children["destinations"] == {(in_cluster, app) for app in APPS}, "never argocd: see project_needs"
    assert children["cluster_kinds"] == {("", "Namespace")}, "CreateNamespace=true needs Namespace whitelisted"
    kinds = children["namespaced_kinds"]
    assert {("apps", "Deployment"), ("", "Service"), ("batch", "CronJob"), ("autoscaling", "HorizontalPodAutoscaler"),
            ("", "PersistentVolumeClaim")} <= kinds
    assert ("argoproj.io", "Application") not in kinds
    assert (("networking.istio.io", "VirtualService") in kinds) == (exposure == "istio")
    assert (("networking.k8s.io", "Ingress") in kinds) == (exposure == "alb")


def test_root_passes_the_hostname_through_unless_a_workload_has_its_own():
    for app in render_root("prod", "alb", HOST):
        assert app["spec"]["source"]["helm"]["valuesObject"] == {"exposure": "alb", "hostname": HOST}
    own = {a: {"hostname": f"{a}.example.org"} for a in APPS}
    for app in render(ROOT_CHART, root_values("prod", "istio", HOST, workloads=own), "root", "argocd"):
        name = app["metadata"]["name"]
        assert app["spec"]["source"]["helm"]["valuesObject"]["hostname"] == f"{name}.example.org"


def test_each_application_points_at_a_chart_with_its_environment_file():
    for environment in ENVIRONMENTS:
        for app in render_root(environment, "istio"):
            folder = PROJECT_DIR / app["spec"]["source"]["path"]
            assert (folder / "Chart.yaml").is_file() and (folder / "values.yaml").is_file()
            for value_file in app["spec"]["source"]["helm"]["valueFiles"]:
                assert (folder / value_file).is_file(), f"{folder.name}: {value_file} is missing (the sync would fail)"


@pytest.mark.parametrize(("values", "message"), [
    ({"environment": "qa"}, "environment must be one of dev, staging, prod, local"),
    ({"exposure": "nginx"}, "exposure must be one of istio, alb, none"),
    ({"environment": "local", "exposure": "alb"}, "exposure alb needs the AWS Load Balancer Controller"),
    ({"repoURL": ""}, "repoURL must be"),
    ({"repoURL": "ftp://example.com/repo"}, "repoURL must be"),
    ({"targetRevision": ""}, "targetRevision must not be empty"),
    ({"project": ""}, "project must not be empty"),
    ({"hostname": "App.Example.com"}, "hostname must be a DNS name"),
    ({"hostname": "https://app.example.com"}, "hostname must be a DNS name"),
    ({"workloads": {"Team_App": {}}}, "must be a DNS label"),
    ({"workloads": {"team-app": {"hostname": "Team.example.com"}}}, "workloads.team-app.hostname must be a DNS name"),
])
def test_root_refuses_values_the_platform_never_sends(values, message):
    with pytest.raises(helm_python.HelmRenderError, match=message):
        chart(ROOT_CHART).render(values={**root_values("dev", "istio"), **values}, name="root", namespace="argocd")


def test_root_accepts_ssh_repositories_any_dns_hostname_and_skips_disabled_workloads():
    ssh = render(ROOT_CHART, root_values("dev", "istio", repoURL="git@github.com:example-org/eks-platform.git"),
                 "root", "argocd")
    assert {a["spec"]["source"]["repoURL"] for a in ssh} == {"git@github.com:example-org/eks-platform.git"}
    for hostname in ("localhost", "*.apps.example.com"):
        assert render(ROOT_CHART, root_values("dev", "istio", hostname), "root", "argocd")
    off = render(ROOT_CHART, root_values("dev", "istio", workloads={a: {"enabled": False} for a in APPS}), "root", "argocd")
    assert off == ()


# --- the workload charts: every environment and exposure -----------------------------------------------

def _unique(objects: list[dict]) -> list[dict]:
    # the same Service renders in every environment: validate each distinct object once
    return list({json.dumps(o, sort_keys=True): o for o in objects}.values())


@pytest.mark.parametrize("app", APPS)
def test_every_object_is_valid_at_every_kubernetes_version_and_against_upstream_crds(app):
    objects = _unique([o for _, env, exp in [c for c in APP_CASES if c[0] == app]
                       for host in ("", HOST) for o in render_workload(app, env, exp, host)])
    groups = crd_groups()
    for obj in objects:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        label = f"{obj['kind']} {obj['metadata']['name']}"
        if group in groups:
            assert crd_problems(obj) == [], label
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{label} at {version}: {err.message} at {'.'.join(map(str, err.path))}")


@pytest.mark.parametrize(("environment", "exposure"), [(e, x) for _, e, x in APP_CASES if _ == SAMPLE])
def test_the_sample_app_has_the_whole_day_one_set(environment, exposure):
    app = SAMPLE
    objects = render_workload(app, environment, exposure)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "CronJob", "PersistentVolumeClaim",
            "ServiceAccount", "ConfigMap"} <= kinds
    assert ("PodDisruptionBudget" in kinds) == env_setting(app, environment, "pdb", "enabled")
    assert ({"Gateway", "VirtualService"} <= kinds) == (exposure == "istio")
    assert ({"Gateway", "VirtualService"} & kinds == set()) == (exposure != "istio")
    assert ("Ingress" in kinds) == (exposure == "alb")


@pytest.mark.parametrize(("app", "environment", "exposure"), APP_CASES)
def test_workloads_make_only_namespaced_objects_in_their_own_namespace(app, environment, exposure):
    objects = render_workload(app, environment, exposure)
    assert all(o["metadata"].get("namespace") in (None, app) for o in objects), "the destination namespace decides"
    # the AppProject lets workloads make namespaced objects only (and the Namespace CreateNamespace makes)
    assert {o["kind"] for o in objects} & CLUSTER_SCOPED_KINDS == set()


def env_setting(app: str, environment: str, *path: str) -> Any:
    value: Any = effective_values(app, environment)
    for key in path:
        value = value[key]
    return value


@pytest.mark.parametrize(("app", "environment", "exposure"), APP_CASES)
def test_every_workload_has_probes_resources_and_a_restricted_security_context(app, environment, exposure):
    objects = render_workload(app, environment, exposure)
    for workload, template in pod_templates(objects):
        label = f"{workload['kind']} {workload['metadata']['name']}"
        spec = template["spec"]
        assert restricted_violations(spec) == [], label
        for container in spec["containers"]:
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), f"{label}: {container['name']} {part}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, label
            assert security["allowPrivilegeEscalation"] is False, label
            assert security["capabilities"]["drop"] == ["ALL"] and not security["capabilities"].get("add"), label
            if workload["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    assert probe in container, f"{label}: {container['name']} has no {probe}"
        # writable paths are emptyDirs (or the workload's own volume), never the image
        mounts = {m["name"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert mounts <= set(volumes), label
        assert any("emptyDir" in volumes[m] for m in mounts), f"{label}: no emptyDir for the read-only image"
        assert spec.get("automountServiceAccountToken") is False, label


def restricted_violations(spec: dict) -> list[str]:
    """What the Pod Security Standards' restricted profile (kubernetes.io/docs/concepts/security/
    pod-security-standards, baseline and restricted controls) refuses in a pod spec."""
    problems = []
    pod = spec.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} is set")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']} is {sorted(kinds)}")
    if pod.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    pod_seccomp = pod.get("seccompProfile", {}).get("type")
    containers = [*spec.get("initContainers", []), *spec["containers"], *spec.get("ephemeralContainers", [])]
    for c in containers:
        sc, name = c.get("securityContext", {}), c["name"]
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        if sc.get("seccompProfile", {}).get("type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps['add']}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
    return problems


@pytest.mark.parametrize(("app", "environment", "exposure"), APP_CASES)
def test_the_objects_refer_to_each_other(app, environment, exposure):
    objects = render_workload(app, environment, exposure)
    templates = {w["metadata"]["name"]: (w, t) for w, t in pod_templates(objects)}
    accounts = {a["metadata"]["name"] for a in of_kind(objects, "ServiceAccount")}
    for workload, template in templates.values():
        labels = template["metadata"]["labels"]
        if workload["kind"] != "CronJob":
            selector = workload["spec"]["selector"]["matchLabels"]
            assert selector.items() <= labels.items()
        for spread in template["spec"].get("topologySpreadConstraints", []):
            assert spread["labelSelector"]["matchLabels"].items() <= labels.items(), "spread counts other pods"
        assert template["spec"].get("serviceAccountName", "default") in accounts | {"default"}
        ports = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])}
        ports |= {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        for c in template["spec"]["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if "httpGet" in c.get(probe, {}):
                    assert c[probe]["httpGet"]["port"] in ports, f"{c['name']} {probe} port"

    def backends(selector: dict) -> list[dict]:
        return [t for w, t in templates.values()
                if w["kind"] != "CronJob" and selector.items() <= t["metadata"]["labels"].items()]

    services = {}
    for service in of_kind(objects, "Service"):
        [pod] = backends(service["spec"]["selector"]) or [None]
        assert pod, f"Service {service['metadata']['name']} selects no pods"
        ports = {p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        ports |= {p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {service['metadata']['name']} targets {port['targetPort']}"
        fqdn = f"{service['metadata']['name']}.{app}.svc.cluster.local"
        services[fqdn] = {p["port"] for p in service["spec"]["ports"]} | {p["name"] for p in service["spec"]["ports"]}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["name"] in templates and templates[ref["name"]][0]["kind"] == ref["kind"], ref
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        assert backends(pdb["spec"]["selector"]["matchLabels"]), "the budget covers no pods"
    gateways = {g["metadata"]["name"]: g for g in of_kind(objects, "Gateway")}
    for gateway in gateways.values():
        assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}, "the platform's ingress gateway"
    for vs in of_kind(objects, "VirtualService"):
        assert vs["spec"]["gateways"] and set(vs["spec"]["gateways"]) <= set(gateways)
        for route in vs["spec"]["http"]:
            for dest in route["route"]:
                host, port = dest["destination"]["host"], dest["destination"]["port"]["number"]
                assert host in services and port in services[host], f"VirtualService routes to {host}:{port}"
    for ingress in of_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                fqdn = f"{backend['name']}.{app}.svc.cluster.local"
                assert fqdn in services and next(iter(backend["port"].values())) in services[fqdn], backend
    for cron in of_kind(objects, "CronJob"):
        # the check calls the Service, not a pod or an external address
        env = {e["name"]: e.get("value", "") for c in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
               for e in c.get("env", [])}
        if "TARGET" in env:
            assert any(env["TARGET"].startswith(f"http://{fqdn}:{port}/") for fqdn, ports in services.items()
                       for port in ports if isinstance(port, int)), env["TARGET"]


@pytest.mark.parametrize(("exposure", "hostname"), [("istio", ""), ("istio", HOST), ("alb", ""), ("alb", HOST)])
def test_exposure_answers_on_the_hostname_or_on_any_host(exposure, hostname):
    for app in APPS:
        objects = render_workload(app, "prod", exposure, hostname)
        if exposure == "istio":
            want = [hostname or "*"]
            assert [h for s in one(objects, "Gateway")["spec"]["servers"] for h in s["hosts"]] == want
            assert one(objects, "VirtualService")["spec"]["hosts"] == want
        else:
            rules = one(objects, "Ingress")["spec"]["rules"]
            assert [r.get("host") for r in rules] == [hostname or None]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_alb_ingress_is_what_the_load_balancer_controller_reads(environment):
    for app in APPS:
        ingress = one(render_workload(app, environment, "alb"), "Ingress")
        annotations = ingress["metadata"]["annotations"]
        assert ingress["spec"]["ingressClassName"] == "alb"
        assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
        want = "internet-facing" if environment == "prod" else "internal"
        assert annotations["alb.ingress.kubernetes.io/scheme"] == want
        assert json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTP": 80}]


@pytest.mark.parametrize(("app", "environment"), [(a, e) for a in APPS for e in ENVIRONMENTS])
def test_the_hpa_owns_the_replica_count_and_the_pdb_never_blocks_a_drain(app, environment):
    objects = render_workload(app, environment, "istio")
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in hpas}
    for deployment in of_kind(objects, "Deployment"):
        # with an HPA, a replicas field would be reset by Argo CD's self-heal on every scale
        assert ("replicas" in deployment["spec"]) == (deployment["metadata"]["name"] not in scaled)
    for hpa in hpas:
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        [metric] = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
        # utilisation is a share of the request: every container needs a CPU request (checked above)
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        assert "maxUnavailable" in pdb["spec"] or hpas[0]["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]


@pytest.mark.parametrize(("app", "environment"), [(a, e) for a in APPS for e in ENVIRONMENTS])
def test_a_readwriteonce_volume_is_never_shared_by_several_pods(app, environment):
    objects = render_workload(app, environment, "istio")
    claims = {c["metadata"]["name"]: c for c in of_kind(objects, "PersistentVolumeClaim")}
    assert claims
    for claim in claims.values():
        # the cluster's default class: gp3 on EKS (the platform makes it default), standard on kind
        assert "storageClassName" not in claim["spec"]
    hpa_max = {h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
               for h in of_kind(objects, "HorizontalPodAutoscaler")}
    mounted = set()
    for workload, template in pod_templates(objects):
        for volume in template["spec"].get("volumes", []):
            if "persistentVolumeClaim" not in volume:
                continue
            name = volume["persistentVolumeClaim"]["claimName"]
            assert name in claims, f"{workload['metadata']['name']} mounts {name}, which the chart does not make"
            mounted.add(name)
            if "ReadWriteOnce" not in claims[name]["spec"]["accessModes"]:
                continue
            if workload["kind"] == "CronJob":
                assert workload["spec"]["concurrencyPolicy"] == "Forbid", "two jobs would need the volume at once"
                assert workload["spec"]["jobTemplate"]["spec"].get("parallelism", 1) == 1
            else:
                most = hpa_max.get(workload["metadata"]["name"], workload["spec"].get("replicas", 1))
                assert workload["kind"] != "DaemonSet" and most == 1, (
                    f"{workload['kind']} {workload['metadata']['name']} may run {most} pods on as many nodes "
                    f"and mounts the ReadWriteOnce claim {name}")
    assert mounted == set(claims), "a claim nobody mounts"


@pytest.mark.parametrize(("app", "environment"), [(a, e) for a in APPS for e in ENVIRONMENTS])
def test_scheduling_fits_karpenter_and_kind(app, environment):
    for workload, template in pod_templates(render_workload(app, environment, "istio")):
        spec, label = template["spec"], workload["metadata"]["name"]
        affinity = spec.get("affinity", {}).get("nodeAffinity", {})
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", [])
        keys = {e["key"] for term in required for e in term.get("matchExpressions", [])} | set(spec.get("nodeSelector", {}))
        assert keys <= UNIVERSAL_NODE_LABELS, f"{label}: a hard requirement on {keys - UNIVERSAL_NODE_LABELS}"
        arch = [e["values"] for term in required for e in term["matchExpressions"] if e["key"] == "kubernetes.io/arch"]
        assert arch == [["amd64", "arm64"]], "the image is multi-arch: Graviton and x86 nodes both fit"
        preferred = {e["key"]: e["values"]
                     for p in affinity.get("preferredDuringSchedulingIgnoredDuringExecution", [])
                     for e in p["preference"]["matchExpressions"]}
        want = {"dev": ["spot"], "prod": ["on-demand"]}.get(environment)
        assert preferred.get("karpenter.sh/capacity-type") == want, label
        if workload["kind"] == "Deployment":
            spread = {s["topologyKey"]: s for s in spec["topologySpreadConstraints"]}
            assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
            zone = spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"]
            # kind's nodes have no zone label: a hard zone spread would leave the pods Pending there
            assert zone == ("DoNotSchedule" if environment == "prod" else "ScheduleAnyway"), environment
            assert all(s["maxSkew"] == 1 for s in spread.values())


@pytest.mark.parametrize("app", APPS)
def test_images_are_pinned_by_tag_and_digest(app):
    for _, template in pod_templates(render_workload(app, "prod", "istio")):
        for c in template["spec"]["containers"]:
            name, _, digest = c["image"].partition("@")
            assert ":" in name.rsplit("/", 1)[-1] and not name.endswith(":latest"), c["image"]
            assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64, c["image"]


@pytest.mark.parametrize("app", APPS)
def test_environments_differ_only_where_they_must(app):
    base = yamlio.load((WORKLOADS_DIR / app / "values.yaml").read_text())
    for environment in ENVIRONMENTS:
        path = WORKLOADS_DIR / app / f"values-{environment}.yaml"
        assert path.is_file(), f"{path.relative_to(PROJECT_DIR)} is missing: the root asks for it"
        problems = [f"{key}: {why}" for key, why in _same_or_unknown(environment_values(app, environment), base)]
        assert problems == [], f"{path.name}: {problems}"
        # the root passes these; a file that sets them would be overridden anyway
        assert not {"exposure", "hostname"} & set(environment_values(app, environment)), path.name


def _same_or_unknown(over: dict, base: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in over.items():
        path = f"{prefix}{key}"
        if not isinstance(base, dict) or key not in base:
            yield path, "not in values.yaml (a typo, or a default that belongs there)"
        elif isinstance(value, dict) and isinstance(base[key], dict):
            yield from _same_or_unknown(value, base[key], f"{path}.")
        elif value == base[key]:
            yield path, f"repeats values.yaml ({value!r})"


def test_prod_is_the_highly_available_one():
    for app in APPS:
        prod = render_workload(app, "prod", "istio")
        assert one(prod, "HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 3  # one per zone
        assert of_kind(prod, "PodDisruptionBudget")
        for environment in ("dev", "local"):
            small = render_workload(app, environment, "istio")
            assert one(small, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 1
            # one replica under a budget of zero disruptions would block every drain
            assert not of_kind(small, "PodDisruptionBudget")


def test_the_chart_refuses_an_unknown_exposure():
    for app in APPS:
        with pytest.raises(helm_python.HelmRenderError, match="exposure must be one of istio, alb, none"):
            chart(WORKLOADS_DIR / app).render(values={"exposure": "nodeport"}, name=app, namespace=app)


@pytest.mark.parametrize("chart", [ROOT_CHART, *(WORKLOADS_DIR / a for a in APPS)], ids=lambda p: p.name)
def test_charts_pass_helm_lint_strict(chart):
    values = root_values("dev", "istio") if chart == ROOT_CHART else None
    report = helm_python.lint(str(chart), values=values, strict=True)
    # severities: 1 info (an icon is recommended), 2 warning, 4 error
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] > 1] == []


@pytest.mark.parametrize(("app", "environment"), [(a, e) for a in APPS for e in ENVIRONMENTS])
def test_nginx_writes_only_to_writable_mounts(app, environment):
    objects = render_workload(app, environment, "istio")
    configs = [c for c in of_kind(objects, "ConfigMap") if "nginx.conf" in c.get("data", {})]
    if not configs:
        pytest.skip(f"{app} does not run nginx")
    conf = configs[0]["data"]["nginx.conf"]
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    [web] = [c for c in spec["containers"] if any(m.get("subPath") == "nginx.conf" for m in c["volumeMounts"])]
    volumes = {v["name"]: v for v in spec["volumes"]}
    writable = [m["mountPath"] for m in web["volumeMounts"] if "emptyDir" in volumes[m["name"]]]
    directives = [line.strip().rstrip(";").split() for line in conf.splitlines() if line.strip().endswith(";")]
    paths = [(d[0], d[1]) for d in directives
             if (d[0] == "pid" or d[0].endswith(("_temp_path", "_log"))) and d[1] != "off"]
    assert {"pid", "client_body_temp_path", "proxy_temp_path"} <= {d for d, _ in paths}
    for directive, path in paths:
        assert path.startswith("/dev/") or any(path.startswith(f"{w}/") for w in writable), (
            f"{directive} {path} is on the read-only root filesystem")
    workers = next(d[1] for d in directives if d[0] == "worker_processes")
    assert workers.isdigit(), "worker_processes auto counts the node's CPUs, not the pod's limit"
    listen = {d[1] for d in directives if d[0] == "listen"}
    assert listen == {str(p["containerPort"]) for p in web["ports"]}
    # the probes' path is answered by nginx itself
    probe = web["readinessProbe"]["httpGet"]["path"]
    assert f"location = {probe} {{" in conf
    assert "checksum/config" in deployment["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize("argv", [["--env", "prod", "--exposure", "alb", "--hostname", HOST], ["--env", "local", "--app", SAMPLE]])
def test_the_render_tool_prints_what_argo_cd_would_sync(argv, capsys):
    from tools import render_gitops

    assert render_gitops.main(argv) == 0
    printed = tuple(yamlio.load_all(capsys.readouterr().out))
    if "--app" in argv:
        assert printed == render_workload(SAMPLE, "local", "istio")
    else:
        assert printed == _render_root(_root_values("prod", "alb", render_gitops.PLACEHOLDER_REPO, hostname=HOST))


@pytest.mark.parametrize("app", APPS)
def test_a_workload_chart_is_named_after_its_folder(app):
    # a copied chart that keeps the sample's name labels its objects app.kubernetes.io/name: sample-app
    meta = yamlio.load((WORKLOADS_DIR / app / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == app
