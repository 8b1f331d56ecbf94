"""Settings of Kyverno (in-cluster policy): its controllers' sizes, the allowed image registries
and the platform's policy exceptions.

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from settings.base import Model, invalid, tiered
from settings.types import between, dns_label

# The baseline controls (components/policy/policies.py builds one Enforce and one Audit policy each).
Control = Literal["disallow-privileged-containers", "disallow-host-namespaces", "disallow-host-path",
                  "require-requests-limits", "require-probes", "disallow-latest-tag",
                  "restrict-image-registries", "require-team-label"]

# An image reference starts with a registry host when its first component has a '.' or a ':' or is
# 'localhost' (distribution/reference normalize.go, splitDockerDomain); anything else is a Docker Hub
# path. A registry entry is that host, an optional port and optional path components below it.
_HOST_PART = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
REGISTRY = re.compile(rf"^(?P<host>{_HOST_PART}(\.{_HOST_PART})*)(:(?P<port>\d{{1,5}}))?"
                      r"(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def _registry(value: str) -> str:
    match = REGISTRY.match(value)
    if match is None or not ("." in match.group("host") or match.group("port") or match.group("host") == "localhost"):
        raise ValueError(f"{value!r} is not a registry host: write the host images are pulled from, optionally "
                         "with a port and a path, without a scheme or wildcard (ghcr.io, ghcr.io/my-org, "
                         "123456789012.dkr.ecr.us-east-1.amazonaws.com)")
    if match.group("port") and not 1 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{value!r}: the port must be from 1 to 65535")
    return value


Registry = Annotated[str, AfterValidator(_registry),
                     Field(json_schema_extra={"x-valid": "registry host[:port][/path], like ghcr.io/my-org"})]


class PolicyExceptionSettings(Model):
    """One exception from baseline controls, for named workloads in named namespaces (a Kyverno
    PolicyException the platform creates in the kyverno namespace)."""

    name: dns_label(63)
    """Name of the PolicyException (a DNS label, unique)."""
    controls: list[Control]
    """The controls waived, like disallow-host-path; both their Enforce and Audit policies."""
    namespaces: list[dns_label(63)]
    """Namespaces of the workloads."""
    names: list[str] = ["*"]
    """Names of the workloads (Pods and their controllers); wildcards * and ? allowed. Default: all
    in those namespaces."""
    reason: str
    """Why the exception is needed (kept as an annotation on the PolicyException)."""

    @field_validator("controls", "namespaces")
    @classmethod
    def _not_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one")
        if len(set(v)) != len(v):
            raise ValueError("list each entry once")
        return v

    @field_validator("names")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        if not v or any(not re.fullmatch(r"[a-z0-9*?]([-a-z0-9.*?]*[a-z0-9*?])?", n) for n in v):
            raise ValueError("must be object names, wildcards * and ? allowed, like node-agent-*")
        return v

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if len(v.strip()) < 10:
            raise ValueError("say why the exception is needed (at least 10 characters)")
        return v


class KyvernoSettings(Model):
    """Kyverno and the platform's baseline policies: Enforce in team namespaces, Audit elsewhere."""

    enabled: bool = True
    """Install Kyverno and the baseline policies (EKS and kind)."""
    admission_replicas: between(1, 5) = tiered(dev=1, staging=1, prod=3)
    """Admission controller pods (1, or 3 to 5): they serve the webhooks team namespaces fail closed on."""
    controller_replicas: between(1, 3) = tiered(dev=1, staging=1, prod=2)
    """Pods of each of the background, cleanup and reports controllers (leader-elected: one works)."""
    allowed_registries: list[Registry] = Field(default_factory=list)
    """Registries team images may come from (host[:port][/path]); empty: images are not restricted.
    Images must then name their registry (docker.io/library/nginx:1.27, not nginx:1.27)."""
    exceptions: list[PolicyExceptionSettings] = Field(default_factory=list)
    """Exceptions from baseline controls for named workloads (PolicyExceptions in the kyverno namespace)."""

    @field_validator("admission_replicas")
    @classmethod
    def _admission(cls, v: int) -> int:
        if v == 2:
            # Kyverno's high-availability guidance: 3 admission replicas; two add no availability
            # for the leader-elected controllers inside it (kyverno.io/docs/high-availability)
            raise ValueError("must be 1, or 3 to 5 for high availability (2 is not a supported HA count)")
        return v

    @field_validator("allowed_registries")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("list each registry once")
        return v

    @model_validator(mode="after")
    def _exceptions(self) -> KyvernoSettings:
        names = [e.name for e in self.exceptions]
        if len(set(names)) != len(names):
            raise invalid("exceptions", "exception names must be unique, got {names}", names=names)
        if not self.allowed_registries:
            waived = [e.name for e in self.exceptions if "restrict-image-registries" in e.controls]
            if waived:
                raise invalid("exceptions", "{waived} waive restrict-image-registries, which is off "
                              "(allowedRegistries is empty); remove it from their controls", waived=waived)
        return self
