"""The Destroy section of the offline plan: what `pulumi destroy` deletes, and what it leaves behind.

Built from the evaluated stack and ``components/core/deletion.py`` (the one table of deletion
decisions), plus what the cluster's controllers create outside Pulumi's state, with the tags to find
them by (the controllers' own IAM policies scope themselves by these tags).
"""

from __future__ import annotations

from typing import Any

from components.core.deletion import DECISIONS
from harness.mocks import Recorded, Recording

# what a retained holder keeps with it (its protections are retained too; the plan names the holder)
HOLDERS = ("aws:backup/vault:Vault", "aws:s3/bucket:Bucket", "aws:efs/fileSystem:FileSystem")
REMOVE_BY_HAND = {
    "aws:backup/vault:Vault": "delete its recovery points (aws backup list-recovery-points-by-backup-vault, "
                              "delete-recovery-point), then aws backup delete-backup-vault",
    "aws:s3/bucket:Bucket": "empties itself by its lifecycle rule; or aws s3 rb s3://<bucket> --force",
    "aws:efs/fileSystem:FileSystem": "aws efs delete-file-system --file-system-id <id> (its mount targets are gone)",
    "aws:kms/key:Key": "aws kms schedule-key-deletion --key-id <id> once nothing it encrypts remains",
}

# Made by the cluster, not by Pulumi: a destroy deletes them only when the objects that made them go
# first (the platform orders its own; objects created by hand or by Argo CD are the usual strays).
OUTSIDE: list[dict[str, str]] = [
    {"needs": "lb-controller", "what": "load balancers, target groups and their security groups",
     "tag": "elbv2.k8s.aws/cluster=<cluster>",
     "when": "a Service of type LoadBalancer or an Ingress still exists when the controller is removed",
     # the controller's IAM policy scopes Create/DeleteLoadBalancer and its security groups by this tag
     "source": "aws-load-balancer-controller iam_policy.json (aws:RequestTag/elbv2.k8s.aws/cluster)"},
    {"needs": "karpenter", "what": "EC2 instances and launch templates",
     "tag": "kubernetes.io/cluster/<cluster>=owned and karpenter.sh/nodepool",
     "when": "a NodePool's nodes do not drain before the controller goes (a PodDisruptionBudget that never "
             "allows an eviction)",
     "source": "Karpenter getting-started CloudFormation (aws:RequestTag/karpenter.sh/nodepool)"},
    {"needs": "ebs-csi", "what": "EBS volumes of PersistentVolumeClaims",
     # every volume the driver makes carries it (the add-on's controller.extraVolumeTags)
     "tag": "eks-platform/backup=<cluster>",
     "when": "a claim created outside the platform is still bound when the driver goes, or its volume's "
             "deletion (asynchronous) has not finished",
     "source": "components/storage/ebs_csi.py"},
]


def _name(r: Recorded) -> str:
    return str(r.inputs.get("name") or r.inputs.get("bucketPrefix") or r.name)


def _present(rec: Recording) -> set[str]:
    """Which controllers of OUTSIDE the stack runs (by what the recording holds)."""
    present: set[str] = set()
    for r in rec.of_type("kubernetes:helm.sh/v3:Release"):
        chart = str(r.inputs.get("chart") or "")
        if "aws-load-balancer-controller" in chart:
            present.add("lb-controller")
        if chart.endswith("karpenter"):
            present.add("karpenter")
    if any(a.inputs.get("addonName") == "aws-ebs-csi-driver" for a in rec.of_type("aws:eks/addon:Addon")):
        present.add("ebs-csi")
    return present


def report(rec: Recording, cluster: str) -> dict[str, Any]:
    """``retained``: what stays in the account and how to remove it; ``deleted``: the data a destroy
    deletes; ``outside``: what the cluster made that a destroy can strand, with the tag to find it."""
    retained, deleted = [], []
    for r in (r for r in rec if r.custom and r.type in DECISIONS):
        decision = DECISIONS[r.type]
        kind = r.type.split(":")[-1]
        if r.retain_on_delete and (r.type in HOLDERS or r.type == "aws:kms/key:Key"):
            retained.append({"type": kind, "name": _name(r), "why": decision.why,
                             "remove": REMOVE_BY_HAND.get(r.type, "")})
        elif not r.retain_on_delete and r.type == "aws:kms/key:Key":
            days = int(r.inputs.get("deletionWindowInDays", 30))  # AWS's default window
            deleted.append({"type": kind, "name": r.name, "what": f"scheduled for deletion in {days} days "
                            "(aws kms cancel-key-deletion until then)"})
        elif not r.retain_on_delete and r.type == "aws:cloudwatch/logGroup:LogGroup":
            deleted.append({"type": kind, "name": _name(r), "what": "deleted with its logs (a fixed name: a retained "
                            "group would fail the next `up` of this stack; export what must be kept first)"})
        elif r.type == "kubernetes:storage.k8s.io/v1:StorageClass":
            deleted.append({"type": kind, "name": (r.inputs.get("metadata") or {}).get("name", r.name),
                            "what": f"reclaimPolicy {r.inputs.get('reclaimPolicy')}: the volumes of its claims are "
                                    "deleted with the claims"})
    present = _present(rec)
    outside = [{**{k: v for k, v in o.items() if k != "needs"}, "tag": o["tag"].replace("<cluster>", cluster)}
               for o in OUTSIDE if o["needs"] in present]
    key = lambda item: (item["type"], item["name"])  # noqa: E731
    return {"retained": sorted(retained, key=key), "deleted": sorted(deleted, key=key), "outside": outside}


def render_text(d: dict[str, Any]) -> list[str]:
    lines = ["Destroy (what `pulumi destroy` deletes and what it leaves; docs/operations.md, After a destroy)"]
    if d["retained"]:
        lines.append("  left in the account (retained):")
        for r in d["retained"]:
            lines.append(f"    {r['type']} {r['name']}: {r['remove']}")
    lines.append("  deleted with the stack:" if d["deleted"] else "  no data held in AWS")
    lines += [f"    {r['type']} {r['name']}: {r['what']}" for r in d["deleted"]]
    if d["outside"]:
        lines.append("  made by the cluster, stranded if their objects outlive their controller:")
        lines += [f"    {o['what']} (tag {o['tag']}): when {o['when']}" for o in d["outside"]]
    return lines


def render_markdown(d: dict[str, Any]) -> list[str]:
    lines = ["### Destroy", ""]
    if d["retained"]:
        lines += ["Left in the account (retained):", "", "| resource | name | to remove it |", "|---|---|---|"]
        lines += [f"| {r['type']} | `{r['name']}` | {r['remove']} |" for r in d["retained"]]
        lines.append("")
    if d["deleted"]:
        lines += ["Deleted with the stack:", "", "| resource | name | what happens |", "|---|---|---|"]
        lines += [f"| {r['type']} | `{r['name']}` | {r['what']} |" for r in d["deleted"]]
        lines.append("")
    if d["outside"]:
        lines += ["Made by the cluster, stranded if their objects outlive their controller:", ""]
        lines += [f"- {o['what']} (tag `{o['tag']}`): when {o['when']}" for o in d["outside"]]
        lines.append("")
    return lines
