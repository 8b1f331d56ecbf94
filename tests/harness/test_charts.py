"""harness/charts.py: every Helm release of every stack renders offline at its pin with the program's values."""

from __future__ import annotations

import pytest

from harness import charts
from harness.program import run_stack, stack_names


@pytest.mark.parametrize("stack", stack_names())
def test_every_release_of_the_stack_renders_at_its_pin(stack):
    rec = run_stack(stack)
    releases = charts.releases(rec)
    assert releases, stack
    for release in releases:
        objects = charts.render_release(release)
        kinds = {o.get("kind") for o in objects}
        # a chart installs at least one workload or CRD; a render that returns nothing saw no values
        assert kinds & {"Deployment", "DaemonSet", "StatefulSet", "CustomResourceDefinition", "Job",
                        "ValidatingWebhookConfiguration", "ServiceAccount"}, (stack, release.name, kinds)


def test_a_release_renders_with_the_values_it_was_given():
    release = next(r for r in charts.releases(run_stack("dev")) if r.inputs["chart"] == "metrics-server")
    pinned = charts.chart_of(release)
    default = charts.render(pinned.name, pinned.version, release.inputs["values"], "m", "kube-system")
    two = charts.render(pinned.name, pinned.version, {**release.inputs["values"], "replicas": 7}, "m", "kube-system")
    replicas = [o["spec"]["replicas"] for o in two if o["kind"] == "Deployment"]
    assert replicas == [7] and default != two


def test_an_unpinned_chart_is_named():
    release = charts.releases(run_stack("dev"))[0]
    forged = type(release)(**{**release.__dict__, "inputs": {**release.inputs, "version": "0.0.0-none"}})
    with pytest.raises(KeyError, match=r"0\.0\.0-none"):
        charts.chart_of(forged)


def test_kyverno_names_the_subcharts_its_archive_lacks():
    release = next(r for r in charts.releases(run_stack("dev")) if r.inputs["chart"] == "kyverno")
    assert "kyverno-api" in " ".join(charts.missing_subcharts(release))
