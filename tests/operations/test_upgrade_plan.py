"""tools/upgrade_plan.py: `make upgrade-plan`, offline, from the program."""

from __future__ import annotations

import json
import shutil

import pytest

import versions
from harness.program import PROJECT_DIR
from tools import upgrade_plan

NEXT = [(a, b) for a, b in zip(versions.KUBERNETES_VERSIONS, versions.KUBERNETES_VERSIONS[1:], strict=False)]


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
@pytest.mark.parametrize(("current", "to"), NEXT)
def test_every_supported_minor_to_the_next(stack, current, to, monkeypatch):
    monkeypatch.setattr(upgrade_plan, "stack_settings", _at(stack, current))
    p = upgrade_plan.build(stack, to)
    assert (p["from"], p["to"]) == (current, to)
    # Kyverno 1.19 supports 1.33-1.35 (versions.SUPPORT): the preflight says which pin must move
    blocked = {b["component"] for b in p["preflight"]["blockers"]}
    assert blocked == ({"kyverno"} if not versions.SUPPORT["kyverno"].supports(to) else set())
    assert not p["preflight"]["apis"]
    steps = [s["step"] for s in p["order"]]
    if stack == "local":
        assert steps == ["kind cluster"]
        return
    assert steps[:2] == ["control plane", "EKS managed add-ons"]
    assert any(s.startswith("node group ") for s in steps) and any(s.startswith("Karpenter NodePool") for s in steps)
    addons = p["order"][1]["change"]
    assert addons["kube-proxy"] == [versions.EKS_ADDONS[current]["kube-proxy"], versions.EKS_ADDONS[to]["kube-proxy"]]
    group = next(s for s in p["order"] if s["step"].startswith("node group "))
    assert group["nodes_replaced"] == (2 if stack in ("dev", "staging") else 3) and "1 at a time" in group["change"]
    pool = next(s for s in p["order"] if s["step"].startswith("Karpenter NodePool"))
    assert pool["budgets"] == [{"nodes": "20%" if stack == "dev" else "10%"}]
    assert any(d["where"] == "chart karpenter 1.14.1: PodDisruptionBudget karpenter" for d in p["pdbs"])
    assert "cannot be downgraded" in p["irreversible"] and p["duration_minutes"][0] > 0
    text = upgrade_plan.text(p)
    assert "1. Preflight" in text and "2. Order" in text and "3. Expected duration" in text


def _at(stack, minor):
    real = upgrade_plan.stack_settings

    def settings(name):
        s = real(name)
        if s.is_aws:
            return s.model_copy(update={"cluster": s.cluster.model_copy(update={"version": minor})})
        return s.model_copy(update={"kind": s.kind.model_copy(update={"version": minor})})
    return settings


def test_a_target_more_than_one_minor_ahead_is_refused_with_the_steps(capsys):
    assert upgrade_plan.main(["--stack", "dev", "--to", "1.37"]) == 2
    assert "plan and apply each step in turn: 1.35 -> 1.36 -> 1.37" in capsys.readouterr().err
    with pytest.raises(upgrade_plan.RefusedError, match="EKS never downgrades"):
        upgrade_plan.build("dev", "1.34")


def test_json_output_and_the_blocked_exit(tmp_path, capsys):
    out = tmp_path / "up.json"
    assert upgrade_plan.main(["--stack", "dev", "--to", "1.36", "--json", str(out)]) == 1  # Kyverno blocks
    data = json.loads(out.read_text())
    assert data["preflight"]["blockers"][0]["component"] == "kyverno"
    assert data["preflight"]["deprecated_api_data"]["source"].startswith("https://kubernetes.io/docs/")
    assert "Upgrade plan: dev 1.35 -> 1.36" in capsys.readouterr().out


def test_a_removed_api_planted_in_a_gitops_workload_is_found(tmp_path):
    root = tmp_path / "gitops"
    shutil.copytree(PROJECT_DIR / "gitops", root)
    (root / "workloads" / "sample-app" / "templates" / "old-pdb.yaml").write_text(
        "{{- if .Values.legacy }}\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n"
        "  name: old\nspec:\n  maxUnavailable: 1\n{{- end }}\n")
    p = upgrade_plan.build("dev", "1.36", gitops_root=root)
    hits = [a for a in p["preflight"]["apis"] if a["api_version"] == "policy/v1beta1"]
    assert hits and hits[0]["status"] == "removed" and hits[0]["since"] == "1.25" and hits[0]["use"].startswith("policy/v1")
    assert "old-pdb.yaml" in hits[0]["where"]
    assert "removed API policy/v1beta1 PodDisruptionBudget" in upgrade_plan.text(p)


def test_the_deprecated_api_data_names_its_source_and_date():
    data = upgrade_plan.deprecated_apis()
    assert data["source"] and data["date"]
    assert all(row["in"] and row["use"] and row["kinds"] for key in ("removed", "deprecated") for row in data[key])


def test_a_minor_without_pins_says_which_pins_must_move(monkeypatch):
    real = upgrade_plan.stack_settings

    def at_136_without_kyverno(name):
        s = real(name)
        return s.model_copy(update={"cluster": s.cluster.model_copy(update={"version": "1.36"}),
                                    "kyverno": s.kyverno.model_copy(update={"enabled": False})})
    monkeypatch.setattr(upgrade_plan, "stack_settings", at_136_without_kyverno)
    p = upgrade_plan.build("dev", "1.37")
    blocked = {b["component"]: b for b in p["preflight"]["blockers"]}
    assert "kyverno" not in blocked and not p["preflight"]["ok"]
    # Karpenter 1.14.1 is known to 1.36; no EKS add-on build is pinned for 1.37
    assert blocked["karpenter"]["supports"] == "1.29-1.36" and "move the karpenter pin" in blocked["karpenter"]["action"]
    assert "versions.EKS_ADDONS" in blocked["eks managed add-ons"]["action"]
