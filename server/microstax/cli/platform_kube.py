"""``microstax platform kube-authn``: the kube-apiserver ``AuthenticationConfiguration`` that
accepts this platform's federated tokens for one cluster (paste it, or its ``jwt`` entry)."""

from __future__ import annotations

from pathlib import Path

import click

from . import exit_codes
from .errors import CLIError
from .output import emit_json
from .platform_init import data_dir_option, default_data_dir


@click.command("kube-authn")
@click.option("--cluster", required=True, metavar="CLUSTER", help="The catalog cluster the apiserver serves.")
@data_dir_option
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--issuer", metavar="URL",
              help="The platform's public https URL (default: issuer = … in platform.toml).")
@click.option("--ca-file", type=click.Path(path_type=Path, dir_okay=False),
              help="CA certificate of the platform's TLS certificate, inlined as certificateAuthority "
                   "(default: the local CA of 'platform init' unless [tls] names another certificate; "
                   "none: the apiserver's system trust).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML (the same document).")
def kube_authn(cluster: str, data_dir: Path | None, config_path: Path | None, issuer: str | None,
               ca_file: Path | None, as_json: bool) -> None:
    """Print the AuthenticationConfiguration (apiserver.config.k8s.io/v1) for CLUSTER.

    Pass the file to kube-apiserver with --authentication-config (Kubernetes >= 1.30), or add
    its jwt entry to yours. Usernames are the SPIFFE IDs (sub), groups microstax:scope:<scope>.
    """
    from microstax.platform import ConfigError, load_config
    from microstax.platform.kubeauthn import authentication_configuration
    from microstax.platform.tls import dev_tls_files

    data_dir = data_dir or default_data_dir()
    try:
        config = load_config(config_path or data_dir / "platform.toml")
        base = issuer or config.issuer
        if not base:
            raise ConfigError("the platform's public URL is not known: pass --issuer https://… "
                              "(the URL tokens name as iss) or set issuer = … in platform.toml")
        if ca_file is None and not config.tls_cert_file:
            local = dev_tls_files(data_dir).ca_file
            ca_file = local if local is not None and local.is_file() else None
        ca_pem = None
        if ca_file is not None:
            try:
                from ..jose import read_limited
                ca_pem = read_limited(ca_file, max_bytes=1 << 20).decode("ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{ca_file}: cannot read the CA certificate "
                                  f"({getattr(exc, 'strerror', None) or 'not PEM text'})") from None
            if "-----BEGIN CERTIFICATE-----" not in ca_pem:
                raise ConfigError(f"{ca_file}: not a PEM certificate")
        doc = authentication_configuration(config, cluster, base, ca_pem=ca_pem)
    except ConfigError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.CONFIG, code="config") from exc
    if as_json:
        emit_json("kube-authn", {"cluster": cluster, "authenticationConfiguration": doc})
        return
    click.echo(f"# kube-apiserver --authentication-config=<this file>: MicroStax tokens for {cluster}")
    click.echo(to_yaml(doc), nl=False)


def to_yaml(doc: object) -> str:
    """YAML as people write it: PEM as a literal block, each CEL expression on one line."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=4096)
