"""The add-on contract: what every cluster add-on declares; the registry walks them.

An add-on is a class with class attributes and three class methods, and one line in
``components/core/registry.py``, which also says which add-ons it comes after (by class, never by
string: cdk-eks-blueprints' ``ClusterAddOn`` is the model, without its string-keyed dependencies). An
add-on module never imports another add-on's module: ordering is the registry's, shared names are in
``components/core/names.py``.

- ``key``: the name suffix of its component, ``f"{stack}-{key}"``; it is part of every URN below
  it, so it is frozen once deployed.
- ``gate``: its entry in ``settings/gates.py``: when it is on (``enabled_by``), whether it is AWS-only
  (``aws_only``: refused on kind), the config sections that configure only it (``config_keys``) and
  what it conflicts with. Settings refuse what the gate forbids before any resource; the class exposes
  the gate's ``aws_only``, ``config_keys`` and ``enabled_by``.
- ``enabled(settings)``, ``build(name, cluster, settings)``, ``exports(component)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pulumi

from settings.gates import Gate

if TYPE_CHECKING:
    from components.core.handle import ClusterHandle
    from settings import Settings


class AddOn:
    key: ClassVar[str]
    gate: ClassVar[Gate]
    aws_only: ClassVar[bool] = False
    config_keys: ClassVar[tuple[str, ...]] = ()
    enabled_by: ClassVar[tuple[str, Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # the gate is the one declaration; the class reads it (set once, when the class is defined)
        super().__init_subclass__(**kwargs)
        gate = cls.__dict__.get("gate")
        if gate is not None:
            cls.aws_only, cls.config_keys, cls.enabled_by = gate.aws_only, gate.config_keys, gate.enabled_by

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """On its targets (EKS only when ``aws_only``) and, with ``enabled_by``, when that key has that value."""
        return cls.gate.on(settings)

    @classmethod
    def build(cls, name: str, cluster: ClusterHandle, settings: Settings) -> pulumi.ComponentResource:
        raise NotImplementedError(f"{cls.__name__}.build")

    @classmethod
    def exports(cls, component: Any) -> dict[str, Any]:
        """Stack outputs this add-on adds (none by default)."""
        return {}
