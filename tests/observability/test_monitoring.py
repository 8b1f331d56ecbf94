"""platform:observability:Monitoring: CRDs before the chart, values checked against upstream, tier
sizing, control-plane scrapers off, Grafana's generated password and the Slack webhook kept out of
every value and output in clear, ordering, kind, bad config."""

from __future__ import annotations

import pytest

import versions
from components.observability.monitoring import CHART, GRAFANA_SECRET, SLACK_SECRET, TYPE
from harness import run_stack, stack_names
from harness.upstream import SUBCHART_KEYS, load_yaml, missing_value_paths
from harness.urns import evaluate
from tests.conftest import DEV_SHARED_VARIANTS, SLACK_URL, SNS_TOPIC

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def release(rec):
    return next(r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack")


@pytest.fixture(scope="module")
def prod():
    return run_stack("prod")


@pytest.fixture(scope="module")
def slack():
    # Slack alerts, plus Karpenter on Fargate that test_karpenter.py reads (orthogonal: one evaluation)
    return run_stack("dev", overrides=DEV_SHARED_VARIANTS["slack-karpenter-on-fargate"],
                     secrets=("eks-platform:observability",))


def test_crds_are_their_own_step_before_the_chart(prod):
    crds = prod.one("kubernetes:yaml/v2:ConfigGroup")
    chart = release(prod)
    assert crds.inputs["files"] == list(versions.PROMETHEUS_OPERATOR_CRDS) and len(crds.inputs["files"]) == 10
    assert crds.urn in chart.dependencies
    assert chart.inputs["values"]["crds"] == {"enabled": False} and chart.inputs["skipCrds"] is True
    assert chart.inputs["version"] == "88.5.3"


def test_values_exist_upstream_and_select_monitors_of_every_release(prod):
    values = release(prod).inputs["values"]
    # alertmanager.config is Alertmanager's own configuration, passed through
    assert missing_value_paths(values, load_yaml("kube-prometheus-stack", "values.yaml"),
                               free_form=("alertmanager.config",), known=SUBCHART_KEYS[CHART]) == []
    spec = values["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
    for scraper in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert values[scraper] == {"enabled": False}


@pytest.mark.parametrize(("stack", "retention", "size", "replicas"), [("dev", "7d", "20Gi", 1), ("prod", "30d", "100Gi", 2)])
def test_retention_volume_and_replicas_follow_the_tier(stack, retention, size, replicas):
    spec = release(run_stack(stack)).inputs["values"]["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["replicas"]) == (retention, replicas)
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3" and claim["resources"]["requests"]["storage"] == size
    assert (spec.get("podAntiAffinity"), spec.get("podAntiAffinityTopologyKey")) == (
        ("hard", "topology.kubernetes.io/zone") if replicas > 1 else (None, None))


def test_grafana_uses_a_generated_password_from_a_secret(prod):
    values = release(prod).inputs["values"]
    assert values["grafana"]["admin"] == {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user",
                                          "passwordKey": "admin-password"}
    generated = prod.one("random:index/randomPassword:RandomPassword", "prod-monitoring-grafana-admin")
    assert generated.inputs["length"] == 32
    secret = next(r for r in prod.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == GRAFANA_SECRET)
    # the provider keeps all of stringData secret
    assert secret.inputs["stringData"][SECRET_SIG] and "admin-password" in secret.inputs["stringData"]["value"]
    assert "grafanaAdminPassword" in prod.secret_exports
    assert release(prod).dependencies and secret.urn in release(prod).dependencies


def clear_occurrences(value, needle, path="") -> list[str]:
    """Paths where ``needle`` appears outside a Pulumi secret."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG):
            return []
        return [p for k, v in value.items() for p in clear_occurrences(v, needle, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in clear_occurrences(v, needle, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and needle in value else []


@pytest.mark.parametrize("variant", [*stack_names(), "dev-gitops"])
def test_no_clear_password_in_any_input_output_or_export(variant):
    """Every generated password (Grafana's, Argo CD's) and its bcrypt hash appear only inside secrets."""
    rec = evaluate(variant)
    generators = rec.of_type("random:index/randomPassword:RandomPassword")
    assert {g.name.split("-", 1)[1] for g in generators} == {"monitoring-grafana-admin", "argocd-admin"}
    for generated in generators:
        for needle in (generated.outputs["result"], generated.outputs["bcryptHash"]):
            leaks = [f"{r.name}.inputs{p}" for r in rec for p in clear_occurrences(r.inputs, needle)]
            # the generator itself holds it (as a secret output in real state: pulumi_random marks it secret)
            leaks += [f"{r.name}.outputs{p}" for r in rec if r is not generated
                      and r.type != "kubernetes:core/v1:Secret" for p in clear_occurrences(r.outputs, needle)]
            leaks += [f"export {k}" for k, v in rec.exports.items() if k not in rec.secret_exports
                      and clear_occurrences(v, needle)]
            assert leaks == [], generated.name
        # the clear text reaches the operator as a secret stack output
        assert any(clear_occurrences(v, generated.outputs["result"]) for k, v in rec.exports.items()
                   if k in rec.secret_exports), generated.name


def test_slack_webhook_reaches_alertmanager_as_a_mounted_secret_only(slack):
    values = release(slack).inputs["values"]
    alertmanager = values["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == [SLACK_SECRET]
    (receiver,) = [r for r in alertmanager["config"]["receivers"] if r["name"] == "slack"]
    assert receiver["slack_configs"][0]["api_url_file"] == f"/etc/alertmanager/secrets/{SLACK_SECRET}/url"
    assert alertmanager["config"]["route"]["receiver"] == "slack"
    leaks = [f"{r.name}{p}" for r in slack for p in clear_occurrences(r.inputs, SLACK_URL)]
    assert leaks == []


def test_monitoring_waits_for_compute_and_the_ebs_driver_and_runs_on_kind(prod):
    chart = release(prod)
    assert prod.depends_on(chart, prod.one("aws:eks/addon:Addon", "prod-ebs-csi-addon"))
    local = run_stack("local")
    spec = release(local).inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "standard"
    assert local.of_type(TYPE) and not run_stack("dev", overrides={
        "eks-platform:observability": {"metrics": {"enabled": False}}}).of_type(TYPE)


R = {"aws:region": "us-east-1"}


@pytest.mark.parametrize(("raw", "key", "valid", "secret"), [
    ({"observability": {"metrics": {"retention": "30 days"}}}, "eks-platform:observability.metrics.retention",
     "Prometheus duration", False),
    ({"observability": {"metrics": {"storageGib": 5}}}, "eks-platform:observability.metrics.storageGib",
     "from 10 to 16384", False),
    ({"observability": {"alerts": {"receiver": "pagerduty"}}}, "eks-platform:observability.alerts.receiver",
     "'none', 'slack' or 'sns'", False),
    ({"observability": {"alerts": {"receiver": "slack"}}}, "eks-platform:observability.alerts.slackWebhookUrl",
     "pulumi config set --secret", True),
    ({"observability": {"alerts": {"receiver": "slack", "slackWebhookUrl": SLACK_URL}}},
     "eks-platform:observability.alerts.slackWebhookUrl", "must be a secret config value", False),
    ({"observability": {"alerts": {"receiver": "slack", "slackWebhookUrl": "http://example.com"}}},
     "eks-platform:observability.alerts.slackWebhookUrl", "hooks.slack.com", True),
])
def test_bad_config_names_the_key(raw, key, valid, secret):
    from settings import ConfigError, parse_settings

    with pytest.raises(ConfigError) as err:
        parse_settings({**R, **raw}, "dev", frozenset({"observability"} if secret else ()))
    assert key in str(err.value) and valid in str(err.value), str(err.value)


def test_charts_serve_their_own_service_monitors_after_the_crds_only_with_monitoring_on(prod):
    crds = prod.one("kubernetes:yaml/v2:ConfigGroup")
    charts = {r.inputs["chart"].rsplit("/", 1)[-1]: r for r in prod.of_type(RELEASE)}
    for chart in ("karpenter", "aws-load-balancer-controller"):
        assert charts[chart].inputs["values"]["serviceMonitor"] == {"enabled": True}, chart
        assert crds.urn in charts[chart].dependencies, chart
    off = run_stack("prod", overrides={"eks-platform:observability": {"metrics": {"enabled": False}}})
    assert not off.of_type("kubernetes:yaml/v2:ConfigGroup")
    for r in off.of_type(RELEASE):
        if "serviceMonitor" in r.inputs["values"]:
            assert r.inputs["values"]["serviceMonitor"] == {"enabled": False}, r.name


@pytest.mark.parametrize("stack", stack_names())
def test_no_generated_password_in_the_plan_output(stack):
    """`make plan` (text, JSON and Markdown) never shows a generated password or its hash."""
    import json

    from tools import plan

    rec = run_stack(stack)
    needles = [v for g in rec.of_type("random:index/randomPassword:RandomPassword")
               for v in (g.outputs["result"], g.outputs["bcryptHash"])]
    data = plan.build_plan(stack)
    outputs = [json.dumps(data), plan.render(data), plan.render_markdown(data)]
    assert needles and not [n for n in needles for text in outputs if n in text]


TOPIC = SNS_TOPIC


def test_sns_receiver_publishes_with_its_own_role_only():
    # SNS alerts, plus a Fargate profile and API networks that test_program.py reads (orthogonal: one evaluation)
    rec = run_stack("dev", overrides=DEV_SHARED_VARIANTS["sns-fargate-api-cidrs"], secrets=("eks-platform:observability",))
    chart = release(rec)
    # the topic is a secret inside the values, so the whole values are kept secret in state
    values = chart.inputs["values"]["value"]
    assert chart.inputs["values"][SECRET_SIG]
    alertmanager = values["alertmanager"]
    (sns,) = [r for r in alertmanager["config"]["receivers"] if r["name"] == "sns"]
    assert sns["sns_configs"][0]["topic_arn"] == TOPIC and sns["sns_configs"][0]["sigv4"] == {"region": "us-east-1"}
    assert alertmanager["config"]["route"]["receiver"] == "sns"
    assert alertmanager["serviceAccount"]["name"] == "monitoring-alertmanager"
    policy = rec.one("aws:iam/policy:Policy", "dev-monitoring-alertmanager-sns")
    import json

    (stmt,) = json.loads(policy.inputs["policy"]["value"] if isinstance(policy.inputs["policy"], dict)
                         else policy.inputs["policy"])["Statement"]
    assert stmt["Action"] == "sns:Publish" and stmt["Resource"] == TOPIC
    association = rec.one("aws:eks/podIdentityAssociation:PodIdentityAssociation",
                          "dev-monitoring-alertmanager-pod-identity")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "monitoring", "monitoring-alertmanager")
    assert rec.waits_for(chart, association)
    assert clear_occurrences([r.inputs for r in rec if r.type != "aws:iam/policy:Policy"], TOPIC) == []


@pytest.mark.parametrize(("stack", "raw", "key", "valid", "secret"), [
    ("local", {"observability": {"alerts": {"receiver": "sns", "snsTopicArn": TOPIC}}},
     "eks-platform:observability.alerts.receiver", "'sns' publishes to Amazon SNS", True),
    ("dev", {"observability": {"alerts": {"receiver": "sns"}}}, "eks-platform:observability.alerts.snsTopicArn",
     "pulumi config set --secret", True),
    ("dev", {"observability": {"alerts": {"receiver": "sns", "snsTopicArn": TOPIC}}},
     "eks-platform:observability.alerts.snsTopicArn", "must be a secret config value", False),
    ("dev", {"observability": {"alerts": {"receiver": "sns", "snsTopicArn": "arn:aws:sqs:us-east-1:1:q"}}},
     "eks-platform:observability.alerts.snsTopicArn", "must be an SNS topic ARN", True),
])
def test_bad_sns_config_names_the_key(stack, raw, key, valid, secret):
    from settings import ConfigError, parse_settings

    with pytest.raises(ConfigError) as err:
        parse_settings({**(R if stack != "local" else {}), **raw}, stack, frozenset({"observability"} if secret else ()))
    assert key in str(err.value) and valid in str(err.value), str(err.value)
