"""The cluster: EKS (platform:eks:*), node groups and Fargate profiles (platform:compute:*), EKS
managed add-ons, and kind (platform:kind:*).
"""
