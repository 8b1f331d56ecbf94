"""policy/: every rule against a violating and a passing case, every stack against every rule, the
stack exceptions and their config errors, and the CrossGuard pack's wiring (PolicyPack patched, so no
gRPC server starts)."""

from __future__ import annotations

import importlib.metadata
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
from pulumi.runtime import config as runtime_config
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

import versions
from harness import run_stack, stack_config, stack_names, yamlio
from harness.urns import VARIANTS
from policy import rules
from policy.pack import build_policies
from policy.rules import RULES, Resource, evaluate, recorded
from settings import PROJECT, parse_settings
from settings.policy import PolicyContext, load_policy_context
from tests.conftest import assert_config_error

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policy"
# prod with one NAT gateway: a real mandatory violation (one cached evaluation for every test here)
SINGLE_NAT = {f"{PROJECT}:network": {"natStrategy": "single"}}


def raw_config(stack: str, **extra: Any) -> dict[str, Any]:
    raw = {k.split(":", 1)[1] if k.startswith(f"{PROJECT}:") else k: v for k, v in stack_config(stack).items()}
    return {**raw, **extra}


def res(type_: str, name: str = "r", deps: tuple[str, ...] = (), **inputs: Any) -> Resource:
    return Resource(type_, name, f"urn:pulumi:dev::{PROJECT}::{type_}::{name}", unknown_checking_proxy(inputs), deps)


def trust(service: str) -> str:
    return json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                                      "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


def irsa_trust(op: str, sub: str) -> str:
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/ABC"
    return json.dumps({"Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{issuer}"},
        "Condition": {op: {f"{issuer}:sub": sub, f"{issuer}:aud": "sts.amazonaws.com"}}}]})


def iam(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


GOOD_CLUSTER = {
    "version": versions.DEFAULT_KUBERNETES_VERSION, "deletionProtection": True,
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}},
    "enabledClusterLogTypes": list(rules.ALL_LOG_TYPES), "upgradePolicy": {"supportType": "STANDARD"},
    "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
}
GOOD_LT = {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
           "blockDeviceMappings": [{"ebs": {"encrypted": "true"}}]}
GOOD_NODE_CLASS = {"spec": {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
                            "blockDeviceMappings": [{"ebs": {"encrypted": True}}],
                            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}]}}
PRIVATE_TAGS = {"karpenter.sh/discovery": "c", "kubernetes.io/role/internal-elb": "1"}


def cluster(**changes: Any) -> tuple[str, dict[str, Any]]:
    return rules.CLUSTER, {**GOOD_CLUSTER, **changes}


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(base))
    *head, last = path.split(".")
    node = out
    for key in head:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def subnets(zones: int, nats: int, public_nodes: bool = False) -> list[Resource]:
    out = [res(rules.SUBNET, f"private-{i}", availabilityZone=f"us-east-1{'abc'[i]}", tags=PRIVATE_TAGS,
               mapPublicIpOnLaunch=False) for i in range(zones)]
    out += [res(rules.SUBNET, "public-0", availabilityZone="us-east-1a", tags={"kubernetes.io/role/elb": "1"})]
    out += [res(rules.NAT, f"nat-{i}") for i in range(nats)]
    group_subnets = (out[-1 - nats].urn,) if public_nodes else tuple(s.urn for s in out[:zones])
    out.append(res(rules.NODE_GROUP, "system", group_subnets, launchTemplate={"id": "lt"}))
    return out


def vpc_with(flow_log: bool, default_sg_rules: list[Any] | None) -> list[Resource]:
    vpc = res(rules.VPC, "vpc")
    out = [vpc]
    if flow_log:
        out.append(res(rules.FLOW_LOG, "logs", (vpc.urn,), trafficType="ALL"))
    if default_sg_rules is not None:
        out.append(res(rules.DEFAULT_SG, "default", (vpc.urn,), ingress=default_sg_rules, egress=[]))
    return out


def eks_with_cni(config: str | None) -> list[Resource]:
    out = [res(rules.CLUSTER, "eks", **GOOD_CLUSTER)]
    if config is not None:
        out.append(res(rules.ADDON, "cni", addonName="vpc-cni", addonVersion="v1", configurationValues=config))
    return out


def pod_roles(associations: int) -> list[Resource]:
    role = res(rules.IAM_ROLE, "ctrl-role", assumeRolePolicy=trust("pods.eks.amazonaws.com"))
    return [role, *[res(rules.POD_IDENTITY, f"assoc-{i}", (role.urn,), namespace="kube-system",
                        serviceAccount=f"sa-{i}") for i in range(associations)]]


def helm(chart: str, version: str = "1.2.3", **values: Any) -> tuple[str, dict[str, Any]]:
    return rules.HELM_RELEASE, {"chart": chart, "version": version, "values": values}


def node_pool(**spec: Any) -> tuple[str, dict[str, Any]]:
    return rules.NODE_POOL, {"metadata": {"name": "general"}, "spec": spec}


def namespace(**labels: str) -> tuple[str, dict[str, Any]]:
    return rules.NAMESPACE, {"metadata": {"name": "ns", "labels": labels}}


WILDCARD = {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}
SCOPED = {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
CONDITIONED = {**WILDCARD, "Action": "ec2:*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}

# rule -> (violating case, passing case): a (type, inputs) pair for resource rules, resources for stack rules
CASES: dict[str, tuple[Any, Any]] = {
    "eks-endpoint-private-access": (cluster(vpcConfig={"endpointPrivateAccess": False}), cluster()),
    "eks-endpoint-no-public-cidr": (cluster(vpcConfig={"endpointPrivateAccess": True}),
                                    cluster(vpcConfig={"endpointPublicAccess": True,
                                                       "publicAccessCidrs": ["203.0.113.0/24"]})),
    "eks-secrets-encryption": (cluster(encryptionConfig=None), cluster()),
    "eks-audit-logs": (cluster(enabledClusterLogTypes=["api", "authenticator"]),
                       cluster(enabledClusterLogTypes=list(rules.AUDIT_LOG_TYPES))),
    "eks-all-control-plane-logs": (cluster(enabledClusterLogTypes=list(rules.AUDIT_LOG_TYPES)), cluster()),
    "eks-supported-version": (cluster(version="1.29"), cluster()),
    "eks-standard-support": (cluster(upgradePolicy={"supportType": "EXTENDED"}), cluster()),
    "eks-access-entries": (cluster(accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"}), cluster()),
    "eks-no-creator-admin": (cluster(accessConfig={"authenticationMode": "API"}), cluster()),
    "eks-deletion-protection": (cluster(deletionProtection=False), cluster()),
    "eks-addon-pinned": ((rules.ADDON, {"addonName": "coredns"}), (rules.ADDON, {"addonName": "coredns",
                                                                                 "addonVersion": "v1.14.7"})),
    "imdsv2-required": ((rules.LAUNCH_TEMPLATE, with_(GOOD_LT, "metadataOptions.httpTokens", "optional")),
                        (rules.NODE_CLASS, {"spec": {}})),
    "imds-hop-limit-1": ((rules.NODE_CLASS, with_(GOOD_NODE_CLASS, "spec.metadataOptions.httpPutResponseHopLimit", 2)),
                         (rules.LAUNCH_TEMPLATE, GOOD_LT)),
    "node-group-launch-template": ((rules.NODE_GROUP, {"subnetIds": ["a"]}),
                                   (rules.NODE_GROUP, {"launchTemplate": {"id": "lt", "version": "1"}})),
    "no-ssh": ((rules.NODE_GROUP, {"launchTemplate": {"id": "lt"}, "remoteAccess": {"ec2SshKey": "k"}}),
               (rules.LAUNCH_TEMPLATE, GOOD_LT)),
    "subnet-no-public-ip": ((rules.SUBNET, {"mapPublicIpOnLaunch": True}), (rules.SUBNET, {"mapPublicIpOnLaunch": False})),
    "nodes-private-subnets": (subnets(3, 3, public_nodes=True), subnets(3, 3)),
    "node-volumes-encrypted": ((rules.NODE_CLASS, with_(GOOD_NODE_CLASS, "spec.blockDeviceMappings", [{"ebs": {}}])),
                               (rules.NODE_CLASS, GOOD_NODE_CLASS)),
    "storage-class-encrypted": ((rules.STORAGE_CLASS, {"provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}}),
                                (rules.STORAGE_CLASS, {"provisioner": "ebs.csi.aws.com",
                                                       "parameters": {"encrypted": "true"}})),
    "kms-key-rotation": ((rules.KMS_KEY, {"description": "k"}), (rules.KMS_KEY, {"enableKeyRotation": True})),
    "log-group-encrypted": ((rules.LOG_GROUP, {"retentionInDays": 30}),
                            (rules.LOG_GROUP, {"kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"})),
    "log-group-retention": ((rules.LOG_GROUP, {"kmsKeyId": "k"}), (rules.LOG_GROUP, {"retentionInDays": 7})),
    "log-group-retention-year": ((rules.LOG_GROUP, {"retentionInDays": 90}), (rules.LOG_GROUP, {"retentionInDays": 365})),
    "vpc-flow-logs": (vpc_with(False, []), vpc_with(True, [])),
    "default-security-group-closed": (vpc_with(True, [{"protocol": "-1", "cidrBlocks": ["0.0.0.0/0"]}]),
                                      vpc_with(True, [])),
    "nat-per-az": (subnets(3, 1), subnets(3, 3)),
    "three-azs": (subnets(2, 2), subnets(3, 1)),
    "network-policy-enforced": (eks_with_cni(json.dumps({"enableNetworkPolicy": "false"})),
                                eks_with_cni(json.dumps({"enableNetworkPolicy": "true"}))),
    "iam-no-wildcard-admin": ((rules.IAM_POLICY, {"policy": iam(SCOPED, WILDCARD)}),
                              (rules.IAM_ROLE_POLICY, {"policy": iam(SCOPED, CONDITIONED)})),
    "iam-no-admin-managed-policy": ((rules.IAM_ATTACHMENT, {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
                                    (rules.IAM_ATTACHMENT, {"policyArn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"})),
    "pod-role-one-service-account": (pod_roles(2), pod_roles(1)),
    "pod-role-one-service-account (IRSA)": (
        [res(rules.IAM_ROLE, "irsa", assumeRolePolicy=irsa_trust("StringLike", "system:serviceaccount:kube-system:*"))],
        [res(rules.IAM_ROLE, "irsa", assumeRolePolicy=irsa_trust("StringEquals", "system:serviceaccount:kube-system:sa"))]),
    "helm-release-pinned": (helm("karpenter", version="^1.14"), helm("karpenter", version="1.14.1")),
    "no-latest-image-tag": (helm("gateway", image={"repository": "istio/proxyv2", "tag": "latest"}),
                            helm("gateway", image={"repository": "istio/proxyv2", "tag": "1.31.1"})),
    "no-latest-image-tag (workload)": (("kubernetes:apps/v1:Deployment", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "nginx"}]}}}}),
        ("kubernetes:apps/v1:Deployment", {"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "nginx:1.29@sha256:abc"}], "initContainers": []}}}})),
    "no-latest-image-tag (chart default)": (helm("istiod", pilot={"image": "pilot:latest"}),
                                            helm("istiod", pilot={"image": ""})),
    "controller-replicas": (helm("metrics-server"), helm("metrics-server", replicas=2)),
    "controller-pdb": (helm("aws-load-balancer-controller", replicaCount=2),
                       helm("aws-load-balancer-controller", podDisruptionBudget={"maxUnavailable": 1})),
    "karpenter-pool-limits": (node_pool(limits={"memory": "100Gi"}), node_pool(limits={"cpu": "100"})),
    "karpenter-pool-budgets": (node_pool(disruption={}), node_pool(disruption={"budgets": [{"nodes": "10%"}]})),
    "namespace-pod-security": (namespace(**{"istio-injection": "enabled"}),
                               namespace(**{rules.PSS_LABEL: "baseline"})),
    "namespace-not-privileged": (namespace(**{rules.PSS_LABEL: "privileged"}),
                                 namespace(**{rules.PSS_LABEL: "restricted"})),
}


def findings_of(rule: rules.Rule, case: Any) -> list[rules.Finding]:
    resources = case if isinstance(case, list) else [res(case[0], **case[1])]
    return evaluate(resources, "prod", rules=[rule])


def test_there_are_at_least_30_rules_with_unique_names_sources_and_fixes():
    assert len(RULES) >= 30
    assert len(set(rules.RULE_NAMES)) == len(RULES)
    for rule in RULES:
        assert rule.source and rule.fix and set(rule.levels) == set(rules.TIERS), rule.name
        assert (rule.resource_check is None) != (rule.stack_check is None), rule.name
        # a tier that is only advisory says why
        assert rule.reason or set(rule.levels.values()) == {"mandatory"}, rule.name


def test_every_rule_has_a_violating_and_a_passing_case():
    assert {name.split(" ")[0] for name in CASES} == set(rules.RULE_NAMES)


@pytest.mark.parametrize("case", list(CASES))
def test_rule_flags_the_violating_case_and_passes_the_good_one(case):
    rule = rules.BY_NAME[case.split(" ")[0]]
    bad, good = CASES[case]
    found = findings_of(rule, bad)
    assert found, f"{rule.name} did not flag its violating case"
    assert all(f.rule == rule.name and f.level == rule.levels["prod"] for f in found)
    # the message says what is wrong, how to fix it and where the rule comes from
    assert all(f"Fix: {rule.fix}" in f.message and rule.source in f.message for f in found)
    assert findings_of(rule, good) == [], f"{rule.name} flagged its passing case"


@pytest.fixture(scope="module")
def stack_findings() -> dict[str, tuple[Any, list[rules.Finding]]]:
    """Every stack, and every variant the URN goldens keep (IRSA, Cluster Autoscaler, access entries),
    evaluated against every rule at its tier with its exceptions (the same cached evaluations)."""
    assert set(stack_names()) <= set(VARIANTS)
    out = {}
    for variant, (stack, overrides) in VARIANTS.items():
        extra = {k.split(":", 1)[1]: v for k, v in overrides.items()}
        settings = parse_settings(raw_config(stack, **extra), stack)
        out[variant] = (settings, evaluate(recorded(run_stack(stack, overrides=overrides), proxy=True),
                                           settings.tier, settings.policy.by_rule))
    return out


def test_no_stack_breaks_a_mandatory_rule(stack_findings):
    for variant, (_, found) in stack_findings.items():
        mandatory = [f"{f.rule} {f.resource}: {f.detail}" for f in found if f.level == "mandatory"]
        assert not mandatory, f"{variant} breaks mandatory rules:\n" + "\n".join(mandatory)


def test_the_rules_see_the_stacks_resources(stack_findings):
    # the rules must not pass by looking at nothing: dev really is advisory-only on its NAT and AZs, and
    # every EKS rule found its subject in prod
    _, dev = stack_findings["dev"]
    assert {"nat-per-az", "three-azs"} <= {f.rule for f in dev if f.level == "advisory"}
    types = {r.type for r in run_stack("prod")}
    for t in (rules.CLUSTER, rules.LAUNCH_TEMPLATE, rules.NODE_CLASS, rules.NODE_POOL, rules.NAMESPACE,
              rules.HELM_RELEASE, rules.FLOW_LOG, rules.DEFAULT_SG, rules.POD_IDENTITY, rules.STORAGE_CLASS):
        assert t in types


def test_a_mandatory_violation_in_a_stack_is_found():
    rec = run_stack("prod", overrides=SINGLE_NAT)
    found = evaluate(recorded(rec, proxy=True), "prod")
    assert [f.rule for f in found if f.level == "mandatory"] == ["nat-per-az"]


def test_a_stack_exception_turns_the_rule_advisory_with_its_reason():
    reason = "staging-like prod test: one NAT is accepted"
    settings = parse_settings(raw_config("prod", policy={"exceptions": [{"rule": "nat-per-az", "reason": reason}]}),
                              "prod")
    rec = run_stack("prod", overrides=SINGLE_NAT)
    found = [f for f in evaluate(recorded(rec), "prod", settings.policy.by_rule) if f.rule == "nat-per-az"]
    assert found and all(f.level == "advisory" and f.exception == reason and reason in f.message for f in found)


@pytest.mark.parametrize(("exception", "key", "valid"), [
    ({"rule": "no-such-rule", "reason": "x"}, "policy.exceptions[0].rule", "valid rules: eks-endpoint-private-access"),
    ({"rule": "nat-per-az"}, "policy.exceptions[0].reason", "required"),
    ({"rule": "nat-per-az", "reason": "   "}, "policy.exceptions[0].reason", "needs a written reason"),
])
def test_bad_exceptions_are_config_errors_naming_the_key(exception, key, valid):
    assert_config_error("dev", {"aws:region": "us-east-1", "policy": {"exceptions": [exception]}},
                        f"{PROJECT}:{key}", valid)


def test_an_unknown_rule_error_lists_every_rule():
    with pytest.raises(Exception) as err:
        parse_settings({"aws:region": "us-east-1", "policy": {"exceptions": [{"rule": "x", "reason": "y"}]}}, "dev")
    assert all(name in str(err.value) for name in rules.RULE_NAMES)


def test_a_rule_excepted_twice_is_refused():
    twice = [{"rule": "nat-per-az", "reason": "a"}, {"rule": "nat-per-az", "reason": "b"}]
    assert_config_error("dev", {"aws:region": "us-east-1", "policy": {"exceptions": twice}},
                        f"{PROJECT}:policy.exceptions", "more than once")


def test_unknown_values_in_a_preview_reach_the_sdk():
    # the SDK reports "can't run policy during preview" for an UnknownValueError: a rule must not swallow it
    inputs = unknown_checking_proxy({"vpcConfig": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"})
    with pytest.raises(UnknownValueError):
        list(rules.check_endpoint_private(rules.CLUSTER, inputs))


# ---- the CrossGuard pack --------------------------------------------------------------------------

@pytest.fixture
def pack(monkeypatch):
    """Run policy/__main__.py as the CLI would, with PolicyPack captured instead of serving gRPC."""
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: made.append(kwargs))
    saved = dict(runtime_config.CONFIG.get())

    def run(stack: str | None, config: dict[str, Any] | None = None) -> dict[str, Any]:
        made.clear()
        if stack is None:
            monkeypatch.delenv("PULUMI_STACK", raising=False)
        else:
            # what the CLI puts in the analyzer's environment (analyzer_plugin.go, constructEnv)
            cfg = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or stack_config(stack)).items()}
            monkeypatch.setenv("PULUMI_STACK", stack)
            monkeypatch.setenv("PULUMI_CONFIG", json.dumps(cfg))
            runtime_config.set_all_config(cfg)  # what pulumi.policy's entry point does with PULUMI_CONFIG
        runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
        assert len(made) == 1
        return made[0]

    yield run
    runtime_config.set_all_config(saved)


def levels(kwargs: dict[str, Any]) -> dict[str, EnforcementLevel]:
    return {p.name: p.enforcement_level for p in kwargs["policies"]}


def test_the_pack_has_a_policy_per_rule_of_the_right_kind(pack):
    kwargs = pack("prod")
    assert kwargs["name"] == "eks-platform"
    by_name = {p.name: p for p in kwargs["policies"]}
    assert list(by_name) == list(rules.RULE_NAMES)
    for rule in RULES:
        kind = ResourceValidationPolicy if rule.resource_check else StackValidationPolicy
        assert isinstance(by_name[rule.name], kind), rule.name


def test_the_pack_maps_each_rules_level_for_the_stacks_tier(pack):
    for stack in ("dev", "staging", "prod"):
        tier = parse_settings(raw_config(stack), stack).tier
        expected = {r.name: EnforcementLevel.MANDATORY if r.levels[tier] == "mandatory" else EnforcementLevel.ADVISORY
                    for r in RULES}
        assert levels(pack(stack)) == expected, stack
    assert levels(pack("dev"))["nat-per-az"] == EnforcementLevel.ADVISORY
    assert levels(pack("prod"))["nat-per-az"] == EnforcementLevel.MANDATORY


def test_the_pack_reads_the_stacks_exceptions_and_refuses_bad_ones(pack):
    config = {**stack_config("prod"), f"{PROJECT}:policy": {"exceptions": [{"rule": "nat-per-az", "reason": "test"}]}}
    assert levels(pack("prod", config))["nat-per-az"] == EnforcementLevel.ADVISORY
    bad = {**stack_config("prod"), f"{PROJECT}:policy": {"exceptions": [{"rule": "nat-per-az"}]}}
    with pytest.raises(Exception, match=r"eks-platform:policy\.exceptions\[0\]\.reason"):
        pack("prod", bad)


def test_without_a_stack_the_pack_uses_the_strictest_levels(pack):
    assert levels(pack(None)) == levels(pack("prod"))


def test_load_policy_context_without_a_stack_is_none(monkeypatch):
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    assert load_policy_context() is None


def test_pack_policies_run_the_rule_functions_on_engine_arguments():
    rec = run_stack("prod")
    lt = rec.one(rules.LAUNCH_TEMPLATE)
    bad = with_(lt.inputs, "metadataOptions.httpTokens", "optional")
    policies = {p.name: p for p in build_policies(PolicyContext("prod", "prod", {"imdsv2-required": "why"}))}
    reported: list[tuple[str, str | None]] = []
    opts = PolicyResourceOptions(False, [], False, [], None, [], None)
    args = ResourceValidationArgs(lt.type, unknown_checking_proxy(bad), lt.urn, lt.name, opts, None)
    policies["imdsv2-required"].validate(args, lambda msg, urn=None: reported.append((msg, urn)))
    assert len(reported) == 1 and "httpTokens is 'optional'" in reported[0][0]
    assert "Stack exception: why" in reported[0][0]
    # a stack policy gets every resource with its dependencies, as AnalyzeStack builds them
    single_nat = run_stack("prod", overrides=SINGLE_NAT)
    by_urn: dict[str, PolicyResource] = {}
    for r in (r for r in single_nat if r.custom):
        by_urn[r.urn] = PolicyResource(r.type, unknown_checking_proxy(dict(r.inputs)), r.urn, r.name, opts, None,
                                       None, [], {})
    for r in (r for r in single_nat if r.custom):
        by_urn[r.urn].dependencies.extend(by_urn[u] for u in r.dependencies if u in by_urn)
    reported.clear()
    policies["nat-per-az"].validate(StackValidationArgs(list(by_urn.values())),
                                    lambda msg, urn=None: reported.append((msg, urn)))
    assert len(reported) == 1 and "1 NAT gateway(s) for private subnets in 3 AZs" in reported[0][0]
    reported.clear()
    policies["nodes-private-subnets"].validate(StackValidationArgs(list(by_urn.values())),
                                               lambda msg, urn=None: reported.append((msg, urn)))
    assert reported == []


def test_pulumi_policy_yaml_runs_the_pack_in_the_projects_venv_with_one_set_of_pins():
    spec = yamlio.load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["name"] == "python"
    # the CLI's pulumi-analyzer-policy-python resolves the virtualenv from the pack's folder
    assert (POLICY_DIR / spec["runtime"]["options"]["virtualenv"]).resolve() == (ROOT / ".venv").resolve()
    assert (POLICY_DIR / "requirements.txt").read_text().splitlines()[-1] == "-r ../requirements.txt"
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert f"pulumi-policy=={importlib.metadata.version('pulumi-policy')}" in pins


def test_policy_readme_lists_the_current_rules():
    text = (POLICY_DIR / "README.md").read_text()
    assert rules.rules_table() in text, "regenerate it: python -m policy.rules --write"


def test_the_pack_boots_as_the_cli_starts_it_and_answers_over_grpc():
    """What `pulumi preview --policy-pack policy` does, minus the CLI: run pulumi.policy's entry point in
    the pack's folder with the stack in the environment (the pulumi-analyzer-policy-python shim's
    command line), read the port it prints, then ask for the policies and analyze a resource."""
    import os
    import subprocess
    import sys

    import grpc
    from google.protobuf import empty_pb2, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    cfg = {k: v if isinstance(v, str) else json.dumps(v) for k, v in stack_config("dev").items()}
    env = {**os.environ, "PULUMI_STACK": "dev", "PULUMI_PROJECT": PROJECT, "PULUMI_DRY_RUN": "true",
           "PULUMI_CONFIG": json.dumps(cfg)}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."], cwd=POLICY_DIR,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read()
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        got = {p.name: analyzer_pb2.EnforcementLevel.Name(p.enforcementLevel) for p in info.policies}
        assert info.name == "eks-platform" and set(got) == set(rules.RULE_NAMES)
        assert got["nat-per-az"] == "ADVISORY" and got["imdsv2-required"] == "MANDATORY"  # dev's levels
        props = struct_pb2.Struct()
        props.update({"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 1},
                      "blockDeviceMappings": [{"ebs": {"encrypted": "true"}}]})
        resp = stub.Analyze(analyzer_pb2.AnalyzeRequest(
            type=rules.LAUNCH_TEMPLATE, name="lt", urn=f"urn:pulumi:dev::{PROJECT}::{rules.LAUNCH_TEMPLATE}::lt",
            properties=props), timeout=30)
        assert [d.policyName for d in resp.diagnostics] == ["imdsv2-required"]
        assert "Fix: set metadataOptions.httpTokens: required" in resp.diagnostics[0].message
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("chart", "folder", "name", "defaults_key"), [
    ("karpenter", "karpenter", "values.yaml", None),
    ("aws-load-balancer-controller", "aws-load-balancer-controller", "values.yaml", None),
    ("gateway", "istio", "gateway-values.yaml", "_internal_defaults_do_not_set"),
    ("istiod", "istio", "istiod-values.yaml", "_internal_defaults_do_not_set"),
])
def test_controller_table_reads_keys_and_defaults_the_charts_have(chart, folder, name, defaults_key):
    from harness.upstream import load_yaml

    values = load_yaml(folder, name)
    values = values.get(defaults_key, values) if defaults_key else values
    ctrl = rules.CONTROLLERS[chart]
    found = [rules.get_in(values, *p.split(".")) for p in ctrl.replicas if rules.get_in(values, *p.split(".")) is not None]
    assert found, f"{chart}: none of {ctrl.replicas} is a key of its values.yaml"
    assert found[0] == ctrl.default_replicas  # the count assumed when the platform sets none
    # the budget check on the chart's own defaults agrees with what the chart renders by default
    renders_pdb = {"karpenter": True, "aws-load-balancer-controller": False, "gateway": False, "istiod": True}
    assert ctrl.pdb(values) is renders_pdb[chart]
