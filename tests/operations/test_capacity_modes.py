"""tools/capacity.py and data/instances.yaml: max pods per node in the VPC CNI's two modes.

ENI mode: ENIs x (IPv4 per ENI - 1) + 2 (awslabs/amazon-eks-ami nodeadm/internal/kubelet/eni_max_pods.go,
calculateStandardMaxPods; the figures of eni-max-pods.txt). Prefix delegation: ENIs x ((IPv4 per ENI - 1)
x 16) + 2, Nitro only (amazon-eks-ami templates/al2/runtime/max-pods-calculator.sh,
calculate_max_ip_addresses_prefix_delegation). Managed node groups cap both at 110 below 30 vCPUs and 250
from there (EKS user guide, cni-increase-ip-addresses-procedure). The mode comes from the recorded managed
vpc-cni add-on's configuration values, env.ENABLE_PREFIX_DELEGATION (amazon-vpc-cni-k8s README).
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from harness import Recorded, Recording, run_stack, stack_settings
from tests.operations.test_capacity import SYSTEM
from tests.operations.test_capacity import _recording as capacity_recording
from tools import capacity


def _table(**types: dict) -> dict:
    table = copy.deepcopy(capacity.load_instances())
    table["types"].update(types)
    return table


def _recording(nodes: int, instance: str, cni_config: dict | None, releases: dict[str, dict]) -> Recording:
    """test_capacity's hand-made recording (a system node group and releases) plus a vpc-cni add-on."""
    rec = capacity_recording(nodes, releases, instance=instance, subnets=2)
    inputs = {"addonName": "vpc-cni", "configurationValues": json.dumps(cni_config) if cni_config is not None else None}
    rec.resources.append(Recorded(urn="urn:pulumi:t::p::aws:eks/addon:Addon::t-vpc-cni", type="aws:eks/addon:Addon",
                                  name="t-vpc-cni", custom=True, parent="", dependencies=[], provider="",
                                  inputs=inputs))
    return rec


PREFIX = {"enableNetworkPolicy": "true", "env": {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}}


# --- the table -------------------------------------------------------------------------------------

def test_every_types_published_eni_max_pods_is_the_formula_of_its_enis():
    """maxPods (eni-max-pods.txt) and enis/ipv4PerEni (instance-info.jsonl) are two transcriptions of one
    fact: a typo in either shows here."""
    table = capacity.load_instances()
    for itype, spec in table["types"].items():
        assert isinstance(spec["nitro"], bool), itype
        assert spec["enis"] * (spec["ipv4PerEni"] - 1) + 2 == spec["maxPods"], itype
        assert capacity.max_pods(itype, capacity.ENI, table)["maxPods"] == spec["maxPods"], itype


# --- both modes on known types -----------------------------------------------------------------------

@pytest.mark.parametrize(("itype", "eni", "prefix_raw", "prefix"), [
    # t4g.medium: 3 ENIs x 6 IPv4; eni-max-pods.txt 17; 3 x (5 x 16) + 2 = 242, capped at 110 (2 vCPUs)
    ("t4g.medium", 17, 242, 110),
    # m5.large: the EKS user guide's own example (choosing-instance-type, determine-max-pods): 29, and 110
    # with --cni-prefix-delegation-enabled
    ("m5.large", 29, 434, 110),
    ("t4g.small", 11, 146, 110),
])
def test_max_pods_in_both_modes(itype, eni, prefix_raw, prefix):
    e = capacity.max_pods(itype, capacity.ENI)
    p = capacity.max_pods(itype, capacity.PREFIX)
    assert (e["mode"], e["maxPods"]) == ("eni", eni)
    assert (p["mode"], p["raw"], p["cap"], p["maxPods"]) == ("prefix", prefix_raw, 110, prefix)
    assert capacity.node_allocatable(itype, mode=capacity.PREFIX)["maxPods"] == prefix


def test_the_managed_node_group_ceiling_is_110_below_30_vcpus_and_250_from_30():
    # synthetic: 8 ENIs x 30 IPv4 (an m5.8xlarge's network) at 29, 30 and 32 vCPUs
    table = _table(**{f"x.{n}": {"vcpu": n, "memoryMiB": 131072, "enis": 8, "ipv4PerEni": 30, "nitro": True,
                                 "maxPods": 234} for n in (29, 30, 32)})
    assert capacity.max_pods("x.29", capacity.PREFIX, table)["maxPods"] == 110
    assert capacity.max_pods("x.30", capacity.PREFIX, table)["maxPods"] == 250  # "less than 30" is 110
    assert capacity.max_pods("x.32", capacity.PREFIX, table)["maxPods"] == 250
    # the cap applies in ENI mode too ("whether prefix delegation is enabled or not")
    assert capacity.max_pods("x.29", capacity.ENI, table)["maxPods"] == 110
    assert capacity.max_pods("x.32", capacity.ENI, table)["maxPods"] == 234


def test_a_type_that_is_not_nitro_keeps_secondary_ips():
    table = _table(**{"xen.medium": {"vcpu": 2, "memoryMiB": 4096, "enis": 3, "ipv4PerEni": 6, "nitro": False,
                                     "maxPods": 17}})
    p = capacity.max_pods("xen.medium", capacity.PREFIX, table)
    assert (p["requested"], p["mode"], p["maxPods"]) == ("prefix", "eni", 17)
    assert "not Nitro" in p["formula"]


def test_kube_reserved_memory_follows_the_data_files_choice():
    # nodeadm reserves 11 MiB x its ENI-mode max pods + 255 MiB ("eni"); "effective" reserves for the 110
    eni = capacity.node_allocatable("t4g.medium", mode=capacity.ENI)
    prefix = capacity.node_allocatable("t4g.medium", mode=capacity.PREFIX)
    assert capacity.load_instances()["maxPods"]["kubeReservedFrom"] == "eni"
    assert prefix["allocatableMemoryMiB"] == eni["allocatableMemoryMiB"] == 3246.8
    assert prefix["kubeReservedPods"] == 17
    effective = _table()
    effective["maxPods"]["kubeReservedFrom"] = "effective"
    strict = capacity.node_allocatable("t4g.medium", effective, mode=capacity.PREFIX)
    assert (strict["kubeReservedPods"], strict["allocatableMemoryMiB"]) == (110, round(3246.8 - 11 * (110 - 17), 1))


# --- the mode, read from the recording -------------------------------------------------------------------

@pytest.mark.parametrize(("config", "mode"), [
    (PREFIX, "prefix"),
    ({"env": {"ENABLE_PREFIX_DELEGATION": "false"}}, "eni"),
    ({"enableNetworkPolicy": "true"}, "eni"),  # what components' EKS add-ons set today
    (None, "eni"),
])
def test_the_mode_comes_from_the_vpc_cni_addons_configuration_values(config, mode):
    got = capacity.cni_mode(_recording(1, "t4g.medium", config, {}))
    assert got["mode"] == mode
    assert got["from"].startswith("EKS add-on t-vpc-cni: env.ENABLE_PREFIX_DELEGATION")
    assert got["warmPrefixTarget"] == ("1" if mode == "prefix" else None)


def test_the_pod_slot_limit_goes_with_prefix_delegation_and_memory_decides():
    small = {**SYSTEM, "replicas": 20, "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
    eni = capacity.check(None, _recording(1, "t4g.medium", {"enableNetworkPolicy": "true"}, {"metrics-server": small}))
    # 20 replicas and the aws-node DaemonSet pod of the recorded vpc-cni add-on
    assert "21 pods for 17 pod slots (1 x 17)" in eni["problems"] and not eni["fits"]
    prefix = capacity.check(None, _recording(1, "t4g.medium", PREFIX, {"metrics-server": small}))
    assert prefix["fits"] and prefix["allocatable"]["pods"] == 110 and prefix["cni"]["mode"] == "prefix"
    big = {**SYSTEM, "replicas": 20, "resources": {"requests": {"cpu": "10m", "memory": "200Mi"}}}
    memory = capacity.check(None, _recording(1, "t4g.medium", PREFIX, {"metrics-server": big}))
    assert memory["problems"][0].startswith("memory requests are 123% of the system nodes' allocatable")


def test_each_stack_reports_its_mode():
    """staging as it is (the add-on sets only enableNetworkPolicy: ENI mode, 29 on an m7g.large), and
    staging's own recording with the add-on switched to prefix delegation (110 per node, the same memory);
    dev turns it on itself (cluster.prefixDelegation)."""
    staging = run_stack("staging")
    settings = stack_settings("staging")
    report = capacity.check(settings, staging)
    assert report["cni"]["mode"] == "eni" and report["perNode"]["maxPods"] == 29
    assert report["cni"]["from"] == ("EKS add-on staging-addons-base-vpc-cni: env.ENABLE_PREFIX_DELEGATION not set "
                                     "(the CNI's default, false)")
    assert "max pods per node 29: VPC CNI eni mode" in capacity.render_text(report)[1]
    switched = Recording()
    for r in staging:
        if r.type == "aws:eks/addon:Addon" and r.inputs.get("addonName") == "vpc-cni":
            config = {**json.loads(r.inputs["configurationValues"]), "env": PREFIX["env"]}
            r = dataclasses.replace(r, inputs={**r.inputs, "configurationValues": json.dumps(config)})
        switched.resources.append(r)
    prefix = capacity.check(settings, switched)
    assert (prefix["cni"]["mode"], prefix["perNode"]["maxPods"]) == ("prefix", 110)
    assert prefix["allocatable"]["pods"] == 110 * report["nodes"]
    assert prefix["allocatable"]["memoryMiB"] == report["allocatable"]["memoryMiB"]
    dev = capacity.check(stack_settings("dev"), run_stack("dev"))
    assert (dev["cni"]["mode"], dev["perNode"]["maxPods"]) == ("prefix", 110)
