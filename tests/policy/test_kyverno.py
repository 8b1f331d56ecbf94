"""platform:policy:Kyverno: chart values against upstream 3.9.0, HA per tier, system nodes, webhooks on
team namespaces only, the baseline ValidatingPolicies (valid against the upstream v1 CRD, Deny/Fail on
team namespaces, Audit/Ignore elsewhere, platform namespaces excluded), the example manifests run
through harness/cel_policy.py (a real CEL engine), exceptions, monitoring, ordering, kind, the off switch,
bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

import versions
from components.core.handle import SYSTEM_NODE_LABEL, SYSTEM_TOLERATIONS
from components.policy.kyverno import CONTROLLERS, NAMESPACE, PLATFORM_NAMESPACES, TYPE, KyvernoAddOn
from components.policy.policies import TEAM_LABEL
from harness import run_stack, yamlio
from harness.cel_policy import evaluate, failing, namespace_object
from harness.upstream import load_yaml, missing_value_paths, schema_errors
from settings import parse_settings
from tests.conftest import assert_config_error, build_addon, make_settings

RELEASE = "kubernetes:helm.sh/v3:Release"
POLICY = "kubernetes:policies.kyverno.io/v1:ValidatingPolicy"
EXCEPTION = "kubernetes:policies.kyverno.io/v1:PolicyException"
EXAMPLES = Path(__file__).parent.parent / "fixtures" / "kyverno"
REGISTRIES = ["ghcr.io/acme", "123456789012.dkr.ecr.us-east-1.amazonaws.com"]
EXCEPTIONS = [{"name": "node-agent", "controls": ["disallow-host-path", "disallow-host-namespaces"],
               "namespaces": ["team-observability"], "names": ["node-agent-*"],
               "reason": "reads container logs from the node"}]
CONFIGURED = {"eks-platform:kyverno": {"allowedRegistries": REGISTRIES, "exceptions": EXCEPTIONS}}
TEAM_NS = namespace_object("team-a", {TEAM_LABEL: "team-a"})
OTHER_NS = namespace_object("default")
CONTROLS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "controllers")


def release(rec):
    return next(r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "kyverno")


def values(rec) -> dict:
    return release(rec).inputs["values"]


def policies(rec) -> dict[str, dict]:
    """The recorded ValidatingPolicies as whole objects, by name."""
    return {r.inputs["metadata"]["name"]: r.k8s_object() for r in rec.of_type(POLICY)}


def failures(found, obj, namespace, exceptions=()) -> dict[str, str]:
    """Policy name -> the variant that refused (``pod``, ``autogen-defaults``, ``autogen-cronjobs``)."""
    return {name: r.variant or "pod" for name, r in failing(found, obj, namespace, exceptions).items()}


@pytest.fixture(scope="module")
def prod():
    return run_stack("prod")


@pytest.fixture(scope="module")
def dev():
    return run_stack("dev")


@pytest.fixture(scope="module")
def configured():
    """dev with allowed registries and an exception: every policy and kind of object there is. Kyverno alone:
    every test of it reads Kyverno's own release, policies and exceptions (ordering against the rest of the
    program is asserted on ``prod``)."""
    return build_addon(KyvernoAddOn, "dev", kyverno=CONFIGURED["eks-platform:kyverno"])


# --- the release -----------------------------------------------------------------------------------

def test_chart_is_pinned_to_the_locked_version_and_values_exist_upstream(prod, configured):
    chart = release(prod)
    assert (chart.inputs["chart"], chart.inputs["version"]) == ("kyverno", "3.9.0") == (
        versions.CHARTS["kyverno"].name, load_yaml("kyverno", "Chart.yaml")["version"])
    assert chart.inputs["repositoryOpts"]["repo"] == "https://kyverno.github.io/kyverno/"
    upstream = load_yaml("kyverno", "values.yaml")
    for rec in (prod, configured, run_stack("local")):
        assert missing_value_paths(values(rec), upstream) == []
    # the chart's crds subchart installs (and upgrades) the CRDs: no separate step, nothing skipped
    assert values(prod)["crds"] == {"install": True} and not chart.inputs.get("skipCrds")


@pytest.mark.parametrize(("stack", "admission", "others"), [("dev", 1, 1), ("staging", 1, 1), ("prod", 3, 2)])
def test_replicas_and_disruption_budgets_follow_the_tier(stack, admission, others):
    v = values(run_stack(stack))
    assert [v[c]["replicas"] for c in CONTROLLERS] == [admission, others, others, others]
    for name in CONTROLLERS:
        replicas = v[name]["replicas"]
        if replicas == 1:
            # (the chart makes a budget for more than one replica only)
            assert "podDisruptionBudget" not in v[name] and "topologySpreadConstraints" not in v[name]
        else:
            assert v[name]["podDisruptionBudget"] == {"enabled": True, "minAvailable": replicas - 1,
                                                      "unhealthyPodEvictionPolicy": "AlwaysAllow"}
            (spread,) = v[name]["topologySpreadConstraints"]
            assert spread["topologyKey"] == "topology.kubernetes.io/zone"
            assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == {
                "admissionController": "admission-controller", "backgroundController": "background-controller",
                "cleanupController": "cleanup-controller", "reportsController": "reports-controller"}[name]
    assert v["admissionController"]["container"]["resources"]["limits"]["memory"] == "768Mi"
    assert v["reportsController"]["resources"]["limits"]["memory"] == "512Mi"


def test_controllers_and_hooks_run_on_the_system_nodes(prod):
    # global.* reaches the four controllers and the hook Jobs (their own values stay empty)
    assert values(prod)["global"] == {"nodeSelector": SYSTEM_NODE_LABEL, "tolerations": SYSTEM_TOLERATIONS}
    assert not any(values(prod)[c].get("nodeSelector") or values(prod)[c].get("tolerations") for c in CONTROLLERS)


def test_webhooks_see_team_namespaces_only_and_never_the_platforms(prod):
    config = values(prod)["config"]
    team, names = config["webhooks"]["namespaceSelector"]["matchExpressions"]
    assert team == {"key": TEAM_LABEL, "operator": "Exists"}
    assert names["key"] == "kubernetes.io/metadata.name" and names["operator"] == "NotIn"
    assert set(names["values"]) == set(PLATFORM_NAMESPACES) >= {
        "kube-system", "monitoring", "istio-system", "istio-ingress", "argocd", "kyverno", "logging"}
    # the chart's filters already skip kube-system, kube-public, kube-node-lease and its own namespace
    assert config["resourceFiltersIncludeNamespaces"] == ["argocd", "istio-ingress", "istio-system", "logging",
                                                         "monitoring"]
    assert values(prod)["features"]["policyExceptions"] == {"enabled": True, "namespace": NAMESPACE}


def test_monitoring_gets_service_monitors_and_the_dashboard_only_when_it_is_on(prod):
    v = values(prod)
    assert all(v[c]["serviceMonitor"] == {"enabled": True} for c in CONTROLLERS)
    # kube-prometheus-stack's Grafana sidecar loads ConfigMaps with this label from every namespace
    sidecar = load_yaml("kube-prometheus-stack", "values.yaml")["grafana"]["sidecar"]["dashboards"]
    ours = load_yaml("kyverno", "values.yaml")["grafana"]["labels"]
    assert v["grafana"] == {"enabled": True} and ours == {sidecar["label"]: sidecar["labelValue"]}
    assert sidecar["searchNamespace"] == "ALL"
    off = values(run_stack("dev", overrides={"eks-platform:observability": {"metrics": {"enabled": False}}}))
    assert off["grafana"] == {"enabled": False}
    assert not any(off[c]["serviceMonitor"]["enabled"] for c in CONTROLLERS)


# --- ordering, kind, off switch ---------------------------------------------------------------------

def test_release_after_compute_and_monitoring_crds_policies_after_the_release(prod, configured):
    chart = release(prod)
    assert prod.depends_on(chart, prod.one("aws:eks/nodeGroup:NodeGroup", "prod-nodes-system"))
    assert prod.depends_on(chart, prod.one("kubernetes:yaml/v2:ConfigGroup"))
    assert prod.depends_on(chart, prod.one("kubernetes:core/v1:Namespace", "prod-kyverno-namespace"))
    for p in prod.of_type(POLICY):
        assert p.parent_type == TYPE and prod.depends_on(p, chart), p.name
    exception = configured.one(EXCEPTION)
    assert configured.depends_on(exception, release(configured))
    # exceptions first: a workload they cover is never refused in between
    assert all(configured.depends_on(p, exception) for p in configured.of_type(POLICY))


def test_kyverno_runs_on_kind_and_can_be_switched_off():
    local = run_stack("local")
    assert local.of_type(TYPE) and len(local.of_type(POLICY)) == 14
    assert "local-path-storage" in values(local)["config"]["webhooks"]["namespaceSelector"]["matchExpressions"][1][
        "values"]
    # (the registry walk builds exactly the enabled add-ons: tests/core/test_registry.py)
    assert KyvernoAddOn.enabled(make_settings("local")) and KyvernoAddOn.enabled(make_settings("prod"))
    assert not KyvernoAddOn.enabled(make_settings("dev", kyverno={"enabled": False}))


# --- the policies -----------------------------------------------------------------------------------

def test_every_policy_and_exception_is_valid_against_the_upstream_crd(configured):
    objects = [*policies(configured).values(), *(r.k8s_object() for r in configured.of_type(EXCEPTION))]
    assert {(o["apiVersion"], o["kind"]) for o in objects} == {("policies.kyverno.io/v1", "ValidatingPolicy"),
                                                               ("policies.kyverno.io/v1", "PolicyException")}
    assert len(objects) == 17
    errors = {o["metadata"]["name"]: schema_errors(o) for o in objects}
    assert {name: found for name, found in errors.items() if found} == {}


def test_each_control_has_a_deny_and_an_audit_policy_with_their_failure_policies(configured):
    found = policies(configured)
    controls = {p["metadata"]["labels"]["platform.eks/control"] for p in found.values()}
    assert controls == set(CONTROLS)
    for control in controls:
        enforce, audit = found[control], found[f"{control}-audit"]
        for policy, action, failure, op in ((enforce, "Deny", "Fail", "Exists"), (audit, "Audit", "Ignore", "DoesNotExist")):
            spec = policy["spec"]
            assert spec["validationActions"] == [action] and spec["failurePolicy"] == failure
            assert spec["evaluation"] == {"admission": {"enabled": True}, "background": {"enabled": True}}
            # pod-controller rules come from Kyverno's autogen, so no native VAP is generated for them
            assert spec["autogen"]["validatingAdmissionPolicy"] == {"enabled": False}
            (rule,) = spec["matchConstraints"]["resourceRules"]
            assert rule == {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                            "resources": ["pods"]}
            team, names = spec["matchConstraints"]["namespaceSelector"]["matchExpressions"]
            assert team == {"key": TEAM_LABEL, "operator": op}
            assert names["operator"] == "NotIn" and set(names["values"]) == set(PLATFORM_NAMESPACES)
            assert all(len(v["message"]) > 40 for v in spec["validations"])
    # without allowed registries there is no registry policy
    assert not any("registries" in name for name in policies(run_stack("dev")))


def test_policy_names_never_move_with_the_registry_list(dev, configured):
    assert set(policies(dev)) < set(policies(configured))
    assert set(policies(configured)) - set(policies(dev)) == {"restrict-image-registries",
                                                              "restrict-image-registries-audit"}


def _example(control: str, name: str, namespace: str) -> dict:
    doc = yamlio.load((EXAMPLES / control / name).read_text())
    return {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}


@pytest.mark.parametrize("control", CONTROLS)
def test_examples_pass_every_policy_and_fail_only_their_own(configured, control):
    found = list(policies(configured).values())
    passing = sorted(p.name for p in (EXAMPLES / control).glob("*pass.yaml"))
    assert passing and (EXAMPLES / control / "fail.yaml").is_file()
    for name in passing:
        for ns, namespace in (("team-a", TEAM_NS), ("default", OTHER_NS)):
            assert failures(found, _example(control, name, ns), namespace) == {}, (name, ns)
    bad = _example(control, "fail.yaml", "team-a")
    # refused in a team namespace by the Deny policy of that control, and by nothing else
    assert failures(found, bad, TEAM_NS) == {control: "pod"}
    result = evaluate(policies(configured)[control], bad, namespace=TEAM_NS)
    assert result.denied and all(len(m) > 40 for m in result.messages)
    # reported elsewhere by its Audit policy, never refused there
    audited = failing(found, _example(control, "fail.yaml", "default"), OTHER_NS)
    assert set(audited) == {f"{control}-audit"} and not audited[f"{control}-audit"].denied
    # and never looked at in the platform's namespaces, even a labelled one
    for ns in PLATFORM_NAMESPACES:
        assert failures(found, _example(control, "fail.yaml", ns), namespace_object(ns, {TEAM_LABEL: "x"})) == {}, ns


@pytest.mark.parametrize(("example", "refused_by"), [
    ("deployment-pass.yaml", {}),
    ("deployment-no-resources-pass.yaml", {}),
    ("deployment-privileged-fail.yaml", {"disallow-privileged-containers": "autogen-defaults"}),
    ("cronjob-team-label-fail.yaml", {"require-team-label": "autogen-cronjobs"}),
    ("deployment-probes-fail.yaml", {"require-probes": "autogen-defaults"}),
])
def test_pod_controllers_are_checked_through_the_generated_policies(configured, example, refused_by):
    found = list(policies(configured).values())
    doc = _example("controllers", example, "team-a")
    assert failures(found, doc, TEAM_NS) == refused_by
    audited = {f"{name}-audit": variant for name, variant in refused_by.items()}
    assert failures(found, _example("controllers", example, "default"), OTHER_NS) == audited


def test_latest_tag_policy_catches_untagged_and_latest_images_separately(configured):
    bad = _example("disallow-latest-tag", "fail.yaml", "team-a")
    result = evaluate(policies(configured)["disallow-latest-tag"], bad, namespace=TEAM_NS)
    assert [f.index for f in result.failures] == [0, 1]
    assert "tag or a digest" in result.messages[0] and "latest tag is not allowed" in result.messages[1]


def test_job_pods_need_no_probes(configured):
    policy = policies(configured)["require-probes"]
    job_pod = _example("require-probes", "job-pass.yaml", "team-a")
    assert evaluate(policy, job_pod, namespace=TEAM_NS).verdict == "skip"
    # and the controllers that end are not generated for
    assert policy["spec"]["autogen"]["podControllers"]["controllers"] == ["daemonsets", "deployments", "replicasets",
                                                                          "statefulsets"]
    assert policies(configured)["require-requests-limits"]["spec"]["autogen"]["podControllers"] == {"controllers": []}


def test_exceptions_waive_both_halves_for_the_named_workloads(configured):
    exc = configured.one(EXCEPTION, "dev-kyverno-exception-node-agent")
    assert exc.inputs["metadata"]["namespace"] == NAMESPACE
    assert exc.inputs["metadata"]["annotations"] == {"platform.eks/reason": "reads container logs from the node"}
    assert exc.inputs["spec"]["policyRefs"] == [
        {"name": name, "kind": "ValidatingPolicy"} for name in (
            "disallow-host-path", "disallow-host-path-audit", "disallow-host-namespaces",
            "disallow-host-namespaces-audit")]
    found = list(policies(configured).values())
    exceptions = [exc.k8s_object()]
    agent = _example("disallow-host-path", "fail.yaml", "team-observability")
    agent["metadata"]["name"] = "node-agent-x7k2p"
    team_obs = namespace_object("team-observability", {TEAM_LABEL: "observability"})
    assert failures(found, agent, team_obs) == {"disallow-host-path": "pod"}
    assert failures(found, agent, team_obs, exceptions) == {}
    # a Pod not yet named is matched by its generateName; another name or namespace is not exempt
    unnamed = {**agent, "metadata": {**{k: v for k, v in agent["metadata"].items() if k != "name"},
                                     "generateName": "node-agent-"}}
    assert failures(found, unnamed, team_obs, exceptions) == {}
    other = {**agent, "metadata": {**agent["metadata"], "name": "web-1"}}
    assert failures(found, other, team_obs, exceptions) == {"disallow-host-path": "pod"}
    assert failures(found, {**agent, "metadata": {**agent["metadata"], "namespace": "team-a"}}, TEAM_NS,
                    exceptions) == {"disallow-host-path": "pod"}
    # a waived control only: the same pod's privileged container is still refused
    privileged = _example("disallow-privileged-containers", "fail.yaml", "team-observability")
    privileged["metadata"]["name"] = "node-agent-1"
    assert failures(found, privileged, team_obs, exceptions) == {"disallow-privileged-containers": "pod"}


def test_exceptions_reference_both_halves_of_each_control():
    from components.policy.policies import policy_exception

    doc = policy_exception("x", namespace=NAMESPACE, controls_waived=["require-probes", "require-requests-limits"],
                           namespaces=["team-a"], names=["*"], reason="because", allowed_registries=[])
    assert [r["name"] for r in doc["spec"]["policyRefs"]] == ["require-probes", "require-probes-audit",
                                                              "require-requests-limits", "require-requests-limits-audit"]
    assert schema_errors(doc) == []


# --- bad config ----------------------------------------------------------------------------------------

R = {"aws:region": "us-east-1"}


@pytest.mark.parametrize(("kyverno", "key", "valid"), [
    ({"allowedRegistries": ["https://ghcr.io"]}, "eks-platform:kyverno.allowedRegistries[0]", "not a registry host"),
    ({"allowedRegistries": ["nginx"]}, "eks-platform:kyverno.allowedRegistries[0]", "ghcr.io/my-org"),
    ({"allowedRegistries": ["ghcr.io/*"]}, "eks-platform:kyverno.allowedRegistries[0]", "without a scheme or wildcard"),
    ({"allowedRegistries": ["ghcr.io", "ghcr.io"]}, "eks-platform:kyverno.allowedRegistries", "once"),
    ({"admissionReplicas": 2}, "eks-platform:kyverno.admissionReplicas", "1, or 3 to 5"),
    ({"controllerReplicas": 0}, "eks-platform:kyverno.controllerReplicas", "from 1 to 3"),
    ({"exceptions": [*EXCEPTIONS, *EXCEPTIONS]}, "eks-platform:kyverno.exceptions", "unique"),
    ({"exceptions": [{**EXCEPTIONS[0], "controls": ["disallow-everything"]}]},
     "eks-platform:kyverno.exceptions[0].controls[0]", "'require-probes'"),
    ({"exceptions": [{**EXCEPTIONS[0], "controls": ["restrict-image-registries"]}]},
     "eks-platform:kyverno.exceptions", "allowedRegistries is empty"),
    ({"exceptions": [{**EXCEPTIONS[0], "reason": "x"}]}, "eks-platform:kyverno.exceptions[0].reason", "say why"),
    ({"exceptions": [{**EXCEPTIONS[0], "namespaces": ["Team_A"]}]},
     "eks-platform:kyverno.exceptions[0].namespaces[0]", "DNS label"),
])
def test_bad_config_names_the_key(kyverno, key, valid):
    assert_config_error("dev", {**R, "kyverno": kyverno}, key, valid)


def test_good_registries_are_accepted():
    ok = ["ghcr.io", "ghcr.io/acme", "localhost:5000", "registry.local:5000/team/app",
          "123456789012.dkr.ecr.us-east-1.amazonaws.com", "docker.io/library"]
    assert make_settings("dev", kyverno={"allowedRegistries": ok}).kyverno.allowed_registries == ok


def test_an_admission_controller_outage_alerts(prod):
    # (chart templates/admission-controller/_helpers.tpl: the Deployment is <chart name>-admission-controller)
    rule = prod.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "prod-monitoring-platform-rules")
    (platform,) = [g for g in rule.inputs["spec"]["groups"] if g["name"] == "platform"]
    (down,) = [r for r in platform["rules"] if r["alert"] == "PlatformControllerDown"]
    assert 'namespace="kyverno",deployment=~"kyverno-admission-controller"' in down["expr"]
    assert release(prod).inputs["name"] == "kyverno" and "nameOverride" not in values(prod)


def test_an_injected_team_needs_the_mesh_registry_in_the_allowlist():
    """issue 19, defect 4: the registry policy would refuse the injected istio-proxy and istio-validation."""
    region = {"aws:region": "us-east-1"}
    team = [{"name": "payments", "injection": True}]
    assert_config_error("dev", {**region, "kyverno": {"allowedRegistries": ["ghcr.io/acme"]}, "teams": team},
                        "eks-platform:kyverno.allowedRegistries", "add docker.io/istio")
    # a registry that only looks like a prefix is not the mesh's
    assert_config_error("dev", {**region, "kyverno": {"allowedRegistries": ["docker.io/istio-mirror"]}, "teams": team},
                        "eks-platform:kyverno.allowedRegistries", "teams[0].injection")
    for ok in (["ghcr.io/acme", "docker.io/istio"], ["docker.io"]):
        parse_settings({**region, "kyverno": {"allowedRegistries": ok}, "teams": team}, "dev")
    parse_settings({**region, "kyverno": {"allowedRegistries": ["ghcr.io/acme"]}, "teams": [{"name": "payments"}]}, "dev")
