"""platform:tenancy:Teams: per stack (two teams, one restricted, one baseline with a pool of its own),
the namespace labels, quota, limit range, network policies with their exact peers and ports, access
(EKS access entries with a namespace-scoped edit policy, kind RoleBindings), ordering, stable keys,
the team NodePool against the upstream CRD, and bad config."""

from __future__ import annotations

import pytest

from components.tenancy.teams import TYPE, Teams, TeamsAddOn, TeamsArgs, network_policies
from harness import run_stack, stack_names
from harness.fakes import fake_eks_handle, fake_kind_handle
from harness.upstream import load_yaml, schema_errors
from harness.urns import LOCAL_TEAMS, TEAM_ROLE, TEAM_ROLE2, TEAMS
from settings import parse_settings
from settings.base import fill_tier_defaults
from settings.teams import TeamSettings
from tests.conftest import DEV_SHARED_VARIANTS, assert_config_error, build_addon, make_settings, run

NAMESPACE, QUOTA, LIMITS = "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ResourceQuota", \
    "kubernetes:core/v1:LimitRange"
NETPOL, ROLE_BINDING = "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
ENTRY, ASSOC = "aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
PSS = "pod-security.kubernetes.io"
EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"


def team(**raw) -> TeamSettings:
    """One team's settings, tier defaults filled, without the stack-level checks (for component tests)."""
    return TeamSettings.model_validate(fill_tier_defaults(TeamSettings, raw, "dev"))


def teams_for(stack: str) -> list[dict]:
    return LOCAL_TEAMS if stack == "local" else TEAMS


def evaluate(stack: str, teams: list[dict] | None = None, **extra):
    return run_stack(stack, overrides={"eks-platform:teams": teams if teams is not None else teams_for(stack),
                                       **{f"eks-platform:{k}": v for k, v in extra.items()}})


@pytest.fixture(scope="module", params=stack_names())
def stack_rec(request):
    return request.param, evaluate(request.param)


def in_team(rec, type_: str, team: str):
    return [r for r in rec.of_type(type_) if r.name.startswith(f"{r.name.split('-teams-')[0]}-teams-{team}-")]


def namespaced(rec, type_: str, team: str, name: str):
    (found,) = [r for r in in_team(rec, type_, team) if r.inputs["metadata"]["name"] == name]
    return found


# --- namespaces ------------------------------------------------------------------------------------------

def test_each_team_has_a_namespace_with_pod_security_and_the_team_label(stack_rec):
    stack, rec = stack_rec
    version = make_settings(stack).cluster.version if stack != "local" else make_settings(stack).kind.version
    (payments,) = in_team(rec, NAMESPACE, "payments")
    (search,) = in_team(rec, NAMESPACE, "search")
    assert payments.inputs["metadata"]["name"] == "payments"
    assert payments.inputs["metadata"]["labels"] == {
        f"{PSS}/enforce": "restricted", f"{PSS}/enforce-version": f"v{version}",
        f"{PSS}/audit": "restricted", f"{PSS}/audit-version": "latest",
        f"{PSS}/warn": "restricted", f"{PSS}/warn-version": "latest",
        "platform.eks/team": "payments"}
    labels = search.inputs["metadata"]["labels"]
    # baseline enforced; audit and warn still report what restricted would refuse
    assert (labels[f"{PSS}/enforce"], labels[f"{PSS}/audit"], labels[f"{PSS}/warn"]) == \
        ("baseline", "restricted", "restricted")
    assert labels["platform.eks/team"] == "search" and "istio-injection" not in labels


def test_injection_labels_the_namespace_only_when_istio_runs():
    injected = team(name="mesh", injection=True)

    def program():
        Teams("t", TeamsArgs(cluster=fake_eks_handle(), teams=[injected], istio=True))
        with pytest.raises(ValueError, match="injection needs Istio"):
            TeamsArgs(cluster=fake_eks_handle(), teams=[injected], istio=False)

    rec = run(program)
    assert rec.one(NAMESPACE).inputs["metadata"]["labels"]["istio-injection"] == "enabled"


# --- quota and limit range -------------------------------------------------------------------------------

@pytest.mark.parametrize(("tier", "cpu", "memory", "pods"), [("dev", "4", "8Gi", "10"), ("prod", "16", "32Gi", "32")])
def test_quota_follows_the_tier(tier, cpu, memory, pods):
    rec = evaluate(tier)
    quota = namespaced(rec, QUOTA, "payments", "team")
    hard = quota.inputs["spec"]["hard"]
    assert (hard["requests.cpu"], hard["requests.memory"], hard["pods"]) == (cpu, memory, pods)
    # no team-owned load balancers or node ports: traffic comes in through the shared gateway
    assert hard["services.loadbalancers"] == "0" and hard["services.nodeports"] == "0"
    assert set(hard) == {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods",
                         "persistentvolumeclaims", "requests.storage", "services.loadbalancers", "services.nodeports"}


@pytest.mark.parametrize("tier", ["dev", "staging", "prod"])
def test_the_default_quota_holds_its_pods_with_their_sidecars(tier):
    """issue 19, defect 3: with istiod's own sidecar limits (2 CPU/1Gi) an injected pod counted 2.5 CPU
    and the dev quota (limits.cpu 8) held 3 pods; the platform's proxy resources let it hold quota.pods."""
    from settings.teams import pods_held

    settings = make_settings(tier, teams=[{"name": "payments", "injection": True}, {"name": "search"}])
    for t in settings.teams:
        held, _ = pods_held(t, settings.traffic.istio.proxy if t.injection else None)
        assert held >= t.quota.pods, (tier, t.name, held)


def test_a_quota_that_cannot_hold_its_pods_with_sidecars_is_refused():
    region = {"aws:region": "us-east-1"}
    # the chart's default sidecar (istiod values.yaml global.proxy.resources: limits 2000m/1024Mi)
    chart_default = load_yaml("istio", "istiod-values.yaml")["_internal_defaults_do_not_set"][
        "global"]["proxy"]["resources"]
    assert chart_default["limits"] == {"cpu": "2000m", "memory": "1024Mi"}
    proxy = {"requestsCpu": chart_default["requests"]["cpu"], "requestsMemory": chart_default["requests"]["memory"],
             "limitsCpu": chart_default["limits"]["cpu"], "limitsMemory": chart_default["limits"]["memory"]}
    assert_config_error("dev", {**region, "traffic": {"istio": {"proxy": proxy}},
                                "teams": [{"name": "payments", "injection": True}]},
                        "eks-platform:teams[0].quota.pods", "quota.limitsCpu (8) holds 3 pods")
    # without injection the same quota holds its pods; one more pod than the defaults hold is refused
    parse_settings({**region, "traffic": {"istio": {"proxy": proxy}}, "teams": [{"name": "payments"}]}, "dev")
    assert_config_error("dev", {**region, "teams": [{"name": "payments", "injection": True, "quota": {"pods": 11}}]},
                        "eks-platform:teams[0].quota.pods", "holds 10 pods")
    assert_config_error("dev", {**region, "teams": [{"name": "payments", "injection": True,
                                                     "limitRange": {"max": {"cpu": "200m"}, "defaultLimit": {
                                                         "cpu": "200m"}}}]},
                        "eks-platform:teams[0].limitRange.max.cpu", "sidecar's limit")


def test_quota_and_limit_range_from_config():
    teams = [{"name": "payments", "iamRoleArns": [TEAM_ROLE],
              "quota": {"requestsCpu": "6", "limitsCpu": 12, "pods": 24},
              "limitRange": {"defaultRequest": {"cpu": "50m"}, "max": {"memory": "8Gi"}}}]
    settings = make_settings("staging", teams=teams)

    def program():
        Teams("staging-teams", TeamsArgs(cluster=fake_eks_handle(), teams=settings.teams))

    rec = run(program, stack="staging")
    hard = namespaced(rec, QUOTA, "payments", "team").inputs["spec"]["hard"]
    assert (hard["requests.cpu"], hard["limits.cpu"], hard["pods"], hard["requests.memory"]) == ("6", "12", "24", "16Gi")
    assert namespaced(rec, LIMITS, "payments", "team").inputs["spec"] == {"limits": [{
        "type": "Container", "defaultRequest": {"cpu": "50m", "memory": "128Mi"},
        "default": {"cpu": "500m", "memory": "512Mi"}, "max": {"cpu": "2", "memory": "8Gi"}}]}


# --- network policies -----------------------------------------------------------------------------------

def by_name(ns: str) -> dict:
    return {"matchLabels": {"kubernetes.io/metadata.name": ns}}


def test_network_policies_deny_by_default_and_allow_exactly_the_platform_peers(stack_rec):
    _, rec = stack_rec
    specs = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in in_team(rec, NETPOL, "payments")}
    assert set(specs) == {"default-deny", "allow-same-namespace", "allow-dns", "allow-istiod",
                          "allow-ingress-gateway", "allow-prometheus"}
    assert specs["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert specs["allow-same-namespace"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                                             "ingress": [{"from": [{"podSelector": {}}]}],
                                             "egress": [{"to": [{"podSelector": {}}]}]}
    assert specs["allow-dns"]["egress"] == [{
        "to": [{"namespaceSelector": by_name("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    assert specs["allow-istiod"] == {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": by_name("istio-system"), "podSelector": {"matchLabels": {"app": "istiod"}}}],
        "ports": [{"protocol": "TCP", "port": 15012}]}]}
    assert specs["allow-ingress-gateway"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"namespaceSelector": by_name("istio-ingress"),
                  "podSelector": {"matchLabels": {"istio": "ingressgateway"}}}]}]}
    assert specs["allow-prometheus"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"namespaceSelector": by_name("monitoring"),
                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
        "ports": [{"protocol": "TCP", "port": p} for p in ("metrics", "http-metrics", 15020, 15090)]}]}
    for res in in_team(rec, NETPOL, "payments"):
        assert res.inputs["metadata"]["namespace"] == "payments"


def test_the_gateway_peer_matches_the_gateway_pods_label():
    # the gateway chart labels its pods istio=<release name without istio->
    from components.tenancy.teams import GATEWAY_PEER
    from components.traffic.istio import GATEWAY

    assert GATEWAY_PEER["podSelector"]["matchLabels"]["istio"] == GATEWAY.removeprefix("istio-") == "ingressgateway"


def test_without_istio_or_monitoring_their_allow_rules_go():
    team = make_settings(teams=[{"name": "payments", "metricsPorts": [8080]}]).teams[0]
    plain = network_policies(team, istio=False, monitoring=False)
    assert set(plain) == {"default-deny", "allow-same-namespace", "allow-dns"}
    scraped = network_policies(team, istio=False, monitoring=True)
    assert scraped["allow-prometheus"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    cidrs = make_settings(teams=[{"name": "payments", "egressCidrs": ["10.20.0.0/16"]}]).teams[0]
    assert network_policies(cidrs, istio=False, monitoring=False)["allow-egress-cidrs"] == {
        "podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}]}
    none = make_settings(teams=[{"name": "payments", "metricsPorts": []}]).teams[0]
    assert "allow-prometheus" not in network_policies(none, istio=False, monitoring=True)


def test_istio_off_in_a_stack_drops_the_mesh_rules():
    rec = build_addon(TeamsAddOn, "dev", teams=TEAMS, traffic={"istio": {"enabled": False}})
    names = {r.inputs["metadata"]["name"] for r in in_team(rec, NETPOL, "payments")}
    assert "allow-istiod" not in names and "allow-ingress-gateway" not in names and "allow-dns" in names


# --- access -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", [s for s in stack_names() if s != "local"])
def test_iam_roles_get_one_access_entry_each_and_edit_scoped_to_their_namespaces(stack):
    rec = evaluate(stack)
    entries = {r.inputs["principalArn"]: r for r in rec.of_type(ENTRY) if "-teams-" in r.name}
    assert set(entries) == {TEAM_ROLE, TEAM_ROLE2}
    assert all(e.inputs["type"] == "STANDARD" and e.parent_type == TYPE for e in entries.values())
    assocs = {r.name: r for r in rec.of_type(ASSOC) if "-teams-" in r.name}
    assert set(assocs) == {e.name for e in entries.values()}  # keyed by the principal, like the cluster's
    scopes = {entries_name: a.inputs["accessScope"] for entries_name, a in assocs.items()}
    shared = entries[TEAM_ROLE].name
    assert scopes[shared] == {"type": "namespace", "namespaces": ["payments", "search"]}
    assert scopes[entries[TEAM_ROLE2].name] == {"type": "namespace", "namespaces": ["search"]}
    assert {a.inputs["policyArn"] for a in assocs.values()} == {EDIT}
    assert entries[TEAM_ROLE].name == f"{stack}-teams-access-123456789012-role-Payments"


def test_a_scope_change_replaces_the_association_delete_first():
    """issue 19, defect 1: EKS keys an association by (cluster, principal, policy); a namespace change
    replaces it, which must delete the old one before creating the new one."""
    rec = evaluate("dev")
    assocs = [r for r in rec.of_type(ASSOC) if "-teams-" in r.name]
    assert assocs and all(a.delete_before_replace for a in assocs)
    cluster_assocs = [r for r in rec.of_type(ASSOC) if "-teams-" not in r.name]
    assert all(a.delete_before_replace for a in cluster_assocs)


def test_access_entries_wait_for_the_cluster_only(stack_rec):
    stack, rec = stack_rec
    entries = [r for r in rec.of_type(ENTRY) + rec.of_type(ASSOC) if "-teams-" in r.name]
    if stack == "local":
        assert not entries
        return
    cluster = rec.one("aws:eks/cluster:Cluster")
    groups = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    for res in entries:
        assert rec.waits_for(res, cluster), res.name
        assert not any(rec.waits_for(res, g) for g in groups), res.name


def test_kind_binds_the_listed_users_and_groups_to_edit_in_their_namespace():
    rec = evaluate("local")
    bindings = {r.inputs["metadata"]["namespace"]: r.inputs for r in rec.of_type(ROLE_BINDING)}
    assert bindings["payments"]["subjects"] == [
        {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]
    assert bindings["search"]["subjects"] == [
        {"kind": "Group", "name": "search-devs", "apiGroup": "rbac.authorization.k8s.io"}]
    assert {b["roleRef"]["name"] for b in bindings.values()} == {"edit"}
    assert {b["roleRef"]["kind"] for b in bindings.values()} == {"ClusterRole"}
    assert not rec.of_type(ENTRY)


def test_eks_makes_no_role_bindings():
    assert not evaluate("dev").of_type(ROLE_BINDING)


# --- the team pool ---------------------------------------------------------------------------------------

def test_a_team_pool_is_tainted_and_labelled_for_the_team_and_valid_against_the_crd():
    rec = evaluate("dev")
    (pool,) = [r for r in rec.of_type(NODE_POOL) if r.parent_type == TYPE]
    assert pool.inputs["metadata"]["name"] == "team-search"
    template = pool.inputs["spec"]["template"]
    assert template["metadata"]["labels"] == {"workload": "search", "platform.eks/team": "search"}
    assert template["spec"]["taints"] == [{"key": "platform.eks/team", "value": "search", "effect": "NoSchedule"}]
    # Karpenter's default limits and budgets fill what the team leaves out
    assert pool.inputs["spec"]["limits"] == {"cpu": "64", "memory": "256Gi"}
    assert schema_errors({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "team-search"},
                          "spec": pool.inputs["spec"]}) == []
    controller = next(r for r in rec.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "karpenter")
    assert rec.waits_for(pool, controller)
    assert not [r for r in rec.of_type(NODE_POOL) if r.parent_type == TYPE and "payments" in r.name]


# --- ordering and stable keys ---------------------------------------------------------------------------

def test_namespace_first_and_every_object_waits_for_readiness(stack_rec):
    _, rec = stack_rec
    groups = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    istio = [r for r in rec.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "istiod"]
    assert istio
    for team in ("payments", "search"):
        (ns,) = in_team(rec, NAMESPACE, team)
        objects = [*in_team(rec, QUOTA, team), *in_team(rec, LIMITS, team), *in_team(rec, NETPOL, team),
                   *in_team(rec, ROLE_BINDING, team)]
        assert len(objects) >= 5
        for obj in objects:
            assert rec.depends_on(obj, ns), obj.name
        for obj in [ns, *objects]:
            assert all(rec.waits_for(obj, g) for g in groups), obj.name
            assert rec.waits_for(obj, istio[0]), obj.name


def urn_set(rec) -> dict[str, str]:
    """URN -> the Kubernetes namespace and name (or the access scope) it holds: a rename, or two teams
    swapping names, both show."""
    def what(r):
        meta = r.inputs.get("metadata") or {}
        return f"{meta.get('namespace')}/{meta.get('name')}/{r.inputs.get('accessScope')}"
    return {r.urn: what(r) for r in rec}


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_reordering_teams_and_their_roles_renames_nothing(stack):
    teams = teams_for(stack)
    shuffled = [dict(t) for t in reversed(teams)]
    for t in shuffled:
        if "iamRoleArns" in t:
            t["iamRoleArns"] = list(reversed(t["iamRoleArns"]))
    before, after = evaluate(stack), evaluate(stack, shuffled)
    assert urn_set(before) == urn_set(after)


def test_no_teams_no_component():
    assert not make_settings().teams
    assert not run_stack("dev").of_type(TYPE)


# --- bad config -----------------------------------------------------------------------------------------

ROLE = "arn:aws:iam::123456789012:role/Team"


@pytest.mark.parametrize(("stack", "teams", "key", "valid"), [
    ("dev", [{"name": "Payments_Team"}], "teams[0].name", "DNS label"),
    ("dev", [{"name": "payments"}, {"name": "payments"}], "teams", "must be unique"),
    ("dev", [{"name": "payments", "quota": {"requestsCpu": "lots"}}], "teams[0].quota.requestsCpu", "CPU quantity"),
    ("dev", [{"name": "payments", "quota": {"limitsMemory": "1Gb"}}], "teams[0].quota.limitsMemory",
     "memory quantity"),
    ("dev", [{"name": "payments", "quota": {"requestsCpu": "10", "limitsCpu": "4"}}], "teams[0].quota.limitsCpu",
     "at least requestsCpu"),
    ("dev", [{"name": "payments", "limitRange": {"defaultLimit": {"cpu": "50m"}}}],
     "teams[0].limitRange.defaultLimit.cpu", "at least defaultRequest.cpu"),
    ("dev", [{"name": "payments", "limitRange": {"max": {"cpu": "16"}}}], "teams[0].limitRange.max.cpu",
     "at most quota.limitsCpu (8)"),
    ("dev", [{"name": "payments", "egressCidrs": ["10.0.0.1"]}], "teams[0].egressCidrs[0]", "prefix length"),
    ("dev", [{"name": "payments", "iamRoleArns": ["arn:aws:iam::123456789012:user/bob"]}],
     "teams[0].iamRoleArns[0]", "not an IAM role ARN"),
    ("dev", [{"name": "payments", "iamRoleArns": ["Payments"]}], "teams[0].iamRoleArns[0]", "not an IAM role ARN"),
    ("dev", [{"name": "monitoring"}], "teams[0].name", "platform namespace"),
    ("dev", [{"name": "kyverno"}], "teams[0].name", "platform namespace"),
    ("dev", [{"name": "kube-team"}], "teams[0].name", "kube-*"),
    ("local", [{"name": "payments", "iamRoleArns": [ROLE]}], "teams[0].iamRoleArns", "users and groups"),
    ("dev", [{"name": "payments", "users": ["alice"]}], "teams[0].users", "iamRoleArns"),
    ("dev", [{"name": "payments", "metricsPorts": ["Metrics_Port"]}], "teams[0].metricsPorts", "port name"),
    ("local", [{"name": "payments", "nodePool": {}}], "teams[0].nodePool", "needs Karpenter"),
    ("dev", [{"name": "payments", "nodePool": {"name": "mine"}}], "teams[0].nodePool.name", "team-<team name>"),
    ("dev", [{"name": "payments", "nodePool": {"nodeClass": "gpu"}}], "teams[0].nodePool.nodeClass",
     "no node class named 'gpu'"),
    ("dev", [{"name": "payments", "nodePool": {"taints": [{"key": "x", "effect": "Sometimes"}]}}],
     "teams[0].nodePool.taints[0].effect", None),
])
def test_bad_team_config_is_refused_naming_the_key(stack, teams, key, valid):
    raw = {"teams": teams} if stack == "local" else {"aws:region": "us-east-1", "teams": teams}
    assert_config_error(stack, raw, f"eks-platform:{key}", valid)


def test_cross_section_conflicts_are_refused():
    region = {"aws:region": "us-east-1"}
    assert_config_error("dev", {**region, "traffic": {"istio": {"enabled": False}},
                                "teams": [{"name": "payments", "injection": True}]},
                        "eks-platform:teams[0].injection", "traffic.istio.enabled is false")
    assert_config_error("dev", {**region, "autoscaling": "cluster-autoscaler",
                                "teams": [{"name": "payments", "nodePool": {}}]},
                        "eks-platform:teams[0].nodePool", "autoscaling 'cluster-autoscaler'")
    assert_config_error("dev", {**region, "karpenter": {"nodePools": [{"name": "team-payments"}]},
                                "teams": [{"name": "payments", "nodePool": {}}]},
                        "eks-platform:teams[0].nodePool", "taken by a karpenter.nodePools entry")
    assert_config_error("dev", {**region, "cluster": {"adminPrincipalArns": [ROLE]},
                                "teams": [{"name": "payments", "iamRoleArns": [ROLE]}]},
                        "eks-platform:teams[0].iamRoleArns[0]", "from cluster.adminPrincipalArns[0]")
    assert_config_error("dev", {**region, "traffic": {"istio": {"injectedNamespaces": ["payments"]}},
                                "teams": [{"name": "payments"}]},
                        "eks-platform:traffic.istio.injectedNamespaces", "team namespaces")


def test_component_args_refuse_what_their_cluster_cannot_do():
    def program():
        kind = fake_kind_handle()
        with pytest.raises(ValueError, match="iamRoleArns"):
            TeamsArgs(cluster=kind, teams=[team(name="a", iamRoleArns=[ROLE])])
        with pytest.raises(ValueError, match="nodePool needs Karpenter"):
            TeamsArgs(cluster=fake_eks_handle(), teams=[team(name="a", nodePool={})])

    run(program)


def test_a_team_may_join_the_mesh_with_restricted_pod_security():
    """With the Istio CNI node agent, injected pods need no istio-init with NET_ADMIN: an injected team
    namespace keeps Pod Security restricted (the teams' default)."""
    # with Grafana routed through the gateway too (test_routes.py reads it; orthogonal: one evaluation)
    rec = run_stack("dev", overrides=DEV_SHARED_VARIANTS["routed-grafana-injected-team"])
    (ns,) = [r for r in rec.of_type(NAMESPACE) if r.inputs["metadata"]["name"] == "payments"]
    labels = ns.inputs["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    cni = next(r for r in rec.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "cni")
    assert rec.waits_for(ns, cni)


@pytest.mark.parametrize("variant", ["dev-teams", "local-teams"])
def test_team_namespaces_come_after_the_kyverno_policies(variant):
    """Kyverno's policies exist before a team namespace (so before any team workload), and on destroy the
    teams go first, while the webhooks still answer."""
    from harness.urns import VARIANTS

    stack, overrides = VARIANTS[variant]
    rec = run_stack(stack, overrides=overrides)
    policies = rec.of_type("kubernetes:policies.kyverno.io/v1:ValidatingPolicy")
    assert policies
    for ns in (r for r in rec.of_type(NAMESPACE) if r.parent_type == TYPE):
        assert all(rec.waits_for(ns, p) for p in policies), ns.name
