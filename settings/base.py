"""Building blocks of the settings models: the base model, tier defaults and the config error.

Nothing here reads configuration; ``settings/__init__.py`` is the only module that does.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal, get_origin

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

PROJECT = "eks-platform"
Tier = Literal["dev", "staging", "prod"]
TIERS: tuple[str, ...] = ("dev", "staging", "prod")


# What a stack file's `secure:` value reads as where it can't be decrypted (the offline plan and the test
# harness): set, its plaintext unknown. Pulumi's CLI blinds a secret the same way. A secret's shape is
# checked where its plaintext is there: `pulumi preview`/`up`, or `make plan CONFIG_JSON=...`.
OPAQUE_SECRET = "[secret]"


def is_opaque(value: Any) -> bool:
    """Whether ``value`` is a secret the offline tools can't read (see OPAQUE_SECRET)."""
    return value == OPAQUE_SECRET


class ConfigError(pulumi.RunError):
    """Bad stack configuration. A ``RunError`` so Pulumi prints the message, not a traceback."""


class Model(BaseModel):
    """Frozen, strict-about-keys, camelCase-aliased base for every settings section."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        # no coercion: `true` is not 1, 3 is not "3" (YAML and `pulumi config set --path` keep types)
        strict=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _keys_and_empty_strings(cls, data: Any) -> Any:
        """Before pydantic's own checks, for every section: a misspelt key names the key it looks like,
        and a key given as an empty string is refused (leave it out for its default)."""
        if not isinstance(data, dict):
            return data
        known = cls.model_fields
        aliases = {f.alias or name: name for name, f in known.items()}
        for key, value in data.items():
            name = aliases.get(key, key if key in known else None)
            if name is None:
                close = did_you_mean(str(key), sorted(aliases))
                raise invalid(str(key), "unknown key{hint} (docs/configuration.md lists every key)",
                              hint=f"; did you mean '{close}'?" if close else "")
            if get_origin(known[name].annotation) is dict or known[name].annotation is dict:
                continue  # tags and labels: an empty value is a value
            if is_opaque(value) and not _takes_text(known[name].annotation):
                raise invalid(str(key), "is secret config, which the offline plan can't read, and a {kind} value "
                              "can't be checked without it: plan with its plaintext (make plan CONFIG_JSON=<the "
                              "output of pulumi config --show-secrets --json>) or keep this key in clear",
                              kind=_kind(known[name].annotation))
            if value == "":
                raise invalid(str(key), "must not be empty: give a value, or leave the key out for its default")
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item == "":
                        raise invalid(f"{key}[{i}]", "must not be empty: give a value, or remove the entry")
        return data


def _takes_text(annotation: Any) -> bool:
    """``str`` or ``str | None``: a field an opaque secret can stand in for."""
    args = set(getattr(annotation, "__args__", ()) or ())
    return annotation is str or (str in args and args <= {str, type(None)})


def _kind(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def tiered(*, dev: Any, staging: Any, prod: Any) -> Any:
    """A field whose default depends on the environment tier.

    The field is declared required; ``fill_tier_defaults`` puts the tier's value into the raw
    config before validation, so the default stays written next to its field.
    """
    return Field(json_schema_extra={"tiers": {"dev": dev, "staging": staging, "prod": prod}})


def fill_tier_defaults(model: type[BaseModel], data: Any, tier: str) -> Any:
    """Return ``data`` with every missing tiered field of ``model`` (recursively) filled in."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, field in model.model_fields.items():
        key = field.alias or name
        present = key in out or name in out
        extra = field.json_schema_extra
        if not present and isinstance(extra, dict) and "tiers" in extra:
            out[key] = _copy(extra["tiers"][tier])
            present = True
        sub = _model_of(field.annotation)
        if sub is None:
            continue
        if not present and field.default_factory is not None and _model_of(field.annotation, lists=False):
            out[key] = {}
            present = True
        if not present:
            continue
        value = out[key] if key in out else out[name]
        target = key if key in out else name
        if isinstance(value, list):
            out[target] = [fill_tier_defaults(sub, item, tier) for item in value]
        else:
            out[target] = fill_tier_defaults(sub, value, tier)
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _model_of(annotation: Any, lists: bool = True) -> type[BaseModel] | None:
    """The BaseModel inside ``M``, ``M | None`` or (if ``lists``) ``list[M]``, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if not lists and getattr(annotation, "__origin__", None) is list:
        return None
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg, lists)
        if found is not None:
            return found
    return None


def did_you_mean(word: str, options: list[str]) -> str | None:
    """The option ``word`` is most likely a misspelling of (difflib's ratio at least 0.75), or None."""
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return found[0] if found else None


def invalid(field: str, message: str, **ctx: Any) -> PydanticCustomError:
    """An error raised by a model validator that names the offending ``field`` (its config alias)."""
    return PydanticCustomError("config", message, {"field": field, **ctx})


def config_key(loc: tuple[Any, ...], namespace: str = PROJECT) -> str:
    """``('network', 'azCount')`` -> ``eks-platform:network.azCount``; list indexes as ``[0]``."""
    if not loc:
        return f"{namespace}:<root>"
    head, *rest = loc
    key = f"{namespace}:{head}" if ":" not in str(head) else str(head)
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def format_validation_error(exc: ValidationError, stack: str) -> str:
    """One line per problem: the full config key, what is wrong, the value given."""
    lines = [f"invalid configuration for stack '{stack}' (stacks/Pulumi.{stack}.yaml):"]
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not _is_internal_loc(p))
        ctx = err.get("ctx") or {}
        if "field" in ctx:
            loc = (*loc, ctx["field"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against docs/configuration.md)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        given = "" if err["type"] in ("missing", "config") else f" (got {_short(err.get('input'))})"
        lines.append(f"  {config_key(loc)}: {msg}{given}")
    return "\n".join(lines)


def _is_internal_loc(part: Any) -> bool:
    # pydantic inserts the tag of tagged unions and function-validator names into locations
    return isinstance(part, str) and (part.startswith("function-") or part in {"literal"})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

