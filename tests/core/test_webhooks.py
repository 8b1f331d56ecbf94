"""A cold `up` has no race with an admission webhook (harness/webhooks.py), over every stack and variant."""

from __future__ import annotations

import pytest

from components.traffic import lb_controller
from harness import webhooks
from harness.mocks import Recording
from harness.program import run_stack
from harness.urns import VARIANTS, evaluate


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_object_a_failing_webhook_matches_waits_for_its_release(variant):
    assert webhooks.races(evaluate(variant)) == []


def test_the_service_mutator_in_every_namespace_races_the_platforms_services(monkeypatch):
    """The defect the namespace selector fixes (kubernetes-sigs/aws-load-balancer-controller#4140)."""
    monkeypatch.setattr(lb_controller, "SERVICE_MUTATOR_EXCLUDED", ())
    found = webhooks.races(run_stack("dev", recording=Recording()))
    refused = {line.split(" refuses Service ")[1].split(" of ")[0] for line in found}
    assert {"kube-system/metrics-server", "kube-system/karpenter", "kyverno/kyverno-svc",
            "logging/aws-for-fluent-bit"} <= refused
    assert all(line.startswith("mservice.elbv2.k8s.aws ") for line in found)


def test_team_namespaces_keep_the_service_mutator():
    rec = evaluate("dev-teams")
    mutator = next(w for _, w in webhooks.failing_webhooks(rec) if w["name"] == "mservice.elbv2.k8s.aws")
    team_service = webhooks.Created(rec.resources[0], "", "Service", "payments", {}, "web")
    assert webhooks.matches(mutator, team_service, {"kubernetes.io/metadata.name": "payments"})
    assert not webhooks.matches(mutator, team_service, {"kubernetes.io/metadata.name": "kyverno"})
    gateway = {"kubernetes.io/metadata.name": "istio-ingress"}
    assert webhooks.matches(mutator, team_service, gateway)  # the gateway's NLB still gets its class


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    (None, {}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
])
def test_label_selectors_decide_like_kubernetes(selector, labels, expected):
    assert webhooks.selector_matches(selector, labels) is expected


def test_workload_pods_are_seen_with_their_templates_labels():
    created = webhooks.created(evaluate("dev"))
    pods = [c for c in created if c.kind == "Pod" and c.name == "metrics-server (pod)"]
    assert pods and pods[0].labels.get("app.kubernetes.io/name") == "metrics-server"
