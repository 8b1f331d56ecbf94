"""tools/sweep.py against moto (an emulation of the AWS APIs): it finds exactly what this cluster's
controllers tagged, deletes nothing without --delete, and deletes only that with it."""

from __future__ import annotations

import boto3
import botocore.session
import pytest
from moto import mock_aws

from tools import sweep

CLUSTER, OTHER, REGION = "eks-platform-dev", "someone-else", "us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in images


@pytest.fixture(scope="module")
def botocore_session():
    # one botocore session for the module: it parses each service's model once (a new session per test
    # parsed them again for every client, a third of this file's time); moto's state is still per test
    return botocore.session.get_session()


@pytest.fixture
def aws(monkeypatch, botocore_session):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.session.Session(botocore_session=botocore_session, region_name=REGION)


def _tag(**tags: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def seed(session) -> dict[str, set[str]]:
    """Tagged resources of CLUSTER (returned by kind), and look-alikes that are not (another cluster, no tag)."""
    ec2, elb, logs = session.client("ec2"), session.client("elbv2"), session.client("logs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]
               ["SubnetId"] for i, z in enumerate("ab")]
    mine: dict[str, set[str]] = {}

    def sg(name, **tags):
        spec = [{"ResourceType": "security-group", "Tags": _tag(**tags)}] if tags else []
        return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc, TagSpecifications=spec)["GroupId"]

    mine["security group"] = {sg("k8s-lb-mine", **{sweep.LBC_TAG: CLUSTER})}
    sg("k8s-lb-other", **{sweep.LBC_TAG: OTHER})
    sg("untagged")

    def lb(name, **tags):
        extra = {"Tags": _tag(**tags)} if tags else {}
        return elb.create_load_balancer(Name=name, Subnets=subnets, Type="network", Scheme="internal",
                                        **extra)["LoadBalancers"][0]["LoadBalancerArn"]

    def tg(name, **tags):
        extra = {"Tags": _tag(**tags)} if tags else {}
        return elb.create_target_group(Name=name, Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip",
                                       **extra)["TargetGroups"][0]["TargetGroupArn"]

    mine["load balancer"] = {lb("k8s-mine", **{sweep.LBC_TAG: CLUSTER})}
    lb("k8s-other", **{sweep.LBC_TAG: OTHER})
    lb("handmade", team="payments")
    mine["target group"] = {tg("k8s-mine-tg", **{sweep.LBC_TAG: CLUSTER})}
    tg("untagged-tg")

    karpenter = {f"kubernetes.io/cluster/{CLUSTER}": "owned", sweep.NODEPOOL_TAG: "general-purpose"}

    def instance(**tags):
        spec = [{"ResourceType": "instance", "Tags": _tag(**tags)}] if tags else []
        return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnets[0],
                                 TagSpecifications=spec)["Instances"][0]["InstanceId"]

    mine["instance"] = {instance(**karpenter)}
    instance(**{f"kubernetes.io/cluster/{CLUSTER}": "owned"})  # a managed node group's node: no nodepool tag
    instance(**{f"kubernetes.io/cluster/{OTHER}": "owned", sweep.NODEPOOL_TAG: "general-purpose"})

    def template(name, **tags):
        return ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": AMI},
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": _tag(**tags)}] if tags else [],
        )["LaunchTemplate"]["LaunchTemplateId"]

    mine["launch template"] = {template("karpenter.k8s.aws/123", **karpenter)}
    template("mine-by-hand")

    def volume(**tags):
        return ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=10, TagSpecifications=[
            {"ResourceType": "volume", "Tags": _tag(**tags)}] if tags else [])["VolumeId"]

    mine["volume"] = {volume(**{sweep.VOLUME_TAG: CLUSTER, "kubernetes.io/created-for/pvc/name": "data-0"})}
    volume(**{sweep.VOLUME_TAG: OTHER})
    volume()

    def eni(**tags):
        return ec2.create_network_interface(SubnetId=subnets[1], TagSpecifications=[
            {"ResourceType": "network-interface", "Tags": _tag(**tags)}] if tags else [])[
            "NetworkInterface"]["NetworkInterfaceId"]

    mine["network interface"] = {eni(**{sweep.ENI_TAG: CLUSTER})}
    eni()

    for name in (f"/aws/eks/{CLUSTER}/cluster", f"/aws/eks/{OTHER}/cluster", f"/aws/eks/{CLUSTER}-2/cluster",
                 "/aws/lambda/x"):
        logs.create_log_group(logGroupName=name)
    mine["log group"] = {f"/aws/eks/{CLUSTER}/cluster"}
    return mine


def found_by_kind(orphans) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for o in orphans:
        out.setdefault(o.kind, set()).add(o.id)
    return out


def everything(session) -> dict[str, int]:
    ec2, elb, logs = session.client("ec2"), session.client("elbv2"), session.client("logs")
    running = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
               if i["State"]["Name"] != "terminated"]
    return {"sg": len(ec2.describe_security_groups()["SecurityGroups"]),
            "lb": len(elb.describe_load_balancers()["LoadBalancers"]),
            "tg": len(elb.describe_target_groups()["TargetGroups"]), "instances": len(running),
            "lt": len(ec2.describe_launch_templates()["LaunchTemplates"]), # instances' root volumes go with them: count the free ones
            "volumes": len(ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["available"]}])["Volumes"]),
            "eni": len(ec2.describe_network_interfaces()["NetworkInterfaces"]),
            "logs": len(logs.describe_log_groups()["logGroups"])}


def test_it_finds_exactly_what_this_clusters_controllers_tagged(aws):
    mine = seed(aws)
    assert found_by_kind(sweep.find(aws, CLUSTER)) == mine


def test_without_delete_nothing_is_deleted(aws, capsys):
    mine = seed(aws)
    before = everything(aws)
    assert sweep.main(["--stack", "dev"], session=aws) == 0
    assert everything(aws) == before
    out = capsys.readouterr().out
    assert f"{sum(len(v) for v in mine.values())} resources of cluster {CLUSTER}" in out
    assert "found by elbv2.k8s.aws/cluster=eks-platform-dev" in out


def test_delete_after_confirmation_removes_only_what_was_found(aws):
    seed(aws)
    before = everything(aws)
    answers = []
    assert sweep.main(["--stack", "dev", "--delete"], session=aws,
                      confirm=lambda q: answers.append(q) or "delete") == 0
    assert answers and "delete these 8 resources?" in answers[0]
    after = everything(aws)
    # one of each kind was this cluster's; the default VPC's security group and the rest stay
    assert {k: before[k] - after[k] for k in before} == {k: 1 for k in before}
    assert found_by_kind(sweep.find(aws, CLUSTER)) == {}


def test_no_answer_deletes_nothing(aws):
    seed(aws)
    before = everything(aws)
    assert sweep.main(["--stack", "dev", "--delete"], session=aws, confirm=lambda q: "y") == 1
    assert everything(aws) == before


def test_delete_is_refused_while_the_cluster_exists(aws, capsys):
    seed(aws)
    iam = aws.client("iam")
    role = iam.create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws.client("eks").create_cluster(name=CLUSTER, roleArn=role, resourcesVpcConfig={"subnetIds": []})
    before = everything(aws)
    assert sweep.main(["--stack", "dev", "--delete", "--yes"], session=aws) == 2
    assert everything(aws) == before
    assert "run `pulumi destroy` first" in capsys.readouterr().err


def test_volumes_in_use_are_listed_and_never_deleted(aws):
    seed(aws)
    ec2 = aws.client("ec2")
    volume = next(o for o in sweep.find(aws, CLUSTER) if o.kind == "volume").id
    node = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=node, Device="/dev/sdf")
    orphan = next(o for o in sweep.find(aws, CLUSTER) if o.kind == "volume")
    assert not orphan.deletable
    sweep.main(["--stack", "dev", "--delete", "--yes"], session=aws)
    assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"]


def test_kind_has_nothing_to_sweep():
    with pytest.raises(SystemExit, match="on kind"):
        sweep.main(["--stack", "local"])
