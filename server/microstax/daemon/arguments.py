"""Checking ``workspace/executeCommand`` arguments: one object (or none), typed members.

Every failure is a ``BAD_REQUEST`` user error that names the member, so a client bug is
reported as such and never reaches a lower layer as a wrong type.
"""

from __future__ import annotations

from typing import Any

from .errors import bad_request

_MAX_STR = 64 * 1024


def single_object(command: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The one argument object of a command: ``[]``, ``[null]`` and ``[{}]`` all mean ``{}``."""
    if len(args) == 0:
        return {}
    if len(args) > 1:
        raise bad_request(f"{command} takes one argument object, not {len(args)} arguments")
    arg = args[0]
    if arg is None:
        return {}
    if not isinstance(arg, dict):
        raise bad_request(f"{command} takes an argument object, not {_kind(arg)}")
    return arg


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def opt_str(obj: dict[str, Any], key: str, *, limit: int = _MAX_STR) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key!r} must be a string, not {_kind(value)}")
    if len(value) > limit:
        raise bad_request(f"{key!r} is too long ({len(value)} characters, at most {limit})")
    if "\x00" in value:
        raise bad_request(f"{key!r} must not contain NUL characters")
    return value or None


def req_str(obj: dict[str, Any], key: str, *, limit: int = _MAX_STR) -> str:
    value = opt_str(obj, key, limit=limit)
    if value is None:
        raise bad_request(f"{key!r} is required")
    return value


def opt_str_list(obj: dict[str, Any], key: str, *, limit: int = 64) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{key!r} must be an array of strings")
    if len(value) > limit:
        raise bad_request(f"{key!r} has too many entries ({len(value)}, at most {limit})")
    out: list[str] = []
    for v in value:
        for part in v.split():
            if len(part) > 256 or "\x00" in part:
                raise bad_request(f"{key!r} has an entry that is not a scope name")
            out.append(part)
    return tuple(out)
