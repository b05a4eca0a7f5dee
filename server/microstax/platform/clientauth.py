"""Client authentication at the token endpoint (RFC 6749 §2.3, RFC 7523).

Methods: ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` (assertion
``aud`` = the issuer or its token endpoint, ``jti`` replay rejected across all workers via the
state store), and ``none`` for public clients. Using two methods at once is
``invalid_request``; every failure to authenticate is ``invalid_client`` (401).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from microstax.jose import JoseError, KeySet, Policy, check, parse

from .config import Client
from .errors import OAuthError, invalid_client, invalid_request
from .runtime import Issuer, Platform
from .secrets import verify_secret

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = frozenset({"ES256", "RS256", "EdDSA"})
MAX_ASSERTION_LIFETIME = 600


@dataclass(frozen=True, slots=True)
class ClientAuth:
    client: Client
    method: str  # client_secret_basic | client_secret_post | private_key_jwt | none


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client("malformed Basic credentials", basic=True) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials", basic=True)
    return unquote(client_id), unquote(secret)


def claimed_client_id(authorization: str | None, params: dict[str, str]) -> str | None:
    """The client id a request claims (unverified): for rate limiting and audit only."""
    if "client_id" in params:
        return params["client_id"]
    try:
        creds = basic_credentials(authorization)
    except OAuthError:
        return None
    if creds:
        return creds[0]
    assertion = params.get("client_assertion")
    if assertion:
        try:
            sub = parse(assertion).claims.get("sub")
        except JoseError:
            return None
        return sub if isinstance(sub, str) else None
    return None


async def authenticate(platform: Platform, issuer: Issuer, authorization: str | None,
                       params: dict[str, str], *,
                       before_hash: Callable[[str], None] | None = None) -> ClientAuth:
    """Authenticate the client; ``before_hash(client_id)`` runs before each full secret hash
    (the caller rate-limits there, so wrong secrets cannot buy unbounded CPU)."""
    config = platform.config
    basic = basic_credentials(authorization)
    has_post = "client_secret" in params
    has_jwt = "client_assertion" in params or "client_assertion_type" in params
    if sum((basic is not None, has_post, has_jwt)) > 1:
        raise invalid_request("use exactly one client authentication method")

    if basic is not None:
        basic_id, secret = basic
        if params.get("client_id", basic_id) != basic_id:
            raise invalid_request("client_id does not match the Basic credentials")
        return ClientAuth(_check_secret(config.clients.get(basic_id), secret, basic=True,
                                        before_hash=before_hash), "client_secret_basic")
    if has_post:
        post_id = params.get("client_id")
        if not post_id:
            raise invalid_client("client_secret_post needs client_id")
        return ClientAuth(_check_secret(config.clients.get(post_id), params["client_secret"], basic=False,
                                        before_hash=before_hash), "client_secret_post")
    if has_jwt:
        return ClientAuth(_check_assertion(platform, issuer, params), "private_key_jwt")
    client_id = params.get("client_id")
    if not client_id:
        raise invalid_client("no client authentication and no client_id")
    client = config.clients.get(client_id)
    if client is None:
        raise invalid_client("unknown client")
    if not client.public:
        raise invalid_client("this client must authenticate")
    return ClientAuth(client, "none")


def _check_secret(client: Client | None, secret: str, *, basic: bool,
                  before_hash: Callable[[str], None] | None) -> Client:
    # Unknown clients cost no hash at all; the error does not say which of id or secret was
    # wrong.
    if client is None or client.secret_hash is None:
        raise invalid_client("client authentication failed", basic=basic)
    hook = None if before_hash is None else (lambda: before_hash(client.client_id))
    if not verify_secret(secret, client.secret_hash, before_hash=hook):
        raise invalid_client("client authentication failed", basic=basic)
    return client


def _check_assertion(platform: Platform, issuer: Issuer, params: dict[str, str]) -> Client:
    if params.get("client_assertion_type") != ASSERTION_TYPE:
        raise invalid_client(f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = params.get("client_assertion")
    if not assertion:
        raise invalid_client("client_assertion is missing")
    try:
        parsed = parse(assertion)
    except JoseError as exc:
        raise invalid_client("the client assertion is malformed") from exc
    claims: dict[str, Any] = parsed.claims
    sub, iss = claims.get("sub"), claims.get("iss")
    if not isinstance(sub, str) or sub != iss:
        raise invalid_client("the client assertion's iss and sub must both be the client_id")
    if params.get("client_id", sub) != sub:
        raise invalid_client("client_id does not match the client assertion")
    client = platform.config.clients.get(sub)
    if client is None or not client.jwks:
        raise invalid_client("client authentication failed")
    try:
        keys = KeySet.from_jwks(client.jwks)
    except JoseError as exc:
        raise invalid_client("the client's registered JWKS is unusable") from exc
    policy = Policy(issuer=sub, typ=None, classical_algs=ASSERTION_ALGS,
                    required_claims=("exp", "jti", "aud"), leeway=30.0)
    verdict, _, error = check(parsed, keys, policy)
    if error is not None:
        raise invalid_client(f"the client assertion is invalid ({verdict.reason})")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if issuer.url not in audiences and issuer.token_endpoint not in audiences:
        raise invalid_client("the client assertion's aud must be the issuer")
    now = time.time()
    exp, jti = claims["exp"], claims.get("jti")
    if exp > now + MAX_ASSERTION_LIFETIME:
        raise invalid_client(f"the client assertion may live at most {MAX_ASSERTION_LIFETIME}s")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
        raise invalid_client("the client assertion needs a jti")
    if not platform.state.remember_jti(sub, jti, float(exp) + 60.0, now=now):
        raise invalid_client("the client assertion was already used (jti replay)")
    return client
