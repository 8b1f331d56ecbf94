"""The dependency graph the engine would build from a recording, and its longest chain.

A resource waits for its recorded dependencies (a component stands for all of its custom
descendants) and for its provider. ``longest_chain`` counts resources (or weighs them);
``critical_path`` schedules every resource at its earliest start under per-resource durations
(the engine starts a resource as soon as everything it waits for is done) and returns the chain
that decides the finish, with each step's start and finish.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.mocks import Recorded, Recording


def edges(rec: Recording) -> dict[str, set[str]]:
    """URN of each custom resource -> URNs of the custom resources it waits for."""
    by_urn = {r.urn: r for r in rec}

    @functools.cache
    def custom_descendants(urn: str) -> frozenset[str]:
        res = by_urn.get(urn)
        if res is None:
            return frozenset()
        if res.custom:
            return frozenset({urn})
        return frozenset(u for child in rec.children(res) for u in custom_descendants(child.urn))

    out: dict[str, set[str]] = {}
    for res in rec:
        if not res.custom:
            continue
        deps: set[str] = set()
        for urn in res.dependencies:
            deps |= custom_descendants(urn)
        if res.provider:
            provider_urn = res.provider.rsplit("::", 1)[0]
            if provider_urn in by_urn:
                deps.add(provider_urn)
        deps.discard(res.urn)
        out[res.urn] = deps
    return out


def longest_chain(rec: Recording, weight: Callable[[Recorded], float] = lambda r: 1.0) -> tuple[float, list[Recorded]]:
    """The heaviest path through the graph (by ``weight``, one per resource by default), first to last."""
    graph = edges(rec)
    by_urn = {r.urn: r for r in rec}

    @functools.cache
    def best(urn: str) -> tuple[float, tuple[str, ...]]:
        own = weight(by_urn[urn])
        options = [best(dep) for dep in graph[urn]]
        if not options:
            return own, (urn,)
        total, path = max(options, key=lambda o: o[0])
        return total + own, (*path, urn)

    if not graph:
        return 0.0, []
    total, path = max((best(u) for u in graph), key=lambda o: o[0])
    return total, [by_urn[u] for u in path]


@dataclass(frozen=True)
class Step:
    """One resource on a schedule: when it can start (all it waits for done) and when it is done."""

    resource: Recorded
    start: float
    finish: float

    @property
    def duration(self) -> float:
        return self.finish - self.start


@dataclass(frozen=True)
class Schedule:
    """Earliest start and finish of every custom resource, and the chain that ends last."""

    steps: dict[str, Step]
    path: list[Step]

    @property
    def total(self) -> float:
        return self.path[-1].finish if self.path else 0.0


def critical_path(rec: Recording, duration: Callable[[Recorded], float],
                  graph: dict[str, set[str]] | None = None) -> Schedule:
    """Schedule ``rec`` with unlimited parallelism (the engine's default of 4 x CPUs is far above the
    width of this graph) and return the critical path: the chain of waits that ends last.

    ``graph`` replaces ``edges(rec)`` (a pruned graph gives a floor to compare with)."""
    graph = edges(rec) if graph is None else graph
    by_urn = {r.urn: r for r in rec}
    steps: dict[str, Step] = {}
    before: dict[str, str | None] = {}

    def visit(urn: str) -> Step:
        if urn in steps:
            return steps[urn]
        deps = [visit(d) for d in sorted(graph.get(urn, ()))]
        latest = max(deps, key=lambda s: s.finish, default=None)
        start = latest.finish if latest else 0.0
        steps[urn] = Step(by_urn[urn], start, start + duration(by_urn[urn]))
        before[urn] = latest.resource.urn if latest else None
        return steps[urn]

    for urn in graph:
        visit(urn)
    if not steps:
        return Schedule({}, [])
    last: str | None = max(steps.values(), key=lambda s: (s.finish, s.resource.urn)).resource.urn
    path: list[Step] = []
    while last is not None:
        path.append(steps[last])
        last = before[last]
    return Schedule(steps, path[::-1])


def descendants_of(rec: Recording, urns: Iterable[str], graph: dict[str, set[str]] | None = None) -> set[str]:
    """Every resource that waits, directly or through others, for one of ``urns``."""
    graph = edges(rec) if graph is None else graph
    waiters: dict[str, set[str]] = {}
    for urn, deps in graph.items():
        for dep in deps:
            waiters.setdefault(dep, set()).add(urn)
    seen: set[str] = set()
    todo = list(urns)
    while todo:
        for w in waiters.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen
