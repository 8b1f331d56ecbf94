"""Check the tools the local (kind) stack needs: docker with a reachable daemon, kind, the Pulumi
CLI and kubectl, each at a minimum version. Prints what is missing and how to get it.

    python -m tools.doctor        # exit status 1 if anything is missing or too old
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import versions

Runner = Callable[[Sequence[str]], tuple[int, str]]


@dataclass(frozen=True)
class Tool:
    name: str
    command: tuple[str, ...]
    minimum: str
    how: str
    parse: Callable[[str], str | None]


def _first_version(text: str) -> str | None:
    match = re.search(r"v?(\d+\.\d+\.\d+)", text)
    return match.group(1) if match else None


def _kubectl_version(text: str) -> str | None:
    try:
        return _first_version(json.loads(text)["clientVersion"]["gitVersion"])
    except (ValueError, KeyError, TypeError):
        return _first_version(text)


def _docker_server(text: str) -> str | None:
    # `docker version --format {{.Server.Version}}` prints the daemon's version, or fails without one
    return _first_version(text)


# kubectl may be one minor older or newer than the API server (Kubernetes version skew policy).
_NEWEST = max(versions.KIND_NODE_IMAGES, key=lambda v: tuple(int(p) for p in v.split(".")))
KUBECTL_MIN = f"1.{int(_NEWEST.split('.')[1]) - 1}.0"

TOOLS = (
    Tool("docker (daemon reachable)", ("docker", "version", "--format", "{{.Server.Version}}"), "24.0.0",
         "install Docker Engine or Docker Desktop and start it (docs.docker.com/get-docker); the daemon must "
         "answer `docker version`", _docker_server),
    Tool("kind", ("kind", "version"), versions.KIND_MIN_VERSION,
         f"install kind v{versions.KIND_MIN_VERSION} or newer (kind.sigs.k8s.io/docs/user/quick-start: "
         "`go install sigs.k8s.io/kind@v" + versions.KIND_MIN_VERSION + "` or a release binary); its node images "
         "are pinned in versions.KIND_NODE_IMAGES", _first_version),
    Tool("pulumi", ("pulumi", "version"), "3.200.0",
         "install the Pulumi CLI 3.x (pulumi.com/docs/install: `curl -fsSL https://get.pulumi.com | sh`)",
         _first_version),
    Tool("kubectl", ("kubectl", "version", "--client", "-o", "json"), KUBECTL_MIN,
         f"install kubectl {KUBECTL_MIN} or newer (kubernetes.io/docs/tasks/tools)", _kubectl_version),
)


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=False)
    except FileNotFoundError:
        return 127, ""
    except subprocess.TimeoutExpired:
        return 124, ""
    return done.returncode, done.stdout + done.stderr


def _tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def check(tool: Tool, runner: Runner) -> tuple[bool, str]:
    code, out = runner(tool.command)
    if code == 127:
        return False, f"missing: {tool.how}"
    found = tool.parse(out) if code == 0 else None
    if found is None:
        detail = out.strip().splitlines()[-1] if out.strip() else f"exit status {code}"
        return False, f"not working ({detail}): {tool.how}"
    if _tuple(found) < _tuple(tool.minimum):
        return False, f"{found} is older than {tool.minimum}: {tool.how}"
    return True, found


def main(argv: list[str] | None = None, runner: Runner = run_command) -> int:
    failed = 0
    for tool in TOOLS:
        ok, detail = check(tool, runner)
        failed += not ok
        print(f"{'ok ' if ok else 'NO '} {tool.name:<28} {detail}")
    if failed:
        print(f"\n{failed} of {len(TOOLS)} tools missing or too old; the local stack needs all of them.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
