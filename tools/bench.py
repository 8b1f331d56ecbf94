"""Benchmark: the speed targets, measured (never asserted by a test).

    python -m tools.bench [--repeat 3] [--no-suite]

Reports, per stack, the longest dependency chain (in resources), the program's evaluation under
the shared mocks (first run in this process, imports included, and the best warm run), the plan
report's own work on an evaluated stack (cost and deploy-time estimates: tools/cost.py,
tools/deploy_time.py) with the figures it gives (fixed USD/month, cold-deploy critical path in
minutes), the offline plan as a whole process (`python -m tools.plan --stack S`), and the unit
suite's time as pytest reports it and the process's wall time (`python -m pytest -q`, with the
project's addopts: pytest-xdist, one worker per core).
Runs are interleaved (stack by stack, round by round) because a shared 2-core machine drifts by
±30%; best and median are printed. Targets: suite <= 10 s, a stack's plan process <= 1.5 s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

from harness import run_stack, stack_config, stack_names
from harness.graph import longest_chain
from harness.program import PROJECT_DIR
from settings import parse_settings
from tools import cost, deploy_time

SUITE_TARGET, PLAN_TARGET = 10.0, 1.5


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=PROJECT_DIR, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _suite() -> tuple[float, float]:
    """(pytest's own reported seconds, wall seconds of the process) of the unit suite, as make test runs it."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=PROJECT_DIR,
                          check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    reported = re.search(r" in ([0-9.]+)s", done.stdout.strip().splitlines()[-1])
    return (float(reported.group(1)) if reported else wall), wall


def _evaluate(stack: str) -> tuple[float, int]:
    # a fresh evaluation each time (run_stack caches by inputs; a recording bypasses the cache)
    from harness import Recording

    started = time.perf_counter()
    rec = run_stack(stack, recording=Recording())
    return time.perf_counter() - started, len(rec)


def _report(stack: str) -> tuple[float, float, float]:
    """(seconds to build the cost and deploy-time sections, fixed USD/month, critical-path minutes)."""
    settings = parse_settings({k.removeprefix("eks-platform:"): v for k, v in stack_config(stack).items()}, stack)
    rec = run_stack(stack)
    started = time.perf_counter()
    c, d = cost.estimate(settings, rec), deploy_time.estimate(rec)
    return time.perf_counter() - started, c["fixedMonthly"], d.get("minutes", 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-suite", action="store_true", help="skip timing the unit suite")
    args = parser.parse_args(argv)
    rounds = max(1, args.repeat)
    stacks = stack_names()
    evaluations: dict[str, list[float]] = {s: [] for s in stacks}
    plans: dict[str, list[float]] = {s: [] for s in stacks}
    suite: list[float] = []
    suite_wall: list[float] = []
    counts: dict[str, int] = {}
    for _ in range(rounds):
        for stack in stacks:
            seconds, counts[stack] = _evaluate(stack)
            evaluations[stack].append(seconds)
            plans[stack].append(_timed([sys.executable, "-m", "tools.plan", "--stack", stack]))
        if not args.no_suite:
            reported, wall = _suite()
            suite.append(reported)
            suite_wall.append(wall)
    print(f"{'stack':<10}{'resources':>10}{'chain':>7}{'eval first':>12}{'eval warm':>11}{'report ms':>11}"
          f"{'plan best':>11}{'plan median':>13}{'$/month':>10}{'deploy min':>12}")
    for stack in stacks:
        warm = min(evaluations[stack][1:]) if rounds > 1 else evaluations[stack][0]
        # the longest dependency chain, in resources (harness/graph.py)
        chain = int(longest_chain(run_stack(stack))[0])
        report, dollars, minutes = min(_report(stack) for _ in range(rounds))
        print(f"{stack:<10}{counts[stack]:>10}{chain:>7}{evaluations[stack][0]:>12.2f}{warm:>11.2f}"
              f"{report * 1000:>11.1f}{min(plans[stack]):>11.2f}{statistics.median(plans[stack]):>13.2f}"
              f"{dollars:>10.2f}{minutes:>12.1f}")
    worst_plan = max(statistics.median(p) for p in plans.values())
    print(f"\nplan process (median of the slowest stack): {worst_plan:.2f} s (target <= {PLAN_TARGET} s)")
    if suite:
        print(f"unit suite (pytest's reported time): best {min(suite):.2f} s, median {statistics.median(suite):.2f} s "
              f"(target <= {SUITE_TARGET} s); the process, wall: median {statistics.median(suite_wall):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
