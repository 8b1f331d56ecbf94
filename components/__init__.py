"""Pulumi components of the platform, one per file; see components/README.md."""
