"""tools/plan.py on a stack file with secret config (issue 23, item 1): a ``secure:`` value reads as set and
unread, and with ``--config-json`` (``pulumi config --show-secrets --json``) its plaintext is checked."""

from __future__ import annotations

import json

import pytest

from harness import program
from tools import plan

SECURE = {"secure": "v1:0l7nTc4f0Yq1Zp9x:TWFkZSB1cCBjaXBoZXJ0ZXh0"}
STACK = """\
config:
  aws:region: us-east-1
  eks-platform:tier: dev
  eks-platform:argocd:
    repoUrl: https://github.com/example/eks-platform.git
    credentials:
      type: https
      username: ci
      password: {secure}
  eks-platform:observability:
    alerts:
      receiver: slack
      slackWebhookUrl: {secure}
"""


@pytest.fixture
def secretive(tmp_path, monkeypatch):
    """A stack 'secretive' whose file holds two secure values (ciphertext the harness can't decrypt)."""
    secure = json.dumps(SECURE)
    (tmp_path / "Pulumi.secretive.yaml").write_text(STACK.format(secure=secure))
    monkeypatch.setattr(program, "STACKS_DIR", tmp_path)
    return tmp_path


def _plaintext(webhook: str, object_value: bool = True) -> str:
    # the shape of `pulumi config --show-secrets --json`: every key, objects also as objectValue
    argocd = {"repoUrl": "https://github.com/example/eks-platform.git",
              "credentials": {"type": "https", "username": "ci", "password": "ghp_token"}}
    obs = {"alerts": {"receiver": "slack", "slackWebhookUrl": webhook}}
    def entry(value: dict) -> dict:
        return {"value": json.dumps(value), "secret": True, **({"objectValue": value} if object_value else {})}

    return json.dumps({
        "aws:region": {"value": "us-east-1", "secret": False},
        "eks-platform:tier": {"value": "dev", "secret": False},
        "eks-platform:argocd": entry(argocd),
        "eks-platform:observability": entry(obs),
    })


def test_a_stack_with_secrets_plans_and_says_they_were_not_read(secretive, capsys):
    assert plan.main(["--stack", "secretive"]) == 0
    text = capsys.readouterr().out
    assert "Secret config" in text
    assert "eks-platform:argocd, eks-platform:observability: set, not read" in text


def test_the_plan_json_lists_the_secret_keys(secretive, capsys):
    assert plan.main(["--stack", "secretive", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["secrets"] == {"keys": ["eks-platform:argocd", "eks-platform:observability"], "plaintext": False}


@pytest.mark.parametrize("object_value", [True, False], ids=["objectValue", "JSON text only"])
def test_with_plaintext_a_secret_is_checked_for_its_shape(secretive, tmp_path, capsys, object_value):
    good = tmp_path / "good.json"
    good.write_text(_plaintext("https://hooks.slack.com/services/T0/B0/x", object_value))
    assert plan.main(["--stack", "secretive", "--config-json", str(good), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["secrets"]["plaintext"] is True
    bad = tmp_path / "bad.json"
    bad.write_text(_plaintext("https://example.com/hook", object_value))
    assert plan.main(["--stack", "secretive", "--config-json", str(bad)]) == 2
    assert "eks-platform:observability.alerts.slackWebhookUrl: must be a Slack incoming-webhook URL" in \
        capsys.readouterr().err


def test_blinded_config_json_is_refused_with_the_flag_to_use(secretive, tmp_path, capsys):
    blinded = tmp_path / "blinded.json"
    blinded.write_text(_plaintext("[secret]"))
    assert plan.main(["--stack", "secretive", "--config-json", str(blinded)]) == 2
    assert "--show-secrets" in capsys.readouterr().err


def test_an_opaque_secret_where_a_number_goes_is_refused_with_the_way_out(secretive, capsys):
    # a secret the plan can't read is taken as set only where the key takes text
    path = secretive / "Pulumi.secretive.yaml"
    path.write_text(path.read_text() + f"  eks-platform:metricsServer:\n    replicas: {json.dumps(SECURE)}\n")
    assert plan.main(["--stack", "secretive"]) == 2
    err = capsys.readouterr().err
    assert "eks-platform:metricsServer.replicas: is secret config" in err and "CONFIG_JSON" in err
