"""tools/doctor.py: each tool found, missing, broken or too old, and the exit status."""

from __future__ import annotations

import json

from tools import doctor

GOOD = {
    "docker": (0, "28.2.2\n"),
    "kind": (0, "kind v0.32.0 go1.25.1 linux/amd64\n"),
    "pulumi": (0, "v3.210.0\n"),
    "kubectl": (0, json.dumps({"clientVersion": {"gitVersion": "v1.36.2"}})),
}


def runner(overrides=None):
    table = {**GOOD, **(overrides or {})}
    return lambda argv: table[argv[0]]


def test_all_tools_present(capsys):
    assert doctor.main([], runner()) == 0
    out = capsys.readouterr().out
    assert "ok  kind" in out and "0.32.0" in out and "missing" not in out


def test_missing_old_and_broken_tools_fail_with_how_to_fix(capsys):
    status = doctor.main([], runner({
        "kind": (127, ""),
        "docker": (1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"),
        "kubectl": (0, json.dumps({"clientVersion": {"gitVersion": "v1.30.0"}})),
    }))
    out = capsys.readouterr().out
    assert status == 1
    assert "NO  kind" in out and "missing: install kind v0.32.0" in out
    assert "NO  docker (daemon reachable)" in out and "Cannot connect to the Docker daemon" in out
    assert f"1.30.0 is older than {doctor.KUBECTL_MIN}" in out
    assert "3 of 4 tools missing or too old" in out


def test_kubectl_minimum_follows_the_newest_pinned_kind_image():
    assert doctor.KUBECTL_MIN == "1.35.0"
