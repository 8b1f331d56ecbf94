"""PromQL helpers the tests share: the documented metric names (tests/fixtures/metrics.yaml) and the
metric names a parsed expression uses."""

from __future__ import annotations

from harness import PROJECT_DIR, yamlio

FIXTURE = yamlio.load((PROJECT_DIR / "tests" / "fixtures" / "metrics.yaml").read_text())


def documented(*exporters: str) -> set[str]:
    """The metric names the given exporters document."""
    return {m for exporter in exporters for m in FIXTURE[exporter]["metrics"]}


def metric_names(node) -> set[str]:
    """Metric names of the vector selectors in a parsed PromQL expression."""
    if type(node).__name__ == "VectorSelector":
        return {node.name} if node.name else set()
    names: set[str] = set()
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, str | int | float):
            names |= metric_names(child)
    for arg in getattr(node, "args", None) or []:
        names |= metric_names(arg)
    return names


def label_names(node) -> set[str]:
    """Label names a parsed PromQL expression matches on or groups by (selectors' matchers, by/without)."""
    names: set[str] = set()
    if type(node).__name__ == "VectorSelector":
        return {m.name for m in node.matchers.matchers if m.name != "__name__"}
    modifier = getattr(node, "modifier", None)
    if type(modifier).__name__ == "AggModifier":
        names |= set(modifier.labels)
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, str | int | float):
            names |= label_names(child)
    for arg in getattr(node, "args", None) or []:
        names |= label_names(arg)
    return names


def documented_labels(*exporters: str) -> set[str]:
    """The label names the given exporters document on their metrics."""
    return {label for exporter in exporters for label in FIXTURE[exporter].get("labels", [])}
