"""Write or check the URN golden files (tests/golden/urns/): what is deployed must not be replaced.

    python -m tools.urns            # report URNs that would disappear without an alias
    python -m tools.urns --write    # refresh the golden files after a deliberate, aliased change
    python -m tools.urns --write --accept-removed dev   # a deliberate removal in a dev stack

A removal is accepted only for the named stacks and never for staging or prod: there a disappearing
URN is a replaced resource and needs an alias.
"""

from __future__ import annotations

import argparse
import sys

from harness.urns import VARIANTS, evaluate, golden_path, read_golden, successor, urns, write_golden

PROTECTED_STACKS = ("staging", "prod")


def missing(variant: str) -> tuple[list[str], list[str]]:
    """(golden URNs neither present, aliased nor retired for a present successor, present URNs not in the
    golden file)."""
    rec = evaluate(variant)
    now = set(urns(rec))
    aliased = {alias for r in rec for alias in r.aliases}
    golden = set(read_golden(variant)) if golden_path(variant).exists() else set()
    retired = {u for u in golden if successor(u) in now}
    return sorted(golden - now - aliased - retired), sorted(now - golden)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.urns", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the golden files")
    parser.add_argument("--accept-removed", metavar="STACK", action="append", default=[],
                        help="with --write: accept that URNs of STACK's variants disappear (not staging or prod)")
    args = parser.parse_args(argv)
    protected = sorted(set(args.accept_removed) & set(PROTECTED_STACKS))
    if protected:
        parser.error(f"--accept-removed {protected[0]}: a URN that disappears in {'/'.join(PROTECTED_STACKS)} is a "
                     "replaced resource; add an alias instead")
    status = 0
    for variant in VARIANTS:
        gone, new = missing(variant)
        accepted = bool(gone) and args.write and VARIANTS[variant][0] in args.accept_removed
        if gone:
            status = 0 if accepted else 1
            print(f"{variant}: {len(gone)} URN(s) would be replaced (no alias names them)"
                  + (", accepted (--accept-removed)" if accepted else "") + ":")
            print("".join(f"  - {u}\n" for u in gone), end="")
        if args.write and (not gone or accepted):
            print(f"{variant}: wrote {write_golden(variant, evaluate(variant))} ({len(new)} new)")
        elif new:
            print(f"{variant}: {len(new)} new URN(s) not yet in the golden file")
    return status


if __name__ == "__main__":
    sys.exit(main())
