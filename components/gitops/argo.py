"""Argo CD's API facts that both GitOps add-ons use: Argo CD (the install) and its bootstrap (the root
Application and the AppProjects). A helper module, not an add-on."""

from __future__ import annotations

import pulumi

API = "argoproj.io/v1alpha1"
"""Application and AppProject (argo-cd chart CRDs, ../shared/upstream/argo-cd)."""
IN_CLUSTER = "https://kubernetes.default.svc"
"""Argo CD's name for the cluster it runs in, as an Application destination."""
ROOT_PATH = "gitops/root"
"""The folder of this repository the root Application syncs."""
BOOTSTRAP_PROJECT, WORKLOADS_PROJECT = "platform-bootstrap", "platform-workloads"
"""The AppProjects: the root Application's and its workloads'."""
FINALIZER = "resources-finalizer.argocd.argoproj.io"
"""Deletes an Application's resources before the Application (cascading delete)."""
SYNC_RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}
"""Retry of a failed automated sync."""
CR_TIMEOUTS = pulumi.CustomTimeouts(create="5m", update="5m", delete="20m")
"""Argo CD's custom resources: an Application's delete waits for its cascading finalizer."""
