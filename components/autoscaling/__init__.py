"""Node autoscaling: Karpenter or Cluster Autoscaler (platform:autoscaling:*)."""
