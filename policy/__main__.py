"""Entry point of the eks-platform CrossGuard pack: `pulumi preview --policy-pack policy`.

The CLI runs this file (pulumi.policy's entry point, run_path of this folder) with the stack's name
and config already loaded into the Pulumi runtime; the project's modules (settings, versions, the
rules) are imported from the project root, one folder up. Nothing else may construct PolicyPack:
its constructor starts the analyzer's gRPC server and never returns.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policy.pack import PACK_NAME, build_policies  # noqa: E402
from settings.policy import load_policy_context  # noqa: E402

PolicyPack(name=PACK_NAME, policies=build_policies(load_policy_context()),
           enforcement_level=EnforcementLevel.ADVISORY)
