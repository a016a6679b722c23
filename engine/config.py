"""Dataclass configs with help strings: the CLI, presets and the GUI's forms all read them.

Every field is declared with :func:`param`, whose metadata (help, bounds, choices) the GUI turns
into a widget and a tooltip.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def param(default: Any, help: str, *, low: float | None = None, high: float | None = None,
          choices: tuple[str, ...] | None = None) -> Any:
    """A config field with a default, a one-line help string and optional bounds or choices."""
    meta = {"help": help, "low": low, "high": high, "choices": choices}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[T], values: dict[str, Any] | None) -> T:
    """Build ``cls`` from a plain dict, coercing types; unknown keys raise a clear ValueError."""
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{cls.__name__}.{name}")
    config = cls(**kwargs)
    check(config)
    return config


def check(config: Any) -> None:
    """Raise ValueError naming the field when a value is outside its declared bounds or choices."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        low, high, choices = f.metadata.get("low"), f.metadata.get("high"), f.metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"{f.name} must be one of {', '.join(choices)}, not {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if low is not None and value < low:
                raise ValueError(f"{f.name} must be at least {low}, not {value}")
            if high is not None and value > high:
                raise ValueError(f"{f.name} must be at most {high}, not {value}")


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{where}: expected true/false, got {value!r}")
        return bool(value)
    if hint in (int, float, str):
        try:
            return hint(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected {hint.__name__}, got {value!r}") from None
    if origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split()]
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True))
    return value
