"""In-cluster policy: Kyverno and the policies it enforces (platform:policy:*)."""
