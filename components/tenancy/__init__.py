"""Tenancy: team namespaces, quotas, access and node pools (platform:tenancy:*)."""
