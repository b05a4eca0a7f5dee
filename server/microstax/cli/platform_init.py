"""``microstax platform init``: write the dev configuration and keys without serving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import exit_codes
from .errors import CLIError
from .output import echo, emit_json


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("microstax")) / "platform"


def data_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False),
                        help="Keys, state and (by default) the config. Default: the user data dir.")(func)


@click.command("init")
@data_dir_option
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def init(data_dir: Path | None, config_path: Path | None, as_json: bool) -> None:
    """Create the dev config (with fresh, hashed secrets), signing keys, and a local CA with a
    loopback server certificate (<data dir>/tls; 'serve --tls' uses it, clients trust
    tls/ca.crt), where missing."""
    from microstax.platform import ConfigError, init_data_dir
    from microstax.platform.tls import dev_tls_files, ensure_dev_tls

    data_dir = data_dir or default_data_dir()
    try:
        made = init_data_dir(data_dir, config_path)
        made += ensure_dev_tls(data_dir)
    except ConfigError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.CONFIG, code="config") from exc
    ca_file = dev_tls_files(data_dir).ca_file
    if as_json:
        emit_json("platform-init", {"dataDir": str(data_dir), "created": made, "caFile": str(ca_file)})
        return
    for path in made:
        echo(f"created {path}")
    if not made:
        echo(f"{data_dir} is already initialised")
