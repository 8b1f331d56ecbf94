"""Recording mocks: what the engine would be told, kept for assertions and reports."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
AZS = [f"{REGION}{c}" for c in "abcdef"]


@dataclass
class Recorded:
    """One registered resource or component."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    provider: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    """Full URNs this resource was known by before (its ``aliases`` option, resolved by the SDK)."""
    retain_on_delete: bool = False
    """Its ``retain_on_delete`` option: a destroy or a replacement drops it from the state, not from AWS."""

    @property
    def parent_type(self) -> str:
        return _type_of(self.parent)

    def k8s_object(self) -> dict[str, Any]:
        """A recorded Kubernetes custom resource as the object the API server gets: apiVersion, kind,
        metadata and spec."""
        return {k: self.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}


def _type_of(urn: str) -> str:
    if not urn:
        return ""
    return urn.split("::")[2].split("$")[-1]


def _name_of(urn: str) -> str:
    return urn.split("::")[-1] if urn else ""


class Recording:
    """Everything one evaluation registered, in registration order."""

    def __init__(self) -> None:
        self.resources: list[Recorded] = []
        self.exports: dict[str, Any] = {}
        self.secret_exports: set[str] = set()
        """Names of the exports Pulumi keeps as secrets."""
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __iter__(self) -> Iterator[Recorded]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise AssertionError(f"expected one {type_} named {name!r}, found {len(found)} among {names}")
        return found[0]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one resource named {name!r}, found {len(found)}")
        return found[0]

    def _index(self) -> tuple[dict[str, Recorded], dict[str, list[Recorded]]]:
        # built once the evaluation is over (a recording is only read after that)
        if getattr(self, "_indexed", None) != len(self.resources):
            self._urns = {r.urn: r for r in self.resources}
            self._children: dict[str, list[Recorded]] = {}
            for r in self.resources:
                self._children.setdefault(r.parent, []).append(r)
            self._indexed = len(self.resources)
        return self._urns, self._children

    def by_urn(self, urn: str) -> Recorded:
        return self._index()[0][urn]

    def children(self, parent: Recorded) -> list[Recorded]:
        return list(self._index()[1].get(parent.urn, []))

    def depends_on(self, res: Recorded, other: Recorded) -> bool:
        """True if ``res`` waits for ``other``: directly, or through a component ``res`` depends on."""
        seen: set[str] = set()
        todo = list(res.dependencies)
        while todo:
            urn = todo.pop()
            if urn in seen:
                continue
            seen.add(urn)
            if urn == other.urn:
                return True
            dep = self._index()[0].get(urn)
            if dep is not None and not dep.custom:
                # depending on a component means depending on all of its children
                todo.extend(c.urn for c in self.children(dep))
        return False


    def waits_for(self, res: Recorded, other: Recorded) -> bool:
        """True if the engine starts ``res`` only after ``other``: ``depends_on`` followed transitively."""
        by_urn = self._index()[0]
        seen: set[str] = set()
        todo = [res]
        while todo:
            current = todo.pop()
            if current.urn in seen:
                continue
            seen.add(current.urn)
            if self.depends_on(current, other):
                return True
            todo.extend(by_urn[u] for u in current.dependencies if u in by_urn)
        return False


def _kind_kubeconfig(name: str) -> str:
    """What `kind get kubeconfig --name <name>` prints (with a fake CA and key)."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": f"kind-{name}",
        "clusters": [{"name": f"kind-{name}", "cluster": {"server": "https://127.0.0.1:40123",
                                                          "certificate-authority-data": "bW9jaw=="}}],
        "contexts": [{"name": f"kind-{name}", "context": {"cluster": f"kind-{name}", "user": f"kind-{name}"}}],
        "users": [{"name": f"kind-{name}", "user": {"client-certificate-data": "bW9jaw==",
                                                     "client-key-data": "bW9jay1rZXk="}}],
    })


class PlatformMocks(pulumi.runtime.Mocks):
    """Plausible outputs for the resources and invokes the platform uses."""

    def __init__(self, recording: Recording, existing_clusters: dict[str, str] | None = None) -> None:
        self.recording = recording
        self.existing_clusters = dict(existing_clusters or {})
        """EKS clusters the mocked account already has: name -> Kubernetes version."""
        # The SDK's mock monitor deserializes a registration's inputs for ``new_resource``; the recording
        # reuses them instead of deserializing the request a second time. Registrations run on the SDK's
        # worker threads, so the hand-over is per thread.
        self._handover = threading.local()

    def inputs_of_last_registration(self) -> dict[str, Any]:
        """The inputs ``new_resource`` was last given on this thread (read right after the registration)."""
        return self._handover.inputs

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self._handover.inputs = args.inputs
        outputs = dict(args.inputs)
        typ, name = args.typ, args.name
        physical = outputs.get("name") or name
        service = typ.split(":")[1].split("/")[0] if typ.startswith("aws:") else ""
        if typ.startswith("aws:"):
            outputs.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{physical}")
            outputs.setdefault("tagsAll", outputs.get("tags", {}))
        if typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
            outputs.setdefault("name", physical)
        elif typ == "aws:iam/policy:Policy":
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:policy/{physical}"
        elif typ == "aws:eks/cluster:Cluster":
            outputs.update(
                endpoint=f"https://{physical}.gr7.{REGION}.eks.amazonaws.com",
                certificateAuthority={"data": "bW9jay1jYQ=="},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{REGION}.amazonaws.com/id/MOCK"}]}],
                vpcConfig={**outputs.get("vpcConfig", {}), "clusterSecurityGroupId": "sg-0c1u5ter0000000000"},
                status="ACTIVE",
            )
        elif typ == "aws:sqs/queue:Queue":
            outputs.setdefault("name", physical)
            outputs["arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{outputs['name']}"
            outputs["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{outputs['name']}"
        elif typ == "aws:backup/vault:Vault":
            # the provider auto-names it from the logical name, as it does for queues and roles
            outputs.setdefault("name", physical)
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            outputs["latestVersion"] = 1
        elif typ == "aws:ec2/instance:Instance":
            outputs["primaryNetworkInterfaceId"] = f"eni-{name}"
        elif typ == "aws:kms/key:Key":
            outputs["keyId"] = f"{name}-key-id"
            outputs["arn"] = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{name}-key-id"
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            outputs["resources"] = [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}]
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{physical}"
        elif typ == "command:local:Command":
            create = outputs.get("create", "")
            outputs["stdout"] = _kind_kubeconfig(create.split()[-1]) if create.startswith("kind get kubeconfig") else ""
            outputs["stderr"] = ""
        elif typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = f"mock-password-{name}"
            outputs["bcryptHash"] = f"$2a$10$mock-hash-{name}"
        elif typ == "kubernetes:helm.sh/v3:Release":
            outputs["status"] = {"status": "deployed", "name": outputs.get("name", name)}
        return f"{name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.recording.calls.append((args.token, dict(args.args)))
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock", "userId": "MOCK",
                    "id": ACCOUNT_ID}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return _zones(args.args)
        if token == "aws:eks/getClusters:getClusters":
            return {"names": sorted(self.existing_clusters), "id": REGION}
        if token == "aws:eks/getCluster:getCluster":
            return {"name": args.args["name"], "version": self.existing_clusters[args.args["name"]]}
        if token == "aws:ec2/getVpc:getVpc":
            return {"id": args.args.get("id"), "cidrBlock": "10.99.0.0/16"}
        return {}


# us-east-1 as an account that opted in to a Local Zone sees it (sorted first), with use1-az3 among its zones.
ZONES = [("us-east-1-bos-1a", "use1-bos1-az1", "opted-in"),
         *((name, zone_id, "opt-in-not-required") for name, zone_id in zip(
             AZS, ["use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az5", "use1-az6"], strict=True))]


def _zones(args: dict[str, Any]) -> dict[str, Any]:
    """DescribeAvailabilityZones as AWS answers it: exclusions and the opt-in-status filter applied."""
    excluded = set(args.get("excludeZoneIds") or [])
    wanted = {v for f in args.get("filters") or [] if f["name"] == "opt-in-status" for v in f["values"]}
    zones = [z for z in ZONES if z[1] not in excluded and (not wanted or z[2] in wanted)]
    return {"names": [z[0] for z in zones], "zoneIds": [z[1] for z in zones], "id": REGION}


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: PlatformMocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.platform_mocks = mocks
        self.recording = recording

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine's rule (pulumi pkg/resource/urn.go, NewURN): under the root stack a resource's
        # type stands alone; under any other parent it follows the parent's whole qualified type.
        # (The SDK mock keeps only the parent's last type and prefixes pulumi:pulumi:Stack, so the
        # alias URNs the SDK computes would never match.)
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def GetDeploymentInfo(self, request):  # noqa: N802 - gRPC method name
        # Without alias specs the SDK resolves every alias to the full URN itself (the engine's own
        # rule, ``all_aliases``), so the recording holds the old URNs a resource answers to.
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS]
        del info.supportedFeatures[:]
        info.supportedFeatures.extend(features)
        return info

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            state = self.resources[response.urn].state
            self.recording.resources.append(
                Recorded(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=request.custom,
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    provider=request.provider,
                    # what the SDK deserialized from request.object for new_resource (never mutated there)
                    inputs=_plain(self.platform_mocks.inputs_of_last_registration()),
                    outputs=_plain(state),
                    delete_before_replace=request.deleteBeforeReplace,
                    ignore_changes=list(request.ignoreChanges),
                    aliases=sorted(request.aliasURNs),
                    retain_on_delete=bool(request.retainOnDelete),
                )
            )
        return response


def _plain(value: Any) -> Any:
    """Deserialized properties with secrets unwrapped, as plain JSON-like data: exactly what
    ``json.loads(json.dumps(value, default=str))`` gives (a fresh copy; tuples become lists, keys
    strings, anything else its ``str``), without encoding every input and output to text and back."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if isinstance(value, dict):
        return {k if type(k) is str else _plain_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int | float):
        return json.loads(json.dumps(value))
    return str(value)


def _plain_key(key: Any) -> str:
    # json's rule for keys: strings as they are, numbers, booleans and None as their JSON text
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, bool | int | float) or key is None:
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


@contextlib.contextmanager
def _fast_evaluation() -> Iterator[None]:
    """What the harness does not need, switched off while it evaluates: the source position the SDK
    records for every resource (``traceback.extract_stack`` per registration, a third of the time),
    and the cyclic garbage collector (the SDK allocates many short-lived futures; nothing cyclic
    needs collecting until the evaluation ends)."""
    saved = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = lambda: source_pb2.StackTrace()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = saved
        # Without this, the first collection after an evaluation walks every object it allocated (a tenth of
        # the evaluation's time) and later full collections walk every cached recording again (in all, a
        # sixth of the unit suite). Frozen objects are never walked: an evaluation's cyclic garbage (a few
        # MB of futures and resources) stays allocated for the rest of the process, a short-lived test or
        # tool process.
        gc.freeze()
        if gc_was_enabled:
            gc.enable()


# True while an evaluation runs and after one that raised: only such an evaluation leaves work in flight.
_unfinished = False


def _drain_previous_evaluation() -> None:
    """Cancel what an earlier evaluation left pending (one that raised leaves registrations in flight): they
    would otherwise reach this evaluation's monitor and land in its recording. Skipped after a finished
    evaluation (``run_pulumi_func`` waited for every registration): walking ``asyncio.all_tasks`` costs more
    with every evaluation the process keeps (gc.freeze keeps their done tasks), a tenth of the unit suite."""
    if not _unfinished:
        return
    loop = asyncio.get_event_loop_policy().get_event_loop()
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def run(fn: Callable[[], Any], *, stack: str = "dev", config: dict[str, Any] | None = None,
        preview: bool = False, recording: Recording | None = None,
        existing_clusters: dict[str, str] | None = None, secret_keys: list[str] | None = None) -> Recording:
    """Evaluate ``fn`` under mocks and return what it registered. ``config`` keys are full keys
    (``eks-platform:network``); values that are not strings are JSON-encoded as Pulumi would.
    Pass ``recording`` to keep what was registered even when ``fn`` raises; ``existing_clusters``
    (name -> version) are EKS clusters the mocked account already has."""
    global _unfinished
    recording = Recording() if recording is None else recording
    _drain_previous_evaluation()
    _unfinished = True
    mocks = PlatformMocks(recording, existing_clusters)
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="eks-platform", stack=stack, preview=preview,
                             monitor=_RecordingMonitor(mocks, recording))
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()}, list(secret_keys or [])
    )
    settings = pulumi_settings.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()
    with _fast_evaluation():
        _sync_await(run_pulumi_func(fn))
    root = pulumi_settings.get_root_resource()
    outputs = getattr(root, "outputs", None) or {}

    async def _resolve() -> dict[str, Any]:
        return {k: await pulumi.Output.from_input(v).future() for k, v in outputs.items()}

    async def _secrets() -> set[str]:
        return {k for k, v in outputs.items() if await pulumi.Output.from_input(v).is_secret()}

    recording.exports = _plain(_sync_await(_resolve()))
    recording.secret_exports = _sync_await(_secrets())
    _unfinished = False
    return recording
