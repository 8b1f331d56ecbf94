"""platform:network:Network: subnets and tags, NAT strategies, endpoints, flow logs, bring-your-own VPC."""

from __future__ import annotations

import pulumi
import pytest

from components.network.vpc import TYPE, Network, NetworkArgs
from harness import Recording, run_stack
from settings import ConfigError
from tests.conftest import make_settings, policy, run


def build(stack: str = "dev", autoscaling: str = "karpenter", **network):
    raw = {"autoscaling": autoscaling, **({"network": network} if network else {})}
    settings = make_settings(stack, **raw)

    def program():
        net = Network("net", NetworkArgs(cluster_name="c1", region="us-east-1", settings=settings.network,
                                         tags={"Project": "eks-platform"}))
        pulumi.export("private", net.private_subnet_ids)
        pulumi.export("vpc", net.vpc_id)

    return run(program, stack=stack)


def subnets(rec, kind):
    return sorted((r for r in rec.of_type("aws:ec2/subnet:Subnet") if f"-{kind}-" in r.name), key=lambda r: r.name)


def test_subnets_per_az_with_derived_cidrs_and_discovery_tags():
    rec = build(azCount=3, vpcCidr="10.0.0.0/16")
    private, public = subnets(rec, "private"), subnets(rec, "public")
    assert [s.inputs["cidrBlock"] for s in private] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert [s.inputs["cidrBlock"] for s in public] == ["10.0.224.0/22", "10.0.228.0/22", "10.0.232.0/22"]
    # us-east-1c is use1-az3 in the mocked account: EKS refuses it, so the third zone is us-east-1d
    assert [s.inputs["availabilityZone"] for s in private] == ["us-east-1a", "us-east-1b", "us-east-1d"]
    for s in private:
        assert s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert s.inputs["tags"]["karpenter.sh/discovery"] == "c1"
        assert s.inputs["tags"]["kubernetes.io/cluster/c1"] == "shared"
        assert "kubernetes.io/role/elb" not in s.inputs["tags"]
        assert s.inputs["mapPublicIpOnLaunch"] is False
    for s in public:
        assert s.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert "karpenter.sh/discovery" not in s.inputs["tags"]
        assert s.inputs["mapPublicIpOnLaunch"] is False
    assert len(rec.exports["private"]) == 3


@pytest.mark.parametrize(("strategy", "nats", "azs"), [("single", 1, 3), ("per-az", 3, 3), ("per-az", 2, 2)])
def test_nat_strategy(strategy, nats, azs):
    rec = build(natStrategy=strategy, azCount=azs)
    gateways = sorted(rec.of_type("aws:ec2/natGateway:NatGateway"), key=lambda r: r.name)
    assert len(gateways) == nats
    private_rts = sorted((r for r in rec.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name),
                         key=lambda r: r.name)
    assert len(private_rts) == azs
    for i, rt in enumerate(private_rts):
        (route,) = rt.inputs["routes"]
        expected = gateways[i if nats > 1 else 0]
        assert route["natGatewayId"] == f"{expected.name}-id"
    igw = rec.one("aws:ec2/internetGateway:InternetGateway")
    for nat in gateways:
        assert rec.depends_on(nat, igw)


def test_nat_instance_routes_the_private_subnets_through_its_interface():
    rec = build(natStrategy="instance", azCount=3, vpcCidr="10.0.0.0/16")
    assert not rec.of_type("aws:ec2/natGateway:NatGateway")
    instance = rec.one("aws:ec2/instance:Instance")
    private_rts = [r for r in rec.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert len(private_rts) == 3
    for rt in private_rts:
        (route,) = rt.inputs["routes"]
        assert route == {"cidrBlock": "0.0.0.0/0", "networkInterfaceId": f"eni-{instance.name}"}
    public = next(r for r in rec.of_type("aws:ec2/subnet:Subnet") if "-public-0" in r.name)
    assert instance.inputs["subnetId"] == f"{public.name}-id"
    eip = rec.one("aws:ec2/eip:Eip")
    assert eip.inputs["domain"] == "vpc"
    igw = rec.one("aws:ec2/internetGateway:InternetGateway")
    assert rec.depends_on(instance, igw) and rec.depends_on(eip, igw)


def test_replacing_the_nat_instance_keeps_its_elastic_ip():
    """issue 19, defect 6: the address does not name the instance (a new instance would otherwise take a
    new association on the address itself); a separate association, replaced delete-first, moves it."""
    rec = build(natStrategy="instance", azCount=2, vpcCidr="10.0.0.0/16")
    instance, eip = rec.one("aws:ec2/instance:Instance"), rec.one("aws:ec2/eip:Eip")
    assert "instance" not in eip.inputs and "networkInterface" not in eip.inputs
    assoc = rec.one("aws:ec2/eipAssociation:EipAssociation")
    assert assoc.inputs == {"allocationId": f"{eip.name}-id", "instanceId": f"{instance.name}-id"}
    assert assoc.delete_before_replace and assoc.name == eip.name == instance.name


def test_nat_instance_is_hardened():
    import base64

    rec = build(natStrategy="instance", azCount=2, vpcCidr="10.0.0.0/16")
    instance = rec.one("aws:ec2/instance:Instance")
    template = rec.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert instance.inputs["launchTemplate"] == {"id": f"{template.name}-id", "version": "1"}
    # the source/destination check is off on the NAT instance only
    assert instance.inputs["sourceDestCheck"] is False
    assert [r.name for r in rec if r.inputs.get("sourceDestCheck") is False] == [instance.name]
    # IMDSv2, one hop; no key pair; encrypted root; the current AL2023 for the type's architecture
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert "keyName" not in template.inputs and "keyName" not in instance.inputs
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
    assert template.inputs["imageId"] == \
        "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    assert template.inputs["instanceType"] == "t4g.nano"
    assert template.inputs["creditSpecification"] == {"cpuCredits": "standard"}
    # its own security group: everything from the private subnets, nothing else, no SSH
    (sg,) = [g for g in rec.of_type("aws:ec2/securityGroup:SecurityGroup") if "nat-instance" in g.name]
    assert instance.inputs["vpcSecurityGroupIds"] == [f"{sg.name}-id"]
    (ingress,) = sg.inputs["ingress"]
    assert ingress["cidrBlocks"] == ["10.0.0.0/19", "10.0.32.0/19"] and ingress["protocol"] == "-1"
    # Session Manager instead of SSH: the role carries the SSM core policy, the profile waits for it
    profile = rec.one("aws:iam/instanceProfile:InstanceProfile")
    attachment = next(a for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                      if a.name.endswith("nat-instance-ssm"))
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    assert rec.depends_on(profile, attachment)
    assert template.inputs["iamInstanceProfile"]["arn"] == profile.outputs["arn"]
    script = base64.b64decode(template.inputs["userData"]).decode()
    assert "-t nat -A POSTROUTING" in script and "-s 10.0.0.0/16 -j MASQUERADE" in script
    assert "net.ipv4.ip_forward = 1" in script and "iptables -P FORWARD DROP" in script


def test_nat_instance_on_x86_takes_the_x86_image_and_no_burst_credits():
    rec = build(natStrategy="instance", natInstanceType="c6i.large")
    template = rec.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["imageId"].endswith("al2023-ami-kernel-default-x86_64")
    assert "creditSpecification" not in template.inputs


def test_interface_endpoints_are_private_dns_https_only():
    rec = build(interfaceEndpoints=["ecr.api", "ecr.dkr", "sts", "ec2"])
    endpoints = {e.inputs["serviceName"]: e for e in rec.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {f"com.amazonaws.us-east-1.{s}" for s in ("s3", "ecr.api", "ecr.dkr", "sts", "ec2")}
    ecr = endpoints["com.amazonaws.us-east-1.ecr.api"]
    assert ecr.inputs["vpcEndpointType"] == "Interface" and ecr.inputs["privateDnsEnabled"] is True
    assert endpoints["com.amazonaws.us-east-1.s3"].inputs["vpcEndpointType"] == "Gateway"


def test_default_security_group_is_emptied_and_flow_logs_go_to_cloudwatch():
    rec = build("prod")
    sg = rec.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert sg.inputs.get("ingress", []) == [] and sg.inputs.get("egress", []) == []
    flow = rec.one("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestinationType"] == "cloud-watch-logs"
    group = rec.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["retentionInDays"] == 365
    doc = policy(rec.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert doc["Statement"][0]["Resource"] != "*"
    trust = policy(rec.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}


def test_flow_logs_can_be_turned_off():
    rec = build(flowLogs={"enabled": False})
    assert rec.of_type("aws:ec2/flowLog:FlowLog") == []


def test_every_child_is_parented_to_the_component_and_outputs_registered():
    rec = build()
    (component,) = rec.of_type(TYPE)
    children = [r for r in rec if r is not component]
    assert children and all(r.parent == component.urn for r in children)
    assert all(r.name.startswith("net-") for r in children)


def test_bring_your_own_vpc_creates_no_network_only_tags():
    existing = {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"],
                "publicSubnetIds": ["subnet-0cccccccccccccccc"]}
    rec = build(existing=existing)
    assert not [r for r in rec if r.type.startswith("aws:ec2/") and r.type != "aws:ec2/tag:Tag"]
    tags = {(t.inputs["resourceId"], t.inputs["key"]): t.inputs["value"] for t in rec.of_type("aws:ec2/tag:Tag")}
    assert tags[("subnet-0aaaaaaaaaaaaaaaa", "karpenter.sh/discovery")] == "c1"
    assert tags[("subnet-0aaaaaaaaaaaaaaaa", "kubernetes.io/role/internal-elb")] == "1"
    assert tags[("subnet-0cccccccccccccccc", "kubernetes.io/role/elb")] == "1"
    assert ("subnet-0cccccccccccccccc", "karpenter.sh/discovery") not in tags
    assert rec.exports["vpc"] == "vpc-0123456789abcdef0"
    assert rec.exports["private"] == existing["privateSubnetIds"]


def test_bring_your_own_vpc_without_tagging():
    existing = {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0aaaaaaaaaaaaaaaa",
                                                                        "subnet-0bbbbbbbbbbbbbbbb"], "tagSubnets": False}
    # (Karpenter needs the discovery tags, so untagged subnets go with another autoscaler)
    rec = build(autoscaling="cluster-autoscaler", existing=existing)
    assert rec.of_type("aws:ec2/tag:Tag") == []


def test_zones_skip_local_zones_and_the_zone_ids_eks_refuses():
    rec = build(azCount=5)
    (call,) = [args for token, args in rec.calls if token == "aws:index/getAvailabilityZones:getAvailabilityZones"]
    assert set(call["excludeZoneIds"]) == {"use1-az3", "usw1-az2", "cac1-az3"}
    assert call["filters"] == [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]
    zones = {s.inputs["availabilityZone"] for s in rec.of_type("aws:ec2/subnet:Subnet")}
    # the mocked account has an opted-in Local Zone (listed first) and use1-az3 (us-east-1c)
    assert "us-east-1-bos-1a" not in zones and "us-east-1c" not in zones and len(zones) == 5


def test_more_zones_than_the_region_offers_is_a_config_error_before_anything_is_registered():
    recording = Recording()
    with pytest.raises(ConfigError, match=r"eks-platform:network\.azCount: is 6, but us-east-1 has only 5 zones EKS "
                       r"supports \(us-east-1a, us-east-1b, us-east-1d, us-east-1e, us-east-1f\); set it to 5"):
        run_stack("dev", overrides={"eks-platform:network": {"azCount": 6}}, recording=recording)
    assert len(recording) == 0


def test_flow_log_group_is_encrypted_with_a_key_only_that_group_may_use():
    rec = build()
    group = rec.one("aws:cloudwatch/logGroup:LogGroup")
    key = rec.one("aws:kms/key:Key")
    assert group.inputs["kmsKeyId"] == key.outputs["arn"] and key.inputs["enableKeyRotation"] is True
    logs = next(s for s in policy(key.inputs["policy"])["Statement"] if s["Principal"].get("Service"))
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] == \
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/c1/flow-logs"
    flow = rec.one("aws:ec2/flowLog:FlowLog")
    assert rec.depends_on(flow, rec.one("aws:iam/rolePolicy:RolePolicy"))
