"""Upstream reference data (unmodified CRDs, chart values, IAM and CloudFormation documents) and the
helpers that check the platform against it. Shared by the tests and any offline tool.

Where the data is found, first hit wins:
1. ``$EKS_PLATFORM_UPSTREAM`` (a folder laid out like the lock's folders), if set;
2. ``../shared/upstream`` beside the project (the steering repository's copy, which CI has);
3. ``.upstream-cache/`` in the project (git-ignored), filled by ``make upstream``
   (``tools/fetch_upstream.py`` downloads every file of ``upstream.lock.json`` and checks its sha256;
   it needs network).
Missing data is an error that names the file and how to get it: never a silent skip.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness import yamlio
from harness.program import PROJECT_DIR

ENV = "EKS_PLATFORM_UPSTREAM"
SHARED_DIR = PROJECT_DIR.parent / "shared" / "upstream"
CACHE_DIR = PROJECT_DIR / ".upstream-cache"
LOCK_FILE = PROJECT_DIR / "upstream.lock.json"


class UpstreamDataMissingError(FileNotFoundError):
    """An upstream reference file is in none of the places the resolver looks."""


def roots() -> list[Path]:
    """The folders searched, in order."""
    found = []
    if os.environ.get(ENV):
        found.append(Path(os.environ[ENV]))
    return [*found, SHARED_DIR, CACHE_DIR]


@functools.cache
def lock() -> dict[str, Any]:
    return json.loads(LOCK_FILE.read_text())


def lock_key_of(folder: str, name: str) -> str | None:
    rel = f"{folder}/{name}"
    return next((key for key, entry in lock().items() if rel in entry["files"]), None)


def upstream_file(folder: str, name: str) -> Path:
    """Path of ``<folder>/<name>`` (``karpenter/values.yaml``) in the first root that has it."""
    for root in roots():
        path = root / folder / name
        if path.is_file():
            return path
    key = lock_key_of(folder, name)
    raise UpstreamDataMissingError(
        f"upstream reference data missing: {folder}/{name} (lock entry {key or 'none: add it to upstream.lock.json'})"
        f" is not in {', '.join(str(r) for r in roots())}. Run `make upstream` (downloads the locked files; needs "
        f"network), or set {ENV} to a folder that has them.")


@functools.cache
def load_yaml(folder: str, name: str) -> Any:
    """A locked file's YAML, parsed once per process: callers only read it."""
    return yamlio.load(upstream_file(folder, name).read_text())


# --- chart values --------------------------------------------------------------------------------------

def chart_values_file(chart: str) -> tuple[str, str] | None:
    """(folder, file) of a pinned chart's upstream values.yaml, from the lock; None if it has none."""
    for entry in lock().values():
        if chart in entry.get("charts", {}):
            values = entry["charts"][chart]
            return None if values is None else tuple(values.split("/", 1))  # type: ignore[return-value]
    return None


def charts_in_lock() -> set[str]:
    return {chart for entry in lock().values() for chart in entry.get("charts", {})}


# Maps that charts pass to Kubernetes as they are (label selectors, labels, annotations): their keys
# are the user's, whatever the chart's default holds (karpenter's nodeSelector defaults to kubernetes.io/os).
FREE_FORM_KEYS = frozenset({"nodeSelector", "labels", "annotations", "podLabels", "podAnnotations"})
# Per chart, maps whose keys the chart passes through to a configuration file of its application, so any key
# may appear below them: argo-cd's configs.cm (argocd-cm), configs.params (argocd-cmd-params-cm) and
# configs.rbac (argocd-rbac-cm); kube-prometheus-stack's alertmanager.config (Alertmanager's own file).
CHART_FREE_FORM: dict[str, tuple[str, ...]] = {
    "argo-cd": ("configs.cm", "configs.params", "configs.rbac"),
    "kube-prometheus-stack": ("alertmanager.config",),
}


# Values of a subchart that the parent chart's values.yaml does not repeat (the subchart's own
# values.yaml is not in the locked data): chart key -> key path -> where the subchart has it, at the
# version the parent's Chart.yaml pins. A path listed here is accepted for that chart only.
SUBCHART_KEYS: dict[str, dict[str, str]] = {
    "kube-prometheus-stack": {
        # 88.5.3 pins kube-state-metrics 8.4.0 (Chart.yaml dependencies); rendered as
        # --metric-labels-allowlist (templates/deployment.yaml)
        "kube-state-metrics.metricLabelsAllowlist":
            "prometheus-community/helm-charts charts/kube-state-metrics/values.yaml @ kube-state-metrics-8.4.0",
        # the subcharts' values.yaml in the pinned archive (charts/kube-prometheus-stack-88.5.3.tgz:
        # charts/grafana, charts/kube-state-metrics; tests/harness/test_upstream_contract.py reads them)
        "kube-state-metrics.resources": "charts/kube-state-metrics/values.yaml",
        "kube-state-metrics.tolerations": "charts/kube-state-metrics/values.yaml",
        "grafana.resources": "charts/grafana/values.yaml",
        "grafana.sidecar.resources": "charts/grafana/values.yaml",
        "grafana.tolerations": "charts/grafana/values.yaml",
    },
}


def chart_missing_paths(chart: str, values: Mapping[str, Any]) -> list[str]:
    """Key paths of a release's ``values`` that the pinned ``chart``'s locked values.yaml lacks, with the
    chart's pass-through maps (``CHART_FREE_FORM``) and subchart keys (``SUBCHART_KEYS``) allowed."""
    values_file = chart_values_file(chart)
    if values_file is None:
        raise UpstreamDataMissingError(f"no locked values.yaml for chart {chart!r}")
    return missing_value_paths(values, load_yaml(*values_file), CHART_FREE_FORM.get(chart, ()),
                               known=SUBCHART_KEYS.get(chart, {}))


def missing_value_paths(values: Mapping[str, Any], upstream: Any, free_form: Iterable[str] = (),
                        prefix: str = "", known: Iterable[str] = ()) -> list[str]:
    """Key paths of ``values`` that the chart's ``upstream`` values do not have.

    Below a key whose upstream default is an empty map or null (``resources: {}``,
    ``podAnnotations: {}``), and below the maps of ``FREE_FORM_KEYS``, any key is allowed: the
    chart passes that map through. ``free_form`` names further such paths (dotted); ``known`` names
    paths accepted though upstream lacks them (a chart's ``SUBCHART_KEYS``), with anything below them.
    """
    free, accepted = set(free_form), set(known)
    missing = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in accepted:
            continue
        if not isinstance(upstream, dict) or key not in upstream:
            missing.append(path)
            continue
        below = upstream[key]
        if isinstance(value, dict) and path not in free and key not in FREE_FORM_KEYS and below not in ({}, None):
            missing += missing_value_paths(value, below, free, f"{path}.", accepted)
    return missing


# --- custom resources --------------------------------------------------------------------------------

@functools.cache
def _documents(rel: str) -> list[Any]:
    """The YAML documents of a locked file, parsed once (Istio's CRD file serves four API groups)."""
    return list(yamlio.load_all(_text(rel)))


@functools.cache
def _crd_schemas(group: str, kind: str | None = None) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema for the CRDs of one API group, from the locked CRD files
    that declare that group (so validating a NodePool does not parse Argo CD's CRDs). With ``kind``, only
    from the files whose text names that kind as a CRD does (``kind: ApplicationSet`` on a line of its
    own), so validating an Application does not parse the ApplicationSet CRD (1.4 MB) either."""
    index: dict[tuple[str, str], dict] = {}
    for entry in lock().values():
        for rel, spec in entry["files"].items():
            if group not in spec.get("groups", ()):
                continue
            if kind is not None and not _names_kind(rel, kind):
                continue
            for doc in _documents(rel):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                crd = doc["spec"]
                for version in crd["versions"]:
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema and crd["group"] == group:
                        index[(f"{group}/{version['name']}", crd["names"]["kind"])] = schema
    return index


@functools.cache
def _text(rel: str) -> str:
    folder, name = rel.split("/", 1)
    return upstream_file(folder, name).read_text()


def _names_kind(rel: str, kind: str) -> bool:
    return re.search(rf"^[ \t]*kind:[ \t]*[\"']?{re.escape(kind)}[\"']?[ \t]*$", _text(rel), re.MULTILINE) is not None


def crd_groups() -> set[str]:
    """API groups with an upstream CRD in the lock."""
    return {g for entry in lock().values() for spec in entry["files"].values() for g in spec.get("groups", ())}


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """A validator for a whole object of ``kind`` at ``api_version`` (apiVersion, kind, metadata, spec),
    built once per process (validators keep no state between objects)."""
    group = api_version.split("/")[0]
    # the files that name the kind first; all of the group's files if the kind is written some other way
    schema = _crd_schemas(group, kind).get((api_version, kind)) or _crd_schemas(group).get((api_version, kind))
    if schema is None:
        raise UpstreamDataMissingError(f"no upstream CRD for {kind} {api_version} among the locked CRD files")
    return jsonschema.Draft7Validator(schema)


def schema_errors(obj: Mapping[str, Any]) -> list[str]:
    """What the upstream CRD refuses in ``obj``, one line per error (empty when valid)."""
    validator = crd_validator(obj["apiVersion"], obj["kind"])
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj)]


# --- CloudFormation ----------------------------------------------------------------------------------------

class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation tags (!Sub, !GetAtt, !Ref) as {"Sub": ...} and so on."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_cfn(folder: str, name: str) -> dict:
    """A CloudFormation template with its intrinsic functions kept as plain maps."""
    return yaml.load(upstream_file(folder, name).read_text(), Loader=_CfnLoader)
