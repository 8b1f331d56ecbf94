"""Install the CrossGuard policy pack's requirements where the Pulumi CLI runs the pack (CI step).

    python -m tools.policy_env policy     # the pack folder; absent means "no pack yet", not an error

`pulumi preview --policy-pack policy` (pulumi/actions `policyPacks: policy`) starts the pack with the
Python of the virtualenv that ``runtime.options.virtualenv`` of ``policy/PulumiPolicy.yaml`` names,
relative to the pack. This creates that virtualenv and installs ``policy/requirements.txt`` into it.
A pack that names no virtualenv is refused: the CLI would then run it with whatever ``python3`` is
first on the PATH, which has neither pulumi-policy nor the pack's other requirements.
Comes after the program's ``.venv`` (it runs with that interpreter, which has PyYAML).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

from harness import yamlio

MANIFEST = "PulumiPolicy.yaml"


class PolicyPackError(Exception):
    """The pack's manifest can't be run by this pipeline; the message says what to change."""


def pack_virtualenv(pack: Path) -> Path | None:
    """The virtualenv the CLI will run ``pack`` with, or None when there is no pack (no manifest)."""
    manifest = pack / MANIFEST
    if not manifest.exists():
        return None
    data = yamlio.load(manifest.read_text()) or {}
    runtime = data.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name != "python":
        raise PolicyPackError(f"{manifest}: runtime is {name!r}; this pipeline installs Python packs only "
                              "(runtime: {name: python, options: {virtualenv: venv}})")
    options = (runtime.get("options") if isinstance(runtime, dict) else None) or {}
    folder = options.get("virtualenv")
    if not folder:
        raise PolicyPackError(f"{manifest}: set runtime.options.virtualenv (e.g. venv); without it the CLI runs "
                              "the pack with the first python3 on the PATH, which lacks its requirements")
    path = (pack / folder).resolve()
    if not path.is_relative_to(pack.resolve()):
        raise PolicyPackError(f"{manifest}: runtime.options.virtualenv {folder!r} leaves the pack folder")
    return path


def install(pack: Path) -> str:
    target = pack_virtualenv(pack)
    if target is None:
        return f"no {pack / MANIFEST}: previews and updates run without a policy pack"
    venv.create(target, with_pip=True, clear=False)
    requirements = pack / "requirements.txt"
    if requirements.exists():
        subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-r", str(requirements)], check=True)
    return f"policy pack {pack}: requirements installed in {target}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pack", type=Path, help="the policy pack folder (holds PulumiPolicy.yaml)")
    args = parser.parse_args(argv)
    try:
        print(install(args.pack))
    except PolicyPackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
