"""Logs: every CloudWatch log group encrypted, with a retention, a year of it in prod."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.rules.base import (
    LOG_GROUP,
    MANDATORY,
    PROD_ONLY,
    Rule,
)


def check_log_group_encrypted(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == LOG_GROUP and not inputs.get("kmsKeyId"):
        yield "the log group is not encrypted with a KMS key"


def check_log_group_retention(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    if type_ == LOG_GROUP and not inputs.get("retentionInDays"):
        yield "the log group keeps logs forever (no retentionInDays)"


def check_log_group_retention_year(type_: str, inputs: Mapping[str, Any]) -> Iterator[str]:
    days = inputs.get("retentionInDays") if type_ == LOG_GROUP else None
    if type_ == LOG_GROUP and days and days < 365:
        yield f"the log group keeps logs {days:g} days, less than a year"


RULES: tuple[Rule, ...] = (
    Rule("log-group-encrypted", "Every CloudWatch log group is KMS-encrypted.", "checkov CKV_AWS_158",
         "give the log group a kms_key_id whose key policy lets logs.<region>.amazonaws.com use it", MANDATORY,
         resource_check=check_log_group_encrypted),
    Rule("log-group-retention", "Every CloudWatch log group has a retention period.", "checkov CKV_AWS_66",
         "set retention_in_days (eks-platform:cluster.logRetentionDays for control-plane logs)", MANDATORY,
         resource_check=check_log_group_retention),
    Rule("log-group-retention-year", "Log groups keep a year of logs.", "checkov CKV_AWS_338",
         "set retention to 365 days or more", PROD_ONLY, resource_check=check_log_group_retention_year,
         reason="short retention keeps dev and staging storage cheap"),
)
