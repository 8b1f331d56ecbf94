"""The shared harness itself (harness/): what its speed-ups must keep exactly as it was. Its cache gives
one evaluation per configuration, a recording's inputs are the registration's own, ``_plain`` is the JSON
round trip it replaces, CRD validators come from the same schemas, and the collector is left as found."""

from __future__ import annotations

import asyncio
import enum
import gc
import json

import pulumi
import pytest

from harness import Recording, mocks, run, run_stack
from harness import upstream as up
from harness.mocks import _plain


def test_no_overrides_and_empty_overrides_are_one_cached_evaluation():
    assert run_stack("local", overrides={}) is run_stack("local")
    assert run_stack("local", existing_clusters={}) is run_stack("local")
    # a different configuration is another evaluation
    other = run_stack("local", overrides={"eks-platform:traffic": {"istio": {"enabled": False}}})
    assert other is not run_stack("local")


def test_each_registration_records_its_own_inputs():
    # registrations run on the SDK's worker threads at once: none may take another's inputs
    names = [f"cm-{i}" for i in range(40)]

    def program():
        for name in names:
            pulumi.CustomResource("test:index:Thing", name, {"marker": name, "nested": {"list": [name, 1]}})

    rec = run(program)
    assert sorted(r.name for r in rec) == sorted(names)
    for r in rec:
        assert r.inputs == {"marker": r.name, "nested": {"list": [r.name, 1]}}, r.name
        assert r.outputs["marker"] == r.name


class _Colour(enum.StrEnum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize("value", [
    {"a": (1, 2.5, None, True), 1: "one", None: "none", 2.5: [_Colour.RED, _Level.HIGH], False: 0},
    {"nested": {"deeper": [{"empty": ()}, [], {}]}, "set": {1, 2}, "object": object, "big": 10**30},
    [float("inf"), -0.0, 1e-300, "text", ""],
    "plain", 7, None, _Colour.RED,
])
def test_plain_is_the_json_round_trip(value):
    got, want = _plain(value), json.loads(json.dumps(value, default=str))
    assert json.dumps(got) == json.dumps(want)
    assert type(got) is type(want)


def test_plain_copies():
    value = {"a": {"b": [1]}}
    got = _plain(value)
    got["a"]["b"].append(2)
    assert value == {"a": {"b": [1]}}


# groups of one file per kind (Karpenter's), of several kinds in one file (the load balancer controller's),
# and of small locked files (parsing every group's files would cost more than the lazy lookup saves)
SMALL_GROUPS = ("karpenter.sh", "karpenter.k8s.aws", "elbv2.k8s.aws", "aga.k8s.aws", "policies.kyverno.io")


@pytest.mark.parametrize("group", SMALL_GROUPS)
def test_a_crd_validator_uses_the_schema_of_the_whole_group_index(group):
    assert group in up.crd_groups()
    index = up._crd_schemas(group)
    assert index
    for (api_version, kind), schema in index.items():
        assert up.crd_validator(api_version, kind).schema == schema, (api_version, kind)
    with pytest.raises(up.UpstreamDataMissingError):
        up.crd_validator("karpenter.sh/v1", "NoSuchKind")


def test_an_evaluation_leaves_the_collector_as_it_found_it():
    assert gc.isenabled()
    run(lambda: pulumi.CustomResource("test:index:Thing", "one", {}))
    assert gc.isenabled()
    gc.disable()
    try:
        run(lambda: pulumi.CustomResource("test:index:Thing", "two", {}))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_fresh_recording_is_a_new_evaluation():
    fresh = run_stack("local", recording=Recording())
    assert fresh is not run_stack("local")
    # the same resources with the same inputs (registration order follows the SDK's worker threads)
    cached = {r.urn: r.inputs for r in run_stack("local")}
    assert {r.urn: r.inputs for r in fresh} == cached



def _pending() -> set[asyncio.Task]:
    return set(asyncio.all_tasks(asyncio.get_event_loop_policy().get_event_loop()))


def test_what_a_raising_evaluation_left_in_flight_is_cancelled_before_the_next():
    # an apply that fails while another is still to run: the SDK raises with that work still pending
    def raising():
        pulumi.Output.from_input(1).apply(
            lambda v: [pulumi.CustomResource("test:index:Thing", f"late-{i}", {}) for i in range(5)])
        pulumi.CustomResource("test:index:Thing", "bad", {"x": pulumi.Output.from_input(0).apply(lambda v: 1 / v)})

    with pytest.raises(ZeroDivisionError):
        run(raising)
    left = _pending()
    assert left, "the raising evaluation left nothing in flight: this test no longer exercises the drain"
    mocks._drain_previous_evaluation()  # what the next run() does first
    assert not _pending(), "the earlier evaluation's tasks would run into the next evaluation"
    rec = run(lambda: pulumi.CustomResource("test:index:Thing", "next", {}))
    assert [r.name for r in rec] == ["next"]


def test_a_finished_evaluation_leaves_nothing_in_flight():
    # the drain is skipped after a finished evaluation (it walks every task the process keeps): that is
    # only right while a finished evaluation leaves no task pending
    for stack in ("dev", "local"):
        run_stack(stack, recording=Recording())
        assert not _pending(), stack
