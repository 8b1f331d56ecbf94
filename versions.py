"""Every pinned version of what the platform installs: one diff bumps one thing.

Python packages are pinned in requirements*.txt; everything the program deploys is pinned here.
"""

from __future__ import annotations

from dataclasses import dataclass

# EKS versions in standard support on 2026-11-23 (1.34 leaves it on 2026-12-02), newest last.
# Source: ../shared/reference/addons.md section 7 (EKS release calendar).
KUBERNETES_VERSIONS: tuple[str, ...] = ("1.34", "1.35", "1.36")
DEFAULT_KUBERNETES_VERSION = "1.36"

# EKS managed add-on versions per Kubernetes minor (aws eks describe-addon-versions
# --kubernetes-version <v> --addon-name <name>). Bump one line to move one add-on.
EKS_ADDONS: dict[str, dict[str, str]] = {
    "1.34": {
        "vpc-cni": "TBD",
        "kube-proxy": "TBD",
        "coredns": "TBD",
        "eks-pod-identity-agent": "TBD",
        "aws-ebs-csi-driver": "TBD",
    },
    "1.35": {
        "vpc-cni": "TBD",
        "kube-proxy": "TBD",
        "coredns": "TBD",
        "eks-pod-identity-agent": "TBD",
        "aws-ebs-csi-driver": "TBD",
    },
    "1.36": {
        "vpc-cni": "TBD",
        "kube-proxy": "TBD",
        "coredns": "TBD",
        "eks-pod-identity-agent": "TBD",
        "aws-ebs-csi-driver": "TBD",
    },
}


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to one version: ``repo`` is an https repository or an ``oci://`` prefix."""

    repo: str
    name: str
    version: str


CHARTS: dict[str, Chart] = {
    # add-on charts are added here as their components land
    # kubernetes/autoscaler charts/cluster-autoscaler/Chart.yaml: 9.59.0, appVersion 1.35.0 (2026-07-21).
    "cluster-autoscaler": Chart("https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.59.0"),
    # kubernetes-sigs/metrics-server charts/metrics-server/Chart.yaml: 3.13.1, appVersion 0.8.1.
    "metrics-server": Chart("https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.13.1"),
}

# Cluster Autoscaler must match the Kubernetes minor it runs against (cluster-autoscaler/README.md,
# "Releases"); the chart's own image (v1.35.0 in 9.59.0) would be wrong on 1.34 and 1.36. Newest
# patch per minor from the kubernetes/autoscaler tags cluster-autoscaler-1.x.y (2026-07-22).
CLUSTER_AUTOSCALER_IMAGE_TAGS: dict[str, str] = {
    "1.34": "v1.34.5",
    "1.35": "v1.35.2",
    "1.36": "v1.36.1",
}
