"""``microstax platform serve``: run the reference identity layer (binds 127.0.0.1 by default)."""

from __future__ import annotations

from pathlib import Path

import click

from . import exit_codes
from .errors import CLIError
from .platform_init import data_dir_option, default_data_dir


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8411, show_default=True, type=click.IntRange(0, 65535),
              help="Port to bind; 0 picks a free one.")
@data_dir_option
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Config file (default: <data dir>/platform.toml; created on first start).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes sharing the socket, the keys and the state.")
@click.option("--issuer", help="Public base URL, when it differs from http://<host>:<port>.")
@click.option("--ready-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the issuer URL here once the server answers.")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False),
              help="Serve https with this certificate (PEM, chain after the leaf). Needs --tls-key.")
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False),
              help="The certificate's private key (PEM).")
@click.option("--tls", "dev_tls", is_flag=True,
              help="Serve https with the local CA's loopback certificate from 'platform init' "
                   "(<data dir>/tls; clients trust tls/ca.crt).")
def serve(host: str, port: int, data_dir: Path | None, config_path: Path | None, workers: int,
          issuer: str | None, ready_file: Path | None, tls_cert: Path | None, tls_key: Path | None,
          dev_tls: bool) -> None:
    """Serve discovery, JWKS, the token endpoint, device sign-in and the catalog.

    Prints 'platform ready: <issuer>' to stderr when it answers. Config and key changes are
    picked up without a restart (file watch, or SIGHUP). With a certificate (--tls-cert and
    --tls-key, [tls] in the config, or --tls) it serves https and the issuer URL is https;
    plain http is for loopback development.
    """
    from microstax.platform.errors import ConfigError, StateBackendError
    from microstax.platform.server import serve as run

    try:
        run(data_dir or default_data_dir(), host=host, port=port, config_path=config_path,
            workers=workers, ready_file=ready_file, issuer=issuer, tls_cert=tls_cert,
            tls_key=tls_key, tls=dev_tls)
    except ConfigError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.CONFIG, code="config") from exc
    except StateBackendError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.UNAVAILABLE, code="state") from exc
    except OSError as exc:
        raise CLIError(f"cannot serve on {host}:{port}: {exc.strerror}", exit_code=exit_codes.UNAVAILABLE,
                       code="bind", hint="pick another --port (0 chooses a free one)") from exc
