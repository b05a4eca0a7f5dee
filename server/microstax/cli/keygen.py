"""``microstax keys generate``: a fresh hybrid signing pair (ES256 + ML-DSA-65) in a directory.

Writes ``keys.json`` (private, mode 0600; the platform's key store format) and ``jwks.json``
(the public keys, what verifiers are given with ``--jwks``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..jose import KeyStore
from . import exit_codes
from .errors import CLIError
from .output import echo, emit_json, json_option

JWKS_FILE = "jwks.json"


def write_public_file(path: Path, data: bytes) -> None:
    """Atomically write a public file (mode 0644)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


@click.command()
@click.option("--out", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for keys.json (private) and jwks.json (public).")
@json_option
def generate(directory: Path, as_json: bool) -> None:
    """Generate a hybrid signing key pair (ES256 + ML-DSA-65) for dev tokens or the platform."""
    store = KeyStore(directory)
    if store.exists():
        raise CLIError(f"{store.path} already exists; refusing to overwrite signing keys",
                       exit_code=exit_codes.USAGE, code="exists",
                       hint="choose another --out directory, or remove the old one first")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        signer = store.generate()
        jwks_path = directory / JWKS_FILE
        write_public_file(jwks_path, json.dumps(store.published().to_jwks(), indent=2).encode())
    except OSError as exc:
        raise CLIError(f"cannot write keys to {directory}: {exc.strerror or exc}",
                       exit_code=exit_codes.USAGE, code="io") from exc
    keys = [{"kid": key.kid, "alg": key.alg, "kty": key.public_jwk["kty"]}
            for key in (signer.classical, signer.pq)]
    if as_json:
        emit_json("keys", {"directory": str(directory), "keyFile": str(store.path),
                           "jwksFile": str(jwks_path), "keys": keys})
        return
    echo(f"Created a hybrid signing key pair in {directory}")
    for key in keys:
        echo(f"  {key['alg']:<10} kid {key['kid']}")
    echo(f"private keys: {store.path} (mode 0600; keep it secret)")
    echo(f"public JWKS:  {jwks_path} (give it to verifiers: --jwks {jwks_path})")
