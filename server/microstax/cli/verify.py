"""``microstax identity verify``: check a token's signatures and claims against its issuer.

Keys come from the issuer's discovery document — its ``jwks_uri`` (classical keys) and its
``microstax_pq_jwks_uri`` (post-quantum keys) — where the issuer is ``--issuer``, or else the
token's own ``iss``; or from ``--jwks FILE|URL`` (repeatable: e.g. the classical set and the
PQ set). Whether the PQ part is required is decided by ``identity.verification`` (the one
policy): when the issuer's metadata advertises hybrid signing or its keys include a PQ key
(downgrade protection), always with ``--hybrid required``, never with ``--hybrid
classical-only`` (which must be asked for explicitly).

TLS: https fetches trust the system's CAs plus one CA file: ``--ca-file PEM``, else the
``ca_file`` of the user config's environment whose issuer is the one the keys are fetched for
(``--issuer``, else the token's ``iss``), read by ``oauth.http.tls_verify``, the one TLS trust
builder. Certificate checks are never turned off.

Exit codes: 0 valid, 1 invalid (the reason code is printed), 2 usage or I/O (a bad
``--ca-file`` too), 5 the issuer or its JWKS could not be reached (an untrusted certificate
too), 6 the user config is wrong (a bad ``ca_file`` of the issuer's environment).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..identity.verification import (
    HYBRID_MODES,
    KeyMaterial,
    KeysUnavailable,
    PolicyError,
    SyncVerifier,
    TrustedIssuer,
    VerificationPolicy,
    evaluate,
)
from ..jose import (
    ACCESS_TOKEN_TYP,
    MalformedToken,
    ParsedToken,
    Policy,
    Verdict,
    describe,
    parse,
    precheck,
)
from . import exit_codes
from .client_common import config_option
from .errors import CLIError
from .output import echo, emit_json, json_option, warn
from .present import clean, render_text
from .tokenio import read_token, token_options

if TYPE_CHECKING:
    from ..identity.config import Config


def _unreachable(what: str, exc: KeysUnavailable, trust: CaTrust | None) -> CLIError:
    """Exit 5: which URL, why, what to do."""
    cause: Any = exc.cause or exc
    hint = cause.hint + "; " if getattr(cause, "hint", None) else ""
    if _untrusted_certificate(exc):
        hint = (f"the server's certificate is signed neither by a CA of the system nor by "
                f"{trust.describe()}; give the CA that signed it; "
                if trust is not None else
                "trust the server's CA with --ca-file PEM (or ca_file of its environment in "
                "the user config); ")
    return CLIError(
        f"cannot get {what}: {cause.message}",
        exit_code=exit_codes.UNAVAILABLE,
        code=getattr(cause, "kind", "network"),
        hint=hint + "or verify offline with --jwks FILE (the issuer's published JWKS)",
    )


def _untrusted_certificate(exc: BaseException) -> bool:
    """Did the fetch fail because the server's certificate is not trusted? (read from the
    exception chain, not from the message)"""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True, slots=True)
class CaTrust:
    """The CA file trusted for https fetches besides the system's, and who named it."""

    path: str
    #: the user config's environment whose ``ca_file`` it is; None: ``--ca-file``
    environment: str | None = None

    @property
    def origin(self) -> str:
        return "--ca-file" if self.environment is None else f"ca_file of environment {self.environment}"

    def describe(self) -> str:
        return f"the CA in {self.path} ({self.origin})"


def _check_ca(path: str, *, config: Config | None = None, environment: str | None = None) -> None:
    """Load the CA file now, so that a bad one is a clear error before any fetch."""
    from ..oauth.http import TrustError, tls_verify

    try:
        tls_verify((path,))
    except TrustError as exc:
        if config is None:
            raise CLIError(f"--ca-file: {exc.message}", exit_code=exit_codes.USAGE, code="usage",
                           hint="give the CA certificate (PEM) that signed the issuer's TLS "
                                "certificate") from None
        raise CLIError(f"{config.path}: environments.{environment}.ca_file: {exc.message}",
                       exit_code=exit_codes.CONFIG, code="CONFIG_INVALID",
                       hint=f"point ca_file at the CA certificate (PEM) in {config.path}, "
                            "or pass --ca-file PEM") from None


def _same_issuer(a: str | None, b: str) -> bool:
    return a is not None and a.rstrip("/") == b.rstrip("/")


def _ca_trust(issuer: str | None, jwks: tuple[str, ...], ca_file: Path | None,
              config_file: Path | None) -> CaTrust | None:
    """The CA to trust for this run's https fetches (module docstring); None: the system's."""
    online = not jwks or any(j.startswith(("https://", "http://")) for j in jwks)
    if not online:
        return None  # keys from files only: nothing is fetched
    if ca_file is not None:
        _check_ca(str(ca_file))
        return CaTrust(str(ca_file))
    if issuer is None or not issuer.startswith("https://"):
        return None
    from ..identity import config as config_mod

    config = config_mod.load(config_file)
    found = sorted((env.name, env.ca_file) for env in config.environments.values()
                   if env.ca_file and (_same_issuer(env.issuer, issuer) or any(
                       _same_issuer(c.issuer, issuer) or _same_issuer(c.exchange.expected_issuer, issuer)
                       for c in env.clusters.values())))
    if not found:
        return None
    if len({path for _, path in found}) > 1:
        raise CLIError(f"environments {', '.join(name for name, _ in found)} of {config.path} name "
                       f"issuer {issuer} with different ca_file values",
                       exit_code=exit_codes.CONFIG, code="CONFIG_INVALID",
                       hint="pass the CA to trust with --ca-file PEM")
    name, path = found[0]
    assert path is not None
    _check_ca(path, config=config, environment=name)
    return CaTrust(path, name)


def _key_info(material: KeyMaterial) -> dict[str, Any]:
    """Where the keys came from, in the ``--json`` shape (v1)."""
    info: dict[str, Any] = {"source": material.source, "stale": material.stale,
                            "staleReason": material.stale_reason}
    if material.source == "file":
        info["jwksFile"] = ", ".join(material.jwks_uris)
    elif material.source == "url":
        info["jwksUri"] = ", ".join(material.jwks_uris)
    else:
        info.update({"issuer": material.issuer, "metadata": material.metadata_uri,
                     "jwksUri": material.jwks_uris[0] if material.jwks_uris else None,
                     "pqJwksUri": material.pq_jwks_uri})
    return info


def _resolve_keys(parsed: ParsedToken, issuer: str | None, jwks: tuple[str, ...], allow_http: bool,
                  timeout: float, hybrid: str, trust: CaTrust | None) -> KeyMaterial:
    """The keys to check ``parsed`` with (offline ``--jwks FILE`` imports no HTTP stack)."""
    if not jwks and issuer is None:
        raise CLIError("the token names no issuer ('iss'), so its keys cannot be found",
                       exit_code=exit_codes.USAGE, code="usage",
                       hint="pass --issuer URL or --jwks FILE|URL")
    name = issuer or "(keys given with --jwks)"
    trusted = TrustedIssuer(name, jwks=jwks, allow_http=allow_http, hybrid=hybrid,  # type: ignore[arg-type]
                            ca_file=trust.path if trust is not None else None)
    verifier = SyncVerifier(VerificationPolicy(issuers=(trusted,), timeout=timeout, token_cache_size=0))
    kid = parsed.header.get("kid")
    try:
        return verifier.keys(trusted, kid if isinstance(kid, str) else None)
    except PolicyError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.USAGE, code=exc.code) from exc
    except KeysUnavailable as exc:
        what = f"the JWKS at {', '.join(jwks)}" if jwks else f"the keys of issuer {issuer}"
        raise _unreachable(what, exc, trust) from exc
    finally:
        verifier.close()


@click.command()
@token_options
@click.option("--issuer", metavar="URL",
              help="Require this exact issuer and take its keys (default: the token's 'iss').")
@click.option("--audience", metavar="AUD", help="Require this audience in 'aud' (default: not checked).")
@click.option("--jwks", "jwks", metavar="FILE|URL", multiple=True,
              help="Verify with this JWKS instead of discovering the issuer's (repeat it to add "
                   "the post-quantum key set).")
@click.option("--hybrid", type=click.Choice(HYBRID_MODES), default="auto", show_default=True,
              help="Is the post-quantum part required? auto: when the issuer advertises hybrid "
                   "signing or publishes a PQ key; classical-only: do not check it (explicit opt-out).")
@click.option("--leeway", type=click.FloatRange(0, 600), default=30.0, show_default=True,
              help="Clock skew allowed for exp/nbf/iat, in seconds.")
@click.option("--typ", default=ACCESS_TOKEN_TYP, show_default=True,
              help="Required 'typ' header; 'any' accepts any (e.g. IdPs that send 'JWT').")
@click.option("--allow-http", is_flag=True,
              help="Accept plain-http issuer and JWKS URLs on non-loopback hosts.")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=10.0, show_default=True,
              help="Network timeout in seconds.")
@click.option("--ca-file", type=click.Path(path_type=Path), metavar="PEM",
              help="Trust this CA (PEM) for https besides the system's (default: ca_file of the "
                   "user config's environment with this issuer).")
@config_option
@json_option
def verify(token: str | None, token_file: Path | None, issuer: str | None, audience: str | None,
           jwks: tuple[str, ...], hybrid: str, leeway: float, typ: str, allow_http: bool,
           timeout: float, ca_file: Path | None, config_file: Path | None, as_json: bool) -> None:
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
    _, early = precheck(parsed, Policy(typ=None, leeway=leeway))
    if early is not None:  # refused on its shape alone: no key is fetched for it
        _report(Verdict(False, "not_checked", "not_checked", early.reason, early.message), parsed,
                {}, {}, as_json)
        raise click.exceptions.Exit(exit_codes.INVALID)

    claimed = parsed.claims.get("iss")
    lookup_issuer = issuer or (claimed if isinstance(claimed, str) else None)
    trust = _ca_trust(lookup_issuer, jwks, ca_file, config_file)
    material = _resolve_keys(parsed, lookup_issuer, jwks, allow_http, timeout, hybrid, trust)
    # With discovery the issuer is pinned to the one whose keys were used; with --jwks only
    # when --issuer says so.
    pinned = issuer if jwks else lookup_issuer
    typ_values = None if typ.lower() == "any" else (typ,)
    result = evaluate(parsed, material, issuer=pinned, audiences=(audience,) if audience else (),
                      typ=typ_values, leeway=leeway)
    checks = {"issuer": pinned, "issuerFrom": "option" if issuer else ("token" if pinned else None),
              "audience": audience, "typ": typ_values and typ_values[0],
              "pqRequired": material.hybrid_required, "hybrid": hybrid,
              "caFile": trust.path if trust else None,
              "caFileFrom": trust.origin if trust else None}
    _report(result.verdict, parsed, _key_info(material), checks, as_json)
    if not result.valid:
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
    if key_info.get("pqJwksUri"):
        echo(f"  PQ keys       {clean(key_info['pqJwksUri'])}")
    if checks.get("caFile"):
        echo(f"  TLS CA        {clean(checks['caFile'])} ({clean(checks.get('caFileFrom'))})")
    if not checks.get("issuer"):
        issuer_text = "NOT pinned (pass --issuer)"
    elif checks.get("issuerFrom") == "token":
        issuer_text = "taken from the token (pin it with --issuer)"
    else:
        issuer_text = clean(checks["issuer"])
    echo(f"  checked       issuer {issuer_text}"
         f", audience {clean(checks['audience']) if checks.get('audience') else 'not checked'}"
         f", PQ part {'required' if checks.get('pqRequired') else 'optional'}"
         + (" (classical-only: not checked)" if checks.get("hybrid") == "classical-only" else ""))
    if key_info.get("stale"):
        warn(f"the issuer's JWKS could not be refreshed ({clean(key_info.get('staleReason'), 300)});"
             " verified with the last good copy")
