"""The VPC: subnets tagged for load balancers and Karpenter, NAT, endpoints, flow logs (type tokens
platform:network:*).
"""
