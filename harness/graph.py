"""The dependency graph the engine would build from a recording, and its longest chain.

A resource waits for its recorded dependencies (a component stands for all of its custom
descendants) and for its provider. ``longest_chain`` counts resources; a weighted critical path
(durations per resource type) can reuse ``edges``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

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
