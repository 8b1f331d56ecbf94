"""Upstream reference data: one resolver, a lock that follows versions.py, a fetch tool that checks
hashes, and missing data that fails loudly instead of skipping."""

from __future__ import annotations

import hashlib

import pytest

import versions
from harness import upstream
from harness.upstream import UpstreamDataMissingError, chart_values_file, charts_in_lock, lock, upstream_file
from tools import fetch_upstream

# Pinned charts whose upstream values are not in the locked data, and why. Exact: a chart here must
# have no lock entry, and every pinned chart without one must be here.
NO_UPSTREAM_DATA = {
    "cluster-autoscaler": "no copy of kubernetes/autoscaler's chart values in the steering repo's shared/upstream "
                          "(its keys were read from cluster-autoscaler-9.59.0 and are asserted by test_cluster_autoscaler)",
    "metrics-server": "no copy of kubernetes-sigs/metrics-server's chart values in shared/upstream (keys read from "
                      "metrics-server-helm-chart-3.13.1, asserted by test_metrics_server)",
    "aws-for-fluent-bit": "no copy of aws/eks-charts' stable/aws-for-fluent-bit values in shared/upstream (keys read "
                          "from its 0.2.0 values.yaml, asserted by tests/observability/test_logging.py)",
    "loki": "no copy of grafana-community/helm-charts' charts/loki values in shared/upstream (keys read from its "
            "18.11.0 values.yaml, asserted by tests/observability/test_logging.py)",
    "prometheus-blackbox-exporter": "no copy of prometheus-community's blackbox exporter chart values in shared/upstream "
                                    "(keys read from prometheus-blackbox-exporter-11.17.2, asserted by "
                                    "test_webhook_certificates)",
    **{chart: "the locked Istio data is master before the 1.31 branch (istio@86c9f01f), not the pinned 1.31.1; "
              "tests/traffic/test_istio.py checks the values against it all the same" for chart in ("istio-base", "istiod",
                                                                                          "istio-gateway")},
    "istio-cni": "no copy of istio's manifests/charts/istio-cni values in shared/upstream; the release sets no values "
                 "(the chart's defaults: chained to the cluster's CNI in /opt/cni/bin and /etc/cni/net.d)",
}


def test_every_locked_file_is_found_and_matches_its_sha256():
    assert fetch_upstream.check() == []


def test_lock_versions_follow_the_pins_so_a_bump_without_new_data_fails():
    for key, entry in lock().items():
        assert key == f"{key.split('@')[0]}@{entry['version']}"
        for chart in entry["charts"]:
            if chart in versions.CHARTS:
                assert versions.CHARTS[chart].version == entry["version"], (
                    f"versions.CHARTS[{chart!r}] is {versions.CHARTS[chart].version} but the upstream data is "
                    f"{key}: refresh the data and the lock entry with the bump")


def test_charts_without_upstream_data_are_listed_with_a_reason():
    unlocked = {chart for chart in versions.CHARTS if chart not in charts_in_lock()}
    assert unlocked == set(NO_UPSTREAM_DATA)
    assert chart_values_file("karpenter") == ("karpenter", "values.yaml")
    assert chart_values_file("karpenter-crd") is None


def test_the_environment_variable_wins_then_shared_then_the_cache(tmp_path, monkeypatch):
    (tmp_path / "karpenter").mkdir()
    (tmp_path / "karpenter" / "values.yaml").write_text("replicas: 9\n")
    monkeypatch.setenv(upstream.ENV, str(tmp_path))
    assert upstream_file("karpenter", "values.yaml") == tmp_path / "karpenter" / "values.yaml"
    # a file the variable's folder lacks still comes from the next place
    assert upstream_file("karpenter", "Chart.yaml") == upstream.SHARED_DIR / "karpenter" / "Chart.yaml"
    monkeypatch.delenv(upstream.ENV)
    assert upstream.roots() == [upstream.SHARED_DIR, upstream.CACHE_DIR]


def test_missing_data_names_the_file_the_lock_entry_and_make_upstream(tmp_path, monkeypatch):
    monkeypatch.setattr(upstream, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setattr(upstream, "CACHE_DIR", tmp_path / "no-cache")
    with pytest.raises(UpstreamDataMissingError, match=r"karpenter/values.yaml \(lock entry karpenter@1.14.1\).*make upstream"):
        upstream_file("karpenter", "values.yaml")


def test_fetch_writes_verified_files_and_refuses_a_wrong_hash(tmp_path, monkeypatch):
    good = {"k@1": {"repository": "o/r", "ref": "v1", "version": "1", "charts": {}, "files": {
        "k/values.yaml": {"path": "charts/k/values.yaml", "sha256": hashlib.sha256(b"a: 1\n").hexdigest()},
        "k/crd.yaml": {"path": "t/crd.yaml", "transform": "strip-template-lines",
                       "sha256": hashlib.sha256(b"kind: X\n").hexdigest()},
        "k/bad.yaml": {"path": "bad.yaml", "sha256": "0" * 64}}}}
    monkeypatch.setattr(fetch_upstream, "lock", lambda: good)
    served = {"https://raw.githubusercontent.com/o/r/v1/charts/k/values.yaml": b"a: 1\n",
              "https://raw.githubusercontent.com/o/r/v1/t/crd.yaml": b"{{- if .Values.crds.install }}\nkind: X\n\n{{- end }}\n",
              "https://raw.githubusercontent.com/o/r/v1/bad.yaml": b"tampered\n"}
    problems = fetch_upstream.fetch(tmp_path, get=served.__getitem__)
    assert (tmp_path / "k" / "values.yaml").read_bytes() == b"a: 1\n"
    assert (tmp_path / "k" / "crd.yaml").read_bytes() == b"kind: X\n"
    assert not (tmp_path / "k" / "bad.yaml").exists()
    assert problems == ["k@1: k/bad.yaml: https://raw.githubusercontent.com/o/r/v1/bad.yaml does not match the "
                        "lock's sha256; not written"]


def test_value_paths_allow_free_form_maps_only():
    chart = {"replicas": 1, "nodeSelector": {"kubernetes.io/os": "linux"}, "resources": {}, "settings": {"a": 1}}
    assert upstream.missing_value_paths({"replicas": 2, "nodeSelector": {"team": "x"},
                                         "resources": {"requests": {"cpu": "1"}}}, chart) == []
    assert upstream.missing_value_paths({"settings": {"b": 2}, "replica": 1}, chart) == ["settings.b", "replica"]
