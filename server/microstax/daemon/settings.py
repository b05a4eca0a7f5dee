"""The daemon's settings: ``initializationOptions`` and ``workspace/didChangeConfiguration``.

Unknown keys are ignored; a bad value is reported (the caller shows it as a warning) and the
previous value is kept. The user config file shared with the CLI sits underneath: ``configFile``
only says where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .logs import LEVELS

SECTION = "microstax"


@dataclass(frozen=True, slots=True)
class Settings:
    config_file: str | None = None
    environment: str | None = None
    log_level: str = "info"
    diagnostics: bool = True
    hover: bool = True


def _opt_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 4096 or "\x00" in value:
        raise ValueError("must be a string")
    return value


def _level(value: Any) -> str:
    if isinstance(value, str):
        name = value.strip().lower()
        name = {"warning": "warn", "trace": "debug", "verbose": "debug"}.get(name, name)
        if name in LEVELS:
            return name
    raise ValueError(f"must be one of {', '.join(LEVELS)}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


_FIELDS = {
    "configFile": ("config_file", _opt_str),
    "environment": ("environment", _opt_str),
    "logLevel": ("log_level", _level),
    "diagnostics": ("diagnostics", _bool),
    "hover": ("hover", _bool),
}


def section_of(settings: Any) -> dict[str, Any] | None:
    """The ``microstax`` object of a ``didChangeConfiguration`` payload (``{microstax: {…}}``),
    or the payload itself when it is already that object; None when there is none."""
    if not isinstance(settings, dict):
        return None
    inner = settings.get(SECTION)
    if isinstance(inner, dict):
        return inner
    if any(key in settings for key in _FIELDS):
        return settings
    return None


def merge(current: Settings, raw: Any) -> tuple[Settings, list[str]]:
    """Apply the recognised keys of ``raw`` to ``current``; return the result and problems."""
    if raw is None:
        return current, []
    if not isinstance(raw, dict):
        return current, [f"MicroStax settings must be an object, not {type(raw).__name__}; kept the previous settings"]
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, (attr, convert) in _FIELDS.items():
        if key not in raw:
            continue
        try:
            changes[attr] = convert(raw[key])
        except ValueError as exc:
            problems.append(f"MicroStax setting {key!r} {exc}; kept {getattr(current, attr)!r}")
    return replace(current, **changes), problems
