"""platform:autoscaling:Karpenter: IAM, queue and rules against upstream v1.14, identity, chart values,
NodePools and EC2NodeClasses against the upstream CRDs, ordering edges, parent tree, bad config."""

from __future__ import annotations

import functools
import json
import re

import pytest

import versions
from components.autoscaling.karpenter import TYPE, Karpenter, KarpenterAddOn, KarpenterArgs
from harness import ACCOUNT_ID, run_stack, stack_config, stack_names, yamlio
from harness.fakes import CLUSTER, fake_eks_handle
from harness.upstream import load_cfn, missing_value_paths
from harness.upstream import schema_errors as crd_schema_errors
from settings import parse_settings
from tests.conftest import DEV_SHARED_VARIANTS, assert_config_error, build_addon, make_settings, policy, run, upstream

POOL = "eks-platform:karpenter.nodePools[0]"
NODE_POOL, NODE_CLASS = "kubernetes:karpenter.sh/v1:NodePool", "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"


# --- builders ------------------------------------------------------------------------------------

def build(stack: str = "dev", *, az_count: int = 3, irsa: bool = False, **karpenter):
    settings = make_settings(stack, karpenter=karpenter, cluster={"irsa": irsa})

    def program():
        Karpenter("kp", KarpenterArgs(cluster=fake_eks_handle(az_count=az_count, irsa=irsa),
                                      settings=settings.karpenter))

    return run(program, stack=stack)


@pytest.fixture(scope="module")
def rec():
    return build()


@pytest.fixture(scope="module")
def irsa_rec():
    return build(irsa=True)


def values_of(recording) -> dict:
    return controller(recording).inputs["values"]


def controller(recording):
    return next(r for r in recording.of_type(RELEASE) if r.inputs["name"] == "karpenter")


def crds(recording):
    return next(r for r in recording.of_type(RELEASE) if r.inputs["name"] == "karpenter-crd")


# --- upstream reference data -----------------------------------------------------------------------

@functools.cache
def cfn_resources() -> dict:
    return load_cfn("karpenter", "getting-started-cloudformation.yaml")["Resources"]


@functools.cache
def chart_values_yaml() -> dict:
    return yamlio.load(upstream("karpenter", "values.yaml").read_text())


def substitute(text: str, params: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: params[m.group(1)], text)


def cfn_params(recording) -> dict[str, str]:
    return {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT_ID,
            "AWS::URLSuffix": "amazonaws.com", "ClusterName": CLUSTER,
            "KarpenterNodeRole.Arn": recording.named("kp-node-role").outputs["arn"],
            "KarpenterInterruptionQueue.Arn": recording.one("aws:sqs/queue:Queue").outputs["arn"]}


def _as_set(value) -> list:
    values = value if isinstance(value, list) else [value]
    return sorted(str(v).lower() if isinstance(v, bool) else str(v) for v in values)


def normalized(stmt: dict) -> dict:
    """A statement with order and single-vs-list differences removed, for comparison."""
    return {
        "Effect": stmt["Effect"],
        "Action": _as_set(stmt["Action"]),
        "Resource": _as_set(stmt.get("Resource", [])),
        "Principal": stmt.get("Principal"),
        "Condition": {op: {k: _as_set(v) for k, v in kv.items()} for op, kv in (stmt.get("Condition") or {}).items()},
    }


OUR_POLICY = {"NodeLifecyclePolicy": "node-lifecycle", "IAMIntegrationPolicy": "iam-integration",
              "EKSIntegrationPolicy": "eks-integration", "InterruptionPolicy": "interruption",
              "ResourceDiscoveryPolicy": "resource-discovery", "ZonalShiftPolicy": "zonal-shift"}


# --- pins ------------------------------------------------------------------------------------------

def test_charts_are_pinned_to_the_upstream_chart_version():
    chart = yamlio.load(upstream("karpenter", "Chart.yaml").read_text())
    for name in ("karpenter", "karpenter-crd"):
        pinned = versions.CHARTS[name]
        assert (pinned.repo, pinned.name, pinned.version) == ("oci://public.ecr.aws/karpenter", name, chart["version"])


def test_ami_is_pinned_in_prod_and_follows_latest_elsewhere():
    assert re.match(r"^al2023@v20\d{6}$", versions.KARPENTER_AMI_ALIAS)
    aliases = {tier: make_settings(tier).karpenter.node_classes[0].ami_alias for tier in ("dev", "staging", "prod")}
    assert aliases == {"dev": "al2023@latest", "staging": "al2023@latest", "prod": versions.KARPENTER_AMI_ALIAS}


# --- AWS side ----------------------------------------------------------------------------------------

def test_node_role_has_the_upstream_policies_and_an_ec2_linux_access_entry(rec):
    upstream_role = cfn_resources()["KarpenterNodeRole"]["Properties"]
    params = cfn_params(rec)
    role = rec.named("kp-node-role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    cfn_trust = upstream_role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": substitute(cfn_trust["Principal"]["Service"]["Sub"], params)}
    assert _as_set(trust["Action"]) == _as_set(cfn_trust["Action"])
    attached = {a.inputs["policyArn"] for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == role.outputs["name"]}
    assert attached == {substitute(arn["Sub"], params) for arn in upstream_role["ManagedPolicyArns"]}
    entry = rec.one("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["type"] == "EC2_LINUX" and entry.inputs["principalArn"] == role.outputs["arn"]
    assert "kubernetesGroups" not in entry.inputs
    # EC2NodeClass.spec.role: Karpenter makes and owns the instance profile
    assert rec.of_type("aws:iam/instanceProfile:InstanceProfile") == []


def test_controller_policies_equal_upstream_statement_by_statement(rec):
    params = cfn_params(rec)
    ours = {p.name.removeprefix("kp-"): policy(p.inputs["policy"]) for p in rec.of_type("aws:iam/policy:Policy")}
    upstream_policies = {k: v for k, v in cfn_resources().items() if v["Type"] == "AWS::IAM::ManagedPolicy"}
    assert set(upstream_policies) == set(OUR_POLICY) and set(ours) == set(OUR_POLICY.values())
    for cfn_name, resource in upstream_policies.items():
        theirs = json.loads(substitute(resource["Properties"]["PolicyDocument"]["Sub"], params))["Statement"]
        mine = ours[OUR_POLICY[cfn_name]]["Statement"]
        assert [s["Sid"] for s in mine] == [s["Sid"] for s in theirs], cfn_name
        for a, b in zip(mine, theirs, strict=True):
            assert normalized(a) == normalized(b), (cfn_name, a["Sid"])


def test_controller_role_has_all_six_policies_and_pod_identity(rec):
    role = rec.named("kp-role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    attached = {a.inputs["policyArn"] for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == role.outputs["name"]}
    assert attached == {p.outputs["arn"] for p in rec.of_type("aws:iam/policy:Policy")} and len(attached) == 6
    assoc = rec.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("kube-system", "karpenter")
    assert assoc.inputs["roleArn"] == role.outputs["arn"] and assoc.inputs["clusterName"] == CLUSTER
    assert "annotations" not in values_of(rec)["serviceAccount"]


def test_irsa_variant_trusts_the_service_account_and_annotates_it(irsa_rec):
    assert irsa_rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    role = irsa_rec.named("kp-role")
    trust = policy(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"]["oidc.eks.us-east-1.amazonaws.com/id/X:sub"] == \
        "system:serviceaccount:kube-system:karpenter"
    values = values_of(irsa_rec)
    assert values["serviceAccount"] == {"name": "karpenter",
                                        "annotations": {"eks.amazonaws.com/role-arn": role.outputs["arn"]}}
    assert irsa_rec.depends_on(controller(irsa_rec), role)


def test_interruption_queue_and_its_policy_match_upstream(rec):
    resources, params = cfn_resources(), cfn_params(rec)
    queue = rec.one("aws:sqs/queue:Queue")
    cfn_queue = resources["KarpenterInterruptionQueue"]["Properties"]
    assert queue.inputs["name"] == substitute(cfn_queue["QueueName"]["Sub"], params) == CLUSTER
    assert queue.inputs["messageRetentionSeconds"] == cfn_queue["MessageRetentionPeriod"] == 300
    assert queue.inputs["sqsManagedSseEnabled"] is cfn_queue["SqsManagedSseEnabled"] is True
    queue_policy = rec.one("aws:sqs/queuePolicy:QueuePolicy")
    assert queue_policy.inputs["queueUrl"] == queue.outputs["url"]
    mine = policy(queue_policy.inputs["policy"])["Statement"]
    # Resource is !GetAtt KarpenterInterruptionQueue.Arn upstream
    theirs = [{**stmt, "Resource": params["KarpenterInterruptionQueue.Arn"]}
              for stmt in resources["KarpenterInterruptionQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]]
    by_effect = {s["Effect"]: normalized(s) for s in mine}
    assert by_effect == {s["Effect"]: normalized(s) for s in theirs}


def test_five_interruption_rules_feed_the_queue(rec):
    queue = rec.one("aws:sqs/queue:Queue")
    upstream_patterns = sorted(json.dumps(r["Properties"]["EventPattern"], sort_keys=True)
                               for r in cfn_resources().values() if r["Type"] == "AWS::Events::Rule")
    rules = rec.of_type("aws:cloudwatch/eventRule:EventRule")
    assert len(upstream_patterns) == 5
    assert sorted(json.dumps(json.loads(r.inputs["eventPattern"]), sort_keys=True) for r in rules) == upstream_patterns
    targets = rec.of_type("aws:cloudwatch/eventTarget:EventTarget")
    queue_policy = rec.one("aws:sqs/queuePolicy:QueuePolicy")
    assert len(targets) == 5
    for rule, target in zip(sorted(rules, key=lambda r: r.name), sorted(targets, key=lambda t: t.name), strict=True):
        # (the rule's auto-name is unknown under the mocks, so the target's rule input is not recorded)
        assert target.name == rule.name
        assert target.inputs["arn"] == queue.outputs["arn"]
        assert target.inputs["targetId"] == "KarpenterInterruptionQueueTarget"
        assert rec.depends_on(target, queue_policy)


def test_spot_service_linked_role_is_opt_in(rec, team_rec):
    assert rec.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole") == []
    slr = team_rec.one("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert slr.inputs["awsServiceName"] == "spot.amazonaws.com"


# --- charts --------------------------------------------------------------------------------------------

def test_charts_crds_first_then_the_controller_without_its_crds(rec):
    crd_release, release = crds(rec), controller(rec)
    assert crd_release.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter-crd"
    assert release.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert {crd_release.inputs["version"], release.inputs["version"]} == {"1.14.1"}
    assert crd_release.inputs["namespace"] == release.inputs["namespace"] == "kube-system"
    assert release.inputs["skipCrds"] is True and not crd_release.inputs.get("skipCrds")


def test_controller_values(rec):
    values, queue = values_of(rec), rec.one("aws:sqs/queue:Queue")
    assert values["settings"]["clusterName"] == CLUSTER
    # the queue's NAME, not its ARN or URL
    assert values["settings"]["interruptionQueue"] == queue.outputs["name"] == CLUSTER
    # dev runs one replica (settings/karpenter.py replicas), staging and prod two across zones
    assert values["replicas"] == 1
    assert values_of(build("staging"))["replicas"] == 2
    # dev's request is 512Mi under the 1Gi limit (settings/karpenter.py), so two system nodes hold the platform
    assert values["controller"]["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"},
                                                 "limits": {"cpu": "1", "memory": "1Gi"}}
    assert values["dnsPolicy"] == "Default"
    assert values["nodeSelector"] == {"kubernetes.io/os": "linux", "platform.eks/node-group": "system"}
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in values["tolerations"]
    # the chart's affinity keeps the controller off nodes it manages: it must stay the chart's
    assert "affinity" not in values
    chart_defaults = chart_values_yaml()
    (term,) = chart_defaults["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"} in term["matchExpressions"]


def test_controller_size_follows_the_tier_and_the_zones(team_rec):
    prod = values_of(team_rec)  # a prod stack with one zone
    # a 250m request on every tier: two 1-CPU requests left no room on the 2-vCPU system nodes
    # (tools/capacity.py); the 1-CPU limit lets the controller burst
    assert prod["controller"]["resources"] == {"requests": {"cpu": "250m", "memory": "1Gi"},
                                               "limits": {"cpu": "1", "memory": "1Gi"}}
    assert prod["replicas"] == 1


def test_on_fargate_the_controller_requests_its_limits(fargate_program):
    # Fargate sizes the pod from its requests and gives it no more: the limits are what it gets
    assert values_of(fargate_program)["controller"]["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


# Maps whose keys are the user's own (upstream's default is a free-form example, not a schema).
@pytest.mark.parametrize("variant", ["pod-identity", "irsa", "fargate"])
def test_every_value_key_path_exists_in_the_chart(variant, request):
    chart = chart_values_yaml()
    recording = request.getfixturevalue({"pod-identity": "rec", "irsa": "irsa_rec", "fargate": "fargate_program"}[variant])
    assert missing_value_paths(values_of(recording), chart) == []
    assert missing_value_paths({"webhook": {"enabled": True}, "settings": {"aws": {}}}, chart) == \
        ["webhook", "settings.aws"]


# --- NodePools and EC2NodeClasses ---------------------------------------------------------------------

def test_default_node_class_and_general_purpose_pool(rec):
    node_class = rec.one(NODE_CLASS)
    spec = node_class.inputs["spec"]
    assert node_class.inputs["metadata"] == {"name": "default"}
    assert spec["role"] == rec.named("kp-node-role").outputs["name"]
    assert "instanceProfile" not in spec
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == [
        {"tags": {"karpenter.sh/discovery": CLUSTER}}]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (disk,) = spec["blockDeviceMappings"]
    assert disk["deviceName"] == "/dev/xvda"
    assert disk["ebs"] == {"volumeSize": "50Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
    pool = rec.one(NODE_POOL)
    assert pool.inputs["metadata"] == {"name": "general-purpose"}
    template = pool.inputs["spec"]["template"]["spec"]
    assert template["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}
    requirements = {r["key"]: (r["operator"], r["values"]) for r in template["requirements"]}
    assert requirements == {
        "karpenter.sh/capacity-type": ("In", ["on-demand", "spot"]),
        "kubernetes.io/arch": ("In", ["amd64"]),
        "kubernetes.io/os": ("In", ["linux"]),
        "karpenter.k8s.aws/instance-category": ("In", ["c", "m", "r"]),
        "karpenter.k8s.aws/instance-generation": ("Gt", ["2"]),
    }
    assert template["expireAfter"] == "720h" and "taints" not in template
    assert template["terminationGracePeriod"] == "48h"
    assert pool.inputs["spec"]["limits"] == {"cpu": "64", "memory": "256Gi"}
    assert pool.inputs["spec"]["disruption"] == {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                                                 "consolidateAfter": "1m", "budgets": [{"nodes": "20%"}]}
    assert "weight" not in pool.inputs["spec"]


TEAM_POOLS = {
    "gravitonPool": True,
    "nodeClasses": [{"name": "default"}, {"name": "big-disk", "volumeSizeGib": 200}],
    "nodePools": [
        {"name": "general-purpose"},
        {"name": "team-data", "nodeClass": "big-disk", "capacityTypes": ["on-demand"], "weight": 50,
         "labels": {"team": "data"}, "taints": [{"key": "team", "value": "data", "effect": "NoSchedule"}],
         "requirements": [{"key": "karpenter.k8s.aws/instance-family", "operator": "In",
                           "values": ["r7i", "r7g"], "minValues": 2}],
         "limits": {"cpu": 32, "memory": "128Gi", "nodes": 8}, "expireAfter": "Never",
         "terminationGracePeriod": "2h",
         "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m", "budgets": [
             {"nodes": "1"},
             {"nodes": "0", "reasons": ["Underutilized", "Drifted"], "schedule": "0 8 * * mon-fri", "duration": "10h"},
         ]}},
    ],
}


@pytest.fixture(scope="module")
def team_rec():
    return build("prod", az_count=1, spotServiceLinkedRole=True, **TEAM_POOLS)


def test_team_pools_graviton_pool_and_scheduled_budgets(team_rec):
    recording = team_rec
    pools = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in recording.of_type(NODE_POOL)}
    assert sorted(pools) == ["general-purpose", "graviton", "team-data"]
    team = pools["team-data"]
    assert team["weight"] == 50 and team["template"]["metadata"] == {"labels": {"team": "data"}}
    assert team["template"]["spec"]["taints"] == [{"key": "team", "value": "data", "effect": "NoSchedule"}]
    assert team["template"]["spec"]["nodeClassRef"]["name"] == "big-disk"
    assert {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["r7i", "r7g"],
            "minValues": 2} in team["template"]["spec"]["requirements"]
    assert team["limits"] == {"cpu": "32", "memory": "128Gi", "nodes": "8"}
    assert team["disruption"]["budgets"][1] == {"nodes": "0", "reasons": ["Underutilized", "Drifted"],
                                                "schedule": "0 8 * * mon-fri", "duration": "10h"}
    graviton = pools["graviton"]
    arch = next(r for r in graviton["template"]["spec"]["requirements"] if r["key"] == "kubernetes.io/arch")
    assert arch["values"] == ["arm64"] and graviton["weight"] == 10
    # prod tier defaults where the pool sets none
    assert graviton["limits"] == {"cpu": "1000", "memory": "4000Gi"}
    assert graviton["disruption"]["budgets"] == [{"nodes": "10%"}]
    classes = {c.inputs["metadata"]["name"]: c.inputs["spec"] for c in recording.of_type(NODE_CLASS)}
    assert classes["big-disk"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == "200Gi"
    assert classes["default"]["amiSelectorTerms"] == [{"alias": versions.KARPENTER_AMI_ALIAS}]


def karpenter_stacks() -> list[str]:
    found = []
    for stack in stack_names():
        raw = {k.removeprefix("eks-platform:"): v for k, v in stack_config(stack).items()}
        settings = parse_settings(raw, stack)
        if settings.is_aws and settings.autoscaling == "karpenter":
            found.append(stack)
    return found


def schema_errors(recording) -> list[str]:
    objects = recording.of_type(NODE_POOL) + recording.of_type(NODE_CLASS)
    assert recording.of_type(NODE_POOL) and recording.of_type(NODE_CLASS)
    return [f"{obj.name}: {error}" for obj in objects for error in crd_schema_errors(obj.inputs)]


@pytest.mark.parametrize("stack", karpenter_stacks())
def test_node_pools_and_classes_of_every_stack_validate_against_the_upstream_crds(stack):
    recording = run_stack(stack)
    assert schema_errors(recording) == []
    assert sorted(recording.exports["karpenterNodePools"]) == sorted(
        r.inputs["metadata"]["name"] for r in recording.of_type(NODE_POOL))


def test_team_pools_validate_against_the_upstream_crds_too(team_rec):
    assert schema_errors(team_rec) == []
    # and the schema does refuse what it should
    assert crd_schema_errors({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "spec": {"weight": 0}})


# --- ordering, parents ----------------------------------------------------------------------------------

def test_ordering_crds_controller_classes_pools(rec):
    crd_release, release = crds(rec), controller(rec)
    node_class, pool = rec.one(NODE_CLASS), rec.one(NODE_POOL)
    assert rec.depends_on(release, crd_release)
    assert rec.depends_on(node_class, release)
    assert rec.depends_on(pool, node_class) and rec.depends_on(pool, release)
    assert not rec.depends_on(crd_release, release)
    # the controller starts with its identity, permissions and queue; it keeps them until it is gone
    assert rec.depends_on(release, rec.one("aws:eks/podIdentityAssociation:PodIdentityAssociation"))
    assert rec.depends_on(release, rec.one("aws:sqs/queue:Queue"))
    role = rec.named("kp-role")
    for attachment in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if attachment.inputs["role"] == role.outputs["name"]:
            assert rec.depends_on(release, attachment), attachment.name
        else:
            # nodes need their policies and access entry, before launch and until drained
            assert rec.depends_on(node_class, attachment), attachment.name
    assert rec.depends_on(node_class, rec.one("aws:eks/accessEntry:AccessEntry"))
    # destroy: a pool waits long enough for its nodes to drain
    assert pool.provider.startswith(rec.one("pulumi:providers:kubernetes").urn)


def test_every_child_is_parented_to_the_component(rec):
    (component,) = rec.of_type(TYPE)
    children = [r for r in rec if r is not component and r.type != "pulumi:providers:kubernetes"]
    assert len(children) > 30
    assert all(r.parent == component.urn for r in children), [r.name for r in children if r.parent != component.urn]
    assert all(r.name.startswith("kp-") for r in children)


@pytest.fixture(scope="module")
def fargate_program():
    # dev with IRSA and the controller on Fargate, plus Slack alerts that test_monitoring.py reads (orthogonal:
    # one evaluation for both)
    return run_stack("dev", overrides=DEV_SHARED_VARIANTS["slack-karpenter-on-fargate"],
                     secrets=("eks-platform:observability",))


def test_in_the_program_karpenter_comes_after_compute(fargate_program):
    recording = fargate_program
    release = controller(recording)
    assert recording.depends_on(release, recording.one("aws:eks/nodeGroup:NodeGroup"))
    # runOn fargate: the controller's own profile, and no node selector for the system group
    profile = recording.one("aws:eks/fargateProfile:FargateProfile")
    assert profile.inputs["selectors"] == [{"namespace": "kube-system", "labels": {"app.kubernetes.io/name": "karpenter"}}]
    assert recording.depends_on(release, profile)
    assert "nodeSelector" not in release.inputs["values"] and "tolerations" not in release.inputs["values"]
    # IRSA: no Pod Identity on Fargate
    assert not [a for a in recording.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                if a.inputs["serviceAccount"] == "karpenter"]
    assert "eks.amazonaws.com/role-arn" in release.inputs["values"]["serviceAccount"]["annotations"]


def test_other_autoscalers_get_no_karpenter():
    recording = build_addon(KarpenterAddOn, "dev", autoscaling="none")
    assert recording.of_type(TYPE) == [] and "karpenterNodePools" not in recording.exports


def test_args_refuse_what_cannot_work():
    settings = make_settings(cluster={"irsa": True}, karpenter={"runOn": "fargate"})

    def program():
        KarpenterArgs(cluster=fake_eks_handle(irsa=True), settings=settings.karpenter)  # the baseline is fine
        with pytest.raises(ValueError, match="needs identity 'irsa'"):
            KarpenterArgs(cluster=fake_eks_handle(irsa=False), settings=settings.karpenter)
        no_oidc = fake_eks_handle(irsa=True).with_aws(oidc=None)
        with pytest.raises(ValueError, match="OIDC provider"):
            KarpenterArgs(cluster=no_oidc, settings=settings.karpenter)

    run(program)


# --- bad config -------------------------------------------------------------------------------------------

R = {"aws:region": "us-east-1"}
GP = {"name": "general-purpose"}


def pool(**fields) -> dict:
    return {**R, "karpenter": {"nodePools": [{**GP, **fields}]}}


BAD = [
    # (stack, raw config, the key the error must name, a phrase of what is valid)
    ("dev", pool(limits={"cpu": "-5"}), f"{POOL}.limits.cpu", "positive quantity"),
    ("dev", pool(limits={"cpu": 0}), f"{POOL}.limits.cpu", "positive quantity"),
    ("dev", pool(limits={"memory": "lots"}), f"{POOL}.limits.memory", "not a Kubernetes quantity"),
    ("dev", pool(limits={}), f"{POOL}.limits.cpu", "at least one of cpu, memory or nodes"),
    ("dev", pool(capacityTypes=["spot", "preemptible"]), f"{POOL}.capacityTypes", "unknown capacity types"),
    ("dev", pool(capacityTypes=["SPOT"]), f"{POOL}.capacityTypes", "lowercase"),
    ("dev", pool(capacityTypes=[]), f"{POOL}.capacityTypes", "one or more"),
    ("dev", pool(architectures=["x86_64"]), f"{POOL}.architectures[0]", "'amd64' or 'arm64'"),
    ("dev", pool(requirements=[{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": []}]),
     f"{POOL}.requirements[0].values", "needs at least one value"),
    ("dev", pool(requirements=[{"key": "karpenter.k8s.aws/instance-family", "operator": "Equals", "values": ["m7g"]}]),
     f"{POOL}.requirements[0].operator", "'In', 'NotIn'"),
    ("dev", pool(requirements=[{"key": "karpenter.k8s.aws/instance-cpu", "operator": "Gt", "values": ["two"]}]),
     f"{POOL}.requirements[0].values", "one non-negative integer"),
    ("dev", pool(requirements=[{"key": "topology.kubernetes.io/zone", "operator": "Exists", "values": ["a"]}]),
     f"{POOL}.requirements[0].values", "takes no values"),
    ("dev", pool(requirements=[{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]),
     f"{POOL}.requirements[0].key", "architectures"),
    ("dev", pool(requirements=[{"key": "karpenter.sh/nodepool", "operator": "Exists"}]),
     f"{POOL}.requirements[0].key", "Karpenter sets it"),
    ("dev", pool(requirements=[{"key": "karpenter.k8s.aws/instance-family", "operator": "NotIn", "values": ["t3"],
                                "minValues": 1}]), f"{POOL}.requirements[0].minValues", "In operator"),
    ("dev", pool(requirements=[{"key": "karpenter.k8s.aws/instance-size", "operator": "In", "values": ["large"]},
                               {"key": "karpenter.k8s.aws/instance-size", "operator": "NotIn", "values": ["xlarge"]}]),
     f"{POOL}.requirements", "each key once"),
    ("dev", pool(disruption={"budgets": [{"nodes": "0", "schedule": "@daily"}]}),
     f"{POOL}.disruption.budgets[0].duration", "schedule and duration go together"),
    ("dev", pool(disruption={"budgets": [{"nodes": "0", "duration": "8h"}]}),
     f"{POOL}.disruption.budgets[0].schedule", "schedule and duration go together"),
    ("dev", pool(disruption={"budgets": [{"nodes": "0", "schedule": "@daily", "duration": "90s"}]}),
     f"{POOL}.disruption.budgets[0].duration", "no seconds"),
    ("dev", pool(disruption={"budgets": [{"nodes": "0", "schedule": "every morning", "duration": "1h"}]}),
     f"{POOL}.disruption.budgets[0].schedule", "cron"),
    ("dev", pool(disruption={"budgets": [{"nodes": "150%"}]}), f"{POOL}.disruption.budgets[0].nodes", "percentage"),
    ("dev", pool(disruption={"budgets": [{"nodes": "1", "reasons": ["Expired"]}]}),
     f"{POOL}.disruption.budgets[0].reasons[0]", "'Underutilized', 'Empty' or 'Drifted'"),
    ("dev", pool(disruption={"consolidateAfter": "soon"}), f"{POOL}.disruption.consolidateAfter", "'Never'"),
    ("dev", pool(disruption={"consolidationPolicy": "WhenUnderutilized"}), f"{POOL}.disruption.consolidationPolicy",
     "'WhenEmptyOrUnderutilized'"),
    ("dev", pool(expireAfter="30 days"), f"{POOL}.expireAfter", "or 'Never'"),
    ("dev", pool(terminationGracePeriod="Never"), f"{POOL}.terminationGracePeriod", "duration like"),
    ("dev", pool(weight=0), f"{POOL}.weight", "from 1 to 100"),
    ("dev", pool(weight=101), f"{POOL}.weight", "from 1 to 100"),
    ("dev", pool(taints=[{"key": "team", "effect": "NO_SCHEDULE"}]), f"{POOL}.taints[0].effect", "'NoSchedule'"),
    ("dev", pool(labels={"karpenter.sh/team": "a"}), f"{POOL}.labels", "reserves"),
    ("dev", pool(labels={"team": "a b"}), f"{POOL}.labels", "label value"),
    ("dev", pool(name="General"), f"{POOL}.name", "DNS label"),
    ("dev", pool(nodeClass="gpu"), f"{POOL}.nodeClass", "no node class named 'gpu'"),
    ("dev", pool(instanceTypes=["m7g.large"]), f"{POOL}.instanceTypes", "unknown key"),
    ("dev", {**R, "karpenter": {"nodePools": [GP, GP]}}, "eks-platform:karpenter.nodePools", "unique"),
    ("dev", {**R, "karpenter": {"gravitonPool": True, "nodePools": [{"name": "graviton"}]}},
     "eks-platform:karpenter.nodePools", "taken by gravitonPool"),
    ("dev", {**R, "karpenter": {"nodePools": []}}, "eks-platform:karpenter.nodePools", "at least one NodePool"),
    ("dev", {**R, "karpenter": {"nodeClasses": [{"name": "default"}, {"name": "default"}]}},
     "eks-platform:karpenter.nodeClasses", "unique"),
    ("dev", {**R, "karpenter": {"nodeClasses": [{"name": "default", "amiAlias": "al2@latest"}]}},
     "eks-platform:karpenter.nodeClasses[0].amiAlias", "al2023@vYYYYMMDD"),
    ("dev", {**R, "karpenter": {"nodeClasses": [{"name": "default", "volumeSizeGib": 8}]}},
     "eks-platform:karpenter.nodeClasses[0].volumeSizeGib", "from 20 to 16384"),
    ("dev", {**R, "karpenter": {"controllerResources": {"requests": {"cpu": "2", "memory": "1Gi"},
                                                        "limits": {"cpu": "1", "memory": "1Gi"}}}},
     "eks-platform:karpenter.controllerResources.limits.cpu", "at least requests.cpu"),
    ("dev", {**R, "karpenter": {"controllerResources": {"requests": {"cpu": "1", "memory": "1 GB"},
                                                        "limits": {"cpu": "1", "memory": "1Gi"}}}},
     "eks-platform:karpenter.controllerResources.requests.memory", "not a Kubernetes quantity"),
    ("dev", {**R, "karpenter": {"runOn": "fargate"}}, "eks-platform:karpenter.runOn", "cluster.irsa: true"),
    ("dev", {**R, "karpenter": {"runOn": "laptop"}}, "eks-platform:karpenter.runOn", "'system-nodes' or 'fargate'"),
    ("dev", {**R, "nodeGroups": [{"name": "workers", "instanceTypes": ["m7g.large"]}]},
     "eks-platform:karpenter.runOn", "'system' node group"),
    ("dev", {**R, "cluster": {"irsa": True}, "karpenter": {"runOn": "fargate"},
             "fargateProfiles": [{"name": "karpenter", "selectors": [{"namespace": "batch"}]}]},
     "eks-platform:fargateProfiles", "taken by the profile"),
    ("dev", {**R, "autoscaling": "none", "karpenter": {"gravitonPool": True}}, "eks-platform:karpenter",
     "only applies when eks-platform:autoscaling is 'karpenter'"),
    ("local", {"karpenter": {}}, "eks-platform:karpenter", "only apply to the aws target"),
]


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), BAD, ids=[f"{i}-{b[2].split(':')[1]}" for i, b in enumerate(BAD)])
def test_bad_config_names_the_key_and_what_is_valid(stack, raw, key, valid):
    assert_config_error(stack, raw, key, valid)


def test_karpenter_defaults_do_not_block_other_autoscalers():
    # only explicit karpenter config is refused with another autoscaler, not its defaults
    assert parse_settings({**R, "autoscaling": "cluster-autoscaler"}, "dev").autoscaling == "cluster-autoscaler"
    assert parse_settings({**R, "autoscaling": "none", "nodeGroups": [
        {"name": "workers", "instanceTypes": ["m7g.large"]}]}, "dev").autoscaling == "none"
