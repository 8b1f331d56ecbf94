"""Annotated types shared by every settings model: one grammar per kind of value.

Each type validates when the settings are built and says what would be valid; the error reaches the
user under the full config key (``eks-platform:nodeGroups[0].taints[0].value: ...``). Each also
carries a JSON-schema description, which the config reference (docs/configuration.md) is generated from.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from settings.base import invalid

# --- names, labels, taints (Kubernetes API conventions: apimachinery validation) ------------------------

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# prefix: a DNS subdomain; name: 1-63 alphanumerics with -_. inside
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def dns_label(max_length: int = 63) -> Any:
    def check(value: str) -> str:
        if not DNS_LABEL.match(value) or len(value) > max_length:
            raise ValueError(f"must be a lowercase DNS label (letters, digits, '-'), at most {max_length} characters")
        return value

    return Annotated[str, AfterValidator(check),
                     Field(json_schema_extra={"x-valid": f"DNS label, at most {max_length} characters"})]


def _label_key(value: str) -> str:
    name = value.split("/")[-1]
    if not LABEL_KEY.match(value) or len(name) > 63 or len(value) > 316:
        raise ValueError(f"{value!r} is not a Kubernetes label key (an optional DNS-subdomain prefix and '/', "
                         "then up to 63 letters, digits, '-', '_' or '.')")
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes label value (up to 63 letters, digits, '-', '_' or '.', "
                         "starting and ending alphanumeric; no spaces or accents)")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        _label_key(key)
        _label_value(item)
    return value


DnsLabel = dns_label(63)
LabelKey = Annotated[str, AfterValidator(_label_key), Field(json_schema_extra={"x-valid": "label key"})]
LabelValue = Annotated[str, AfterValidator(_label_value), Field(json_schema_extra={"x-valid": "label value"})]
# A taint value follows the label-value rules (core/v1 validation of Taint.value); EKS refuses others.
TaintValue = LabelValue
Labels = Annotated[dict[str, str], AfterValidator(_labels)]

# --- ranges ---------------------------------------------------------------------------------------------------


def between(low: int, high: int) -> Any:
    """An integer from ``low`` to ``high`` (booleans refused)."""

    def check(value: int) -> int:
        if isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return value

    return Annotated[int, AfterValidator(check), Field(json_schema_extra={"minimum": low, "maximum": high})]


# --- durations (Go's time.ParseDuration subset the CRDs and flags accept) --------------------------------------

DURATION = re.compile(r"^(\d+(h|m|s))+$")
_SECONDS = {"h": 3600, "m": 60, "s": 1}


def duration_seconds(value: str) -> int:
    """``1h30m`` -> 5400. ``value`` must match ``DURATION``."""
    return sum(int(n) * _SECONDS[unit] for n, unit in re.findall(r"(\d+)(h|m|s)", value))


def duration(low: str | None = None, high: str | None = None, *, never: bool = False) -> Any:
    """A Go duration in hours, minutes and seconds (``30s``, ``10m``, ``1h30m``), optionally bounded,
    optionally also ``Never`` (Karpenter's expireAfter and consolidateAfter)."""
    lo = duration_seconds(low) if low else None
    hi = duration_seconds(high) if high else None
    example = "'30s', '10m' or '1h30m'" + (", or 'Never'" if never else "")

    def check(value: str) -> str:
        if never and value == "Never":
            return value
        if not isinstance(value, str) or not DURATION.match(value):
            raise ValueError(f"must be a duration like {example}")
        seconds = duration_seconds(value)
        if (lo is not None and seconds < lo) or (hi is not None and seconds > hi):
            raise ValueError(f"must be from {low or '0s'} to {high}" if hi is not None else f"must be at least {low}")
        return value

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"x-valid": f"duration ({example})"})]


# --- Kubernetes quantities (apimachinery resource.Quantity) --------------------------------------------------

QUANTITY = re.compile(r"^(?P<num>[+-]?(\d+(\.\d*)?|\.\d+))(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
           "P": Decimal("1e15"), "E": Decimal("1e18"),
           **{f"{p}i": Decimal(1024) ** (i + 1) for i, p in enumerate("KMGTPE")}}
MEBIBYTE = Decimal(1024) ** 2


def check_limits_cover_requests(model: Any) -> None:
    """A model with ``requests_{cpu,memory}`` and ``limits_{cpu,memory}``: each limit at least its request
    (a pod or quota whose limit is below its request is refused by the API server)."""
    for res in ("cpu", "memory"):
        limit, request = getattr(model, f"limits_{res}"), getattr(model, f"requests_{res}")
        if quantity(limit) < quantity(request):
            raise invalid(f"limits{res.capitalize()}", "must be at least requests{Res} ({request})",
                          Res=res.capitalize(), request=request)


def quantity(value: str | int | float) -> Decimal:
    """The numeric value of a Kubernetes quantity (``500m`` -> 0.5, ``1Gi`` -> 1073741824, ``1G`` -> 1e9);
    ValueError if it is not one."""
    match = QUANTITY.match(str(value).strip()) if not isinstance(value, bool) else None
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: 1000, 500m, 64Gi)")
    suffix = match.group("suffix") or ""
    try:
        base = Decimal(match.group("num"))
        if suffix[:1] in ("e", "E"):
            return base * Decimal(10) ** int(suffix[1:])
        return base * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: 1000, 500m, 64Gi)") from None


def _as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _positive(value: str) -> str:
    if quantity(value) <= 0:
        raise ValueError(f"must be a positive quantity, got {value!r}")
    return value


def _cpu(value: str) -> str:
    try:
        amount = quantity(value)
    except ValueError:
        raise ValueError("must be a CPU quantity like 100m or 0.5") from None
    if amount <= 0:
        raise ValueError("must be a CPU quantity like 100m or 0.5 (above zero)")
    return value


def memory(minimum_mib: int = 64) -> Any:
    def check(value: str) -> str:
        try:
            amount = quantity(value)
        except ValueError:
            raise ValueError("must be a memory quantity like 300Mi or 1Gi") from None
        if amount < minimum_mib * MEBIBYTE:
            raise ValueError(f"must be at least {minimum_mib}Mi, like 300Mi or 1Gi")
        return value

    return Annotated[str, BeforeValidator(_as_text), AfterValidator(check),
                     Field(json_schema_extra={"x-valid": f"memory quantity, at least {minimum_mib}Mi"})]


Quantity = Annotated[str, BeforeValidator(_as_text), AfterValidator(_positive),
                     Field(json_schema_extra={"x-valid": "positive Kubernetes quantity"})]
CpuQuantity = Annotated[str, BeforeValidator(_as_text), AfterValidator(_cpu),
                        Field(json_schema_extra={"x-valid": "CPU quantity (100m, 0.5, 2)"})]
Memory = memory(64)

HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _hostname(value: str) -> str:
    if not HOSTNAME.match(value):
        raise ValueError("must be a fully qualified lowercase DNS name like grafana.example.com")
    return value


Hostname = Annotated[str, AfterValidator(_hostname),
                     Field(json_schema_extra={"x-valid": "DNS name (grafana.example.com)"})]


# Namespaces Kubernetes, kind or the platform's add-ons own: never a team's, a workload's or a mesh opt-in
# (tests/tenancy/test_namespaces.py checks that every namespace the program creates for itself is listed).
PLATFORM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage",
                       "monitoring", "logging", "istio-system", "istio-ingress", "argocd", "kyverno")


# --- AWS ------------------------------------------------------------------------------------------------------------

# Retention values CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of {list(LOG_RETENTION_DAYS)}")
    return value


RetentionDays = Annotated[int, AfterValidator(_retention),
                          Field(json_schema_extra={"x-valid": "CloudWatch Logs retention in days"})]

PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


def _principal(value: str) -> str:
    if not PRINCIPAL_ARN.match(value):
        raise ValueError(f"{value!r} is not an IAM role or user ARN like arn:aws:iam::123456789012:role/Admin")
    return value


def _role(value: str) -> str:
    if not ROLE_ARN.match(value):
        raise ValueError(f"{value!r} is not an IAM role ARN like arn:aws:iam::123456789012:role/Team")
    return value


PrincipalArn = Annotated[str, AfterValidator(_principal), Field(json_schema_extra={"x-valid": "IAM role/user ARN"})]
RoleArn = Annotated[str, AfterValidator(_role), Field(json_schema_extra={"x-valid": "IAM role ARN"})]


def _cidr(value: str) -> str:
    if "/" not in value:
        raise ValueError(f"{value!r} needs a prefix length, like {value}/32")
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 CIDR like 10.0.0.0/16 ({exc})") from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr), Field(json_schema_extra={"x-valid": "IPv4 CIDR"})]
