"""Every pinned version of what the platform installs: one diff bumps one thing.

Python packages are pinned in requirements*.txt; everything the program deploys is pinned here.
"""

from __future__ import annotations

from dataclasses import dataclass

# EKS versions and the day their standard support ends, newest last (EKS user guide,
# kubernetes-versions: 14 months of standard support per minor). With upgradePolicy STANDARD, EKS
# upgrades a control plane itself on that day, after which a stack still set to the old minor would
# ask for a downgrade: a version leaves this table before its day (1.34 ended on 2026-12-02), and
# `make plan` warns 90 days ahead (tools/plan.py SUPPORT_WARNING_DAYS).
STANDARD_SUPPORT_ENDS: dict[str, str] = {
    "1.35": "2027-03-27",
    "1.36": "2027-08-02",
}
KUBERNETES_VERSIONS: tuple[str, ...] = tuple(STANDARD_SUPPORT_ENDS)
# The newest minor every default component supports (SUPPORT below): Kyverno 1.19 (chart 3.9.0, the
# newest release, 2026-08-20) supports 1.33-1.35 only, and no Kyverno release supporting 1.36 was found
# (endoflife.date products/kyverno.md, from kyverno.io/docs/installation/#compatibility-matrix).
# tests/cluster/test_support.py checks this is newest_supported_default().
DEFAULT_KUBERNETES_VERSION = "1.35"

# kind and the node image of each Kubernetes minor the local stack runs (kind.version, same minors as
# the EKS stacks). kind v0.32.0's release notes list the images built for it; use them with their
# digests (kind may change the image format between releases). Also kind v0.32.0's default image.
KIND_MIN_VERSION = "0.32.0"
KIND_NODE_IMAGES: dict[str, str] = {
    "1.35": "kindest/node:v1.35.5@sha256:ce977ae6d65918d0b58a5f8b5e940429c2ce42fa3a5619ec2bbc60b949c0ac95",
    "1.36": "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
}

# EKS managed add-on versions per Kubernetes minor. Bump one line to move one add-on; check a new
# pin with `aws eks describe-addon-versions --kubernetes-version <v> --addon-name <name>`.
# Sources (2026-08 to 2026-10): EKS user guide managing-kube-proxy (kube-proxy follows the minor),
# public Terraform pins and a live 1.36 cluster inventory found with the search tool; vpc-cni
# needs >= v1.14 for enableNetworkPolicy (cni-network-policy-configure).
# aws-efs-csi-driver: v2.3.1-eksbuild.1 is pinned on EKS 1.35 by ministryofjustice/analytical-platform
# (eks_cluster_addon_versions) and is the 1.35 default in LocalStack's 2026.5 mirror of the catalog;
# Qovery's engine maps that one build to every minor from 1.29 to 1.34 (EFS builds follow driver
# releases, not Kubernetes minors). No public 1.36 pin was found: 1.36 carries the same build, to be
# confirmed with describe-addon-versions before a stack moves to 1.36.
EKS_ADDONS: dict[str, dict[str, str]] = {
    "1.35": {
        "vpc-cni": "v1.23.2-eksbuild.1",
        "kube-proxy": "v1.35.3-eksbuild.29",
        "coredns": "v1.14.6-eksbuild.4",
        "eks-pod-identity-agent": "v1.4.0-eksbuild.3",
        "aws-ebs-csi-driver": "v1.66.0-eksbuild.1",
        "aws-efs-csi-driver": "v2.3.1-eksbuild.1",
    },
    "1.36": {
        "vpc-cni": "v1.23.2-eksbuild.1",
        "kube-proxy": "v1.36.0-eksbuild.45",
        "coredns": "v1.14.7-eksbuild.11",
        "eks-pod-identity-agent": "v1.4.0-eksbuild.3",
        "aws-ebs-csi-driver": "v1.66.0-eksbuild.1",
        "aws-efs-csi-driver": "v2.3.1-eksbuild.1",
    },
}


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to one version: ``repo`` is an https repository or an ``oci://`` prefix."""

    repo: str
    name: str
    version: str


# Pins review (issue 20, 2026-12-06): no chart moved. Newer releases are known for argo-cd (10.4.1, below)
# and kube-prometheus-stack (per the issue), but a bump needs their archives in ../shared/upstream/charts/
# (tests render every chart at its pin) and `make upstream` needs network this session has not; Kyverno
# stays on chart 3.9.0 / v1.19 (the newest minor found, 2026-08-20; 1.19.x patches keep 1.33-1.35), so
# 1.36 waits for a Kyverno release that supports it (SUPPORT below).
CHARTS: dict[str, Chart] = {
    # add-on charts are added here as their components land
    # aws/karpenter-provider-aws charts/karpenter{,-crd}/Chart.yaml: 1.14.1 (2026-08-21); the two move together.
    "karpenter-crd": Chart("oci://public.ecr.aws/karpenter", "karpenter-crd", "1.14.1"),
    "karpenter": Chart("oci://public.ecr.aws/karpenter", "karpenter", "1.14.1"),
    # kubernetes/autoscaler charts/cluster-autoscaler/Chart.yaml: 9.59.0, appVersion 1.35.0 (2026-07-21).
    "cluster-autoscaler": Chart("https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.59.0"),
    # kubernetes-sigs/metrics-server charts/metrics-server/Chart.yaml: 3.13.1, appVersion 0.8.1.
    "metrics-server": Chart("https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.13.1"),
    # kubernetes-sigs/aws-load-balancer-controller helm/aws-load-balancer-controller/Chart.yaml @ v3.5.0
    # (2026-08-03): from v3.0.0 the chart version equals the app version; published to aws/eks-charts.
    "aws-load-balancer-controller": Chart("https://aws.github.io/eks-charts", "aws-load-balancer-controller", "3.5.0"),
    # Istio 1.31.1 (istio/istio releases; 1.31.0 on 2026-08-31). From 1.31 the charts are published at
    # blob.istio.io, no longer at istio-release.storage.googleapis.com (istio.io, 1.31 upgrade notes).
    # The three move together.
    "istio-base": Chart("https://blob.istio.io/istio-release/charts", "base", "1.31.1"),
    "istiod": Chart("https://blob.istio.io/istio-release/charts", "istiod", "1.31.1"),
    "istio-gateway": Chart("https://blob.istio.io/istio-release/charts", "gateway", "1.31.1"),
    "istio-cni": Chart("https://blob.istio.io/istio-release/charts", "cni", "1.31.1"),
    # prometheus-community/helm-charts charts/kube-prometheus-stack/Chart.yaml: 88.5.3 (2026-08-22),
    # prometheus-operator v0.93.1; Grafana comes from grafana-community/helm-charts since 2026-02.
    "kube-prometheus-stack": Chart("https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack",
                                   "88.5.3"),
    # aws/eks-charts stable/aws-for-fluent-bit/Chart.yaml: 0.2.0, appVersion 3.2.1 (2026-08-03): Fluent Bit with
    # EKS Pod Identity credentials (aws-for-fluent-bit >= 2.32.5).
    "aws-for-fluent-bit": Chart("https://aws.github.io/eks-charts", "aws-for-fluent-bit", "0.2.0"),
    # grafana-community/helm-charts charts/loki/Chart.yaml: 18.11.0, appVersion 3.7.6 (2026-08-20). The OSS chart
    # left grafana/helm-charts on 2026-03-16 (grafana/loki production/helm/loki/README.md).
    "loki": Chart("https://grafana-community.github.io/helm-charts", "loki", "18.11.0"),
    # argoproj/argo-helm charts/argo-cd/Chart.yaml: 10.1.1, Argo CD v3.4.4 (2026-07-02). Newer 10.x releases
    # exist (10.4.1, v3.5.2); the upstream data in upstream.lock.json is 10.1.1's, and a bump moves both.
    "argo-cd": Chart("https://argoproj.github.io/argo-helm", "argo-cd", "10.1.1"),
    # kyverno/kyverno charts/kyverno/Chart.yaml @ v1.19.0: chart 3.9.0, appVersion v1.19.0 (2026-08-20).
    "kyverno": Chart("https://kyverno.github.io/kyverno/", "kyverno", "3.9.0"),
    # prometheus-community/helm-charts charts/prometheus-blackbox-exporter/Chart.yaml: 11.17.2, blackbox_exporter
    # v0.28.0 (the chart at the same commit as kube-prometheus-stack 88.5.3).
    "prometheus-blackbox-exporter": Chart("https://prometheus-community.github.io/helm-charts",
                                          "prometheus-blackbox-exporter", "11.17.2"),
}

# The prometheus-operator CRDs, applied before the chart (which installs them with crds.enabled but
# never upgrades them, and whose largest CRDs exceed the client-side apply annotation limit; Pulumi
# applies server-side). kube-prometheus-stack's UPGRADE.md for 88.x applies these files at v0.93.0.
PROMETHEUS_OPERATOR_CRDS = tuple(
    "https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v0.93.0/example/"
    f"prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml"
    for plural in ("alertmanagerconfigs", "alertmanagers", "podmonitors", "probes", "prometheusagents",
                   "prometheuses", "prometheusrules", "scrapeconfigs", "servicemonitors", "thanosrulers"))

# The load balancer controller's CRDs (TargetGroupBinding, IngressClassParams, ...): Helm installs a
# chart's crds/ but never upgrades them, so upstream documents applying them on every upgrade
# (installation.md, "Upgrade"); the program applies this file, at the chart's tag, before the release.
LOAD_BALANCER_CONTROLLER_CRDS = ("https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/"
                                 "v3.5.0/helm/aws-load-balancer-controller/crds/crds.yaml")

# Cluster Autoscaler must match the Kubernetes minor it runs against (cluster-autoscaler/README.md,
# "Releases"); the chart's own image (v1.35.0 in 9.59.0) would be wrong on 1.36. Newest
# patch per minor from the kubernetes/autoscaler tags cluster-autoscaler-1.x.y (2026-07-22).
CLUSTER_AUTOSCALER_IMAGE_TAGS: dict[str, str] = {
    "1.35": "v1.35.2",
    "1.36": "v1.36.1",
}

# The EKS-optimized AL2023 AMI release prod's Karpenter nodes run (EC2NodeClass amiSelectorTerms alias);
# dev and staging follow al2023@latest. awslabs/amazon-eks-ami release v20260714 (CHANGELOG.md: AL2023
# standard x86_64 and arm64 AMIs for Kubernetes 1.32-1.36). Bumping it rolls every prod Karpenter node
# (drift), within the NodePools' disruption budgets.
KARPENTER_AMI_ALIAS = "al2023@v20260714"


# --- The support ledger: which Kubernetes minors each pinned component supports --------------------
# ``low``/``high`` are inclusive minors; ``None`` means the source states no bound on that side (a chart's
# ``kubeVersion: ">=1.25.0-0"`` has no upper bound). ``stated`` is False where no range was published for
# the pinned release and the range is inferred (the comment says from what): `make upgrade-plan` says so.
# Where a chart states a kubeVersion, tests/cluster/test_support.py reads it from the chart archive in
# ../shared/upstream/charts/ at the pin and checks ``low`` agrees.


@dataclass(frozen=True)
class Support:
    """The Kubernetes minors one pinned component supports, and where that comes from (with its date)."""

    pinned: str
    low: str | None
    high: str | None
    source: str
    date: str
    stated: bool = True
    kube_version: str | None = None
    """The chart's own ``kubeVersion`` at the pin (Chart.yaml), when it states one."""

    def supports(self, minor: str) -> bool:
        m = minor_tuple(minor)
        return (self.low is None or m >= minor_tuple(self.low)) and (self.high is None or m <= minor_tuple(self.high))

    def range(self) -> str:
        return f"{self.low or 'any'}-{self.high or 'any'}" if self.high else f">={self.low}" if self.low else "any"


def minor_tuple(minor: str) -> tuple[int, int]:
    major, mnr = minor.split(".")[:2]
    return int(major), int(mnr)


def _minors(table: dict[str, object]) -> tuple[str, str]:
    ordered = sorted(table, key=minor_tuple)
    return ordered[0], ordered[-1]


_KPS_DATE = "2026-08-22"
SUPPORT: dict[str, Support] = {
    # aws/karpenter-provider-aws docs/upgrading/compatibility.md: 1.36 needs >= 1.13 (reference addons.md §1,
    # 2026-08); endoflife.date/karpenter gives 1.29 as the oldest minor of the 1.x releases.
    "karpenter": Support(CHARTS["karpenter"].version, "1.29", "1.36",
                         "karpenter-provider-aws docs/upgrading/compatibility.md; endoflife.date/karpenter",
                         "2026-08-21"),
    "karpenter-crd": Support(CHARTS["karpenter-crd"].version, "1.29", "1.36",
                             "as karpenter (the two move together)", "2026-08-21"),
    # Cluster Autoscaler must match the minor (cluster-autoscaler/README.md "Releases"): the minors with an
    # image tag in CLUSTER_AUTOSCALER_IMAGE_TAGS.
    "cluster-autoscaler": Support(CHARTS["cluster-autoscaler"].version, *_minors(CLUSTER_AUTOSCALER_IMAGE_TAGS),
                                  "cluster-autoscaler README.md 'Releases' (one image per minor); "
                                  "CLUSTER_AUTOSCALER_IMAGE_TAGS", "2026-07-22"),
    # kubernetes-sigs/metrics-server README.md "Compatibility Matrix" (0.8.x: 1.31+, as recalled: the README at
    # v0.8.1 was not found with the search tool, so stated=False); the chart states no kubeVersion.
    "metrics-server": Support(CHARTS["metrics-server"].version, "1.31", None,
                              "metrics-server README.md, Compatibility Matrix (0.8.x: 1.31+; to confirm)", "2025-06",
                              stated=False),
    # The LBC's chart states no kubeVersion; its docs ask for 1.22+ (docs/deploy/installation.md). The newest
    # minor validated with v3.5.0 found: 1.36 (sighupio/module-aws v5.4.0 release notes, a third party).
    "aws-load-balancer-controller": Support(CHARTS["aws-load-balancer-controller"].version, "1.22", "1.36",
                                            "LBC docs/deploy/installation.md (1.22+); sighupio/module-aws v5.4.0 "
                                            "(v3.5.0 validated on 1.36)", "2026-08-03", stated=False),
    # Istio: no published range for 1.31 was found (reference addons.md §1); istio.io supportStatus.yml gives
    # 1.30 -> 1.32-1.36, and each minor supports four Kubernetes minors. Inferred: 1.33-1.36, to confirm on
    # istio.io/latest/docs/releases/supported-releases before moving the cluster.
    **{key: Support(CHARTS[key].version, "1.33", "1.36",
                    "istio.io data/compatibility/supportStatus.yml (1.30: 1.32-1.36; 1.31 inferred)", "2026-08-31",
                    stated=False)
       for key in ("istio-base", "istiod", "istio-gateway", "istio-cni")},
    "kube-prometheus-stack": Support(CHARTS["kube-prometheus-stack"].version, "1.25", None,
                                     "chart kubeVersion (Chart.yaml at the pin)", _KPS_DATE, kube_version=">=1.25.0-0"),
    # aws/eks-charts stable/aws-for-fluent-bit: no kubeVersion, no published matrix: no bound recorded.
    "aws-for-fluent-bit": Support(CHARTS["aws-for-fluent-bit"].version, None, None,
                                  "none published (Chart.yaml states no kubeVersion)", "2026-08-03", stated=False),
    "loki": Support(CHARTS["loki"].version, "1.25", None, "chart kubeVersion (Chart.yaml at the pin)", "2026-08-20",
                    kube_version=">=1.25.0-0"),
    "argo-cd": Support(CHARTS["argo-cd"].version, "1.25", None, "chart kubeVersion (Chart.yaml at the pin)",
                       "2026-07-02", kube_version=">=1.25.0-0"),
    # The chart states >=1.25, but Kyverno's own matrix is narrower and is what binds: 1.19 -> 1.33-1.35
    # (kyverno.io/docs/installation/#compatibility-matrix, via endoflife.date products/kyverno.md).
    "kyverno": Support(CHARTS["kyverno"].version, "1.33", "1.35",
                       "kyverno.io/docs/installation/#compatibility-matrix (1.19: 1.33-1.35); chart kubeVersion "
                       ">=1.25.0-0", "2026-08-20", kube_version=">=1.25.0-0"),
    "prometheus-blackbox-exporter": Support(CHARTS["prometheus-blackbox-exporter"].version, "1.21", None,
                                            "chart kubeVersion (Chart.yaml at the pin)", _KPS_DATE,
                                            kube_version=">=1.21.0-0"),
    # EKS managed add-ons: a build is pinned per minor in EKS_ADDONS (aws eks describe-addon-versions): the
    # minors it has a pin for.
    **{f"eks:{name}": Support(" / ".join(sorted({EKS_ADDONS[m][name] for m in EKS_ADDONS})), *_minors(EKS_ADDONS),
                              "EKS_ADDONS (a build pinned per minor; describe-addon-versions)", "2026-10")
       for name in EKS_ADDONS[KUBERNETES_VERSIONS[-1]]},
    # kind: the node images built for kind v0.32.0 (its release notes): the minors of KIND_NODE_IMAGES.
    "kind-node-image": Support(f"kind v{KIND_MIN_VERSION}", *_minors(KIND_NODE_IMAGES),
                               "kind v0.32.0 release notes (images built for it)", "2026-08"),
}
