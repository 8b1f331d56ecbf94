"""The one offline harness: a recording Pulumi mock monitor, shared by the tests and the plan tool.

``run(fn, stack=...)`` evaluates ``fn`` (a component, or the whole program through
``run_stack``) under mocks and returns a ``Recording`` of every registered resource with its
parent, dependencies, provider and inputs. No cloud, no Docker, no Pulumi CLI.
"""

from harness.mocks import ACCOUNT_ID, PlatformMocks, Recorded, Recording, run
from harness.program import PROJECT_DIR, run_stack, stack_config, stack_names, stack_settings

__all__ = [
    "ACCOUNT_ID",
    "PROJECT_DIR",
    "PlatformMocks",
    "Recorded",
    "Recording",
    "run",
    "run_stack",
    "stack_config",
    "stack_names",
    "stack_settings",
]
