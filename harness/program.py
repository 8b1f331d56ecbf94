"""Evaluate the whole program for a stack, from its ``stacks/Pulumi.<stack>.yaml``."""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness import yamlio
from harness.mocks import Recording, run
from settings import Settings, decode_config_value, parse_settings
from settings.base import OPAQUE_SECRET

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS_DIR = PROJECT_DIR / "stacks"


def stack_names() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def secret_keys(stack: str) -> list[str]:
    """Full keys of the stack file's config that hold a ``secure:`` value (anywhere inside)."""
    path = STACKS_DIR / f"Pulumi.{stack}.yaml"
    data = yamlio.load(path.read_text()) or {}
    return sorted(k for k, v in (data.get("config") or {}).items() if "'secure'" in repr(v))


def stack_config(stack: str) -> dict[str, Any]:
    """The ``config:`` map of a stack file; a ``secure:`` value reads as ``OPAQUE_SECRET`` (set, unreadable:
    it can't be decrypted here)."""
    path = STACKS_DIR / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.relative_to(PROJECT_DIR)}; stacks: {stack_names()}")
    data = yamlio.load(path.read_text()) or {}
    return {k: _stub_secrets(v) for k, v in (data.get("config") or {}).items()}


def _stub_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return OPAQUE_SECRET
        return {k: _stub_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stub_secrets(v) for v in value]
    return value


def pulumi_config_json(text: str) -> tuple[dict[str, Any], list[str]]:
    """The config and the secret keys of ``pulumi config --show-secrets --json`` output (a map of full key to
    ``{"value": <string>, "secret": <bool>, "objectValue": <the value decoded, for objects>}``)."""
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
        raise ValueError("not the output of `pulumi config --show-secrets --json`: expected a map of config key to "
                         "{value, secret}")
    # objects come as objectValue too; otherwise the value is the text the program decodes
    config = {k: v["objectValue"] if "objectValue" in v else decode_config_value(v["value"]) for k, v in data.items()}
    blinded = sorted(k for k, v in config.items() if OPAQUE_SECRET in json.dumps(v))
    if blinded:
        raise ValueError(f"{', '.join(blinded)} hold blinded secrets ({OPAQUE_SECRET}): run pulumi config with "
                         "--show-secrets")
    return config, sorted(k for k, v in data.items() if v.get("secret"))


def run_stack(stack: str, overrides: dict[str, Any] | None = None, preview: bool = False,
              recording: Recording | None = None, existing_clusters: dict[str, str] | None = None,
              secrets: tuple[str, ...] = ()) -> Recording:
    """Run ``__main__.py`` for ``stack`` under the recording mocks. ``overrides`` replace whole keys.

    ``secrets`` names override keys to treat as secret config (``eks-platform:observability``).
    Evaluations are cached for the process by their inputs (tests evaluate the same stacks many
    times); the recording is shared, so callers only read it. Pass ``recording`` to get a fresh
    evaluation that keeps what was registered even when the program raises.
    """
    if recording is not None:
        return _evaluate(stack, overrides, preview, recording, existing_clusters, secrets)
    # no overrides and ``{}`` (no existing clusters and ``{}``) are one evaluation, not two
    key = json.dumps([stack, overrides or {}, preview, existing_clusters or {}, list(secrets)], sort_keys=True,
                     default=str)
    if key not in _CACHE:
        _CACHE[key] = _evaluate(stack, overrides, preview, None, existing_clusters, secrets)
    return _CACHE[key]


_CACHE: dict[str, Recording] = {}


def stack_settings(stack: str, overrides: dict[str, Any] | None = None, secrets: Iterable[str] = ()) -> Settings:
    """The settings ``run_stack(stack, overrides)`` evaluates with, parsed without evaluating the program;
    ``secrets`` are full config keys held as secrets."""
    raw = {**stack_config(stack), **(overrides or {})}
    return parse_settings({k.removeprefix("eks-platform:"): v for k, v in raw.items()}, stack,
                          frozenset(k.removeprefix("eks-platform:") for k in secrets))


def _evaluate(stack: str, overrides: dict[str, Any] | None, preview: bool, recording: Recording | None,
              existing_clusters: dict[str, str] | None, secrets: tuple[str, ...]) -> Recording:
    config = {**stack_config(stack), **(overrides or {})}
    return run(lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__"),
               stack=stack, config=config, preview=preview, recording=recording,
               existing_clusters=existing_clusters, secret_keys=[*secret_keys(stack), *secrets])
