"""Guided edits of the user config file: add a platform environment without hand-editing TOML.

The file the user wrote stays as it is (comments, order, spacing): an edit only appends a new
``[environments.NAME]`` table and, when asked and none is set, puts ``default_environment`` on
the first line. The result is parsed by ``config.parse`` before anything is written, so an edit
never leaves a file the CLI and the daemon cannot read.

    add_platform(path, "dev", "http://127.0.0.1:8411", make_default=True) -> PlatformEdit
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import tomli_w

from ..jose import loads_toml, read_limited, write_private_file
from . import config as config_mod
from .exceptions import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_MAX_FILE = 1 << 20  # a user config file is small; refuse to rewrite anything larger


@dataclass(frozen=True, slots=True)
class PlatformEdit:
    """What an edit did: ``changed`` False when the environment already pointed there."""

    path: Path
    environment: str
    platform: str
    changed: bool
    default: bool


def check_platform_url(url: str) -> str:
    """The platform's base URL, or ``ConfigError`` saying what is wrong with it."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{url!r} is not an http(s) URL", hint="e.g. http://127.0.0.1:8411")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{url!r}: a platform URL has no query, fragment or credentials")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"{url!r}: plain http is only allowed on loopback; use https")
    return url


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(f"{name!r} is not an environment name",
                          hint="letters, digits, '-' and '_', starting with a letter or digit")
    return name


def edited_text(text: str, name: str, platform: str, *, make_default: bool) -> tuple[str, bool, bool]:
    """(new text, changed, default set) for adding ``[environments.NAME] platform = URL`` to
    ``text``. Raises ``ConfigError`` when the environment exists and points elsewhere, or when
    the file is not valid TOML."""
    name, platform = check_name(name), check_platform_url(platform)
    try:
        doc = loads_toml(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file is not valid TOML: {exc}", hint="fix it first") from exc
    envs = doc.get("environments", {})
    has_default = "default_environment" in doc
    if isinstance(envs, dict) and name in envs:
        existing = envs[name]
        current = existing.get("platform") if isinstance(existing, dict) else None
        if isinstance(current, str) and current.rstrip("/") == platform:
            return text, False, False
        raise ConfigError(f"environment {name!r} is already configured (platform {current!r})",
                          hint="choose another name, or edit it in the config file")
    table = tomli_w.dumps({"environments": {name: {"platform": platform}}})
    out = text
    if out and not out.endswith("\n"):
        out += "\n"
    out += ("\n" if out else "") + table
    set_default = make_default and not has_default
    if set_default:
        out = tomli_w.dumps({"default_environment": name}) + "\n" + out
    return out, True, set_default


def add_platform(path: str | Path | None, name: str, platform: str, *, make_default: bool = False) -> PlatformEdit:
    """Add the environment to the config file at ``path`` (None: the CLI's default file)."""
    target, _ = config_mod.config_path(path)
    try:
        raw = read_limited(target, max_bytes=_MAX_FILE)
    except FileNotFoundError:
        raw = b""
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {target}: {exc.strerror}") from exc
    if len(raw) > _MAX_FILE:
        raise ConfigError(f"the config file {target} is over {_MAX_FILE} bytes; edit it by hand")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the config file {target} is not UTF-8") from exc
    new, changed, set_default = edited_text(text, name, platform, make_default=make_default)
    if changed:
        config_mod.parse(loads_toml(new), target)  # the CLI and the daemon must read it
        write_private_file(target, new.encode("utf-8"))
    return PlatformEdit(path=target, environment=name, platform=check_platform_url(platform),
                        changed=changed, default=set_default)
