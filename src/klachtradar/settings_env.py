"""``KLACHTRADAR_*`` environment variables as settings overrides, and what is wrong with them.

An operator configures a container through its environment, so an override must do
what it says or fail loudly, naming the variable:

* a variable is split on ``__`` and each part is matched against the settings model,
  at any depth: a model's field names case-insensitively (``PRIORITY__P1`` is
  ``[priority] p1``), an enum-keyed table's keys case-insensitively but spelled as the
  enum spells them (``TRIAGE__SLA_MINUTES__P1`` is ``sla_minutes.P1``), any other
  table's keys exactly as written (``TRIAGE__BRAND_SLA_MINUTES__Odido__P1``);
* a variable that ends on a list, a table or a section takes JSON
  (``KLACHTRADAR_PIPELINE__SUPPORTED_LANGUAGES='["nl", "en"]'``);
* a variable that matches nothing is reported by :func:`scan` as unknown, so the caller
  can refuse it with the closest valid name instead of ignoring a typo;
* a value that fails validation is traced back to its variable by :func:`origin`, and
  :meth:`EnvOverride.shown` hides the value of a secret.

This module walks any pydantic model and knows nothing of klachtradar's own sections;
:mod:`klachtradar.settings` wires it in.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from klachtradar.errors import ConfigError

PREFIX = "KLACHTRADAR_"
DELIMITER = "__"
SECRET_FIELDS = frozenset({"token", "users", "password", "api_key", "sasl_password"})
"""Fields whose values never appear in an error, besides every :class:`SecretStr`."""

_STRUCTURED = (list, dict, set, frozenset, tuple)


@dataclass(frozen=True)
class EnvOverride:
    """One environment variable resolved to a settings location."""

    variable: str
    loc: tuple[str, ...]
    """The settings path, spelled as the model spells it: ``("triage", "sla_minutes", "P1")``."""
    raw: str
    secret: bool
    structured: bool
    """The location holds a list, a table or a section, so the value is JSON."""

    def value(self) -> Any:
        """The value to validate: the raw string, or parsed JSON for structured settings."""
        if not self.structured:
            return self.raw
        try:
            return json.loads(self.raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{self.shown()}: {'.'.join(self.loc)} takes JSON "
                f'(e.g. ["nl", "en"] or {{"P1": 10}}): {exc.msg}'
            ) from None

    def shown(self) -> str:
        """``NAME='value'`` for an error message; a secret's value stays hidden."""
        return f"{self.variable}=<secret>" if self.secret else f"{self.variable}={self.raw!r}"


def scan(model: type[BaseModel], environ: Mapping[str, str]) -> tuple[list[EnvOverride], list[str]]:
    """The ``KLACHTRADAR_*`` variables that name a setting, and the ones that name none."""
    found: list[EnvOverride] = []
    unknown: list[str] = []
    for variable, raw in sorted(environ.items()):
        if not variable.upper().startswith(PREFIX):
            continue
        override = resolve(model, variable, raw)
        if override is None:
            unknown.append(variable)
        else:
            found.append(override)
    return found, unknown


def resolve(model: type[BaseModel], variable: str, raw: str) -> EnvOverride | None:
    """The settings location ``variable`` names, or None when no such setting exists."""
    parts = variable[len(PREFIX) :].split(DELIMITER)
    loc: list[str] = []
    annotation: Any = model
    secret = False
    for part in parts:
        node = _unwrap_optional(annotation)
        if _is_model(node):
            field = _field_named(node, part)
            if field is None:
                return None
            loc.append(field)
            annotation = node.model_fields[field].annotation
            secret = secret or field in SECRET_FIELDS or _mentions_secret(annotation)
        elif get_origin(node) is dict:
            key_type, annotation = get_args(node)
            key = _dict_key(part, key_type)
            if key is None:
                return None
            loc.append(key)
        else:
            return None
    return EnvOverride(variable, tuple(loc), raw, secret, _is_structured(annotation))


def nested(overrides: Iterable[EnvOverride]) -> dict[str, Any]:
    """The overrides as one nested dict, for pydantic-settings to merge over the file.

    Shorter locations go first, so ``KLACHTRADAR_KAFKA='{…}'`` and
    ``KLACHTRADAR_KAFKA__PARTITIONS=3`` combine instead of one hiding the other.
    """
    tree: dict[str, Any] = {}
    for override in sorted(overrides, key=lambda o: len(o.loc)):
        node = tree
        for key in override.loc[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[override.loc[-1]] = override.value()
    return tree


def origin(loc: Iterable[object], overrides: Iterable[EnvOverride]) -> EnvOverride | None:
    """The variable that set the value an error at ``loc`` is about, if one did."""
    error_loc = tuple(str(part) for part in loc)
    for override in overrides:
        if error_loc[: len(override.loc)] == override.loc:
            return override
    return None


def valid_names(model: type[BaseModel]) -> Iterator[str]:
    """Every variable name that names a setting (tables with free keys: the table itself)."""
    yield from _names_under(model, [])


def named_variables(settings: BaseModel) -> Iterator[str]:
    """The values of every ``*_env`` setting: variables a setting points at by name.

    ``[listen.webhook] api_key_env = "KLACHTRADAR_INGEST_API_KEY"`` makes that variable
    the webhook's secret, not a mistyped setting.
    """
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            yield from named_variables(value)
        elif isinstance(value, dict | list):  # tables of models: [alerts.routes.NAME]
            for item in value.values() if isinstance(value, dict) else value:
                if isinstance(item, BaseModel):
                    yield from named_variables(item)
        elif name.endswith("_env") and isinstance(value, str) and value:
            yield value


def _names_under(model: type[BaseModel], path: list[str]) -> Iterator[str]:
    for name, info in model.model_fields.items():
        here = [*path, name.upper()]
        yield PREFIX + DELIMITER.join(here)
        node = _unwrap_optional(info.annotation)
        if _is_model(node):
            yield from _names_under(node, here)
        elif get_origin(node) is dict:
            key_type = get_args(node)[0]
            if isinstance(key_type, type) and issubclass(key_type, Enum):
                for member in key_type:
                    yield PREFIX + DELIMITER.join([*here, str(member.value)])


def _field_named(model: type[BaseModel], part: str) -> str | None:
    wanted = part.casefold()
    for name in model.model_fields:
        if name.casefold() == wanted:
            return name
    return None


def _dict_key(part: str, key_type: Any) -> str | None:
    """``part`` as the table's key type spells it; None when an enum has no such member."""
    if isinstance(key_type, type) and issubclass(key_type, Enum):
        for member in key_type:
            if str(member.value).casefold() == part.casefold():
                return str(member.value)
        return None
    return part or None


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` is X for the walk; any other union is a leaf."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_structured(annotation: Any) -> bool:
    node = _unwrap_optional(annotation)
    return _is_model(node) or get_origin(node) in _STRUCTURED or node in _STRUCTURED


def _mentions_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_mentions_secret(a) for a in get_args(annotation))
