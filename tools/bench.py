"""Benchmark: evaluating each stack under the shared mocks (the speed target is < 3 s per stack).

    python -m tools.bench [--repeat 3]

Reports the first evaluation (imports of pulumi_aws submodules included) and the best warm one.
A benchmark, not a test: timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import time

from harness import run_stack, stack_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'stack':<10}{'resources':>10}{'first s':>10}{'best warm s':>13}")
    for stack in stack_names():
        times, count = [], 0
        for _ in range(max(1, args.repeat)):
            started = time.perf_counter()
            count = len(run_stack(stack))
            times.append(time.perf_counter() - started)
        warm = min(times[1:]) if len(times) > 1 else times[0]
        print(f"{stack:<10}{count:>10}{times[0]:>10.2f}{warm:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
