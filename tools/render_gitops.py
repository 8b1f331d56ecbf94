"""Print what Argo CD would sync from gitops/ for one environment, offline (helm-python-sdk, no helm
binary, no cluster): the root's child Applications, or one workload's objects.

    python -m tools.render_gitops --env dev                         # the root's Applications
    python -m tools.render_gitops --env prod --app sample-app --exposure alb --hostname app.example.com
"""

from __future__ import annotations

import argparse
import sys

import yaml

from harness.gitops import ENVIRONMENTS, EXPOSURES, render_root, render_workload, root_values, workloads

# the root's repoURL only fills the children's source here; the platform sets the real one
PLACEHOLDER_REPO = "https://github.com/example-org/eks-platform.git"


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (an nginx.conf reads as it is written)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render_gitops", description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS, required=True)
    parser.add_argument("--exposure", choices=EXPOSURES, default="istio")
    parser.add_argument("--hostname", default="")
    parser.add_argument("--app", choices=workloads(), help="a workload's objects instead of the root's Applications")
    args = parser.parse_args(argv)
    if args.app:
        objects = render_workload(args.app, args.env, args.exposure, args.hostname)
    else:
        objects = render_root(root_values(args.env, args.exposure, PLACEHOLDER_REPO, hostname=args.hostname))
    sys.stdout.write(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
