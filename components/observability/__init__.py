"""Observability: the prometheus-operator CRDs, kube-prometheus-stack, alert rules, dashboards, logs,
metrics-server, webhook certificate probes (platform:observability:*).
"""
