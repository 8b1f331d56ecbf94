"""The plan's Destroy section: what a destroy deletes, what it leaves, what the cluster can strand."""

from __future__ import annotations

from harness.program import run_stack
from harness.urns import VARIANTS
from tools import destroy_report, plan


def _report(variant: str, cluster: str = "c") -> dict:
    return destroy_report.report(run_stack(*VARIANTS[variant]), cluster)


def test_prod_leaves_its_backups_and_deletes_its_logs():
    d = _report("prod", "eks-platform-prod")
    assert {(r["type"], r["name"]) for r in d["retained"]} == {("Vault", "prod-ebs-backup-vault"),
                                                               ("Key", "prod-ebs-backup-key")}
    assert all(r["remove"] for r in d["retained"])
    groups = {r["name"] for r in d["deleted"] if r["type"] == "LogGroup"}
    assert groups == {"/aws/eks/eks-platform-prod/cluster", "/aws/eks/eks-platform-prod/containers",
                      "/aws/vpc/eks-platform-prod/flow-logs"}
    keys = [r for r in d["deleted"] if r["type"] == "Key"]
    assert keys and all("scheduled for deletion in" in r["what"] for r in keys)
    assert "prod-ebs-backup-key" not in {r["name"] for r in keys}
    tags = {o["tag"] for o in d["outside"]}
    assert tags == {"elbv2.k8s.aws/cluster=eks-platform-prod", "eks-platform/backup=eks-platform-prod",
                    "kubernetes.io/cluster/eks-platform-prod=owned and karpenter.sh/nodepool"}


def test_the_file_system_is_left_with_its_key():
    retained = {(r["type"], r["name"]) for r in _report("dev-storage")["retained"]}
    assert ("FileSystem", "dev-efs-csi-fs") in retained and ("Key", "dev-efs-csi-key") in retained


def test_kind_holds_nothing_in_aws_and_strands_nothing():
    d = _report("local")
    assert d == {"retained": [], "deleted": [], "outside": []}
    assert destroy_report.render_text(d)[1] == "  no data held in AWS"


def test_the_plan_prints_the_destroy_section_in_text_json_and_markdown():
    data = plan.build_plan("prod")
    assert data["destroy"]["retained"]
    text = plan.render(data)
    assert "Destroy (what `pulumi destroy` deletes" in text and "left in the account (retained):" in text
    assert "Vault prod-ebs-backup-vault: delete its recovery points" in text
    markdown = plan.render_markdown(data)
    assert "### Destroy" in markdown and "| Vault | `prod-ebs-backup-vault` |" in markdown
