"""platform:gitops:ArgoCd: the chart's values for every stack (key paths upstream, HA in prod, system nodes,
Dex off, insecure only behind the gateway or an ALB, ServiceMonitors with monitoring), the admin password
and credentials kept out of every value in clear, the bootstrap objects valid against the upstream CRDs,
the ordering both ways, and bad config."""

from __future__ import annotations

import pytest

from components.gitops.argo import BOOTSTRAP_PROJECT, FINALIZER, WORKLOADS_PROJECT
from components.gitops.argocd import TYPE, ArgoCdAddOn
from components.gitops.bootstrap import TYPE as BOOTSTRAP_TYPE
from components.gitops.bootstrap import GitOpsBootstrapAddOn
from harness import run_stack, stack_names
from harness.upstream import chart_missing_paths, schema_errors
from harness.urns import VARIANTS
from settings import ConfigError, parse_settings
from tests.conftest import build_addon
from tests.observability.test_monitoring import SECRET_SIG, clear_occurrences

RELEASE = "kubernetes:helm.sh/v3:Release"
REPO = "https://github.com/acme/eks-platform.git"
GITOPS = VARIANTS["dev-gitops"][1]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nmock-deploy-key\n-----END OPENSSH PRIVATE KEY-----"
OIDC_SECRET = "mock-oidc-secret"
# a private repository (an SSH deploy key) and SSO (an OIDC client secret, the admin off, the UI through the
# gateway): orthogonal parts of Argo CD's config, both secret, so their two tests share one evaluation; each
# still scans every resource of the program for its own clear text
PRIVATE_SSO = {"eks-platform:argocd": {
    "repoUrl": "git@github.com:acme/eks-platform.git", "revision": "v1.2.0",
    "credentials": {"type": "ssh", "sshPrivateKey": KEY},
    "adminEnabled": False, "exposure": {"exposure": "istio", "hostname": "argocd.example.com"},
    "oidc": {"issuer": "https://login.example.com", "clientId": "argocd", "clientSecret": OIDC_SECRET,
             "adminGroups": ["platform-admins"]}}}


def chart(rec, name="argo-cd"):
    return next(r for r in rec.of_type(RELEASE) if r.inputs["chart"] == name)


def custom(rec, kind):
    return [r for r in rec if r.type == f"kubernetes:argoproj.io/v1alpha1:{kind}"]


def obj(r):
    return r.k8s_object()


@pytest.fixture(scope="module")
def gitops():
    return run_stack("dev", overrides=GITOPS)


@pytest.fixture(scope="module")
def private_sso():
    return run_stack("dev", overrides=PRIVATE_SSO, secrets=("eks-platform:argocd",))


@pytest.mark.parametrize("stack", [*stack_names(), "dev-gitops"])
def test_values_exist_upstream(stack):
    rec = run_stack(*VARIANTS[stack]) if stack in VARIANTS else run_stack(stack)
    values = chart(rec).inputs["values"]
    assert chart(rec).inputs["version"] == "10.1.1"
    assert chart_missing_paths("argo-cd", values) == []


@pytest.mark.parametrize(("stack", "ha"), [("dev", False), ("staging", False), ("prod", True), ("local", False)])
def test_ha_in_prod_single_replicas_elsewhere(stack, ha):
    values = chart(run_stack(stack)).inputs["values"]
    replicas = 2 if ha else 1
    for component in ("server", "repoServer", "applicationSet"):
        assert values[component]["replicas"] == replicas, component
        assert values[component]["pdb"]["enabled"] is ha, component
    assert values["redis-ha"]["enabled"] is ha
    assert values.get("redis", {}).get("enabled", True) is not ha
    assert values["controller"]["resources"]["limits"]["memory"] == {"dev": "512Mi", "staging": "1Gi",
                                                                     "prod": "2Gi", "local": "512Mi"}[stack]


def test_on_the_system_nodes_dex_off_and_metrics_with_monitoring():
    values = chart(run_stack("prod")).inputs["values"]
    assert values["global"]["nodeSelector"] == {"platform.eks/node-group": "system"}
    assert values["global"]["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    assert values["dex"] == {"enabled": False}
    for component in ("controller", "server", "repoServer", "applicationSet", "notifications"):
        assert values[component]["metrics"] == {"enabled": True, "serviceMonitor": {"enabled": True}}, component
    off = chart(run_stack("dev", overrides={"eks-platform:observability": {"metrics": {"enabled": False}}}))
    assert off.inputs["values"]["server"]["metrics"] == {"enabled": False, "serviceMonitor": {"enabled": False}}
    # kind: no system nodes, no tolerations
    assert chart(run_stack("local")).inputs["values"]["global"] == {"nodeSelector": {}, "tolerations": []}


def test_server_insecure_only_when_tls_ends_in_front(gitops):
    assert chart(run_stack("dev")).inputs["values"]["configs"]["params"] == {"server.insecure": False}
    values = chart(gitops).inputs["values"]
    assert values["configs"]["params"] == {"server.insecure": True}
    assert values["global"]["domain"] == "argocd.dev.example.com"
    (route,) = [r for r in gitops if r.type.endswith(":VirtualService") and r.name.endswith("-argocd")]
    assert route.inputs["spec"]["http"][0]["route"][0]["destination"] == {
        "host": "argocd-server.argocd.svc.cluster.local", "port": {"number": 80}}
    assert schema_errors(obj(route)) == []
    alb = chart(build_addon(ArgoCdAddOn, "dev", argocd={"exposure": {
        "exposure": "alb", "hostname": "argocd.example.com", "certificateArn": CERT}}))
    ingress = alb.inputs["values"]["server"]["ingress"]
    assert (ingress["controller"], ingress["ingressClassName"], ingress["hostname"]) == ("aws", "alb",
                                                                                        "argocd.example.com")
    assert ingress["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert alb.inputs["values"]["configs"]["params"] == {"server.insecure": True}


def test_admin_password_is_generated_and_only_its_hash_reaches_argocd(gitops):
    generated = gitops.one("random:index/randomPassword:RandomPassword", "dev-argocd-admin")
    assert generated.inputs["length"] == 32
    secret = next(r for r in gitops.of_type("kubernetes:core/v1:Secret")
                  if r.inputs["metadata"]["name"] == "argocd-secret")
    data = secret.inputs["stringData"]
    assert data[SECRET_SIG] and data["value"]["admin.password"] == generated.outputs["bcryptHash"]
    assert generated.outputs["result"] not in str(data["value"])
    values = chart(gitops).inputs["values"]
    assert values["configs"]["secret"] == {"createSecret": False}
    assert SECRET_SIG not in values  # no secret inside the values: they stay readable in state and in tests
    assert gitops.depends_on(chart(gitops), secret)
    assert "argocdAdminPassword" in gitops.secret_exports


def test_without_the_admin_user_no_password_is_made_or_exported(private_sso):
    # argocd.adminEnabled false (PRIVATE_SSO): nothing to log in with, so nothing generated or exported
    assert [r.name for r in private_sso.of_type("random:index/randomPassword:RandomPassword")] == \
        ["dev-monitoring-grafana-admin"]  # Grafana's, not Argo CD's
    assert "argocdAdminPassword" not in private_sso.exports
    secret = next(r for r in private_sso.of_type("kubernetes:core/v1:Secret")
                  if r.inputs["metadata"]["name"] == "argocd-secret")
    assert sorted(secret.inputs["stringData"]["value"]) == ["oidc.clientSecret"]


def test_private_repository_credentials_are_a_secret_only(private_sso):
    private = private_sso
    (repo,) = [r for r in private.of_type("kubernetes:core/v1:Secret")
               if r.inputs["metadata"]["name"] == "platform-repository"]
    assert repo.inputs["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "repository"}
    assert repo.inputs["stringData"][SECRET_SIG]
    leaks = [f"{r.name}{p}" for r in private for p in clear_occurrences(r.inputs, "mock-deploy-key")]
    leaks += [f"{r.name}{p}" for r in private for p in clear_occurrences(r.outputs, "mock-deploy-key")
              if r.type != "kubernetes:core/v1:Secret"]
    assert leaks == []
    (root,) = custom(private, "Application")
    assert root.inputs["spec"]["source"]["repoURL"] == "git@github.com:acme/eks-platform.git"
    assert root.inputs["spec"]["source"]["targetRevision"] == "v1.2.0"


def test_bootstrap_objects_are_valid_and_restricted(gitops):
    projects = {r.inputs["metadata"]["name"]: r for r in custom(gitops, "AppProject")}
    (root,) = custom(gitops, "Application")
    for res in (*projects.values(), root):
        assert schema_errors(obj(res)) == [], res.name
    bootstrap, workloads = projects[BOOTSTRAP_PROJECT].inputs["spec"], projects[WORKLOADS_PROJECT].inputs["spec"]
    assert bootstrap["sourceRepos"] == workloads["sourceRepos"] == [REPO]
    assert bootstrap["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "argocd"}]
    assert bootstrap["namespaceResourceWhitelist"] == [{"group": "argoproj.io", "kind": "Application"}]
    assert bootstrap["clusterResourceWhitelist"] == []
    assert [d["namespace"] for d in workloads["destinations"]] == ["sample-app"]
    assert workloads["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    spec = root.inputs["spec"]
    assert root.inputs["metadata"]["finalizers"] == [FINALIZER]
    assert spec["project"] == BOOTSTRAP_PROJECT
    assert spec["source"]["path"] == "gitops/root"
    assert spec["source"]["helm"]["valuesObject"] == {
        "environment": "dev", "repoURL": REPO, "targetRevision": "main", "project": WORKLOADS_PROJECT,
        "exposure": "istio", "hostname": ""}
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert spec["syncPolicy"]["retry"]["backoff"]["factor"] == 2


def test_no_root_application_without_a_repository():
    rec = run_stack("dev")
    assert rec.of_type(TYPE) and rec.of_type(BOOTSTRAP_TYPE) and not custom(rec, "Application")
    assert {r.inputs["metadata"]["name"] for r in custom(rec, "AppProject")} == {BOOTSTRAP_PROJECT, WORKLOADS_PROJECT}


def test_ordering_both_ways(gitops):
    release = chart(gitops)
    (root,) = custom(gitops, "Application")
    (repository,) = [r for r in gitops.of_type("kubernetes:core/v1:Secret")
                     if r.inputs["metadata"]["name"] == "platform-repository"]
    # the root after the chart (its CRDs), its projects and its repository; on destroy it goes first
    assert gitops.waits_for(root, release) and gitops.depends_on(root, repository)
    for project in custom(gitops, "AppProject"):
        assert gitops.depends_on(root, project) and gitops.waits_for(project, release)
    # the bootstrap after what the workloads use: on destroy the root (and its workloads) go before them
    for other in ("istio-ingressgateway", "aws-load-balancer-controller", "karpenter"):
        dependency = next(r for r in gitops.of_type(RELEASE) if r.inputs.get("name") == other)
        assert gitops.waits_for(root, dependency), other
    assert gitops.waits_for(root, gitops.one("aws:eks/addon:Addon", "dev-ebs-csi-addon"))
    # Argo CD itself does not wait for the mesh or Karpenter: it installs beside them
    for other in ("istio-ingressgateway", "istiod", "karpenter"):
        dependency = next(r for r in gitops.of_type(RELEASE) if r.inputs.get("name") == other)
        assert not gitops.waits_for(release, dependency), other


def test_workload_exposure_and_environment_follow_the_stack():
    local = build_addon(GitOpsBootstrapAddOn, "local", argocd={"repoUrl": REPO})
    (root,) = custom(local, "Application")
    assert root.inputs["spec"]["source"]["helm"]["valuesObject"]["environment"] == "local"
    alb = build_addon(GitOpsBootstrapAddOn, "dev", argocd={"repoUrl": REPO}, traffic={"istio": {"enabled": False}})
    (root,) = custom(alb, "Application")
    assert root.inputs["spec"]["source"]["helm"]["valuesObject"]["exposure"] == "alb"


R = {"aws:region": "us-east-1"}


CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f9c2a6e-1b2d-4c3e-9f8a-7b6c5d4e3f21"


@pytest.mark.parametrize(("stack", "raw", "key", "valid", "secret"), [
    ("dev", {"argocd": {"repoUrl": "http://github.com/acme/x.git"}}, "argocd.repoUrl", "https:// or ssh", False),
    ("dev", {"argocd": {"repoUrl": "github.com/acme/x"}}, "argocd.repoUrl", "https:// or ssh", False),
    ("dev", {"argocd": {"repoUrl": REPO, "revision": ""}}, "argocd.revision", "must not be empty", False),
    ("dev", {"argocd": {"repoUrl": REPO, "revision": "main branch"}}, "argocd.revision", "no spaces", False),
    ("local", {"argocd": {"exposure": {"exposure": "alb", "hostname": "a.example.com", "certificateArn": CERT}}},
     "argocd.exposure.exposure", "needs the AWS Load Balancer Controller", False),
    # issue 19, defect 5: the chart's GRPC target group needs an HTTPS listener
    ("dev", {"argocd": {"exposure": {"exposure": "alb", "hostname": "a.example.com"}}},
     "argocd.exposure.certificateArn", "only on HTTPS", False),
    ("local", {"argocd": {"workloadExposure": "alb"}}, "argocd.workloadExposure",
     "needs the AWS Load Balancer Controller", False),
    ("dev", {"argocd": {"exposure": {"exposure": "istio", "hostname": "a.example.com"}},
             "traffic": {"istio": {"enabled": False}}}, "argocd.exposure.exposure", "traffic.istio.enabled is false",
     False),
    ("prod", {"argocd": {"exposure": {"exposure": "istio", "hostname": "a.example.com"}}},
     "traffic.istio.gatewayTlsSecret", "needs HTTPS", False),
    ("dev", {"argocd": {"repoUrl": REPO, "credentials": {"type": "ssh", "sshPrivateKey": KEY}}},
     "argocd.credentials.type", "an ssh URL takes type ssh", True),
    ("dev", {"argocd": {"repoUrl": REPO, "credentials": {"type": "https", "username": "x"}}},
     "argocd.credentials.password", "is required with type https", True),
    ("dev", {"argocd": {"repoUrl": REPO, "credentials": {"type": "https", "username": "x", "password": "t"}}},
     "argocd", "must be set as secret config", False),
    ("dev", {"argocd": {"adminEnabled": False}}, "argocd.adminEnabled", "configure oidc first", False),
    ("dev", {"argocd": {"oidc": {"issuer": "https://login.example.com", "clientId": "argocd",
                                 "clientSecret": "s"}}}, "argocd.oidc", "needs the UI's host name", True),
    ("dev", {"argocd": {"workloadNamespaces": ["kube-system"]}}, "argocd.workloadNamespaces",
     "belong to Kubernetes or the platform", False),
])
def test_bad_config_names_the_key(stack, raw, key, valid, secret):
    with pytest.raises(ConfigError) as err:
        parse_settings({**(R if stack != "local" else {}), **raw}, stack, frozenset({"argocd"} if secret else ()))
    assert f"eks-platform:{key}" in str(err.value) and valid in str(err.value), str(err.value)


@pytest.mark.parametrize(("stack", "overrides"), [VARIANTS["dev-gitops"], ("local", {"eks-platform:argocd": {
    "repoUrl": REPO}}), ("prod", {"eks-platform:argocd": {"repoUrl": REPO}})])
def test_the_projects_permit_what_gitops_renders(stack, overrides):
    """The root Application's values rendered through gitops/root, and each child's workload chart: every
    destination, repository and kind they need is one the two AppProjects allow (harness/gitops.py)."""
    from harness.gitops import project_needs, render_root

    # the AppProjects and the root Application are the bootstrap's alone: it is built by itself
    rec = build_addon(GitOpsBootstrapAddOn, stack, **{k.removeprefix("eks-platform:"): v for k, v in overrides.items()})
    (root,) = custom(rec, "Application")
    values = root.inputs["spec"]["source"]["helm"]["valuesObject"]
    children = render_root(values)
    assert children and {c["spec"]["project"] for c in children} == {WORKLOADS_PROJECT}
    needs = project_needs(values["environment"], values["exposure"], values["repoURL"])
    projects = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in custom(rec, "AppProject")}
    for role, project in (("root", BOOTSTRAP_PROJECT), ("workloads", WORKLOADS_PROJECT)):
        spec, need = projects[project], needs[role]
        assert need["source_repos"] <= set(spec["sourceRepos"]), role
        assert need["destinations"] <= {(d["server"], d["namespace"]) for d in spec["destinations"]}, role
        assert need["cluster_kinds"] <= {(k["group"], k["kind"]) for k in spec["clusterResourceWhitelist"]}, role
        if "namespaceResourceWhitelist" in spec:
            allowed = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
            assert need["namespaced_kinds"] <= allowed, role
        denied = {(k["group"], k["kind"]) for k in spec.get("namespaceResourceBlacklist", [])}
        assert not need["namespaced_kinds"] & denied, role


def test_sso_turns_the_admin_off_and_keeps_the_client_secret_out_of_the_values(private_sso):
    rec = private_sso
    values = chart(rec).inputs["values"]
    cm = values["configs"]["cm"]
    assert cm["admin.enabled"] is False and "clientSecret: $oidc.clientSecret" in cm["oidc.config"]
    assert "issuer: https://login.example.com" in cm["oidc.config"]
    assert values["configs"]["rbac"]["policy.csv"] == "g, platform-admins, role:admin"
    assert values["dex"] == {"enabled": False}
    assert [f"{r.name}{p}" for r in rec for p in clear_occurrences(r.inputs, OIDC_SECRET)] == []
    secret = next(r for r in rec.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "argocd-secret")
    assert secret.inputs["stringData"]["value"]["oidc.clientSecret"] == OIDC_SECRET
