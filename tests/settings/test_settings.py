"""settings/: tier defaults, the kind target, and bad config rejected with the key named."""

from __future__ import annotations

import pytest

from harness import Recording, run_stack, stack_config, stack_names
from settings import ConfigError, parse_settings
from tests.conftest import assert_config_error, make_settings

R = {"aws:region": "us-east-1"}
NG = {"name": "workers", "instanceTypes": ["m7g.large"]}


def test_tier_defaults_differ_by_environment():
    dev, prod = make_settings("dev"), make_settings("prod")
    assert (dev.network.az_count, dev.network.nat_strategy) == (2, "instance")
    assert make_settings("staging").network.nat_strategy == "single"
    assert (prod.network.az_count, prod.network.nat_strategy) == (3, "per-az")
    assert prod.cluster.log_types == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert dev.cluster.log_retention_days == 30 and prod.cluster.log_retention_days == 365
    assert prod.cluster.deletion_protection is True and dev.cluster.deletion_protection is False
    assert [g.name for g in dev.node_groups] == ["system"]
    assert dev.node_groups[0].taints[0].key == "CriticalAddonsOnly"
    assert prod.node_groups[0].min_size == 3


def test_secure_defaults():
    s = make_settings("prod")
    assert s.cluster.endpoint_public_access is False and s.cluster.public_access_cidrs == []
    assert s.network.flow_logs.enabled is True
    assert s.cluster.version == "1.35"


def test_explicit_values_win_over_tier_defaults():
    s = make_settings("prod", network={"natStrategy": "single", "azCount": 2})
    assert (s.network.nat_strategy, s.network.az_count) == ("single", 2)
    assert s.network.vpc_cidr == "10.30.0.0/16"


def test_settings_are_frozen():
    s = make_settings()
    with pytest.raises(Exception, match="frozen"):
        s.network.az_count = 4  # type: ignore[misc]


def test_cluster_name_defaults_to_project_and_stack():
    assert make_settings("staging").cluster_name == "eks-platform-staging"
    assert make_settings("dev", cluster={"name": "blue"}).cluster_name == "blue"


def test_tier_of_other_stack_names():
    s = parse_settings({**R, "tier": "prod"}, "prod-eu")
    assert s.network.nat_strategy == "per-az"
    with pytest.raises(ConfigError, match=r"eks-platform:tier is required.*\['dev', 'staging', 'prod'\]"):
        parse_settings(R, "feature-x")


def test_local_stack_is_kind_and_refuses_aws_settings():
    s = parse_settings({}, "local")
    assert s.target == "kind" and not s.is_aws
    with pytest.raises(ConfigError, match=r"eks-platform:network, eks-platform:nodeGroups only apply to the aws"):
        parse_settings({"network": {"azCount": 2}, "nodeGroups": []}, "local")
    with pytest.raises(ConfigError, match=r"aws:region only apply to the aws target"):
        parse_settings({"aws:region": "us-east-1"}, "local")


def test_every_stack_file_validates():
    for stack in stack_names():
        raw = {k.split(":", 1)[1] if k.startswith("eks-platform:") else k: v
               for k, v in stack_config(stack).items()}
        parse_settings(raw, stack)


BAD = [
    # (stack, raw config, the key the error must name, a phrase of what is valid)
    ("dev", {}, "aws:region", "needs a region"),
    ("dev", {"aws:region": "mars-1"}, "aws:region", "like us-east-1"),
    ("dev", {**R, "target": "gcp"}, "eks-platform:target", "'aws' or 'kind'"),
    ("dev", {**R, "tier": "qa"}, "eks-platform:tier", "'dev', 'staging' or 'prod'"),
    ("dev", {**R, "netwrok": {}}, "eks-platform:netwrok", "unknown key"),
    ("dev", {**R, "network": {"azCount": 1}}, "eks-platform:network.azCount", "from 2 to 6"),
    ("dev", {**R, "network": {"azCount": 7}}, "eks-platform:network.azCount", "from 2 to 6"),
    ("dev", {**R, "network": {"azCount": "two"}}, "eks-platform:network.azCount", "valid integer"),
    ("dev", {**R, "network": {"natStrategy": "shared"}}, "eks-platform:network.natStrategy",
     "'none', 'single', 'per-az' or 'instance'"),
    ("dev", {**R, "network": {"vpcCidr": "10.0.0.0/33"}}, "eks-platform:network.vpcCidr", "CIDR form"),
    ("dev", {**R, "network": {"vpcCidr": "10.0.0.1/16"}}, "eks-platform:network.vpcCidr", "CIDR form"),
    ("dev", {**R, "network": {"vpcCidr": "10.0.0.0/24"}}, "eks-platform:network.vpcCidr", "/16 to /20"),
    ("dev", {**R, "network": {"vpcCidr": "8.8.0.0/16"}}, "eks-platform:network.vpcCidr", "private"),
    ("dev", {**R, "network": {"natStrategy": "none", "interfaceEndpoints": ["ecr.api", "ecr.dkr", "sts", "ec2"]}},
     "eks-platform:network.natStrategy", "use 'instance' (one NAT instance, dev), 'single' (one NAT gateway) or 'per-az'"),
    ("dev", {**R, "network": {"natInstanceType": "nano"}}, "eks-platform:network.natInstanceType", "'t4g.nano'"),
    ("dev", {**R, "network": {"existing": {"vpcId": "vpc-0123456789abcdef0", "tagSubnets": False,
                                           "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}}},
     "eks-platform:network.existing.tagSubnets", "karpenter.sh/discovery"),
    ("dev", {**R, "network": {"interfaceEndpoints": ["s3"]}}, "eks-platform:network.interfaceEndpoints", "gateway"),
    ("dev", {**R, "network": {"interfaceEndpoints": ["ECR API"]}}, "eks-platform:network.interfaceEndpoints", "ecr.api"),
    ("dev", {**R, "network": {"interfaceEndpoints": ["com.amazonaws.us-east-1.sts"]}},
     "eks-platform:network.interfaceEndpoints", "write ['sts'] for ['com.amazonaws.us-east-1.sts']"),
    ("dev", {**R, "network": {"flowLogs": {"retentionDays": 10}}}, "eks-platform:network.flowLogs.retentionDays", "one of"),
    ("dev", {**R, "network": {"existing": {"vpcId": "vpc-1", "privateSubnetIds": ["subnet-0aaaaaaaa", "subnet-0bbbbbbbb"]}}},
     "eks-platform:network.existing.vpcId", "vpc-0123456789abcdef0"),
    ("dev", {**R, "network": {"existing": {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0aaaaaaaa"]}}},
     "eks-platform:network.existing.privateSubnetIds", "at least 2"),
    ("dev", {**R, "network": {"azCount": 3, "existing": {"vpcId": "vpc-0123456789abcdef0",
                                                          "privateSubnetIds": ["subnet-0aaaaaaaa", "subnet-0bbbbbbbb"]}}},
     "eks-platform:network.azCount", "cannot be set with it"),
    ("dev", {**R, "cluster": {"version": "1.34"}}, "eks-platform:cluster.version", "'1.35', '1.36'"),
    ("dev", {**R, "cluster": {"name": "-bad name"}}, "eks-platform:cluster.name", "letters, digits"),
    ("dev", {**R, "cluster": {"endpointPublicAccess": True}}, "eks-platform:cluster.publicAccessCidrs", "list the CIDRs"),
    ("dev", {**R, "cluster": {"publicAccessCidrs": ["1.2.3.4/32"]}}, "eks-platform:cluster.publicAccessCidrs", "set both"),
    ("dev", {**R, "cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["1.2.3.4"]}},
     "eks-platform:cluster.publicAccessCidrs", None),
    ("dev", {**R, "cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["1.2.3.0/33"]}},
     "eks-platform:cluster.publicAccessCidrs", "IPv4 CIDR"),
    ("prod", {**R, "cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}},
     "eks-platform:cluster.publicAccessCidrs", "refused in prod"),
    ("dev", {**R, "cluster": {"logTypes": ["api", "audit"]}}, "eks-platform:cluster.logTypes", "authenticator"),
    ("dev", {**R, "cluster": {"logTypes": ["api", "audit", "authenticator", "kubelet"]}}, "eks-platform:cluster.logTypes[3]",
     "'controllerManager'"),
    ("dev", {**R, "cluster": {"logRetentionDays": 42}}, "eks-platform:cluster.logRetentionDays", "one of"),
    ("dev", {**R, "cluster": {"serviceIpv4Cidr": "10.10.0.0/16"}}, "eks-platform:cluster.serviceIpv4Cidr", "overlaps"),
    ("dev", {**R, "cluster": {"serviceIpv4Cidr": "100.64.0.0/16"}}, "eks-platform:cluster.serviceIpv4Cidr", "/12 to /24"),
    ("dev", {**R, "cluster": {"adminPrincipalArns": ["admin"]}}, "eks-platform:cluster.adminPrincipalArns", "role or user ARN like"),
    ("dev", {**R, "cluster": {"clusterCreatorAdmin": False}}, "eks-platform:cluster.adminPrincipalArns", "at least one"),
    ("dev", {**R, "cluster": {"adminPrincipalArns": ["arn:aws:iam::123456789012:role/a"],
                              "viewerPrincipalArns": ["arn:aws:iam::123456789012:role/a"]}},
     "eks-platform:cluster.viewerPrincipalArns[0]", "also cluster.adminPrincipalArns[0]"),
    ("dev", {**R, "cluster": {"kmsKeyDeletionWindowDays": 3}}, "eks-platform:cluster.kmsKeyDeletionWindowDays", "7 to 30"),
    ("dev", {**R, "cluster": {"irsa": "maybe"}}, "eks-platform:cluster.irsa", "valid boolean"),
    ("dev", {**R, "nodeGroups": []}, "eks-platform:nodeGroups", "at least one managed node group"),
    ("dev", {**R, "nodeGroups": [NG, NG]}, "eks-platform:nodeGroups", "unique"),
    ("dev", {**R, "nodeGroups": [{**NG, "name": "Workers"}]}, "eks-platform:nodeGroups[0].name", "DNS label"),
    ("dev", {**R, "nodeGroups": [{**NG, "instanceTypes": []}]}, "eks-platform:nodeGroups[0].instanceTypes", "at least 1"),
    ("dev", {**R, "nodeGroups": [{**NG, "instanceTypes": ["large"]}]}, "eks-platform:nodeGroups[0].instanceTypes",
     "m7g.large"),
    ("dev", {**R, "nodeGroups": [{**NG, "instanceTypes": ["m7g.large", "m7i.large"]}]},
     "eks-platform:nodeGroups[0].instanceTypes", "mixes arm64 and x86_64"),
    ("dev", {**R, "nodeGroups": [{**NG, "instanceTypes": ["m7i.large"]}]}, "eks-platform:nodeGroups[0].amiType",
     "matching AMI type"),
    ("dev", {**R, "nodeGroups": [{**NG, "amiType": "AL2_x86_64"}]}, "eks-platform:nodeGroups[0].amiType",
     "AL2023_x86_64_STANDARD"),
    ("dev", {**R, "nodeGroups": [{**NG, "capacityType": "spot"}]}, "eks-platform:nodeGroups[0].capacityType",
     "'ON_DEMAND' or 'SPOT'"),
    ("dev", {**R, "nodeGroups": [{**NG, "minSize": 3, "desiredSize": 2, "maxSize": 4}]},
     "eks-platform:nodeGroups[0].desiredSize", "minSize <= desiredSize <= maxSize"),
    ("dev", {**R, "nodeGroups": [{**NG, "desiredSize": 5, "maxSize": 4}]}, "eks-platform:nodeGroups[0].desiredSize",
     "minSize <= desiredSize <= maxSize"),
    ("dev", {**R, "nodeGroups": [{**NG, "maxSize": 0, "minSize": 0, "desiredSize": 0}]},
     "eks-platform:nodeGroups[0].maxSize", "from 1 to 450"),
    ("dev", {**R, "nodeGroups": [{**NG, "diskSizeGib": 8}]}, "eks-platform:nodeGroups[0].diskSizeGib", "20 to 16384"),
    ("dev", {**R, "nodeGroups": [{**NG, "labels": {"bad key!": "x"}}]}, "eks-platform:nodeGroups[0].labels",
     "label key"),
    ("dev", {**R, "nodeGroups": [{**NG, "taints": [{"key": "dedicated", "effect": "NoSchedule"}]}]},
     "eks-platform:nodeGroups[0].taints[0].effect", "'NO_SCHEDULE'"),
    ("dev", {**R, "nodeGroups": [{**NG, "sshKey": "mine"}]}, "eks-platform:nodeGroups[0].sshKey", "unknown key"),
    ("dev", {**R, "fargateProfiles": [{"name": "kp", "selectors": []}]}, "eks-platform:fargateProfiles[0].selectors",
     "at least 1"),
    ("dev", {**R, "fargateProfiles": [{"name": "kp", "selectors": [{"namespace": "Kube_System"}]}]},
     "eks-platform:fargateProfiles[0].selectors[0].namespace", "namespace name"),
    ("dev", {**R, "fargateProfiles": [{"name": "a", "selectors": [{"namespace": "a"}]},
                                      {"name": "a", "selectors": [{"namespace": "b"}]}]},
     "eks-platform:fargateProfiles", "unique"),
    ("dev", {**R, "tags": {"aws:owner": "me"}}, "eks-platform:tags", "not aws:-prefixed"),
    ("dev", {**R, "kind": {"workers": 1}}, "eks-platform:kind", "only applies to the kind target"),
    ("local", {"kind": {"workers": 9}}, "eks-platform:kind.workers", "from 0 to 5"),
    ("dev", {**R, "stack": "prod"}, "eks-platform:stack", "not a config key"),
]


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_config_names_the_key_and_what_is_valid(stack, raw, key, valid):
    assert_config_error(stack, raw, key, valid)


def test_bad_config_registers_no_resource():
    recording = Recording()
    with pytest.raises(ConfigError, match=r"eks-platform:network\.azCount"):
        run_stack("dev", overrides={"eks-platform:network": {"azCount": 9}}, recording=recording)
    assert len(recording) == 0
    # and the same stack with good config does register resources into a recording
    good = Recording()
    run_stack("dev", recording=good)
    assert len(good) > 0


def test_config_error_is_a_clean_pulumi_run_error():
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)


ACCESS_BAD = [
    ("dev", {**R, "cluster": {"apiAccessCidrs": ["0.0.0.0/0"]}}, "eks-platform:cluster.apiAccessCidrs",
     "list the VPN, runner or peered networks"),
    ("dev", {**R, "cluster": {"apiAccessCidrs": ["10.0.0.1/16"]}}, "eks-platform:cluster.apiAccessCidrs", "IPv4 CIDR"),
    ("dev", {**R, "cluster": {"apiAccessCidrs": ["10.0.0.0/16", "10.0.0.0/16"]}}, "eks-platform:cluster.apiAccessCidrs",
     "each CIDR once"),
]


@pytest.mark.parametrize(("stack", "raw", "key", "valid"), ACCESS_BAD)
def test_api_access_cidrs_are_validated(stack, raw, key, valid):
    assert_config_error(stack, raw, key, valid)
