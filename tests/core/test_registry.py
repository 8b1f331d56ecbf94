"""The add-on contract and registry: order, conflicts, settings gates, and every declared edge as
recorded in every stack (destroy runs the same edges backwards)."""

from __future__ import annotations

import pytest

from components.core.addon import AddOn
from components.core.registry import ADDONS, REGISTRY, Entry, build_addons, ordered
from harness import run_stack
from harness.urns import VARIANTS, evaluate
from settings.gates import GATES, Gate, config_errors
from tests.conftest import make_settings

K8S_PROVIDER = "pulumi:providers:kubernetes"


def descendants(rec, component):
    """Custom resources below ``component``, and remote components (a ConfigGroup: no local children)."""
    out = []
    for child in rec.children(component):
        below = rec.children(child)
        out += [child] if child.custom or not below else descendants(rec, child)
    return out


def component_of(rec, stack, addon):
    found = [r for r in rec if not r.custom and r.name == f"{stack}-{addon.key}"]
    return found[0] if found else None


def kubernetes_objects(rec, resources):
    provider = {p.urn for p in rec.of_type(K8S_PROVIDER)}
    return [r for r in resources if r.provider.rsplit("::", 1)[0] in provider]


def waits_for_all(rec, res, others) -> bool:
    return all(rec.depends_on(res, other) for other in others)


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request):
    stack, _ = VARIANTS[request.param]
    return stack, evaluate(request.param)


def test_registry_keys_are_unique_and_every_edge_is_registered():
    keys = [a.key for a in ADDONS]
    assert len(set(keys)) == len(keys)
    order = [e.addon for e in ordered()]
    assert set(order) == set(ADDONS)
    for entry in REGISTRY:
        for dep in entry.after:
            assert order.index(dep) < order.index(entry.addon), (entry.addon.__name__, dep.__name__)


def test_every_addon_has_its_own_gate_and_every_gate_an_addon():
    # settings refuse what the gates forbid without importing a component: a gate missing from
    # settings.gates.GATES would let its add-on's sections through unchecked
    owners = [a.__dict__.get("gate") for a in ADDONS]
    assert None not in owners, [a.__name__ for a in ADDONS if "gate" not in a.__dict__]
    assert sorted(g.name for g in owners) == sorted(g.name for g in GATES) and len(set(owners)) == len(owners)
    for addon in ADDONS:
        assert addon.gate.name == addon.__name__.removesuffix("AddOn"), addon.__name__
        assert (addon.aws_only, addon.config_keys, addon.enabled_by) == \
            (addon.gate.aws_only, addon.gate.config_keys, addon.gate.enabled_by)


def test_every_declared_edge_is_recorded(variant):
    stack, rec = variant
    checked = 0
    for entry in REGISTRY:
        addon = entry.addon
        mine = component_of(rec, stack, addon)
        if mine is None:
            continue
        objects = kubernetes_objects(rec, descendants(rec, mine))
        for dep in entry.after:
            theirs = component_of(rec, stack, dep)
            if theirs is None:
                continue
            their_resources = descendants(rec, theirs)
            for obj in objects:
                # created after, so deleted before, everything of the add-on it comes after
                assert waits_for_all(rec, obj, their_resources), (stack, addon.__name__, obj.name, dep.__name__)
            for res in their_resources:
                assert not any(rec.depends_on(res, o) for o in descendants(rec, mine)), (res.name, addon.__name__)
            checked += 1
    if rec.of_type("platform:autoscaling:Karpenter"):
        assert checked, "Karpenter comes after the EBS CSI driver, yet no edge was checked"


def test_kubernetes_objects_wait_for_compute_and_aws_side_does_not(variant):
    stack, rec = variant
    groups = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    if not groups:
        return
    for addon in ADDONS:
        component = component_of(rec, stack, addon)
        if component is None:
            continue
        resources = descendants(rec, component)
        for obj in kubernetes_objects(rec, resources):
            assert waits_for_all(rec, obj, groups), (addon.__name__, obj.name)
        for res in resources:
            if res.type in ("aws:iam/role:Role", "aws:iam/policy:Policy", "aws:sqs/queue:Queue",
                            "aws:cloudwatch/eventRule:EventRule", "aws:eks/podIdentityAssociation:PodIdentityAssociation"):
                # identity, permissions and queues start with the cluster, in parallel with the nodes
                assert not any(rec.depends_on(res, g) for g in groups), (addon.__name__, res.name)
            if res.type == "aws:eks/addon:Addon":
                # EKS add-ons that run pods need somewhere to schedule them
                assert waits_for_all(rec, res, groups), (addon.__name__, res.name)


def test_node_role_and_templates_start_with_the_cluster_and_node_groups_wait_for_the_cni():
    rec = run_stack("dev")
    cni = next(a for a in rec.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni")
    for group in rec.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert rec.depends_on(group, cni)
    for res in rec.of_type("aws:iam/role:Role") + rec.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert not rec.depends_on(res, cni), res.name


# --- the walk, with add-ons made up for the test ------------------------------------------------------

class _A(AddOn):
    key = "a"
    gate = Gate("_A")


class _B(AddOn):
    key = "b"
    gate = Gate("_B")


class _C(AddOn):
    key = "c"
    gate = Gate("_C", enabled_by=("autoscaling", "karpenter"), conflicts=("_A",))


def test_order_follows_after_edges_whatever_the_registry_order():
    a, b, c = Entry(_A), Entry(_B, after=(_A,)), Entry(_C, after=(_B,))
    assert ordered((c, b, a)) == [a, b, c]


def test_a_cycle_and_an_unregistered_edge_are_refused():
    class Loop1(AddOn):
        key = "l1"
        gate = Gate("Loop1")

    class Loop2(AddOn):
        key = "l2"
        gate = Gate("Loop2")

    with pytest.raises(ValueError, match="cycle: Loop1 -> Loop2 -> Loop1"):
        ordered((Entry(Loop1, after=(Loop2,)), Entry(Loop2, after=(Loop1,))))
    with pytest.raises(ValueError, match=r"_B refers to \['_A'\], which are not in the registry"):
        ordered((Entry(_B, after=(_A,)),))


def test_conflicting_addons_both_enabled_are_a_config_error():
    errors = config_errors(make_settings(), {}, "eks-platform", gates=(_A.gate, _B.gate, _C.gate))
    assert any("_C and _A must not both be enabled" in e for e in errors), errors
    # not when one of them is off
    assert config_errors(make_settings(autoscaling="cluster-autoscaler"), {}, "eks-platform",
                         gates=(_A.gate, _C.gate)) == []


def test_a_section_of_a_disabled_addon_names_the_key_that_enables_it():
    off = Gate("Off", config_keys=("metricsServer",), enabled_by=("autoscaling", "cluster-autoscaler"))
    (error,) = config_errors(make_settings(), {"metricsServer": {}}, "eks-platform", gates=(off,))
    assert "eks-platform:metricsServer" in error and "eks-platform:autoscaling is 'cluster-autoscaler'" in error
    assert "but it is 'karpenter'" in error


def test_build_addons_skips_disabled_ones_and_hands_each_the_components_it_comes_after():
    from harness import run
    from harness.fakes import fake_eks_handle

    seen = {}

    class Recorder(AddOn):
        gate = Gate("Recorder")

        @classmethod
        def build(cls, name, cluster, settings):
            seen[cls.key] = (name, cluster.readiness)
            return f"component-{cls.key}"

    class First(Recorder):
        key = "first"

    class Second(Recorder):
        key = "second"

    class Never(Recorder):
        key = "never"
        gate = Gate("Never", enabled_by=("autoscaling", "cluster-autoscaler"))

    def program():
        registry = (Entry(Second, after=(First, Never)), Entry(Never), Entry(First))
        built = build_addons(fake_eks_handle(), make_settings(), registry=registry)
        assert list(built) == [First, Second]

    run(program)
    assert seen["first"] == ("dev-first", ())
    assert seen["second"] == ("dev-second", ("component-first",))
    assert "never" not in seen


def test_components_readme_lists_every_addon_and_component_type():
    import importlib
    import pkgutil

    import components
    from harness import PROJECT_DIR

    readme = (PROJECT_DIR / "components" / "README.md").read_text()
    for addon in ADDONS:
        assert f"`{addon.__name__}` (`{addon.key}`" in readme, addon.__name__
    tokens = []
    for module in pkgutil.walk_packages(components.__path__, "components."):
        token = getattr(importlib.import_module(module.name), "TYPE", None)
        if token:
            tokens.append(token)
            assert f"`{token}`" in readme, token
    assert len(tokens) >= len(ADDONS), tokens


def test_enabled_follows_the_target_and_enabled_by():
    from components.autoscaling.cluster_autoscaler import ClusterAutoscalerAddOn
    from components.autoscaling.karpenter import KarpenterAddOn
    from components.observability.metrics_server import MetricsServerAddOn

    ca = make_settings(autoscaling="cluster-autoscaler")
    assert KarpenterAddOn.enabled(make_settings()) and not KarpenterAddOn.enabled(ca)
    assert ClusterAutoscalerAddOn.enabled(ca) and not ClusterAutoscalerAddOn.enabled(make_settings())
    local = make_settings("local")
    assert not KarpenterAddOn.enabled(local) and MetricsServerAddOn.enabled(local)
