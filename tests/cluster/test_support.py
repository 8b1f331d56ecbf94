"""The support ledger (versions.SUPPORT) and its enforcement (components/core/support.py)."""

from __future__ import annotations

import pytest

import versions
from components.core import support
from harness import Recording, charts, run_stack, yamlio
from settings import ConfigError
from tests.conftest import make_settings


def test_every_pin_has_a_ledger_entry_with_a_source_and_date():
    keys = set(versions.SUPPORT)
    assert set(versions.CHARTS) <= keys
    assert {f"eks:{n}" for minor in versions.EKS_ADDONS.values() for n in minor} <= keys
    assert "kind-node-image" in keys
    for key, entry in versions.SUPPORT.items():
        assert entry.source and entry.date, key
        if key in versions.CHARTS:
            assert entry.pinned == versions.CHARTS[key].version, key


def test_every_enabled_component_is_in_the_ledger():
    for stack in ("dev", "staging", "prod", "local"):
        for key in support.enabled_components(make_settings(stack)):
            assert key in versions.SUPPORT, (stack, key)
    assert "kyverno" in support.enabled_components(make_settings("dev"))


@pytest.mark.parametrize("key", sorted(versions.CHARTS))
def test_the_ledger_agrees_with_the_charts_own_kube_version(key):
    """Reads Chart.yaml from the archive at the pin: where the chart states a kubeVersion, the ledger
    records it and its lower bound is no lower than the chart's."""
    pinned = versions.CHARTS[key]
    chart = yamlio.load((charts.chart_dir(pinned.name, pinned.version) / "Chart.yaml").read_text())
    entry = versions.SUPPORT[key]
    stated = chart.get("kubeVersion")
    assert entry.kube_version == stated, (key, stated)
    if stated:
        low = stated.removeprefix(">=").removesuffix("-0").rsplit(".", 1)[0]
        assert entry.low is not None and versions.minor_tuple(entry.low) >= versions.minor_tuple(low), (key, low)


def test_the_default_is_the_newest_minor_every_default_component_supports():
    for stack in ("dev", "staging", "prod", "local"):
        assert support.newest_supported(make_settings(stack)) == versions.DEFAULT_KUBERNETES_VERSION, stack
    assert versions.DEFAULT_KUBERNETES_VERSION == "1.35"  # Kyverno 1.19: 1.33-1.35


def test_an_unsupported_cluster_version_is_refused_naming_the_component_before_any_resource():
    rec = Recording()
    with pytest.raises(ConfigError, match=r"eks-platform:cluster.version: Kubernetes 1.36 is not supported by "
                                          r"kyverno 3.9.0 supports Kubernetes 1.33-1.35"):
        run_stack("dev", overrides={"eks-platform:cluster": {"version": "1.36"}}, recording=rec)
    assert not [r for r in rec if r.custom]


def test_an_unsupported_kind_version_is_refused():
    rec = Recording()
    with pytest.raises(ConfigError, match=r"eks-platform:kind.version: Kubernetes 1.36 .*kyverno 3.9.0"):
        run_stack("local", overrides={"eks-platform:kind": {"version": "1.36"}}, recording=rec)
    assert not [r for r in rec if r.custom]


def test_without_kyverno_1_36_is_accepted():
    s = make_settings("dev", cluster={"version": "1.36"}, kyverno={"enabled": False})
    support.check_supported(s)
    assert support.newest_supported(s) == "1.36"
