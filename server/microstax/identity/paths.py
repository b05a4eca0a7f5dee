"""Where the user config and the per-user state live (platformdirs), with overrides.

``MICROSTAX_CONFIG`` names the config file; ``MICROSTAX_STATE_DIR`` the state directory
(locks, the last catalog, non-secret token metadata). Secrets are never under either.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "microstax"
CONFIG_ENV = "MICROSTAX_CONFIG"
STATE_ENV = "MICROSTAX_STATE_DIR"


def default_config_path() -> Path:
    import platformdirs  # only when no override names the path (kubectl's warm path often has one)

    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The config file to read and where that choice came from (flag, env, default)."""
    if explicit:
        return Path(explicit).expanduser(), "flag:--config"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser(), f"env:{CONFIG_ENV}"
    return default_config_path(), "default"


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        path = Path(explicit)
    elif os.environ.get(STATE_ENV):
        path = Path(os.environ[STATE_ENV]).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_state_dir(APP))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
