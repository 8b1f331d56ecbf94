"""settings/types.py: one grammar per kind of value, used by every settings model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from settings import parse_settings
from settings.types import (
    Cidr,
    CpuQuantity,
    LabelKey,
    LabelValue,
    Memory,
    PrincipalArn,
    Quantity,
    RetentionDays,
    RoleArn,
    TaintValue,
    between,
    dns_label,
    duration,
    quantity,
)
from tests.conftest import assert_config_error

R = {"aws:region": "us-east-1"}


@pytest.mark.parametrize(("kind", "good", "bad", "says"), [
    (dns_label(10), "team-a", "Team_A", "lowercase DNS label"),
    (dns_label(10), "abcdefghij", "abcdefghijk", "at most 10"),
    (LabelKey, "example.com/team", "-bad", "not a Kubernetes label key"),
    (LabelValue, "blue.v2", "blue green", "no spaces or accents"),
    (TaintValue, "gpu", "ünïcode", "no spaces or accents"),
    (between(2, 6), 3, 7, "from 2 to 6"),
    (duration("1m", "24h"), "1h30m", "30s", "from 1m to 24h"),
    (duration(), "10m", "10 minutes", "duration like"),
    (duration(never=True), "Never", "never", "or 'Never'"),
    (Quantity, "64Gi", "0", "positive quantity"),
    (CpuQuantity, "500m", "lots", "CPU quantity like 100m"),
    (Memory, "1G", "32Mi", "at least 64Mi"),
    (RetentionDays, 30, 31, "must be one of"),
    (PrincipalArn, "arn:aws:iam::123456789012:user/ops", "arn:aws:sts::123456789012:assumed-role/A/b", "role or user ARN"),
    (RoleArn, "arn:aws:iam::123456789012:role/Team", "arn:aws:iam::123456789012:user/me", "not an IAM role ARN"),
    (Cidr, "10.0.0.0/16", "10.0.0.1/16", "not an IPv4 CIDR"),
])
def test_each_type_accepts_the_good_and_says_what_is_valid_for_the_bad(kind, good, bad, says):
    adapter = TypeAdapter(kind)
    assert adapter.validate_python(good) == good
    with pytest.raises(ValidationError, match=says):
        adapter.validate_python(bad)


def test_one_quantity_grammar_everywhere():
    assert quantity("1G") == Decimal(10) ** 9 and quantity("1Gi") == Decimal(1024) ** 3 and quantity("500m") == Decimal("0.5")
    # the same value is accepted by metrics-server, Cluster Autoscaler and Karpenter alike
    assert parse_settings({**R, "metricsServer": {"memory": "1G"}}, "dev").metrics_server.memory == "1G"
    ca = parse_settings({**R, "autoscaling": "cluster-autoscaler", "clusterAutoscaler": {"memory": "1G"}}, "dev")
    assert ca.cluster_autoscaler.memory == "1G"
    pools = parse_settings({**R, "karpenter": {"defaultLimits": {"cpu": "8", "memory": "1G"}}}, "dev")
    assert pools.karpenter.default_limits.memory == "1G"


def test_a_node_group_taint_value_with_spaces_and_accents_is_refused():
    group = {"name": "gpu", "instanceTypes": ["g5.xlarge"], "amiType": "AL2023_x86_64_STANDARD",
             "taints": [{"key": "team", "value": "équipe données", "effect": "NO_SCHEDULE"}]}
    assert_config_error("dev", {**R, "nodeGroups": [group]}, "eks-platform:nodeGroups[0].taints[0].value",
                        "no spaces or accents")
