"""GitOps: Argo CD and the root application of gitops/ (platform:gitops:*)."""
