"""``microstax platform rotate-keys``: new signing keys; old ones stay published a while."""

from __future__ import annotations

from pathlib import Path

import click

from . import exit_codes
from .errors import CLIError
from .output import echo, emit_json
from .platform_init import data_dir_option, default_data_dir


@click.command("rotate-keys")
@data_dir_option
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--cluster", "clusters", multiple=True,
              help="Rotate only this cluster issuer's keys ('central' for the central issuer).")
@click.option("--publish-ahead", "publish_ahead", type=click.IntRange(0, 86400), default=None,
              metavar="SECONDS",
              help="Publish the new keys now but sign with them only after SECONDS (default: "
                   "[keys] publish_ahead_seconds, 0), so receivers that cache the JWKS have them.")
@click.option("--json", "as_json", is_flag=True)
def rotate_keys(data_dir: Path | None, config_path: Path | None, clusters: tuple[str, ...],
                publish_ahead: int | None, as_json: bool) -> None:
    """Rotate the ES256 + ML-DSA-65 signing pair of every issuer (or the named ones).

    Retired keys stay in the JWKS for [keys] retain_seconds, so tokens they signed keep
    verifying until they expire. Running servers pick the new keys up within a second, or,
    with --publish-ahead, publish them at once and start signing with them that much later.
    """
    from microstax.platform import ConfigError, load_config
    from microstax.platform.runtime import cluster_key_dir, rotate_keystore

    data_dir = data_dir or default_data_dir()
    try:
        config = load_config(config_path or data_dir / "platform.toml")
    except ConfigError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.CONFIG, code="config") from exc
    targets = {"central": data_dir}
    for cluster in config.own_issuer_clusters():
        targets[cluster.name] = cluster_key_dir(data_dir, cluster.name)
    if clusters:
        unknown = [c for c in clusters if c not in targets]
        if unknown:
            raise CLIError(f"no issuer named {unknown[0]!r}", exit_code=exit_codes.CONFIG, code="config",
                           hint=f"issuers: {', '.join(targets)}")
        targets = {k: v for k, v in targets.items() if k in clusters}
    ahead = config.key_publish_ahead_seconds if publish_ahead is None else publish_ahead
    rotated = {}
    for name, directory in targets.items():
        signer = rotate_keystore(directory, retain_seconds=config.key_retain_seconds,
                                 publish_ahead=ahead)
        rotated[name] = {"classical": signer.classical.kid, "pq": signer.pq.kid}
    if as_json:
        emit_json("platform-rotate-keys", {"rotated": rotated, "signsInSeconds": ahead})
        return
    when = f"published now, signing in {ahead}s" if ahead else "signing now"
    for name, kids in rotated.items():
        echo(f"{name}: new keys {kids['classical']} (ES256), {kids['pq']} (ML-DSA-65), {when}")
