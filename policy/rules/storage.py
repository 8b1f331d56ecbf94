"""Storage: EBS StorageClasses encrypt what they provision."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.rules.base import (
    BP,
    MANDATORY,
    STORAGE_CLASS,
    Rule,
    get_in,
    truthy,
)


def check_storage_class_encrypted(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == STORAGE_CLASS and inputs.get("provisioner") == "ebs.csi.aws.com" \
            and not truthy(get_in(inputs, "parameters", "encrypted")):
        yield "the EBS StorageClass does not set parameters.encrypted: \"true\""


RULES: tuple[Rule, ...] = (
    Rule("storage-class-encrypted", "EBS StorageClasses encrypt the volumes they provision.",
         f"{BP}, Security: encryption at rest (EBS CSI parameters.encrypted); checkov CKV_AWS_189",
         "set parameters.encrypted: \"true\" on the StorageClass", MANDATORY,
         resource_check=check_storage_class_encrypted),
)
