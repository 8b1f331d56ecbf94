"""The add-on contract: what every cluster add-on declares, and how the registry walks them.

An add-on is a class with class attributes and three class methods, and one line in
``components/core/registry.py``. It refers to the add-ons it comes after by class, never by string
(cdk-eks-blueprints' ``ClusterAddOn`` is the model, without its string-keyed dependencies).

- ``key``: the name suffix of its component, ``f"{stack}-{key}"``; it is part of every URN below
  it, so it is frozen once deployed.
- ``aws_only``: refused on kind (its ``config_keys`` are refused there too, naming the key).
- ``after``: add-ons whose component must exist first. The walk gives the add-on a handle whose
  readiness includes them, so its Kubernetes objects and pod-running resources wait for them (and
  are deleted before them); its IAM and other AWS-side resources do not wait.
- ``conflicts``: add-ons that must never be enabled together with it.
- ``config_keys``: top-level config sections that configure only this add-on; setting one while
  the add-on is disabled is a config error that says how to enable it (``enabled_by``, a config key and its value).
- ``enabled(settings)``, ``build(name, cluster, settings)``, ``exports(component)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pulumi
from pydantic.alias_generators import to_snake

if TYPE_CHECKING:
    from components.core.handle import ClusterHandle
    from settings import Settings


def config_value(settings: Settings, key: str) -> Any:
    """The validated value of a config key, nested keys dotted (``autoscaling``,
    ``traffic.loadBalancerController.enabled``)."""
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, to_snake(part))
    return value


def config_given(raw: Any, key: str) -> bool:
    """Whether the stack's raw config sets ``key`` (nested keys dotted)."""
    for part in key.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return False
        raw = raw[part]
    return True


class AddOn:
    key: ClassVar[str]
    aws_only: ClassVar[bool] = False
    after: ClassVar[tuple[type[AddOn], ...]] = ()
    conflicts: ClassVar[tuple[type[AddOn], ...]] = ()
    config_keys: ClassVar[tuple[str, ...]] = ()
    enabled_by: ClassVar[tuple[str, str] | None] = None
    """The config key and value that enable it, as a user sets them: ("autoscaling", "karpenter")."""

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """On its targets (EKS only when ``aws_only``) and, with ``enabled_by``, when that key has that value."""
        if cls.aws_only and not settings.is_aws:
            return False
        return cls.enabled_by is None or config_value(settings, cls.enabled_by[0]) == cls.enabled_by[1]

    @classmethod
    def build(cls, name: str, cluster: ClusterHandle, settings: Settings) -> pulumi.ComponentResource:
        raise NotImplementedError(f"{cls.__name__}.build")

    @classmethod
    def exports(cls, component: Any) -> dict[str, Any]:
        """Stack outputs this add-on adds (none by default)."""
        return {}
