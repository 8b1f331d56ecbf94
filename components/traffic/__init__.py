"""Traffic: the AWS Load Balancer Controller, Istio and the routes through its gateway (platform:traffic:*)."""
