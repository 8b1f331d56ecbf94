"""tools/policy_env.py: where the CI step puts the CrossGuard pack's requirements, and what it refuses."""

from __future__ import annotations

import pytest

from tools import policy_env
from tools.policy_env import PolicyPackError, pack_virtualenv


def manifest(tmp_path, text: str):
    (tmp_path / "PulumiPolicy.yaml").write_text(text)
    return tmp_path


def test_no_pack_is_not_an_error(tmp_path, capsys):
    assert pack_virtualenv(tmp_path) is None
    assert policy_env.main([str(tmp_path)]) == 0
    assert "run without a policy pack" in capsys.readouterr().out


def test_the_virtualenv_the_cli_runs_the_pack_with(tmp_path):
    pack = manifest(tmp_path, "runtime:\n  name: python\n  options:\n    virtualenv: venv\n")
    assert pack_virtualenv(pack) == (tmp_path / "venv").resolve()


@pytest.mark.parametrize(("text", "says"), [
    ("runtime: python\n", "set runtime.options.virtualenv"),
    ("runtime:\n  name: python\n  options: {}\n", "set runtime.options.virtualenv"),
    ("runtime: nodejs\n", "Python packs only"),
    ("runtime:\n  name: python\n  options:\n    virtualenv: ../.venv\n", "leaves the pack folder"),
])
def test_refused_manifests_say_what_to_change(tmp_path, capsys, text, says):
    pack = manifest(tmp_path, text)
    with pytest.raises(PolicyPackError, match=says):
        pack_virtualenv(pack)
    assert policy_env.main([str(pack)]) == 2
    assert says in capsys.readouterr().err


def test_install_creates_the_virtualenv_and_installs_the_requirements(tmp_path, monkeypatch):
    pack = manifest(tmp_path, "runtime:\n  name: python\n  options:\n    virtualenv: venv\n")
    (pack / "requirements.txt").write_text("pulumi-policy\n")
    calls = []
    monkeypatch.setattr(policy_env.venv, "create", lambda path, **kw: calls.append(("venv", path)))
    monkeypatch.setattr(policy_env.subprocess, "run", lambda argv, check: calls.append(("run", argv)))
    assert "requirements installed" in policy_env.install(pack)
    target = (tmp_path / "venv").resolve()
    assert calls[0] == ("venv", target)
    assert calls[1][1][0] == str(target / "bin" / "python")
    assert calls[1][1][-2:] == ["-r", str(pack / "requirements.txt")]
