"""What a cluster made outside Pulumi's state and a destroy can strand: list it, and delete it on request.

    python -m tools.sweep --stack dev [--cluster NAME] [--region R] [--delete [--yes]] [--json FILE]

With the user's AWS credentials (boto3's usual chain). It finds resources only by the tags the
cluster's controllers put on what they create, for this cluster's name:

- load balancers, target groups and security groups of the AWS Load Balancer Controller:
  ``elbv2.k8s.aws/cluster=<cluster>`` (the controller's IAM policy scopes its creates and deletes by it:
  ../shared/upstream/aws-load-balancer-controller/iam_policy.json);
- Karpenter's instances and launch templates: ``kubernetes.io/cluster/<cluster>=owned`` together with a
  ``karpenter.sh/nodepool`` tag (Karpenter's getting-started CloudFormation scopes RunInstances,
  CreateFleet and CreateLaunchTemplate by both);
- EBS volumes of claims: ``eks-platform/backup=<cluster>``, which the platform has the EBS CSI driver put
  on every volume it makes (components/storage/ebs_csi.py, ``controller.extraVolumeTags``);
- network interfaces of the VPC CNI: ``cluster.k8s.amazonaws.com/name=<cluster>`` (the CNI tags the ENIs
  it creates with the cluster's name, aws/amazon-vpc-cni-k8s pkg/awsutils);
- log groups EKS writes to by name: ``/aws/eks/<cluster>/`` (EKS can recreate the control-plane group
  while a deleting cluster still logs).

It never touches anything without those tags or names, nor what a destroy retains on purpose (the
backup vault, Loki's bucket, EFS: docs/operations.md, "After a destroy"). Volumes and network interfaces
are deleted only when nothing uses them (state ``available``). ``--delete`` is refused while the
cluster still exists: run it after ``pulumi destroy``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import stack_settings

LBC_TAG = "elbv2.k8s.aws/cluster"
NODEPOOL_TAG = "karpenter.sh/nodepool"
VOLUME_TAG = "eks-platform/backup"
ENI_TAG = "cluster.k8s.amazonaws.com/name"


@dataclass(frozen=True)
class Orphan:
    kind: str
    id: str
    name: str
    found_by: str
    deletable: bool = True
    """False when something still uses it (an attached volume, an in-use interface): listed, never deleted."""


def _tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _load_balancer_side(elb: Any, cluster: str) -> list[Orphan]:
    found: list[Orphan] = []
    wanted = f"{LBC_TAG}={cluster}"
    for kind, operation, key, arn_key, name_key in (
            ("load balancer", "describe_load_balancers", "LoadBalancers", "LoadBalancerArn", "LoadBalancerName"),
            ("target group", "describe_target_groups", "TargetGroups", "TargetGroupArn", "TargetGroupName")):
        items = list(_pages(elb, operation, key))
        for start in range(0, len(items), 20):  # DescribeTags takes at most 20 ARNs
            batch = items[start:start + 20]
            tags = {d["ResourceArn"]: _tags(d.get("Tags"))
                    for d in elb.describe_tags(ResourceArns=[i[arn_key] for i in batch])["TagDescriptions"]}
            found += [Orphan(kind, i[arn_key], i[name_key], wanted) for i in batch
                      if tags.get(i[arn_key], {}).get(LBC_TAG) == cluster]
    return found


def _ec2_side(ec2: Any, cluster: str) -> list[Orphan]:
    owned = f"kubernetes.io/cluster/{cluster}"
    found = [Orphan("security group", g["GroupId"], g["GroupName"], f"{LBC_TAG}={cluster}")
             for g in _pages(ec2, "describe_security_groups", "SecurityGroups",
                             Filters=[{"Name": f"tag:{LBC_TAG}", "Values": [cluster]}])]
    karpenter = [{"Name": f"tag:{owned}", "Values": ["owned"]}, {"Name": "tag-key", "Values": [NODEPOOL_TAG]}]
    for reservation in _pages(ec2, "describe_instances", "Reservations", Filters=[
            *karpenter, {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]):
        found += [Orphan("instance", i["InstanceId"], _tags(i.get("Tags")).get(NODEPOOL_TAG, ""),
                         f"{owned}=owned + {NODEPOOL_TAG}") for i in reservation["Instances"]]
    found += [Orphan("launch template", t["LaunchTemplateId"], t["LaunchTemplateName"],
                     f"{owned}=owned + {NODEPOOL_TAG}")
              for t in _pages(ec2, "describe_launch_templates", "LaunchTemplates", Filters=karpenter)]
    found += [Orphan("volume", v["VolumeId"], _tags(v.get("Tags")).get("kubernetes.io/created-for/pvc/name", ""),
                     f"{VOLUME_TAG}={cluster}", deletable=v["State"] == "available")
              for v in _pages(ec2, "describe_volumes", "Volumes",
                              Filters=[{"Name": f"tag:{VOLUME_TAG}", "Values": [cluster]}])]
    found += [Orphan("network interface", n["NetworkInterfaceId"], n.get("Description", ""), f"{ENI_TAG}={cluster}",
                     deletable=n["Status"] == "available")
              for n in _pages(ec2, "describe_network_interfaces", "NetworkInterfaces",
                              Filters=[{"Name": f"tag:{ENI_TAG}", "Values": [cluster]}])]
    return found


def _log_groups(logs: Any, cluster: str) -> list[Orphan]:
    prefix = f"/aws/eks/{cluster}/"
    return [Orphan("log group", g["logGroupName"], g["logGroupName"], f"name {prefix}*")
            for g in _pages(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=prefix)]


def find(session: Any, cluster: str) -> list[Orphan]:
    """Everything of ``cluster`` the sweep knows how to find, in the order ``delete`` removes it."""
    by_kind: dict[str, list[Orphan]] = {}
    for orphan in (*_ec2_side(session.client("ec2"), cluster), *_load_balancer_side(session.client("elbv2"), cluster),
                   *_log_groups(session.client("logs"), cluster)):
        by_kind.setdefault(orphan.kind, []).append(orphan)
    return [o for kind in DELETE_ORDER for o in sorted(by_kind.get(kind, []), key=lambda o: o.id)]


def cluster_exists(session: Any, cluster: str) -> bool:
    eks = session.client("eks")
    try:
        eks.describe_cluster(name=cluster)
    except eks.exceptions.ResourceNotFoundException:
        return False
    return True


def _deleters(session: Any) -> dict[str, Callable[[str], Any]]:
    ec2, elb, logs = session.client("ec2"), session.client("elbv2"), session.client("logs")
    return {
        "instance": lambda i: ec2.terminate_instances(InstanceIds=[i]),
        "load balancer": lambda arn: elb.delete_load_balancer(LoadBalancerArn=arn),
        "target group": lambda arn: elb.delete_target_group(TargetGroupArn=arn),
        "launch template": lambda i: ec2.delete_launch_template(LaunchTemplateId=i),
        "volume": lambda i: ec2.delete_volume(VolumeId=i),
        "network interface": lambda i: ec2.delete_network_interface(NetworkInterfaceId=i),
        # last: the load balancers and interfaces that use them go first
        "security group": lambda i: ec2.delete_security_group(GroupId=i),
        "log group": lambda name: logs.delete_log_group(logGroupName=name),
    }


# instances before what they hold; load balancers before their target groups; security groups after both
DELETE_ORDER = ("instance", "load balancer", "target group", "launch template", "volume", "network interface",
                "security group", "log group")


def delete(session: Any, orphans: list[Orphan]) -> list[str]:
    """Delete every deletable orphan, in ``DELETE_ORDER``; returns one line per failure (nothing raised)."""
    deleters, failures = _deleters(session), []
    for orphan in orphans:
        if not orphan.deletable:
            continue
        try:
            deleters[orphan.kind](orphan.id)
        except Exception as error:  # one failure must not stop the rest; each is reported
            failures.append(f"{orphan.kind} {orphan.id}: {error}")
    return failures


def render(cluster: str, region: str, orphans: list[Orphan]) -> str:
    if not orphans:
        return f"nothing of cluster {cluster} found in {region}"
    lines = [f"{len(orphans)} resources of cluster {cluster} in {region}, outside Pulumi's state:"]
    lines += [f"  {o.kind:<18} {o.id}  {o.name}  (found by {o.found_by})"
              f"{'' if o.deletable else '  in use: never deleted'}" for o in orphans]
    return "\n".join(lines)


def _stack_target(stack: str) -> tuple[str, str]:
    """The cluster name and region of a stack, from its stack file (no AWS call)."""
    settings = stack_settings(stack)
    if not settings.is_aws:
        raise SystemExit(f"stack {stack} is on kind: nothing in AWS to sweep")
    assert settings.region is not None  # required on the aws target
    return settings.cluster_name, settings.region


def main(argv: list[str] | None = None, session: Any = None, confirm: Callable[[str], str] = input) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack whose cluster to sweep (its name and region)")
    parser.add_argument("--cluster", help="the cluster's name, if not the stack's")
    parser.add_argument("--region", help="the region, if not the stack's aws:region")
    parser.add_argument("--delete", action="store_true", help="delete what is found, after a confirmation")
    parser.add_argument("--yes", action="store_true", help="with --delete: do not ask")
    parser.add_argument("--json", metavar="FILE", help="also write what is found as JSON ('-' for stdout only)")
    args = parser.parse_args(argv)
    cluster, region = _stack_target(args.stack)
    cluster, region = args.cluster or cluster, args.region or region
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region)
    orphans = find(session, cluster)
    if args.json == "-":
        print(json.dumps([asdict(o) for o in orphans], indent=2))
    else:
        print(render(cluster, region, orphans))
        if args.json:
            Path(args.json).write_text(json.dumps([asdict(o) for o in orphans], indent=2) + "\n")
    if not args.delete:
        return 0
    if cluster_exists(session, cluster):
        print(f"cluster {cluster} still exists in {region}: run `pulumi destroy` first; nothing deleted",
              file=sys.stderr)
        return 2
    deletable = [o for o in orphans if o.deletable]
    if not deletable:
        return 0
    if not args.yes and confirm(f"delete these {len(deletable)} resources? type 'delete' to go on: ") != "delete":
        print("nothing deleted", file=sys.stderr)
        return 1
    failures = delete(session, deletable)
    for line in failures:
        print(f"  failed: {line}", file=sys.stderr)
    print(f"deleted {len(deletable) - len(failures)} of {len(deletable)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
