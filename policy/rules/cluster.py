"""The cluster and its nodes: the API endpoint, secrets encryption, control-plane logs, version and support,
access entries, IMDS, launch templates, SSH, node volumes, pinned EKS add-ons."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import versions
from policy.rules.base import (
    ADDON,
    ADVISORY,
    BP,
    CLUSTER,
    LAUNCH_TEMPLATE,
    MANDATORY,
    NODE_CLASS,
    NODE_GROUP,
    PROD_ONLY,
    Rule,
    as_list,
    as_map,
    get_in,
    strings,
    truthy,
)


def check_endpoint_private(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and get_in(inputs, "vpcConfig", "endpointPrivateAccess") is not True:
        yield "the API endpoint has no private access, so nodes reach it over the internet"


def check_endpoint_public_cidrs(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ != CLUSTER:
        return
    vpc = as_map(inputs.get("vpcConfig"))
    # EKS defaults endpointPublicAccess to true and publicAccessCidrs to 0.0.0.0/0 when unset
    if vpc.get("endpointPublicAccess", True) is False:
        return
    cidrs = strings(vpc.get("publicAccessCidrs"))
    if not cidrs or "0.0.0.0/0" in cidrs:
        yield "the API endpoint is public to 0.0.0.0/0"


def check_secrets_encryption(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ != CLUSTER:
        return
    configs = as_list(inputs.get("encryptionConfig")) or [inputs.get("encryptionConfig")]
    if not any("secrets" in strings(get_in(c, "resources")) and get_in(c, "provider", "keyArn") for c in configs):
        yield "Kubernetes secrets are not envelope-encrypted with a customer managed KMS key"


AUDIT_LOG_TYPES = ("api", "audit", "authenticator")


ALL_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


def _missing_logs(inputs: Mapping[str, Any], wanted: Sequence[str]) -> list[str]:
    enabled = set(strings(inputs.get("enabledClusterLogTypes")))
    return [t for t in wanted if t not in enabled]


def check_audit_logs(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and (missing := _missing_logs(inputs, AUDIT_LOG_TYPES)):
        yield f"control-plane log types {missing} are off"


def check_all_logs(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and (missing := _missing_logs(inputs, ALL_LOG_TYPES)):
        yield f"control-plane log types {missing} are off"


def check_supported_version(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ in (CLUSTER, NODE_GROUP) and (v := inputs.get("version")) is not None \
            and v not in versions.KUBERNETES_VERSIONS:
        yield f"Kubernetes {v} is not one of the supported {list(versions.KUBERNETES_VERSIONS)}"
    elif type_ == CLUSTER and inputs.get("version") is None:
        yield "the Kubernetes version is not pinned (EKS would pick its default)"


def check_standard_support(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    # unset means EXTENDED: EKS moves the cluster into extended support (6x the hourly price)
    if type_ == CLUSTER and get_in(inputs, "upgradePolicy", "supportType") != "STANDARD":
        yield "the upgrade policy is not STANDARD, so the cluster can drift into paid extended support"


def check_access_entries(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and (mode := get_in(inputs, "accessConfig", "authenticationMode")) != "API":
        yield f"authentication mode is {mode or 'CONFIG_MAP (the default)'}, so the aws-auth ConfigMap grants access"


def check_creator_admin(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and get_in(inputs, "accessConfig", "bootstrapClusterCreatorAdminPermissions") is not False:
        yield "whoever creates the cluster keeps an implicit cluster-admin access entry"


def check_deletion_protection(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == CLUSTER and inputs.get("deletionProtection") is not True:
        yield "deletion protection is off"


def _metadata_options(type_: str, inputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if type_ == LAUNCH_TEMPLATE:
        return as_map(inputs.get("metadataOptions"))
    if type_ == NODE_CLASS:
        # Karpenter's CRD defaults metadataOptions to required / hop limit 1 when it is omitted
        # (karpenter.k8s.aws_ec2nodeclasses.yaml, spec.metadataOptions default)
        spec = as_map(inputs.get("spec"))
        return as_map(spec.get("metadataOptions")) if "metadataOptions" in spec else \
            {"httpTokens": "required", "httpPutResponseHopLimit": 1}
    return None


def check_imdsv2(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    opts = _metadata_options(type_, inputs)
    if opts is not None and opts.get("httpTokens") != "required":
        yield f"metadataOptions.httpTokens is {opts.get('httpTokens')!r}, so IMDSv1 is reachable"


def check_hop_limit(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    opts = _metadata_options(type_, inputs)
    if opts is not None and opts.get("httpPutResponseHopLimit") not in (1, 1.0):
        yield (f"metadataOptions.httpPutResponseHopLimit is {opts.get('httpPutResponseHopLimit')!r}, so pods can "
               "reach the node's instance credentials")


def check_launch_template(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    template = get_in(inputs, "launchTemplate")
    if type_ == NODE_GROUP and not get_in(template, "id") and not get_in(template, "name"):
        yield "the node group has no launch template, so IMDS and volume settings are EKS's defaults"


def check_no_ssh(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == NODE_GROUP and inputs.get("remoteAccess"):
        yield "remoteAccess opens SSH to the nodes"
    if type_ == LAUNCH_TEMPLATE and inputs.get("keyName"):
        yield f"keyName {inputs.get('keyName')!r} puts an SSH key on the nodes"


def _ebs_volumes(type_: str, inputs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if type_ == LAUNCH_TEMPLATE:
        return [as_map(get_in(b, "ebs")) for b in as_list(inputs.get("blockDeviceMappings"))]
    if type_ == NODE_CLASS:
        return [as_map(get_in(b, "ebs")) for b in as_list(get_in(inputs, "spec", "blockDeviceMappings"))]
    return []


def check_node_volumes_encrypted(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    volumes = _ebs_volumes(type_, inputs)
    if type_ in (LAUNCH_TEMPLATE, NODE_CLASS) and not volumes:
        yield "no block device mapping sets encryption, so the root volume follows the account default"
    for ebs in volumes:
        if not truthy(ebs.get("encrypted")):
            yield "an EBS volume of the nodes is not encrypted"


def check_addon_pinned(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == ADDON and not inputs.get("addonVersion"):
        yield f"add-on {inputs.get('addonName')} has no addonVersion, so EKS picks one"


RULES: tuple[Rule, ...] = (
    Rule("eks-endpoint-private-access", "The cluster API endpoint has private access on.",
         f"{BP}, Security: cluster access (private endpoint); CIS EKS 5.4.1; checkov CKV_AWS_39",
         "set eks-platform:cluster.endpointPrivateAccess (the platform's default is private)", MANDATORY,
         resource_check=check_endpoint_private),
    Rule("eks-endpoint-no-public-cidr", "A public API endpoint is limited to listed CIDRs, never 0.0.0.0/0.",
         "CIS EKS 5.4.2; checkov CKV_AWS_38; Pulumi eks-cluster-endpoint-restrict-public-access",
         "keep the endpoint private or list your networks in eks-platform:cluster.publicAccessCidrs", PROD_ONLY,
         resource_check=check_endpoint_public_cidrs,
         reason="dev and staging may open the endpoint to reach it from a laptop; prod may not"),
    Rule("eks-secrets-encryption", "Secrets are envelope-encrypted with a customer managed KMS key.",
         "CIS EKS 5.3.1; EKS User Guide envelope-encryption; checkov CKV_AWS_58", "keep the cluster's "
         "encryptionConfig (resources [secrets], provider.keyArn of the cluster KMS key)", MANDATORY,
         resource_check=check_secrets_encryption),
    Rule("eks-audit-logs", "The audit-relevant control-plane logs (api, audit, authenticator) are on.",
         f"CIS EKS 2.1.1; {BP}, Detective controls (audit logs); Pulumi eks-cluster-audit-logging-enabled",
         "add api, audit and authenticator to eks-platform:cluster.logTypes", MANDATORY,
         resource_check=check_audit_logs),
    Rule("eks-all-control-plane-logs", "All five control-plane log types are on.",
         "checkov CKV_AWS_37 (all log types)", "set eks-platform:cluster.logTypes to all five types", PROD_ONLY,
         resource_check=check_all_logs,
         reason="controllerManager and scheduler logs cost ingestion and serve debugging, not audit, below prod"),
    Rule("eks-supported-version", "The cluster and node groups run a Kubernetes version in versions.py.",
         "EKS User Guide kubernetes-versions (standard support); checkov CKV_AWS_339",
         f"set eks-platform:cluster.version to one of {list(versions.KUBERNETES_VERSIONS)}", MANDATORY,
         resource_check=check_supported_version),
    Rule("eks-standard-support", "The upgrade policy is STANDARD (no silent extended support).",
         "EKS User Guide kubernetes-versions-extended (upgradePolicy.supportType); AWS extended support pricing",
         "set the cluster's upgradePolicy.supportType to STANDARD (the platform's default)", MANDATORY,
         resource_check=check_standard_support),
    Rule("eks-access-entries", "Authentication mode is API: access entries, no aws-auth ConfigMap.",
         f"{BP}, Identity and access management (access entries); CIS EKS 4.1; "
         "Pulumi eks-cluster-access-manager-enabled", "set accessConfig.authenticationMode to API", MANDATORY,
         resource_check=check_access_entries),
    Rule("eks-no-creator-admin", "The cluster creator does not keep an implicit cluster-admin entry.",
         "CIS EKS 4.1.1 (minimize cluster-admin); Pulumi k8s-cluster-admin-role-binding-minimized",
         "set accessConfig.bootstrapClusterCreatorAdminPermissions false and grant admins access entries",
         ADVISORY, resource_check=check_creator_admin,
         reason="the deploying role needs cluster access for the Kubernetes objects until admins are access "
                "entries of their own"),
    Rule("eks-deletion-protection", "Deletion protection is on.", "EKS User Guide deletion-protection; "
         "eksctl example 46-deletion-protection-example.yaml", "set eks-platform:cluster.deletionProtection true",
         PROD_ONLY, resource_check=check_deletion_protection,
         reason="dev and staging clusters are torn down and rebuilt"),
    Rule("eks-addon-pinned", "Every EKS add-on is pinned to a version.", "EKS User Guide managing add-ons "
         "(addonVersion); versions.py pins one version per add-on and minor",
         "pin the add-on in versions.EKS_ADDONS", MANDATORY, resource_check=check_addon_pinned),
    Rule("imdsv2-required", "Every launch template and EC2NodeClass requires IMDSv2 tokens.",
         f"{BP}, Security: restrict access to the instance profile; checkov CKV_AWS_79",
         "set metadataOptions.httpTokens: required", MANDATORY, resource_check=check_imdsv2),
    Rule("imds-hop-limit-1", "Every launch template and EC2NodeClass has an IMDS hop limit of 1.",
         f"{BP}, Security: restrict access to the instance profile; checkov CKV_AWS_341",
         "set metadataOptions.httpPutResponseHopLimit: 1 (pods use Pod Identity instead)", MANDATORY,
         resource_check=check_hop_limit),
    Rule("node-group-launch-template", "Every managed node group uses the platform's launch template.",
         "CIS EKS 3.1; Pulumi eks-node-group-launch-template-required",
         "create the node group through components/cluster/node_groups.py", MANDATORY,
         resource_check=check_launch_template),
    Rule("no-ssh", "No SSH: no node group remoteAccess, no key pair on launch templates.",
         f"{BP}, Security: use SSM instead of SSH; checkov CKV_AWS_100",
         "remove remoteAccess / keyName and use SSM Session Manager", MANDATORY, resource_check=check_no_ssh),
    Rule("node-volumes-encrypted", "Node EBS volumes (launch templates, EC2NodeClasses) are encrypted.",
         f"{BP}, Security: encryption at rest; checkov CKV_AWS_3 / CKV_AWS_8", "set ebs.encrypted on every "
         "block device mapping", MANDATORY, resource_check=check_node_volumes_encrypted),
)
