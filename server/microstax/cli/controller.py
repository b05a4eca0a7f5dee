"""``microstax identity controller``: keep federated token files fresh (docs/controller.md).

A long-running foreground process; it logs JSON lines to stderr and exits 0 on SIGTERM.
Exit codes: 0 stopped by a signal (or ``--check`` passed), 6 the config is wrong.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from . import exit_codes


@click.command("controller")
@click.option("--config", "config_path", required=True, envvar="MICROSTAX_CONTROLLER_CONFIG",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The controller config (TOML). Env: MICROSTAX_CONTROLLER_CONFIG.")
@click.option("--listen", metavar="HOST:PORT", default=None,
              help="Serve /healthz and /metrics here instead of the config's [controller] "
                   "listen (default 127.0.0.1:8412); '' serves nothing.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="Least severe level logged.")
@click.option("--check", is_flag=True,
              help="Validate the config, print the entries it defines as JSON, and exit.")
def controller(config_path: Path, listen: str | None, log_level: str, check: bool) -> None:
    """Keep a fresh federated token on disk for each configured workload and target."""
    from ..controller import load_config, run_controller
    from ..controller.config import split_listen
    from ..controller.logs import LOGGER_NAME, log_event, setup
    from ..identity.exceptions import ConfigError

    logger = setup(log_level, sys.stderr)
    try:
        config = load_config(config_path)
        if listen:
            split_listen(listen)
    except (ConfigError, ValueError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else f"--listen: {exc}"
        log_event(logger, logging.ERROR, "config_invalid", message, file=str(config_path))
        raise click.exceptions.Exit(exit_codes.CONFIG) from None
    if check:
        entries = [{"workload": e.workload, "target": e.target, "issuer": e.issuer,
                    "output": str(e.output), "credential": e.credential_kind,
                    "renew": e.renew.kind if e.renew else None,
                    "caFile": str(e.ca_file) if e.ca_file else None} for e in config.entries]
        sys.stdout.write(json.dumps({"v": 1, "kind": "controllerConfig", "valid": True,
                                     "listen": config.listen, "entries": entries}, indent=2) + "\n")
        return
    override: str | bool = True if listen is None else listen
    try:
        code = run_controller(config_path, listen=override)
    except ConfigError as exc:  # the file changed between the check above and the start
        log_event(logging.getLogger(LOGGER_NAME), logging.ERROR, "config_invalid", exc.message)
        raise click.exceptions.Exit(exit_codes.CONFIG) from None
    raise click.exceptions.Exit(code)
