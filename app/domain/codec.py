"""How a payload is written to and read from the log: its fields as JSON-ready values, by type, and
back again, strictly (a field missing or of the wrong type is an UnreadablePayload)."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, field, fields, is_dataclass
from datetime import datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

SCHEMA_KEY = "schema"

T = TypeVar("T")


class UnreadablePayload(ValueError):
    """A stored payload that fits no known event (an unknown kind, or a field missing or unfit)."""


def omitted(default: Any) -> Any:
    """A field left out of the stored payload while it has its default (as it always was)."""
    return field(default=default, metadata={"omit_default": True})


def wire(name: str, default: Any = MISSING) -> Any:
    """A field stored under another name (`from` is a Python keyword). The required fields after a
    `from_` are declared the same way, under their own name, so a type checker can order them."""
    if default is MISSING:
        return field(metadata={"wire": name})
    return field(default=default, metadata={"wire": name})


# ---------------------------------------------------------------- encoding by type


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return encode_fields(value)
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} in an event")


def encode_fields(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("omit_default") and value == f.default:
            continue
        out[f.metadata.get("wire", f.name)] = encode(value)
    return out


def decode(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return decode(options[0], value, where)
    if hint is datetime:
        if isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise UnreadablePayload(f"{where} is not a time")
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise UnreadablePayload(f"{where} is not a time") from exc
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UnreadablePayload(f"{where} is not a list")
        item = get_args(hint)[0]
        return tuple(decode(item, v, f"{where}[]") for v in value)
    if origin in (Mapping, dict, typing.Mapping):
        if not isinstance(value, Mapping):
            raise UnreadablePayload(f"{where} is not a mapping")
        item = get_args(hint)[1] if get_args(hint) else Any
        return {str(k): decode(item, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise UnreadablePayload(f"{where} is not a mapping")
        return decode_fields(hint, value, where)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UnreadablePayload(f"{where} is not a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnreadablePayload(f"{where} is not a number")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise UnreadablePayload(f"{where} is not true or false")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise UnreadablePayload(f"{where} is not a text")
        return value
    return value  # pragma: no cover - every field type is handled above


def decode_fields(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        key = f.metadata.get("wire", f.name)
        if key in data:
            values[f.name] = decode(hints[f.name], data[key], f"{where}.{key}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise UnreadablePayload(f"{where} has no {key}")
    return cls(**values)
