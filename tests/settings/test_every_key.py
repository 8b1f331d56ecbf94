"""Every documented config key, broken one at a time (issue 23): a wrong type (a boolean where a number goes
included), an empty string and a value out of range each stop the program with a ``ConfigError`` (a
``pulumi.RunError``) that names that key; and every key set where it has no effect is refused or warned.

The keys come from the settings models' schema, as docs/configuration.md does (``tools.config_reference``),
so a new key is covered without touching this file.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from harness import Recording, run_stack
from settings import ConfigError, applies, gates, parse_settings
from tools import config_reference, plan

R = {"aws:region": "us-east-1"}
LEAVES = config_reference.leaves()
# map-typed keys (tags, labels) take any string, the empty one too: a tag's value may be empty
MAPS = {key for key, variants in LEAVES if all(v.get("type") == "object" for v in variants)}


def put(key: str, value: Any) -> dict[str, Any]:
    """Raw config that sets only ``key`` (``a.b[].c``: the first entry of list ``a.b``) to ``value``."""
    parts = key.replace("[]", ".[]").split(".")
    root: dict[str, Any] = {}
    node: Any = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "[]":
            continue
        nxt = parts[i + 1] if not last else None
        if last:
            node[part] = value
        elif nxt == "[]":
            node[part] = [{}]
            node = node[part][0]
        else:
            node[part] = {}
            node = node[part]
    return root


def stack_for(key: str) -> tuple[str, dict[str, Any]]:
    return ("local", {}) if key.startswith("kind.") else ("dev", R)


def message(key: str, value: Any) -> str:
    stack, base = stack_for(key)
    raw = {**base, **put(key, value)} if key != "aws:region" else {"aws:region": value}
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, stack)
    return str(err.value)


def named(key: str, text: str) -> bool:
    """The error names ``key`` (a list entry as ``[0]``)."""
    full = key if ":" in key else f"eks-platform:{key.replace('[]', '[0]')}"
    return f"{full}:" in text or f"{full} " in text


def wrong_type(variants: list[dict]) -> Any:
    types = {v.get("type") for v in variants}
    if types & {"integer", "number"}:
        return True  # YAML's `true` is not 1
    if "boolean" in types:
        return "yes"
    if "array" in types:
        return "x"
    if "object" in types:
        return ["x"]
    return True  # `true` where text goes (a number is text for quantities: cpu: 2)


def out_of_range(variants: list[dict]) -> Any:
    for v in variants:
        if "maximum" in v:
            return v["maximum"] + 1
        if "minimum" in v:
            return v["minimum"] - 1
        if "enum" in v:
            return "no-such-choice"
        if v.get("type") == "boolean":
            return None
    return None


@pytest.mark.parametrize(("key", "variants"), LEAVES, ids=[k for k, _ in LEAVES])
def test_a_wrong_type_names_the_key(key, variants):
    text = message(key, wrong_type(variants))
    assert named(key, text), text


@pytest.mark.parametrize("key", [k for k, _ in LEAVES if k not in MAPS])
def test_an_empty_string_names_the_key(key):
    text = message(key, "")
    assert named(key, text), text


RANGED = [(k, out_of_range(v)) for k, v in LEAVES if out_of_range(v) is not None]


@pytest.mark.parametrize(("key", "value"), RANGED, ids=[k for k, _ in RANGED])
def test_a_value_out_of_range_names_the_key(key, value):
    text = message(key, value)
    assert named(key, text), text


def test_the_cases_cover_the_kinds_of_keys():
    # integers, booleans, lists, choices: a broken generator would quietly test nothing
    assert len(LEAVES) > 200 and len(RANGED) > 50
    assert {"network.azCount", "nodeGroups[].minSize", "kind.workers", "argocd.enabled"} <= {k for k, _ in LEAVES}


@pytest.mark.parametrize(("key", "value"), [("network.azCount", True), ("argocd.revision", ""),
                                            ("metricsServer.replicas", 9)])
def test_a_broken_key_stops_the_program_before_anything_is_registered(key, value):
    recording = Recording()
    section, rest = key.split(".", 1)
    with pytest.raises(pulumi.RunError, match=rf"eks-platform:{key}"):
        run_stack("dev", overrides={f"eks-platform:{section}": put(rest, value)}, recording=recording)
    assert len(recording) == 0


# --- keys set where they have no effect ------------------------------------------------------------

# What each switch section needs, beside its defaults, to have a value for every key it holds: the keys whose
# default is none (the section is then valid on, and every one of its first-level keys is given).
GIVEN = {
    "argocd": {"repoUrl": "https://github.com/acme/eks-platform.git",
               "credentials": {"type": "https", "username": "ci", "password": "token"},
               "exposure": {"exposure": "istio", "hostname": "argocd.example.com"},
               "oidc": {"issuer": "https://login.example.com", "clientId": "argocd", "clientSecret": "s"},
               "workloadExposure": "istio", "workloadHostname": "apps.example.com"},
    "traffic.istio": {"gatewayService": "load-balancer", "gatewayTlsSecret": "platform-tls"},
    "storage.efs": {"throughputMode": "provisioned", "provisionedThroughputMibps": 64},
}


def switch_sections() -> list[str]:
    return [r.key for r in applies.RULES if r.section]


def full_section(section: str) -> dict[str, Any]:
    """Every first-level key of ``section``: its defaults (by config key), and ``GIVEN`` in place of some."""
    model = gates.config_value(parse_settings(R, "dev"), section)
    return {**model.model_dump(by_alias=True, exclude_none=True), **GIVEN.get(section, {})}


def _with(section: str, value: dict[str, Any]) -> dict[str, Any]:
    return {**R, **put(section, value)}


@pytest.mark.parametrize("section", switch_sections())
def test_every_key_in_a_disabled_section_is_refused(section):
    full = full_section(section)
    # the same keys with the section on are a valid configuration: the refusal below is about the switch
    parse_settings(_with(section, {**full, "enabled": True}), "dev", frozenset({"argocd"}))
    with pytest.raises(ConfigError) as err:
        parse_settings(_with(section, {**full, "enabled": False}), "dev", frozenset({"argocd"}))
    text = str(err.value)
    keys = sorted(set(full) - {"enabled"})
    # every key the section holds is named, with why
    missing = [k for k in keys
               if f"eks-platform:{section}.{k}: has no effect: it applies when {section}.enabled is true" not in text]
    assert missing == [], text
    # and those keys are every documented key inside it (leaves under them included)
    documented = {k[len(section) + 1:].split(".")[0].split("[")[0] for k, _ in LEAVES if k.startswith(f"{section}.")}
    assert set(keys) == documented - {"enabled"}


NO_EFFECT = [
    ("dev", {"observability": {"alerts": {"slackChannel": "#alerts"}}}, "observability.alerts.slackChannel"),
    ("local", {"observability": {"logs": {"retentionDays": 7}}}, "observability.logs.retentionDays"),
    ("prod", {"network": {"natInstanceType": "t4g.nano"}}, "network.natInstanceType"),
    ("dev", {"network": {"existing": {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": [
        "subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]}, "flowLogs": {"retentionDays": 30}}},
     "network.flowLogs"),
    ("dev", {"network": {"existing": {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": [
        "subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]}, "natInstanceType": "t4g.nano"}},
     "network.natInstanceType"),
    ("dev", {"traffic": {"istio": {"enabled": False}}, "observability": {"metrics": {"enabled": False}},
             "cluster": {"sharedSystemNodes": True}}, "cluster.sharedSystemNodes"),
    ("local", {"tags": {"team": "platform"}}, "tags"),
    ("local", {"traffic": {"istio": {"gatewayScheme": "internal"}}}, "traffic.istio.gatewayScheme"),
    ("dev", {"traffic": {"istio": {"gatewayScheme": "internal"}}}, "traffic.istio.gatewayScheme"),
    ("local", {"traffic": {"istio": {"gatewayService": "cluster-ip"}}}, "traffic.istio.gatewayService"),
]


@pytest.mark.parametrize(("stack", "raw", "key"), NO_EFFECT, ids=[c[2] + "-" + c[0] for c in NO_EFFECT])
def test_a_key_of_an_option_not_chosen_is_refused_with_why(stack, raw, key):
    with pytest.raises(ConfigError) as err:
        parse_settings({**(R if stack != "local" else {}), **raw}, stack)
    assert f"eks-platform:{key}: has no effect: it applies when" in str(err.value), str(err.value)


def test_each_no_effect_rule_is_exercised():
    covered = {key for _, _, key in NO_EFFECT} | set(switch_sections())
    assert {r.key for r in applies.RULES} <= covered


def test_karpenter_requests_on_fargate_are_a_plan_warning():
    karpenter = {"runOn": "fargate", "controllerResources": {"requests": {"cpu": "250m", "memory": "1Gi"},
                                                             "limits": {"cpu": "1", "memory": "1Gi"}}}
    s = parse_settings({**R, "cluster": {"irsa": True}, "karpenter": karpenter}, "dev")
    (warning,) = [w for w in plan.warnings(s) if "controllerResources" in w]
    assert "the platform requests the limits" in warning
    same = {**karpenter, "controllerResources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                 "limits": {"cpu": "1", "memory": "1Gi"}}}
    s = parse_settings({**R, "cluster": {"irsa": True}, "karpenter": same}, "dev")
    assert not [w for w in plan.warnings(s) if "controllerResources" in w]


def test_the_reference_says_when_each_key_applies():
    text = config_reference.table()
    assert "| applies when |" in text.splitlines()[0]
    row = next(line for line in text.splitlines() if line.startswith("| `observability.alerts.slackChannel` |"))
    assert "| observability.alerts.receiver is slack |" in row


@pytest.mark.parametrize("namespace", ["eks-plattform", "eks_platform", "eksplatform", "eks-platfrom"])
def test_a_misspelt_namespace_is_refused_naming_the_key_meant(namespace):
    recording = Recording()
    with pytest.raises(pulumi.RunError) as err:
        # through the program: Pulumi's config reader must hand the key over, not drop it
        run_stack("dev", overrides={f"{namespace}:teams": [{"name": "payments"}]}, recording=recording)
    assert f"{namespace}:teams: unknown config namespace '{namespace}'; did you mean 'eks-platform:teams'?" in \
        str(err.value)
    assert len(recording) == 0


def test_other_packages_config_is_not_the_platforms_business():
    s = parse_settings({**R, "kubernetes:context": "kind-x", "aws:profile": "ops", "eks-platform:tier": "dev"}, "dev")
    assert s.tier == "dev"
