"""The daemon against the real platform: a user config naming it, one environment per test
(so sessions in the shared desktop keyring never collide)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

_names = itertools.count()


def unique_env(prefix: str = "e2e") -> str:
    return f"{prefix}{os.getpid()}x{next(_names)}"


def write_config(path: Path, environments: dict[str, dict[str, object]], default: str | None = None) -> Path:
    """A user config (TOML) with ``environments`` (name → keys), the first one the default."""
    lines = [f'default_environment = "{default or next(iter(environments))}"', "",
             "[defaults]", "timeout = 10.0", ""]
    for name, keys in environments.items():
        lines.append(f"[environments.{name}]")
        for key, value in keys.items():
            if isinstance(value, list):
                lines.append(f"{key} = [{', '.join(repr(str(v)).replace(chr(39), chr(34)) for v in value)}]")
            elif isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            else:
                lines.append(f'{key} = "{value}"')
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
