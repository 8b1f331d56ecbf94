"""tools/plan_delta.py: the difference a change makes to each stack's plan, and the cost threshold.

A fixture pair of plans (tests/fixtures/plan_delta/) with a known difference: the node group down from
three nodes to two, a NAT gateway added, a backup vault removed, a log group re-parented without an
alias (replaced), the cluster's KMS key moved with one (not flagged), one policy violation gone and one
new. Then the comment's Markdown, the threshold on both sides of its boundary, and the git-worktree
path once on a real commit pair (a clone of this repository's HEAD and one commit on it).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from harness import PROJECT_DIR
from tools import plan_delta

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "plan_delta"
BASE, HEAD = FIXTURES / "base.json", FIXTURES / "head.json"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def d() -> dict:
    return plan_delta.delta(load(BASE), load(HEAD), percent=10, usd=20)


# --- the comparison --------------------------------------------------------------------------------

def test_cost_total_and_the_line_items_that_changed(d):
    c = d["cost"]
    assert (c["base"], c["head"], c["delta"], c["percent"]) == (170.32, 178.64, 8.32, 4.88)
    assert c["items"] == [
        {"item": "node group dev-nodes-system", "base": 73.59, "head": 49.06, "delta": -24.53, "only": None},
        {"item": "NAT gateway", "base": 0.0, "head": 32.85, "delta": 32.85, "only": "head"}]


def test_deploy_critical_path_before_and_after(d):
    dep = d["deploy"]
    assert (dep["base"]["minutes"], dep["head"]["minutes"], dep["delta"], dep["pathChanged"]) == (23.6, 24.1, 0.5, True)
    assert dep["head"]["path"][0] == "dev-network-nat-a (aws:ec2/natGateway:NatGateway)"
    assert len(dep["base"]["path"]) == 3


def test_resources_added_removed_replaced_changed_and_aliased(d):
    r = d["resources"]
    assert r["byUrn"] is True
    assert r["added"] == {"aws:ec2/eip:Eip": 1, "aws:ec2/natGateway:NatGateway": 1}
    assert r["removed"] == {"aws:backup/vault:Vault": 1}
    assert [(x["name"], x["type"]) for x in r["replaced"]] == [("dev-logging-logs", "aws:cloudwatch/logGroup:LogGroup")]
    assert r["replaced"][0]["from"].split("::")[2].startswith("platform:observability:Logging$")
    # the node group's inputs changed; the KMS key moved with an alias and kept its inputs
    assert r["changed"] == {"aws:eks/nodeGroup:NodeGroup": 1}
    assert r["aliased"] == 1 and r["totals"] == {"base": 6, "head": 7}


def test_policy_results_that_changed(d):
    p = d["policy"]
    assert [(v["level"], v["rule"], v["resource"]) for v in p["new"]] == [
        ("mandatory", "nat-single-az", "dev-network-nat-a")]
    assert [(v["level"], v["rule"], v["resource"]) for v in p["resolved"]] == [
        ("advisory", "controller-replicas", "dev-metrics-server-release")]
    assert p["counts"] == {"base": {"mandatory": 0, "advisory": 1}, "head": {"mandatory": 1, "advisory": 0}}


def test_a_base_plan_without_urns_is_compared_by_counts_per_type():
    base = load(BASE)
    del base["resources"]
    r = plan_delta.delta(base, load(HEAD))["resources"]
    assert r["byUrn"] is False and r["replaced"] == [] and r["changed"] == {}
    assert r["added"] == {"aws:ec2/eip:Eip": 1, "aws:ec2/natGateway:NatGateway": 1}
    assert r["removed"] == {"aws:backup/vault:Vault": 1}
    assert "the base plan lists no URNs" in plan_delta.render_markdown([plan_delta.delta(base, load(HEAD))])


def test_a_stack_the_base_does_not_have_is_all_added():
    new = plan_delta.delta(None, load(HEAD), percent=50)
    assert new["newStack"] and new["cost"]["base"] == 0 and new["cost"]["percent"] is None
    assert sum(new["resources"]["added"].values()) == 7 and new["resources"]["removed"] == {}
    assert new["threshold"]["reasons"] == ["rises from nothing, more than 50% (COST_DELTA_MAX_PERCENT)"]


# --- the threshold ---------------------------------------------------------------------------------

def _cost(base: float, head: float) -> dict:
    return {"base": base, "head": head}


@pytest.mark.parametrize(("base", "head", "percent", "usd", "fails"), [
    (200.0, 220.0, 10, None, False),     # exactly 10%: passes
    (200.0, 220.01, 10, None, True),     # a cent above
    (200.0, 220.0, 9.99, None, True),
    (100.10, 110.11, 10, None, False),   # 10.01 of 100.10 is 10% exactly in cents (9.999...% in floats)
    (170.32, 178.64, None, 8.32, False),  # exactly $8.32: passes
    (170.32, 178.64, None, 8.31, True),
    (170.32, 178.64, 10, 8.31, True),    # either threshold fails it
    (178.64, 170.32, 0, 0, False),       # a decrease never fails
    (0.0, 0.0, 0, 0, False),             # kind: nothing billed either side
])
def test_threshold_on_both_sides_of_the_boundary(base, head, percent, usd, fails):
    t = plan_delta.threshold(_cost(base, head), percent, usd, accepted=False)
    assert t["fails"] is fails and t["exceeded"] is fails
    accepted = plan_delta.threshold(_cost(base, head), percent, usd, accepted=True)
    assert accepted["fails"] is False and accepted["accepted"] is fails


@pytest.mark.parametrize(("flags", "status", "says"), [
    (["--fail-above-usd", "8.32"], 0, "**within it**"),
    (["--fail-above-usd", "8.31"], 1, "**Failing**: add the label `cost-increase-accepted` to accept it."),
    (["--fail-above-usd", "8.31", "--accepted"], 0, "**accepted** by the label `cost-increase-accepted`"),
    (["--fail-above-percent", "4.89"], 0, "**within it**"),
    (["--fail-above-percent", "4.88"], 1, "it rises 4.88%, more than 4.88% (COST_DELTA_MAX_PERCENT)"),
    ([], 0, "No cost threshold is set"),
])
def test_the_command_exits_on_the_threshold_unless_accepted(tmp_path, capsys, flags, status, says):
    md, out = tmp_path / "delta.md", tmp_path / "delta.json"
    argv = ["--base-json", str(BASE), "--head-json", str(HEAD), "--markdown", str(md), "--json", str(out), *flags]
    assert plan_delta.main(argv) == status
    assert says in md.read_text()
    assert json.loads(out.read_text())["threshold"]["fails"] is (status == 1)
    assert capsys.readouterr().out.startswith("eks-platform plan delta: dev (base -> this change)")


def test_inputs_that_are_not_plans_are_usage_errors(tmp_path, capsys):
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"stack": "dev"}')
    assert plan_delta.main(["--base-json", str(bogus), "--head-json", str(HEAD)]) == 2
    assert "not a plan JSON" in capsys.readouterr().err
    assert plan_delta.main(["--base-json", str(BASE), "--head-json", str(HEAD), "--stack", "prod"]) == 2
    assert "is the plan of dev" in capsys.readouterr().err
    assert plan_delta.main(["--base", "no-such-ref-xyz", "--stack", "dev"]) == 2
    assert "--base no-such-ref-xyz: no such commit" in capsys.readouterr().err


# --- the comment -----------------------------------------------------------------------------------

def test_the_markdown_comment(d):
    """The whole comment of the fixture pair (tests/fixtures/plan_delta/comment.md is the spec)."""
    md = plan_delta.render_markdown([d])
    assert md == (FIXTURES / "comment.md").read_text()


def test_the_markdown_of_a_change_that_changes_nothing():
    same = plan_delta.delta(load(BASE), load(BASE), usd=0, base_ref="origin/main 1a2b3c4d5e6f")
    md = plan_delta.render_markdown([same])
    assert md.startswith("## eks-platform plan delta: `dev` (`origin/main 1a2b3c4d5e6f` → this change)\n")
    assert "| fixed cost/month | $170.32 | $170.32 | **±$0.00** |" in md
    assert md.rstrip().endswith("No difference in cost, deploy path, resources or policy results.")
    assert "###" not in md


# --- the git-worktree path, on this repository ---------------------------------------------------------

def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_two_commits_through_git_worktrees(tmp_path):
    """A real commit pair: a shallow clone of this repository's HEAD and one commit on it that doubles the
    EKS control plane's hourly price. Each side is evaluated by its own commit's tools.plan in a temporary
    worktree (about 10 s): exactly that line item differs (the evaluation is deterministic, and it is the
    commit that is evaluated, not this working tree), a stack the commit lacks is new, and no worktree is
    left behind."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{PROJECT_DIR}", str(clone)], check=True)
    prices = clone / "data" / "prices.yaml"
    text = prices.read_text()
    assert "  eks-standard:\n    price: 0.10\n" in text
    prices.write_text(text.replace("  eks-standard:\n    price: 0.10\n", "  eks-standard:\n    price: 0.20\n"))
    _git(clone, "-c", "user.name=plan-delta test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
         "commit", "--quiet", "--no-verify", "-am", "double the EKS price")
    base_commit, base = plan_delta.plans_at("HEAD~1", ["dev", "qa"], repo=clone)
    head_commit, head = plan_delta.plans_at("HEAD", ["dev"], repo=clone)
    assert (base_commit, head_commit) == (_git(clone, "rev-parse", "HEAD~1"), _git(clone, "rev-parse", "HEAD"))
    assert base["qa"] is None and base["dev"]["resources"]
    d = plan_delta.delta(base["dev"], head["dev"], usd=73, base_ref=f"HEAD~1 {base_commit[:12]}")
    assert d["cost"]["items"] == [{"item": "EKS control plane", "base": 73.0, "head": 146.0, "delta": 73.0,
                                   "only": None}]
    assert d["cost"]["delta"] == 73.0 and d["threshold"]["fails"] is False  # equal to $73: passes
    assert not d["deploy"]["pathChanged"] and d["deploy"]["delta"] == 0
    r = d["resources"]
    assert r["byUrn"] and not (r["added"] or r["removed"] or r["replaced"] or r["changed"])
    assert not (d["policy"]["new"] or d["policy"]["resolved"])
    assert "plan-delta-" not in _git(clone, "worktree", "list")


def test_a_real_plan_has_what_the_delta_reads():
    """The fixtures' shape is the plan's: the working tree's dev plan, compared with itself."""
    real = plan_delta.plan_here("dev")
    assert {"stack", "cost", "deployTime", "components", "resources", "policy"} <= set(real)
    assert set(load(HEAD)["resources"][0]) <= set(real["resources"][0]) | {"aliases"}
    assert plan_delta.unchanged(plan_delta.delta(real, copy.deepcopy(real)))


# --- the pipeline ------------------------------------------------------------------------------------

def test_the_pull_request_pipeline_passes_the_thresholds_and_the_label():
    from tests.operations.test_workflows import load

    workflow = load(PROJECT_DIR / ".github" / "workflows" / "pull-request.yml")
    assert {"labeled", "unlabeled", "synchronize"} <= set(workflow["on"]["pull_request"]["types"])
    job = workflow["jobs"]["plan"]
    step = next(s for s in job["steps"] if "make plan-delta" in str(s.get("run", "")))
    env = step["env"]
    assert env["MAX_PERCENT"] == f"${{{{ vars.{plan_delta.PERCENT_VARIABLE} }}}}"
    assert env["MAX_USD"] == f"${{{{ vars.{plan_delta.USD_VARIABLE} }}}}"
    assert f"'{plan_delta.ACCEPT_LABEL}'" in env["ACCEPTED"]
    for flag in ('FAIL_ABOVE_PERCENT="$MAX_PERCENT"', 'FAIL_ABOVE_USD="$MAX_USD"', 'ACCEPTED="$ACCEPTED"',
                 "BASE=HEAD^1", "HEAD_JSON=plan.json"):
        assert flag in step["run"], flag
    checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 2  # the merge commit and its base parent
    assert job["permissions"]["pull-requests"] == "write"
    # the Makefile turns ACCEPTED=true into --accepted, and nothing else
    assert "$(if $(filter true,$(ACCEPTED)),--accepted,)" in (PROJECT_DIR / "Makefile").read_text()
