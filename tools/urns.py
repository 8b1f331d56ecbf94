"""Write or check the URN golden files (tests/golden/urns/): what is deployed must not be replaced.

    python -m tools.urns            # report URNs that would disappear without an alias
    python -m tools.urns --write    # refresh the golden files after a deliberate, aliased change
"""

from __future__ import annotations

import argparse
import sys

from harness.urns import VARIANTS, evaluate, golden_path, read_golden, urns, write_golden


def missing(variant: str) -> tuple[list[str], list[str]]:
    """(golden URNs neither present nor aliased, present URNs not in the golden file)."""
    rec = evaluate(variant)
    now = set(urns(rec))
    aliased = {alias for r in rec for alias in r.aliases}
    golden = set(read_golden(variant)) if golden_path(variant).exists() else set()
    return sorted(golden - now - aliased), sorted(now - golden)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.urns", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the golden files")
    args = parser.parse_args(argv)
    status = 0
    for variant in VARIANTS:
        gone, new = missing(variant)
        if gone:
            status = 1
            print(f"{variant}: {len(gone)} URN(s) would be replaced (no alias names them):")
            print("".join(f"  - {u}\n" for u in gone), end="")
        if args.write and not gone:
            print(f"{variant}: wrote {write_golden(variant, evaluate(variant))} ({len(new)} new)")
        elif new:
            print(f"{variant}: {len(new)} new URN(s) not yet in the golden file")
    return status


if __name__ == "__main__":
    sys.exit(main())
