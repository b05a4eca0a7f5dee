"""``microstax verifier serve`` and ``microstax verifier kube-webhook-config``.

``serve`` runs the receivers' verifier service (docs/receivers.md): Envoy ``ext_authz``,
nginx ``auth_request`` and, with ``[kubernetes]`` in the config, the API server's TokenReview
webhook over TLS. ``kube-webhook-config`` prints the kubeconfig-format file that
``kube-apiserver --authentication-token-webhook-config-file`` reads.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import exit_codes
from .errors import CLIError


@click.group("verifier")
def verifier() -> None:
    """Check MicroStax tokens in front of services (Envoy, nginx, Kubernetes API server)."""


@verifier.command("serve")
@click.option("--config", "config_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The verifier's TOML config (issuers, routes, headers, [kubernetes]).")
@click.option("--host", help="Address to bind (default: the config's, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535),
              help="Port to bind (default: the config's, else 9191); 0 picks a free one.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes sharing the sockets (each keeps its own caches and metrics).")
@click.option("--ready-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the service URL here (and the TokenReview URL) once it listens.")
def serve(config_path: Path, host: str | None, port: int | None, workers: int,
          ready_file: Path | None) -> None:
    """Serve /authz/<path> for Envoy ext_authz and nginx auth_request, /healthz, /metrics.

    Prints 'verifier ready: <url>' to stderr when it listens. The config is re-read when the
    file changes or on SIGHUP (a bad new config is logged and the old one stays).
    """
    from microstax.receivers.config import ConfigError
    from microstax.receivers.server import serve as run

    try:
        run(config_path, ready_file=ready_file, host=host, port=port, workers=workers)
    except ConfigError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.CONFIG, code="config", hint=exc.hint) from exc
    except OSError as exc:
        raise CLIError(f"cannot serve: {exc.strerror or exc}", exit_code=exit_codes.UNAVAILABLE,
                       code="bind", hint="pick another --port (0 chooses a free one)") from exc


@verifier.command("kube-webhook-config")
@click.option("--config", "config_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The verifier's TOML config (its [kubernetes] table).")
@click.option("--server", "server_url",
              help="URL the API server calls (default: https://<[kubernetes] host:port><path>).")
@click.option("--ca-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CA that signed the webhook's serving cert (default: the cert_file itself).")
def kube_webhook_config(config_path: Path, server_url: str | None, ca_file: Path | None) -> None:
    """Print the webhook kubeconfig for --authentication-token-webhook-config-file.

    The API server then sends every bearer token it sees to this verifier, which checks both
    signatures (the structured JWT authenticator checks ES256 alone): see docs/receivers.md.
    """
    from microstax.receivers.config import ConfigError, load_config
    from microstax.receivers.kube import webhook_kubeconfig

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.CONFIG, code="config", hint=exc.hint) from exc
    kube = config.kubernetes
    if kube is None:
        raise CLIError(f"{config_path} has no [kubernetes] table", exit_code=exit_codes.CONFIG,
                       code="config", hint="add [kubernetes] with cluster, cert_file, key_file")
    url = server_url or f"https://{kube.host}:{kube.port}{kube.path}"
    pem_path = ca_file or kube.cert_file
    try:
        from ..jose import read_limited
        pem = read_limited(pem_path, max_bytes=1 << 20).decode("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read the CA file {pem_path}", exit_code=exit_codes.USAGE,
                       code="io") from exc
    click.echo(webhook_kubeconfig(url, pem), nl=False)
