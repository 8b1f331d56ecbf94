"""The EBS CSI driver (EKS add-on) with its Pod Identity role, and a default encrypted gp3 StorageClass.

Comes after compute: the controller needs nodes. EKS >= 1.30 has no default StorageClass, and
Prometheus, Grafana and Alertmanager volumes need one (EKS user guide, kubernetes-versions-standard: from
1.30 gp2 is no longer annotated as the default class).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

import versions
from components.core.addon import AddOn
from components.core.common import PlatformComponent, child_opts, managed_policy_arn, to_json, workload_identity
from components.core.handle import ClusterHandle
from components.core.names import BACKUP_TAG_KEY, EBS_STORAGE_CLASS
from settings import gates

TYPE = "platform:storage:EbsCsiDriver"
NAMESPACE, SERVICE_ACCOUNT = "kube-system", "ebs-csi-controller-sa"
STORAGE_CLASS = EBS_STORAGE_CLASS
# Every volume the driver makes carries BACKUP_TAG_KEY, valued with the cluster's name; AWS Backup selects
# by it (components/storage/ebs_backup.py). Tagged whether or not backups are on, so turning them on later
# covers the volumes made before.


@dataclass(frozen=True, kw_only=True)
class EbsCsiArgs:
    cluster: ClusterHandle
    """The EKS cluster (its identity mode decides Pod Identity or IRSA)."""

    def __post_init__(self) -> None:
        if self.cluster.aws is None:
            raise ValueError("the EBS CSI driver is AWS-only; the cluster handle has no AWS facts")


class EbsCsiDriver(PlatformComponent):
    addon: aws.eks.Addon
    storage_class: k8s.storage.v1.StorageClass

    def __init__(self, name: str, args: EbsCsiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, opts)
        cluster = args.cluster
        facts = cluster.aws
        assert facts is not None  # checked by the args
        identity = workload_identity(
            name, self, cluster_name=cluster.name, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
            mode=facts.identity, oidc=facts.oidc, tags=facts.tags,
            policy_arns={"policy": managed_policy_arn(facts.partition, "service-role/AmazonEBSCSIDriverPolicy")})
        # IRSA hands the role to the add-on; Pod Identity goes through the association.
        role_arn = identity.role.arn if identity.association is None else None
        self.addon = aws.eks.Addon(
            f"{name}-addon", cluster_name=cluster.name, addon_name="aws-ebs-csi-driver",
            addon_version=versions.EKS_ADDONS[cluster.version]["aws-ebs-csi-driver"],
            service_account_role_arn=role_arn,
            # every volume the driver makes carries the backup tag (components/storage/ebs_backup.py selects by it): the
            # add-on's controller.extraVolumeTags (its configuration schema: aws/amazon-vpc-cni-k8s#2272 quotes
            # it; cloudbees-oss/terraform-aws-cloudbees-ci-eks-addon#33 uses it), an in-place UpdateAddon. A
            # StorageClass tagSpecification parameter would do it too, but changing a StorageClass's parameters
            # replaces the class.
            configuration_values=to_json({"controller": {"extraVolumeTags": {
                BACKUP_TAG_KEY: cluster.physical_name}}}),
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE", tags=facts.tags,
            # the controller needs nodes to run on, and its Pod Identity association when it starts
            opts=child_opts(self, cluster.pods_opts(pulumi.ResourceOptions(
                depends_on=identity.ready,
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m")))))
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata={"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=child_opts(self, cluster.k8s_opts()))
        self.register_outputs({"addon_version": self.addon.addon_version, "role_arn": identity.role.arn,
                               "storage_class": STORAGE_CLASS})


class EbsCsiAddOn(AddOn):
    """EBS volumes for PersistentVolumeClaims, and the default gp3 StorageClass (EKS only)."""

    key = "ebs-csi"
    gate = gates.EBS_CSI

    @classmethod
    def build(cls, name, cluster, settings):
        return EbsCsiDriver(name, EbsCsiArgs(cluster=cluster))
