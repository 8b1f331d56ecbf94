"""Stack settings: the only module that reads Pulumi configuration.

``load_settings()`` reads the ``eks-platform:*`` keys (and ``aws:region``) of the current stack and
returns one frozen, validated ``Settings``; ``parse_settings()`` does the same from a plain dict, for
tests and offline tools. Bad config raises ``ConfigError`` naming each offending key before any
resource is registered.

The models follow the platform's areas (as ``components/`` and the README do); a module holds the
sections an area's add-ons read:

- network and cluster (the AWS target): ``aws.py``; autoscaling: ``karpenter.py`` and, for Cluster
  Autoscaler and metrics-server, ``addons.py``; traffic: ``traffic.py``; observability: ``observability.py``;
  gitops: ``gitops.py``; storage: ``storage.py``; policy: ``kyverno.py`` (in the cluster) and ``policy.py``
  (the CrossGuard pack's exceptions); tenancy: ``teams.py``.
- shared: ``base.py`` (the base model, tier defaults, the error), ``types.py`` (value grammars),
  ``gates.py`` (each add-on's gate: when it is on, its own sections, its conflicts).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

import versions
from settings import applies, gates
from settings.addons import ClusterAutoscalerSettings, MetricsServerSettings
from settings.applies import AWS_CLUSTER_KEYS
from settings.aws import (
    DEFAULT_NODE_GROUPS,
    DEFAULT_WORKER_GROUPS,
    ClusterSettings,
    FargateProfileSettings,
    NetworkSettings,
    NodeGroupSettings,
)
from settings.base import (
    PROJECT,
    TIERS,
    ConfigError,
    Model,
    Tier,
    did_you_mean,
    fill_tier_defaults,
    format_validation_error,
    invalid,
    tiered,
)
from settings.gates import config_given
from settings.gitops import ArgoCdSettings
from settings.karpenter import FARGATE_PROFILE, KarpenterSettings
from settings.kyverno import KyvernoSettings
from settings.observability import ObservabilitySettings
from settings.policy import PolicySettings
from settings.storage import StorageSettings
from settings.teams import TeamSettings, check_teams
from settings.traffic import TrafficSettings
from settings.types import between, dns_label

__all__ = ["PROJECT", "ConfigError", "KindSettings", "Settings", "decode_config_value", "load_settings",
           "parse_settings"]

Target = Literal["aws", "kind"]
Autoscaling = Literal["karpenter", "cluster-autoscaler", "none"]
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class KindSettings(Model):
    """The local kind cluster (target kind). Changing name, version, workers or ports replaces it."""

    name: dns_label(50) | None = None
    """kind cluster name (a DNS label, it names docker containers); defaults to eks-platform-<stack>.
    The kubectl context is kind-<name>."""
    version: str = versions.DEFAULT_KUBERNETES_VERSION
    """Kubernetes minor of the nodes, one of versions.KIND_NODE_IMAGES (the EKS stacks' minors)."""
    workers: between(0, 5) = 2
    """Number of kind worker nodes (0 to 5), besides the control-plane node."""
    http_port: between(1, 65535) = 80
    """Host port on 127.0.0.1 that reaches the ingress gateway's HTTP NodePort."""
    https_port: between(1, 65535) = 443
    """Host port on 127.0.0.1 that reaches the ingress gateway's HTTPS NodePort."""
    allow_privileged_ports: bool = True
    """Allow host ports below 1024 (80, 443). Rootless Docker or Podman cannot bind them: set false
    there and pick ports like 8080 and 8443, and the program refuses privileged ones."""

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in versions.KIND_NODE_IMAGES:
            raise ValueError(f"must be one of {list(versions.KIND_NODE_IMAGES)} (a kindest/node image is pinned "
                             "for each in versions.KIND_NODE_IMAGES)")
        return v

    @model_validator(mode="after")
    def _ports(self) -> KindSettings:
        if self.http_port == self.https_port:
            raise invalid("httpsPort", "must differ from httpPort ({port})", port=self.http_port)
        if not self.allow_privileged_ports:
            low = [p for p in (self.http_port, self.https_port) if p < 1024]
            if low:
                raise invalid("httpPort" if self.http_port < 1024 else "httpsPort",
                              "{low} are privileged ports (below 1024) and allowPrivilegedPorts is false; pick "
                              "ports like 8080 and 8443", low=low)
        return self


class Settings(Model):
    """Everything one stack of the platform is built from."""

    stack: str
    """The Pulumi stack name (not a config key)."""
    tier: Tier
    """Environment tier that picks the defaults: dev, staging or prod. Defaults to the stack name."""
    target: Target = "aws"
    """Where the platform runs: aws (EKS) or kind (a local cluster)."""
    region: str | None = Field(default=None, alias="aws:region")
    """AWS region, from the standard aws:region key; required for the aws target."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Extra tags on every AWS resource (the platform adds project, stack and managed-by)."""
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    """VPC, subnets, NAT, endpoints and flow logs (aws only)."""
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    """EKS control plane (aws only)."""
    node_groups: list[NodeGroupSettings] = tiered(
        dev=DEFAULT_NODE_GROUPS["dev"], staging=DEFAULT_NODE_GROUPS["staging"], prod=DEFAULT_NODE_GROUPS["prod"]
    )
    """EKS managed node groups; the default is one tainted 'system' group, and without Karpenter (autoscaling
    cluster-autoscaler or none) an untainted 'workers' group beside it (aws only)."""
    fargate_profiles: list[FargateProfileSettings] = Field(default_factory=list)
    """Fargate profiles, created one at a time (aws only)."""
    kind: KindSettings = Field(default_factory=KindSettings)
    """Local kind cluster (kind only)."""
    autoscaling: Autoscaling = "karpenter"
    """Node autoscaler: karpenter, cluster-autoscaler (scales the managed node groups) or none (aws only)."""
    karpenter: KarpenterSettings = Field(default_factory=KarpenterSettings)
    """Karpenter: controller placement and size, EC2NodeClasses and NodePools; only with autoscaling:
    karpenter (aws only)."""
    cluster_autoscaler: ClusterAutoscalerSettings = Field(default_factory=ClusterAutoscalerSettings)
    """Cluster Autoscaler tuning; only with autoscaling: cluster-autoscaler (aws only)."""
    metrics_server: MetricsServerSettings = Field(default_factory=MetricsServerSettings)
    """metrics-server replicas, disruption budget and resources."""
    traffic: TrafficSettings = Field(default_factory=TrafficSettings)
    """AWS Load Balancer Controller (EKS only) and Istio."""
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    """Prometheus, Alertmanager and Grafana."""
    argocd: ArgoCdSettings = Field(default_factory=ArgoCdSettings)
    """Argo CD, the repository it syncs and its root Application."""
    policy: PolicySettings = Field(default_factory=PolicySettings)
    """Policy pack exceptions: rules this stack may break, each with a written reason (policy/README.md)."""
    teams: list[TeamSettings] = Field(default_factory=list)
    """Application teams, each a namespace with Pod Security, quota, limits, network policies, access
    and optionally a Karpenter NodePool (settings/teams.py)."""
    _teams = model_validator(mode="after")(check_teams)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    """EFS (shared ReadWriteMany volumes) and AWS Backup of the gp3 volumes (aws only)."""
    kyverno: KyvernoSettings = Field(default_factory=KyvernoSettings)
    """Kyverno and the baseline policies: Enforce in team namespaces, Audit elsewhere."""

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not REGION.match(v):
            raise ValueError("must be an AWS region name like us-east-1")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not 1 <= len(key) <= 128 or key.lower().startswith("aws:") or len(value) > 256:
                raise ValueError(f"tag {key!r}: keys are 1-128 characters and not aws:-prefixed, values <= 256")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if self.target == "aws":
            if self.region is None:
                raise invalid("aws:region", "the aws target needs a region: pulumi config set aws:region us-east-1")
            if not self.node_groups:
                raise invalid("nodeGroups", "at least one managed node group is needed for CoreDNS and the "
                              "controllers (the default is a 'system' group)")
            names = [g.name for g in self.node_groups]
            if len(set(names)) != len(names):
                raise invalid("nodeGroups", "node group names must be unique, got {names}", names=names)
            profiles = [p.name for p in self.fargate_profiles]
            if len(set(profiles)) != len(profiles):
                raise invalid("fargateProfiles", "profile names must be unique, got {names}", names=profiles)
            if self.network.existing is None and _overlaps(self.network.vpc_cidr, self.cluster.service_ipv4_cidr):
                raise invalid("cluster.serviceIpv4Cidr", "{svc} overlaps network.vpcCidr {vpc}; pick disjoint ranges",
                              svc=self.cluster.service_ipv4_cidr, vpc=self.network.vpc_cidr)
            if self.tier == "prod" and "0.0.0.0/0" in self.cluster.public_access_cidrs:
                raise invalid("cluster.publicAccessCidrs", "0.0.0.0/0 is refused in prod; list your "
                              "networks' CIDRs or keep the endpoint private")
            if self.autoscaling == "karpenter":
                self._check_karpenter()
            traffic = self.traffic
            if traffic.istio.enabled and traffic.istio.gateway_service == "load-balancer" and \
                    not traffic.load_balancer_controller.enabled:
                # the gateway's Service asks for an NLB that only the controller provisions
                raise invalid("traffic.loadBalancerController.enabled", "is false, but Istio's ingress gateway on EKS "
                              "is an NLB made by the load balancer controller; enable it, or set "
                              "traffic.istio.gatewayService: cluster-ip or traffic.istio.enabled: false")
            self._check_addons_fit_node_groups()
        self._check_observability()
        return self

    def _check_observability(self) -> None:
        obs = self.observability
        logs, grafana = obs.logs, obs.grafana
        if obs.alerts.receiver == "sns" and not self.is_aws:
            raise invalid("observability.alerts.receiver", "'sns' publishes to Amazon SNS with an AWS identity, which "
                          "kind has not; use 'slack' or 'none'")
        if logs.backend == "cloudwatch" and not self.is_aws:
            raise invalid("observability.logs.backend", "'cloudwatch' needs AWS (target is kind); use 'loki' or "
                          "'none'")
        if not self.is_aws and logs.loki.bucket is not None:
            raise invalid("observability.logs.loki.bucket", "S3 storage is for the aws target; on kind Loki keeps "
                          "its data on its volume (observability.logs.loki.storageGib): remove it")
        if grafana.exposure != "port-forward" and not obs.metrics.enabled:
            raise invalid("observability.grafana.exposure", "Grafana comes with observability.metrics, which is "
                          "disabled; enable it or use exposure port-forward")
        self._check_exposure("observability.grafana.exposure", grafana.exposure)
        if self.argocd.enabled:
            self._check_exposure("argocd.exposure.exposure", self.argocd.exposure.exposure)
            chosen = self.argocd.workload_exposure
            if chosen is not None:
                self._check_exposure("argocd.workloadExposure", chosen)

    def _check_exposure(self, key: str, exposure: str) -> None:
        if exposure == "istio" and not self.traffic.istio.enabled:
            raise invalid(key, "'istio' routes through the Istio ingress gateway, but traffic.istio.enabled is "
                          "false; enable it, or use 'alb' (EKS) or another mode")
        if exposure == "istio":
            self._check_gateway_tls(key)
        if exposure == "alb" and not (self.is_aws and self.traffic.load_balancer_controller.enabled):
            raise invalid(key, "'alb' needs the AWS Load Balancer Controller (EKS, "
                          "traffic.loadBalancerController.enabled); use 'istio' or another mode")

    def _check_addons_fit_node_groups(self) -> None:
        if self.autoscaling != "karpenter" and all(
                any(t.effect in ("NO_SCHEDULE", "NO_EXECUTE") for t in g.taints) for g in self.node_groups):
            # without Karpenter only the node groups run pods, and the platform's own Istio gateway, Grafana and
            # kube-state-metrics (and every team workload) tolerate no taint of theirs
            raise invalid("nodeGroups", "every node group is tainted ({groups}), and with autoscaling '{mode}' "
                          "nothing else runs the pods that tolerate no taint (the Istio ingress gateway, Grafana, "
                          "kube-state-metrics, team workloads): add a nodeGroups entry without a NoSchedule or "
                          "NoExecute taint, or use autoscaling 'karpenter'",
                          groups=", ".join(g.name for g in self.node_groups), mode=self.autoscaling)
        if self.autoscaling == "cluster-autoscaler" and not any(g.max_size > g.min_size for g in self.node_groups):
            # Cluster Autoscaler only moves a group's desired size between its minSize and maxSize
            raise invalid("autoscaling", "'cluster-autoscaler' has nothing to scale: every node group has "
                          "maxSize == minSize ({groups}); raise maxSize of at least one nodeGroups entry, or "
                          "choose 'karpenter' or 'none'",
                          groups=", ".join(f"{g.name}: {g.min_size}..{g.max_size}" for g in self.node_groups))
        system = next((g for g in self.node_groups if g.name == "system"), None)
        if system is not None and self.metrics_server.replicas > system.max_size:
            # each replica needs a node of its own (required anti-affinity, as upstream's HA manifest)
            raise invalid("metricsServer.replicas", "{replicas} replicas need as many system nodes, but "
                          "nodeGroups 'system' has maxSize {max}", replicas=self.metrics_server.replicas,
                          max=system.max_size)

    def _check_karpenter(self) -> None:
        run_on = self.karpenter.run_on
        system = next((g for g in self.node_groups if g.name == "system"), None)
        if run_on == "system-nodes" and (system is None or system.max_size < 2):
            # two replicas, spread over zones and hosts (the chart's required topology spread)
            raise invalid("karpenter.runOn", "'system-nodes' runs two controller replicas on the 'system' "
                          "node group, which needs maxSize >= 2 ({found}); add or grow it, or use runOn 'fargate'",
                          found="it is missing" if system is None else f"it has {system.max_size}")
        if run_on == "fargate" and not self.cluster.irsa:
            raise invalid("karpenter.runOn", "'fargate' needs IRSA because EKS Pod Identity does not work on "
                          "Fargate: set eks-platform:cluster.irsa: true, or use runOn 'system-nodes'")
        existing = self.network.existing
        if existing is not None and not existing.tag_subnets:
            # EC2NodeClasses select subnets by the karpenter.sh/discovery tag, which only tagSubnets adds
            raise invalid("network.existing.tagSubnets", "is false, so no subnet carries the karpenter.sh/discovery "
                          "tag and Karpenter would find no subnet for its nodes; set it to true (the tags are "
                          "added to your subnets), or use autoscaling 'cluster-autoscaler' or 'none'")
        if run_on == "fargate" and any(p.name == FARGATE_PROFILE for p in self.fargate_profiles):
            raise invalid("fargateProfiles", "the name '{name}' is taken by the profile karpenter.runOn 'fargate' "
                          "creates; rename yours", name=FARGATE_PROFILE)

    def _check_gateway_tls(self, key: str) -> None:
        if self.tier == "prod" and self.traffic.istio.gateway_tls_secret is None:
            # an admin login over plain HTTP through a public NLB
            raise invalid("traffic.istio.gatewayTlsSecret", "{key} is 'istio' in prod, which needs HTTPS on the "
                          "gateway: create a kubernetes.io/tls Secret in istio-ingress and name it here", key=key)

    @property
    def cluster_name(self) -> str:
        custom = self.cluster.name if self.is_aws else self.kind.name
        return custom or f"{PROJECT}-{self.stack}"

    @property
    def is_aws(self) -> bool:
        return self.target == "aws"

    @property
    def workload_exposure(self) -> str:
        """argocd.workloadExposure, or its default: istio with Istio on, else alb on EKS with the load balancer
        controller, else none."""
        if self.argocd.workload_exposure is not None:
            return self.argocd.workload_exposure
        if self.traffic.istio.enabled:
            return "istio"
        return "alb" if self.is_aws and self.traffic.load_balancer_controller.enabled else "none"

    @property
    def logs_backend(self) -> str:
        """observability.logs.backend, or its target default: cloudwatch on EKS, none on kind."""
        return self.observability.logs.backend or ("cloudwatch" if self.is_aws else "none")

    @property
    def all_fargate_profiles(self) -> list[FargateProfileSettings]:
        """The configured Fargate profiles, plus Karpenter's own with karpenter.runOn 'fargate'."""
        if self.autoscaling == "karpenter":
            return [*self.fargate_profiles, *self.karpenter.controller_fargate_profiles]
        return list(self.fargate_profiles)


def _overlaps(a: str, b: str) -> bool:
    import ipaddress

    return ipaddress.IPv4Network(a).overlaps(ipaddress.IPv4Network(b))


def parse_settings(raw: dict[str, Any], stack: str, secret_keys: frozenset[str] = frozenset()) -> Settings:
    """Validate ``raw`` (config keys without the ``eks-platform:`` prefix, plus ``aws:region``);
    ``secret_keys`` are the keys the stack holds as secrets (``pulumi config set --secret``).

    Raises ``ConfigError`` listing every bad key with what would be valid.
    """
    raw = _own_keys(raw, stack)
    target = raw.get("target", "kind" if stack == "local" else "aws")
    tier = raw.get("tier", stack if stack in TIERS else "dev" if stack == "local" else None)
    if tier is None:
        raise ConfigError(
            f"invalid configuration for stack '{stack}': {PROJECT}:tier is required for a stack not named "
            f"dev, staging or prod; one of {list(TIERS)}"
        )
    if tier not in TIERS:
        raise ConfigError(f"invalid configuration for stack '{stack}':\n  {PROJECT}:tier: must be one of "
                          f"{' | '.join(TIERS)}, i.e. 'dev', 'staging' or 'prod' (got {tier!r})")
    if target == "kind":
        refused = [k for k in (*AWS_CLUSTER_KEYS, *gates.aws_only_keys(), "aws:region") if config_given(raw, k)]
        if refused:
            keys = ", ".join(k if ":" in k else f"{PROJECT}:{k}" for k in refused)
            raise ConfigError(
                f"invalid configuration for stack '{stack}': {keys} only apply to the aws target, but "
                f"{PROJECT}:target is 'kind'; remove them from stacks/Pulumi.{stack}.yaml"
            )
    elif "kind" in raw:
        raise ConfigError(
            f"invalid configuration for stack '{stack}': {PROJECT}:kind only applies to the kind target "
            f"({PROJECT}:target is '{target}')"
        )
    existing = (raw.get("network") or {}).get("existing") if isinstance(raw.get("network"), dict) else None
    if existing is not None:
        clash = [k for k in ("vpcCidr", "azCount", "natStrategy", "interfaceEndpoints") if k in raw["network"]]
        if clash:
            raise ConfigError(
                f"invalid configuration for stack '{stack}': {PROJECT}:network.existing brings your own VPC, "
                f"so {', '.join(f'{PROJECT}:network.{k}' for k in clash)} cannot be set with it"
            )
    if "stack" in raw:
        raise ConfigError(f"invalid configuration for stack '{stack}': {PROJECT}:stack is not a config key "
                          "(the stack name comes from `pulumi stack select`)")
    if target == "aws" and "nodeGroups" not in raw and raw.get("autoscaling") in ("cluster-autoscaler", "none"):
        # without Karpenter, the default node groups include one without the system taint
        raw["nodeGroups"] = [*DEFAULT_NODE_GROUPS[tier], DEFAULT_WORKER_GROUPS[tier]]
    data = fill_tier_defaults(Settings, {**raw, "stack": stack, "target": target, "tier": tier}, tier)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, stack)) from None
    # sections of disabled add-ons (pools that would never be created must not look configured),
    # and add-ons that must never run together (Karpenter and Cluster Autoscaler)
    errors = gates.config_errors(settings, raw, PROJECT)
    # keys that have no effect where they are set (settings/applies.py)
    errors += applies.errors(settings, raw, PROJECT)
    if config_given(raw, "observability.logs.loki") and settings.logs_backend != "loki":
        errors.append(f"{PROJECT}:observability.logs.loki: only applies with {PROJECT}:observability.logs.backend "
                      f"'loki' (it is '{settings.logs_backend}'); remove it or set the backend to 'loki'")
    if settings.argocd.secret_values and "argocd" not in secret_keys:
        # a deploy key, a token or a client secret is a credential: never in clear in a stack file
        errors.append(f"{PROJECT}:argocd: holds credentials (credentials, oidc.clientSecret), so it must be set as "
                      f"secret config: pulumi config set --secret --path {PROJECT}:argocd.<key> <value>")
    if settings.observability.alerts.sns_topic_arn and "observability" not in secret_keys:
        errors.append(f"{PROJECT}:observability.alerts.snsTopicArn: must be a secret config value; set it with "
                      f"pulumi config set --secret --path {PROJECT}:observability.alerts.snsTopicArn <arn>")
    if settings.observability.alerts.slack_webhook_url and "observability" not in secret_keys:
        # a webhook URL is a credential: it must never sit in clear in a stack file
        errors.append(f"{PROJECT}:observability.alerts.slackWebhookUrl: must be a secret config value; set it with "
                      f"pulumi config set --secret --path {PROJECT}:observability.alerts.slackWebhookUrl <url>")
    if errors:
        raise ConfigError(f"invalid configuration for stack '{stack}' (stacks/Pulumi.{stack}.yaml):\n"
                          + "\n".join(f"  {e}" for e in errors))
    return settings


def _own_keys(raw: dict[str, Any], stack: str) -> dict[str, Any]:
    """``raw`` without other packages' keys (``kubernetes:context``...), refusing a key whose namespace looks like
    a misspelling of the project's: its section would silently disappear."""
    own: dict[str, Any] = {}
    for key, value in raw.items():
        namespace = key.split(":", 1)[0] if ":" in key else None
        if namespace is None or key == "aws:region":
            own[key] = value
        elif namespace == PROJECT:
            own[key.split(":", 1)[1]] = value
        elif did_you_mean(namespace, [PROJECT]):
            meant = f"{PROJECT}:{key.split(':', 1)[1]}"
            raise ConfigError(f"invalid configuration for stack '{stack}' (stacks/Pulumi.{stack}.yaml):\n  {key}: "
                              f"unknown config namespace '{namespace}'; did you mean '{meant}'? (the platform reads "
                              "only eks-platform:* keys and aws:region)")
    return own


def load_settings() -> Settings:
    """Read this stack's configuration from Pulumi and validate it."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = _raw_config()
    secret = frozenset(k for k in raw if runtime_config.is_config_secret(f"{PROJECT}:{k}"))
    return parse_settings(raw, pulumi.get_stack(), secret)


def _raw_config() -> dict[str, Any]:
    """Every ``eks-platform:*`` key of the stack (prefix removed) and ``aws:region``, JSON-decoded.

    All keys are read, not just known ones, so a misspelt key is reported instead of ignored; so are keys of
    a namespace that looks like a misspelling of the project's (``parse_settings`` refuses them).
    """
    from pulumi.runtime import config as runtime_config

    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for key, value in merged.items():
        if key.startswith(f"{PROJECT}:"):
            raw[key.split(":", 1)[1]] = decode_config_value(value)
        elif key == "aws:region" or did_you_mean(key.split(":", 1)[0], [PROJECT]):
            raw[key] = value
    return raw


def decode_config_value(value: Any) -> Any:
    """A config value as Pulumi hands it to a program (a string; structured config as JSON text), decoded the
    way the program reads it: JSON where it parses, else the string itself."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
