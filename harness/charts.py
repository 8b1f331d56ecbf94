"""Render the platform's Helm releases offline, at their pins, with the values the program passes.

The charts are the archives in ``<upstream>/charts/`` (``<name>-<version>.tgz``, listed in its
``manifest.json``; found like every upstream file, see ``harness/upstream.py``). helm-python-sdk
(the Helm library, no binary, no cluster) renders an unpacked archive as ``helm template`` would:
``lookup`` returns nothing and no API server is asked for its capabilities. Shared by the tests and
the offline tools (upgrade plan, admission checks); callers only read what it returns.

A release's remote subcharts that the archive does not carry (manifest.json's ``not_vendored``) are
not rendered; ``missing_subcharts`` names them so a caller can say what it did not see.
"""

from __future__ import annotations

import functools
import json
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python

import versions
from harness import yamlio
from harness.mocks import Recorded, Recording
from harness.upstream import upstream_file

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


@functools.cache
def manifest() -> dict[str, Any]:
    """``charts/manifest.json``: where each archive came from, its subcharts and what it lacks."""
    return json.loads(upstream_file("charts", "manifest.json").read_text())


def chart_of(release: Recorded) -> versions.Chart:
    """The pinned chart a recorded Release installs (its ``chart`` input may be an OCI reference)."""
    chart = str(release.inputs["chart"]).rsplit("/", 1)[-1]
    version = str(release.inputs["version"])
    for pinned in versions.CHARTS.values():
        if pinned.name == chart and pinned.version == version:
            return pinned
    raise KeyError(f"{release.name}: chart {chart} {version} is not pinned in versions.CHARTS")


@functools.cache
def chart_dir(name: str, version: str) -> Path:
    """The unpacked archive of chart ``name`` at ``version`` (unpacked once per process)."""
    archive = upstream_file("charts", f"{name}-{version}.tgz")
    target = Path(tempfile.mkdtemp(prefix=f"chart-{name}-{version}-"))
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / name


@functools.cache
def _render(name: str, version: str, values_json: str, release: str, namespace: str) -> tuple[dict, ...]:
    # a fresh load per render: a loaded chart rendered twice with other values fails on argo-cd 10.1.1
    # (its templates include each other's output, which the first render leaves behind)
    chart = helm_python.Chart.load(str(chart_dir(name, version)))
    manifests = chart.render(values=json.loads(values_json), name=release, namespace=namespace)
    # NOTES.txt is text for the user, not manifests (helm template leaves it out too)
    return tuple(doc for path, text in sorted(manifests.items()) if not path.endswith("NOTES.txt")
                 for doc in yamlio.load_all(text) if isinstance(doc, dict))


def render(name: str, version: str, values: Mapping[str, Any], release: str, namespace: str) -> tuple[dict, ...]:
    """The objects chart ``name`` at ``version`` renders (raises helm_python.HelmRenderError)."""
    return _render(name, version, json.dumps(values, sort_keys=True, default=str), release, namespace)


def render_release(release: Recorded) -> tuple[dict, ...]:
    """What a recorded ``helm.v3.Release`` would install: its chart at its pin, its values, name and namespace."""
    pinned = chart_of(release)
    return render(pinned.name, pinned.version, release.inputs.get("values") or {},
                  str(release.inputs.get("name") or release.name), str(release.inputs["namespace"]))


def releases(recording: Recording) -> list[Recorded]:
    """Every Helm release of an evaluation, in registration order."""
    return recording.of_type(RELEASE_TYPE)


def missing_subcharts(release: Recorded) -> list[str]:
    """Remote subcharts of the release's chart that the archive lacks (so were not rendered)."""
    pinned = chart_of(release)
    return [f"{sub['name']} {sub['wanted']}" for sub in manifest().get(pinned.name, {}).get("not_vendored", [])]
