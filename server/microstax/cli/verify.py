"""``microstax identity verify``: check a token's signatures and claims against its issuer.

Keys come from the issuer's discovery document and JWKS (the issuer is ``--issuer``, or else
the token's own ``iss``), or from ``--jwks FILE|URL``. The PQ part is required when the
issuer's metadata or JWKS says it signs hybrid (downgrade protection).

Exit codes: 0 valid, 1 invalid (the reason code is printed), 2 usage or I/O, 5 the issuer
or its JWKS could not be reached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..identity.present import clean, render_text
from ..jose import (
    ACCESS_TOKEN_TYP,
    KeySet,
    KeyStoreError,
    MalformedToken,
    ParsedToken,
    Policy,
    Verdict,
    check,
    describe,
    parse,
)
from . import exit_codes
from .errors import CLIError
from .output import echo, emit_json, json_option, warn
from .tokenio import read_token, token_options


def _keys_from_file(path: Path) -> KeySet:
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise CLIError(f"cannot read the JWKS file {path}: {exc.strerror or exc}",
                       exit_code=exit_codes.USAGE, code="io") from exc
    except ValueError as exc:
        raise CLIError(f"the JWKS file {path} is not JSON", exit_code=exit_codes.USAGE,
                       code="jwks") from exc
    try:
        keys = KeySet.from_jwks(doc)
    except KeyStoreError as exc:
        raise CLIError(f"the JWKS file {path} is not usable: {exc.message}",
                       exit_code=exit_codes.USAGE, code="jwks") from exc
    if not len(keys):
        raise CLIError(f"the JWKS file {path} has no signature keys this verifier can use",
                       exit_code=exit_codes.USAGE, code="jwks")
    return keys


def _unreachable(what: str, exc: Any) -> CLIError:
    """Exit 5: which URL, why, what to do."""
    return CLIError(
        f"cannot get {what}: {exc.message}",
        exit_code=exit_codes.UNAVAILABLE,
        code=getattr(exc, "kind", "network"),
        hint=(exc.hint + "; " if exc.hint else "")
        + "or verify offline with --jwks FILE (the issuer's published JWKS)",
    )


def _resolve_keys(parsed: ParsedToken, issuer: str | None, jwks: str | None, allow_http: bool,
                  timeout: float) -> tuple[KeySet, bool, dict[str, Any]]:
    """(keys, PQ part required, where the keys came from)."""
    if jwks is not None and not jwks.startswith(("https://", "http://")):
        # Offline: no HTTP stack to import (it is most of this command's start-up time).
        keys = _keys_from_file(Path(jwks))
        return keys, keys.signs_hybrid, {"source": "file", "jwksFile": jwks,
                                         "stale": False, "staleReason": None}
    # Imported here: offline verification, 'token decode' and friends do not pay for httpx.
    from ..oauth.exceptions import OAuthError
    from ..oauth.http import make_client
    from ..oauth.jwks import JWKSCache, KeyResolver, hybrid_required

    kid = parsed.header.get("kid")
    kid = kid if isinstance(kid, str) else None
    client = make_client(timeout=timeout)
    try:
        if jwks is not None:
            try:
                snap = JWKSCache(jwks, client=client, allow_http=allow_http).get(kid)
            except OAuthError as exc:
                raise _unreachable(f"the JWKS at {jwks}", exc) from exc
            return snap.value, hybrid_required(None, snap.value), {
                "source": "url", "jwksUri": snap.source, "stale": snap.stale,
                "staleReason": snap.stale_reason}
        if issuer is None:
            raise CLIError("the token names no issuer ('iss'), so its keys cannot be found",
                           exit_code=exit_codes.USAGE, code="usage",
                           hint="pass --issuer URL or --jwks FILE|URL")
        resolver = KeyResolver(client, allow_http=allow_http)
        try:
            resolved = resolver.resolve(issuer, kid)
        except OAuthError as exc:
            raise _unreachable(f"the keys of issuer {issuer}", exc) from exc
        return resolved.keys, resolved.hybrid_required, {
            "source": "discovery", "issuer": issuer, "metadata": resolved.metadata.source,
            "jwksUri": resolved.jwks.source, "stale": resolved.stale,
            "staleReason": resolved.jwks.stale_reason}
    finally:
        client.close()


@click.command()
@token_options
@click.option("--issuer", metavar="URL",
              help="Require this exact issuer and take its keys (default: the token's 'iss').")
@click.option("--audience", metavar="AUD", help="Require this audience in 'aud' (default: not checked).")
@click.option("--jwks", "jwks", metavar="FILE|URL",
              help="Verify with this JWKS instead of discovering the issuer's.")
@click.option("--leeway", type=click.FloatRange(0, 600), default=30.0, show_default=True,
              help="Clock skew allowed for exp/nbf/iat, in seconds.")
@click.option("--typ", default=ACCESS_TOKEN_TYP, show_default=True,
              help="Required 'typ' header; 'any' accepts any (e.g. IdPs that send 'JWT').")
@click.option("--allow-http", is_flag=True,
              help="Accept plain-http issuer and JWKS URLs on non-loopback hosts.")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=10.0, show_default=True,
              help="Network timeout in seconds.")
@json_option
def verify(token: str | None, token_file: Path | None, issuer: str | None, audience: str | None,
           jwks: str | None, leeway: float, typ: str, allow_http: bool, timeout: float,
           as_json: bool) -> None:
    """Verify a token's signatures (classical and post-quantum) and claims.

    Pass the token on stdin with '-' or with --token-file (an argument works but lands in
    your shell history). Exit status: 0 valid, 1 invalid, 2 usage/I-O, 5 issuer unreachable.
    """
    text = read_token(token, token_file)
    try:
        parsed = parse(text)
    except MalformedToken as exc:
        _report(Verdict(False, "not_checked", "not_checked", exc.reason, exc.message), None, {},
                {}, as_json)
        raise click.exceptions.Exit(exit_codes.INVALID) from None

    claimed = parsed.claims.get("iss")
    lookup_issuer = issuer or (claimed if isinstance(claimed, str) else None)
    keys, pq_required, key_info = _resolve_keys(parsed, lookup_issuer, jwks, allow_http, timeout)
    # With discovery the issuer is pinned to the one whose keys were used; with --jwks only
    # when --issuer says so.
    pinned = issuer if jwks is not None else lookup_issuer
    policy = Policy(
        issuer=pinned,
        audience=audience,
        typ=None if typ.lower() == "any" else (typ,),
        leeway=leeway,
        require_pq=pq_required,
    )
    verdict, _, _ = check(parsed, keys, policy)
    checks = {"issuer": pinned, "issuerFrom": "option" if issuer else ("token" if pinned else None),
              "audience": audience, "typ": policy.typ and policy.typ[0], "pqRequired": pq_required}
    _report(verdict, parsed, key_info, checks, as_json)
    if not verdict.valid:
        raise click.exceptions.Exit(exit_codes.INVALID)


def _report(verdict: Verdict, parsed: ParsedToken | None, key_info: dict[str, Any],
            checks: dict[str, Any], as_json: bool) -> None:
    desc = describe(parsed, verdict=verdict) if parsed is not None else None
    if as_json:
        emit_json("verification", {
            "valid": verdict.valid,
            "reason": verdict.reason,
            "message": verdict.message,
            "summary": desc.to_summary() if desc else None,
            "keys": key_info or None,
            "checks": checks or None,
        })
        return
    if desc is None:
        echo(f"INVALID: {verdict.reason}: {clean(verdict.message or '', 300)}")
        return
    echo(render_text(desc))
    if key_info.get("source") == "discovery":
        echo(f"  keys          {clean(key_info['jwksUri'])} (issuer {clean(key_info['issuer'])})")
    elif key_info.get("source") == "url":
        echo(f"  keys          {clean(key_info['jwksUri'])}")
    elif key_info.get("source") == "file":
        echo(f"  keys          {clean(key_info['jwksFile'])}")
    if not checks.get("issuer"):
        issuer_text = "NOT pinned (pass --issuer)"
    elif checks.get("issuerFrom") == "token":
        issuer_text = "taken from the token (pin it with --issuer)"
    else:
        issuer_text = clean(checks["issuer"])
    echo(f"  checked       issuer {issuer_text}"
         f", audience {clean(checks['audience']) if checks.get('audience') else 'not checked'}"
         f", PQ part {'required' if checks.get('pqRequired') else 'optional'}")
    if key_info.get("stale"):
        warn(f"the issuer's JWKS could not be refreshed ({clean(key_info.get('staleReason'), 300)});"
             " verified with the last good copy")
