"""Settings of observability: Prometheus, Alertmanager and Grafana (kube-prometheus-stack), Grafana's
exposure, and the log backend (CloudWatch Logs or Loki through Fluent Bit), on EKS and kind.

Pure models: validated when built, no Pulumi calls. Tier defaults sit next to their fields.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from settings.base import Model, invalid, is_opaque, tiered
from settings.traffic import ExposureSettings
from settings.types import RetentionDays, between

# Prometheus durations (model.ParseDuration): units y, w, d, h, m, s, ms, largest first, like 15d or 1d12h.
PROM_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")


def _retention(value: str) -> str:
    if not value or not PROM_DURATION.match(value) or value.strip("0123456789") == "":
        raise ValueError("must be a Prometheus duration like 15d, 4w or 1d12h")
    return value


Receiver = Literal["none", "slack", "sns"]
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


class MetricsSettings(Model):
    """Prometheus and its operator (kube-prometheus-stack)."""

    enabled: bool = True
    """Install the monitoring stack (Prometheus, Alertmanager, Grafana)."""
    retention: Annotated[str, AfterValidator(_retention)] = tiered(dev="7d", staging="15d", prod="30d")
    """How long Prometheus keeps samples (a Prometheus duration: 15d, 4w)."""
    storage_gib: between(10, 16384) = tiered(dev=20, staging=50, prod=100)
    """Size of each Prometheus replica's volume in GiB (gp3 on EKS, kind's standard class locally)."""
    replicas: between(1, 3) = tiered(dev=1, staging=1, prod=2)
    """Prometheus replicas; with two or more they are kept in different zones."""


class AlertSettings(Model):
    """Where Alertmanager sends alerts."""

    receiver: Receiver = "none"
    """none (alerts are visible in Alertmanager only), slack or sns (EKS only)."""
    slack_webhook_url: str | None = None
    """Slack incoming-webhook URL: a secret config value only (pulumi config set --secret), never in clear."""
    slack_channel: str | None = None
    """Channel to post to (the webhook's default channel when unset)."""
    sns_topic_arn: str | None = None
    """SNS topic Alertmanager publishes to (receiver sns): a secret config value only. Alertmanager's role (Pod
    Identity or IRSA) may publish to this topic and nothing else."""

    @model_validator(mode="after")
    def _receiver(self) -> AlertSettings:
        if self.receiver == "slack" and not self.slack_webhook_url:
            raise invalid("slackWebhookUrl", "receiver is slack: set the webhook URL as a secret, with pulumi "
                          "config set --secret --path eks-platform:observability.alerts.slackWebhookUrl <url>")
        if self.receiver != "slack" and self.slack_webhook_url:
            raise invalid("slackWebhookUrl", "is set but receiver is {receiver}; set receiver: slack or remove it",
                          receiver=self.receiver)
        if self.receiver == "sns" and not self.sns_topic_arn:
            raise invalid("snsTopicArn", "receiver is sns: set the topic's ARN as a secret, with pulumi config set "
                          "--secret --path eks-platform:observability.alerts.snsTopicArn <arn>")
        if self.receiver != "sns" and self.sns_topic_arn:
            raise invalid("snsTopicArn", "is set but receiver is {receiver}; set receiver: sns or remove it",
                          receiver=self.receiver)
        # secret config: its shape is checked where its plaintext is there (not in the offline plan)
        if self.sns_topic_arn and not is_opaque(self.sns_topic_arn) and not SNS_TOPIC_ARN.match(self.sns_topic_arn):
            raise invalid("snsTopicArn", "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)")
        if self.slack_webhook_url and not is_opaque(self.slack_webhook_url) and \
                not self.slack_webhook_url.startswith("https://hooks.slack.com/"):
            raise invalid("slackWebhookUrl", "must be a Slack incoming-webhook URL (https://hooks.slack.com/...)")
        return self


LogBackend = Literal["cloudwatch", "loki", "none"]


class LokiBucketSettings(Model):
    """Loki's S3 bucket on EKS: created by the platform, or one of yours."""

    create: bool = True
    """Create the bucket (encrypted with its own KMS key, public access blocked, objects expire after the
    retention). false: use the bucket named by name, which you encrypt and expire yourself."""
    name: str | None = None
    """Name of an existing bucket (with create: false)."""

    @model_validator(mode="after")
    def _name(self) -> LokiBucketSettings:
        if not self.create and not self.name:
            raise invalid("name", "create is false, so Loki needs the name of an existing S3 bucket; set name, "
                          "or create: true")
        if self.create and self.name:
            raise invalid("name", "is only for an existing bucket (create: false); the platform names the bucket "
                          "it creates")
        if self.name and not S3_BUCKET.match(self.name):
            raise invalid("name", "must be an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')")
        return self


S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class LokiSettings(Model):
    """Loki in single-binary mode (logs backend loki)."""

    bucket: LokiBucketSettings | None = None
    """Chunk and index storage on EKS (S3); unset creates a bucket. Not on kind (filesystem storage there)."""
    storage_gib: between(5, 16384) = tiered(dev=10, staging=20, prod=50)
    """Loki's own volume in GiB: its write-ahead log and index cache on EKS, all of its data on kind."""


class LogsSettings(Model):
    """Container logs: Fluent Bit on every node, to CloudWatch Logs or Loki."""

    backend: LogBackend | None = None
    """cloudwatch (EKS; the default there), loki (EKS and kind) or none (the default on kind)."""
    # prod keeps a year, like its control-plane logs (the policy pack's log-group-retention-year)
    retention_days: RetentionDays = tiered(dev=7, staging=30, prod=365)
    """Days logs are kept: the CloudWatch log group's retention, or Loki's retention and its bucket's expiry."""
    loki: LokiSettings = Field(default_factory=LokiSettings)
    """Loki's storage (backend loki)."""


class ObservabilitySettings(Model):
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    """Prometheus, Alertmanager and Grafana."""
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    """Alertmanager's receiver."""
    grafana: ExposureSettings = Field(default_factory=ExposureSettings)
    """Grafana's exposure (it is always reachable by kubectl port-forward too)."""
    logs: LogsSettings = Field(default_factory=LogsSettings)
    """Container logs: the backend and its retention."""
