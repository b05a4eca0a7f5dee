"""``microstax token mint``: a hybrid-signed token from local keys. A DEVELOPMENT helper.

Real tokens come from the identity layer (token exchange); this exists for tests, demos and
for checking verifiers. The token is printed on stdout (it is the product); nothing else is.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click

from ..jose import (
    ACCESS_TOKEN_TYP,
    MAX_FILE_BYTES,
    KeyStore,
    MalformedJSON,
    describe,
    loads_json,
    read_limited,
    sign,
)
from . import exit_codes
from .errors import CLIError
from .output import echo, emit_json, json_option, warn


def _claim_option(text: str) -> tuple[str, Any]:
    """``k=v`` (a string) or ``k:=json`` (any JSON value)."""
    name, eq, raw = text.partition("=")
    if not eq or not name.rstrip(":"):
        raise CLIError(f"--claim {text[:40]!r}: use NAME=TEXT or NAME:=JSON",
                       exit_code=exit_codes.USAGE, code="usage")
    if not name.endswith(":"):
        return name, raw
    try:
        return name[:-1], loads_json(raw, "value")
    except MalformedJSON as exc:
        raise CLIError(f"--claim {name}=: {exc.message}", exit_code=exit_codes.USAGE,
                       code="usage") from exc


def _claims_file(path: str) -> dict[str, Any]:
    try:
        raw = (sys.stdin.buffer.read(MAX_FILE_BYTES + 1) if path == "-"
               else read_limited(Path(path)))
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}", exit_code=exit_codes.USAGE,
                       code="io") from exc
    try:
        doc = loads_json(raw, "claims file")
    except MalformedJSON as exc:
        raise CLIError(f"{path}: {exc.message}", exit_code=exit_codes.USAGE, code="usage") from exc
    if not isinstance(doc, dict):
        raise CLIError(f"{path} must hold a JSON object of claims", exit_code=exit_codes.USAGE,
                       code="usage")
    return doc


@click.command()
@click.option("--keys", "keys_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory made by 'microstax keys generate'.")
@click.option("--iss", help="Issuer (iss).")
@click.option("--sub", help="Subject (sub).")
@click.option("--aud", multiple=True, help="Audience (aud); repeat for several.")
@click.option("--ttl", type=click.IntRange(1, 7 * 24 * 3600), default=300, show_default=True,
              help="Lifetime in seconds (exp = now + ttl).")
@click.option("--scope", help="Space-separated scopes (scope).")
@click.option("--claim", "claim_opts", multiple=True, metavar="NAME=TEXT|NAME:=JSON",
              help="Any claim; repeatable. NAME:=JSON for numbers, lists, objects.")
@click.option("--claims-json", metavar="FILE|-", help="Claims from a JSON object file (or stdin).")
@click.option("--typ", default=ACCESS_TOKEN_TYP, show_default=True, help="The 'typ' header.")
@json_option
def mint(keys_dir: Path, iss: str | None, sub: str | None, aud: tuple[str, ...], ttl: int,
         scope: str | None, claim_opts: tuple[str, ...], claims_json: str | None, typ: str,
         as_json: bool) -> None:
    """Mint a hybrid-signed dev token with local keys (DEVELOPMENT ONLY).

    Claims are layered: --claims-json, then --claim, then --iss/--sub/--aud/--scope.
    iat, exp (now + --ttl) and a random jti are added unless given.
    """
    signer = KeyStore(keys_dir).load().signer
    now = int(time.time())
    claims: dict[str, Any] = _claims_file(claims_json) if claims_json else {}
    claims.update(_claim_option(text) for text in claim_opts)
    for name, value in (("iss", iss), ("sub", sub), ("scope", scope)):
        if value is not None:
            claims[name] = value
    if aud:
        claims["aud"] = aud[0] if len(aud) == 1 else list(aud)
    claims.setdefault("iat", now)
    claims.setdefault("exp", now + ttl)
    claims.setdefault("jti", str(uuid.uuid4()))
    missing = [name for name in ("iss", "sub", "aud") if name not in claims]
    if missing:
        raise CLIError(f"missing claims: {', '.join(missing)}", exit_code=exit_codes.USAGE,
                       code="usage", hint="give them with --iss/--sub/--aud (or in --claims-json)")
    token = sign(claims, signer, typ=typ)
    desc = describe(token)
    if as_json:
        emit_json("minted", {"token": token, "summary": desc.to_summary()})
        return
    echo(token)
    if desc.size_warning:
        warn(desc.size_warning)
